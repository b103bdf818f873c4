"""The rate test's check for clustered requests (stats/quasi.py): what it calls clustered,
what it does not, and the exact statistic it rests on, against code written here."""

from __future__ import annotations

import numpy as np
import pytest

from rolloutcli.stats import quasi
from rolloutcli.stats.sequential import rate_ratio_evidence


def _series(
    rng: np.random.Generator, minutes: int, rpm: int, share: float, cv: float = 0.0
) -> tuple[np.ndarray, ...]:
    """Per-minute counts at 1% errors; with ``cv`` each cohort's rate is redrawn every
    minute (beta-binomial)."""
    nt = rng.binomial(rpm, share, minutes)
    nc = rpm - nt

    def rate() -> np.ndarray | float:
        if cv == 0:
            return 0.01
        k = 0.99 / (cv * cv * 0.01) - 1
        return rng.beta(0.01 * k, 0.99 * k, minutes)

    et, ec = rng.binomial(nt, rate()), rng.binomial(nc, rate())
    return tuple(a.astype(float) for a in (et, nt, ec, nc))


def _pearson_by_hand(et: np.ndarray, nt: np.ndarray, ec: np.ndarray, nc: np.ndarray) -> float:
    """Pearson's statistic of the split over every interval with events, at the ratio of
    the totals, one interval at a time."""
    theta = (et.sum() / nt.sum()) / (ec.sum() / nc.sum())
    total = 0.0
    for e, n, f, o in zip(et, nt, ec, nc, strict=True):
        m = e + f
        if m == 0:
            continue
        s = n / (n + o)
        q = theta * s / (theta * s + 1 - s)
        total += (e - q * m) ** 2 / (m * q * (1 - q))
    return total


def test_the_running_statistic_is_pearsons_at_every_interval() -> None:
    et, nt, ec, nc = _series(np.random.default_rng(1), 40, 20_000, 0.05, cv=0.5)
    sums = np.cumsum(quasi._pearson_parts(et, nt, ec, nc), axis=1)
    theta = quasi._running_ratio(et, nt, ec, nc)
    for t in (4, 17, 39):
        a, b, c = sums[:3, t]
        found = a / theta[t] + b + theta[t] * c
        assert found == pytest.approx(_pearson_by_hand(*(x[: t + 1] for x in (et, nt, ec, nc))))


def test_per_cohort_jitter_is_called_clustered_and_allowed_for() -> None:
    et, nt, ec, nc = _series(np.random.default_rng(2), 60, 20_000, 0.05, cv=1.0)
    over, k = quasi.overdispersed_at(et, nt, ec, nc)
    assert over[-1] and k[-1] == 60
    assert rate_ratio_evidence(et, nt, ec, nc).method == "seq-quasi-binomial"


def test_a_regression_beginning_mid_stage_is_not_taken_for_clustering() -> None:
    """Independent requests; from minute 20 the treatment's errors triple. Around one
    pooled ratio the split looks overdispersed; around the change of level it does not,
    so the exact binomial judges it and rejects at once."""
    et, nt, ec, nc = _series(np.random.default_rng(3), 30, 20_000, 0.25)
    et[20:] = np.random.default_rng(4).binomial(nt[20:].astype(int), 0.03)
    pearson = _pearson_by_hand(et, nt, ec, nc)
    assert pearson > 3 * 29, "around the pooled ratio it looks clustered"
    over, _ = quasi.overdispersed_at(et, nt, ec, nc)
    assert not over[-1]
    found = rate_ratio_evidence(et, nt, ec, nc, 1.0, 1)
    assert found.method == "seq-conditional-binomial"
    assert found.rejects(0.001)


def test_independent_requests_at_sparse_counts_are_seldom_called_clustered() -> None:
    """The 1% stage at 2,000 requests a minute: a handful of events a minute, a fifth of an
    event in the treatment. The chi-square's spread would call these clustered far more
    often than its 5%; with the spread of sparse counts it stays near its level."""
    rng = np.random.default_rng(5)
    called = sum(
        bool(quasi.overdispersed_at(*_series(rng, 60, 2_000, 0.01))[0][-1]) for _ in range(200)
    )
    assert called <= 0.08 * 200, called


@pytest.mark.parametrize("cv", [0.0, 1.0])
@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("minutes", [3, 12, 60])
def test_the_bounds_read_the_same_evidence_as_the_test(
    cv: float, direction: int, minutes: int
) -> None:
    """The always-valid bounds invert the latest evidence; it is the test's own, with the
    same switch, the same first intervals and the same rule for a fall."""
    from rolloutcli.stats import sequential

    et, nt, ec, nc = _series(np.random.default_rng(minutes), minutes, 20_000, 0.05, cv=cv)
    for theta0 in (0.8, 1.0, 1.3):
        found = rate_ratio_evidence(et, nt, ec, nc, theta0, direction)
        now = sequential.log_rate_evidence_now(et, nt, ec, nc, theta0, direction)
        assert now == pytest.approx(np.log(found.e_value), abs=1e-9)


def test_absurd_counts_are_not_called_clustered_and_warn_of_nothing() -> None:
    """Counts past 1e154 overflow the statistic's squares: no warning, no switch."""
    import warnings

    huge = np.full(8, 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        over, _ = quasi.overdispersed_at(huge, huge * 10, huge, huge * 10)
        found = rate_ratio_evidence(huge, huge * 10, huge, huge * 10)
    assert not over.any()
    assert found.method == "seq-conditional-binomial"
