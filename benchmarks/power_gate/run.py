"""Does the power gate keep its word? Its ETA, and its power at the detect: effect.

    .venv/bin/python benchmarks/power_gate/run.py [--runs 200] [--per-minute 200]
        [--power 0.9] [--seed 2026]

A plan of one ratio guardrail (errors at 1%, ``detect: +50%``; or conversions at 10%,
``detect: -10%``) with stages 1% → 50% → 100%, 30-minute windows, the evidence pooled over
the rollout, a look every minute, in the world of ``tests/rollout_sim.py`` (independent
requests). The 50% stage is power-gated.

* **ETA**, no true effect: at the first look in the 50% stage that holds on the power
  gate, the time it shows (``look_again_at``); then the time the gate actually took to
  open. Prints the median of actual / shown and its interquartile range (runs still held
  at the horizon count as longer than any ETA).
* **Power**, the true effect exactly at ``detect:``: the share of rollouts that reach 100%
  (the gate let a detect-sized regression through), against ``1 - power``; and the share
  rolled back.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.rollout_sim import T0, World, simulate  # noqa: E402
from tests.unit.test_guarantees import GATED, _gated_plan  # noqa: E402

from rolloutcli.judge.reasons import ReasonCode  # noqa: E402
from rolloutcli.judge.verdict import Verdict, VerdictKind  # noqa: E402
from rolloutcli.plan.model import Plan  # noqa: E402


def eta_run(plan: Plan, world: World, rng: np.random.Generator) -> tuple[float, float] | None:
    """(ETA shown, actual wait) in minutes at the first gate hold of the 50% stage."""
    first: dict[str, Any] = {}

    def look(minute: int, stage: int, verdict: Verdict) -> None:
        if stage != 1 or "at" in first:
            return
        gated = any(r.code is ReasonCode.POWER_GATED for r in verdict.reasons)
        if verdict.kind is VerdictKind.HOLD and gated and verdict.look_again_at is not None:
            first["at"] = minute
            first["eta"] = (verdict.look_again_at - T0 - timedelta(minutes=minute)).total_seconds()

    outcome = simulate(plan, world, rng, on_look=look)
    if "at" not in first:
        return None  # the gate was open at the end of the window
    actual = outcome.minute - first["at"] if outcome.kind is VerdictKind.DONE else math.inf
    if outcome.kind is not VerdictKind.DONE and outcome.kind is not VerdictKind.HOLD:
        return None  # rolled back by chance
    return first["eta"] / 60.0, float(actual)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--per-minute", type=int, default=200)
    parser.add_argument("--power", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    horizon = 48 * 60
    for name, (_, detect, factor) in GATED.items():
        plan = _gated_plan(name, args.power)
        rng = np.random.default_rng(args.seed)
        healthy = World(args.per_minute, 1, horizon_minutes=horizon)
        pairs = [p for p in (eta_run(plan, healthy, rng) for _ in range(args.runs)) if p]
        ratios = np.array([actual / eta for eta, actual in pairs if eta > 0])
        q1, med, q3 = np.quantile(ratios, [0.25, 0.5, 0.75]) if ratios.size else (math.nan,) * 3
        etas = np.array([eta for eta, _ in pairs])
        print(
            f"{name} ({args.per_minute}/min, detect {detect}, power {args.power}): "
            f"ETA median {np.median(etas):.0f} min over {len(pairs)} gated runs; "
            f"actual/ETA median {med:.2f} (IQR {q1:.2f}-{q3:.2f}); "
            f"still held at {horizon // 60}h: {np.mean(np.isinf(ratios)):.1%}"
        )
        harmful = World(args.per_minute, 5, effects={name: factor}, horizon_minutes=horizon)
        rng = np.random.default_rng(args.seed + 1)
        kinds = [simulate(plan, harmful, rng).kind for _ in range(args.runs)]
        done = sum(k is VerdictKind.DONE for k in kinds) / len(kinds)
        back = sum(k is VerdictKind.ROLLBACK for k in kinds) / len(kinds)
        print(
            f"  true effect at detect: reached 100% in {done:.1%} (stated at most "
            f"{1 - args.power:.0%}), rolled back {back:.1%}, held {1 - done - back:.1%}"
        )


if __name__ == "__main__":
    main()
