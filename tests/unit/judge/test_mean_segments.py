"""A mean guardrail judged per segment (issue 22): a segment's stage value from its
moments, the pooling of small segments' moments, and seeded simulations of the family-wise
false-breach rate and of a regression confined to one segment.

The simulations draw their rollouts with their own numpy code (per minute and segment, a
fixed number of values per cohort, normal around the segment's true mean, summed into
count, sum and sum of squares); what they check is the verdict against the truth they drew,
never against numbers the code under test computes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rolloutcli.judge import segments
from rolloutcli.judge.findings import Status
from rolloutcli.judge.observations import (
    Exposures,
    MeanData,
    MeanSeries,
    Observation,
    SegmentData,
)
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import Verdict, decide
from rolloutcli.plan.model import Plan
from rolloutcli.plan.segments import Segments
from rolloutcli.stats.moments import MomentSeries
from tests.unit.judge.test_sequential_verdict import NOW, make_plan, state

NAN = math.nan
STAGES = [
    {"percent": 1, "min_duration": "30m"},
    {"percent": 10, "min_duration": "30m"},
    {"percent": 100},
]
LATENCY: dict[str, Any] = {
    "name": "latency",
    "kind": "mean",
    "metric": "latency_ms",
    "unit": "ms",
    "thresholds": {"rollback": "+10%"},
    "segments": {"by": "region"},
}


def moments(*rows: tuple[float, float, float]) -> MomentSeries:
    return MomentSeries.of(*zip(*rows, strict=True))


def test_a_segments_stage_value_from_its_moments() -> None:
    # intervals: (2 values 10, 14), then (1 value 12), then nothing; the stage from the first
    series = moments((2, 24, 296), (1, 12, 144), (NAN, NAN, NAN))
    linear = segments.stage_mean(series, 0, log=False)
    # 10, 14, 12: mean 12, sample sd 2
    assert linear == MeanData(3, 12.0, 2.0)
    # from the second interval on: one value
    assert segments.stage_mean(series, 1, log=False) == MeanData(1, 12.0, 0.0)
    assert segments.stage_mean(series, 2, log=False) is None
    # log: the moments are of ln values; the value shown is the geometric mean
    logged = moments((2, math.log(10) + math.log(1000), math.log(10) ** 2 + math.log(1000) ** 2))
    found = segments.stage_mean(logged, 0, log=True)
    assert found is not None and found.n == 2
    assert found.mean == pytest.approx(100.0, rel=1e-12)  # √(10 · 1000)
    # two values ln 1000 - ln 10 = ln 100 apart: sample sd ln 100 / √2
    assert found.sd == pytest.approx(math.log(100) / math.sqrt(2), rel=1e-12)


def mean_segment(name: str, t: MomentSeries, c: MomentSeries, log: bool = False) -> SegmentData:
    return SegmentData(
        name,
        segments.stage_mean(t, 0, log),
        segments.stage_mean(c, 0, log),
        MeanSeries(t, c),
        0,
        log,
    )


def test_small_mean_segments_pool_their_moments_into_other() -> None:
    big = mean_segment("eu", moments((100, 1000, 10_100)), moments((900, 9000, 90_900)))
    tiny = mean_segment("ap", moments((1, 30, 900)), moments((NAN, NAN, NAN)))  # 1 of 1,003
    odd = mean_segment("other", moments((1, 50, 2500)), moments((1, 10, 100)))
    pooled = segments.pooled([tiny, big, odd], Segments(by="region", min_share=1))
    assert [s.name for s in pooled] == ["eu", "other"]
    other = pooled[-1]
    assert isinstance(other.series, MeanSeries)
    assert other.series.treatment.n.tolist() == [2.0]
    assert other.series.treatment.total.tolist() == [80.0]
    assert other.series.control.n.tolist() == [1.0]  # NaN + 1 = 1, not NaN
    # treatment values 30 and 50: mean 40, sd √200
    assert other.treatment == MeanData(2, 40.0, math.sqrt(200))
    assert other.control == MeanData(1, 10.0, 0.0)


MINUTES = 60
PER_MINUTE = 200  # values per minute and segment, both cohorts
LEVEL, SD = 100.0, 20.0


def drawn(rng: np.random.Generator, mean: float, count: int) -> MomentSeries:
    values = rng.normal(mean, SD, (MINUTES, count))
    return MomentSeries(
        np.full(MINUTES, float(count)), values.sum(axis=1), (values * values).sum(axis=1)
    )


def simulated(
    rng: np.random.Generator, factors: list[float], treated: float = 0.1
) -> tuple[Observation, Exposures]:
    """A rollout at ``treated``: per minute and segment, the treatment's share of
    PER_MINUTE values around LEVEL times the segment's factor, the control's around LEVEL;
    the guardrail's total is every segment's moments added."""
    t_count = round(PER_MINUTE * treated)
    parts = [
        mean_segment(
            f"r{i}", drawn(rng, LEVEL * factor, t_count), drawn(rng, LEVEL, PER_MINUTE - t_count)
        )
        for i, factor in enumerate(factors)
    ]

    def total(role: str) -> MomentSeries:
        series = [getattr(p.series, role) for p in parts]
        return MomentSeries(
            *(sum(getattr(s, f) for s in series) for f in ("n", "total", "total_sq"))
        )

    t, c = total("treatment"), total("control")
    obs = Observation(
        "latency",
        segments.stage_mean(t, 0, False),
        segments.stage_mean(c, 0, False),
        series=MeanSeries(t, c),
        segments=tuple(parts),
    )
    k = len(factors)
    n_t, n_c = float(k * t_count * MINUTES), float(k * (PER_MINUTE - t_count) * MINUTES)
    return obs, Exposures(n_t, n_c, "requests")


def judge(plan: Plan, obs: Observation, exposures: Exposures) -> Verdict:
    st = state(10)
    return decide(plan, st, locate(plan, st), {"latency": obs}, exposures, NOW)


def plan_with(**guardrail: Any) -> Plan:
    return make_plan(guardrails=[{**LATENCY, **guardrail}], stages=STAGES)


@pytest.mark.parametrize(("k", "rollouts"), [(5, 200), (20, 80)])
def test_familywise_false_rollback_rate_stays_under_alpha(k: int, rollouts: int) -> None:
    """Every segment exactly at the rollback threshold (+10%, the hardest truth for the
    test): the share of rollouts where the total or any segment is rolled back for a
    breach of +10% (none is beyond it) stays under alpha = 0.05."""
    plan = plan_with()
    rng = np.random.default_rng(20261207 + k)
    false = sum(
        judge(plan, *simulated(rng, [1.1] * k)).findings[0].status is Status.ROLLBACK
        for _ in range(rollouts)
    )
    assert false / rollouts <= 0.05


def test_a_slower_segment_is_caught_where_the_total_misses_it() -> None:
    """+30% in the treatment of one of 5 equal segments: +6% overall, under the total's
    +10% rollback tier; judged per segment, the rollout rolls back naming that segment."""
    plan = plan_with()
    rng = np.random.default_rng(11)
    for _ in range(10):
        obs, exposures = simulated(rng, [1.0, 1.0, 1.3, 1.0, 1.0])
        found = judge(plan, obs, exposures).findings[0]
        assert found.status is Status.ROLLBACK
        assert found.segment == "r2"
        assert found.relative_change is not None and found.relative_change < 0.1
