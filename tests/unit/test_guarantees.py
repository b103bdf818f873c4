"""Seeded simulations of what the statistics promise, through the real verdict engine.

The references are closed forms (alpha, the stated rates) and the world in
``tests/rollout_sim.py``, never the functions under test. Each simulation is seeded, so a
run is reproducible; the run counts are sized to keep the whole file near a minute, and
the fuller measurements are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rolloutcli.judge.evidence import Bounds, assess, mean_bounds, ratio_bounds
from rolloutcli.judge.observations import MeanSeries, Observation, RatioSeries
from rolloutcli.judge.reasons import ReasonCode
from rolloutcli.judge.verdict import VerdictKind
from rolloutcli.plan.model import MeanGuardrail, Plan, RatioGuardrail, load_plan
from rolloutcli.stats.dispersion import split_dispersion
from rolloutcli.stats.moments import MomentSeries, UnitMoments
from rolloutcli.stats.sequential import (
    mean_difference_evidence,
    one_sample_rate_evidence,
    rate_ratio_evidence,
)
from tests.rollout_sim import T0, World, simulate

pytestmark = pytest.mark.simulation

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "plans").glob("*.yaml"))


def _ratio(name: str, thresholds: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "ratio",
        "events": f"{name}_events",
        "trials": "requests",
        "thresholds": thresholds,
        **extra,
    }


def _plan(guardrails: list[dict[str, Any]], **statistics: Any) -> Plan:
    return Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [{"percent": p, "min_duration": "20m"} for p in (1, 5, 10, 25, 50)]
            + [{"percent": 100}],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
            "guardrails": guardrails,
            "statistics": {"alpha": 0.05, **statistics},
        }
    )


def _fired(plan: Plan, world: World, runs: int, seed: int) -> Counter[str]:
    rng = np.random.default_rng(seed)
    return Counter(simulate(plan, world, rng).kind.value for _ in range(runs))


def test_alpha_covers_tested_pause_and_rollback_tiers_together() -> None:
    """Issue 24's case: a tested pause tier on two guardrails and a tested rollback tier on
    two others, every one of the four exactly on its null boundary (the treatment's rate
    is 1.5x where pause is +50%, 2x where rollback is 2x). When each tier was its own
    family the rate was up to 2 alpha (5.3% measured). Now alpha covers all four."""
    plan = _plan(
        [
            _ratio("a", {"pause": "+50%"}, significant=["pause"]),
            _ratio("b", {"pause": "+50%"}, significant=["pause"]),
            _ratio("c", {"rollback": "2x"}),
            _ratio("d", {"rollback": "2x"}),
        ]
    )
    world = World(per_minute=20_000, effects={"a": 1.5, "b": 1.5, "c": 2.0, "d": 2.0})
    runs = 400
    outcome = _fired(plan, world, runs, seed=24)
    fired = outcome["pause"] + outcome["rollback"]
    assert fired <= 0.05 * runs, outcome
    assert outcome["done"] + fired == runs, "every run ends: done, or a tier fires"


def test_a_point_estimate_tier_on_noise_alone_does_not_pause() -> None:
    """The issue's minute-1 canary: a 1% stage whose treatment shows +150% on two expected
    errors. A point-estimate pause now needs the treatment shown worse than control."""
    plan = _plan([_ratio("errors", {"pause": "+50%", "rollback": "2x"})])
    world = World(per_minute=20_000, look_every=1, horizon_minutes=40)  # the 1% and 5% stages
    outcome = _fired(plan, world, runs=200, seed=1)
    assert outcome["pause"] + outcome["rollback"] <= 0.02 * 200, outcome


@pytest.mark.parametrize(
    ("per_minute", "look_every", "minutes"),
    [(20_000, 5, 240), (20_000, 1, 60), (2_000, 5, 180)],
    ids=["20k-every-5m", "20k-every-1m-first-hour", "2k-every-5m"],
)
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_healthy_rollout_of_a_shipped_plan_rarely_pauses(
    path: Path, per_minute: int, look_every: int, minutes: int
) -> None:
    """Healthy (no effect, independent requests): paused or rolled back in at most 2% of
    rollouts, over their first hours, where the stages hold the least data (four hours; the
    first hour when looking every minute, where the issue measured 24% for checkout-v2;
    three at 2,000 a minute). Full rollouts with more runs: benchmarks/README.md."""
    plan = load_plan(path).plan
    runs = 50
    world = World(per_minute=per_minute, look_every=look_every, horizon_minutes=minutes)
    outcome = _fired(plan, world, runs, seed=15)
    stopped = outcome[VerdictKind.PAUSE.value] + outcome[VerdictKind.ROLLBACK.value]
    assert stopped <= 0.02 * runs, outcome


# --------------------------------------------------------------------------- means


def _moments(values: list[np.ndarray]) -> MomentSeries:
    return MomentSeries.of(
        np.array([v.size for v in values], dtype=float),
        np.array([v.sum() for v in values]),
        np.array([(v * v).sum() for v in values]),
    )


def _normal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(3.0, 2.0, n)


def _lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, 1.0, n)


def _pareto(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.pareto(2.5, n) + 1.0  # Pareto with tail index 2.5: a finite variance only


Draw = Callable[[np.random.Generator, int], np.ndarray]


def _null_runs(
    draw: Draw, per_interval: tuple[int, int], runs: int, seed: int, spell: int = 0
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """``runs`` null rollouts of 50 intervals: both cohorts from ``draw``; for the first
    ``spell`` intervals both spread three times as wide around the same mean."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        cohorts: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for i in range(50):
            for cohort, n in zip(cohorts, per_interval, strict=True):
                values = draw(rng, n)
                if i < spell:
                    values = _MEANS[draw] + 3 * (values - _MEANS[draw])
                cohort.append(values)
        out.append(cohorts)
    return out


