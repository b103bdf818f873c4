"""A guardrail judged per segment (issue 22): pooling, the multiplicity rule, exact
per-segment statistics on small inputs, and seeded simulations of the family-wise
false-breach rate and of a regression confined to one segment.

The simulations draw their rollouts with their own numpy code (per minute, each segment's
requests binomial at its share of the traffic, split binomially between the cohorts, and
errors binomial at each cohort's true rate); what they check is the verdict against the
truth they drew, never against numbers the code under test computes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rolloutcli.judge import segments
from rolloutcli.judge.findings import Status
from rolloutcli.judge.messages import sentences
from rolloutcli.judge.observations import (
    Exposures,
    Observation,
    RatioData,
    RatioSeries,
    SegmentData,
)
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import Verdict, VerdictKind, decide
from rolloutcli.plan.model import Plan
from rolloutcli.plan.segments import Segments
from rolloutcli.stats import sequential
from tests.unit.judge.test_sequential_verdict import ERROR_RATE, NOW, make_plan, state

STAGES = [
    {"percent": 1, "min_duration": "30m"},
    {"percent": 10, "min_duration": "30m"},
    {"percent": 100},
]


def plan_with(segments_spec: dict[str, Any] | None, **guardrail: Any) -> Plan:
    g = {**ERROR_RATE, **guardrail}
    if segments_spec is not None:
        g["segments"] = segments_spec
    return make_plan(guardrails=[g], stages=STAGES)


def segment(
    name: str, te: list[float], tn: list[float], ce: list[float], cn: list[float]
) -> SegmentData:
    arrays = [np.asarray(a, dtype=float) for a in (te, tn, ce, cn)]
    return SegmentData(
        name,
        RatioData(float(np.nansum(arrays[0])), float(np.nansum(arrays[1]))),
        RatioData(float(np.nansum(arrays[2])), float(np.nansum(arrays[3]))),
        RatioSeries(*arrays),
    )


def observed(parts: list[SegmentData]) -> tuple[Observation, Exposures]:
    """The guardrail's total as the sum of its segments, with the segments attached."""
    counts = ("treatment_events", "treatment_trials", "control_events", "control_trials")
    total = [sum(getattr(p.series, f) for p in parts) for f in counts]
    et, nt, ec, nc = total
    obs = Observation(
        "error_rate",
        RatioData(float(et.sum()), float(nt.sum())),
        RatioData(float(ec.sum()), float(nc.sum())),
        series=RatioSeries(et, nt, ec, nc),
        segments=tuple(parts),
    )
    exposures = Exposures(float(nt.sum()), float(nc.sum()), "requests", nt, nc)
    return obs, exposures


def judge(plan: Plan, obs: Observation, exposures: Exposures, explain: bool = False) -> Verdict:
    st = state(10)
    return decide(plan, st, locate(plan, st), {"error_rate": obs}, exposures, NOW, explain=explain)


# --------------------------------------------------------------------------- pooling


def test_segments_under_min_share_are_pooled_into_other_last() -> None:
    big = segment("eu", [1, 2], [100, 100], [3, 4], [900, 900])
    mid = segment("us", [1, 0], [50, 50], [2, 1], [450, 450])
    tiny = segment("ap", [0, 1], [1, 2], [0, 0], [9, 8])  # 20 of 3,020 trials: 0.66%
    odd = segment("other", [1, float("nan")], [2, float("nan")], [0, 0], [5, 5])
    spec = Segments(by="region", min_share=1)
    pooled = segments.pooled([tiny, mid, odd, big], spec)
    assert [s.name for s in pooled] == ["eu", "us", "other"]
    other = pooled[-1]
    assert other.treatment == RatioData(2.0, 5.0)
    assert other.control == RatioData(0.0, 27.0)
    assert other.series.treatment_trials.tolist() == [3.0, 2.0]  # NaN + 2 = 2, not NaN
    assert other.series.treatment_events.tolist() == [1.0, 1.0]


def test_a_required_segment_is_kept_however_small_and_missing_ones_are_named() -> None:
    big = segment("eu", [1], [1000], [3], [9000])
    tiny = segment("ap", [0], [1], [0], [9])
    spec = Segments(by="region", require=["ap", "me"])
    assert [s.name for s in segments.pooled([big, tiny], spec)] == ["eu", "ap"]
    assert segments.missing([big, tiny], spec) == ("me",)


