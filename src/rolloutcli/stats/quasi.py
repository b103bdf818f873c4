"""The rate test when requests cluster: the exact binomial until the split shows it is not.

Pure. The conditional-binomial e-process (:mod:`rolloutcli.stats.sequential`) is exact
when every request is an independent trial. Real requests cluster — a retried failure, a
user's session, one sick host — and each cohort's rate then jitters from interval to
interval more than the binomial allows, so the binomial test reads noise as evidence
(issue 15: 34-92% of healthy rollouts rejected at a coefficient of variation of 1.0).

At each interval ``t`` this module asks a Pearson test whether the split of events between
the cohorts over intervals ``1..t`` (centred at the ratio estimated from them, so a true
effect is not mistaken for dispersion) varies more than independent requests would; the
statistic's spread allows for intervals that hold only a handful of events (Osius & Rojek
1992), where the chi-square's would fire on independent requests far more often than its
level. A regression that begins mid-stage also spreads the split around one pooled ratio,
so a single change of level that explains far more than clustering could is taken for a
regression beginning, and the split for independent requests. While the test does not
fire, the evidence at ``t`` is the binomial's, unchanged. Once it does, the evidence at ``t`` is a
quasi-likelihood score test (Wedderburn 1974; McCullagh & Nelder 1989, ch. 4 and 9): the
score ``U = Σ (e_t - q0·m)`` of the split against its variance ``Σ φ_i·m·q0·(1-q0)``,
where the dispersion ``φ_i = a + c·x_i`` is fitted to the squared changes of the
standardised split between successive intervals (von Neumann 1941: a drift or a step
moves one change, not all) — a constant part for bursts of retried events, a part growing
with the interval's events for per-cohort jitter of the rate, ``x = 2·m·q·(1-q)`` (jitter
of coefficient of variation ``cv`` in each cohort makes ``φ = 1 + cv²·x``) — widened for the
few intervals it rests on and never below the realised spread. It is evaluated as a normal
mixture, an asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas
2021).

Two rules cover what the Pearson test cannot see. Nothing rejects before
:data:`MIN_INTERVALS` intervals carry events. And over the first :data:`BOTH_UNTIL`, a
*fall* in the treatment's rate (a ``lower_is_worse`` guardrail: conversions, accuracy) must
be shown by both tests. Evidence of a fall is built from many intervals each a little short
of events, which is just what a quiet spell of clustered traffic looks like, and the
Pearson statistic, driven by large squared residuals, barely sees such a spell; evidence
of a rise needs excess events, whose large residuals it sees at once. Later the Pearson
test has seen enough intervals; demanding both throughout would cost a fall 73-138% more
exposure before its rollback with independent requests.

The switch makes the whole an approximate, not an exact, e-process; its false-rejection
rate under clustering is measured by seeded simulation in ``tests/unit/test_guarantees.py``
and ``benchmarks/README.md``. With independent requests the Pearson test seldom fires and
the evidence is the binomial's, so its exactness at tiny counts and most of its speed are
kept.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rolloutcli.stats.moments import Array

Rows = NDArray[np.intp]
"""Indices of intervals."""

MIN_INTERVALS = 5
"""Intervals with events before anything may reject: with fewer, clustering cannot be told
from a difference at all."""
BOTH_UNTIL = 30
"""Intervals with events until which a fall must be shown by both tests."""
PEARSON_Z = 1.64
"""The split is called overdispersed when its statistic is this many standard deviations
above its expectation (one-sided 5%)."""
STEP_STRENGTH = 100.0
"""How much of Pearson's statistic a change of level must explain, in units of the
dispersion left around it, to be taken for a regression beginning rather than clustering
(an F statistic of one degree of freedom, the best of many splits). A regression that
doubles the rate at a few thousand requests a minute explains hundreds, even when
Prometheus's ``increase()`` smears it over two intervals; the best split of a series that
only clusters explains far less, but at 25-50 it still passed for a step often enough to
cost a point of alpha in the clustered simulations."""
WINDOW = 240
"""The most recent intervals the dispersion is fitted on, and where a change of level is
looked for: it keeps the work per look linear in a long rollout's intervals (with one-minute
intervals, the last four hours)."""
_FIT_ROUNDS = 4
_REMEMBERED = 32
_GATES: dict[bytes, tuple[NDArray[np.bool_], Array]] = {}
_ROWS_AT_ONCE = 256


def overdispersed_at(et: Array, nt: Array, ec: Array, nc: Array) -> tuple[NDArray[np.bool_], Array]:
    """:func:`_overdispersed_at`, remembered for the last few series: a guardrail's tiers,
    its guard and its power gate all ask it of the same counts."""
    key = b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in (et, nt, ec, nc))
    found = _GATES.get(key)
    if found is None:
        if len(_GATES) >= _REMEMBERED:
            _GATES.clear()
        with np.errstate(all="ignore"):  # absurd counts give inf/NaN: never "clustered"
            found = _GATES[key] = _overdispersed_at(et, nt, ec, nc)
    return found[0].copy(), found[1].copy()


def _overdispersed_at(
    et: Array, nt: Array, ec: Array, nc: Array
) -> tuple[NDArray[np.bool_], Array]:
    """Per interval ``t``: whether the Pearson test over intervals ``1..t`` finds the split
    overdispersed, and the number of intervals with events it rests on (cleaned arrays).

    A regression that begins mid-stage moves the split once; around one pooled ratio that
    reads as dispersion in every interval, and judging it as clustering would slow its
    rollback. So the split is called overdispersed only if it is so around the best single
    change of level too (two ratios, before and after the change)."""
    sums = np.cumsum(_pearson_parts(et, nt, ec, nc), axis=1)
    counts = np.cumsum(np.vstack([et, nt, ec, nc]), axis=1)
    k = np.cumsum(et + ec > 0).astype(np.float64)
    z = _pearson_z(sums, _ratio_of(*counts), k - 1)
    over = (k >= 3) & np.isfinite(z) & (z > PEARSON_Z)
    rows = np.flatnonzero(over)
    for start in range(0, rows.size, _ROWS_AT_ONCE):
        chunk = rows[start : start + _ROWS_AT_ONCE]
        over[chunk] = _still_over_with_a_step(sums, counts, k, chunk)
    return np.asarray(over), k


def rate_overdispersed_at(events: Array, trials: Array) -> NDArray[np.bool_]:
    """Per interval ``t``: whether one cohort's events over intervals ``1..t`` vary more
    than binomial counts at their running rate would (Pearson's statistic, its spread
    corrected for sparse counts as in :func:`_pearson_parts`, from the third interval with
    events on). For a test against an absolute limit, which has no control to split
    against: a change of level there is what the test looks for, so it is not set aside."""
    with np.errstate(all="ignore"):  # absurd counts give inf/NaN: never "clustered"
        total, count = np.cumsum(events), np.cumsum(trials)
        rate = total / count
        pq = rate * (1 - rate)
        chi = (np.cumsum(events * events / trials) - total * total / count) / pq
        k = np.cumsum(events > 0).astype(np.float64)
        dof = np.cumsum(np.ones_like(events)) - 1
        sparse = np.maximum((1 / pq - 6) * np.cumsum(1 / trials), 0.0)
        z = (chi - dof) / np.sqrt(2 * np.maximum(dof, 1) + sparse)
        over = (k >= 3) & (pq > 0) & np.isfinite(z) & (z > PEARSON_Z)
    return np.asarray(over)


def _pearson_parts(et: Array, nt: Array, ec: Array, nc: Array) -> Array:
    """Per interval, the six terms whose sums give Pearson's statistic and its spread at any
    ratio ``θ``: with ``r = s/(1-s)`` and ``q = θr/(1+θr)``,
    ``(e - q·m)² / (m·q·(1-q)) = A/θ + B + θ·C``, and a term's variance for binomial counts,
    ``2 + (1/(q(1-q)) - 6)/m`` (Osius & Rojek 1992: far above the chi-square's 2 where an
    interval holds a handful of events), is ``2 + D/θ - 4·F + θ·G``."""
    s = nt / (nt + nc)
    m = et + ec
    r = s / (1 - s)
    has = m > 0
    per = np.where(has, m, 1.0)
    return np.vstack(
        [
            np.where(has, et * et / (per * r), 0.0),
            np.where(has, 2 * et * et / per - 2 * et, 0.0),
            np.where(has, et * et * r / per - 2 * et * r + m * r, 0.0),
            np.where(has, 1.0 / (per * r), 0.0),
            np.where(has, 1.0 / per, 0.0),
            np.where(has, r / per, 0.0),
        ]
    )


def _pearson_z(sums: Array, theta: Array, dof: Array) -> Array:
    """How many standard deviations Pearson's statistic is above its degrees of freedom,
    from the summed parts (:func:`_pearson_parts`) at ratio ``theta``."""
    a, b, c, d, f, g = sums
    chi = a / theta + b + theta * c
    sparse = np.maximum(d / theta - 4 * f + theta * g, 0.0)
    return np.asarray((chi - dof) / np.sqrt(2 * np.maximum(dof, 1) + sparse), dtype=np.float64)


def _still_over_with_a_step(
    sums: Array, counts: Array, has: Array, rows: Rows
) -> NDArray[np.bool_]:
    """For each ``t`` in ``rows``: whether intervals ``0..t`` are overdispersed around two
    ratios, before and after the change of level that fits them best, among the splits
    with at least :data:`MIN_INTERVALS` intervals with events on each side (fewer, and a
    split would explain away any clustering) in the last :data:`WINDOW` intervals. The
    change must explain at least :data:`STEP_STRENGTH` times the spread left per
    interval: the best of many splits explains some of any clustered series, a
    regression beginning far more.

    ``sums``, ``counts`` and ``has`` are running sums over every interval of the Pearson
    parts, of the four counts and of the intervals with events."""
    split = rows[:, None] - WINDOW + np.arange(WINDOW)[None, :]  # the last interval before
    inside = split >= 0
    split = np.maximum(split, 0)
    t = rows[:, None]
    head, head_counts = sums[:, split], counts[:, split]
    before = _ratio_of(*head_counts)
    after = _ratio_of(*(counts[:, t] - head_counts))
    a, b, c, d, f, g = head
    chi = a / before + b + before * c
    sparse = d / before - 4 * f + before * g
    a, b, c, d, f, g = sums[:, t] - head
    chi = chi + a / after + b + after * c
    sparse = np.maximum(sparse + d / after - 4 * f + after * g, 0.0)
    dof = has[t] - 2
    usable = inside & (has[split] >= MIN_INTERVALS) & (has[t] - has[split] >= MIN_INTERVALS)
    pooled = _ratio_of(*counts[:, rows])[:, None]
    a, b, c = sums[:3, t]
    reduction = (a / pooled + b + pooled * c) - chi
    strength = np.where(usable, reduction / np.maximum(chi / np.maximum(dof, 1), 1.0), -np.inf)
    explained = (strength.max(axis=1) >= STEP_STRENGTH) & (dof[:, 0] >= 1)
    return np.asarray(~explained)


def _ratio_of(et: Array, nt: Array, ec: Array, nc: Array) -> Array:
    """The rate ratio of running (or remaining) totals; 1 where a cohort has no events."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_t, rate_c = et / nt, ec / nc
        ratio = rate_t / rate_c
    ok = (rate_t > 0) & (rate_c > 0) & np.isfinite(ratio)
    return np.asarray(np.where(ok, ratio, 1.0), dtype=np.float64)


