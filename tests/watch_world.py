"""A scripted world for `rollout watch --auto` tests: traffic, errors, and what truly happens.

Three rollouts of one boolean flag each, watched every 10 minutes from ``T0``; 20,000
requests a minute, 1% errors in the control cohort throughout:

* ``healthy``: the treatment has 1% errors too. Expected: start at T0 (5%), then 25% at
  +30m, 50% at +60m, 100% at +90m, done from +120m.
* ``pause``: from +40m (in the 25% stage) the treatment has 2.2% errors: past the pause tier
  (+50%), below the rollback tier (3x). Expected: paused at +50m, and it stays at 25%.
* ``regression``: from +45m the treatment has 20% errors. Expected: rolled back to 0% at
  +50m, within one watch interval, and never restarted automatically.

The file-backed tests make the world react to the flag (traffic follows the live split);
Prometheus needs its history before it starts, so its copy follows ``SCHEDULE``, the split
the expected decisions produce (a watch that decided otherwise would see a sample-ratio
mismatch and the test would fail on the timeline anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np

PER_MINUTE = 20_000
CONTROL_ERROR = 0.01
INTERVAL_MINUTES = 10
SCENARIOS = ("healthy", "pause", "regression")

# minute offset from T0 → treatment percent from then on (before T0: not started)
SCHEDULE: dict[str, list[tuple[int, float]]] = {
    "healthy": [(0, 5), (30, 25), (60, 50), (90, 100)],
    "pause": [(0, 5), (30, 25)],
    "regression": [(0, 5), (30, 25), (50, 0)],
}


def treatment_error(scenario: str, minute: int) -> float:
    if scenario == "pause" and minute >= 40:
        return 0.022
    if scenario == "regression" and minute >= 45:
        return 0.20
    return CONTROL_ERROR


def scheduled_percent(scenario: str, minute: int) -> float:
    percent = 0.0
    for start, value in SCHEDULE[scenario]:
        if minute >= start:
            percent = value
    return percent


def minute_counts(
    scenario: str, minute: int, percent: float, rng: np.random.Generator
) -> dict[str, tuple[int, int]]:
    """One minute's (requests, errors) per cohort at ``percent`` treatment share."""
    treated = round(PER_MINUTE * percent / 100)
    control = PER_MINUTE - treated
    return {
        "treatment": (treated, int(rng.binomial(treated, treatment_error(scenario, minute)))),
        "control": (control, int(rng.binomial(control, CONTROL_ERROR))),
    }


def plan_text(
    scenario: str, flag_file: str, metrics: str, *, approve: str = "", hook: str = ""
) -> str:
    """The plan every scenario runs; ``metrics`` is the metrics: mapping's body."""
    return f"""flag: {scenario}
platform: {{kind: flagfile, path: {flag_file}, environment: production}}
variations: {{treatment: true, control: false}}
stages:
  - {{percent: 5, min_duration: 30m, min_samples: 1000}}
  - {{percent: 25, min_duration: 30m, min_samples: 1000}}
  - {{percent: 50, min_duration: 30m, min_samples: 1000}}
  - {{percent: 100, min_duration: 30m}}
metrics:
{metrics}
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    direction: higher_is_worse
    thresholds: {{warn: "+20%", pause: "+50%", rollback: "3x"}}
automation:
  start: auto
{approve}{hook}"""


# ---------------------------------------------------------------------- Prometheus copy

PROMETHEUS_STEP = 15  # seconds between samples, as a scrape would take them


def prometheus_samples(
    t0: datetime, start: datetime, end: datetime, seed: int = 7
) -> Iterator[tuple[str, dict[str, str], float, float]]:
    """``http_requests_total{flag="watch-<scenario>", variant, status}`` for the three
    scenarios, every 15 s from ``start`` to ``end``, following ``SCHEDULE``."""
    rng = np.random.default_rng(seed)
    steps = int((end - start).total_seconds()) // PROMETHEUS_STEP
    for scenario in SCENARIOS:
        totals = {(v, s): 0 for v in ("true", "false") for s in ("200", "500")}
        for i in range(steps + 1):
            at = start + timedelta(seconds=i * PROMETHEUS_STEP)
            if i:
                # the increment at ``at`` counts the requests of the 15 s before it
                seconds = (at - t0).total_seconds() - PROMETHEUS_STEP
                minute = int(seconds // 60)
                percent = scheduled_percent(scenario, minute) if seconds >= 0 else 0.0
                per_step = PER_MINUTE * PROMETHEUS_STEP / 60
                for cohort, variant in (("treatment", "true"), ("control", "false")):
                    share = percent if cohort == "treatment" else 100 - percent
                    requests = round(per_step * share / 100)
                    rate = CONTROL_ERROR
                    if cohort == "treatment":
                        rate = treatment_error(scenario, minute)
                    errors = int(rng.binomial(requests, rate))
                    totals[(variant, "500")] += errors
                    totals[(variant, "200")] += requests - errors
            for (variant, status), value in totals.items():
                labels = {"flag": f"watch-{scenario}", "variant": variant, "status": status}
                yield ("http_requests_total", labels, float(value), at.timestamp())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def prometheus_metrics(scenario: str, url: str) -> str:
    """The plan's metrics: mapping body for the Prometheus copy of ``scenario``."""
    selector = f'flag="watch-{scenario}",variant="{{cohort}}"'
    return (
        f"  source: {{kind: prometheus, url: {url}}}\n"
        "  exposures: requests\n"
        "  queries:\n"
        f"    requests: 'sum(increase(http_requests_total{{{selector}}}[{{window}}]))'\n"
        f'    errors: \'sum(increase(http_requests_total{{{selector},status="500"}}'
        "[{window}]))'"
    )
