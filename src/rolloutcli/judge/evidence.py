"""Sequential evidence for one guardrail: which test each threshold gets, on what scale.

Pure: it maps a guardrail's thresholds and its per-interval series onto the e-processes of
:mod:`sequential`, and inverts them into always-valid bounds on the effect. Deciding which
tier fires (with the correction across guardrails) is :mod:`guardrails`' job.

Effects, per guardrail kind:

* ratio (errors / requests): the rate ratio θ = treatment rate / control rate; ``+10%``
  tests θ ≤ 1.1, ``2x`` tests θ ≤ 2. Bounds are shown as relative changes (θ - 1).
* mean, ``scale: linear``: ``+10%`` tests μt ≤ 1.1·μc; bounds on μt - μc.
* mean, ``scale: log``: the series hold moments of ln(value); ``+10%`` tests the ratio of
  geometric means ≤ 1.1, i.e. mean log difference ≤ ln 1.1. Bounds as relative changes.
* percentage points (``+2pp``, proportions only): the difference pt - pc against the
  margin (:func:`sequential.proportion_difference_evidence` for ratios; the mean test with
  ``delta0`` for ``unit: ratio`` / ``percent`` means). Bounds on the difference.
* absolute limits: the treatment alone against the limit (one-sample tests).
* per-unit ratios (one row per user, :mod:`unitratio`): each interval's ratio of sums with
  the delta method's variance, through the mean tests (``+10%`` tests Rt ≤ 1.1·Rc).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from rolloutcli.judge.observations import MeanSeries, Observation, RatioSeries
from rolloutcli.plan.fields import Tier
from rolloutcli.plan.model import MeanGuardrail, RatioGuardrail
from rolloutcli.plan.thresholds import Threshold, ThresholdKind
from rolloutcli.stats import sequential as sq
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.dispersion import Dispersion
from rolloutcli.stats.moments import Array, MomentSeries
from rolloutcli.stats.unitratio import linearized

Guardrail = RatioGuardrail | MeanGuardrail


@dataclass(frozen=True)
class ThresholdEvidence:
    tier: Tier
    threshold: Threshold
    evidence: sq.Evidence


@dataclass(frozen=True)
class Bounds:
    """Always-valid bounds on the effect at one level (each side one-sided)."""

    low: float | None
    high: float | None
    relative: bool  # True: relative change (θ - 1); False: a difference in metric units


@dataclass(frozen=True)
class Assessment:
    """Every sequential test of one guardrail, over the evidence window."""

    thresholds: tuple[ThresholdEvidence, ...]
    ruled_out: sq.Evidence | None
    """Evidence against the plan's ``detect`` regression (None without detect: or data)."""
    information: float
    information_needed: float | None
    """Information at which ``detect`` is ruled out in half of the rollouts with no true
    effect (None without detect:)."""
    estimate: float | None
    relative: bool
    guard: sq.Evidence | None = None
    """Evidence that the treatment is worse than control by at least half the least
    severe threshold judged on its point estimate (:func:`guard_factor`): what such a tier
    must show before it acts. None without such a tier, or without a control."""
    dispersion: Dispersion | None = None
    """How much more the split of events between the cohorts varies between intervals
    than independent requests would (ratio guardrails with a control; None otherwise)."""


def guarded(g: Guardrail, kind: ThresholdKind | None = None) -> list[Threshold]:
    """The thresholds relative to control of tiers not tested for significance: they act
    on their point estimate once the guard (:func:`guard_factor`) is passed. ``kind``
    keeps those of one kind only (the points ones have a guard of their own)."""
    return [
        t
        for tier, thresholds in g.tiers.items()
        if tier not in g.significant
        for t in thresholds
        if t.kind is not ThresholdKind.ABSOLUTE and (kind is None or t.kind is kind)
    ]


def guard_factor(g: Guardrail) -> float | None:
    """Half the change of the least severe guarded threshold, as a factor on control
    (``+50%`` → 1.25, ``-5%`` → 0.975, ``2x`` → 1.5); None when nothing is guarded.

    Why half: a treatment no worse than control sits far from it, so noise alone cannot
    pass the guard however often it is checked, while a treatment truly at the threshold
    passes it once the data tell it from half-way there."""
    factors = [t.factor for t in guarded(g) if t.kind is not ThresholdKind.POINTS]
    if not factors:
        return None
    least = min(factors, key=lambda f: abs(f - 1))
    return 1 + (least - 1) / 2


