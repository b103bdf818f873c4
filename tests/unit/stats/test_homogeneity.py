"""Whether segments' rates differ (what ``plan suggest`` proposes ``segments:`` from): exact
values of Cochran's Q, the pooling and the decision rule on handcrafted series, recomputed
here in plain Python from the definitions; and a seeded simulation: segments that do not
differ, in clustered traffic, are proposed at most at the stated level (while Pearson's
chi-square without the dispersion, from scipy, calls them different most of the time)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from rolloutcli.stats.homogeneity import (
    LEVEL,
    Homogeneity,
    SegmentRate,
    homogeneity,
    proposal,
    segment_rates,
)

NAN = math.nan


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def von_neumann(events: list[float], trials: list[float]) -> float:
    """Σ (rate_i - rate_i+1)² / Σ p(1-p)(1/n_i + 1/n_i+1), p pooled: plain Python."""
    p = sum(events) / sum(trials)
    rates = [e / n for e, n in zip(events, trials, strict=True)]
    steps = sum((x - y) ** 2 for x, y in itertools.pairwise(rates))
    scale = sum(1 / x + 1 / y for x, y in itertools.pairwise(trials))
    return steps / (p * (1 - p) * scale)


# segment a clusters (0, 6, 0, 6 errors of 100), b is smooth, c is tiny
EVENTS = {"a": a(0, 6, 0, 6), "b": a(2, 2, 3, 1), "c": a(0, 1, 0, 0)}
TRIALS = {"a": a(100, 100, 100, 100), "b": a(200, 200, 200, 200), "c": a(2, 2, 2, 2)}


def test_each_segments_totals_and_dispersion() -> None:
    found = segment_rates(EVENTS, TRIALS, 0.01, "other")
    assert [s.name for s in found] == ["b", "a", "other"]
    b, a_, other = found
    assert (b.events, b.trials, a_.events, a_.trials) == (8, 800, 12, 400)
    assert (other.events, other.trials, other.pooled) == (1, 8, True)
    assert b.share == pytest.approx(800 / 1208, rel=1e-12)
    # a: rates 0, .06, 0, .06 around p = .03: φ = 3·.06² / (.03·.97·3·.02)
    assert von_neumann([0, 6, 0, 6], [100] * 4) == pytest.approx(6.185567010309279)
    assert a_.dispersion == pytest.approx(6.185567010309279, rel=1e-12)
    # b varies less than binomial (0.42): floored at 1
    assert von_neumann([2, 2, 3, 1], [200] * 4) < 1 and b.dispersion == 1.0


def test_cochrans_q_with_each_segments_dispersion() -> None:
    found = homogeneity("region", EVENTS, TRIALS, 0.01, "other")
    assert found is not None
    p = 21 / 1208
    phi_other = von_neumann([0, 1, 0, 0], [2] * 4)  # 1.52: two steps of 0.5 in four hours
    rows = [(8, 800, 1.0), (12, 400, 6.185567010309279), (1, 8, phi_other)]  # b, a, other
    weights = [n / (phi * p * (1 - p)) for _, n, phi in rows]
    rates = [e / n for e, n, _ in rows]
    mean = sum(w * r for w, r in zip(weights, rates, strict=True)) / sum(weights)
    q = sum(w * (r - mean) ** 2 for w, r in zip(weights, rates, strict=True))
    assert found.statistic == pytest.approx(q, rel=1e-12)
    assert found.df == 2
    assert found.p_value == pytest.approx(stats.chi2.sf(q, 2), rel=1e-9)
    # the furthest named segment (other is never named): b 1% against a and other's 13/408
    assert found.furthest is not None and found.furthest.name == "b"
    assert found.rest_rate == pytest.approx(13 / 408, rel=1e-12)
    assert found.ratio == pytest.approx(0.01 / (13 / 408), rel=1e-12)
    assert found.required() == ("b", "a")  # both at least 10% of the trials


def test_events_missing_where_trials_exist_count_zero_and_hours_without_trials_skip() -> None:
    events = {"x": a(NAN, 4, 2), "y": a(1, 1, 1)}
    trials = {"x": a(100, 100, NAN), "y": a(100, 100, 100)}
    x, y = segment_rates(events, trials, 0.01, "other")
    assert (x.name, x.events, x.trials) == ("y", 3, 300)
    assert (y.name, y.events, y.trials) == ("x", 4, 200)


def test_nothing_to_compare() -> None:
    assert homogeneity("region", {"a": a(1, 2)}, {"a": a(10, 10)}, 0.01, "other") is None
    none = {"a": a(0, 0), "b": a(0, 0)}
    assert homogeneity("region", none, {"a": a(10, 10), "b": a(10, 10)}, 0.01, "other") is None
    # a segment with no events of its own is compared, infinitely far from the rest
    found = homogeneity("r", {"a": a(0, 0), "b": a(5, 5)}, {"a": a(9, 9), "b": a(9, 9)}, 0.01, "o")
    assert found is not None and found.ratio == 0.0 and found.beyond_margin(5.0)


def made(by: str, p_value: float, ratio: float) -> Homogeneity:
    """A test result with a given p-value and furthest/rest ratio."""
    seg = SegmentRate("eu", ratio * 0.01 * 1000, 1000, 0.5, 1.0)
    return Homogeneity(by, (seg,), 0.0, 1, math.log(p_value), seg, 0.01)


def test_the_decision_rule() -> None:
    region, platform = made("region", 0.004, 1.3), made("platform", 0.001, 1.25)
    # beyond chance and beyond detect: the smallest p-value wins
    assert proposal([region, platform], 1.2) is platform
    # within detect (x1.25 against +30%): only region is far enough
    assert proposal([region, platform], 1.3) is region
    # the margin holds in either direction: a segment at 0.77x the rest is past -20% and +20%
    assert proposal([made("r", 0.001, 1 / 1.3)], 1.2) is not None
    assert proposal([made("r", 0.001, 1 / 1.3)], 1.31) is None
    # the level is shared among the labels tested: p 0.006 passes alone, not beside another
    assert proposal([made("region", 0.006, 2)], 1.2) is not None
    assert proposal([made("region", 0.006, 2), made("platform", 0.9, 1)], 1.2) is None
    assert LEVEL == 0.01
    # a tie goes to the first label given
    first, second = made("region", 0.001, 2), made("platform", 0.001, 2)
    assert proposal([first, second], 1.2) is first
    assert proposal([], 1.2) is None


SHARES = (0.40, 0.30, 0.15, 0.10, 0.05)
HOURS = 168
CLUSTER = 5  # errors arrive in bursts of 5: dispersion about 5


def clustered_history(
    rng: np.random.Generator, rates: tuple[float, ...]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A week of hourly requests (Poisson around 4,000/h split by SHARES) and errors in
    bursts of CLUSTER at each segment's rate."""
    events, trials = {}, {}
    for j, (share, rate) in enumerate(zip(SHARES, rates, strict=True)):
        n = rng.poisson(4000 * share, HOURS).astype(float)
        bursts = rng.binomial(n.astype(int), rate / CLUSTER)
        events[f"s{j}"], trials[f"s{j}"] = CLUSTER * bursts.astype(float), n
    return events, trials