_MEANS: dict[Draw, float] = {_normal: 3.0, _lognormal: math.exp(0.5), _pareto: 2.5 / 1.5}


@pytest.mark.parametrize(
    ("draw", "per_interval"),
    [
        (_normal, (1, 10)),
        (_normal, (2, 20)),
        (_lognormal, (1, 10)),
        (_lognormal, (2, 20)),
        (_pareto, (1, 10)),
        (_pareto, (2, 20)),
    ],
    ids=[
        "normal-1/10",
        "normal-2/20",
        "lognormal-1/10",
        "lognormal-2/20",
        "pareto-1/10",
        "pareto-2/20",
    ],
)
def test_the_mean_test_keeps_alpha_with_few_values_and_heavy_tails(
    draw: Draw, per_interval: tuple[int, int]
) -> None:
    """Issue 15 (b): no true difference, 50 looks, 1 treatment and 10 control values an
    interval or 2 and 20, normal, lognormal and Pareto(2.5) data: each side rejects in at
    most alpha/2 of runs. It was 7.6% and 9.5% (both sides) with normal data; with each
    cohort's own spread weighting it, skewed data's lower side reached 5.8% (Pareto, 2/20)."""
    runs = 400
    rejected = Counter[int]()
    for treatment, control in _null_runs(draw, per_interval, runs, seed=per_interval[0]):
        for direction in (1, -1):
            ev = mean_difference_evidence(
                _moments(treatment), _moments(control), direction=direction
            ).evidence
            rejected[direction] += ev.max_e_value >= 1 / 0.025  # each side at alpha/2
    assert max(rejected.values(), default=0) <= 0.025 * runs, rejected


