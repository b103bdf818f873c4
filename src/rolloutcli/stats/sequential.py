"""Always-valid (sequential) tests: e-processes that may be checked after every interval.

Everything here is pure: arrays of per-interval counts in, evidence out. A rollout is
checked every few minutes for hours; a fixed-horizon p-value re-computed at every look
rejects a true null far more often than its alpha. An *e-process* ``E_t`` is a non-negative
process with ``E[E_τ] <= 1`` under the null at any stopping time ``τ``, so by Ville's
inequality ``P(sup_t E_t >= 1/alpha) <= alpha``: rejecting the first time the evidence
reaches ``1/alpha`` keeps the error rate at alpha however often — and whenever — one looks.
``p = 1 / max_t E_t`` is the matching always-valid p-value.

Three families, each a mixture of likelihood ratios (a mixture of test martingales is one):

* :func:`rate_ratio_evidence` — events in two cohorts (errors / requests); where requests
  cluster, :mod:`rolloutcli.stats.quasi` allows for it. Conditional on
  the events of one interval, each event lands in treatment with probability
  ``q = θs / (θs + 1 - s)``, where ``s`` is treatment's share of the interval's trials and
  ``θ`` the rate ratio. Under ``θ = 1`` that is exact at any count (the hypergeometric
  is less spread than the binomial, so the binomial likelihood ratio stays a
  supermartingale), and it is immune to anything that hits both cohorts in the same
  interval — a global incident multiplies both rates and cancels.
* :func:`mean_difference_evidence` — values (latency, accuracy) per interval, stratified by
  interval (the cohorts are compared within the same minutes), with a one-sided normal
  mixture over the effect (the mSPRT of Johari et al. 2017; asymptotically valid by the
  strong approximation of Waudby-Smith et al. 2021).
* :func:`one_sample_rate_evidence` / :func:`one_sample_mean_evidence` — treatment against
  an absolute limit (no control needed).

:func:`split_evidence` is the sample-ratio-mismatch test (a beta-binomial mixture, as in
Lindon & Malek 2020). The helpers at the bottom invert the tests into always-valid
confidence bounds and estimate the information still needed to rule an effect out.

Effects are expressed so that ``direction=+1`` means "higher is worse". For rates the effect
is the ratio ``θ`` (treatment rate / control rate) and the null is ``θ <= θ0`` (``θ >= θ0``
when lower is worse); for means it is the difference ``μt - c·μc`` and the null is
``<= δ0`` (``>= δ0``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from rolloutcli.stats import dispersion, quasi
from rolloutcli.stats.moments import Array, MomentSeries

# Alternatives for rate ratios: log(θ1 / θ0) on a grid from +2% to 12 times, weighted towards
# the effects a rollout cares about. Each grid point is a test martingale; their weighted
# average is one too. Wider than any plausible effect so that a large regression is
# caught in a handful of events, dense enough that a +30% effect loses little.
_LOG_STEPS = np.log(np.geomspace(1.02, 12.0, 28))
_PRIOR_SD = 0.6


def _rate_weights(center: float) -> Array:
    """Prior weights over ``_LOG_STEPS``: log-normal around ``center`` (a log ratio)."""
    w = np.exp(-0.5 * ((_LOG_STEPS - center) / _PRIOR_SD) ** 2)
    return np.asarray(w / w.sum(), dtype=np.float64)


@dataclass(frozen=True)
class Evidence:
    """The e-process of one test, summarised at the latest interval."""

    method: str
    e_value: float
    """The evidence now (``E_t``)."""
    max_e_value: float
    """The largest evidence reached at any interval so far: the test rejects once this is
    at least ``1/alpha``."""
    intervals: int
    """Intervals that carried data (the rest were skipped)."""

    @property
    def p_value(self) -> float:
        """Always-valid p-value: ``min(1, 1 / max_t E_t)``."""
        return 1.0 if self.max_e_value <= 1 else min(1.0, 1.0 / self.max_e_value)

    def rejects(self, alpha: float) -> bool:
        return self.max_e_value >= 1.0 / alpha


def _as_array(values: ArrayLike) -> Array:
    return np.asarray(values, dtype=np.float64).reshape(-1)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _quietly(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run the mean tests' arithmetic without numpy's warnings: absurd values (sums past
    1e154) overflow the squares, their spreads come out non-finite and are left unscored,
    and nothing should reach stderr on the way."""

    @functools.wraps(function)
    def quiet(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return quiet


def _finish(method: str, log_e: Array, used: int) -> Evidence:
    log_e = np.where(np.isnan(log_e), 0.0, log_e)  # arithmetic that failed is no evidence
    if log_e.size == 0:
        return Evidence(method, 1.0, 1.0, 0)
    top = float(np.max(log_e))
    return Evidence(
        method,
        float(np.exp(min(log_e[-1], 700.0))),
        float(np.exp(min(max(top, 0.0), 700.0))),
        used,
    )


def _logsumexp_rows(log_terms: Array, log_w: Array) -> Array:
    """log Σ_k w_k exp(log_terms[k, m]) for every column m."""
    shifted = log_terms + log_w[:, None]
    top = shifted.max(axis=0)
    return np.asarray(top + np.log(np.exp(shifted - top).sum(axis=0)), dtype=np.float64)


# ------------------------------------------------------------------ rates vs control


def rate_ratio_evidence(
    treatment_events: ArrayLike,
    treatment_trials: ArrayLike,
    control_events: ArrayLike,
    control_trials: ArrayLike,
    theta0: float = 1.0,
    direction: int = 1,
    detect: float | None = None,
) -> Evidence:
    """Evidence that the treatment/control rate ratio is beyond ``theta0``.

    Arrays hold one entry per interval; an interval with a NaN in any of the four, or with
    no trials in either cohort, is skipped (missing, not zero). ``direction=+1`` tests
    ``θ > θ0`` (higher is worse), ``-1`` tests ``θ < θ0``. ``detect`` (a ratio, e.g. 1.5)
    centres the mixture on the effect the plan wants to detect; the default centres it on
    a +50% change. Exact for independent requests; once the split shows that requests
    cluster, a quasi-likelihood test allowing for it takes over
    (:mod:`rolloutcli.stats.quasi`).
    """
    if theta0 <= 0:
        raise ValueError("theta0 must be positive")
    et, nt, ec, nc = clean_rate_arrays(
        treatment_events, treatment_trials, control_events, control_trials
    )
    method = "seq-conditional-binomial"
    if et.size == 0:
        return Evidence(method, 1.0, 1.0, 0)
    center = mixture_center(theta0, detect)
    log_e = _binomial_log_e(et, nt, ec, nc, theta0, direction, center)
    log_e, switched = _allow_for_clustering(log_e, et, nt, ec, nc, theta0, direction, center)
    return _finish("seq-quasi-binomial" if switched else method, log_e, int(et.size))


def _allow_for_clustering(
    log_e: Array,
    et: Array,
    nt: Array,
    ec: Array,
    nc: Array,
    theta0: float,
    direction: int,
    center: float,
    first: int = 0,
) -> tuple[Array, bool]:
    """The binomial's path where the split looks like independent requests and the
    quasi-likelihood test's where it does not; nothing before enough intervals, and for a
    fall the smaller of the two over the first intervals (:mod:`~.quasi`). Also whether
    the latest interval was judged as clustered. Rows before ``first`` keep the binomial's
    value (a caller that reads only the latest need not score the rest)."""
    over, k = quasi.overdispersed_at(et, nt, ec, nc)
    out = np.where(k < quasi.MIN_INTERVALS, np.minimum(log_e, 0.0), log_e)
    both = np.zeros(k.size, dtype=bool)
    if direction < 0:  # a fall: both tests, where the binomial's could matter
        both = (out > 0) & (k < quasi.BOTH_UNTIL)
    wanted = (over | both) & (k >= quasi.MIN_INTERVALS)
    wanted[:first] = False
    rows = np.flatnonzero(wanted)
    if rows.size:
        score, variance = quasi.quasi_scores(et, nt, ec, nc, rows, theta0, direction)
        found = _normal_mixture_log_e(score, variance, center)
        out[rows] = np.where(over[rows], found, np.minimum(found, out[rows]))
    return out, bool(over[-1])


def _binomial_log_e(
    et: Array, nt: Array, ec: Array, nc: Array, theta0: float, direction: int, center: float
) -> Array:
    """log E at each interval of the conditional-binomial mixture (see the module notes)."""
    s = nt / (nt + nc)
    q0 = theta0 * s / (theta0 * s + 1 - s)
    log_w = np.log(_rate_weights(center))
    theta1 = theta0 * np.exp(direction * _LOG_STEPS)[:, None]
    q1 = theta1 * s / (theta1 * s + 1 - s)
    step = et * np.log(q1 / q0) + ec * (np.log1p(-q1) - np.log1p(-q0))
    return _logsumexp_rows(np.cumsum(step, axis=1), log_w)


def rate_ruling_out_evidence(et: Array, nt: Array, ec: Array, nc: Array, theta0: float) -> Evidence:
    """Evidence against "the rate ratio is ``theta0`` or worse" (the power gate's test).

    The likelihood ratio of no effect (θ = 1) to ``θ0``, interval by interval, conditional
    on each interval's events, in cleaned arrays. Its alternative is a single point, not the
    mixture the rollback tests use: the gate wants to know whether a healthy rollout is
    healthy, and a point at no effect reaches ``1/beta`` there in about two thirds of the
    information the mixture needs, with a lighter tail (fewer stalled rollouts). It is valid
    for every ratio beyond ``θ0`` (on the side away from 1), not just ``θ0`` itself: the
    treatment's share of the events grows with θ, so the ratio's expectation only falls.
    Where the split shows clustering (:mod:`rolloutcli.stats.quasi`) the log ratio is
    divided by the fitted dispersion, the quasi-likelihood ratio, so clustered traffic is
    not taken for more evidence of safety than it holds.
    """
    method = "seq-conditional-binomial-point"
    if et.size == 0:
        return Evidence(method, 1.0, 1.0, 0)
    log_e = np.cumsum(_ruling_out_steps(et, nt, ec, nc, theta0))
    over, _ = quasi.overdispersed_at(et, nt, ec, nc)
    rows = np.flatnonzero(over)
    if rows.size:  # clustered: the quasi-likelihood ratio, the likelihood ratio over φ
        _, variance = quasi.quasi_scores(et, nt, ec, nc, rows, theta0, 1)
        s = nt / (nt + nc)
        q0 = theta0 * s / (theta0 * s + 1 - s)
        binomial = np.cumsum((et + ec) * q0 * (1 - q0))[rows]
        log_e[rows] = log_e[rows] / np.maximum(variance / np.maximum(binomial, 1e-12), 1.0)
    return _finish(method, log_e, int(et.size))


def _ruling_out_steps(et: Array, nt: Array, ec: Array, nc: Array, theta0: float) -> Array:
    s = nt / (nt + nc)
    q0 = theta0 * s / (theta0 * s + 1 - s)
    return np.asarray(et * np.log(s / q0) + ec * (np.log1p(-s) - np.log1p(-q0)), dtype=np.float64)


def rate_ruling_out_drift(
    et: Array, nt: Array, ec: Array, nc: Array, theta0: float
) -> tuple[float, float]:
    """Mean and variance, summed over these (cleaned) intervals, of the steps
    :func:`rate_ruling_out_evidence` takes when there is no true effect and the events
    arrive as they did:
    each of ``e`` events lands in treatment with probability ``s``, adding ``log(s/q0)``,
    else ``log((1-s)/(1-q0))``."""
    if et.size == 0:
        return 0.0, 0.0
    events = et + ec
    s = nt / (nt + nc)
    q0 = theta0 * s / (theta0 * s + 1 - s)
    hit, miss = np.log(s / q0), np.log1p(-s) - np.log1p(-q0)
    mean = s * hit + (1 - s) * miss
    # the split's variance, plus the count's own (Poisson: variance = mean)
    variance = s * (1 - s) * (hit - miss) ** 2 + mean * mean
    return float(np.sum(events * mean)), float(np.sum(events * variance))


def first_passage_median(
    level: float, drift: float, variance: float, stepped: bool = True
) -> float:
    """Median time for a Brownian motion with ``drift`` and ``variance`` per unit time to
    first climb ``level`` above its start: the median of the inverse Gaussian law with mean
    ``level/drift`` and shape ``level²/variance`` (Schrödinger 1915).

    A process observed once per unit of time overshoots its level before it is seen to
    cross; Siegmund's corrected diffusion approximation (Siegmund 1979) moves the level
    up by ``0.5826·sqrt(variance)`` to allow for it (pass ``stepped=False`` to leave it)."""
    if level <= 0:
        return 0.0
    if drift <= 0:
        return math.inf
    if variance <= 0:
        return level / drift
    if stepped:
        level += SIEGMUND_OVERSHOOT * math.sqrt(variance)
    from scipy.stats import invgauss  # scipy.stats costs a second to import: only here

    mean, shape = level / drift, level * level / variance
    return float(invgauss.median(mean / shape, scale=shape))


SIEGMUND_OVERSHOOT = 0.5826
"""``-ζ(1/2)/sqrt(2π)``: the mean overshoot of a Gaussian random walk with small drift, in
steps' standard deviations."""


@functools.lru_cache(maxsize=256)
def ruling_out_information(effect: float, beta: float) -> float:
    """Information (``Σ e·s·(1-s)`` for rates) at which :func:`rate_ruling_out_evidence`
    reaches ``1/beta`` in half of the rollouts with no true effect: the log likelihood
    ratio of a log-ratio ``effect`` gains ``effect²/2`` per unit of information, with
    variance ``effect²`` (normal approximation). Used to size a stage."""
    if effect <= 0:
        raise ValueError("effect must be positive")
    return first_passage_median(
        math.log(1.0 / beta), effect * effect / 2, effect * effect, stepped=False
    )


def rate_dispersion(et: Array, nt: Array, ec: Array, nc: Array) -> dispersion.Dispersion:
    """How much more the split of events between the cohorts varies than independent
    requests would, over the intervals a rate test uses (cleaned arrays)."""
    return dispersion.split_dispersion(et, nt, ec, nc)


def mixture_center(theta0: float, detect: float | None) -> float:
    """Where the mixture over alternatives is centred: the log distance from ``theta0`` to
    the effect to detect (a +50% change by default)."""
    if detect and detect > 0 and abs(math.log(detect / theta0)) > 1e-9:
        return abs(math.log(detect / theta0))
    return math.log(1.5)


def rate_information(et: Array, nt: Array, ec: Array, nc: Array) -> float:
    """Fisher information about log θ near θ = 1 in cleaned arrays: Σ e·s·(1-s)."""
    if et.size == 0:
        return 0.0
    s = nt / (nt + nc)
    return float(np.sum((et + ec) * s * (1 - s)))


def one_sample_rate_evidence(
    events: ArrayLike, trials: ArrayLike, limit: float, direction: int = 1
) -> Evidence:
    """Evidence that the treatment's event rate is beyond an absolute ``limit`` (0 < limit < 1).

    The binomial mixture while the treatment's counts look like independent requests.
    Where they vary more (:func:`quasi.rate_overdispersed_at`: bursts, a rate that wanders
    minute to minute), the binomial alone rejected a rate exactly at the limit in 25-84%
    of runs, so there the evidence is the smaller of it and the mean test against the
    limit on the 0/1 outcomes (:func:`one_sample_mean_evidence`), whose variance is the
    outcomes' own, steps between intervals included."""
    if not 0 < limit < 1:
        raise ValueError("limit must be strictly between 0 and 1")
    e, n = _as_array(events), _as_array(trials)
    ok = np.isfinite(e) & np.isfinite(n) & (n > 0)
    e, n = e[ok], n[ok]
    method = "seq-binomial"
    if e.size == 0:
        return Evidence(method, 1.0, 1.0, 0)
    ratios = np.exp(direction * _LOG_STEPS)
    p1 = np.clip(limit * ratios, 1e-12, 1 - 1e-9)[:, None]
    step = e * np.log(p1 / limit) + (n - e) * (np.log1p(-p1) - math.log1p(-limit))
    log_w = np.log(_rate_weights(math.log(1.5)))
    log_e = _logsumexp_rows(np.cumsum(step, axis=1), log_w)
    over = quasi.rate_overdispersed_at(e, n)
    if over.any():
        outcomes = MomentSeries(np.maximum(n, e), e, e)
        means, _ = _one_sample_mean_log_e(outcomes, limit, direction, 0.5 * limit)
        log_e = np.where(over, np.minimum(log_e, means), log_e)
        method = "seq-quasi-binomial" if over[-1] else method
    return _finish(method, log_e, int(e.size))


# ------------------------------------------------------------------ means


def _normal_mixture_log_e(s: Array, info: Array, tau: float) -> Array:
    """log of the one-sided normal-mixture e-value (half-normal prior, scale ``tau``).

    ``s`` is the score ``Σ I_m x_m`` and ``info`` the information ``Σ I_m``; under the null
    boundary ``s`` behaves as a Gaussian martingale with variance ``info``. With a
    half-normal prior of scale τ on the effect, the mixture of ``exp(δs - δ²I/2)`` is
    ``2/√(1+τ²I) · exp(τ²s²/(2(1+τ²I))) · Φ(τs/√(1+τ²I))``.
    """
    t2 = tau * tau
    denom = 1.0 + t2 * info
    z = tau * s / np.sqrt(denom)
    return np.asarray(
        math.log(2.0) - 0.5 * np.log(denom) + 0.5 * z * z + special.log_ndtr(z),
        dtype=np.float64,
    )


class MeanEvidence(NamedTuple):
    """The mean test's evidence, and its state at the latest interval for bounds: the
    score ``Σ w·(difference - δ0)``, the information ``Σ w`` (a shift of the effect by
    ``δ`` moves the score by ``-δ·information``) and the score's variance."""

    evidence: Evidence
    score: float
    information: float
    variance: float


@_quietly
def mean_difference_evidence(
    treatment: MomentSeries,
    control: MomentSeries,
    delta0: float = 0.0,
    control_factor: float = 1.0,
    direction: int = 1,
    tau: float | None = None,
    value_variance_floor: float = 0.0,
) -> MeanEvidence:
    """Evidence that ``μt - control_factor·μc`` is beyond ``delta0``, stratified by interval.

    Returns the evidence with the score, information and variance at the latest interval,
    so callers can form bounds. Each interval's difference is weighted by the inverse of
    its variance as known *before* it arrived (:func:`predictable_variances`): a weight is
    fixed once the interval is scored, so a later change in the spread cannot re-score the
    past, and the spread is taken at an upper confidence bound, so one learnt from a few
    values errs on the safe side. That spread is the two cohorts' pooled: when the treatment
    is harmless their values spread alike, and the control's many values pin it down from
    the first intervals, where a small treatment cohort's own spread, learnt from a handful
    of values, would be far off (too small with skewed values, whose low means come with
    low spreads: the lower side then rejected a true null in up to 5.8% of runs against
    2.5%). The score's variance is the largest of what the weights assumed, what each
    cohort's own spread seen so far (this interval included, :func:`running_variances`)
    says, so an outlier or a treatment that spreads its values wider raises it at once,
    and the score's own squared steps, which see each cohort's mean wander from interval to
    interval beyond what the spreads within intervals allow (as the realised variance does
    in Bercu & Touati's self-normalised martingale).
    Intervals before the pooled spread can be estimated are skipped. ``tau`` is the
    mixture scale, in the effect's units: the size of effect to be most efficient at
    (default: a quarter of the first spread estimated). ``value_variance_floor`` is the
    least variance of one value the weights assume (:func:`proportion_difference_evidence`);
    raising a weight's variance only makes the test more cautious.
    """
    c = control_factor
    ok = np.isfinite(treatment.n) & np.isfinite(control.n) & (treatment.n > 0) & (control.n > 0)
    method = "seq-normal"
    pooled, now_t, now_c = _spreads(ok, treatment, control)
    if value_variance_floor > 0:
        pooled = np.maximum(pooled, value_variance_floor)
    nt, nc = treatment.n[ok], control.n[ok]
    usable = np.isfinite(pooled)
    if not usable.any():
        return MeanEvidence(Evidence(method, 1.0, 1.0, 0), 0.0, 0.0, 0.0)
    mt, mc = treatment.total[ok] / nt, control.total[ok] / nc
    diff = (mt - c * mc - delta0)[usable]
    known, nt, nc = pooled[usable], nt[usable], nc[usable]
    floor = _variance_floor(float(np.max(known)), float(np.max(known)), mt, mc)
    weight = 1.0 / np.maximum(known * (1.0 / nt + c * c / nc), floor)
    s = np.cumsum(direction * weight * diff)
    info = np.cumsum(weight)
    # the score's variance: the largest of what the weights assumed, what each cohort's own
    # spread seen so far (this interval included) says, and the score's own squared steps
    # around the mean of the differences before each (less what that mean's own noise adds)
    spread = now_t[usable] * np.cumsum(weight**2 / nt) + c * c * now_c[usable] * np.cumsum(
        weight**2 / nc
    )
    size = 1.0 / (1.0 / treatment.n[ok] + c * c / control.n[ok])
    centre = _centres(mt - c * mc - delta0, size)[usable]
    steps = np.cumsum((weight * (diff - centre)) ** 2 / _centring_excess(size)[usable])
    variance = np.maximum(np.maximum(info, spread), steps)
    scale = tau if tau and tau > 0 else math.sqrt(max(known[0], floor)) / 4
    log_e = _normal_mixture_log_e(s, variance, scale)
    return MeanEvidence(
        _finish(method, log_e, int(diff.size)),
        float(s[-1]),
        float(info[-1]),
        float(variance[-1]),
    )


def proportion_difference_evidence(
    treatment_events: ArrayLike,
    treatment_trials: ArrayLike,
    control_events: ArrayLike,
    control_trials: ArrayLike,
    delta0: float,
    direction: int = 1,
    margin: float | None = None,
) -> MeanEvidence:
    """Evidence that the difference of proportions ``pt - pc`` is beyond ``delta0`` (a
    margin in percentage points as a fraction: ``+2pp`` is 0.02).

    The additive analogue of :func:`rate_ratio_evidence`. The conditional binomial is
    exact for a ratio because the events' split depends on the ratio alone; a difference
    of proportions has no such exact conditional test (the nuisance control rate stays),
    so this is the normal-mixture test of :func:`mean_difference_evidence` on the 0/1
    outcomes: each interval's ``events`` and ``trials`` are the moments of its values
    (``Σx = Σx² = events``, ``n = trials``), and the difference of the interval's rates is
    weighted by the inverse of its variance as known before the interval. Asymptotically
    valid (Waudby-Smith et al. 2021), as the mean test is.

    Rare events leave a cohort's spread at or near zero before any event is seen, which
    would give an interval an unbounded weight; at the null boundary one cohort's rate is
    at least ``|delta0|``, so each cohort's variance is floored at
    ``|delta0|·(1-|delta0|)/2`` (a floor only makes the test more cautious). The mixture
    is centred on effects the size of the margin. ``margin`` stands in for ``|delta0|`` in
    both when it is 0 (bounds on the difference, for a guardrail whose margin is known).
    """
    et, nt, ec, nc = clean_rate_arrays(
        treatment_events, treatment_trials, control_events, control_trials
    )
    size = abs(margin) if margin else abs(delta0)
    clipped = min(size, 0.5)
    floor = clipped * (1 - clipped) / 2
    return mean_difference_evidence(
        MomentSeries(nt, et, et),
        MomentSeries(nc, ec, ec),
        delta0,
        1.0,
        direction,
        tau=size or None,
        value_variance_floor=floor,
    )


def _sums_before(values: Array) -> Array:
    """Per entry, the sum of the entries before it (0 for the first; empty for none)."""
    return np.concatenate([[0.0], np.cumsum(values)])[:-1]


def _centring_excess(size: Array) -> Array:
    """Per interval: how much larger a step around the mean of the earlier differences is
    expected to be than around the true mean: ``1 + h_i / Σ_{j<i} h_j`` for interval sizes
    ``h`` (the earlier mean's own variance); 1 for the first, centred on the null."""
    before = _sums_before(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = 1.0 + size / before
    return np.asarray(np.where(before > 0, excess, 1.0), dtype=np.float64)


def _centres(diff: Array, size: Array) -> Array:
    """Per interval: the mean of the differences before it (weighted by the intervals'
    sizes, every interval counted, scored or not); 0 — the null — before any."""
    before_sum, before_size = _sums_before(size * diff), _sums_before(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = before_sum / before_size
    return np.asarray(np.where(before_size > 0, centre, 0.0), dtype=np.float64)


def _spreads(ok: NDArray[np.bool_], *cohorts: MomentSeries) -> tuple[Array, ...]:
    """:func:`predictable_variances` pooled over ``cohorts``, then each one's
    :func:`running_variances`, remembered for the last few series: every test of one
    guardrail at one look asks for the same."""

    def raw(a: NDArray[Any]) -> bytes:
        return np.ascontiguousarray(a, dtype=np.float64).tobytes()

    parts = tuple((raw(c.n), raw(c.total), raw(c.total_sq)) for c in cohorts)
    return _spreads_of(raw(ok), parts)


@functools.lru_cache(maxsize=32)
@_quietly
def _spreads_of(ok: bytes, parts: tuple[tuple[bytes, bytes, bytes], ...]) -> tuple[Array, ...]:
    cohorts = [MomentSeries(*(np.frombuffer(b) for b in part)) for part in parts]
    mask = np.frombuffer(ok) > 0
    found = (
        predictable_variances(cohorts[0], mask, *cohorts[1:]),
        *(running_variances(cohort, mask) for cohort in cohorts),
    )
    for array in found:
        array.setflags(write=False)
    return found


def running_variances(series: MomentSeries, ok: NDArray[np.bool_]) -> Array:
    """Per interval in ``ok``: the variance of one value from that interval and all before
    it (pooled within intervals once they have ``MIN_VARIANCE_DOF`` degrees of freedom,
    else over all values; 0 while nothing is known)."""
    n, total, total_sq = series.n[ok], series.total[ok], series.total_sq[ok]
    several = n >= 2
    dev = np.where(several, total_sq - total * total / np.where(several, n, 1.0), 0.0)
    within_dof = np.cumsum(np.where(several, n - 1, 0.0))
    within_ss = np.cumsum(np.maximum(dev, 0.0))
    count, sums, squares = np.cumsum(n), np.cumsum(total), np.cumsum(total_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        within = within_ss / within_dof
        overall = np.maximum(squares - sums * sums / count, 0.0) / (count - 1)
    out = np.where(within_dof >= MIN_VARIANCE_DOF, within, overall)
    return np.asarray(np.where(np.isfinite(out), out, 0.0), dtype=np.float64)


VARIANCE_CONFIDENCE = 0.2
"""A spread estimated on ``d`` degrees of freedom is used at an upper confidence bound,
``d·v / χ²_d(0.2)``: about 4.5x at 2, 1.6x at 10, 1.13x at 100, 1.04x at 1,000. Chosen by
simulation (benchmarks/README.md): at 0.05 the early intervals lost a third of their
power, at 0.5 two values an interval rejected a true null in 3.9% of 50-look runs."""
MIN_VARIANCE_DOF = 30
MIN_SUMMARY_DOF = 5
"""Until the intervals hold 30 degrees of freedom within them, the spread of all earlier
values stands in (for a p99 per step, always): from 6 values on. Waiting for 30 there
would leave a 5-minute p99 unscored for two and a half hours."""
"""Degrees of freedom before a cohort's spread is estimated at all: with skewed values a
spread from a handful is usually too small (the rare large value not seen yet), and at 2
two-value intervals of lognormal data rejected a true "no lower" null in 6% of runs."""


def predictable_variances(
    series: MomentSeries, ok: NDArray[np.bool_], *others: MomentSeries
) -> Array:
    """Per interval in ``ok``: the variance of one value, from the intervals before it only.

    Pooled within intervals (so a level shift between minutes does not inflate it) once
    those have ``MIN_VARIANCE_DOF`` degrees of freedom; until then, with one value per
    interval (a p99 per step), the spread of all earlier values. At its upper confidence
    bound (``VARIANCE_CONFIDENCE``). NaN where nothing is known yet. With ``others``, the
    spread pooled over all the cohorts (each around its own means).

    Not the interval's own spread: with skewed values a large mean comes with a large
    spread, and weighting by it would bias the score.
    """
    pieces = [_spread_pieces(cohort, ok) for cohort in (series, *others)]
    within_dof, within_ss, all_dof, all_ss = (sum(parts) for parts in zip(*pieces, strict=True))
    use_within = within_dof >= MIN_VARIANCE_DOF
    with np.errstate(divide="ignore", invalid="ignore"):
        within = within_ss / within_dof
        overall = all_ss / all_dof
    estimate = np.where(use_within, within, overall)
    dof_used = np.where(use_within, within_dof, all_dof)
    known = np.where(use_within, within_dof >= MIN_VARIANCE_DOF, all_dof >= MIN_SUMMARY_DOF)
    quantile = special.gammaincinv(np.where(known, dof_used, 1.0) / 2, VARIANCE_CONFIDENCE) * 2
    with np.errstate(invalid="ignore"):  # an unknown spread (one value: inf x 0) is NaN
        upper = estimate * dof_used / quantile
    return np.asarray(np.where(known, upper, np.nan), dtype=np.float64)


def _spread_pieces(series: MomentSeries, ok: NDArray[np.bool_]) -> tuple[Array, ...]:
    """Per interval in ``ok``, from the intervals before it: the degrees of freedom and sum
    of squares within intervals, and over all values (around their one mean)."""
    n, total, total_sq = series.n[ok], series.total[ok], series.total_sq[ok]
    several = n >= 2
    dev = np.where(several, total_sq - total * total / np.where(several, n, 1.0), 0.0)
    dev = np.maximum(dev, 0.0)
    dof = np.where(several, n - 1, 0.0)

    count, sums, squares = _sums_before(n), _sums_before(total), _sums_before(total_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        all_ss = np.where(count > 0, np.maximum(squares - sums * sums / count, 0.0), 0.0)
    return _sums_before(dof), _sums_before(dev), np.maximum(count - 1, 0.0), all_ss


def _variance_floor(var_t: float, var_c: float, mt: Array, mc: Array) -> float:
    """The smallest variance an interval's difference is given. Values that never vary
    (a quantile stuck on one histogram bucket) have a pooled variance of 0, and dividing by
    it gives infinite weights and NaN evidence; flooring it at (1e-9 of the means' size)²
    keeps the arithmetic finite: equal constants give no evidence, different ones a lot."""
    size = float(np.nanmax(np.abs(np.concatenate([mt, mc])), initial=0.0))
    return max(1e-12 * max(var_t, var_c), (1e-9 * min(size, 1e150)) ** 2, 1e-300)


def one_sample_mean_evidence(
    treatment: MomentSeries, limit: float, direction: int = 1, tau: float | None = None
) -> Evidence:
    """Evidence that the treatment mean is beyond an absolute ``limit``, weighted and
    self-normalised as in :func:`mean_difference_evidence`."""
    ok = np.isfinite(treatment.n) & (treatment.n > 0)
    clean = MomentSeries(treatment.n[ok], treatment.total[ok], treatment.total_sq[ok])
    log_e, scored = _one_sample_mean_log_e(clean, limit, direction, tau)
    return _finish("seq-normal", log_e[scored], int(np.count_nonzero(scored)))


@_quietly
def _one_sample_mean_log_e(
    treatment: MomentSeries, limit: float, direction: int, tau: float | None
) -> tuple[Array, NDArray[np.bool_]]:
    """log E at every interval of :func:`one_sample_mean_evidence` (intervals all with
    values), 0 where none is scored (its spread not known before it), and which are."""
    ok = np.ones(treatment.n.size, dtype=bool)
    var, now = _spreads(ok, treatment)
    usable = np.isfinite(var) & (var > 0)
    out = np.zeros(treatment.n.size)
    if not usable.any():
        return out, usable
    all_n = treatment.n
    all_diff = treatment.total / all_n - limit
    n, diff = all_n[usable], all_diff[usable]
    weight = n / var[usable]
    s = np.cumsum(direction * weight * diff)
    spread = now[usable] * np.cumsum(weight**2 / n)
    centre = _centres(all_diff, all_n)[usable]
    steps = np.cumsum((weight * (diff - centre)) ** 2 / _centring_excess(all_n)[usable])
    variance = np.maximum(np.maximum(np.cumsum(weight), spread), steps)
    scale = tau if tau and tau > 0 else math.sqrt(float(var[usable][0])) / 4
    out[usable] = _normal_mixture_log_e(s, variance, scale)
    return out, usable


# ------------------------------------------------------------------ sample ratio


def split_evidence(
    treatment: ArrayLike, control: ArrayLike, share: float, concentration: float | None = None
) -> Evidence:
    """Evidence that treatment's share of units differs from the planned ``share`` (SRM).

    A beta-binomial mixture: the alternative share is drawn from Beta(k·s, k·(1-s)), whose
    sd is about a tenth of the planned share for small shares (``k`` = ``concentration``).
    Intervals missing either cohort are skipped: a lost treatment row must not look like
    a treatment deficit.
    """
    if not 0 < share < 1:
        raise ValueError("share must be strictly between 0 and 1")
    t, c = _as_array(treatment), _as_array(control)
    ok = np.isfinite(t) & np.isfinite(c)
    t, c = np.cumsum(t[ok]), np.cumsum(c[ok])
    method = "seq-beta-binomial"
    if t.size == 0:
        return Evidence(method, 1.0, 1.0, 0)
    k = concentration or max((1 - share) / (0.01 * share), 4.0)
    a, b = k * share, k * (1 - share)
    log_e = (
        special.betaln(a + t, b + c)
        - special.betaln(a, b)
        - t * math.log(share)
        - c * math.log1p(-share)
    )
    return _finish(method, np.asarray(log_e, dtype=np.float64), int(t.size))


# ------------------------------------------------------------------ bounds and sizing


def bound(
    evidence_at: Callable[[float], float],
    alpha: float,
    lo: float,
    hi: float,
    rising: bool,
    iterations: int = 40,
) -> float | None:
    """The edge of ``{x : evidence_at(x) < 1/alpha}`` between ``lo`` and ``hi``.

    ``evidence_at(x)`` is the current *log* e-value against the null "effect = x"; ``rising``
    says whether it grows with x (an upper bound) or falls (a lower bound). Returns None
    when every x in the range is rejected or none is (the bound is outside the range).
    The edge is found to within ``(hi - lo) / 2**iterations`` (what bisection would reach
    in ``iterations`` halvings) by Brent's method, in a third of the evaluations.
    """
    target = math.log(1.0 / alpha)

    def excess(x: float) -> float:
        return evidence_at(x) - target

    at_lo, at_hi = excess(lo), excess(hi)
    if rising:
        if at_lo >= 0 or at_hi < 0:
            return None
    elif at_hi >= 0 or at_lo < 0:
        return None
    if at_lo == 0 or at_hi == 0:
        return lo if at_lo == 0 else hi
    tolerance = (hi - lo) / 2.0**iterations
    root: float = optimize.brentq(excess, lo, hi, xtol=max(tolerance, 1e-12), maxiter=200)
    return root


def log_rate_evidence_now(
    et: Array,
    nt: Array,
    ec: Array,
    nc: Array,
    theta0: float,
    direction: int,
    center: float = math.log(1.5),
) -> float:
    """log E_t (the latest value, not the running maximum) of :func:`rate_ratio_evidence`
    for :func:`bound`, so the bounds shown allow for clustering as the test does; the
    arrays are already cleaned (:func:`clean_rate_arrays`)."""
    if et.size == 0:
        return 0.0
    path = _binomial_log_e(et, nt, ec, nc, theta0, direction, center)
    found, _ = _allow_for_clustering(path, et, nt, ec, nc, theta0, direction, center, et.size - 1)
    return float(found[-1])


def clean_rate_arrays(
    et: ArrayLike, nt: ArrayLike, ec: ArrayLike, nc: ArrayLike
) -> tuple[Array, Array, Array, Array]:
    """The intervals :func:`rate_ratio_evidence` uses (complete, with trials in both)."""
    a, b, c, d = (_as_array(x) for x in (et, nt, ec, nc))
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(c) & np.isfinite(d) & (b > 0) & (d > 0)
    return a[ok], b[ok], c[ok], d[ok]


def normal_log_e(score: float, info: float, tau: float) -> float:
    """log of the one-sided normal-mixture e-value at one point (see the module notes);
    ``info`` is the score's variance."""
    return float(_normal_mixture_log_e(np.array([score]), np.array([info]), tau)[0])


@functools.lru_cache(maxsize=256)
def information_needed(effect: float, tau: float, beta: float) -> float:
    """Information (1/variance of the effect estimate) at which a true effect of 0 is
    expected to rule out ``effect`` at level ``beta``: the smallest I with
    ``normal_log_e(effect·I, I, tau) >= log(1/beta)``. Used to size a stage."""
    if effect <= 0:
        raise ValueError("effect must be positive")
    target = math.log(1.0 / beta)
    lo, hi = 0.0, 1.0 / effect**2
    while normal_log_e(effect * hi, hi, tau) < target:
        hi *= 2
        if hi > 1e18:
            return math.inf
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if normal_log_e(effect * mid, mid, tau) >= target:
            hi = mid
        else:
            lo = mid
    return hi
