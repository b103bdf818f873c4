"""How often a healthy rollout of each shipped example plan pauses or rolls back.

    .venv/bin/python benchmarks/healthy_pauses/run.py [--runs 100] [--per-minute 20000]
        [--look-every 5] [--hours H] [PLAN ...]

Each run simulates one rollout with no true effect, independent requests, through the real
verdict engine, from the first stage until it is done, paused or rolled back (or the
plan's windows plus a day pass); ``--hours`` stops earlier. The world is the one the tests
use (``tests/rollout_sim.py``, described there). Prints one line per plan: the runs that
paused, rolled back, finished and held at the horizon, with the share stopped and its 95%
Wilson interval, then the first few reasons given.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.rollout_sim import World, simulate  # noqa: E402

from rolloutcli.judge.messages import text  # noqa: E402
from rolloutcli.plan.model import load_plan  # noqa: E402


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("plans", nargs="*")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--per-minute", type=int, default=20_000)
    parser.add_argument("--look-every", type=int, default=5)
    parser.add_argument("--hours", type=float, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    paths = [ROOT / "plans" / f"{name}.yaml" for name in args.plans] or sorted(
        (ROOT / "plans").glob("*.yaml")
    )
    horizon = int(args.hours * 60) if args.hours else None
    world = World(args.per_minute, args.look_every, horizon_minutes=horizon)
    print(
        f"{args.runs} runs per plan, {args.per_minute} units a minute, a look every "
        f"{args.look_every} min, horizon {'full rollout' if horizon is None else f'{args.hours}h'}"
    )
    for path in paths:
        plan = load_plan(path).plan
        rng = np.random.default_rng(args.seed)
        started = time.perf_counter()
        kinds: Counter[str] = Counter()
        reasons: list[str] = []
        for _ in range(args.runs):
            outcome = simulate(plan, world, rng)
            kinds[outcome.kind.value] += 1
            if outcome.kind.value in ("pause", "rollback") and outcome.reasons:
                first = text(outcome.reasons[0])
                reasons.append(f"{outcome.minute}m stage {outcome.stage}: {first}")
        stopped = kinds["pause"] + kinds["rollback"]
        low, high = wilson(stopped, args.runs)
        print(
            f"{path.stem:22} paused {kinds['pause']:3} rolled back {kinds['rollback']:3} "
            f"done {kinds['done']:3} held {kinds['hold']:3}  stopped {stopped / args.runs:.1%} "
            f"[{low:.1%}, {high:.1%}]  {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        for reason in reasons[:3]:
            print(f"    {reason}", flush=True)


if __name__ == "__main__":
    main()
