"""The rate test's check for clustered requests (stats/quasi.py): what it calls clustered,
what it does not, and the exact statistic it rests on, against code written here."""

from __future__ import annotations

import numpy as np
import pytest

from rolloutcli.stats import quasi
from rolloutcli.stats.sequential import one_sample_rate_evidence, rate_ratio_evidence


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


# ------------------------------------------------------ one cohort against an absolute limit


def _one_cohort_z_by_hand(events: np.ndarray, trials: np.ndarray) -> float:
    """Pearson's statistic of one cohort's counts at their overall rate, less its degrees
    of freedom, over its spread for binomial counts (2 a term, plus Osius & Rojek's
    (1/(pq) - 6)/n), one interval at a time."""
    p = events.sum() / trials.sum()
    chi = sum((e - p * n) ** 2 / (n * p * (1 - p)) for e, n in zip(events, trials, strict=True))
    dof = events.size - 1
    sparse = sum((1 / (p * (1 - p)) - 6) / n for n in trials)
    return float((chi - dof) / np.sqrt(2 * dof + sparse))


def test_one_cohorts_check_is_pearsons_at_every_interval() -> None:
    rng = np.random.default_rng(3)
    trials = rng.integers(50, 400, 40).astype(float)
    events = rng.binomial(trials.astype(int), rng.beta(0.5, 49.5, 40)).astype(float)
    over = quasi.rate_overdispersed_at(events, trials)
    for t in (5, 17, 39):
        z = _one_cohort_z_by_hand(events[: t + 1], trials[: t + 1])
        assert over[t] == (z > quasi.PEARSON_Z), (t, z)
    assert over[-1]  # a rate drawn afresh each interval (CV 1.4) is found out


def test_one_cohorts_independent_counts_are_seldom_called_clustered() -> None:
    rng = np.random.default_rng(4)
    flagged = 0
    for _ in range(200):
        trials = rng.poisson(rng.choice([20, 200, 2_000]), 90).astype(float) + 1
        flagged += quasi.rate_overdispersed_at(rng.binomial(trials.astype(int), 0.01), trials)[-1]
    assert flagged <= 0.08 * 200


def test_an_absolute_ceiling_on_a_jittering_rate_allows_for_it() -> None:
    rng = np.random.default_rng(5)
    trials = np.full(60, 2_000.0)
    events = rng.binomial(2_000, rng.beta(1.0, 99.0, 60)).astype(float)  # CV about 1
    ev = one_sample_rate_evidence(events, trials, 0.02)
    assert ev.method == "seq-quasi-binomial"
    clean = one_sample_rate_evidence(rng.binomial(2_000, 0.01, 60), trials, 0.02)
    assert clean.method == "seq-binomial"
