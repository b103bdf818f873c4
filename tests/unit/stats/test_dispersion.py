"""The dispersion estimator shared by the verdict and ``plan suggest``: exact values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rolloutcli.stats.dispersion import (
    Dispersion,
    split_dispersion,
    split_residuals,
    successive_dispersion,
)


def test_successive_differences_against_the_binomial_variance() -> None:
    # rates 1%, 2%, 1%: two squared steps of 1e-4; pooled p = 40/3000 = 1/75, so each
    # step's binomial variance is p(1-p)(1/1000 + 1/1000) = (74/5625) * 0.002
    d = successive_dispersion(np.array([10.0, 20.0, 10.0]), np.array([1000.0] * 3))
    assert d.pairs == 2
    assert d.factor == pytest.approx(2e-4 / (74 / 5625 * 0.004), rel=1e-12)
    assert d.factor == pytest.approx(3.800675675675676, rel=1e-12)


def test_a_step_in_the_level_moves_one_difference_not_all() -> None:
    # 20 intervals at exactly 1%, then 20 at exactly 3%: one step of 2%, which spread
    # around a single mean would read as huge dispersion
    events = np.array([10.0] * 20 + [30.0] * 20)
    d = successive_dispersion(events, np.full(40, 1000.0))
    p = 0.02
    assert d.factor == pytest.approx(0.02**2 / (p * (1 - p) * 39 * 0.002), rel=1e-12)
    assert d.pairs == 39


def test_a_gap_is_not_a_pair() -> None:
    events = np.array([10.0, math.nan, 30.0, 30.0])
    trials = np.array([1000.0, math.nan, 1000.0, 1000.0])
    present = np.isfinite(events)
    d = successive_dispersion(events, trials, 0.02, present)
    assert d == Dispersion(0.0, 1)  # only (2, 3) is a pair, and it does not move
    assert successive_dispersion(np.array([5.0]), np.array([100.0])) == Dispersion(1.0, 0)


def test_significance_is_a_chi_square_test_on_two_thirds_of_the_pairs() -> None:
    dof = 2 * 30 / 3
    edge = stats.chi2.ppf(0.95, dof) / dof  # 1.5705 for 20 degrees of freedom
    assert edge == pytest.approx(1.5705, abs=1e-4)
    assert Dispersion(edge * 1.001, 30).significant
    assert not Dispersion(edge * 0.999, 30).significant
    assert not Dispersion(50.0, 1).significant


def test_words_a_release_engineer_reads() -> None:
    assert Dispersion(2.345, 40).in_words() == (
        "varies 2.3x more between intervals than independent requests would (40 interval pairs)"
    )
    assert Dispersion(1.1, 40).in_words() == (
        "varies as independent requests would (1.1x, within noise over 40 interval pairs)"
    )
    assert Dispersion(0.8, 40).in_words() == (
        "varies no more than independent requests would (0.8x over 40 interval pairs)"
    )
    assert "too few intervals" in Dispersion(1.0, 1).in_words()


def test_the_split_against_the_binomial() -> None:
    # share s = 1/2, 40 events an interval: binomial variance 10, residuals (e_t - 20)/sqrt(10)
    et = np.array([20.0, 26.0, 14.0, 20.0])
    nt = np.full(4, 1000.0)
    z = split_residuals(et, nt, 40.0 - et, nt)
    assert np.allclose(z, np.array([0.0, 6.0, -6.0, 0.0]) / math.sqrt(10.0), rtol=1e-12)
    d = split_dispersion(et, nt, 40.0 - et, nt)
    # successive squared changes 3.6, 14.4, 3.6, each over 2 (the variance of a change)
    assert d.pairs == 3
    assert d.factor == pytest.approx((3.6 + 14.4 + 3.6) / 2 / 3, rel=1e-12)


def test_an_incident_hitting_both_cohorts_does_not_count() -> None:
    # the same 10% share each minute; the total jumps 1 -> 20 times (an incident)
    nt, nc = np.full(6, 1000.0), np.full(6, 9000.0)
    total = np.array([100.0, 100.0, 2000.0, 2000.0, 100.0, 100.0])
    d = split_dispersion(0.1 * total, nt, 0.9 * total, nc)
    assert d == Dispersion(0.0, 5)


def test_too_few_events_to_judge_are_left_out() -> None:
    # binomial variance m s (1-s) = 10 * 0.01 * 0.99 < 1: not counted
    nt, nc = np.full(5, 10.0), np.full(5, 990.0)
    d = split_dispersion(np.zeros(5), nt, np.full(5, 10.0), nc)
    assert d == Dispersion(1.0, 0)
    assert "too few intervals" in d.in_words()


def test_independent_requests_read_near_one_and_clustered_far_above() -> None:
    rng = np.random.default_rng(12)
    nt = rng.binomial(20_000, 0.25, 200).astype(float)
    nc = 20_000 - nt
    calm = split_dispersion(
        rng.binomial(nt.astype(int), 0.01), nt, rng.binomial(nc.astype(int), 0.01), nc
    )
    assert 0.8 < calm.factor < 1.25 and not calm.significant
    k = (1 - 0.01) / (0.3**2 * 0.01) - 1
    jitter = lambda n: rng.binomial(n.astype(int), rng.beta(0.01 * k, 0.99 * k, n.size))  # noqa: E731
    wild = split_dispersion(jitter(nt).astype(float), nt, jitter(nc).astype(float), nc)
    # per-cohort CV 0.3: excess 2 c^2 s (1-s) m = 2 * 0.09 * 0.1875 * 200 = 6.75
    assert wild.significant
    assert 5.0 < wild.factor < 10.5


def test_the_clustering_warning_is_whole_at_80_columns() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from rolloutcli.judge.findings import Finding
    from rolloutcli.render.console import _print_clustering

    def finding(name: str, spread: Dispersion, test: str = "seq-conditional-binomial") -> Finding:
        return Finding(
            name, "ratio", "ok", 0.01, 0.011, 0.1, 0.4, test,
            None, None, 1e5, 1e4, None, "q", dispersion=spread,
        )  # fmt: skip

    clustered, calm, allowed = (
        finding("error_rate", Dispersion(2.345, 119)),
        finding("fallbacks", Dispersion(1.0, 119)),
        finding("timeouts", Dispersion(3.0, 119), "seq-quasi-binomial"),
    )
    console = Console(width=80, record=True, color_system=None)
    _print_clustering(console, SimpleNamespace(findings=[clustered, calm, allowed]))  # type: ignore[arg-type]
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert " ".join(text.split()) == (
        "clustering: error_rate varies 2.3x more between intervals than independent "
        "requests would (119 interval pairs); its test assumes independent requests, so "
        "its p-value is optimistic "
        "clustering: timeouts varies 3.0x more between intervals than independent "
        "requests would (119 interval pairs); its test allows for that (quasi-likelihood), "
        "so its p-value holds"
    )
