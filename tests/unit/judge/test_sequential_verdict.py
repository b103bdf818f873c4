"""The verdict engine under the default (sequential) method, on per-minute series.

Every series is drawn from a seeded ``numpy`` generator: per minute, ``N`` requests are
split binomially between the cohorts at the planned share and each cohort's errors are
binomial at its error rate. The observations carry both the totals (what the display and
the point-estimate tiers read) and the per-interval series (what the always-valid tests
read), as :func:`rolloutcli.app.evaluate.gather` builds them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import norm

from rolloutcli.judge import verdict as verdict_module
from rolloutcli.judge.evidence import Assessment, ThresholdEvidence
from rolloutcli.judge.findings import tier_p_values
from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.messages import sentences
from rolloutcli.judge.multiplicity import familywise_levels
from rolloutcli.judge.observations import (
    Exposures,
    MeanData,
    MeanSeries,
    Observation,
    RatioData,
    RatioSeries,
)
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import Verdict, VerdictKind, decide
from rolloutcli.plan.model import Plan, RatioGuardrail, load_plan
from rolloutcli.stats import fixed as stats
from rolloutcli.stats import sequential
from rolloutcli.stats.moments import MomentSeries
from rolloutcli.stats.sequential import Evidence
from rolloutcli.support.errors import PlanError

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

ERROR_RATE: dict[str, Any] = {
    "name": "error_rate",
    "kind": "ratio",
    "events": "errors",
    "trials": "requests",
    "thresholds": {"warn": "+20%", "pause": "+50%", "rollback": "2x"},
}
LATENCY_LOG: dict[str, Any] = {
    "name": "latency",
    "kind": "mean",
    "metric": "latency_ms",
    "unit": "ms",
    "scale": "log",
    "thresholds": {"warn": "+5%", "rollback": "+10%"},
}


def make_plan(**overrides: Any) -> Plan:
    """A plan on the default statistics (no ``statistics:`` key: method sequential)."""
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
        "guardrails": [ERROR_RATE],
        "success": [],
    }
    data.update(overrides)
    return Plan.model_validate(data)


def gated_plan(**stage_overrides: Any) -> Plan:
    """error_rate with detect: +50% (rollback tier only, so nothing but the gate can hold);
    ``stage_overrides`` maps a stage index to extra keys for that stage."""
    stages: list[dict[str, Any]] = [
        {"percent": 1, "min_duration": "30m"},
        {"percent": 10, "min_duration": "1h"},
        {"percent": 100},
    ]
    for index, extra in stage_overrides.items():
        stages[int(index.removeprefix("stage"))].update(extra)
    guardrail = {**ERROR_RATE, "thresholds": {"rollback": "2x"}, "detect": "+50%"}
    return make_plan(stages=stages, guardrails=[guardrail])


def state(percent: float, started: timedelta = timedelta(hours=2)) -> FlagState:
    return FlagState(
        flag="f", on=True, percent=percent, split_changed_at=NOW - started, version="v"
    )


# --------------------------------------------------------------------------- series


def rate_series(
    seed: int,
    minutes: int,
    per_minute: int,
    share: float,
    treatment_rate: float | np.ndarray,
    control_rate: float | np.ndarray,
) -> RatioSeries:
    rng = np.random.default_rng(seed)
    nt = rng.binomial(per_minute, share, minutes)
    nc = per_minute - nt
    et = rng.binomial(nt, treatment_rate)
    ec = rng.binomial(nc, control_rate)
    return RatioSeries(et.astype(float), nt.astype(float), ec.astype(float), nc.astype(float))


def ratio_observation(name: str, series: RatioSeries) -> Observation:
    return Observation(
        name,
        RatioData(
            float(np.nansum(series.treatment_events)), float(np.nansum(series.treatment_trials))
        ),
        RatioData(float(np.nansum(series.control_events)), float(np.nansum(series.control_trials))),
        series=series,
    )


def exposures_of(series: RatioSeries) -> Exposures:
    """Exposures = requests, per minute as well as in total (for the sequential SRM check)."""
    return Exposures(
        float(np.nansum(series.treatment_trials)),
        float(np.nansum(series.control_trials)),
        "requests",
        treatment_series=series.treatment_trials,
        control_series=series.control_trials,
    )


def log_moments(values: list[np.ndarray]) -> tuple[MomentSeries, MeanData]:
    """Per-minute moments of ln(value), and the cohort's geometric mean (as gather makes it)."""
    logs = [np.log(v) for v in values]
    moments = MomentSeries.of(
        [len(x) for x in logs], [x.sum() for x in logs], [(x * x).sum() for x in logs]
    )
    pooled = np.concatenate(logs)
    return moments, MeanData(len(pooled), math.exp(pooled.mean()), float(pooled.std(ddof=1)))