def dispersion_fits(et: Array, nt: Array, ec: Array, nc: Array, rows: Rows) -> Array:
    """For each ``t`` in ``rows``, over intervals ``1..t``: ``(a, c)`` of the dispersion
    ``φ = a + c·x`` fitted to the split, and the realised ``Σ (e - q·m)²`` at the ratio
    estimated at ``t``: one row per ``t``."""
    fits = np.empty((rows.size, 3))
    for start in range(0, rows.size, _ROWS_AT_ONCE):
        chunk = rows[start : start + _ROWS_AT_ONCE]
        with np.errstate(all="ignore"):
            fits[start : start + chunk.size] = _fit_rows(et, nt, ec, nc, chunk)
    return fits


def _fit_rows(et: Array, nt: Array, ec: Array, nc: Array, rows: Rows) -> Array:
    """The rows of :func:`dispersion_fits`, for several ``t`` at once (in ascending order),
    each over the pairs of its last :data:`WINDOW` intervals.

    Each interval with events is standardised at the ratio estimated at ``t``,
    ``z = (e - q·m) / sqrt(m·q·(1-q))``, and the fit works on the squared changes between
    successive ones, ``(z_j - z_{j-1})² / 2`` (von Neumann 1941): ``φ`` on average, and a
    drift or a change of level moves one change, not every residual around the pooled
    ratio. ``φ = a + c·x`` is fitted to them by iteratively reweighted least squares (a
    squared change's variance grows as ``φ²``), with ``a >= 1`` and ``c >= 0``."""
    every = np.flatnonzero(et + ec > 0)
    # the intervals with events any row's window reaches
    idx = every[(every > rows[0] - WINDOW - 1) & (every <= rows[-1])]
    s = nt[idx] / (nt[idx] + nc[idx])
    m = et[idx] + ec[idx]
    theta = _running_ratio(et, nt, ec, nc)[rows]
    q = _share(theta[:, None], s[None, :])
    info = m[None, :] * q * (1 - q)
    z = (et[idx][None, :] - q * m[None, :]) / np.sqrt(info)
    # both intervals of the pair by t, the later within the window
    valid = (idx[None, 1:] <= rows[:, None]) & (idx[None, 1:] > rows[:, None] - WINDOW)
    r = np.where(valid, np.diff(z, axis=1) ** 2 / 2, 0.0)
    x = np.where(valid, info[:, 1:] + info[:, :-1], 0.0)  # the pair's mean of 2·info
    a, c = np.ones(rows.size), np.zeros(rows.size)
    for _ in range(_FIT_ROUNDS):
        w = np.where(valid, 1.0 / (a[:, None] + c[:, None] * x) ** 2, 0.0)
        s0, s1, s2 = w.sum(1) + 1e-9, (w * x).sum(1), (w * x * x).sum(1) + 1e-9
        r0, r1 = (w * r).sum(1), (w * x * r).sum(1)
        det = s0 * s2 - s1 * s1
        a = np.maximum(1.0, (s2 * r0 - s1 * r1) / det)
        c = np.maximum(0.0, (s0 * r1 - s1 * r0) / det)
    pairs = valid.sum(1)
    # the realised spread, Σ (e - q·m)² had no level moved: the changes, scaled up to
    # every interval with events
    intervals = np.searchsorted(every, rows, side="right")
    realised = (r * x / 2).sum(1) * intervals / np.maximum(pairs, 1)
    return np.column_stack([a, c, realised])