# --------------------------------------------------------------------------- multiplicity


def test_family_p_value_is_bonferroni_over_the_total_and_each_segment() -> None:
    total = {"rollback": 0.04, "guard": 0.5}
    each = [{"rollback": 0.01}, {"rollback": 0.3, "guard": 0.02}]
    assert segments.family_p_values(total, each, 3) == {"rollback": 0.03, "guard": 0.06}
    assert segments.family_p_values(total, each, 1) == total  # act_on: total


def test_a_comparison_is_held_to_the_guardrail_level_over_m() -> None:
    levels = {"rollback": (0.03, True), "guard": (0.05, False)}
    found = segments.comparison_levels(levels, {"rollback": 0.01, "guard": 0.02}, 3)
    assert found == {"rollback": (0.01, True), "guard": (0.05 / 3, False)}


def test_each_segment_gets_the_totals_test_on_its_own_numbers() -> None:
    """Small inputs: the segment's change is its own rate ratio, its p-value the same
    always-valid test as the total's on its arrays alone, held to alpha / (1 + k)."""
    eu = segment(
        "eu",
        [6, 9, 7, 8, 6, 7],
        [200, 210, 190, 205, 195, 200],
        [10, 12, 11, 11, 10, 12],
        [1800, 1790, 1810, 1795, 1805, 1800],
    )
    us = segment(
        "us",
        [2, 3, 2, 3, 2, 2],
        [300, 290, 310, 300, 295, 305],
        [28, 31, 30, 29, 30, 31],
        [2700, 2710, 2690, 2700, 2705, 2695],
    )
    obs, exposures = observed([eu, us])
    plan = plan_with({"by": "region"}, thresholds={"rollback": "2x"})
    f = judge(plan, obs, exposures).findings[0]
    by_name = {s.name: s for s in f.segments}
    assert list(by_name) == ["us", "eu"]  # largest first
    assert by_name["eu"].relative_change == pytest.approx((43 / 1200) / (66 / 10800) - 1)
    assert by_name["us"].relative_change == pytest.approx((14 / 1800) / (179 / 16200) - 1)
    s = eu.series
    expected = sequential.rate_ratio_evidence(
        *sequential.clean_rate_arrays(
            s.treatment_events, s.treatment_trials, s.control_events, s.control_trials
        ),
        2.0,
        1,
    )
    assert by_name["eu"].p_value == pytest.approx(expected.p_value)
    assert f.segment_alpha == pytest.approx(0.05 / 3)
    assert (f.segment_by, f.segment) == ("region", "eu")
    assert f.status is Status.ROLLBACK
    assert by_name["us"].status is Status.OK


def test_the_reason_names_the_segment_and_the_overall_change() -> None:
    rng = np.random.default_rng(5)
    obs, exposures = simulated(rng, [0.1, 0.9], [5.0, 1.0])
    v = judge(plan_with({"by": "region"}), obs, exposures)
    assert v.kind is VerdictKind.ROLLBACK
    reason = sentences(v.reasons)[0]
    eu = next(s for s in v.findings[0].segments if s.name == "r0")
    overall = v.findings[0].relative_change
    assert reason.startswith(
        f"error_rate breached rollback 2x: {eu.relative_change:+.1%} in region=r0 (treatment "
    )
    assert f", {overall:+.1%} overall, p = " in reason


def test_act_on_total_never_acts_on_a_segment() -> None:
    rng = np.random.default_rng(5)
    obs, exposures = simulated(rng, [0.1, 0.9], [5.0, 1.0])
    f = judge(plan_with({"by": "region", "act_on": "total"}), obs, exposures).findings[0]
    assert f.segment is None
    assert f.status is not Status.ROLLBACK
    assert {s.name: s.status for s in f.segments}["r0"] is Status.ROLLBACK


# --------------------------------------------------------------------------- simulation