def latency_observation(seed: int, minutes: int, shift: float) -> Observation:
    """Lognormal latencies (median 200 ms, sigma 0.5 on the log scale), 20 treatment and 180
    control values per minute; treatment multiplied by ``shift``."""
    rng = np.random.default_rng(seed)
    treatment = [shift * rng.lognormal(math.log(200), 0.5, 20) for _ in range(minutes)]
    control = [rng.lognormal(math.log(200), 0.5, 180) for _ in range(minutes)]
    t_moments, t_data = log_moments(treatment)
    c_moments, c_data = log_moments(control)
    return Observation("latency", t_data, c_data, series=MeanSeries(t_moments, c_moments))


def run(
    plan: Plan,
    st: FlagState,
    observations: dict[str, Observation],
    exposures: Exposures,
    explain: bool = True,
) -> Verdict:
    return decide(plan, st, locate(plan, st), observations, exposures, NOW, explain=explain)


def healthy_at(
    percent: float, seed: int = 1, minutes: int = 120, per_minute: int = 20_000
) -> tuple[dict[str, Observation], Exposures]:
    series = rate_series(seed, minutes, per_minute, percent / 100, 0.01, 0.01)
    return {"error_rate": ratio_observation("error_rate", series)}, exposures_of(series)


# --------------------------------------------------------------------------- go / rollback


def test_defaults_are_the_sequential_method() -> None:
    s = make_plan().statistics
    assert (s.method, s.alpha, s.scope, s.correction) == ("sequential", 0.05, "rollout", "holm")
    assert (s.power, s.srm_alpha, s.interval, s.step) == (0.9, 0.001, "1m", timedelta(minutes=1))


def test_healthy_series_goes_with_always_valid_evidence() -> None:
    obs, exposures = healthy_at(1)
    v = run(make_plan(), state(1), obs, exposures)
    assert v.kind is VerdictKind.GO
    assert (v.from_percent, v.to_percent) == (1, 10)
    assert sentences(v.reasons)[0].startswith("all guardrails within thresholds")
    f = v.findings[0]
    assert f.status == "ok"
    assert f.test == "seq-conditional-binomial"
    # one guardrail: Holm over one p-value leaves the rollback tier at alpha itself
    assert f.alpha == 0.05
    assert f.e_value is not None and f.p_value is not None
    assert f.p_value == (1.0 if f.e_value <= 1 else pytest.approx(1 / f.e_value))
    assert f.p_value > 0.05  # nothing reached
    # the finding reports the strongest of the three tests (warn +20%, pause +50%, 2x)
    series = obs["error_rate"].series
    assert isinstance(series, RatioSeries)
    strongest = max(
        sequential.rate_ratio_evidence(
            series.treatment_events,
            series.treatment_trials,
            series.control_events,
            series.control_trials,
            theta0,
        ).max_e_value
        for theta0 in (1.2, 1.5, 2.0)
    )
    assert f.e_value == pytest.approx(strongest)
    # always-valid bounds on the relative change contain the truth (0)
    assert f.ci_relative is True
    assert f.ci_low is not None and f.ci_high is not None
    assert -0.5 < f.ci_low < 0 < f.ci_high < 0.5
    assert f.ruled_out is None and f.detect is None  # no detect: configured
    assert f.information is not None and f.information > 0
    assert f.information_needed is None
    assert not v.srm.mismatch and v.srm.checked


def test_explain_false_gives_the_same_verdict_without_bounds() -> None:
    obs, exposures = healthy_at(1)
    full = run(make_plan(), state(1), obs, exposures)
    quick = run(make_plan(), state(1), obs, exposures, explain=False)
    assert quick.kind is full.kind is VerdictKind.GO
    assert quick.reasons == full.reasons
    f, q = full.findings[0], quick.findings[0]
    assert (q.ci_low, q.ci_high) == (None, None)
    assert f.ci_low is not None and f.ci_high is not None
    assert (q.status, q.e_value, q.p_value, q.alpha) == (f.status, f.e_value, f.p_value, f.alpha)