@pytest.mark.parametrize("per_interval", [(2, 20), (20, 200)], ids=lambda p: f"{p[0]}/{p[1]}")
def test_the_mean_test_keeps_alpha_when_the_treatment_spreads_wider(
    per_interval: tuple[int, int],
) -> None:
    """The weights assume the cohorts' pooled spread, which a harmless treatment shares;
    one that spreads its values three times as wide, with the same mean, is caught by its
    own spread in the score's variance: each side at alpha (the rollback test's level)
    rejects in at most alpha of runs (normal data, 50 looks)."""
    rng = np.random.default_rng(2)
    runs = 400
    rejected = Counter[int]()
    for _ in range(runs):
        treatment = [rng.normal(3.0, 6.0, per_interval[0]) for _ in range(50)]
        control = [rng.normal(3.0, 2.0, per_interval[1]) for _ in range(50)]
        for direction in (1, -1):
            ev = mean_difference_evidence(
                _moments(treatment), _moments(control), direction=direction
            ).evidence
            rejected[direction] += ev.max_e_value >= 1 / 0.05
    assert max(rejected.values(), default=0) <= 0.05 * runs, rejected


@pytest.mark.parametrize("per_interval", [(1, 10), (2, 20)], ids=lambda p: f"{p[0]}/{p[1]}")
def test_a_noisy_spell_is_not_evidence_once_it_is_over(per_interval: tuple[int, int]) -> None:
    """Issue 24: the spread triples in both cohorts for the first 15 of 50 looks, the means
    equal throughout. Re-scoring the spell with the quieter variance that followed rejected
    in 14.5-17.5% of runs, mostly after the spell."""
    runs = 400
    rejected = 0
    for treatment, control in _null_runs(_normal, per_interval, runs, seed=7, spell=15):
        ev = mean_difference_evidence(_moments(treatment), _moments(control)).evidence
        rejected += ev.max_e_value >= 1 / 0.05
    assert rejected <= 0.05 * runs, rejected


def _sides_missed(looks: Iterable[Bounds]) -> set[str]:
    """The sides on which the bounds at any of the looks excluded no change (0)."""
    sides: set[str] = set()
    for found in looks:
        if found.low is not None and found.low > 0:
            sides.add("low")
        if found.high is not None and found.high < 0:
            sides.add("high")
    return sides


@pytest.mark.parametrize(
    ("draw", "per_interval"),
    [(_lognormal, (20, 200)), (_normal, (2, 20))],
    ids=["lognormal", "normal"],
)
def test_mean_bounds_cover_at_every_look(draw: Draw, per_interval: tuple[int, int]) -> None:
    """Issue 24: the always-valid bounds shown on the linear scale (a 95% two-sided
    sequence: 2.5% a side) contain the true difference (0) at every look, every 5 minutes
    over 50, in all but at most 2.5% of runs per side. They missed 9.1% (lognormal, upper)
    and 8.5% / 7.8% (normal at 2/20)."""
    guardrail = MeanGuardrail.model_validate(
        {"name": "m", "kind": "mean", "metric": "m", "thresholds": {"rollback": "+10%"}}
    )
    runs = 200
    missed = Counter[str]()
    for treatment, control in _null_runs(draw, per_interval, runs, seed=3):
        missed.update(
            _sides_missed(
                mean_bounds(
                    guardrail,
                    MeanSeries(_moments(treatment[:look]), _moments(control[:look])),
                    0.025,
                )
                for look in range(5, 51, 5)
            )
        )
    assert missed["low"] <= 0.025 * runs and missed["high"] <= 0.025 * runs, missed


# --------------------------------------------------------------------------- clustered rates

RATE_STAGES = (0.01, 0.05, 0.10, 0.25, 0.50)
RATE_MINUTES = 30


