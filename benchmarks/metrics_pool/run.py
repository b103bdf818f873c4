"""Check 1, 10 and 100 plans of 4 guardrails each against a real Prometheus in one
`rollout check` invocation, and report wall time and peak memory (run by hand).

    .venv/bin/python benchmarks/metrics_pool/run.py [--repeat 3] [--sizes 1,10,100]

Needs `prometheus` and `promtool` (bash scripts/install-prometheus). It backfills the
integration tests' history (tests/integration/prometheus_data.py), starts a server on a
loopback port, writes N plans (each its own flag in one flagd file, at 10% for the last 2 h),
and runs `rollout check P1 … PN --at END --json` as a child process, measuring its wall time
and peak RSS (wait4). The target (issue 6): 100 plans in under 3x the wall time of 1 plan.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.integration import prometheus_data  # noqa: E402
from tests.integration.cli_helpers import start_stage, write_flag_file  # noqa: E402
from tests.integration.prometheus_server import (  # noqa: E402
    backfill,
    start_prometheus,
    stop_prometheus,
)

from rolloutcli.support.timeutil import format_timestamp  # noqa: E402

SOURCE_FLAG = "healthy"  # every plan queries the healthy rollout's series
GUARDRAILS = """guardrails:
  - {name: error_rate, kind: ratio, events: errors, trials: requests,
     thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}, detect: "+50%"}
  - {name: p99_latency, kind: mean, metric: latency_p99_ms, unit: ms, scale: log,
     thresholds: {warn: "+10%", pause: "+25%", rollback: "+50%"}}
  - {name: mean_latency, kind: mean, metric: latency_mean_ms, unit: ms,
     thresholds: {pause: "+20%", rollback: "+40%"}}
  - {name: conversion, kind: ratio, events: orders, trials: checkouts,
     direction: lower_is_worse, thresholds: {pause: "-8%", rollback: "-15%"},
     significant: [pause, rollback]}
"""


def write_workspace(root: Path, count: int, url: str) -> list[Path]:
    (root / "plans").mkdir(parents=True)
    names = [f"bench-{i:03d}" for i in range(count)]
    flags = write_flag_file(root / "flags" / "flags.json", *names)
    start = prometheus_data.END_TIME - timedelta(hours=2)
    queries = {
        name: query.replace("{flag}", SOURCE_FLAG)
        for name, query in prometheus_data.QUERIES.items()
    }
    metrics = {
        "source": {"kind": "prometheus", "url": url},
        "exposures": "requests",
        "queries": {
            **queries,
            "latency_p99_ms": {"query": queries["latency_p99_ms"], "step": "5m"},
            "latency_mean_ms": {"query": queries["latency_mean_ms"], "step": "5m"},
        },
    }
    plans = []
    for name in names:
        start_stage(flags, name, 10, start, name)
        plan = root / "plans" / f"{name}.yaml"
        plan.write_text(
            f"""flag: {name}
platform: {{kind: flagfile, path: ../flags/flags.json}}
variations: {{treatment: true, control: false}}
stages:
  - {{percent: 10, min_duration: 1h, min_samples: 5000}}
  - {{percent: 100, min_duration: 0}}
metrics: {json.dumps(metrics)}
{GUARDRAILS}"""
        )
        plans.append(plan)
    return plans


def run_check(
    plans: list[Path], at: str, concurrency: int | None = None
) -> tuple[float, float, list[str]]:
    """Wall seconds, peak RSS in MiB, verdicts."""
    command = [str(ROOT / ".venv" / "bin" / "rollout"), "check", *map(str, plans)]
    command += ["--at", at, "--json"]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = child.stdout.read() if child.stdout else b""
    err = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"rollout check exited {child.returncode}: {err.decode()[-2000:]}")
    results = json.loads(out)
    results = results if isinstance(results, list) else [results]
    return wall, usage.ru_maxrss / 1024, [r["verdict"] for r in results]


def count_requests(plans: list[Path], at: str) -> int:
    command = [str(ROOT / ".venv" / "bin" / "rollout"), "check", str(plans[0]), "--at", at]
    shown = subprocess.run(
        [*command, "--explain", "--json"], capture_output=True, check=True, text=True
    )
    # several calls of a check can share one request (the same query over the same window)
    requests = {
        (r["query"], tuple(sorted(r["params"].items())))
        for q in json.loads(shown.stdout)["queries"]
        for r in q["requests"]
    }
    return len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the CLI's")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    at = format_timestamp(prometheus_data.END_TIME)
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
        work = Path(tmp)
        blocks = backfill(prometheus_data.write(work / "history.om"), work / "blocks")
        server = start_prometheus(blocks, work)
        try:
            rows = []
            for size in sizes:
                plans = write_workspace(work / f"ws{size}", size, server.url)
                per_plan = count_requests(plans, at)
                run_check(plans[:1], at)  # warm the page cache and Prometheus
                walls, peaks = [], []
                for _ in range(args.repeat):
                    wall, peak, verdicts = run_check(plans, at, args.concurrency)
                    walls.append(wall)
                    peaks.append(peak)
                assert verdicts == ["go"] * size, verdicts
                rows.append((size, size * per_plan, statistics.median(walls), max(peaks)))
        finally:
            stop_prometheus(server)
    base = rows[0][2]
    limit = args.concurrency or "default"
    print(f"rollout check over N plans of 4 guardrails (median of {args.repeat}, {limit=})")
    print("| plans | HTTP requests | wall time | x 1 plan | peak RSS |")
    print("|---|---|---|---|---|")
    for size, queries, wall, peak in rows:
        print(f"| {size} | {queries:,} | {wall:.2f} s | {wall / base:.2f}x | {peak:.0f} MiB |")


if __name__ == "__main__":
    main()