def test_a_tripled_error_rate_rolls_back_naming_error_rate() -> None:
    series = rate_series(2, 120, 20_000, 0.10, 0.03, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    v = run(make_plan(), state(10), obs, exposures_of(series))
    assert v.kind is VerdictKind.ROLLBACK
    f = v.findings[0]
    assert (f.name, f.status, f.threshold) == ("error_rate", "rollback", "rollback 2x")
    assert f.relative_change == pytest.approx(2.0, abs=0.15)
    assert f.test == "seq-conditional-binomial"
    assert f.alpha == 0.05
    assert f.p_value is not None and f.p_value <= f.alpha
    assert f.e_value is not None and f.e_value >= 1 / 0.05
    # the always-valid bounds exclude the 2x limit from below
    assert f.ci_low is not None and f.ci_low > 1.0
    assert sentences(v.reasons)[0].startswith("error_rate breached rollback 2x: treatment ")
    assert v.to_percent is None


def test_a_rollback_beats_an_unfinished_window() -> None:
    series = rate_series(2, 10, 20_000, 0.10, 0.03, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    v = run(make_plan(), state(10, started=timedelta(minutes=10)), obs, exposures_of(series))
    assert v.kind is VerdictKind.ROLLBACK


def test_a_global_incident_hitting_both_cohorts_does_not_roll_back() -> None:
    minutes = 120
    rate = np.full(minutes, 0.01)
    rate[60:80] = 0.06  # both cohorts' error rate x6 for 20 minutes, no treatment effect
    series = rate_series(3, minutes, 20_000, 0.10, rate, rate)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    v = run(make_plan(), state(10), obs, exposures_of(series))
    assert v.kind is not VerdictKind.ROLLBACK
    assert v.kind is VerdictKind.GO
    f = v.findings[0]
    assert f.status == "ok"
    assert f.p_value is not None and f.p_value > 0.05
    assert f.ci_low is not None and f.ci_high is not None and f.ci_low < 0 < f.ci_high


# --------------------------------------------------------------------------- corrections


P3 = {"a": 0.01, "b": 0.02, "c": 0.04}


def corrected_levels(
    p_values: dict[str, float], alpha: float, correction: str
) -> dict[str, tuple[float, bool]]:
    """One rollback tier per guardrail: the graph reduces to Holm / Bonferroni / none."""
    levels = familywise_levels({n: {"rollback": p} for n, p in p_values.items()}, alpha, correction)
    return {n: tiers["rollback"] for n, tiers in levels.items()}


def test_holm_steps_down_through_every_rejection() -> None:
    assert corrected_levels(P3, 0.05, "holm") == {
        "a": (0.05 / 3, True),
        "b": (0.025, True),
        "c": (0.05, True),
    }


def test_holm_fails_the_last_when_it_is_above_alpha() -> None:
    levels = corrected_levels({**P3, "c": 0.06}, 0.05, "holm")
    assert levels["a"][1] and levels["b"][1]
    assert levels["c"] == (0.05, False)


def test_holm_stops_at_the_first_failure() -> None:
    # b fails its level 0.025; c would pass 0.05 on its own but only holds 0.025
    levels = corrected_levels({"a": 0.01, "b": 0.03, "c": 0.04}, 0.05, "holm")
    assert levels == {
        "a": (0.05 / 3, True),
        "b": (0.025, False),
        "c": (0.025, False),
    }


def test_holm_rejects_at_exactly_the_level() -> None:
    assert corrected_levels({"a": 0.025, "b": 0.5}, 0.05, "holm")["a"] == (0.025, True)


def test_bonferroni_and_none_levels() -> None:
    assert corrected_levels(P3, 0.05, "bonferroni") == {
        "a": (0.05 / 3, True),
        "b": (0.05 / 3, False),
        "c": (0.05 / 3, False),
    }
    assert corrected_levels(P3, 0.05, "none") == {
        "a": (0.05, True),
        "b": (0.05, True),
        "c": (0.05, True),
    }
    assert corrected_levels({**P3, "c": 0.06}, 0.05, "none")["c"] == (0.05, False)
    assert corrected_levels({}, 0.05, "holm") == {}


def test_tiers_on_different_guardrails_share_one_alpha() -> None:
    # the case where per-tier families gave 2 alpha: pause tested on a and b, rollback
    # on c and d. Now the four start at alpha/4 each.
    levels = familywise_levels(
        {"a": {"pause": 0.02}, "b": {"pause": 0.5}, "c": {"rollback": 0.02}, "d": {}},
        0.05,
        "holm",
    )
    assert levels == {
        "a": {"pause": (0.05 / 3, False)},
        "b": {"pause": (0.05 / 3, False)},
        "c": {"rollback": (0.05 / 3, False)},
    }
    assert familywise_levels({"a": {"pause": 0.0125}, "b": {"rollback": 0.5}}, 0.05, "bonferroni")[
        "a"
    ] == {"pause": (0.025, True)}


def test_a_guardrails_tiers_are_a_chain_that_inherits_its_share() -> None:
    # pause must be rejected before rollback is tested; then rollback has pause's share
    levels = familywise_levels(
        {"a": {"pause": 0.01, "rollback": 0.02}, "b": {"rollback": 0.9}}, 0.05, "holm"
    )
    assert levels["a"] == {"pause": (0.025, True), "rollback": (0.025, True)}
    # its share is all b gets once a's chain is through (Holm), and b still fails
    assert levels["b"] == {"rollback": (0.05, False)}
    # rollback is not tested while pause stands, however strong its own evidence;
    # it is shown at the level it would inherit
    blocked = familywise_levels({"a": {"pause": 0.2, "rollback": 0.001}}, 0.05, "holm")
    assert blocked == {"a": {"pause": (0.05, False), "rollback": (0.05, False)}}


def test_warn_pause_rollback_chain_and_holm_pass_on() -> None:
    levels = familywise_levels(
        {
            "a": {"warn": 0.001, "pause": 0.002, "rollback": 0.003},
            "b": {"pause": 0.04},
            "c": {"pause": 0.3},
        },
        0.05,
        "holm",
    )
    third = 0.05 / 3
    assert levels["a"] == {"warn": (third, True), "pause": (third, True), "rollback": (third, True)}
    # a's share passes in halves to b and c: 1/3 + 1/6 = 1/2 each
    assert levels["b"] == {"pause": (0.025, False)}
    assert levels["c"] == {"pause": (0.025, False)}
    levels = familywise_levels(
        {"a": {"warn": 0.001, "pause": 0.002, "rollback": 0.003}, "b": {"pause": 0.04}},
        0.05,
        "holm",
    )
    assert levels["b"] == {"pause": (0.05, True)}  # a's chain is through: b has it all


def test_holm_weight_flows_down_a_partly_rejected_chain() -> None:
    # b's pause is rejected at 1/2; a's whole chain then passes its 1/2 to b's chain,
    # which now starts at rollback (Bretz et al. 2009, the transition update)
    levels = familywise_levels(
        {"a": {"rollback": 0.001}, "b": {"pause": 0.02, "rollback": 0.04}}, 0.05, "holm"
    )
    assert levels["a"] == {"rollback": (0.025, True)}
    assert levels["b"] == {"pause": (0.025, True), "rollback": (0.05, True)}


def _evidence(max_e: float) -> Evidence:
    return Evidence("seq-conditional-binomial", max_e, max_e, 10)


def test_tier_p_values_bonferroni_within_a_tier() -> None:
    plan = make_plan(
        guardrails=[
            {
                **ERROR_RATE,
                "thresholds": {"warn": "+20%", "rollback": ["2x", "< 5%"]},
                "significant": ["warn", "rollback"],
            }
        ]
    )
    g = plan.guardrails[0]
    assert isinstance(g, RatioGuardrail)
    (warn,) = g.tiers["warn"]
    two_x, ceiling = g.tiers["rollback"]
    assessment = Assessment(
        thresholds=(
            ThresholdEvidence("warn", warn, _evidence(4.0)),  # p 0.25
            ThresholdEvidence("rollback", two_x, _evidence(50.0)),  # p 0.02
            ThresholdEvidence("rollback", ceiling, _evidence(200.0)),  # p 0.005
        ),
        ruled_out=None,
        information=1.0,
        information_needed=None,
        estimate=None,
        relative=True,
    )
    # rollback: 2 thresholds, 2 x min(0.02, 0.005); warn: its one threshold as is
    assert tier_p_values(g, assessment) == {
        "warn": pytest.approx(0.25),
        "rollback": pytest.approx(0.01),
    }
    capped = Assessment(
        thresholds=(
            ThresholdEvidence("rollback", two_x, _evidence(1.5)),
            ThresholdEvidence("rollback", ceiling, _evidence(1.6)),
        ),
        ruled_out=None,
        information=1.0,
        information_needed=None,
        estimate=None,
        relative=True,
    )
    assert tier_p_values(g, capped) == {"rollback": 1.0}  # 2 x 0.625 capped at 1
    assert tier_p_values(g, None) == {}


def test_tier_p_values_only_for_significant_tiers() -> None:
    g = make_plan().guardrails[0]  # significant: rollback only (the default)
    (warn,) = g.tiers["warn"]
    assessment = Assessment(
        (ThresholdEvidence("warn", warn, _evidence(100.0)),), None, 1.0, None, None, True
    )
    assert tier_p_values(g, assessment) == {}


# --------------------------------------------------------------------------- power gate


def test_default_gate_is_the_last_stage_below_100() -> None:
    plan = gated_plan()
    assert [plan.power_gated(i) for i in range(3)] == [False, True, False]
    off = gated_plan(stage1={"power_gate": False})
    assert [off.power_gated(i) for i in range(3)] == [False, False, False]
    early = gated_plan(stage0={"power_gate": True})
    assert [early.power_gated(i) for i in range(3)] == [True, True, False]


def test_power_gate_holds_until_detect_is_ruled_out() -> None:
    # 90 minutes at 60 requests a minute: ~5 treatment errors, far from enough to rule out
    # a +50% regression at 90% confidence
    obs, exposures = healthy_at(10, seed=4, minutes=90, per_minute=60)
    v = run(gated_plan(), state(10, started=timedelta(minutes=90)), obs, exposures)
    assert v.kind is VerdictKind.HOLD
    f = v.findings[0]
    assert f.status == "ok"
    assert f.detect == "+50%"
    assert f.ruled_out is False
    assert f.information is not None and f.information_needed is not None
    # the median information at which a point likelihood ratio (no effect against +50%)
    # reaches 1/0.1: an inverse Gaussian first passage of log 10, drift d²/2, variance d²
    d, level = math.log(1.5), math.log(10)
    assert f.information_needed == pytest.approx(_inverse_gaussian_median(level, d * d / 2, d * d))
    assert 0 < f.information < f.information_needed
    assert sentences(v.reasons)[0].startswith(
        "error_rate: a +50% regression is not ruled out yet at 90% confidence (upper bound +"
    )
    assert "more at this traffic" in sentences(v.reasons)[0]
    assert sentences(v.reasons)[1].startswith("this stage is power-gated")
    # the ETA: where the log likelihood ratio stands, and the first passage to log 10 of a
    # walk with the drift and variance these 90 intervals give it, the level raised by
    # Siegmund's overshoot; rounded up to whole minutes
    series = obs["error_rate"].series
    assert isinstance(series, RatioSeries)
    et, nt = series.treatment_events, series.treatment_trials
    ec, nc = series.control_events, series.control_trials
    s = nt / (nt + nc)
    q0 = 1.5 * s / (1.5 * s + 1 - s)
    hit, miss = np.log(s / q0), np.log((1 - s) / (1 - q0))
    now = float(np.sum(et * hit + ec * miss))
    mean = s * hit + (1 - s) * miss
    drift = float(np.sum((et + ec) * mean)) / 90
    var = float(np.sum((et + ec) * (s * (1 - s) * (hit - miss) ** 2 + mean**2))) / 90
    wait = _inverse_gaussian_median(level - now + 0.5826 * math.sqrt(var), drift, var)
    assert v.look_again_at is not None
    assert (v.look_again_at - NOW).total_seconds() == 60 * math.ceil(wait)
    assert v.to_percent is None


def _inverse_gaussian_median(level: float, drift: float, variance: float) -> float:
    """Median first-passage time of a Brownian motion: the inverse Gaussian law with mean
    level/drift and shape level²/variance, whose CDF is solved here (Chhikara & Folks)."""
    mean, shape = level / drift, level * level / variance

    def cdf(t: float) -> float:
        root = math.sqrt(shape / t)
        return float(
            norm.cdf(root * (t / mean - 1))
            + math.exp(2 * shape / mean + norm.logcdf(-root * (t / mean + 1)))
        )

    return float(optimize.brentq(lambda t: cdf(t) - 0.5, 1e-9, 100 * mean))


@pytest.mark.parametrize("wait", [1e15, math.inf, math.nan])
def test_a_wait_beyond_any_horizon_shows_no_eta(
    wait: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a trickle of traffic can put the median wait past what a timedelta holds: the hold
    # stands, with no ETA, never an OverflowError
    monkeypatch.setattr(verdict_module, "gate_wait", lambda *args: wait)
    obs, exposures = healthy_at(10, seed=4, minutes=90, per_minute=60)
    v = run(gated_plan(), state(10, started=timedelta(minutes=90)), obs, exposures)
    assert v.kind is VerdictKind.HOLD
    assert v.look_again_at is None
    assert "more at this traffic" not in sentences(v.reasons)[0]
    assert sentences(v.reasons)[0].startswith("error_rate: a +50% regression is not ruled out yet")


def test_power_gate_opens_with_plenty_of_healthy_data() -> None:
    obs, exposures = healthy_at(10, seed=4, minutes=90, per_minute=20_000)
    v = run(gated_plan(), state(10, started=timedelta(minutes=90)), obs, exposures)
    f = v.findings[0]
    assert f.ruled_out is True
    assert f.information is not None and f.information_needed is not None
    assert f.information > f.information_needed
    assert v.kind is VerdictKind.GO
    assert v.to_percent == 100


def test_power_gate_false_does_not_gate_the_last_stage() -> None:
    obs, exposures = healthy_at(10, seed=4, minutes=90, per_minute=60)
    plan = gated_plan(stage1={"power_gate": False})
    v = run(plan, state(10, started=timedelta(minutes=90)), obs, exposures)
    assert v.findings[0].ruled_out is False
    assert v.kind is VerdictKind.GO
    assert v.to_percent == 100


def test_power_gate_true_gates_an_earlier_stage() -> None:
    obs, exposures = healthy_at(1, seed=4, minutes=90, per_minute=500)
    ungated = run(gated_plan(), state(1, started=timedelta(minutes=90)), obs, exposures)
    assert ungated.findings[0].ruled_out is False
    assert ungated.kind is VerdictKind.GO
    plan = gated_plan(stage0={"power_gate": True})
    v = run(plan, state(1, started=timedelta(minutes=90)), obs, exposures)
    assert v.kind is VerdictKind.HOLD
    assert any("not ruled out" in r for r in sentences(v.reasons))


def test_power_gate_does_not_apply_at_100() -> None:
    # at 100% nobody is in control: a guardrail relative to control is not judged (and not
    # blocking), so there is nothing to rule out and the rollout is done
    rng = np.random.default_rng(6)
    trials = np.full(60, 200.0)
    nan = np.full(60, np.nan)
    series = RatioSeries(rng.binomial(200, 0.01, 60).astype(float), trials, nan, nan)
    events = float(series.treatment_events.sum())
    obs = {
        "error_rate": Observation("error_rate", RatioData(events, 12_000.0), None, series=series)
    }
    v = run(gated_plan(), state(100), obs, Exposures(12_000.0, 0.0, "requests"))
    f = v.findings[0]
    assert (f.status, f.blocking, f.ruled_out) == ("no_data", False, None)
    assert v.kind is VerdictKind.DONE


# --------------------------------------------------------------------------- SRM


def srm_exposures(treatment_per_minute: float, control_per_minute: float) -> Exposures:
    t = np.full(60, treatment_per_minute)
    c = np.full(60, control_per_minute)
    return Exposures(float(t.sum()), float(c.sum()), "requests", t, c)


def test_a_treatment_deficit_is_a_sample_ratio_mismatch() -> None:
    obs, _ = healthy_at(10)
    # 1,800 of 20,000 a minute: 0.9x the planned 10%
    v = run(make_plan(), state(10), obs, srm_exposures(1_800, 18_200))
    assert v.kind is VerdictKind.HOLD
    assert v.srm.checked and v.srm.mismatch
    assert v.srm.observed_share == pytest.approx(0.09)
    assert v.srm.expected_share == 0.1
    assert v.srm.p_value is not None and v.srm.p_value < 0.001
    assert sentences(v.reasons)[0].startswith(
        "sample-ratio mismatch: treatment has 9.000% of exposures, planned 10.000%"
    )


def test_the_planned_split_is_no_mismatch() -> None:
    obs, _ = healthy_at(10)
    v = run(make_plan(), state(10), obs, srm_exposures(2_000, 18_000))
    assert v.srm.checked and not v.srm.mismatch
    # the binomial at the planned share is the best any alternative can do: E <= 1
    assert v.srm.p_value == 1.0
    assert v.srm.observed_share == pytest.approx(0.1)
    assert v.kind is VerdictKind.GO


def test_missing_treatment_intervals_are_skipped_not_a_deficit() -> None:
    obs, _ = healthy_at(10)
    t = np.full(60, 2_000.0)
    t[20:30] = np.nan  # ten minutes of treatment rows lost
    c = np.full(60, 18_000.0)
    exposures = Exposures(float(np.nansum(t)), float(c.sum()), "requests", t, c)
    v = run(make_plan(), state(10), obs, exposures)
    assert v.srm.checked and not v.srm.mismatch
    assert v.srm.p_value == 1.0
    assert v.kind is VerdictKind.GO
    # the totals alone (the fixed-horizon check) would have called this a mismatch
    assert v.srm.observed_share == pytest.approx(100_000 / 1_180_000)
    assert stats.sample_ratio_mismatch(100_000, 1_080_000, 0.1).mismatch


# --------------------------------------------------------------------------- means, no data


def test_log_scale_latency_rolls_back_on_a_30_percent_shift() -> None:
    plan = make_plan(guardrails=[LATENCY_LOG])
    exposures = Exposures(2_400, 21_600, "requests")
    slow = run(plan, state(10), {"latency": latency_observation(7, 120, 1.3)}, exposures)
    assert slow.kind is VerdictKind.ROLLBACK
    f = slow.findings[0]
    assert (f.status, f.threshold, f.test) == ("rollback", "rollback +10%", "seq-normal")
    assert f.relative_change == pytest.approx(0.3, abs=0.05)
    assert f.ci_relative is True
    assert f.ci_low is not None and f.ci_high is not None and f.ci_low < 0.3 < f.ci_high
    assert f.ci_low > 0.1


def test_log_scale_latency_without_a_shift_is_healthy() -> None:
    plan = make_plan(guardrails=[LATENCY_LOG])
    exposures = Exposures(2_400, 21_600, "requests")
    v = run(plan, state(10), {"latency": latency_observation(7, 120, 1.0)}, exposures)
    assert v.kind is VerdictKind.GO
    f = v.findings[0]
    assert f.status == "ok"
    assert f.ci_low is not None and f.ci_high is not None and f.ci_low < 0 < f.ci_high


def test_no_series_under_the_sequential_method_is_no_data() -> None:
    obs = {
        "error_rate": Observation(
            "error_rate", RatioData(200, 20_000), RatioData(1_800, 180_000), series=None
        )
    }
    exposures = Exposures(20_000, 180_000, "requests")
    v = run(make_plan(), state(10), obs, exposures)
    f = v.findings[0]
    assert f.status == "no_data" and f.blocking
    assert f.note == "no per-interval data for the sequential test (the metrics source gave none)"
    assert v.kind is VerdictKind.HOLD
    assert sentences(v.reasons)[0].startswith("no data for error_rate: no per-interval data")
    # the same totals are enough for the fixed-horizon method
    fixed = make_plan(statistics={"method": "fixed"})
    assert run(fixed, state(10), obs, exposures).kind is VerdictKind.GO


# --------------------------------------------------------------------------- plan validation


PLAN_YAML = """\
flag: demo
platform:
  kind: flagfile
  path: flags.json
variations:
  treatment: true
  control: false
stages:
  - percent: 10
    min_duration: 1h
  - percent: 100
metrics:
  source:
    kind: file
    path: metrics.csv
  exposures: requests
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds:
      rollback: 2x
    detect: "{error_detect}"
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    scale: log
    thresholds:
      rollback: "+20%"
    detect: "{latency_detect}"
statistics:
  method: {method}
  interval: "{interval}"
"""


def write_plan(
    tmp_path: Path,
    error_detect: str = "+50%",
    latency_detect: str = "+10%",
    method: str = "sequential",
    interval: str = "1m",
) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        PLAN_YAML.format(
            error_detect=error_detect,
            latency_detect=latency_detect,
            method=method,
            interval=interval,
        ),
        encoding="utf-8",
    )
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value.problems


def test_valid_detect_and_fixed_method_load(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path)).plan
    error_rate, latency = plan.guardrails
    assert error_rate.detect_threshold is not None
    assert error_rate.detect_threshold.factor == pytest.approx(1.5)
    assert latency.detect_threshold is not None
    assert latency.detect_threshold.factor == pytest.approx(1.1)
    assert plan.statistics.method == "sequential"
    fixed = load_plan(write_plan(tmp_path, method="fixed")).plan
    assert fixed.statistics.method == "fixed"
    slow = load_plan(write_plan(tmp_path, interval="5m")).plan
    assert slow.statistics.step == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("error_detect", "latency_detect", "key", "fragment"),
    [
        ("+0%", "+10%", "guardrails[0].detect", "not zero and not an absolute value"),
        ("+50%", "300ms", "guardrails[1].detect", "not zero and not an absolute value"),
        ("+50%", "< 300ms", "guardrails[1].detect", "not zero and not an absolute value"),
        ("-50%", "+10%", "guardrails[0].detect", "points the better way"),
        ("+50%", "fast", "guardrails[1].detect", "bad threshold 'fast'"),
    ],
)
def test_bad_detect_is_rejected(
    tmp_path: Path, error_detect: str, latency_detect: str, key: str, fragment: str
) -> None:
    path = write_plan(tmp_path, error_detect=error_detect, latency_detect=latency_detect)
    found = problems(path)
    assert len(found) == 1
    assert f": {key}: " in found[0]
    assert "detect" in found[0]
    assert fragment in found[0]
    detect_lines = [
        i + 1
        for i, text in enumerate(path.read_text().splitlines())
        if text.strip().startswith("detect:")
    ]
    line = detect_lines[0 if key == "guardrails[0].detect" else 1]
    assert found[0].startswith(f"{path}:{line}: {key}: ")