def simulated(
    rng: np.random.Generator,
    shares: list[float],
    factors: list[float],
    minutes: int = 60,
    per_minute: int = 20_000,
    treated: float = 0.1,
    rate: float = 0.01,
) -> tuple[Observation, Exposures]:
    """A rollout at ``treated`` of the traffic: per minute and segment, requests binomial
    at the segment's share, split binomially, errors binomial at the control's ``rate``
    (times the segment's factor in the treatment)."""
    parts = []
    for i, (share, factor) in enumerate(zip(shares, factors, strict=True)):
        n = rng.binomial(per_minute, share, minutes)
        nt = rng.binomial(n, treated)
        nc = n - nt
        et = rng.binomial(nt, min(1.0, rate * factor))
        ec = rng.binomial(nc, rate)
        parts.append(segment(f"r{i}", list(et), list(nt), list(ec), list(nc)))
    return observed(parts)


@pytest.mark.parametrize(("k", "rollouts"), [(5, 300), (20, 120)])
def test_familywise_false_rollback_rate_stays_under_alpha(k: int, rollouts: int) -> None:
    """Every segment exactly at the rollback threshold (2x, the hardest truth for the
    test): the share of rollouts where the total or any segment is rolled back for a
    breach of 2x (none is beyond it) stays under alpha = 0.05."""
    plan = plan_with({"by": "region"}, thresholds={"rollback": "2x"})
    rng = np.random.default_rng(20261207 + k)
    false = 0
    for _ in range(rollouts):
        obs, exposures = simulated(rng, [1 / k] * k, [2.0] * k)
        false += judge(plan, obs, exposures).findings[0].status is Status.ROLLBACK
    assert false / rollouts <= 0.05
    # measured: 4 of 300 (1.3%) with 5 segments, 3 of 120 (2.5%) with 20


@pytest.mark.parametrize(("k", "rollouts"), [(5, 150), (20, 60)])
def test_healthy_segments_raise_no_tier(k: int, rollouts: int) -> None:
    """Treatment as good as control everywhere, every tier (warn, pause, rollback):
    no tier of the guardrail is reached more often than alpha (measured: none, in 150
    rollouts with 5 segments and 60 with 20)."""
    plan = plan_with({"by": "region"})
    rng = np.random.default_rng(7 + k)
    reached = sum(
        judge(plan, *simulated(rng, [1 / k] * k, [1.0] * k)).findings[0].status is not Status.OK
        for _ in range(rollouts)
    )
    assert reached / rollouts <= 0.05


def test_a_regression_in_one_segment_is_caught_where_the_total_misses_it() -> None:
    """x3 errors in the treatment of the segment with 10% of the traffic: +20% overall,
    under the total's pause tier (measured: +20.3% on average, +12.2% to +26.7%); judged
    per segment it is rolled back in every rollout, naming the segment."""
    shares, factors = [0.1, 0.2, 0.2, 0.25, 0.25], [3.0, 1.0, 1.0, 1.0, 1.0]
    with_segments, total_only = plan_with({"by": "region"}), plan_with(None)
    rng = np.random.default_rng(22)
    caught = missed_by_total = 0
    rollouts = 40
    for _ in range(rollouts):
        obs, exposures = simulated(rng, shares, factors)
        f = judge(with_segments, obs, exposures).findings[0]
        caught += f.status is Status.ROLLBACK and f.segment == "r0"
        plain = judge(total_only, obs, exposures).findings[0]
        missed_by_total += plain.status not in (Status.PAUSE, Status.ROLLBACK)
    assert caught == rollouts
    assert missed_by_total == rollouts


def test_a_split_off_in_one_segment_holds_naming_it() -> None:
    """One region's treatment gets 5% of its traffic where 10% is planned (its assignment
    is broken there): that region's comparison cannot be trusted, so the guardrail holds
    on it, whatever the total's split says."""
    rng = np.random.default_rng(9)
    parts = []
    for i, (share, treated) in enumerate([(0.1, 0.05), (0.9, 0.1)]):
        n = rng.binomial(20_000, share, 60)
        nt = rng.binomial(n, treated)
        nc = n - nt
        et, ec = rng.binomial(nt, 0.01), rng.binomial(nc, 0.01)
        parts.append(segment(f"r{i}", list(et), list(nt), list(ec), list(nc)))
    obs, exposures = observed(parts)
    v = judge(plan_with({"by": "region"}), obs, exposures)
    f = v.findings[0]
    assert f.status is Status.BAD_DATA
    assert f.note == (
        "sample-ratio mismatch in region=r0: its split between the cohorts is not the "
        "planned one, so its comparison cannot be trusted"
    )
    assert v.kind is VerdictKind.HOLD
