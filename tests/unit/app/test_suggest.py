"""`rollout plan suggest`: the math of rolloutcli.stats.sizing on handcrafted series, the YAML
text of rolloutcli.plan.writer, the round trip through load_plan, and the command on the
embedded file source (no server).

Expected values are derived here, not taken from the module: the information the power gate
needs is solved from the normal-mixture closed form with ``scipy.optimize.brentq``; rates,
overdispersion, variances and quantiles are recomputed with plain Python from their
definitions; normal probabilities come from ``scipy.stats.norm``.
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import norm
from typer.testing import CliRunner

from rolloutcli.app.suggest import SuggestOptions, build_request
from rolloutcli.cli.main import app
from rolloutcli.judge.evidence import assess
from rolloutcli.judge.observations import Observation, RatioData, RatioSeries
from rolloutcli.plan.model import (
    RatioGuardrail,
    load_plan,
)
from rolloutcli.plan.platform_specs import FlagfileSpec
from rolloutcli.plan.source_specs import FileSourceSpec
from rolloutcli.plan.writer import (
    GuardrailDraft,
    PlanDraft,
    Provenance,
    plan_duration,
    render_plan,
    scalar,
)
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.moments import MomentSeries
from rolloutcli.stats.sizing import (
    GuardrailInput,
    HistoryProblem,
    MeanProfile,
    RatioProfile,
    band_factor,
    hours_needed,
    information_needed,
    mean_profile,
    noise,
    quiet_rate,
    ratio_profile,
    round_count_up,
    round_percent_out,
    round_window,
    suggest,
)
from rolloutcli.support.errors import InvalidInputError

UP = Direction.HIGHER_IS_WORSE
DOWN = Direction.LOWER_IS_WORSE
Z95 = norm.ppf(0.95)
NAN = math.nan

# --------------------------------------------------------------------------- references


def point_information(effect: float, beta: float) -> float:
    """The median information at which a point likelihood ratio (no effect against a log
    ratio ``effect``) first reaches ``1/beta``: its log gains effect²/2 per unit of
    information with variance effect², so the passage time is inverse Gaussian (mean
    ``m = a/(effect²/2)``, shape ``λ = a²/effect²``, ``a = log(1/beta)``), whose CDF
    ``Φ(√(λ/t)(t/m - 1)) + e^(2λ/m) Φ(-√(λ/t)(t/m + 1))`` is solved for 1/2 by brentq."""
    a = math.log(1 / beta)
    m, lam = a / (effect * effect / 2), a * a / (effect * effect)

    def excess(t: float) -> float:
        root = math.sqrt(lam / t)
        cdf = norm.cdf(root * (t / m - 1)) + math.exp(
            2 * lam / m + norm.logcdf(-root * (t / m + 1))
        )
        return float(cdf) - 0.5

    return float(optimize.brentq(excess, 1e-9, 100 * m, xtol=1e-12, rtol=1e-14))


def mixture_information(effect: float, beta: float) -> float:
    """The information at which the half-normal mixture e-value (scale τ = effect) with
    score ``effect·I`` reaches ``1/beta``, from its closed form
    ``2/√(1+τ²I) · exp(z²/2) · Φ(z)``, ``z = τ·effect·I/√(1+τ²I)``, solved by brentq."""
    tau = effect

    def excess(info: float) -> float:
        denom = 1 + tau * tau * info
        z = tau * effect * info / math.sqrt(denom)
        return math.log(2) - 0.5 * math.log(denom) + z * z / 2 + norm.logcdf(z) - math.log(1 / beta)

    return float(optimize.brentq(excess, 1e-9, 1e9 / effect**2, xtol=1e-12, rtol=1e-14))


def ratio_input(
    detect: float = 1.2,
    quiet: float = 10_000.0,
    rate: float = 0.02,
    phi: float = 1.5,
    direction: Direction = UP,
) -> GuardrailInput:
    return GuardrailInput(
        "error_rate", direction, detect, RatioProfile(336, quiet, quiet, rate, phi, phi)
    )


def mean_input(
    detect: float, level: float, variance: float, log: bool, direction: Direction = UP
) -> GuardrailInput:
    return GuardrailInput(
        "latency", direction, detect, MeanProfile(336, level, variance, 12.0, log)
    )


# --------------------------------------------------------------------------- what history says


def test_quiet_rate_is_the_tenth_percentile_of_hours_with_data() -> None:
    # 1000, 1100, ..., 1900 and a missing hour: position 0.1 · (10 - 1) = 0.9 between the
    # first two order statistics: 1000 + 0.9 · 100
    counts = [1000 + 100 * i for i in range(10)] + [NAN]
    assert quiet_rate(counts) == pytest.approx(1090.0, abs=1e-9)
    with pytest.raises(HistoryProblem):
        quiet_rate([NAN, NAN])


def hand_history() -> tuple[list[float], list[float]]:
    """24 hours of 1000 + 100·i requests with 10, 15, 20, 10... errors; then an hour without
    requests data (its errors ignored) and an hour of 3000 requests without errors data
    (a counter not yet moved: 0 errors)."""
    trials = [1000.0 + 100 * i for i in range(24)] + [NAN, 3000.0]
    events = [10.0 + 5 * (i % 3) for i in range(24)] + [7.0, NAN]
    return events, trials


def test_ratio_profile_from_its_definitions() -> None:
    events, trials = hand_history()
    profile = ratio_profile(events, trials)
    used = [
        (e if not math.isnan(e) else 0.0, n) for e, n in zip(events, trials, strict=True) if n == n
    ]
    assert profile.hours == 25
    total_e = sum(e for e, _ in used)
    total_n = sum(n for _, n in used)
    assert (total_e, total_n) == (360.0, 54_600.0)
    p = total_e / total_n
    assert profile.base_rate == pytest.approx(p, rel=1e-12)
    assert profile.mean_rate == pytest.approx(54_600 / 25, rel=1e-12)
    # 25 counts sorted: 1000, 1100, 1200, ...; position 0.1 · 24 = 2.4 → 1200 + 0.4 · 100
    assert profile.quiet_rate == pytest.approx(1240.0, abs=1e-9)
    # φ over successive hours that both have data: hours 0..23 (23 pairs); hour 25 follows
    # an hour without data, so it pairs with nothing
    num = den = 0.0
    for i in range(23):
        r1, r2 = events[i] / trials[i], events[i + 1] / trials[i + 1]
        num += (r1 - r2) ** 2
        den += p * (1 - p) * (1 / trials[i] + 1 / trials[i + 1])
    assert profile.raw_dispersion == pytest.approx(num / den, rel=1e-12)
    assert profile.dispersion == pytest.approx(max(1.0, num / den), rel=1e-12)


def test_overdispersion_below_binomial_is_taken_as_binomial() -> None:
    # the same rate every hour: no variance at all, φ = 0 → 1
    profile = ratio_profile([10.0] * 30, [1000.0] * 30)
    assert profile.raw_dispersion == 0.0
    assert profile.dispersion == 1.0


def test_ratio_history_problems() -> None:
    with pytest.raises(HistoryProblem, match="only 23h of history with trials; need at least 24h"):
        ratio_profile([1.0] * 23, [100.0] * 23)
    with pytest.raises(HistoryProblem, match="no events in 30h of history"):
        ratio_profile([0.0] * 30, [100.0] * 30)


def test_mean_profile_from_raw_values() -> None:
    rng = np.random.default_rng(7)
    hours = [list(rng.normal(200.0, 20.0, k)) for k in [12] * 20 + [10, 11, 12, 9, 12]]
    n = np.array([len(h) for h in hours] + [NAN], dtype=float)
    total = np.array([sum(h) for h in hours] + [NAN])
    total_sq = np.array([sum(x * x for x in h) for h in hours] + [NAN])
    profile = mean_profile(MomentSeries.of(n, total, total_sq), log=False)
    values = [x for h in hours for x in h]
    assert profile.hours == 25
    assert profile.level == pytest.approx(statistics.fmean(values), rel=1e-12)
    assert profile.variance == pytest.approx(statistics.variance(values), rel=1e-9)
    # counts sorted: 9, 10, 11, 12, ...; position 2.4 → 11 + 0.4 · (12 - 11)
    assert profile.values_per_hour == pytest.approx(11.4, abs=1e-9)


def test_mean_history_problems() -> None:
    flat = MomentSeries.of([2.0] * 30, [10.0] * 30, [50.0] * 30)  # every value 5
    with pytest.raises(HistoryProblem, match="never vary"):
        mean_profile(flat, log=False)
    short = MomentSeries.of([2.0] * 5, [10.0] * 5, [52.0] * 5)
    with pytest.raises(HistoryProblem, match="only 5h of history with values"):
        mean_profile(short, log=False)


# --------------------------------------------------------------------------- sizing


def test_information_is_the_power_gates() -> None:
    for detect, power in ((1.2, 0.9), (1.5, 0.8), (0.9, 0.95)):
        g = ratio_input(detect=detect)
        expected = point_information(abs(math.log(detect)), 1 - power)
        assert information_needed(g, power) == pytest.approx(expected, rel=1e-9)


def test_ratio_hours_and_noise() -> None:
    g = ratio_input(detect=1.2, quiet=10_000, rate=0.02, phi=1.5)
    info = point_information(math.log(1.2), 0.1)
    # at 10%: 10,000 requests/h · 2% errors · 0.1 · 0.9 = 18 information per hour
    assert hours_needed(g, 0.10, 0.9) == pytest.approx(info / 18, rel=1e-9)
    assert hours_needed(g, 0.50, 0.9) == pytest.approx(info / 50, rel=1e-9)
    # sd after 4h at 10%: √(φ / (18 · 4))
    assert noise(g, 0.10, 4.0) == pytest.approx(math.sqrt(1.5 / 72), rel=1e-12)


def test_mean_hours_and_noise_linear_and_log() -> None:
    linear = mean_input(detect=1.1, level=200.0, variance=400.0, log=False)
    info = mixture_information(0.1 * 200, 0.1)  # the detect effect in ms: 20
    s = 0.25
    # the rule-out test compares μt with 1.1·μc: variance V/s + 1.1²·V/(1-s) per pair
    per_pair = 400 / s + 1.21 * 400 / (1 - s)
    assert hours_needed(linear, s, 0.9) == pytest.approx(info * per_pair / 12, rel=1e-9)
    # healthy noise of the relative difference after 3h: √((V/s + V/(1-s)) / (12·3)) / 200
    expected = math.sqrt((400 / s + 400 / (1 - s)) / 36) / 200
    assert noise(linear, s, 3.0) == pytest.approx(expected, rel=1e-12)

    log = mean_input(detect=1.2, level=math.log(250), variance=0.01, log=True)
    info = mixture_information(math.log(1.2), 0.1)
    assert hours_needed(log, s, 0.9) == pytest.approx(
        info * (0.01 / s + 0.01 / (1 - s)) / 12, rel=1e-9
    )
    assert noise(log, s, 3.0) == pytest.approx(
        math.sqrt((0.01 / s + 0.01 / (1 - s)) / 36), rel=1e-12
    )


def test_windows_agree_with_what_the_power_gate_counts() -> None:
    """Healthy traffic at exactly the quiet-hour rate, one interval per minute, for the
    hours the suggestion says: evidence.assess (what the power gate reads) has then just
    collected the information it needs."""
    g = ratio_input(detect=1.3, quiet=12_000, rate=0.01, phi=1.0)
    s = 0.25
    hours = hours_needed(g, s, 0.9)
    minutes = math.ceil(hours * 60)
    per_minute = 12_000 / 60
    nt = np.full(minutes, s * per_minute)
    nc = np.full(minutes, (1 - s) * per_minute)
    series = RatioSeries(nt * 0.01, nt, nc * 0.01, nc)
    guardrail = RatioGuardrail.model_validate(
        {
            "name": "error_rate",
            "kind": "ratio",
            "events": "errors",
            "trials": "requests",
            "thresholds": {"rollback": "2x"},
            "detect": "+30%",
        }
    )
    t, c = RatioData(float(nt.sum() * 0.01), float(nt.sum())), RatioData(0.0, 1.0)
    found = assess(guardrail, Observation("error_rate", t, c, series=series), 0.1, True)
    assert found is not None and found.information_needed is not None
    assert found.information_needed == pytest.approx(information_needed(g, 0.9), rel=1e-12)
    # the whole minutes cover the hours: at least the information needed, within a minute
    assert found.information >= found.information_needed
    assert found.information - found.information_needed <= 12_000 / 60 * 0.01 * s * (1 - s)


# --------------------------------------------------------------------------- readable numbers


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (0.1, timedelta(minutes=30)),  # the floor
        (0.51, timedelta(minutes=45)),  # 30.6m → 15-minute grain
        (1.0, timedelta(hours=1)),
        (1.01, timedelta(hours=1, minutes=30)),  # past 1h: 30-minute grain
        (6.0, timedelta(hours=6)),
        (6.2, timedelta(hours=7)),  # past 6h: whole hours
        (37.7, timedelta(hours=38)),
    ],
)
def test_round_window(hours: float, expected: timedelta) -> None:
    assert round_window(hours) == expected


def test_readable_numbers() -> None:
    assert round_window(0.1, timedelta(hours=1)) == timedelta(hours=1)
    assert [round_percent_out(x) for x in (0.04, 0.91, 4.51, 9.99, 10.01, 30.8)] == [
        0.1,
        1.0,
        5.0,
        10.0,
        11.0,
        31.0,
    ]
    assert [round_count_up(x) for x in (0, 18.2, 183.1, 3682.03, 18_340.2)] == [
        0,
        19,
        184,
        3690,
        18_400,
    ]
    assert [plan_duration(timedelta(hours=h)) for h in (0.75, 2.5, 38, 24)] == [
        "45m",
        "2h30m",
        "1d14h",
        "1d",
    ]
    assert [scalar(v) for v in (True, "v2.4", "true", "5m", "a: b", "it's", 50.0)] == [
        "true",
        "v2.4",
        "'true'",
        "5m",
        "'a: b'",
        "'it''s'",
        "50",
    ]


def test_warn_band_in_both_directions() -> None:
    sigma = 0.05
    width = Z95 * sigma  # 0.08224
    up = band_factor(ratio_input(), sigma)
    # e^0.08224 - 1 = 8.57% → 9.0% (half-percent grain below 10%)
    assert math.exp(width) - 1 == pytest.approx(0.0857, abs=1e-4)
    assert up == pytest.approx(1.09)
    down = band_factor(ratio_input(detect=0.8, direction=DOWN), sigma)
    # 1 - e^-0.08224 = 7.89% → 8.0%
    assert 1 - math.exp(-width) == pytest.approx(0.0789, abs=1e-4)
    assert down == pytest.approx(0.92)
    linear = mean_input(detect=1.1, level=200.0, variance=400.0, log=False)
    assert band_factor(linear, sigma) == pytest.approx(1.085)  # 8.22% → 8.5%


# --------------------------------------------------------------------------- the suggestion


def test_suggest_stages_and_thresholds() -> None:
    g = ratio_input(detect=1.2, quiet=10_000, rate=0.02, phi=1.0)
    result = suggest([g], [10, 50, 100], 0.9, exposures_quiet_rate=10_000)
    info = point_information(math.log(1.2), 0.1)  # 97.707
    ten, fifty, hundred = result.stages
    # 10%: 97.707 / 18 per hour = 5.43h → 30-minute grain → 5h 30m
    assert 5 < info / 18 < 5.5
    assert ten.hours == pytest.approx(info / 18, rel=1e-9)
    assert ten.min_duration == timedelta(hours=5, minutes=30)
    # min_samples: the smaller cohort's requests over 5.43h: 0.1 · 10,000 · 5.43 = 5,428
    # → 5,430 (three significant digits, up)
    assert 5_420 < 0.1 * 10_000 * info / 18 < 5_430
    assert ten.min_samples == 5_430
    # 50%: 97.707 / 50 = 1.95h → 30-minute grain → 2h
    assert 1.5 < info / 50 < 2
    assert fifty.min_duration == timedelta(hours=2)
    assert fifty.min_samples == round_count_up(0.5 * 10_000 * info / 50)
    assert not ten.floored and not fifty.floored
    assert hundred.min_duration == timedelta(days=1) and hundred.min_samples is None
    # sd at each window end: 10% for 5.5h, 50% for 2h; the noisier sets the band
    s10 = math.sqrt(1.0 / (18 * 5.5))
    s50 = math.sqrt(1.0 / (50 * 2))
    found = result.guardrails[0]
    assert found.sigma == pytest.approx(max(s10, s50), rel=1e-12)
    assert found.sigma_percent == (10 if s10 > s50 else 50)
    raw = 100 * (math.exp(Z95 * found.sigma) - 1)
    assert raw >= 10  # whole percents from 10%
    assert found.warn == pytest.approx(1 + math.ceil(raw) / 100)
    assert found.pause == found.warn
    assert found.rollback == 1.2
    w = math.log(found.warn)
    assert found.healthy_crosses_warn == pytest.approx(norm.sf(w / found.sigma), rel=1e-9)
    assert found.healthy_crosses_warn <= 0.05
    assert found.detect_crosses_warn == pytest.approx(
        norm.cdf((math.log(1.2) - w) / found.sigma), rel=1e-9
    )


def test_a_fast_guardrail_gets_the_floor() -> None:
    g = ratio_input(detect=2.0, quiet=1_000_000, rate=0.05, phi=1.0)
    stage = suggest([g], [50, 100], 0.9, 1_000_000).stages[0]
    assert stage.hours * 60 < 1  # under a minute of a million requests an hour
    assert stage.floored and stage.min_duration == timedelta(minutes=30)


def test_the_band_never_exceeds_detect_for_rollback() -> None:
    # very noisy (φ = 9): the band lies past detect, so rollback takes the band
    g = ratio_input(detect=1.2, phi=9.0)
    found = suggest([g], [50, 100], 0.9, 10_000).guardrails[0]
    assert found.warn > 1.2
    assert found.rollback == found.warn


# --------------------------------------------------------------------------- the YAML text


def small_case() -> tuple[PlanDraft, Provenance, GuardrailInput]:
    draft = PlanDraft(
        flag="checkout",
        platform=FlagfileSpec(kind="flagfile", path="flags.json", environment="production"),
        treatment=True,
        control=False,
        source=FileSourceSpec(kind="file", path="metrics.csv"),
        queries={},
        exposures="requests",
        guardrails=(GuardrailDraft("error_rate", "ratio", UP, "+50%", 1.5, "errors", "requests"),),
        alpha=0.05,
    )
    provenance = Provenance("file", timedelta(days=14), datetime(2026, 3, 1, tzinfo=UTC), "false")
    g = GuardrailInput("error_rate", UP, 1.5, RatioProfile(336, 6_000, 12_000, 0.02, 1.0, 0.8))
    return draft, provenance, g


def test_render_exact_text_for_a_small_case() -> None:
    draft, provenance, g = small_case()
    text = render_plan(draft, suggest([g], [50, 100], 0.9, 6_000), provenance)
    # derived: I = 19.76 for +50% at power 0.9; at 50%: 6,000 · 2% · 0.25 = 30 per hour →
    # 0.659h = 39.5 minutes → 45m; min_samples 0.5 · 6,000 · 0.659 = 1,976 → 1,980;
    # sd after 45m = √(1 / 22.5) = 21.1%; warn e^(1.645 · 0.2108) - 1 = 41.4% → +42%
    info = point_information(math.log(1.5), 0.1)
    assert info / 30 * 60 == pytest.approx(39.51, abs=0.01)
    sigma = math.sqrt(1 / 22.5)
    assert 100 * (math.exp(Z95 * sigma) - 1) == pytest.approx(41.4, abs=0.05)
    healthy = norm.sf(math.log(1.42) / sigma)  # 4.8%
    caught = norm.cdf((math.log(1.5) - math.log(1.42)) / sigma)  # 60%
    assert text == (
        "# Suggested by `rollout plan suggest` from 14d of file history, hour by hour, up to\n"
        "# 2026-03-01T00:00:00Z. Before a rollout nobody is served the treatment, so the history"
        " read is\n"
        "# the whole population's, as metrics label the control cohort ({cohort} = false)."
        " Traffic is\n"
        "# taken at the quiet hour (the 10th percentile of hourly counts), so windows hold at"
        " night.\n"
        "# Every number says where it came from; run the command again to refresh them when"
        " traffic\n"
        "# changes.\n"
        "flag: checkout\n"
        "platform:\n"
        "  kind: flagfile\n"
        "  path: flags.json                # relative to this plan file\n"
        "  environment: production\n"
        "variations:\n"
        "  treatment: true\n"
        "  control: false\n"
        "stages:\n"
        "  # Each stage below 100% lasts long enough for its own split, at the quiet hour, to"
        " collect the\n"
        "  # information the power gate needs to rule out every guardrail's detect: regression"
        " at power\n"
        "  # 0.9 (earlier stages' evidence, pooled with scope: rollout, is a margin on top); at"
        " least\n"
        "  # 30m, rounded up. min_samples: the exposures the smaller cohort collects at the"
        " quiet hour in\n"
        "  # that time.\n"
        "  - percent: 50                   # --stages\n"
        "    min_duration: 45m             # error_rate: 6,000 requests/h x 2.00% at 50% → 40m"
        " to rule out +50% at power 0.9\n"
        "    min_samples: 1980             # requests: 50% of 6,000/h (quiet hour) for 40m\n"
        "  - percent: 100                  # --stages\n"
        "    min_duration: 1d              # a full daily cycle on everyone before done"
        " (a convention: no control left)\n"
        "metrics:\n"
        "  source:\n"
        "    kind: file\n"
        "    path: metrics.csv             # relative to this plan file\n"
        "  exposures: requests             # units per cohort: min_samples and the sample-ratio"
        " check\n"
        "guardrails:\n"
        "  - name: error_rate\n"
        "    kind: ratio\n"
        "    events: errors\n"
        "    trials: requests\n"
        "    direction: higher_is_worse\n"
        "    # history: errors 2.00% of requests, 12,000 requests/h on average, 6,000/h at the"
        " quiet\n"
        "    # hour, over 336h; hour-to-hour variance 1.00x binomial (overdispersion: the"
        " thresholds\n"
        "    # widen by its square root)\n"
        '    detect: "+50%"                # --detect: each stage below 100% can rule it out at'
        " power 0.9\n"
        "    thresholds:\n"
        f'      warn: "+42%"                # healthy noise crosses it {100 * healthy:.1f}% of'
        " the time (<= 5%) at a stage's end (sd 21.1% at the 50% stage); a +50% regression:"
        f" {100 * caught:.0f}%\n"
        '      pause: "+42%"               # significance-tested: pauses on evidence the'
        " treatment is beyond healthy noise\n"
        '      rollback: "+50%"            # significance-tested: rolls back on evidence of a'
        " regression beyond detect\n"
        "    significant: [pause, rollback]  # always-valid: false alarms <= alpha, however often"
        " checked\n"
        "statistics:\n"
        "  method: sequential              # always-valid tests: check as often as you like\n"
        "  alpha: 0.05                     # --alpha: chance of any false pause or rollback over"
        " the whole rollout\n"
        "  scope: rollout                  # evidence pools across stages\n"
        "  correction: holm                # across guardrails\n"
        "  power: 0.9                      # --power: the 50% stage holds until each detect:"
        " regression is ruled out\n"
    )
    assert f"{100 * healthy:.1f}" == "4.8" and f"{100 * caught:.0f}" == "60"


def test_rendered_plan_round_trips_through_load_plan(tmp_path: Path) -> None:
    draft, provenance, g = small_case()
    latency = GuardrailDraft(
        "p99_latency", "mean", UP, "+10%", 1.1, metric="latency_ms", scale="log"
    )
    conversion = GuardrailDraft("conversion", "ratio", DOWN, "-5%", 0.95, "orders", "checkouts")
    draft = PlanDraft(**{**draft.__dict__, "guardrails": (*draft.guardrails, latency, conversion)})
    inputs = [
        g,
        GuardrailInput("p99_latency", UP, 1.1, MeanProfile(336, math.log(300), 0.04, 12, True)),
        GuardrailInput("conversion", DOWN, 0.95, RatioProfile(336, 800, 1000, 0.3, 1.2, 1.2)),
    ]
    result = suggest(inputs, [1, 5, 25, 50, 100], 0.8, 10_000)
    path = tmp_path / "checkout.yaml"
    path.write_text(render_plan(draft, result, provenance))
    plan = load_plan(path).plan
    assert [s.percent for s in plan.stages] == [1, 5, 25, 50, 100]
    for stage, found in zip(plan.stages, result.stages, strict=True):
        assert stage.window == found.min_duration
        assert stage.min_samples == (found.min_samples or 0)
    for guardrail, found in zip(plan.guardrails, result.guardrails, strict=True):
        assert guardrail.tiers["warn"][0].factor == pytest.approx(found.warn)
        assert guardrail.tiers["pause"][0].factor == pytest.approx(found.pause)
        assert guardrail.tiers["rollback"][0].factor == pytest.approx(found.rollback)
        assert guardrail.detect_threshold is not None
        assert guardrail.detect_threshold.factor == pytest.approx(found.guardrail.detect)
        assert guardrail.significant == ["pause", "rollback"]
    assert plan.guardrails[2].direction is DOWN
    assert plan.guardrails[2].tiers["warn"][0].factor < 1
    assert plan.statistics.power == 0.8 and plan.statistics.alpha == 0.05
    assert plan.power_gated(3)  # the 50% stage


# --------------------------------------------------------------------------- the command


def write_history(path: Path, hours: int = 48) -> Path:
    """Hourly requests (1000 + 500 in the afternoon) and 1% errors, and 12 latencies per hour,
    for the control cohort, ending 2026-03-01T00:00Z."""
    end = datetime(2026, 3, 1, tzinfo=UTC)
    rng = np.random.default_rng(3)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["time", "cohort", "metric", "value"])
        for h in range(hours):
            at = end - timedelta(hours=hours - h)
            requests = 1000 + (500 if at.hour >= 12 else 0)
            out.writerow([at.isoformat(), "false", "requests", requests])
            out.writerow([at.isoformat(), "false", "errors", requests // 100 + h % 3])
            for k in range(12):
                when = at + timedelta(minutes=5 * k)
                out.writerow([when.isoformat(), "false", "latency_ms", rng.normal(200, 20)])
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


BASE = (
    "plan",
    "suggest",
    "checkout",
    "--metrics-source",
    "file",
    "--metrics-file",
    "metrics.csv",
    "--flag-file",
    "flags.json",
    "--at",
    "2026-03-01T00:00Z",
)


def test_command_on_the_file_source_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv")
    code, output = run(
        *BASE,
        "--ratio",
        "error_rate=errors/requests",
        "--mean",
        "latency=latency_ms",
        "--detect",
        "50%",
        "--stages",
        "10,50,100",
    )
    assert code == 0, output
    (tmp_path / "checkout.yaml").write_text(output)
    code, shown = run("validate", "checkout.yaml")
    assert code == 0, shown
    plan = load_plan(tmp_path / "checkout.yaml").plan
    assert [s.percent for s in plan.stages] == [10, 50, 100]
    assert plan.metrics.source.kind == "file" and plan.metrics.exposures == "requests"
    assert [g.name for g in plan.guardrails] == ["error_rate", "latency"]
    # 48 hours: 1000 requests in 24 of them, 1500 in the others: the 10th percentile is 1000
    assert "1,000 requests/h" in output and "over 48h" in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--ratio", "error_rate=errors"), "--ratio error_rate=errors: write NAME=EVENTS/TRIALS"),
        (("--ratio", "e=errors/requests", "--stages", "1,5,50"), "the last stage must be 100"),
        (("--ratio", "e=errors/requests", "--stages", "5,1,100"), "must rise strictly"),
        (("--ratio", "e=errors/requests", "--stages", "100"), "at least one stage below 100"),
        (("--ratio", "e=errors/requests", "--log", "e"), "only mean guardrails have a scale"),
        (("--ratio", "e=errors/requests", "--detect", "x=10%"), "no guardrail named 'x'"),
        (("--ratio", "e=errors/requests", "--detect", "-20%"), "points the better way"),
        (("--ratio", "e=errors/requests", "--lookback", "6h"), "at least 24h"),
        (("--ratio", "e=errors/requests", "--power", "0.4"), "--power 0.4"),
        (("--ratio", "e=errors/requests", "--header", "X=Y"), "--header is for json"),
        (("--ratio", "e=errors/requests", "--region", "eu-west-1"), "--region is for cloudwatch"),
        (
            ("--ratio", "e=errors/requests", "--endpoint-url", "http://127.0.0.1:9"),
            "--endpoint-url is for cloudwatch",
        ),
        ((), "give at least one guardrail"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run(*BASE, *extra)
    assert code == 2, output
    assert message in " ".join(output.split())


def test_missing_queries_url_and_flag_file_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_URL", "http://127.0.0.1:9")
    options = SuggestOptions(
        flag="checkout",
        metrics_source="prometheus",
        ratios=("error_rate=errors/requests",),
        queries=('requests=sum(x{v="{cohort}"})',),
        flag_file="flags.json",
    )
    with pytest.raises(InvalidInputError, match=r"no --query for errors \(read by guardrail"):
        build_request(options, datetime(2026, 3, 1, tzinfo=UTC))
    monkeypatch.delenv("PROMETHEUS_URL")
    with pytest.raises(InvalidInputError, match=r"--url URL \(or PROMETHEUS_URL\)"):
        build_request(options, datetime(2026, 3, 1, tzinfo=UTC))
    options = SuggestOptions(
        flag="checkout", metrics_source="file", metrics_file="m.csv", ratios=("e=a/b",)
    )
    with pytest.raises(InvalidInputError, match="needs --flag-file PATH"):
        build_request(options, datetime(2026, 3, 1, tzinfo=UTC))


def test_no_data_and_short_history_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv", hours=20)
    code, output = run(*BASE, "--ratio", "error_rate=errors/requests")
    assert code == 3, output
    assert "guardrail error_rate: only 20h of history with trials; need at least 24h" in (
        " ".join(output.split())
    )
    code, output = run(*BASE, "--ratio", "error_rate=failures/requests")
    assert code == 3, output
    assert "no data for failures ({cohort} = false) in the last 14d" in " ".join(output.split())


def test_json_headers_and_cloudwatch_endpoint_options_reach_the_source() -> None:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    json_options = SuggestOptions(
        flag="checkout",
        metrics_source="json",
        url="https://metrics.example.com/api?m={metric}&c={cohort}",
        headers=("Authorization=METRICS_AUTH", "X-Team=TEAM_HEADER"),
        ratios=("e=errors/requests",),
        queries=("errors=data[]", "requests=data[]"),
        flag_file="flags.json",
    )
    source = build_request(json_options, end).draft.source
    assert source.kind == "json"
    assert source.headers_env == {"Authorization": "METRICS_AUTH", "X-Team": "TEAM_HEADER"}
    for headers, message in (
        (("Authorization",), "--header 'Authorization': write NAME=VALUE"),
        (("A=B", "A=C"), "--header 'A' is given twice"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            build_request(replace(json_options, headers=headers), end)
    cloudwatch = SuggestOptions(
        flag="checkout",
        metrics_source="cloudwatch",
        region="eu-west-1",
        endpoint_url="https://monitoring.eu-west-1.amazonaws.com",
        ratios=("e=errors/requests",),
        queries=("errors=App Errors Sum Variant={cohort}", "requests=App Requests Sum V={cohort}"),
        flag_file="flags.json",
    )
    source = build_request(cloudwatch, end).draft.source
    assert source.kind == "cloudwatch"
    assert (source.region, source.endpoint_url) == (
        "eu-west-1",
        "https://monitoring.eu-west-1.amazonaws.com",
    )