@pytest.mark.parametrize("interval", ["0s", "0", "0m"])
def test_a_zero_interval_is_rejected(tmp_path: Path, interval: str) -> None:
    found = problems(write_plan(tmp_path, interval=interval))
    assert len(found) == 1
    assert "statistics.interval: " in found[0]
    assert "interval must be positive" in found[0]


def test_an_unparseable_interval_is_rejected(tmp_path: Path) -> None:
    found = problems(write_plan(tmp_path, interval="soon"))
    assert len(found) == 1
    assert "statistics.interval: bad duration 'soon'" in found[0]


def test_power_gate_reason_quotes_the_bound_on_the_worse_side() -> None:
    from dataclasses import replace

    from rolloutcli.judge.findings import Finding
    from rolloutcli.judge.messages import text
    from rolloutcli.judge.reasons import power_pending
    from rolloutcli.judge.verdict import _worse_side

    plan = Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [{"percent": 50}, {"percent": 100}],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}},
            "guardrails": [
                {
                    "name": "errors",
                    "kind": "ratio",
                    "events": "e",
                    "trials": "n",
                    "thresholds": {"rollback": "+0%"},
                    "detect": "+50%",
                },
                {
                    "name": "conv",
                    "kind": "ratio",
                    "events": "c",
                    "trials": "n",
                    "direction": "lower_is_worse",
                    "thresholds": {"rollback": "-0%"},
                    "detect": "-10%",
                },
            ],
        }
    )
    base = Finding(
        "errors",
        "ratio",
        "ok",
        0.01,
        0.01,
        0.0,
        None,
        None,
        None,
        None,
        1,
        1,
        None,
        "",
        ci_low=-0.2,
        ci_high=0.7,
    )

    def worded(f: Finding) -> str:
        return text(power_pending(f, 0.8, _worse_side(f, plan), None))

    assert worded(base).endswith(" at 80% confidence (upper bound +70.0%)")
    assert worded(replace(base, name="conv")).endswith(" confidence (lower bound -20.0%)")
    assert worded(replace(base, ci_high=None)).endswith(" at 80% confidence")


