"""A fleet of plans against the real Unleash and the real Prometheus: `rollout check --all
--json` and one `rollout watch --all --once` round over 1, 10, 100 and 500 plans of 4
guardrails each, each plan its own Unleash flag; wall time and peak memory (run by hand).

    .venv/bin/python benchmarks/fleet/run.py [--sizes 1,10,100,500] [--repeat 3]
    .venv/bin/python benchmarks/fleet/run.py --sizes 100 --repeat 1 --profile /tmp/fleet

Needs Unleash and PostgreSQL 15 (bash scripts/install-unleash) and Prometheus
(bash scripts/install-prometheus). It starts both servers on loopback ports, backfills the
Prometheus integration tests' ``healthy`` rollout (tests/integration/prometheus_data.py),
moved in time so that its 4 hours end 3 hours from now, creates one Unleash flag per plan
through the admin API and starts its 10% stage through the tool's own Unleash adapter (the
stage starts now, in Unleash's event log), then runs each command as a child process,
``--at`` 2.5 hours from now (a rehearsal: the flag as Unleash holds it, the metrics of the
stage's first 2.5 hours), measuring its wall time and peak RSS (wait4). The watch round is
report-only (no --auto): acting would change the flags between runs.

Targets (issue 19): 100 plans within 3x the wall time of 1 plan, 500 within 10x, memory
flat. The machine's cores are shared: read the ratios, not the seconds.
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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.integration import prometheus_data  # noqa: E402
from tests.integration.prometheus_server import (  # noqa: E402
    Sample,
    backfill,
    start_prometheus,
    stop_prometheus,
    write_openmetrics,
)
from tests.integration.unleash_server import (  # noqa: E402
    UnleashServer,
    start_unleash,
    stop_unleash,
)

from rolloutcli.judge.flagstate import RolloutChange  # noqa: E402
from rolloutcli.platforms.unleash import UnleashPlatform  # noqa: E402
from rolloutcli.support.timeutil import format_timestamp  # noqa: E402

SOURCE_FLAG = "healthy"  # every plan queries the healthy rollout's series
ENVIRONMENT = "production"
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


def moved_history(end: int) -> Iterator[Sample]:
    """The ``healthy`` rollout's samples, shifted so that they end at ``end`` (epoch s)."""
    shift = end - prometheus_data.END
    for name, labels, value, t in prometheus_data.samples():
        if labels.get("flag") == SOURCE_FLAG:
            yield name, labels, value, t + shift


def write_plans(
    folder: Path, names: list[str], prometheus: str, unleash: str, labels: bool = True
) -> None:
    folder.mkdir(parents=True)
    queries = {
        name: query.replace("{flag}", SOURCE_FLAG)
        for name, query in prometheus_data.QUERIES.items()
    }
    metrics = {
        "source": {"kind": "prometheus", "url": prometheus},
        "exposures": "requests",
        "queries": {
            **queries,
            "latency_p99_ms": {"query": queries["latency_p99_ms"], "step": "5m"},
            "latency_mean_ms": {"query": queries["latency_mean_ms"], "step": "5m"},
        },
    }
    for i, name in enumerate(names):
        team = f"labels: {{team: {'payments' if i % 2 else 'search'}}}\n" if labels else ""
        (folder / f"{name}.yaml").write_text(
            f"""flag: {name}
{team}platform: {{kind: unleash, url: "{unleash}", project: default, environment: {ENVIRONMENT}}}
variations: {{treatment: true, control: false}}
stages:
  - {{percent: 10, min_duration: 1h, min_samples: 5000}}
  - {{percent: 100, min_duration: 0}}
metrics: {json.dumps(metrics)}
{GUARDRAILS}"""
        )