def pearson_rejects(events: dict[str, np.ndarray], trials: dict[str, np.ndarray]) -> bool:
    e = [events[k].sum() for k in events]
    n = [trials[k].sum() for k in trials]
    table = np.array([e, [x - y for x, y in zip(n, e, strict=True)]])
    return bool(stats.chi2_contingency(table, correction=False).pvalue < LEVEL)


def test_segments_that_do_not_differ_are_rarely_proposed_in_clustered_traffic() -> None:
    rng = np.random.default_rng(20261207)
    runs, proposed, significant, pearson = 400, 0, 0, 0
    for _ in range(runs):
        events, trials = clustered_history(rng, (0.01,) * 5)
        found = homogeneity("region", events, trials, 0.01, "other")
        assert found is not None
        significant += found.beyond_chance(LEVEL)
        proposed += proposal([found], 1.2) is not None
        pearson += pearson_rejects(events, trials)
    # the test alone holds its level: 1% of 400 is 4; 3 sd of a binomial(400, 1%) is 6
    assert significant <= 10
    # with the margin (detect +20%) still fewer
    assert proposed <= significant
    # the same data through Pearson's chi-square without the dispersion: mostly "different"
    assert pearson > runs * 0.4


def test_a_segment_at_twice_the_rate_is_proposed() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(50):
        events, trials = clustered_history(rng, (0.01, 0.01, 0.01, 0.02, 0.01))
        found = homogeneity("region", events, trials, 0.01, "other")
        assert found is not None
        chosen = proposal([found], 1.2)
        hits += chosen is not None and chosen.furthest is not None and chosen.furthest.name == "s3"
    assert hits >= 48
