"""Plan numbers from history: the math behind ``rollout plan suggest`` (pure, no I/O).

Before a rollout nobody is served the treatment, so the only history there is belongs to
the whole population (what metrics label as the control cohort). From one value per hour of
each metric over the lookback, this module works out what a plan can promise and sets the
plan's numbers from it.

**What the history says** (per guardrail):

* *Traffic*: trials (requests) per hour at a quiet hour, the 10th percentile of the hourly
  counts. A stage's window must deliver its information whenever it runs, nights included;
  sized on the mean rate it would fall short at quiet hours, and the power gate would then
  hold past ``min_duration``. The 10th percentile, not the minimum, so one outage or holiday
  hour does not set the pace of every rollout.
* *Ratio* (errors / requests): the base rate ``p = Σ events / Σ trials`` and the
  overdispersion ``φ``: how much more the hourly rate varies than binomial noise explains,
  measured on successive hours so a slow daily swing of the rate is not counted::

      φ = Σ (p̂ᵢ - p̂ᵢ₊₁)² / Σ p(1-p)(1/nᵢ + 1/nᵢ₊₁),  at least 1.

  Whole-population history cannot tell excess variance that hits both cohorts alike (which
  the cohort comparison cancels) from variance specific to units (a few heavy users, which
  it does not); the thresholds assume the latter and widen by √φ. The windows do not: they
  are what the tool's power gate will count (binomial information), see below.
* *Mean* (latency, a score): the level ``μ`` and the variance ``V`` of the per-step values
  (of ln(value) on ``scale: log``) over the whole lookback: with one value per step and
  interval, the tool's sequential test pools its variance over its whole evidence window,
  which for a rollout of a day or more spans the same daily cycle. A cohort with a share
  ``s`` of the traffic measures each value on fewer requests, so its values vary as ``V/s``
  (all variance is taken as sampling noise: conservative at small shares). Values per hour
  are the 10th percentile of the hourly counts of values.

**Windows** (``min_duration`` of each stage below 100%). The power gate holds a stage until
the guardrail's ``detect:`` regression is ruled out at ``statistics.power``; in half of
healthy rollouts that takes the information ``I`` of :mod:`sequential`'s
``ruling_out_information(d, 1 - power)`` for ratios and
``information_needed(d, d, 1 - power)`` for means (``d`` the detect effect: ``|ln factor|``
for ratios and log-scale means, ``|factor - 1|·μ`` for linear means), the very calls
:mod:`evidence` makes. A stage's window is the time its own split ``s`` takes to collect
``I`` at the quiet-hour rate, for the slowest guardrail::

    ratio:        hours = I / (quiet trials/h · p · s(1-s))           (Σ e·s(1-s), per hour)
    mean, log:    hours = I · (V/s + V/(1-s)) / values per hour
    mean, linear: hours = I · (V/s + f²·V/(1-s)) / values per hour    (f the detect factor)

Each stage on its own: a regression that only appears at scale (a cache that saturates at
25%) must be caught at the stage where it appears. With ``scope: rollout`` the evidence of
earlier stages adds to this, a margin. The window is then at least ``--min-window`` (30m by
default: six values of a 5-minute metric, past scrape and ``rate()`` lag, and long enough for
effects that build over minutes: caches, pools, retries) and rounded up to a readable grain:
15 minutes up to 1h, 30 minutes up to 6h, whole hours beyond. ``min_samples`` is what the
smaller cohort collects of the exposures counter at the quiet-hour rate in the time the
calculation needs (before rounding), so a stage run on less traffic than history's quiet
hour holds until it has the information. The 100% stage gets a day (a convention: a full
daily cycle on everyone before ``done``; there is no control left to compare with).

**Thresholds** (per guardrail, on the effect's scale: log rate ratio, log ratio of geometric
means, or relative difference of linear means). ``sigma`` is the healthy standard error of the
effect estimate at the end of a stage's window (quiet-hour traffic, ``times √φ`` for ratios),
taken at the noisiest stage below 100%::

    ratio:        sigma² = φ / (quiet trials/h · p · s(1-s) · hours)
    mean, log:    sigma² = (V/s + V/(1-s)) / (values per hour · hours)
    mean, linear: sigma² = (V/s + V/(1-s)) / (values per hour · hours) / μ²

* ``warn`` = ``z(0.95)·sigma``, rounded outwards to a readable percentage: healthy noise at a
  stage's end crosses it at most 5% of the time; a regression of the detect size crosses it
  with probability ``Φ((d - warn)/sigma)``, which the comment states. It acts on the point
  estimate and never blocks.
* ``pause`` = the same band, *significance-tested*: the rollout pauses once the always-valid
  evidence says the treatment is worse than healthy noise explains.
* ``rollback`` = the detect size (or the band, if wider), significance-tested: evidence of a
  regression beyond what the plan asked to detect rolls back.

Pause and rollback are listed under ``significant:`` because a tier judged on the point
estimate is checked again and again from a stage's first few events, when the estimate is
far noisier than at the window's end: healthy canaries would pause. Significance-tested
tiers keep their false-alarm chance at ``alpha`` over the whole rollout however often the
rollout is checked, whatever the threshold. A regression of the detect size that the tiers
do not stop is held at the power gate before 100%, with probability ``power``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import timedelta
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rolloutcli.stats import sequential as sq
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.dispersion import successive_dispersion
from rolloutcli.stats.moments import Array, MomentSeries

TRAFFIC_QUANTILE = 0.10
"""The hour of traffic stages are sized on: the 10th percentile of hourly counts."""
WARN_NOISE = 0.05
"""Chance that healthy noise crosses ``warn`` at the end of a stage's window."""
MIN_HISTORY_HOURS = 24
"""Hours with data a metric needs: one daily cycle."""
DEFAULT_MIN_WINDOW = timedelta(minutes=30)
LAST_STAGE_WINDOW = timedelta(days=1)
"""The 100% stage: a full daily cycle on everyone before ``done``."""
WARN_Z = NormalDist().inv_cdf(1 - WARN_NOISE)
BoolArray = NDArray[np.bool_]