def quasi_scores(
    et: Array,
    nt: Array,
    ec: Array,
    nc: Array,
    rows: Rows,
    theta0: float,
    direction: int,
    fits: Array | None = None,
) -> tuple[Array, Array]:
    """For each ``t`` in ``rows``: the quasi-likelihood score of the split over intervals
    ``1..t`` against ``theta0``, and its variance under the fitted dispersion, widened for
    the few intervals the fit rests on and never below the realised sum of squares."""
    if fits is None:
        fits = dispersion_fits(et, nt, ec, nc, rows)
    with np.errstate(all="ignore"):  # absurd counts: inf, and a mixture of no evidence
        s = nt / (nt + nc)
        m = et + ec
        q0 = _share(theta0, s)
        unit = m * q0 * (1 - q0)
        k = np.cumsum(m > 0)[rows].astype(np.float64)
        base = np.cumsum(unit)[rows]
        grown = np.cumsum(unit * 2 * unit)[rows]
        widen = 1 + np.sqrt(2.0 / np.maximum(k, 1))
        variance = (fits[:, 0] * base + fits[:, 1] * grown) * widen
        score = direction * np.cumsum(et - q0 * m)[rows]
    return score, np.maximum(np.maximum(variance, fits[:, 2]), 1e-12)


def _share(theta: Array | float, s: Array) -> Array:
    """Treatment's expected share of an interval's events at rate ratio ``theta``."""
    return np.asarray(theta * s / (theta * s + 1 - s), dtype=np.float64)


def _running_ratio(et: Array, nt: Array, ec: Array, nc: Array) -> Array:
    """The rate ratio estimated from intervals ``1..t``, for every ``t`` (1 while a cohort
    has no events yet)."""
    return _ratio_of(np.cumsum(et), np.cumsum(nt), np.cumsum(ec), np.cumsum(nc))
