"""Whether a ratio's rate differs between segments beyond chance and by a practical margin:
what ``rollout plan suggest`` reads from history to propose ``segments:`` on a guardrail
(pure: hourly series in, a typed answer out).

**The test** (Cochran's Q, a chi-square test of homogeneity). Over the history, segment
``j`` has ``E_j`` events out of ``N_j`` trials, rate ``p_j``; ``p`` is the pooled rate. Under
homogeneity every ``p_j`` estimates ``p`` with variance ``v_j = φ_j · p(1-p) / N_j``, where
``φ_j`` (at least 1) is the segment's own hour-to-hour dispersion: the successive-difference
estimator :mod:`sizing` applies to the whole history (:func:`dispersion.successive_dispersion`),
on the segment's hourly series. With weights ``w_j = 1/v_j`` and ``p̄ = Σ w_j p_j / Σ w_j``::

    Q = Σ w_j (p_j - p̄)²  ~  χ²(k - 1)  when the segments do not differ.

With ``φ_j = 1`` this is Pearson's chi-square of the k x 2 table. The ``φ_j`` are what keep
clustered traffic (a retried request failing twice, a sick host for an hour) from making every
label look different: clustering inflates each segment's total by ``φ_j`` and Pearson's
statistic with it, so over two weeks of busy traffic it would reject for any label at all.
Variation slower than an hour that is confined to one segment (a regional incident lasting
a day) is not dispersion here: it is the segment behaving differently, which it did.

**The margin.** Over weeks of traffic a difference of a few percent is significant and not
worth a breakdown. The segment furthest from the rest (``|ln(p_j / p_rest)|``, ``p_rest`` the
rate of every other segment together) must differ by at least the guardrail's ``detect:``
factor: its base rate differs from everyone else's by as much as the regression the plan is
sized to see.

Segments under ``min_fraction`` of the trials, and the source's own pooled segment, are
pooled into one (as the verdict pools them) before testing; the pooled one is tested but
never named as the segment that differs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rolloutcli.stats.dispersion import successive_dispersion
from rolloutcli.stats.moments import Array

LEVEL = 0.01
"""The chance that segments which do not differ are proposed for one guardrail, shared
equally (Bonferroni) among the labels tested for it."""
REQUIRE_SHARE = 0.10
"""A proposed breakdown requires the segments with at least this share of the trials."""


@dataclass(frozen=True)
class SegmentRate:
    """One segment's history, summed over the hours with trials."""

    name: str
    events: float
    trials: float
    share: float
    """Of all trials."""
    dispersion: float
    """``φ_j``, at least 1."""
    pooled: bool = False

    @property
    def rate(self) -> float:
        return self.events / self.trials


@dataclass(frozen=True)
class Homogeneity:
    """The test of one label for one guardrail."""

    by: str
    segments: tuple[SegmentRate, ...]
    """Largest first, the pooled segment last."""
    statistic: float
    """Cochran's Q."""
    df: int
    log_p: float
    """ln of the p-value (kept as a log: weeks of traffic drive it far below 1e-300)."""
    furthest: SegmentRate | None
    """The named segment whose rate is furthest from the rest's."""
    rest_rate: float
    """The rate of every segment but ``furthest``."""

    @property
    def p_value(self) -> float:
        return math.exp(self.log_p)

    @property
    def ratio(self) -> float:
        """``furthest``'s rate over the rest's (inf when the rest has no events)."""
        if self.furthest is None:
            return 1.0
        if self.rest_rate == 0:
            return math.inf if self.furthest.rate > 0 else 1.0
        return self.furthest.rate / self.rest_rate

    def beyond_chance(self, level: float) -> bool:
        return self.log_p < math.log(level)

    def beyond_margin(self, margin: float) -> bool:
        """``furthest`` differs from the rest by at least the factor ``margin`` (either way)."""
        if self.ratio in (0.0, math.inf):
            return True
        return abs(math.log(self.ratio)) >= abs(math.log(margin)) - 1e-12

    def required(self) -> tuple[str, ...]:
        """The named segments with at least :data:`REQUIRE_SHARE` of the trials."""
        return tuple(s.name for s in self.segments if not s.pooled and s.share >= REQUIRE_SHARE)


