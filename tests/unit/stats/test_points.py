"""The difference-of-proportions test behind thresholds in percentage points (issue 21),
checked by seeded simulation: binomial draws from numpy, counted here, never by the
function under test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rolloutcli.stats.sequential import proportion_difference_evidence

ALPHA = 0.05


def draws(
    rng: np.random.Generator, looks: int, trials: int, treatment: float, control: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per look: ``trials`` treatment and 4x as many control trials, binomial events."""
    nt = np.full(looks, trials, dtype=float)
    nc = 4 * nt
    return rng.binomial(trials, treatment, looks), nt, rng.binomial(4 * trials, control, looks), nc


def rejection_rate(
    seed: int, runs: int, control: float, margin: float, truth: float, looks: int, trials: int
) -> float:
    """Share of runs whose evidence ever reaches 1/alpha over ``looks`` looks, with the true
    difference ``truth`` (in the worse direction of ``margin``)."""
    rng = np.random.default_rng(seed)
    direction = 1 if margin > 0 else -1
    rejected = 0
    for _ in range(runs):
        et, nt, ec, nc = draws(rng, looks, trials, control + truth, control)
        found = proportion_difference_evidence(et, nt, ec, nc, margin, direction)
        rejected += found.evidence.rejects(ALPHA)
    return rejected / runs


@pytest.mark.parametrize(
    ("control", "margin", "trials"),
    [
        (0.001, 0.02, 300),  # rare errors: no event for many looks
        (0.01, 0.02, 200),
        (0.05, 0.02, 500),
        (0.30, 0.02, 2000),
        (0.90, -0.02, 500),  # accuracy, lower is worse
    ],
)
def test_false_positives_at_the_margin_stay_within_alpha(
    control: float, margin: float, trials: int
) -> None:
    # exactly at the margin the null is true: every look counts against alpha
    runs = 300
    rate = rejection_rate(11, runs, control, margin, margin, 40, trials)
    tolerance = 2 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    assert rate <= ALPHA + tolerance


@pytest.mark.parametrize(("control", "margin"), [(0.01, 0.02), (0.90, -0.02)])
def test_a_difference_three_margins_out_is_caught(control: float, margin: float) -> None:
    assert rejection_rate(12, 60, control, margin, 3 * margin, 40, 500) >= 0.95


def test_a_large_ratio_inside_the_margin_is_not_a_breach() -> None:
    # 0.5% -> 1.5%: three times the rate, but one point: +2pp is not reached
    assert rejection_rate(13, 100, 0.005, 0.02, 0.01, 40, 500) <= ALPHA
