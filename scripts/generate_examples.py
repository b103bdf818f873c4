"""Regenerate the example flag file and metrics files (deterministic: seeded, fixed times).

    python scripts/generate_examples.py

Writes flags/flags.json and metrics/*.csv at the repository root and the same files into the
package's demo workspace (src/rolloutcli/demo/), which `rollout demo` copies out.
"""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "src" / "rolloutcli" / "demo"
BUCKET = {"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}
STEP = timedelta(minutes=5)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def split(treatment: str, control: str, percent: float) -> dict[str, object]:
    w = round(percent * 1000)
    return {"fractional": [BUCKET, [treatment, w], [control, 100_000 - w]]}


def stamp(at: datetime, percent: float, stage: str, plan: str, comment: str) -> dict[str, object]:
    return {
        "rolloutcli.changedAt": iso(at),
        "rolloutcli.percent": percent,
        "rolloutcli.plan": plan,
        "rolloutcli.stage": stage,
        "rolloutcli.comment": comment,
    }


def flags() -> dict[str, object]:
    return {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "checkout-v2": {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": split("on", "off", 5),
                "metadata": stamp(
                    datetime(2026, 11, 2, 10, tzinfo=UTC),
                    5,
                    "5%",
                    "checkout-v2",
                    "rolloutcli: plan checkout-v2 → stage 5% (5%), verdict go",
                ),
            },
            "recommender-model": {
                "state": "ENABLED",
                "variants": {"v2.3": "v2.3", "v2.4": "v2.4"},
                "defaultVariant": "v2.3",
                "targeting": split("v2.4", "v2.3", 10),
                "metadata": stamp(
                    datetime(2026, 11, 3, 8, tzinfo=UTC),
                    10,
                    "10%",
                    "recommender-model",
                    "rolloutcli: plan recommender-model → stage 10% (10%), verdict go",
                ),
            },
            "search-ranking": {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": split("on", "off", 0),
            },
            # the Prometheus and Datadog examples: not started (their metrics live there)
            "payments-v2": {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": split("on", "off", 0),
            },
            "signup-v2": {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": split("on", "off", 0),
            },
        },
    }


def checkout_rows(
    rng: random.Random,
    start: datetime = datetime(2026, 11, 2, 10, tzinfo=UTC),
    hours: float = 2,
    share: float = 0.05,
) -> list[dict[str, object]]:
    """5% stage since 10:00, two healthy hours: treatment matches control. (With other
    arguments: the same healthy traffic at another share, e.g. the demo's 10% stage.)"""
    rows: list[dict[str, object]] = []
    t = start
    end = t + timedelta(hours=hours)
    while t < end:
        total = rng.randint(9000, 11000)
        treated = sum(rng.random() < share for _ in range(total))
        for cohort, n in (("treatment", treated), ("control", total - treated)):
            errors = sum(rng.random() < 0.010 for _ in range(n))
            checkouts = sum(rng.random() < 0.30 for _ in range(n))
            orders = sum(rng.random() < 0.52 for _ in range(checkouts))
            p99 = rng.gauss(420, 18)
            rows += [
                {"time": iso(t), "cohort": cohort, "metric": "requests", "value": n},
                {"time": iso(t), "cohort": cohort, "metric": "errors", "value": errors},
                {"time": iso(t), "cohort": cohort, "metric": "checkouts", "value": checkouts},
                {"time": iso(t), "cohort": cohort, "metric": "orders", "value": orders},
                {
                    "time": iso(t),
                    "cohort": cohort,
                    "metric": "latency_p99_ms",
                    "value": round(p99, 1),
                },
            ]
        t += STEP
    return rows


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A binomial draw, by its normal approximation (n is in the thousands)."""
    return max(0, min(n, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))


def checkout_history_rows(rng: random.Random) -> list[dict[str, object]]:
    """Two days before the rollout (everyone on control), every 5 minutes, with a daily
    cycle: what `rollout plan suggest` reads to draft a plan in the demo workspace."""
    rows: list[dict[str, object]] = []
    end = datetime(2026, 11, 2, 10, tzinfo=UTC)
    t = end - timedelta(days=2)
    while t < end:
        hour = t.hour + t.minute / 60
        n = round(10_000 * (0.65 + 0.35 * math.sin((hour - 9) / 24 * 2 * math.pi)))
        n = max(500, round(rng.gauss(n, n * 0.03)))
        checkouts = binomial(rng, n, 0.30)
        for metric, value in (
            ("requests", n),
            ("errors", binomial(rng, n, 0.010)),
            ("checkouts", checkouts),
            ("orders", binomial(rng, checkouts, 0.52)),
            ("latency_p99_ms", round(rng.gauss(420, 18), 1)),
        ):
            rows.append({"time": iso(t), "cohort": "control", "metric": metric, "value": value})
        t += STEP
    return rows


def recommender_rows(rng: random.Random) -> list[dict[str, object]]:
    """10% stage since 08:00: v2.4 falls back to the heuristic ~2.5x as often as v2.3."""
    rows: list[dict[str, object]] = []
    t = datetime(2026, 11, 3, 8, tzinfo=UTC)
    end = t + timedelta(hours=1, minutes=30)
    while t < end:
        total = rng.randint(5500, 6500)
        treated = sum(rng.random() < 0.10 for _ in range(total))
        for cohort, n, fallback, accuracy in (
            ("v2.4", treated, 0.020, 0.912),
            ("v2.3", total - treated, 0.008, 0.905),
        ):
            fallbacks = sum(rng.random() < fallback for _ in range(n))
            rows += [
                {"time": iso(t), "cohort": cohort, "metric": "inferences", "value": n},
                {"time": iso(t), "cohort": cohort, "metric": "fallbacks", "value": fallbacks},
                {
                    "time": iso(t),
                    "cohort": cohort,
                    "metric": "accuracy",
                    "value": round(rng.gauss(accuracy, 0.006), 4),
                },
            ]
        t += STEP
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["time", "cohort", "metric", "value"])
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    (ROOT / "flags").mkdir(exist_ok=True)
    (ROOT / "flags" / "flags.json").write_text(json.dumps(flags(), indent=2) + "\n")
    write_csv(ROOT / "metrics" / "checkout-v2.csv", checkout_rows(random.Random(20261102)))
    write_csv(ROOT / "metrics" / "recommender-model.csv", recommender_rows(random.Random(20261103)))
    write_csv(ROOT / "metrics" / "search-ranking.csv", [])  # not started: no data yet
    write_csv(ROOT / "metrics" / "new-onboarding.csv", [])  # the Unleash example: not started
    write_csv(ROOT / "metrics" / "ranker-model.csv", [])  # the LaunchDarkly example: not started
    for folder in ("plans", "flags", "metrics"):
        if (DEMO / folder).exists():
            shutil.rmtree(DEMO / folder)
        shutil.copytree(ROOT / folder, DEMO / folder)
    # the demo workspace only (rollout demo adds them): checkout-v2's two days before the
    # rollout, for plan suggest, and what its metrics recorded after the demo's own step
    # (12:00, 5% -> 10%), so that its 10% stage has a healthy window when handed over
    write_csv(
        DEMO / "extra" / "metrics" / "checkout-v2.csv",
        checkout_history_rows(random.Random(20261031))
        + checkout_rows(
            random.Random(20261112), datetime(2026, 11, 2, 12, tzinfo=UTC), hours=1.25, share=0.10
        ),
    )


if __name__ == "__main__":
    main()