def guard_points(g: Guardrail) -> float | None:
    """Half the margin of the least severe guarded threshold in percentage points, in the
    metric's units (``+2pp`` → 0.01 on a ratio); None when none is guarded. The points
    analogue of :func:`guard_factor`."""
    margins = [t.value for t in guarded(g, ThresholdKind.POINTS)]
    if not margins:
        return None
    return min(margins, key=abs) / 2


def _combined_guard(*found: sq.Evidence | None) -> sq.Evidence | None:
    """One guard from the relative one and the points one: with both, the weaker (a tier
    of either kind acts only once both show the treatment worse)."""
    present = [e for e in found if e is not None]
    return min(present, key=lambda e: e.max_e_value, default=None)


def _sign(direction: Direction) -> int:
    return 1 if direction is Direction.HIGHER_IS_WORSE else -1


def assess(
    guardrail: Guardrail, obs: Observation, beta: float, control_expected: bool
) -> Assessment | None:
    """The sequential tests of ``guardrail`` on ``obs.series`` (None without a series)."""
    series = obs.series
    if series is None:
        return None
    if isinstance(series, RatioSeries) and isinstance(guardrail, RatioGuardrail):
        return _assess_ratio(guardrail, series, beta, control_expected)
    if isinstance(series, MeanSeries) and isinstance(guardrail, MeanGuardrail):
        return _assess_mean(guardrail, series, beta, control_expected)
    return None


def _detect_factor(guardrail: Guardrail) -> float | None:
    found = guardrail.detect_threshold
    return found.factor if found is not None else None


# ------------------------------------------------------------------ ratios


def _assess_ratio(
    g: RatioGuardrail, series: RatioSeries, beta: float, control_expected: bool
) -> Assessment:
    units = unit_series(series)
    if units is not None:
        return _assess_unit_ratio(g, series, units, beta, control_expected)
    d = _sign(g.direction)
    et, nt, ec, nc = sq.clean_rate_arrays(
        series.treatment_events,
        series.treatment_trials,
        series.control_events,
        series.control_trials,
    )
    detect = _detect_factor(g)
    tests: list[ThresholdEvidence] = []
    for tier, thresholds in g.tiers.items():
        for t in thresholds:
            if t.kind is ThresholdKind.ABSOLUTE:
                if 0 < t.value < 1:
                    ev = sq.one_sample_rate_evidence(
                        series.treatment_events, series.treatment_trials, t.value, d
                    )
                    tests.append(ThresholdEvidence(tier, t, ev))
            elif control_expected and t.kind is ThresholdKind.POINTS:
                ev = sq.proportion_difference_evidence(et, nt, ec, nc, t.value, d).evidence
                tests.append(ThresholdEvidence(tier, t, ev))
            elif control_expected:
                ev = sq.rate_ratio_evidence(et, nt, ec, nc, t.factor, d, detect=detect)
                tests.append(ThresholdEvidence(tier, t, ev))
    ruled_out = None
    needed = None
    information = sq.rate_information(et, nt, ec, nc)
    if detect is not None and control_expected:
        ruled_out = sq.rate_ruling_out_evidence(et, nt, ec, nc, detect)
        needed = sq.ruling_out_information(abs(math.log(detect)), beta)
    guard = None
    half = guard_factor(g)
    if half is not None and control_expected:
        guard = sq.rate_ratio_evidence(et, nt, ec, nc, half, d, detect=2 * half - 1)
    points = guard_points(g)
    if points is not None and control_expected:
        found = sq.proportion_difference_evidence(et, nt, ec, nc, points, d).evidence
        guard = _combined_guard(guard, found)
    estimate = _ratio_estimate(g, et, nt, ec, nc)
    spread = sq.rate_dispersion(et, nt, ec, nc) if control_expected and et.size else None
    relative = not g.in_points
    return Assessment(
        tuple(tests), ruled_out, information, needed, estimate, relative, guard, spread
    )