def start_flag(server: UnleashServer, name: str) -> None:
    """Create flag ``name`` and start its 10% stage, as `rollout advance` would write it."""
    platform = UnleashPlatform(
        url=server.url, token=server.admin_token, flag=name, plan=name, environment=ENVIRONMENT
    )
    platform._http.request(
        "POST", "/api/admin/projects/default/features", json={"name": name, "type": "release"}
    )
    state = platform.read_state(True, False)
    change = RolloutChange(
        percent=10,
        audience_keys=(),
        audience_segment=None,
        plan=name,
        stage="10%",
        action="advance",
        comment="benchmark",
        turn_on=True,
    )
    platform.set_rollout(change, True, False, state)


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, bytes, int]:
    """Wall seconds, peak RSS in MiB (wait4: this child's own), stdout, exit code."""
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    with ThreadPoolExecutor(1) as reader:  # stderr drained aside: neither pipe can fill up
        err = reader.submit(lambda: child.stderr.read() if child.stderr else b"")
        out = child.stdout.read() if child.stdout else b""
        errors = err.result()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(command[1:4])} exited {code}: {errors.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,100,500")
    parser.add_argument(
        "--named",
        action="store_true",
        help="name every plan file instead of --all, and write no labels (to time a version "
        "without them: PYTHONPATH=<its src> runs it)",
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="also run `check --all --json` once per size under cProfile, writing "
        "PREFIX-<size>.prof (not timed)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rollout = str(ROOT / ".venv" / "bin" / "rollout")
    now = int(time.time()) // 15 * 15
    end = now + 3 * 3600
    at = format_timestamp(datetime.fromtimestamp(now, UTC) + timedelta(hours=2, minutes=30))
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="rollout-fleet-") as tmp:
        work = Path(tmp)
        history = write_openmetrics(work / "history.om", moved_history(end), prometheus_data.TYPES)
        prometheus = start_prometheus(backfill(history, work / "blocks"), work)
        unleash = start_unleash(work / "unleash")
        try:
            env = {**os.environ, "UNLEASH_API_TOKEN": unleash.admin_token}
            for size in sizes:
                names = [f"fleet-{size}-{i:03d}" for i in range(size)]
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda n: start_flag(unleash, n), names))
                folder = work / f"plans{size}"
                write_plans(folder, names, prometheus.url, unleash.url, not args.named)
                plans = [str(path) for path in sorted(folder.iterdir())]
                which = plans if args.named else ["--all", "--plans-dir", str(folder)]
                commands = {
                    "check --all --json": [rollout, "check", *which, "--json"],
                    "watch --all --once": [rollout, "watch", *which, "--once"],
                }
                for label, command in commands.items():
                    full = [*command, "--at", at]
                    if size == sizes[0]:
                        run(full, env)  # warm the page cache and both servers
                    walls, peaks = [], []
                    for _ in range(args.repeat):
                        wall, peak, out, _ = run(full, env)
                        walls.append(wall)
                        peaks.append(peak)
                    if label.startswith("check"):
                        found = json.loads(out)  # one named plan: an object
                        found = found if isinstance(found, list) else [found]
                        verdicts = {d.get("verdict", "error") for d in found}
                        assert verdicts == {"go"}, (size, verdicts, out[:2000])
                    rows.append((label, size, statistics.median(walls), max(peaks)))
                    print(rows[-1], flush=True)
                if args.profile:
                    out = f"{args.profile}-{size}.prof"
                    profiled = [sys.executable, "-m", "cProfile", "-o", out]
                    run([*profiled, *commands["check --all --json"], "--at", at], env)
        finally:
            stop_unleash(unleash)
            stop_prometheus(prometheus)
    how = "plans named" if args.named else "--all"
    print(f"\nmedian of {args.repeat} runs, {how}, report-only watch, default concurrency")
    print("| command | plans | wall time | x 1 plan | peak RSS |")
    print("|---|---|---|---|---|")
    for label, size, wall, peak in rows:
        base = next(w for lab, s, w, _ in rows if lab == label and s == sizes[0])
        print(f"| `{label}` | {size} | {wall:.2f} s | {wall / base:.2f}x | {peak:.0f} MiB |")


if __name__ == "__main__":
    main()