def _clustered_rollout(
    rng: np.random.Generator, rpm: int, cv: float, burst: float = 1.0, p: float = 0.01
) -> tuple[np.ndarray, ...]:
    """One healthy 5-stage rollout, a minute an interval. Each cohort's error rate is drawn
    afresh every minute from a Beta with coefficient of variation ``cv`` (beta-binomial
    dispersion); with ``burst > 1`` each failure comes with a geometric number of retries
    (mean ``burst``)."""
    share = np.repeat(RATE_STAGES, RATE_MINUTES)
    total = rng.poisson(rpm, share.size)
    nt = rng.binomial(total, share)
    nc = total - nt

    def errors(n: np.ndarray) -> np.ndarray:
        rate = np.full(n.size, p)
        if cv > 0:
            k = (1 - p) / (cv * cv * p) - 1
            rate = rng.beta(p * k, (1 - p) * k, n.size)
        if burst <= 1:
            return rng.binomial(n, rate)
        roots = rng.binomial(n, rate / burst)
        sizes = np.array([rng.geometric(1 / burst, r).sum() if r else 0 for r in roots])
        return np.minimum(sizes, n)

    return (errors(nt), nt, errors(nc), nc)


def _rate_false_rejections(runs: int, seed: int, direction: int, **world: Any) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        et, nt, ec, nc = _clustered_rollout(rng, **world)
        hits += rate_ratio_evidence(et, nt, ec, nc, 1.0, direction).rejects(0.05)
    return hits / runs


def test_the_rate_test_keeps_alpha_with_independent_requests() -> None:
    for rpm in (2_000, 20_000):
        for direction in (1, -1):
            rate = _rate_false_rejections(150, 11 + rpm, direction, rpm=rpm, cv=0.0)
            assert rate <= 0.05, (rpm, direction, rate)


@pytest.mark.parametrize("cv", [0.3, 1.0])
@pytest.mark.parametrize("rpm", [2_000, 20_000])
def test_the_rate_test_keeps_alpha_when_each_cohorts_rate_jitters(cv: float, rpm: int) -> None:
    # Each direction at alpha = 0.05 over the whole rollout (30 looks a stage), so the
    # two-sided interval at 2 x 0.05 would cover the truth at every look. The binomial
    # alone rejects 6.5-89% here (benchmarks/README.md); allowing for the clustering
    # (stats/quasi.py), 0.7-4.7%.
    rates = [
        _rate_false_rejections(150, 11 + rpm + int(cv * 10), d, rpm=rpm, cv=cv) for d in (1, -1)
    ]
    assert max(rates) <= 0.05, rates


def test_the_rate_test_keeps_alpha_with_bursts_of_retries() -> None:
    assert _rate_false_rejections(150, 5, 1, rpm=20_000, cv=0.0, burst=3.0) <= 0.05


def test_an_absolute_ceiling_keeps_alpha_when_the_rate_jitters() -> None:
    """A ceiling ("< 1%") on a treatment whose error rate is exactly 1% on average but is
    drawn afresh every minute (CV 0.3, 20,000 requests a minute, a look every minute): the
    binomial alone called it breached in 25% of rollouts; allowing for the clustering
    (``one_sample_rate_evidence``), at most alpha. At CV 1.0 it is 7-8%: see
    docs/statistics.md."""
    rng = np.random.default_rng(5)
    runs = 150
    breached = 0
    for _ in range(runs):
        et, nt, _, _ = _clustered_rollout(rng, 20_000, 0.3)
        breached += one_sample_rate_evidence(et, nt, 0.01).max_e_value >= 1 / 0.05
    assert breached <= 0.05 * runs, breached


@pytest.mark.parametrize(("cv", "rpm"), [(0.3, 20_000), (1.0, 2_000)])
def test_the_rate_bounds_cover_at_every_look_when_each_cohorts_rate_jitters(
    cv: float, rpm: int
) -> None:
    """Issue 15 (c): the always-valid bounds shown on a ratio guardrail (95% two-sided,
    2.5% a side) contain the true change (none) at every look, every 15 minutes of a
    healthy 5-stage rollout with per-cohort jitter, in all but at most 2.5% of runs per
    side. The binomial alone rejects such a null in a third to nearly all runs."""
    guardrail = RatioGuardrail.model_validate(
        {"name": "e", "kind": "ratio", "events": "e", "trials": "n", "thresholds": {}}
    )
    rng = np.random.default_rng(int(cv * 10) + rpm)
    runs = 100
    missed = Counter[str]()
    for _ in range(runs):
        et, nt, ec, nc = _clustered_rollout(rng, rpm, cv)
        missed.update(
            _sides_missed(
                ratio_bounds(
                    guardrail, RatioSeries(et[:look], nt[:look], ec[:look], nc[:look]), 0.025
                )
                for look in range(15, et.size + 1, 15)
            )
        )
    assert missed["low"] <= 0.025 * runs and missed["high"] <= 0.025 * runs, missed


