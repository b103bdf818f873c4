"""How much more a cohort's event rate varies between intervals than independent requests allow.

Pure. With independent requests, an interval's error rate varies around the cohort's rate
by the binomial amount ``p(1-p)/n``. Real requests cluster (a retried failure, a user's
session, one sick host), so the rate varies more: by a factor ``φ``, the *dispersion*.
``φ = 2.3`` reads "errors vary 2.3x more than independent requests would".

The estimate uses the differences of *successive* intervals' rates (von Neumann's
mean-square successive difference, 1941): a slow drift over the day or one step in the
level (an incident, a regression beginning) moves one difference, not all of them, so
neither is mistaken for dispersion the way spread around a single mean would be.

The verdict estimates ``φ`` on the **split** of each interval's events between the cohorts
(:func:`split_dispersion`): that is what its rate test works on, and an incident that hits
both cohorts alike cancels there. The rate test assumes ``φ = 1``; a significant ``φ`` is
shown as a warning that its p-values are optimistic. ``plan suggest`` estimates it on the
hourly rate of the history it sizes from (:func:`successive_dispersion`). Both are the
same estimator: the mean square successive difference over the binomial's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

Array = NDArray[np.float64]

GATE_LEVEL = 0.95
"""The dispersion is called significant when the chi-square test of ``φ = 1`` on the
successive differences rejects at this level (one-sided)."""
MIN_SPLIT_VARIANCE = 1.0
"""An interval counts towards the split's dispersion once its binomial variance
``m·s·(1-s)`` is at least this (a few events on each side): below it the residual is too
lumpy for the chi-square test of significance."""


@dataclass(frozen=True)
class Dispersion:
    """The dispersion of one series of per-interval counts."""

    factor: float
    """The point estimate of ``φ`` (1: as independent requests would vary)."""
    pairs: int
    """Successive pairs of intervals it rests on."""

    @property
    def significant(self) -> bool:
        """The chi-square test of ``φ = 1`` rejects at :data:`GATE_LEVEL`."""
        return bool(self.pairs >= 2 and self.factor > _gate(np.array([float(self.pairs)]))[0])

    def in_words(self) -> str:
        """What a release engineer reads, e.g. "varies 2.3x more between intervals than
        independent requests would (40 interval pairs)"."""
        if self.pairs < 2:
            return "too few intervals yet to tell whether requests cluster"
        if self.factor <= 1:
            return (
                f"varies no more than independent requests would ({self.factor:.1f}x over "
                f"{self.pairs} interval pairs)"
            )
        if not self.significant:
            return (
                f"varies as independent requests would ({self.factor:.1f}x, within noise "
                f"over {self.pairs} interval pairs)"
            )
        return (
            f"varies {self.factor:.1f}x more between intervals than independent requests "
            f"would ({self.pairs} interval pairs)"
        )


def _dof(pairs: Array) -> Array:
    """Effective degrees of freedom of ``k`` successive differences: neighbouring
    differences share an interval (an MA(1) series), which leaves about ``2k/3``."""
    return np.maximum(2.0 * pairs / 3.0, 1e-9)


def _gate(pairs: Array) -> Array:
    dof = _dof(pairs)
    return np.asarray(stats.chi2.ppf(GATE_LEVEL, dof) / dof, dtype=np.float64)


def _squared_steps(events: Array, trials: Array) -> tuple[Array, Array]:
    """Per interval from the second on: the squared change of the rate from the interval
    before, and the binomial variance of that change per unit ``p(1-p)``."""
    rate = events / trials
    step = np.diff(rate) ** 2
    scale = 1.0 / trials[1:] + 1.0 / trials[:-1]
    return step, scale


def successive_dispersion(
    events: Array,
    trials: Array,
    rate: float | None = None,
    present: NDArray[np.bool_] | None = None,
) -> Dispersion:
    """``φ`` of a per-interval series.

    ``rate`` is the cohort's event rate (default: pooled over the intervals present).
    ``present`` marks the intervals with data: only neighbours both present form a pair,
    so a gap is not read as a change. Without it every interval must have trials."""
    if present is None:
        present = np.ones(events.size, dtype=bool)
    pair = present[:-1] & present[1:]
    if not pair.any():
        return Dispersion(1.0, 0)
    p = float(events[present].sum() / trials[present].sum()) if rate is None else rate
    if not 0 < p < 1:
        return Dispersion(1.0, int(pair.sum()))
    safe = np.where(present, trials, 1.0)
    step, scale = _squared_steps(np.where(present, events, 0.0), safe)
    return Dispersion(float(step[pair].sum() / (p * (1 - p) * scale[pair].sum())), int(pair.sum()))


def split_residuals(et: Array, nt: Array, ec: Array, nc: Array) -> Array:
    """Per interval, how far the treatment's share of the events is from its share of the
    requests, in binomial standard deviations: ``(e_t - s·m) / sqrt(m·s·(1-s))`` with ``m``
    the interval's events and ``s`` treatment's share of its requests. NaN without events.

    An incident that hits both cohorts alike moves both counts in proportion and leaves
    this alone; only clustering *within* a cohort spreads it beyond 1. NaN where the
    interval's binomial variance is under :data:`MIN_SPLIT_VARIANCE`."""
    s = nt / (nt + nc)
    total = et + ec
    unit = total * s * (1 - s)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (et - s * total) / np.sqrt(unit)
    return np.asarray(np.where(unit >= MIN_SPLIT_VARIANCE, z, np.nan), dtype=np.float64)


def _split_steps(z: Array) -> tuple[Array, NDArray[np.bool_]]:
    """Per interval from the second on: the squared change of the residual from the
    interval before over its binomial variance (2), and whether both had events."""
    pair = np.isfinite(z[1:]) & np.isfinite(z[:-1])
    step = np.where(pair, np.diff(np.nan_to_num(z)) ** 2 / 2.0, 0.0)
    return step, pair


def split_dispersion(et: Array, nt: Array, ec: Array, nc: Array) -> Dispersion:
    """``φ`` of the split of events between the cohorts (clean arrays: trials in both)."""
    if et.size < 2:
        return Dispersion(1.0, 0)
    step, pair = _split_steps(split_residuals(et, nt, ec, nc))
    pairs = int(pair.sum())
    return Dispersion(float(step.sum() / pairs) if pairs else 1.0, pairs)