def _ratio_estimate(g: RatioGuardrail, et: Array, nt: Array, ec: Array, nc: Array) -> float | None:
    """The change in the ratio of sums: in points, or relative to control."""
    t_events, c_events = float(et.sum()), float(ec.sum())
    t_trials, c_trials = float(nt.sum()), float(nc.sum())
    if g.in_points and t_trials > 0 and c_trials > 0:
        return t_events / t_trials - c_events / c_trials
    if t_trials > 0 and c_trials > 0 and c_events > 0:
        return (t_events / t_trials) / (c_events / c_trials) - 1
    return None


def unit_series(series: RatioSeries) -> MeanSeries | None:
    """A per-unit ratio's series as the moments of its linearised values (the delta
    method, :func:`unitratio.linearized`); None for request counts."""
    if series.treatment_units is None:
        return None
    treatment = linearized(series.treatment_units)
    control_units = series.control_units
    if control_units is None:
        empty = np.full(len(treatment.n), np.nan)
        return MeanSeries(treatment, MomentSeries(empty, empty.copy(), empty.copy()))
    return MeanSeries(treatment, linearized(control_units))


def _assess_unit_ratio(
    g: RatioGuardrail,
    series: RatioSeries,
    units: MeanSeries,
    beta: float,
    control_expected: bool,
) -> Assessment:
    """The mean tests on the linearised values; the estimate is the ratio's change. No
    dispersion: it measures how far the binomial test's independent requests are off,
    and this test does not assume them (its spread is the users')."""
    found = _assess_mean(g, units, beta, control_expected)
    et, nt, ec, nc = sq.clean_rate_arrays(
        series.treatment_events,
        series.treatment_trials,
        series.control_events,
        series.control_trials,
    )
    estimate = _ratio_estimate(g, et, nt, ec, nc)
    return replace(found, estimate=estimate, relative=not g.in_points, dispersion=None)


def ratio_bounds(g: RatioGuardrail, series: RatioSeries, alpha: float) -> Bounds:
    """Always-valid bounds on the relative change θ - 1 at level ``alpha`` per side."""
    et, nt, ec, nc = sq.clean_rate_arrays(
        series.treatment_events,
        series.treatment_trials,
        series.control_events,
        series.control_trials,
    )
    if et.size == 0:
        return Bounds(None, None, not g.in_points)
    units = unit_series(series)
    if units is not None:
        return _unit_ratio_bounds(g, units, alpha)
    if g.in_points:
        margin = min((t.value for t in g.points_thresholds), key=abs)
        found = sq.proportion_difference_evidence(et, nt, ec, nc, 0.0, 1, margin)
        return _difference_bounds(found, abs(margin) or None, alpha)
    center = sq.mixture_center(1.0, _detect_factor(g))

    def against_lower(log_theta: float) -> float:
        return sq.log_rate_evidence_now(et, nt, ec, nc, math.exp(log_theta), 1, center)

    def against_higher(log_theta: float) -> float:
        return sq.log_rate_evidence_now(et, nt, ec, nc, math.exp(log_theta), -1, center)

    lo = sq.bound(against_lower, alpha, math.log(1e-3), math.log(1e3), rising=False, iterations=18)
    hi = sq.bound(against_higher, alpha, math.log(1e-3), math.log(1e3), rising=True, iterations=18)
    return Bounds(
        math.exp(lo) - 1 if lo is not None else None,
        math.exp(hi) - 1 if hi is not None else None,
        True,
    )


def _unit_ratio_bounds(g: RatioGuardrail, units: MeanSeries, alpha: float) -> Bounds:
    """Bounds for a per-unit ratio: on Rt - Rc in points, else on Rt/Rc - 1, found as the
    ratios θ whose null ``Rt - θ·Rc = 0`` the mean test does not reject now."""
    tau = _tau(g, units)
    if g.in_points:
        return _difference_bounds(_compare(units, 0.0, 1.0, 1, tau), tau, alpha)

    def evidence_at(log_theta: float, direction: int) -> float:
        ev = _compare(units, 0.0, math.exp(log_theta), direction, tau).evidence
        return math.log(max(ev.e_value, 1e-300))

    span = math.log(1e-3), math.log(1e3)
    lo = sq.bound(lambda x: evidence_at(x, 1), alpha, *span, rising=False, iterations=18)
    hi = sq.bound(lambda x: evidence_at(x, -1), alpha, *span, rising=True, iterations=18)
    return Bounds(
        math.exp(lo) - 1 if lo is not None else None,
        math.exp(hi) - 1 if hi is not None else None,
        True,
    )


# ------------------------------------------------------------------ means