class HistoryProblem(ValueError):
    """The history cannot size a plan (no data, too little, no events, no variation)."""


# ------------------------------------------------------------------ what history says


@dataclass(frozen=True)
class RatioProfile:
    """A ratio metric's history: traffic, base rate and overdispersion."""

    hours: int
    """Hours with trials."""
    quiet_rate: float
    """Trials per hour at the quiet hour (the ``TRAFFIC_QUANTILE`` of hourly trials)."""
    mean_rate: float
    """Trials per hour on average."""
    base_rate: float
    """Σ events / Σ trials."""
    dispersion: float
    """φ: hourly variance of the rate over binomial variance, successive hours, at least 1."""
    raw_dispersion: float
    """φ before flooring at 1."""


@dataclass(frozen=True)
class MeanProfile:
    """A mean metric's history: level, variance and values per hour (of ln values on log)."""

    hours: int
    """Hours with values."""
    level: float
    """Mean of the values (of ln(value) on scale: log)."""
    variance: float
    """Variance of the per-step values over the whole history (whole population)."""
    values_per_hour: float
    """Values per hour at the quiet hour (the ``TRAFFIC_QUANTILE`` of hourly counts)."""
    log: bool


Profile = RatioProfile | MeanProfile


def _as_array(values: ArrayLike) -> Array:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def quiet_rate(counts: ArrayLike, quantile: float = TRAFFIC_QUANTILE) -> float:
    """The ``quantile`` of the hourly counts that carry data (NaN skipped; numpy's linear
    interpolation between order statistics)."""
    values = _as_array(counts)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise HistoryProblem("no hours with data")
    return float(np.quantile(values, quantile))


