"""The verdict engine's rules, one by one, on hand-built plans, states and observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rolloutcli.judge.findings import Status
from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.messages import sentences
from rolloutcli.judge.observations import Exposures, MeanData, Observation, RatioData
from rolloutcli.judge.position import audience_for, locate
from rolloutcli.judge.verdict import Verdict, VerdictKind, decide
from rolloutcli.plan.model import Plan
from rolloutcli.plan.thresholds import ThresholdKind

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def make_plan(**overrides: Any) -> Plan:
    data: dict[str, Any] = {
        "flag": "f",
        "platform": {"kind": "flagfile", "path": "flags.json"},
        "variations": {"treatment": True, "control": False},
        "stages": [
            {"percent": 1, "min_duration": "30m", "min_samples": 100},
            {"percent": 10, "min_duration": "1h", "min_samples": 1000},
            {"percent": 100},
        ],
        "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
        "guardrails": [
            {
                "name": "error_rate",
                "kind": "ratio",
                "events": "errors",
                "trials": "requests",
                "thresholds": {"warn": "+20%", "pause": "+50%", "rollback": "2x"},
            },
            {
                "name": "latency",
                "kind": "mean",
                "metric": "latency_ms",
                "unit": "ms",
                "thresholds": {"warn": "+10%", "rollback": "< 500ms"},
            },
        ],
        "success": [],
        # these tests pin the fixed-horizon rules; test_sequential_verdict.py covers the
        # default (sequential) method on per-interval series
        "statistics": {"method": "fixed"},
    }
    data.update(overrides)
    return Plan.model_validate(data)


def state(percent: float, on: bool = True, started: timedelta = timedelta(hours=2)) -> FlagState:
    return FlagState(flag="f", on=on, percent=percent, split_changed_at=NOW - started, version="v")


def healthy(n_t: int = 20_000, n_c: int = 180_000) -> dict[str, Observation]:
    return {
        "error_rate": Observation(
            "error_rate", RatioData(n_t * 0.01, n_t), RatioData(n_c * 0.01, n_c)
        ),
        "latency": Observation("latency", MeanData(50, 200.0, 20.0), MeanData(50, 200.0, 20.0)),
    }


def run(
    plan: Plan,
    st: FlagState,
    obs: dict[str, Observation] | None = None,
    exposures: Exposures | None = None,
) -> Verdict:
    observations = healthy() if obs is None else obs
    if exposures is None:
        er = observations.get("error_rate")
        t = er.treatment.size if er and er.treatment else 0.0
        c = er.control.size if er and er.control else 0.0
        exposures = Exposures(t, c, "requests")
    return decide(plan, st, locate(plan, st), observations, exposures, NOW)


def test_go_moves_to_the_next_stage_when_everything_holds() -> None:
    v = run(make_plan(), state(10), exposures=Exposures(20_000, 180_000, "requests"))
    assert v.kind is VerdictKind.GO
    assert (v.from_percent, v.to_percent) == (10, 100)
    assert sentences(v.reasons)[0].startswith("all guardrails within thresholds")
    assert [f.status for f in v.findings] == ["ok", "ok"]


def test_flag_off_holds() -> None:
    v = run(make_plan(), state(10, on=False))
    assert v.kind is VerdictKind.HOLD
    assert "flag is off" in sentences(v.reasons)[0]


def test_not_started_goes_to_the_first_stage_without_metrics() -> None:
    v = run(make_plan(), state(0), obs={})
    assert v.kind is VerdictKind.GO
    assert v.to_percent == 1
    assert "not started" in sentences(v.reasons)[0]


def test_significant_rollback_tier_breach_rolls_back() -> None:
    obs = healthy()
    obs["error_rate"] = Observation(
        "error_rate", RatioData(600, 20_000), RatioData(1_800, 180_000)
    )  # 3% vs 1%: 3x control, overwhelmingly significant
    v = run(make_plan(), state(10), obs)
    assert v.kind is VerdictKind.ROLLBACK
    er = v.findings[0]
    assert er.status is Status.ROLLBACK
    assert er.threshold == "rollback 2x"
    # the reached threshold itself, typed: no string to split back
    assert er.reached is not None and er.reached.raw == "2x"
    assert er.reached.kind is ThresholdKind.MULTIPLE and er.reached.factor == 2.0
    assert er.limit == pytest.approx(0.02)
    assert er.relative_change == pytest.approx(2.0)
    assert er.p_value is not None and er.p_value < 1e-10
    assert sentences(v.reasons)[0].startswith("error_rate breached rollback 2x")
    assert v.to_percent is None


def test_rollback_tier_without_significance_falls_to_pause() -> None:
    obs = healthy()
    # 3/100 against 1%: 3x control but Fisher's exact p ≈ 0.08 at this size.
    obs["error_rate"] = Observation("error_rate", RatioData(3, 100), RatioData(1000, 100_000))
    v = run(make_plan(), state(1), obs)
    er = v.findings[0]
    assert er.test == "fisher-exact"
    assert er.p_value is not None and 0.05 < er.p_value < 0.1
    assert er.status is Status.PAUSE and er.reached is not None and er.reached.raw == "+50%"
    assert "past the rollback threshold 2x but not significant" in (er.note or "")
    assert v.kind is VerdictKind.PAUSE


def test_warn_is_reported_but_does_not_block() -> None:
    obs = healthy()
    obs["latency"] = Observation("latency", MeanData(50, 225.0, 20.0), MeanData(50, 200.0, 20.0))
    v = run(make_plan(), state(10), obs)
    assert v.findings[1].status is Status.WARN
    reached = v.findings[1].reached
    assert reached is not None
    assert v.kind is VerdictKind.GO
    assert f"warning: latency +12.5% vs control is past warn {reached.raw}" in sentences(v.reasons)


def test_absolute_ceiling_needs_significance_by_default() -> None:
    obs = healthy()
    # mean 520 ms, sd 20, n 50: far above the 500 ms ceiling → one-sample t significant
    obs["latency"] = Observation("latency", MeanData(50, 520.0, 20.0), MeanData(50, 510.0, 20.0))
    v = run(make_plan(), state(10), obs)
    assert v.findings[1].status == "rollback"
    assert v.findings[1].threshold == "rollback < 500ms"
    assert v.findings[1].test == "one-sample-t"
    assert v.kind is VerdictKind.ROLLBACK


def test_sample_ratio_mismatch_holds_never_goes() -> None:
    # planned 10%, observed 9% of 200,000: chi-square p far below 0.001
    v = run(make_plan(), state(10), exposures=Exposures(18_000, 182_000, "requests"))
    assert v.kind is VerdictKind.HOLD
    assert v.srm.checked and v.srm.mismatch
    assert sentences(v.reasons)[0].startswith("sample-ratio mismatch")


def test_no_srm_flag_at_planned_split() -> None:
    v = run(make_plan(), state(10), exposures=Exposures(20_000, 180_000, "requests"))
    assert v.srm.checked and not v.srm.mismatch
    assert v.srm.p_value == pytest.approx(1.0)


def test_missing_data_holds_and_names_the_metric() -> None:
    obs = healthy()
    obs["latency"] = Observation("latency", None, None, problem="no rows in the window")
    v = run(make_plan(), state(10), obs)
    assert v.kind is VerdictKind.HOLD
    assert v.findings[1].status == "no_data"
    assert "no data for latency: no rows in the window" in sentences(v.reasons)


def test_too_few_samples_holds() -> None:
    v = run(make_plan(), state(10), healthy(n_t=500, n_c=4_500))
    assert v.kind is VerdictKind.HOLD
    assert sentences(v.reasons)[0] == "too few samples: treatment 500 of 1,000 needed per cohort"


def test_window_not_elapsed_holds_with_time_left() -> None:
    v = run(make_plan(), state(10, started=timedelta(minutes=40)))
    assert v.kind is VerdictKind.HOLD
    assert sentences(v.reasons)[0] == "observation window: 40m of 1h elapsed; look again in 20m"
    assert v.look_again_at == NOW + timedelta(minutes=20)


def test_breach_beats_the_window() -> None:
    obs = healthy()
    obs["error_rate"] = Observation("error_rate", RatioData(600, 20_000), RatioData(1_800, 180_000))
    v = run(make_plan(), state(10, started=timedelta(minutes=5)), obs)
    assert v.kind is VerdictKind.ROLLBACK


def test_success_criterion_not_met_holds() -> None:
    plan = make_plan(success=[{"metric": "latency", "at_most": "-5%"}])
    v = run(plan, state(10))
    assert v.kind is VerdictKind.HOLD
    assert sentences(v.reasons)[0].startswith("success criterion not met: latency at most -5%")
    assert v.success[0].met is False


def test_success_criterion_met_goes() -> None:
    plan = make_plan(success=[{"metric": "error_rate", "at_most": "+5%"}])
    v = run(plan, state(10))
    assert v.kind is VerdictKind.GO
    assert v.success[0].met is True


def test_done_at_the_last_stage_without_control() -> None:
    obs = {
        "error_rate": Observation("error_rate", RatioData(100, 10_000), None),
        "latency": Observation("latency", MeanData(50, 200.0, 20.0), None),
    }
    v = run(make_plan(), state(100), obs, Exposures(10_000, 0, "requests"))
    assert v.kind is VerdictKind.DONE
    assert v.findings[0].status == "no_data" and v.findings[0].blocking is False
    assert v.findings[1].status == "ok"  # its absolute ceiling is still judged


def test_absolute_ceiling_still_rolls_back_at_100() -> None:
    obs = {
        "error_rate": Observation("error_rate", RatioData(100, 10_000), None),
        "latency": Observation("latency", MeanData(50, 600.0, 20.0), None),
    }
    v = run(make_plan(), state(100), obs, Exposures(10_000, 0, "requests"))
    assert v.kind is VerdictKind.ROLLBACK


def test_lower_is_worse_guardrail_rolls_back_on_a_drop() -> None:
    plan = make_plan(
        guardrails=[
            {
                "name": "conversion",
                "kind": "ratio",
                "events": "orders",
                "trials": "requests",
                "direction": "lower_is_worse",
                "thresholds": {"pause": "-5%", "rollback": "-10%"},
            }
        ]
    )
    obs = {
        "conversion": Observation(
            "conversion", RatioData(800, 20_000), RatioData(9_000, 180_000)
        )  # 4% vs 5%: -20%
    }
    v = run(plan, state(10), obs, Exposures(20_000, 180_000, "requests"))
    assert v.kind is VerdictKind.ROLLBACK
    assert v.findings[0].relative_change == pytest.approx(-0.2)


def test_off_plan_percentage_is_shown_and_goes_to_the_stage_above() -> None:
    v = run(make_plan(), state(7), exposures=Exposures(14_000, 186_000, "requests"))
    assert v.position.off_plan and v.position.index is None
    assert v.kind is VerdictKind.GO
    assert v.to_percent == 10
    assert any("7% is off-plan" in r for r in sentences(v.reasons))


def test_mann_whitney_when_raw_samples_exist_else_welch() -> None:
    obs = healthy()
    t = tuple(float(x) for x in range(100, 130))
    c = tuple(float(x) for x in range(100, 130))
    obs["latency"] = Observation(
        "latency", MeanData(30, 114.5, 8.8, t), MeanData(30, 114.5, 8.8, c)
    )
    v = run(make_plan(), state(10), obs)
    assert v.findings[1].test == "mann-whitney"
    assert run(make_plan(), state(10)).findings[1].test == "welch-t"


def test_audience_stage_matches_and_skips_srm() -> None:
    plan = make_plan(
        stages=[
            {"name": "staff", "percent": 0, "audience": {"keys": ["a", "b"]}},
            {"percent": 10},
            {"percent": 100},
        ]
    )
    st = FlagState(
        flag="f",
        on=True,
        percent=0,
        audience_keys=("a", "b"),
        split_changed_at=NOW - timedelta(hours=1),
        version="v",
    )
    position = locate(plan, st)
    assert position.index == 0 and position.next_index == 1
    v = decide(plan, st, position, healthy(), Exposures(20, 180_000, "requests"), NOW)
    assert not v.srm.checked
    assert v.kind is VerdictKind.GO
    assert audience_for(plan, 1) == (("a", "b"), None)


def test_success_findings_are_reported_with_go() -> None:
    plan = make_plan(success=[{"metric": "error_rate", "at_most": "+5%"}])
    v = run(plan, state(10))
    assert [(c.metric, c.met) for c in v.success] == [("error_rate", True)]