def test_clustering_is_shown_where_the_rate_test_is_optimistic() -> None:
    # what the user is told: a significant dispersion in most jittery rollouts, rarely in
    # independent ones
    rng = np.random.default_rng(8)
    flagged = {0.0: 0, 0.3: 0}
    for cv in flagged:
        for _ in range(40):
            et, nt, ec, nc = _clustered_rollout(rng, 20_000, cv)
            flagged[cv] += split_dispersion(et, nt, ec, nc).significant
    assert flagged[0.3] >= 38
    assert flagged[0.0] <= 6


# --------------------------------------------------------------------------- the power gate

GATED = {"errors": ("higher_is_worse", "+50%", 1.5), "conversion": ("lower_is_worse", "-10%", 0.9)}


def _gated_plan(name: str, power: float = 0.9) -> Plan:
    """One ratio guardrail, 1% then a power-gated 50% stage, 30-minute windows, evidence
    pooled over the rollout (also benchmarks/power_gate/run.py's plan)."""
    direction, detect, _ = GATED[name]
    return Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [
                {"percent": 1, "min_duration": "30m"},
                {"percent": 50, "min_duration": "30m"},
                {"percent": 100},
            ],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
            "guardrails": [
                _ratio(
                    name,
                    {"rollback": "+0%" if direction == "higher_is_worse" else "-0%"},
                    direction=direction,
                    detect=detect,
                )
            ],
            "statistics": {"alpha": 0.05, "power": power, "scope": "rollout", "interval": "1m"},
        }
    )


@pytest.mark.parametrize("name", sorted(GATED))
def test_the_power_gates_eta_is_a_median(name: str) -> None:
    """Healthy, 200 units a minute, a look every minute: at the first look the 50% stage
    holds on the gate, the time it shows; then the time the gate took to open. Half the
    rollouts should open before the time shown: the median of actual / shown within
    0.8-1.25 (the issue measured 0.51 for errors and 2.15 for conversions)."""
    plan = _gated_plan(name)
    rng = np.random.default_rng(61 + len(name))
    ratios = []
    for _ in range(160):
        first: dict[str, float] = {}

        def look(minute: int, stage: int, verdict: Any, first: dict[str, float] = first) -> None:
            if stage != 1 or "at" in first or verdict.look_again_at is None:
                return
            if any(r.code is ReasonCode.POWER_GATED for r in verdict.reasons):
                first["at"] = minute
                shown = verdict.look_again_at - T0 - timedelta(minutes=minute)
                first["eta"] = shown.total_seconds() / 60

        outcome = simulate(plan, World(200, 1, horizon_minutes=2_000), rng, on_look=look)
        if "at" in first and outcome.kind is not VerdictKind.ROLLBACK:
            done = outcome.kind is VerdictKind.DONE
            ratios.append((outcome.minute - first["at"]) / first["eta"] if done else math.inf)
    assert len(ratios) >= 80
    assert 0.8 <= float(np.median(ratios)) <= 1.25