# --------------------------------------------------------------------------- clustering


def clustered_series(seed: int, minutes: int, cv: float) -> RatioSeries:
    """1% errors whose rate, per cohort, is redrawn every minute (beta-binomial, CV ``cv``)."""
    rng = np.random.default_rng(seed)
    nt = rng.binomial(20_000, 0.05, minutes)
    nc = 20_000 - nt
    k = (1 - 0.01) / (cv * cv * 0.01) - 1
    et = rng.binomial(nt, rng.beta(0.01 * k, 0.99 * k, minutes))
    ec = rng.binomial(nc, rng.beta(0.01 * k, 0.99 * k, minutes))
    return RatioSeries(et.astype(float), nt.astype(float), ec.astype(float), nc.astype(float))


def test_clustered_requests_are_measured_and_named() -> None:
    from rolloutcli.render.contract import dispersion_json

    series = clustered_series(3, 120, 0.5)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    f = run(make_plan(), state(5), obs, exposures_of(series)).findings[0]
    assert f.test == "seq-quasi-binomial"  # the test allows for it
    assert f.dispersion is not None and f.dispersion.significant
    assert f.dispersion.pairs == 119
    # per-cohort CV 0.5, ~200 events a minute, 5% share: excess 2 c^2 s (1-s) m ≈ 4.8
    assert 3.5 < f.dispersion.factor < 9.0
    shown = dispersion_json(f.dispersion)
    assert shown["significant"] is True and shown["interval_pairs"] == 119
    assert shown["summary"].startswith("varies ")
    assert "x more between intervals than independent requests would" in shown["summary"]


def test_independent_requests_show_no_clustering() -> None:
    obs, exposures = healthy_at(5, seed=4)
    f = run(make_plan(), state(5), obs, exposures).findings[0]
    assert f.dispersion is not None and not f.dispersion.significant
    assert f.dispersion.pairs == 119
    assert 0.7 < f.dispersion.factor < 1.3
