"""A regression confined to one segment, and healthy rollouts split into segments (issue 22).

    .venv/bin/python benchmarks/segments/run.py --reps 600 --seed 23

Simulated staged rollouts (stages 1/5/10/25/50/100, 30 minutes each, a look every minute;
about 2,000 requests a minute, Poisson; control error rate 1%), the traffic split into k
regions. Every look goes through the decision-quality plug-in
(``benchmarks/decision_quality/policy.py``), i.e. to the real
``rolloutcli.judge.verdict.decide`` with ``plan.yaml`` here: once as written
(``segments: {by: region}``) and once with ``segments:`` removed, on the same draws (the same
seed per rollout; the two paths share their data until their decisions differ).

- detection: x3 errors in the treatment of one of 5 regions holding 10% of the traffic
  (the others 20/20/25/25%), +20% overall. Detection = rolled back within 6 hours; blast
  radius = treated requests of that region (the ones the regression reached) before the
  rollback, summed.
- healthy: treatment = control everywhere, 5 and 20 regions of equal share; a rollback is
  a false rollback. Binomial (Clopper-Pearson) 95% intervals.

Run by hand; never part of the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.stats import beta

HERE = Path(__file__).resolve().parent
STAGES = (1.0, 5.0, 10.0, 25.0, 50.0)  # advancing past 50% = 100% (done)
HORIZON = 360  # minutes
PER_MINUTE = 2_000
BASE_RATE = 0.01
ALPHA = 0.05
FIELDS = ("requests", "errors")


def _policy_module() -> Any:
    path = HERE.parent / "decision_quality" / "policy.py"
    spec = importlib.util.spec_from_file_location("rolloutcli_bench_policy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _plans() -> dict[str, Any]:
    from rolloutcli.plan.model import load_plan

    with_segments = load_plan(HERE / "plan.yaml").plan
    data = yaml.safe_load((HERE / "plan.yaml").read_text())
    for g in data["guardrails"]:
        g.pop("segments", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.yaml"
        path.write_text(yaml.safe_dump(data))
        without = load_plan(path).plan
    return {"segments": with_segments, "total": without}


class Look:
    """What the plug-in reads of a look (the shared harness's ``Look`` attributes)."""

    def __init__(self, minute: int, stage_index: int, stage_start: int, obs: Any) -> None:
        self.minute = minute
        self.stage_index = stage_index
        self.stage_start = stage_start
        self.obs = obs

    @property
    def stage_percent(self) -> float:
        return STAGES[self.stage_index]


def rollout(policy: Any, shares: list[float], factors: list[float], seed: int) -> dict[str, Any]:
    """One rollout, minute by minute, to a rollback, completion or the horizon."""
    rng = np.random.default_rng(seed)
    k = len(shares)
    names = [f"r{i:02d}" for i in range(k)]
    obs: dict[str, Any] = {}
    for cohort in ("treatment", "control"):
        segs = {n: {f: np.full(HORIZON, np.nan) for f in FIELDS} for n in names}
        obs[cohort] = {f: np.full(HORIZON, np.nan) for f in FIELDS} | {"segments": segs}
    stage, start = 0, 0
    exposed = 0.0  # treated requests in the regressed segments
    for m in range(HORIZON):
        p = STAGES[stage] / 100
        n = rng.poisson(PER_MINUTE * np.asarray(shares))
        nt = rng.binomial(n, p)
        nc = n - nt
        rates = np.minimum(1.0, BASE_RATE * np.asarray(factors))
        et = rng.binomial(nt, rates)
        ec = rng.binomial(nc, BASE_RATE)
        exposed += float(nt[np.asarray(factors) != 1.0].sum())
        for cohort, (e, r) in (("treatment", (et, nt)), ("control", (ec, nc))):
            o = obs[cohort]
            o["requests"][m], o["errors"][m] = r.sum(), e.sum()
            for i, name in enumerate(names):
                o["segments"][name]["requests"][m] = r[i]
                o["segments"][name]["errors"][m] = e[i]
        action = policy(Look(m + 1, stage, start, obs))
        if action == "rollback":
            return {
                "outcome": "rollback",
                "minute": m + 1,
                "stage": STAGES[stage],
                "exposed": exposed,
            }
        if action == "advance":
            if stage == len(STAGES) - 1:
                return {"outcome": "done", "minute": m + 1, "exposed": exposed}
            stage, start = stage + 1, m + 1
    return {"outcome": "stalled", "minute": HORIZON, "stage": STAGES[stage], "exposed": exposed}


def job(args: tuple[str, str, list[float], list[float], int]) -> tuple[str, str, dict[str, Any]]:
    scenario, variant, shares, factors, seed = args
    global _STATE
    if _STATE is None:
        module = _policy_module()
        plans = _plans()
        _STATE = {v: module.RolloutcliPolicy(plan) for v, plan in plans.items()}
    return scenario, variant, rollout(_STATE[variant], shares, factors, seed)


_STATE: dict[str, Any] | None = None


def interval(x: int, n: int) -> tuple[float, float]:
    lo = beta.ppf(0.025, x, n - x + 1) if x > 0 else 0.0
    hi = beta.ppf(0.975, x + 1, n - x) if x < n else 1.0
    return float(lo), float(hi)


SCENARIOS: dict[str, tuple[list[float], list[float], tuple[str, ...]]] = {
    "x3 in 1 of 5 (10%)": ([0.1, 0.2, 0.2, 0.25, 0.25], [3.0, 1, 1, 1, 1], ("total", "segments")),
    "healthy, 5 segments": ([0.2] * 5, [1.0] * 5, ("total", "segments")),
    "healthy, 20 segments": ([0.05] * 20, [1.0] * 20, ("segments",)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=600, help="rollouts per scenario and variant")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", choices=list(SCENARIOS), help="one scenario")
    a = ap.parse_args()
    jobs = []
    for s_i, (name, (shares, factors, variants)) in enumerate(SCENARIOS.items()):
        if a.only and name != a.only:
            continue
        for r in range(a.reps):
            seed = a.seed * 1_000_003 + s_i * 100_003 + r
            jobs += [(name, v, shares, factors, seed) for v in variants]
    t0 = time.perf_counter()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with ProcessPoolExecutor(a.workers) as pool:
        for scenario, variant, res in pool.map(job, jobs, chunksize=4):
            results.setdefault((scenario, variant), []).append(res)
    elapsed = time.perf_counter() - t0
    print(f"{len(jobs)} rollouts in {elapsed:.0f} s ({a.workers} workers), seed {a.seed}")
    print(
        "| scenario | guardrail | rollouts | rolled back (95% CI) | median minute | "
        "blast radius mean / median | completed | stalled |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (scenario, variant), rs in results.items():
        n = len(rs)
        back = [r for r in rs if r["outcome"] == "rollback"]
        lo, hi = interval(len(back), n)
        done = sum(r["outcome"] == "done" for r in rs)
        stalled = sum(r["outcome"] == "stalled" for r in rs)
        minute = f"{np.median([r['minute'] for r in back]):.0f}" if back else "—"
        if scenario.startswith("x3") and back:
            ex = [r["exposed"] for r in back]
            blast = f"{np.mean(ex):,.0f} / {np.median(ex):,.0f}"
        else:
            blast = "—"
        label = "with `segments: {by: region}`" if variant == "segments" else "total only"
        print(
            f"| {scenario} | {label} | {n} | {len(back) / n:.1%} ({lo:.1%} to {hi:.1%}) | "
            f"{minute} | {blast} | {done / n:.0%} | {stalled / n:.0%} |"
        )
        if scenario.startswith("healthy") and variant == "segments":
            verdict = "<=" if len(back) / n <= ALPHA else ">"
            print(f"  {scenario}: false-rollback rate {len(back) / n:.1%} {verdict} alpha {ALPHA}")
        if scenario.startswith("x3") and n - len(back):
            miss = [r["exposed"] for r in rs if r["outcome"] != "rollback"]
            print(
                f"  {scenario}, {label}: {len(miss)} not rolled back, "
                f"{np.mean(miss):,.0f} treated requests of the region exposed by their end"
            )


if __name__ == "__main__":
    main()
