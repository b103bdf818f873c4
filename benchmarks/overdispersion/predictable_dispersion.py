"""A study candidate, not in the verdict (tempered_sim.py says why): the dispersion φ, how
much more a comparison varies than independent requests would.

Pure: per-interval residuals in, a variance ratio out. Requests cluster — a user retries,
a session repeats, one host misbehaves — so a cohort's rate moves from minute to minute by
more than binomial noise, and a test that assumes independent requests rejects healthy
rollouts. φ is the ratio of the real variance of an interval's residual to the variance
independent requests would give it (1 = independent).

Two shapes of extra variance are fitted, and the larger is used:

* a constant factor, ``Var = a·V`` (errors in bursts: a failing request retried ``k``
  times scales every count's variance by ``E[k²]/E[k]``);
* a factor that grows with the counts, ``Var = V + c·V²`` (each cohort's rate jitters from
  minute to minute: that noise does not average out as traffic grows, so at 20,000 requests
  a minute it dwarfs the binomial part). Extrapolating the second to a later stage's larger
  counts is what keeps the 50% stage honest after the estimate was learnt at 5%.

Each interval's φ is *predictable*: fitted on the intervals before it only, so an interval's
weight is fixed once it is seen and a later quiet spell never re-scores an earlier noisy one
(the failure of a plug-in variance recomputed at every look). Both fits are method-of-moments
on the squared Pearson residuals ``r = u²/V``, kept in running sums (linear in the number of
intervals). References: McCullagh & Nelder (1989), *Generalized Linear Models*, ch. 9
(quasi-likelihood, φ from Pearson residuals); Williams (1982) on extra-binomial variation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

MIN_INTERVALS = 3
"""Intervals with data a comparison needs before its dispersion is known. The intervals
before that (the first three minutes of a rollout at the default interval) are used to learn
it and carry no evidence (φ = ∞): a rollout whose requests cluster would otherwise
accumulate its first minutes' evidence at the independent-request rate."""


@dataclass(frozen=True)
class Dispersion:
    """The dispersion of one comparison, interval by interval."""

    phi: Array
    """φ applied to each interval (fitted on the intervals before it; at least 1)."""
    estimate: float
    """The variance ratio at the latest interval's counts, fitted on every interval (≥ 1)."""
    intervals: int
    """Intervals that carried information (a residual variance above 0)."""


def _exclusive_cumsum(x: Array) -> Array:
    out = np.zeros_like(x)
    np.cumsum(x[:-1], out=out[1:])
    return out


GATE_Z = 2.33
"""A score test for extra variance must reach this (one-sided 1%) before φ departs from 1:
with independent requests the binomial test keeps its full power."""

UPPER_Z = 1.0
"""φ is fitted to the upper edge of its ±1 standard error band: erring high costs power,
erring low costs validity."""


def _fit(r: Array, v: Array, used: NDArray[np.bool_], at: Array, exclusive: bool) -> Array:
    """φ from the two moment fits over the intervals in ``used`` (those before each interval
    when ``exclusive``, else all of them), evaluated at the counts ``at``; 1 until a score
    test finds extra variance, and never below 1."""
    cum = _exclusive_cumsum if exclusive else (lambda x: np.full_like(x, float(np.sum(x))))
    w = used.astype(np.float64)
    n = cum(w)
    excess = w * (r - 1.0)
    sum_e = cum(excess)
    sum_e2 = cum(excess * excess)
    sum_ve = cum(v * excess)
    sum_vv = cum(w * v * v)
    sum_vve2 = cum(v * v * excess * excess)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 + sum_e / np.maximum(n, 1.0)
        se_a = np.sqrt(sum_e2) / np.maximum(n, 1.0)
        c = np.where(sum_vv > 0, sum_ve / np.where(sum_vv > 0, sum_vv, 1.0), 0.0)
        se_c = np.where(sum_vv > 0, np.sqrt(sum_vve2) / np.where(sum_vv > 0, sum_vv, 1.0), 0.0)
        # score tests for the two shapes, each against the variance r has with independent
        # requests: 2 + 1/v (a chi-square's 2, plus the skew of small counts)
        null_var = np.where(used, 2.0 + 1.0 / np.where(used, v, 1.0), 0.0)
        z_a = sum_e / np.sqrt(np.maximum(cum(null_var), 1e-300))
        z_c = sum_ve / np.sqrt(np.maximum(cum(v * v * null_var), 1e-300))
    upper = np.maximum(a + UPPER_Z * se_a, 1.0 + np.maximum(c + UPPER_Z * se_c, 0.0) * at)
    found = (z_a > GATE_Z) | (z_c > GATE_Z)
    phi = np.where(found, np.maximum(upper, 1.0), 1.0)
    return np.asarray(np.where(n >= MIN_INTERVALS, phi, np.inf), dtype=np.float64)


