"""Guardrails in percentage points (issue 21): the verdict tests the difference treatment -
control against the margin, and shows the change in points."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rolloutcli.judge.messages import sentences
from rolloutcli.judge.observations import MeanData, MeanSeries, Observation
from rolloutcli.judge.verdict import VerdictKind
from rolloutcli.plan.model import RatioGuardrail
from rolloutcli.stats import sequential
from rolloutcli.stats.moments import MomentSeries
from tests.unit.judge.test_sequential_verdict import (
    ERROR_RATE,
    exposures_of,
    make_plan,
    rate_series,
    ratio_observation,
    run,
    state,
)

POINTS_RATE: dict[str, Any] = {**ERROR_RATE, "thresholds": {"pause": "+1pp", "rollback": "+2pp"}}


def test_a_rate_past_the_margin_in_points_rolls_back_on_the_difference() -> None:
    # 1% -> 4%: +3pp (a 4x ratio); the rollback tier +2pp is tested on the difference
    series = rate_series(3, 120, 20_000, 0.10, 0.04, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    v = run(make_plan(guardrails=[POINTS_RATE]), state(10), obs, exposures_of(series))
    assert v.kind is VerdictKind.ROLLBACK
    f = v.findings[0]
    assert (f.status, f.threshold, f.test) == ("rollback", "rollback +2pp", "seq-normal")
    assert f.treatment is not None and f.control is not None
    assert f.points_change == pytest.approx((f.treatment - f.control) * 100, abs=1e-12)
    assert f.change_text() == f"{f.points_change:+.1f}pp"
    assert f.limit == pytest.approx(f.control + 0.02, abs=1e-15)
    # the evidence is that of the difference test at the +2pp margin
    expected = sequential.proportion_difference_evidence(
        series.treatment_events,
        series.treatment_trials,
        series.control_events,
        series.control_trials,
        0.02,
    ).evidence
    assert f.e_value == pytest.approx(expected.max_e_value)
    # bounds on the difference, in the metric's units, exclude the margin from below
    assert f.ci_relative is False
    assert f.ci_low is not None and f.ci_low > 0.02
    assert f.bound_text(0.0234) == "+2.3pp"
    assert sentences(v.reasons)[0].startswith("error_rate breached rollback +2pp: treatment ")
    assert f"({f.change_text()})" in sentences(v.reasons)[0]


def test_a_doubled_rate_within_the_points_margin_does_not_roll_back() -> None:
    # 1% -> 2%: +100% relative, but +1pp: below the +2pp rollback margin, where a
    # relative 2x would be at its threshold
    series = rate_series(4, 120, 20_000, 0.10, 0.02, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    guardrail = {**ERROR_RATE, "thresholds": {"rollback": "+2pp"}}
    v = run(make_plan(guardrails=[guardrail]), state(10), obs, exposures_of(series))
    f = v.findings[0]
    assert f.status == "ok"
    assert v.kind is not VerdictKind.ROLLBACK
    assert f.relative_change == pytest.approx(1.0, abs=0.1)
    assert f.points_change == pytest.approx(1.0, abs=0.1)
    assert f.ci_high is not None and f.ci_high < 0.02


def test_an_unsignificant_points_tier_acts_once_the_points_guard_passes() -> None:
    # pause +1pp is judged on its point estimate behind a guard at half its margin
    series = rate_series(5, 120, 20_000, 0.10, 0.03, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    guardrail = {**ERROR_RATE, "thresholds": {"pause": "+1pp", "rollback": "+5pp"}}
    v = run(make_plan(guardrails=[guardrail]), state(10), obs, exposures_of(series))
    assert v.kind is VerdictKind.PAUSE
    f = v.findings[0]
    assert (f.status, f.threshold) == ("pause", "pause +1pp")
    guard = sequential.proportion_difference_evidence(
        series.treatment_events,
        series.treatment_trials,
        series.control_events,
        series.control_trials,
        0.005,
    ).evidence
    assert f.e_value == pytest.approx(guard.max_e_value)


def accuracy_observation(seed: int, minutes: int, treatment: float, control: float) -> Observation:
    """Per-minute 0/1 correctness of 200 treatment and 800 control answers (a mean metric
    whose values are proportions: ``unit: ratio``)."""
    rng = np.random.default_rng(seed)
    right_t = rng.binomial(200, treatment, minutes).astype(float)
    right_c = rng.binomial(800, control, minutes).astype(float)
    nt, nc = np.full(minutes, 200.0), np.full(minutes, 800.0)
    t_series, c_series = MomentSeries(nt, right_t, right_t), MomentSeries(nc, right_c, right_c)

    def data(n: np.ndarray, right: np.ndarray) -> MeanData:
        p = float(right.sum() / n.sum())
        return MeanData(float(n.sum()), p, float(np.sqrt(p * (1 - p))))

    return Observation(
        "accuracy",
        data(nt, right_t),
        data(nc, right_c),
        series=MeanSeries(t_series, c_series),
    )


ACCURACY: dict[str, Any] = {
    "name": "accuracy",
    "kind": "mean",
    "metric": "correct",
    "unit": "ratio",
    "direction": "lower_is_worse",
    "thresholds": {"rollback": "-2pp"},
}


def test_an_accuracy_drop_past_minus_two_points_rolls_back() -> None:
    obs = {"accuracy": accuracy_observation(6, 90, 0.86, 0.90)}
    exposures = exposures_of(rate_series(6, 90, 1_000, 0.1, 0.01, 0.01))
    plan = make_plan(
        guardrails=[ACCURACY],
        metrics={"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
    )
    v = run(plan, state(10), obs, exposures)
    f = v.findings[0]
    assert (f.status, f.threshold) == ("rollback", "rollback -2pp")
    assert f.points_change == pytest.approx(-4.0, abs=0.5)
    assert f.ci_relative is False
    assert f.ci_high is not None and f.ci_high < -0.02


def test_accuracy_within_two_points_is_ok() -> None:
    obs = {"accuracy": accuracy_observation(7, 90, 0.895, 0.90)}
    exposures = exposures_of(rate_series(7, 90, 1_000, 0.1, 0.01, 0.01))
    v = run(make_plan(guardrails=[ACCURACY]), state(10), obs, exposures)
    f = v.findings[0]
    assert f.status == "ok"
    assert f.change_text() == f"{f.points_change:+.1f}pp"


def test_success_at_least_control_plus_two_points() -> None:
    # "ship v2.4 if its accuracy >= control + 2pp": 0.93 against 0.90 meets it
    good = make_plan(
        guardrails=[ACCURACY],
        success=[{"metric": "accuracy", "at_least": "+2pp"}],
    )
    obs = {"accuracy": accuracy_observation(8, 90, 0.93, 0.90)}
    exposures = exposures_of(rate_series(8, 90, 1_000, 0.1, 0.01, 0.01))
    v = run(good, state(10), obs, exposures)
    [criterion] = v.success
    treatment, control = obs["accuracy"].treatment, obs["accuracy"].control
    assert treatment is not None and control is not None
    assert criterion.met is (treatment.value >= control.value + 0.02)
    assert criterion.met
    assert criterion.requirement == "at least +2pp"
    assert criterion.note == f"treatment {treatment.value:.4g}, bound {control.value + 0.02:.4g}"
    assert v.kind is VerdictKind.GO


def test_success_two_points_short_holds() -> None:
    plan = make_plan(guardrails=[ACCURACY], success=[{"metric": "accuracy", "at_least": "+2pp"}])
    obs = {"accuracy": accuracy_observation(9, 90, 0.905, 0.90)}
    v = run(plan, state(10), obs, exposures_of(rate_series(9, 90, 1_000, 0.1, 0.01, 0.01)))
    assert v.kind is VerdictKind.HOLD
    [criterion] = v.success
    assert (criterion.met, criterion.requirement) == (False, "at least +2pp")


def test_points_thresholds_are_listed_and_shown_in_points() -> None:
    plan = make_plan(guardrails=[POINTS_RATE])
    guardrail = plan.guardrails[0]
    assert isinstance(guardrail, RatioGuardrail)
    assert guardrail.in_points
    assert [t.value for t in guardrail.points_thresholds] == [0.01, 0.02]
    assert guardrail.per_point == 0.01


def test_the_fixed_method_judges_points_on_the_difference_of_totals() -> None:
    # fixed horizon: a tier is reached when treatment - control passes the margin, and a
    # significant tier also needs the two-proportion test's p-value below alpha
    series = rate_series(10, 120, 20_000, 0.10, 0.04, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    plan = make_plan(guardrails=[POINTS_RATE], statistics={"method": "fixed"})
    v = run(plan, state(10), obs, exposures_of(series))
    f = v.findings[0]
    assert (f.status, f.threshold) == ("rollback", "rollback +2pp")
    assert f.treatment is not None and f.control is not None
    assert f.limit == pytest.approx(f.control + 0.02, abs=1e-15)
    assert f.p_value is not None and f.p_value < 0.05
    near = rate_series(10, 120, 20_000, 0.10, 0.025, 0.01)  # +1.5pp: past pause, not rollback
    obs = {"error_rate": ratio_observation("error_rate", near)}
    f = run(plan, state(10), obs, exposures_of(near)).findings[0]
    assert (f.status, f.threshold) == ("pause", "pause +1pp")