def ratio_profile(
    events: ArrayLike, trials: ArrayLike, quantile: float = TRAFFIC_QUANTILE
) -> RatioProfile:
    """What hourly events and trials say. An hour with trials but no events data counts 0
    events (a counter appears at its first increment); hours without trials are skipped."""
    e, n = _as_array(events), _as_array(trials)
    if e.size != n.size:
        raise ValueError("events and trials must have one value per hour each")
    has_trials = np.isfinite(n) & (n > 0)
    e = np.where(np.isnan(e) & has_trials, 0.0, e)
    ok = has_trials & np.isfinite(e)
    hours = int(ok.sum())
    if hours < MIN_HISTORY_HOURS:
        raise HistoryProblem(
            f"only {hours}h of history with trials; need at least {MIN_HISTORY_HOURS}h "
            "(one daily cycle)"
        )
    total_e, total_n = float(e[ok].sum()), float(n[ok].sum())
    if total_e <= 0:
        raise HistoryProblem(
            f"no events in {hours}h of history: a rate of 0 cannot size a relative "
            "regression (check the events query, or guard it with an absolute limit)"
        )
    p = total_e / total_n
    raw = dispersion(e, n, p, ok)
    return RatioProfile(
        hours=hours,
        quiet_rate=quiet_rate(n[ok], quantile),
        mean_rate=total_n / hours,
        base_rate=p,
        dispersion=max(1.0, raw),
        raw_dispersion=raw,
    )


def dispersion(events: Array, trials: Array, rate: float, ok: BoolArray) -> float:
    """φ on successive hours (both with data); 1 when no two successive hours have data.
    The same estimator the verdict applies to the control (:mod:`dispersion`)."""
    return successive_dispersion(events, trials, rate, ok).factor


def mean_profile(
    moments: MomentSeries, log: bool, quantile: float = TRAFFIC_QUANTILE
) -> MeanProfile:
    """What hourly moments of a metric's per-step values say (already of ln values on log)."""
    n, total, total_sq = moments.n, moments.total, moments.total_sq
    ok = np.isfinite(n) & (n > 0) & np.isfinite(total) & np.isfinite(total_sq)
    hours = int(ok.sum())
    if hours < MIN_HISTORY_HOURS:
        raise HistoryProblem(
            f"only {hours}h of history with values; need at least {MIN_HISTORY_HOURS}h "
            "(one daily cycle)"
        )
    count = float(n[ok].sum())
    level = float(total[ok].sum()) / count
    spread = float(np.sum(total_sq[ok])) - count * level * level
    variance = max(spread, 0.0) / (count - 1) if count > 1 else 0.0
    if not variance > 0:
        raise HistoryProblem(
            "the values never vary over the history: a constant metric cannot be sized"
        )
    if not log and level == 0:
        raise HistoryProblem("the values average 0: a relative change of 0 is undefined")
    return MeanProfile(hours, level, variance, quiet_rate(n[ok], quantile), log)


# ------------------------------------------------------------------ one guardrail's sizing


@dataclass(frozen=True)
class GuardrailInput:
    """One guardrail to size: its name, direction, detect factor and history."""

    name: str
    direction: Direction
    detect: float
    """The detect regression as a factor of control (1.2 for +20%, 0.95 for -5%)."""
    profile: Profile

    @property
    def kind(self) -> Literal["ratio", "mean"]:
        return "ratio" if isinstance(self.profile, RatioProfile) else "mean"

    @property
    def log_scale(self) -> bool:
        """Effects on the log scale: rate ratios, and means on scale: log."""
        return isinstance(self.profile, RatioProfile) or self.profile.log


def detect_effect(g: GuardrailInput) -> float:
    """``d``: the detect regression in the units the sequential test uses (as evidence.py)."""
    if g.log_scale:
        return abs(math.log(g.detect))
    assert isinstance(g.profile, MeanProfile)
    return abs(g.detect - 1) * abs(g.profile.level)


def information_needed(g: GuardrailInput, power: float) -> float:
    """The information at which the power gate expects to rule out ``detect`` (the same
    call :func:`rolloutcli.judge.evidence.assess` makes: for rates the point likelihood ratio's
    median, for means the mixture with scale = the effect itself)."""
    effect = detect_effect(g)
    if g.kind == "ratio":
        return sq.ruling_out_information(effect, 1 - power)
    return sq.information_needed(effect, effect, 1 - power)