def _totals(events: Array | None, trials: Array) -> tuple[Array, Array, np.ndarray]:
    """Hourly events and trials where the segment has trials (events missing there: 0, a
    counter appears at its first increment), and which hours those are."""
    n = np.asarray(trials, dtype=np.float64)
    e = np.full(n.size, np.nan) if events is None else np.asarray(events, dtype=np.float64)
    ok = np.isfinite(n) & (n > 0)
    e = np.where(ok & ~np.isfinite(e), 0.0, e)
    return e, n, ok


def _pool_names(
    trials: Mapping[str, Array], min_fraction: float, other: str
) -> tuple[list[str], list[str]]:
    """The segments kept on their own (largest first), and those pooled."""
    sums = {name: float(np.nansum(series)) for name, series in trials.items()}
    total = sum(sums.values())
    kept = [n for n, v in sums.items() if n != other and total > 0 and v / total >= min_fraction]
    kept.sort(key=lambda n: (-sums[n], n))
    return kept, [n for n in trials if n not in kept]


def _segment(
    name: str, parts: list[tuple[Array, Array, np.ndarray]], total: float, pooled: bool
) -> SegmentRate:
    e = np.sum([np.where(ok, x, 0.0) for x, _, ok in parts], axis=0)
    n = np.sum([np.where(ok, y, 0.0) for _, y, ok in parts], axis=0)
    ok = n > 0
    events, trials = float(e[ok].sum()), float(n[ok].sum())
    phi = successive_dispersion(e, n, present=ok).factor if events > 0 else 1.0
    return SegmentRate(name, events, trials, trials / total, max(1.0, phi), pooled)


def segment_rates(
    events: Mapping[str, Array], trials: Mapping[str, Array], min_fraction: float, other: str
) -> tuple[SegmentRate, ...]:
    """Each segment's totals and dispersion; those under ``min_fraction`` of the trials
    (and ``other``) pooled into one named ``other``, last."""
    kept, small = _pool_names(trials, min_fraction, other)
    total = sum(float(np.nansum(series)) for series in trials.values())
    out = [_segment(n, [_totals(events.get(n), trials[n])], total, False) for n in kept]
    if small:
        parts = [_totals(events.get(n), trials[n]) for n in small]
        out.append(_segment(other, parts, total, True))
    return tuple(s for s in out if s.trials > 0)


def homogeneity(
    by: str,
    events: Mapping[str, Array],
    trials: Mapping[str, Array],
    min_fraction: float,
    other: str,
) -> Homogeneity | None:
    """Cochran's Q over the segments of ``by``; None with fewer than two segments or no
    events at all (nothing to compare)."""
    found = segment_rates(events, trials, min_fraction, other)
    total_e, total_n = sum(s.events for s in found), sum(s.trials for s in found)
    if len(found) < 2 or total_e <= 0 or total_e >= total_n:
        return None
    p = total_e / total_n
    weights = np.array([s.trials / (s.dispersion * p * (1 - p)) for s in found])
    rates = np.array([s.rate for s in found])
    mean = float(np.sum(weights * rates) / np.sum(weights))
    q = float(np.sum(weights * (rates - mean) ** 2))
    df = len(found) - 1
    furthest, rest = _furthest(found, total_e, total_n)
    return Homogeneity(by, found, q, df, float(stats.chi2.logsf(q, df)), furthest, rest)


def _furthest(
    found: tuple[SegmentRate, ...], total_e: float, total_n: float
) -> tuple[SegmentRate | None, float]:
    best: tuple[float, SegmentRate | None, float] = (-1.0, None, total_e / total_n)
    for s in found:
        if s.pooled:
            continue
        rest = (total_e - s.events) / (total_n - s.trials)
        if rest == 0 or s.events == 0:
            distance = math.inf if rest != s.rate else 0.0
        else:
            distance = abs(math.log(s.rate / rest))
        if distance > best[0]:
            best = (distance, s, rest)
    return best[1], best[2]


def proposal(tests: list[Homogeneity], margin: float, level: float = LEVEL) -> Homogeneity | None:
    """The label to break the guardrail down by: among those whose segments differ beyond
    chance (each tested at ``level`` / the number of labels) and by ``margin``, the one with
    the smallest p-value (the first given on a tie); None when none does."""
    if not tests:
        return None
    each = level / len(tests)
    passing = [t for t in tests if t.beyond_chance(each) and t.beyond_margin(margin)]
    return min(passing, key=lambda t: t.log_p, default=None)