def _log_scale(g: Guardrail) -> bool:
    return isinstance(g, MeanGuardrail) and g.scale == "log"


def _tau(g: Guardrail, series: MeanSeries) -> float | None:
    """Mixture scale: the detect: effect in the test's units, else the module default (for
    a per-unit ratio, as for the rate test: a +50% change)."""
    factor = _detect_factor(g)
    if factor is None and g.is_ratio:
        factor = 1.5
    if factor is None:
        return None
    if _log_scale(g):
        return abs(math.log(factor))
    n = series.control.n
    total = series.control.total
    ok = (n > 0) & (n == n)
    count = float(n[ok].sum())
    if count <= 0:
        return None
    mean = abs(float(total[ok].sum()) / count)
    return abs(factor - 1) * mean if mean > 0 else None


def _assess_mean(
    g: Guardrail, series: MeanSeries, beta: float, control_expected: bool
) -> Assessment:
    d = _sign(g.direction)
    log = _log_scale(g)
    tau = _tau(g, series)

    def compare(delta0: float, factor: float, direction: int) -> sq.MeanEvidence:
        return _compare(series, delta0, factor, direction, tau)

    tests: list[ThresholdEvidence] = []
    information = 0.0
    for tier, thresholds in g.tiers.items():
        for t in thresholds:
            if t.kind is ThresholdKind.ABSOLUTE:
                if log and t.value <= 0:
                    continue
                limit = math.log(t.value) if log else t.value
                ev = sq.one_sample_mean_evidence(series.treatment, limit, d, tau)
                tests.append(ThresholdEvidence(tier, t, ev))
            elif control_expected:
                delta0, factor = (math.log(t.factor), 1.0) if log else (0.0, t.factor)
                if t.kind is ThresholdKind.POINTS:  # validated: linear scale only
                    delta0, factor = t.value, 1.0
                ev, _, information, _ = compare(delta0, factor, d)
                tests.append(ThresholdEvidence(tier, t, ev))
    detect = _detect_factor(g)
    ruled_out = None
    needed = None
    if detect is not None and control_expected:
        delta0, factor = (math.log(detect), 1.0) if log else (0.0, detect)
        ruled_out, _, information, _ = compare(delta0, factor, -d)
        effect = abs(math.log(detect)) if log else (tau or 0.0)
        if effect > 0:
            needed = sq.information_needed(effect, effect, beta)
    guard = None
    half = guard_factor(g)
    if half is not None and control_expected and (half > 0 or not log):
        delta0, factor = (math.log(half), 1.0) if log else (0.0, half)
        guard = compare(delta0, factor, d).evidence
    points = guard_points(g)
    if points is not None and control_expected and not log:
        guard = _combined_guard(guard, compare(points, 1.0, d).evidence)
    estimate = _mean_estimate(series, log)
    return Assessment(tuple(tests), ruled_out, information, needed, estimate, log, guard)


def _compare(
    series: MeanSeries, delta0: float, factor: float, direction: int, tau: float | None
) -> sq.MeanEvidence:
    return sq.mean_difference_evidence(
        series.treatment, series.control, delta0, factor, direction, tau
    )


# ------------------------------------------------------------------ the power gate's wait


def gate_wait(g: Guardrail, obs: Observation, beta: float, recent: int) -> float | None:
    """Intervals until ``g``'s detect: regression is ruled out at level ``beta``, the median
    over rollouts with no true effect whose coming intervals carry what the last ``recent``
    did (the current stage's traffic, not the smaller stages before it). None when the
    data cannot say (no series, no detect:, nothing gathered yet)."""
    series, detect = obs.series, _detect_factor(g)
    if series is None or detect is None or recent <= 0:
        return None
    if isinstance(series, RatioSeries) and isinstance(g, RatioGuardrail):
        units = unit_series(series)
        if units is not None:
            return _mean_gate_wait(g, units, beta, recent)
        return _rate_gate_wait(series, detect, beta, recent)
    if isinstance(series, MeanSeries) and isinstance(g, MeanGuardrail):
        return _mean_gate_wait(g, series, beta, recent)
    return None