def information_rate(g: GuardrailInput, share: float) -> float:
    """Information per hour at treatment share ``share``, at the quiet hour."""
    s = share
    p = g.profile
    if isinstance(p, RatioProfile):
        return p.quiet_rate * p.base_rate * s * (1 - s)
    factor = 1.0 if p.log else g.detect
    per_value = 1.0 / (p.variance / s + factor * factor * p.variance / (1 - s))
    return p.values_per_hour * per_value


def hours_needed(g: GuardrailInput, share: float, power: float) -> float:
    """Hours share ``share`` needs, on its own, to collect :func:`information_needed`."""
    return information_needed(g, power) / information_rate(g, share)


def noise(g: GuardrailInput, share: float, hours: float) -> float:
    """sigma: healthy standard error of the effect estimate (log ratio, or relative difference
    for linear means) after ``hours`` at share ``share``, at the quiet hour."""
    s = share
    p = g.profile
    if isinstance(p, RatioProfile):
        return math.sqrt(p.dispersion / (p.quiet_rate * p.base_rate * s * (1 - s) * hours))
    spread = math.sqrt((p.variance / s + p.variance / (1 - s)) / (p.values_per_hour * hours))
    return spread if p.log else spread / abs(p.level)


# ------------------------------------------------------------------ readable numbers


def round_window(hours: float, floor: timedelta = DEFAULT_MIN_WINDOW) -> timedelta:
    """At least ``floor``, rounded up to 15 minutes (up to 1h), 30 minutes (up to 6h), or
    whole hours beyond."""
    seconds = max(hours * 3600.0, floor.total_seconds())
    grain = 900 if seconds <= 3600 else 1800 if seconds <= 6 * 3600 else 3600
    return timedelta(seconds=grain * math.ceil(seconds / grain - 1e-9))


def round_percent_out(percent: float) -> float:
    """A percentage rounded away from zero to a readable grain: 0.1 below 1%, 0.5 below
    10%, whole percents from there."""
    grain = 0.1 if percent < 1 else 0.5 if percent < 10 else 1.0
    return round(grain * math.ceil(percent / grain - 1e-9), 1)


def round_count_up(value: float) -> int:
    """Up to three significant digits: 18,340.2 → 18,400; 183.1 → 184."""
    if value <= 0:
        return 0
    digits = max(0, math.floor(math.log10(value)) - 2)
    unit = 10**digits
    return int(unit * math.ceil(value / unit - 1e-9))


def band_factor(g: GuardrailInput, sigma: float) -> float:
    """The factor of control at ``warn``: ``z(0.95)·sigma`` out in the worse direction, rounded
    to a readable percentage."""
    width = WARN_Z * sigma
    worse_up = g.direction is Direction.HIGHER_IS_WORSE
    raw = width
    if g.log_scale:
        raw = math.exp(width) - 1 if worse_up else 1 - math.exp(-width)
    percent = round_percent_out(100 * raw)
    if not worse_up:
        percent = min(percent, 99.0)
    return 1 + percent / 100 if worse_up else 1 - percent / 100


def factor_effect(g: GuardrailInput, factor: float) -> float:
    """How far ``factor`` lies from 1 on the effect's scale (log, or relative)."""
    return abs(math.log(factor)) if g.log_scale else abs(factor - 1)


# ------------------------------------------------------------------ the plan's numbers


@dataclass(frozen=True)
class StageNeed:
    guardrail: str
    hours: float
    """Hours the stage's own split needs to collect the guardrail's information."""
    information: float
    information_rate: float


@dataclass(frozen=True)
class StageSuggestion:
    percent: float
    min_duration: timedelta
    min_samples: int | None
    """None at 100% (no control, no power calculation)."""
    needs: tuple[StageNeed, ...]
    """Per guardrail, below 100%."""
    hours: float
    """The slowest guardrail's hours (0 without guardrails)."""
    floored: bool
    """The window is ``min_window``, longer than any guardrail needs."""

    @property
    def binding(self) -> StageNeed | None:
        return max(self.needs, key=lambda n: n.hours, default=None)