def from_residuals(u: Array, v: Array, groups: Array | None = None) -> Dispersion:
    """φ per interval from residuals ``u`` (observed minus expected under the current
    estimate) and their independent-request variances ``v``; ``v <= 0`` carries nothing.

    The statistic is the squared *successive difference* of the standardised residuals,
    ``(z_j - z_{j-1})² / 2``, between neighbouring intervals of the same ``groups`` value (a
    stage): a level shift — a regression that begins mid-stage — moves one difference, where
    it would move every residual after it and pass for extra variance (von Neumann 1941)."""
    used = np.isfinite(u) & np.isfinite(v) & (v > 0)
    z = np.where(used, u / np.sqrt(np.where(used, v, 1.0)), 0.0)
    same = np.ones(u.size, dtype=bool) if groups is None else groups == np.roll(groups, 1)
    pair = used & np.roll(used, 1) & same
    pair[:1] = False
    r = np.where(pair, 0.5 * (z - np.roll(z, 1)) ** 2, 0.0)
    vv = np.where(used, v, 0.0)
    at = np.where(pair, 0.5 * (vv + np.roll(vv, 1)), 0.0)
    phi = _fit(r, at, pair, vv, exclusive=True)
    count = int(pair.sum())
    if count < MIN_INTERVALS:
        return Dispersion(phi, 1.0, count)
    last_v = float(vv[used][-1])
    final = _fit(r, at, pair, np.array([last_v]), exclusive=False)
    return Dispersion(phi, float(final[-1]), count)


def rate_ratio(et: Array, nt: Array, ec: Array, nc: Array) -> Dispersion:
    """The dispersion of the split of each interval's events between two cohorts.

    The residual is treatment's events minus its share at the rate ratio estimated from the
    intervals before (``q = θs/(θs + 1 - s)``), and its independent-request variance the
    binomial ``E·q·(1-q)``. Something that hits both cohorts (an incident) cancels here;
    only what varies between them counts. Arrays are already cleaned (complete intervals).
    """
    if et.size == 0:
        return Dispersion(np.zeros(0), 1.0, 0)
    rate_t = _exclusive_cumsum(et) / np.maximum(_exclusive_cumsum(nt), 1e-300)
    rate_c = _exclusive_cumsum(ec) / np.maximum(_exclusive_cumsum(nc), 1e-300)
    theta = np.where((rate_t > 0) & (rate_c > 0), rate_t / np.maximum(rate_c, 1e-300), 1.0)
    s = nt / (nt + nc)
    q = theta * s / (theta * s + 1 - s)
    total = et + ec
    return from_residuals(et - q * total, _predictive(total * q * (1 - q)))


def _predictive(v: Array) -> Array:
    """The variance of a residual taken at an estimate from the earlier intervals: the
    binomial part ``v`` plus the estimate's own error (``v² / information so far``). The
    first interval, with no estimate before it, carries nothing."""
    before = _exclusive_cumsum(v)
    return np.where(before > 0, v * (1.0 + v / np.where(before > 0, before, 1.0)), 0.0)


def one_sample_rate(events: Array, trials: Array) -> Dispersion:
    """The dispersion of one cohort's events around its own rate so far (an absolute limit
    has no control to cancel common swings, so incidents count here too)."""
    if events.size == 0:
        return Dispersion(np.zeros(0), 1.0, 0)
    rate = _exclusive_cumsum(events) / np.maximum(_exclusive_cumsum(trials), 1e-300)
    v = trials * rate * (1 - rate)
    seen = np.maximum(_exclusive_cumsum(trials), 1e-300)
    return from_residuals(events - rate * trials, v * (1.0 + trials / seen))
