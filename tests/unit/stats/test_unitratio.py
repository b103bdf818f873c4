"""The delta method for a ratio of per-unit sums: moments from each unit's events and trials,
checked against the per-unit values computed here directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from rolloutcli.stats.moments import UnitMoments
from rolloutcli.stats.unitratio import (
    linearized,
    one_sample_ratio_test,
    ratio_and_variance,
    two_ratio_test,
)


def sums(*units: tuple[float, float]) -> UnitMoments:
    """One interval holding these (events, trials) units."""
    e = np.array([u[0] for u in units], dtype=float)
    t = np.array([u[1] for u in units], dtype=float)
    return UnitMoments.of([e.size], [e.sum()], [t.sum()], [e @ e], [t @ t], [e @ t])


def delta_variance(units: list[tuple[float, float]]) -> tuple[float, float]:
    """The ratio of sums and its delta-method variance, from the units one by one."""
    e = np.array([u[0] for u in units], dtype=float)
    t = np.array([u[1] for u in units], dtype=float)
    ratio = e.sum() / t.sum()
    z = ratio + (e - ratio * t) / t.mean()
    return ratio, float(np.var(z, ddof=1) / e.size)


A = [(0.0, 4.0), (2.0, 2.0), (1.0, 4.0)]
B = [(0.0, 10.0), (1.0, 3.0), (0.0, 1.0), (3.0, 6.0)]


def test_the_linearised_values_have_the_ratio_as_mean_and_the_delta_spread() -> None:
    # R = 3/10, mean trials 10/3, deviations e - R t: -1.2, 1.4, -0.2 (squares sum 3.44)
    found = linearized(sums(*A))
    assert found.n.tolist() == [3.0]
    assert found.total[0] == pytest.approx(0.9)
    spread = found.total_sq[0] - found.total[0] ** 2 / 3
    assert spread == pytest.approx(3.44 / (10 / 3) ** 2)


def test_the_ratio_and_its_variance_pool_the_intervals() -> None:
    one, two = sums(*A), sums(*B)
    pairs = zip(one.arrays(), two.arrays(), strict=True)
    both = UnitMoments(*(np.concatenate([a, b]) for a, b in pairs))
    ratio, variance, n = ratio_and_variance(both) or (0.0, 0.0, 0)
    expected_ratio, expected_variance = delta_variance(A + B)
    assert n == 7
    assert ratio == pytest.approx(expected_ratio) == pytest.approx(7 / 30)
    assert variance == pytest.approx(expected_variance)


def test_an_interval_without_units_or_trials_is_missing() -> None:
    empty = UnitMoments.of([np.nan, 2.0], [np.nan, 0.0], [np.nan, 0.0], [0, 0], [0, 0], [0, 0])
    found = linearized(empty)
    assert math.isnan(found.n[0]) and math.isnan(found.n[1])
    assert ratio_and_variance(empty) is None


def test_the_fixed_test_is_a_z_test_on_the_two_ratios() -> None:
    rt, vt = delta_variance(B)
    rc, vc = delta_variance(A)
    z = (rt - rc) / math.sqrt(vt + vc)
    found = two_ratio_test(sums(*B), sums(*A), "greater")
    assert found is not None and found.method == "delta-z"
    assert found.statistic == pytest.approx(z)
    assert found.p_value == pytest.approx(float(norm.sf(z)))
    less = two_ratio_test(sums(*B), sums(*A), "less")
    assert less is not None and less.p_value == pytest.approx(float(norm.cdf(z)))


def test_the_one_sample_test_compares_the_ratio_with_the_limit() -> None:
    ratio, variance = delta_variance(B)
    found = one_sample_ratio_test(sums(*B), 0.1, "greater")
    assert found is not None
    assert found.statistic == pytest.approx((ratio - 0.1) / math.sqrt(variance))


def test_one_unit_is_too_few_and_no_spread_decides_on_the_sign() -> None:
    assert two_ratio_test(sums((1.0, 2.0)), sums(*A)) is None
    same = sums((1.0, 10.0), (2.0, 20.0))  # every unit at 10%: no spread
    assert two_ratio_test(same, same) is not None
    found = two_ratio_test(sums((2.0, 10.0), (4.0, 20.0)), same, "greater")
    assert found is not None and found.p_value == 0.0 and found.statistic is None