@dataclass(frozen=True)
class GuardrailSuggestion:
    guardrail: GuardrailInput
    warn: float
    """Factors of control; pause equals warn, rollback is max(detect, warn) outwards."""
    pause: float
    rollback: float
    sigma: float
    """Healthy sigma at the noisiest stage's window end."""
    sigma_percent: float
    """The stage sigma was taken at."""
    detect_crosses_warn: float
    """Chance a regression of the detect size crosses warn at that stage's window end."""
    healthy_crosses_warn: float
    """Chance healthy noise crosses warn there (at most ``WARN_NOISE``)."""


@dataclass(frozen=True)
class Suggestion:
    stages: tuple[StageSuggestion, ...]
    guardrails: tuple[GuardrailSuggestion, ...]
    power: float
    min_window: timedelta
    exposures_quiet_rate: float | None


def suggest(
    guardrails: list[GuardrailInput],
    percents: list[float],
    power: float,
    exposures_quiet_rate: float | None,
    min_window: timedelta = DEFAULT_MIN_WINDOW,
) -> Suggestion:
    """Stages and thresholds for ``guardrails`` over stages at ``percents`` (the last 100).

    ``exposures_quiet_rate`` is the exposures counter per hour at the quiet hour (for
    ``min_samples``; None leaves min_samples out)."""
    if not percents or percents[-1] != 100:
        raise ValueError("the last stage must be at 100%")
    if any(not 0 < p <= 100 for p in percents) or any(
        b <= a for a, b in itertools.pairwise(percents)
    ):
        raise ValueError("stage percentages must rise strictly within (0, 100]")
    if not 0.5 < power < 1:
        raise ValueError("power must be between 0.5 and 1")
    if len(percents) < 2:
        raise ValueError("give at least one stage below 100%: it is where cohorts compare")
    stages: list[StageSuggestion] = []
    for percent in percents:
        if percent >= 100:
            stages.append(StageSuggestion(percent, LAST_STAGE_WINDOW, None, (), 0.0, False))
            continue
        share = percent / 100
        needs = tuple(
            StageNeed(
                g.name,
                hours_needed(g, share, power),
                information_needed(g, power),
                information_rate(g, share),
            )
            for g in guardrails
        )
        hours = max((n.hours for n in needs), default=0.0)
        window = round_window(hours, min_window)
        samples = None
        if exposures_quiet_rate is not None:
            samples = round_count_up(min(share, 1 - share) * exposures_quiet_rate * hours)
        floored = hours * 3600 < min_window.total_seconds()
        stages.append(StageSuggestion(percent, window, samples, needs, hours, floored))
    partial = [s for s in stages if s.percent < 100]
    return Suggestion(
        stages=tuple(stages),
        guardrails=tuple(_thresholds(g, partial) for g in guardrails),
        power=power,
        min_window=min_window,
        exposures_quiet_rate=exposures_quiet_rate,
    )


def _thresholds(g: GuardrailInput, partial: list[StageSuggestion]) -> GuardrailSuggestion:
    """warn/pause at the healthy band of the noisiest stage, rollback at detect (or the band)."""
    sigma, at = max(
        (noise(g, s.percent / 100, s.min_duration.total_seconds() / 3600), s.percent)
        for s in partial
    )
    warn = band_factor(g, sigma)
    worse_up = g.direction is Direction.HIGHER_IS_WORSE
    rollback = max(g.detect, warn) if worse_up else min(g.detect, warn)
    d = factor_effect(g, g.detect)
    w = factor_effect(g, warn)
    unit = NormalDist()
    return GuardrailSuggestion(
        guardrail=g,
        warn=warn,
        pause=warn,
        rollback=rollback,
        sigma=sigma,
        sigma_percent=at,
        detect_crosses_warn=unit.cdf((d - w) / sigma),
        healthy_crosses_warn=1 - unit.cdf(w / sigma),
    )