@pytest.mark.parametrize("name", sorted(GATED))
def test_the_power_gate_lets_a_detect_sized_regression_through_at_most_1_minus_power(
    name: str,
) -> None:
    """The true effect exactly at detect:, 200 units a minute: the rollout reaches 100%
    (the gate opened before a rollback) in at most 1 - power = 10% of runs, and the stated
    power is not far off the truth either (at most 5 points above it)."""
    plan = _gated_plan(name)
    world = World(200, 5, effects={name: GATED[name][2]}, horizon_minutes=2_000)
    outcome = _fired(plan, world, 200, seed=70 + len(name))
    done = outcome[VerdictKind.DONE.value] / 200
    assert done <= 0.10 + 0.02, outcome  # 200 runs: two points of sampling slack
    assert 1 - done <= 0.9 + 0.05 + 0.02, outcome


# --------------------------------------------------------------------------- per-unit ratios

PER_UNIT = RatioGuardrail.model_validate(
    {
        "name": "error_rate",
        "kind": "ratio",
        "events": "errors_per_user",
        "trials": "errors_per_user",
        "thresholds": {"rollback": "+10%"},
    }
)


def _users(rng: np.random.Generator, counts: np.ndarray, effect: float) -> UnitMoments:
    """``counts[i]`` new users in interval i, each with its own error rate (Beta with mean
    1% times ``effect``, coefficient of variation 3: most users never fail, a few fail
    often) and a geometric number of requests (mean 8): requests cluster within users."""
    users = int(counts.sum())
    rate = np.minimum(rng.beta(0.1, 9.9, users) * effect, 1.0)
    requests = rng.geometric(1 / 8, users).astype(float)
    errors = rng.binomial(requests.astype(np.int64), rate).astype(float)
    interval = np.repeat(np.arange(counts.size), counts)

    def per_interval(values: np.ndarray) -> np.ndarray:
        return np.bincount(interval, weights=values, minlength=counts.size).astype(float)

    columns = (np.ones(users), errors, requests, errors**2, requests**2, errors * requests)
    return UnitMoments(*(per_interval(c) for c in columns))


def _unit_rollout(rng: np.random.Generator, effect: float) -> RatioSeries:
    """A 5-stage rollout, a minute an interval, 300 new users a minute split by stage."""
    share = np.repeat(RATE_STAGES, 20)
    total = rng.poisson(300, share.size)
    treated = rng.binomial(total, share)
    t, c = _users(rng, treated, effect), _users(rng, total - treated, 1.0)
    return RatioSeries(t.events, t.trials, c.events, c.trials, t, c)


def _unit_rejections(runs: int, seed: int, effect: float) -> tuple[float, float]:
    """How often the rollback tier (+10%) fires over the whole rollout: the per-unit test,
    and the per-request binomial test of the same counts."""
    rng = np.random.default_rng(seed)
    per_unit = per_request = 0
    for _ in range(runs):
        series = _unit_rollout(rng, effect)
        found = assess(PER_UNIT, Observation("error_rate", None, None, series=series), 0.1, True)
        assert found is not None
        per_unit += found.thresholds[0].evidence.rejects(0.05)
        counts = (series.treatment_events, series.treatment_trials)
        control = (series.control_events, series.control_trials)
        per_request += rate_ratio_evidence(*counts, *control, 1.1, 1).rejects(0.05)
    return per_unit / runs, per_request / runs


def test_a_per_unit_ratio_keeps_alpha_where_requests_cluster_within_users() -> None:
    """No true effect, requests clustered within users, 100 looks: the per-unit test of the
    ratio of sums keeps alpha (measured 1 of 300), and so does the rate test of the same
    requests now that it allows for clustering (4.3%; the binomial alone rolled back 10%)."""
    per_unit, per_request = _unit_rejections(300, 41, 1.0)
    assert per_unit <= 0.05 + 0.025, per_unit  # 300 runs: two standard errors of slack
    assert per_request <= 0.05 + 0.025, per_request


def test_a_per_unit_ratio_detects_a_doubled_error_rate() -> None:
    """Every user's error rate doubled: rolled back in every run measured (60 of 60)."""
    per_unit, _ = _unit_rejections(60, 42, 2.0)
    assert per_unit >= 0.9, per_unit