def _rate_gate_wait(series: RatioSeries, detect: float, beta: float, recent: int) -> float | None:
    """The ruling-out likelihood ratio climbs like a Brownian motion with the drift and
    variance these intervals give it (:func:`sequential.rate_ruling_out_drift`); the wait
    is its median first passage to ``log(1/beta)`` from where it stands now."""
    arrays = (
        series.treatment_events,
        series.treatment_trials,
        series.control_events,
        series.control_trials,
    )
    now = sq.rate_ruling_out_evidence(*sq.clean_rate_arrays(*arrays), detect)
    if now.rejects(beta):
        return 0.0
    last = sq.clean_rate_arrays(*(a[-recent:] for a in arrays))
    drift, variance = sq.rate_ruling_out_drift(*last, detect)
    steps = min(recent, len(arrays[0]))
    level = math.log(1.0 / beta) - math.log(max(now.e_value, 1e-300))
    wait = sq.first_passage_median(level, drift / steps, variance / steps)
    return wait if math.isfinite(wait) else None


def _mean_gate_wait(g: Guardrail, series: MeanSeries, beta: float, recent: int) -> float | None:
    """The information still missing, at the rate the last ``recent`` intervals added it."""
    found = _assess_mean(g, series, beta, True)
    needed, information = found.information_needed, found.information
    if needed is None or information <= 0:
        return None
    if found.ruled_out is not None and found.ruled_out.rejects(beta):
        return 0.0
    length = len(series.treatment.n)
    steps = min(recent, length)
    before = 0.0
    if steps < length:
        earlier = MeanSeries(
            _head(series.treatment, length - steps), _head(series.control, length - steps)
        )
        before = _assess_mean(g, earlier, beta, True).information
    rate = (information - before) / steps
    if rate <= 0:
        return None
    return max(needed - information, 0.0) / rate


def _head(series: MomentSeries, length: int) -> MomentSeries:
    return MomentSeries(series.n[:length], series.total[:length], series.total_sq[:length])


def _mean_estimate(series: MeanSeries, log: bool) -> float | None:
    t, c = series.treatment, series.control
    ok = (t.n > 0) & (c.n > 0) & (t.n == t.n) & (c.n == c.n)
    if not ok.any():
        return None
    mt = float(t.total[ok].sum() / t.n[ok].sum())
    mc = float(c.total[ok].sum() / c.n[ok].sum())
    return math.exp(mt - mc) - 1 if log else mt - mc


def mean_bounds(g: MeanGuardrail, series: MeanSeries, alpha: float) -> Bounds:
    """Always-valid bounds on the effect: geometric ratio - 1 (log) or μt - μc (linear)."""
    log = g.scale == "log"
    tau = _tau(g, series)
    found = sq.mean_difference_evidence(series.treatment, series.control, 0.0, 1.0, 1, tau)
    if found.information <= 0:
        return Bounds(None, None, log)
    low_high = _difference_bounds(found, tau, alpha)
    lo, hi = low_high.low, low_high.high
    if log:
        return Bounds(
            math.exp(lo) - 1 if lo is not None else None,
            math.exp(hi) - 1 if hi is not None else None,
            True,
        )
    return low_high


def _difference_bounds(found: sq.MeanEvidence, tau: float | None, alpha: float) -> Bounds:
    """Always-valid bounds on a difference from the mean test's state at ``delta0 = 0``."""
    _, score, info, variance = found
    if info <= 0:
        return Bounds(None, None, False)
    scale = tau if tau else 1.0 / math.sqrt(info)
    centre = score / info
    width = 50.0 * math.sqrt(variance) / info

    def against_lower(delta: float) -> float:
        return sq.normal_log_e(score - delta * info, variance, scale)

    def against_higher(delta: float) -> float:
        return sq.normal_log_e(-(score - delta * info), variance, scale)

    # 24 halvings of a range 100 standard errors wide: a bound to 1e-5 of a standard error
    lo = sq.bound(against_lower, alpha, centre - width, centre + width, False, iterations=24)
    hi = sq.bound(against_higher, alpha, centre - width, centre + width, True, iterations=24)
    return Bounds(lo, hi, False)


def bounds(g: Guardrail, obs: Observation, alpha: float) -> Bounds | None:
    series = obs.series
    if isinstance(series, RatioSeries) and isinstance(g, RatioGuardrail):
        return ratio_bounds(g, series, alpha)
    if isinstance(series, MeanSeries) and isinstance(g, MeanGuardrail):
        return mean_bounds(g, series, alpha)
    return None
