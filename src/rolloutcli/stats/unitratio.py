"""A ratio of per-unit sums (errors / requests with one row per user), by the delta method.

When a flag randomises users and a metric counts requests, a user's requests are not
independent trials: one user retrying, or one user whose every request fails, moves many
"trials" at once, and a binomial test of the request counts sees far more evidence than
there is. The unit of independence is the user. The ratio of sums ``R = Σe / Σt`` over
``n`` users (``e``, ``t``: a user's events and trials) has, by the delta method,

    Var(R) ≈ Σ (e_i - R·t_i)² / ((n - 1) · n · t̄²),      t̄ = Σt / n

(Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics"; Kohavi, Tang
& Xu 2020, ch. 18). Equivalently, ``R`` is the mean of the *linearised* values
``z_i = R + (e_i - R·t_i) / t̄``, whose spread is that variance times ``n``.
:func:`linearized` turns each interval's sums into the moments of those values, so the
mean tests (fixed and sequential) compare ratios at the level the flag randomises on.

Pure: numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _sps

from rolloutcli.stats.fixed import Alternative, TestResult
from rolloutcli.stats.moments import MomentSeries, UnitMoments

METHOD = "delta-z"


def linearized(units: UnitMoments) -> MomentSeries:
    """Per interval, the count, sum and sum of squares of the linearised values ``z_i``:
    their mean is the interval's ratio of sums, their spread the delta method's. Intervals
    with no units or no trials are missing (NaN)."""
    n, e, t, ee, tt, et = units.arrays()
    ok = np.isfinite(n) & np.isfinite(e) & np.isfinite(t) & (n > 0) & (t > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = e / t
        mean_trials = t / n
        scale = ee + ratio * ratio * tt
        deviations = ee - 2 * ratio * et + ratio * ratio * tt  # Σ (e_i - R·t_i)²
        # what is left of a sum of squares after cancellation: rounding, not spread
        deviations = np.where(deviations > 1e-12 * scale, deviations, 0.0)
        spread = deviations / (mean_trials * mean_trials)
        total = n * ratio
        total_sq = n * ratio * ratio + spread
    missing = np.full(n.shape, np.nan)
    return MomentSeries(
        np.where(ok, n, missing), np.where(ok, total, missing), np.where(ok, total_sq, missing)
    )


def ratio_and_variance(units: UnitMoments) -> tuple[float, float, int] | None:
    """The ratio of sums over every interval, the delta method's variance of it and the
    number of units; None without units or trials."""
    total = linearized(units.total())
    n = float(total.n[0])
    if not math.isfinite(n) or n < 1:
        return None
    ratio = float(total.total[0]) / n
    spread = float(total.total_sq[0]) - n * ratio * ratio
    variance = max(spread, 0.0) / ((n - 1) * n) if n >= 2 else math.inf
    return ratio, variance, int(n)


def _z_test(diff: float, variance: float, alternative: Alternative) -> TestResult:
    if variance <= 0:
        if diff == 0:
            return TestResult(METHOD, 0.0, 1.0)
        worse = diff > 0 if alternative == "greater" else diff < 0
        return TestResult(METHOD, None, 0.0 if alternative == "two-sided" or worse else 1.0)
    z = diff / math.sqrt(variance)
    if alternative == "greater":
        p = float(_sps.norm.sf(z))
    elif alternative == "less":
        p = float(_sps.norm.cdf(z))
    else:
        p = min(1.0, 2 * float(_sps.norm.sf(abs(z))))
    return TestResult(METHOD, z, p)


def two_ratio_test(
    treatment: UnitMoments, control: UnitMoments, alternative: Alternative = "greater"
) -> TestResult | None:
    """Fixed-horizon z-test of ``R_t - R_c`` with the delta method's variances (None
    with fewer than 2 units in a cohort)."""
    t, c = ratio_and_variance(treatment), ratio_and_variance(control)
    if t is None or c is None or t[2] < 2 or c[2] < 2:
        return None
    return _z_test(t[0] - c[0], t[1] + c[1], alternative)


def one_sample_ratio_test(
    treatment: UnitMoments, limit: float, alternative: Alternative = "greater"
) -> TestResult | None:
    """Fixed-horizon z-test of the treatment's ratio of sums against an absolute limit."""
    t = ratio_and_variance(treatment)
    if t is None or t[2] < 2:
        return None
    return _z_test(t[0] - limit, t[1], alternative)
