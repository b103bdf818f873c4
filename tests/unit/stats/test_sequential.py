"""Unit tests for rolloutcli.stats.sequential, checked against independent reference computations.

None of the expected values comes from the module's own helpers:

* the normal-mixture e-value is checked against the mixture integral itself, integrated
  numerically with ``scipy.integrate.quad`` (and, for sizing, against the closed form
  written out here with ``scipy.stats.norm.logcdf``);
* the rate-ratio e-process is recomputed with plain Python loops: the grid of alternatives
  is rebuilt from its definition (28 geometric steps from 1.02 to 12) and compared with
  ``_LOG_STEPS``, the log-normal prior weights are written out with ``math``, and every
  conditional-binomial likelihood ratio, product over intervals, weighted average and
  running maximum is computed by hand;
* the sample-ratio e-value is the beta-binomial closed form via ``scipy.special.betaln``;
* the pooled variance is computed from the raw values (sums of squared deviations);
* the error-rate claims (Ville's inequality: ``P(sup_t E_t >= 1/alpha) <= alpha``) are
  checked by seeded simulation, with a fixed-horizon z-test (``scipy.stats.norm``)
  repeated at every look as the contrast that shows why a sequential test is needed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special
from scipy.stats import chi2, norm

from rolloutcli.stats import sequential
from rolloutcli.stats.moments import MomentSeries
from rolloutcli.stats.sequential import (
    _LOG_STEPS,
    Evidence,
    bound,
    first_passage_median,
    information_needed,
    mean_difference_evidence,
    normal_log_e,
    one_sample_mean_evidence,
    one_sample_rate_evidence,
    predictable_variances,
    rate_ratio_evidence,
    rate_ruling_out_drift,
    rate_ruling_out_evidence,
    running_variances,
    split_evidence,
)

# --------------------------------------------------------------------------- references


def mixture_log_e_quad(s: float, info: float, tau: float) -> float:
    """log ∫_0^∞ halfnormal_τ(δ) · exp(δ s - δ² I / 2) dδ, by numerical quadrature.

    The integrand is a (scaled) Gaussian in δ with mode ``s / (I + 1/τ²)`` and sd
    ``1/sqrt(I + 1/τ²)``; integrating to 40 sd past the mode loses less than exp(-800).
    """
    precision = info + 1.0 / tau**2
    mode = s / precision
    sd = 1.0 / math.sqrt(precision)
    norm_const = 2.0 / math.sqrt(2.0 * math.pi * tau**2)

    def integrand(d: float) -> float:
        return norm_const * math.exp(-(d**2) / (2 * tau**2) + d * s - d**2 * info / 2)

    upper = max(mode, 0.0) + 40.0 * sd
    points = [mode] if 0.0 < mode < upper else None
    value, _ = integrate.quad(
        integrand, 0.0, upper, points=points, epsabs=0.0, epsrel=1e-12, limit=200
    )
    return math.log(value)


def mixture_log_e_closed(s: float, info: float, tau: float) -> float:
    """The same mixture in closed form: 2/√(1+τ²I) · exp(z²/2) · Φ(z), z = τ s/√(1+τ²I)."""
    denom = 1.0 + tau**2 * info
    z = tau * s / math.sqrt(denom)
    return math.log(2.0) - 0.5 * math.log(denom) + 0.5 * z * z + float(norm.logcdf(z))


def reference_grid() -> list[float]:
    """log of 28 ratios spaced geometrically from 1.02 to 12 (the documented grid)."""
    lo, hi = math.log(1.02), math.log(12.0)
    return [lo + k * (hi - lo) / 27 for k in range(28)]


def reference_weights(center: float) -> list[float]:
    """Log-normal prior over the grid: exp(-((L - center) / 0.6)² / 2), normalised."""
    raw = [math.exp(-0.5 * ((step - center) / 0.6) ** 2) for step in reference_grid()]
    total = sum(raw)
    return [w / total for w in raw]


def reference_rate_ratio(
    et: list[float],
    nt: list[float],
    ec: list[float],
    nc: list[float],
    theta0: float,
    direction: int,
    center: float,
) -> list[float]:
    """The mixture e-value after each interval, by explicit loops."""
    grid, weights = reference_grid(), reference_weights(center)
    lrs = [1.0] * len(grid)
    path = []
    for e_t, n_t, e_c, n_c in zip(et, nt, ec, nc, strict=True):
        s = n_t / (n_t + n_c)
        q0 = theta0 * s / (theta0 * s + 1 - s)
        for k, step in enumerate(grid):
            theta1 = theta0 * math.exp(direction * step)
            q1 = theta1 * s / (theta1 * s + 1 - s)
            lrs[k] *= (q1 / q0) ** e_t * ((1 - q1) / (1 - q0)) ** e_c
        path.append(sum(w * lr for w, lr in zip(weights, lrs, strict=True)))
    return path


def moments(groups: list[list[float]]) -> MomentSeries:
    """Per-interval count, sum and sum of squares of raw values."""
    return MomentSeries.of(
        [len(g) for g in groups],
        [sum(g) for g in groups],
        [sum(x * x for x in g) for g in groups],
    )


def moments_of(values: np.ndarray) -> MomentSeries:
    """Moments of a (intervals, values-per-interval) array."""
    n = np.full(values.shape[0], values.shape[1], dtype=float)
    return MomentSeries.of(n, values.sum(axis=1), (values**2).sum(axis=1))


# --------------------------------------------------------------------------- normal mixture


@pytest.mark.parametrize(
    ("s", "info", "tau"),
    [
        (0.0, 1.0, 1.0),
        (2.5, 4.0, 0.5),
        (-1.5, 3.0, 2.0),
        (10.0, 50.0, 0.3),
        (0.3, 100.0, 0.1),
        (40.0, 400.0, 0.25),
    ],
)
def test_normal_log_e_equals_integrated_mixture(s: float, info: float, tau: float) -> None:
    assert normal_log_e(s, info, tau) == pytest.approx(
        mixture_log_e_quad(s, info, tau), rel=1e-6, abs=1e-9
    )


def test_normal_log_e_is_zero_before_any_information() -> None:
    # With no information the likelihood ratio is 1 for every δ, so the mixture is 1.
    assert normal_log_e(0.0, 0.0, 0.7) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- rate ratio


def test_rate_grid_matches_its_definition() -> None:
    assert np.allclose(_LOG_STEPS, reference_grid(), rtol=0, atol=1e-12)


# Six intervals of a large regression, then the same six twice more: 18 intervals, past
# the first ones where nothing may reject (quasi.MIN_INTERVALS) and those where a fall must
# also be shown by the quasi-likelihood test (quasi.BOTH_UNTIL), and a split that varies
# as independent requests would, so the evidence is the binomial mixture's alone.
HAND_ET = [12.0, 15.0, 9.0, 11.0, 14.0, 4.0] * 3
HAND_NT = [100.0, 120.0, 90.0, 110.0, 105.0, 95.0] * 3
HAND_EC = [20.0, 30.0, 25.0, 22.0, 28.0, 24.0] * 3
HAND_NC = [1900.0, 1880.0, 1910.0, 1890.0, 1895.0, 1905.0] * 3


@pytest.mark.parametrize(
    ("theta0", "direction", "detect", "center"),
    [
        (1.0, 1, None, math.log(1.5)),
        (1.0, 1, 2.0, math.log(2.0)),
        (1.0, 1, 0.5, math.log(2.0)),  # the centre is a distance: 0.5 is as far as 2
        (1.3, 1, None, math.log(1.5)),
        (8.0, -1, None, math.log(1.5)),
        (8.0, -1, 4.0, math.log(2.0)),
    ],
)
def test_rate_ratio_matches_hand_mixture(
    theta0: float, direction: int, detect: float | None, center: float
) -> None:
    path = reference_rate_ratio(HAND_ET, HAND_NT, HAND_EC, HAND_NC, theta0, direction, center)
    # the running maximum starts from E_0 = 1; the first four intervals may not reject
    top = max([1.0, *path[4:]])
    ev = rate_ratio_evidence(HAND_ET, HAND_NT, HAND_EC, HAND_NC, theta0, direction, detect)
    assert ev.intervals == 18
    assert ev.method == "seq-conditional-binomial"
    assert ev.e_value == pytest.approx(path[-1], rel=1e-9)
    assert ev.max_e_value == pytest.approx(top, rel=1e-9)
    assert ev.p_value == pytest.approx(min(1.0, 1.0 / top), rel=1e-9)


def test_nothing_rejects_in_the_first_four_intervals() -> None:
    """However large the regression: four intervals cannot tell clustered requests from a
    difference (tests/unit/test_guarantees.py measures why)."""
    first = rate_ratio_evidence(HAND_ET[:4], HAND_NT[:4], HAND_EC[:4], HAND_NC[:4])
    assert first.max_e_value == 1.0
    assert first.e_value <= 1.0
    fifth = rate_ratio_evidence(HAND_ET[:5], HAND_NT[:5], HAND_EC[:5], HAND_NC[:5])
    assert fifth.rejects(1e-9)


def test_rate_ratio_hand_example_has_a_running_max_above_the_final_value() -> None:
    # The sixth interval has no treatment events, which pulls the evidence back: the
    # rejection decision must use the maximum reached, not the latest value.
    et = [*HAND_ET[:5], 0.0]
    path = reference_rate_ratio(et, HAND_NT[:6], HAND_EC[:6], HAND_NC[:6], 1.0, 1, math.log(1.5))
    ev = rate_ratio_evidence(et, HAND_NT[:6], HAND_EC[:6], HAND_NC[:6])
    assert path[-1] < max(path)
    assert ev.e_value < ev.max_e_value
    assert ev.max_e_value > 20  # strong evidence of a regression (12/100 vs 20/1900)
    assert ev.rejects(0.05)


def test_rate_ratio_no_evidence_when_treatment_is_better() -> None:
    ev = rate_ratio_evidence([0, 1, 0], [100, 100, 100], [20, 20, 20], [1900, 1900, 1900])
    path = reference_rate_ratio(
        [0, 1, 0], [100, 100, 100], [20, 20, 20], [1900, 1900, 1900], 1.0, 1, math.log(1.5)
    )
    assert max(path) < 1
    assert ev.max_e_value == 1.0
    assert ev.p_value == 1.0
    assert ev.e_value == pytest.approx(path[-1], rel=1e-9)


def test_rate_ratio_skips_missing_intervals() -> None:
    nan = math.nan
    et = [3.0, nan, 4.0, 2.0, 5.0, 1.0, 6.0, 0.0, *HAND_ET]
    nt = [100.0, 100.0, nan, 100.0, 0.0, 100.0, 110.0, 95.0, *HAND_NT]
    ec = [20.0, 22.0, 21.0, nan, 19.0, 18.0, 25.0, 20.0, *HAND_EC]
    nc = [1900.0, 1900.0, 1900.0, 1900.0, 1900.0, nan, 1890.0, 0.0, *HAND_NC]
    # Kept: interval 0, interval 6 and the hand intervals after them. Interval 7 has no
    # control trials, 4 no treatment trials; the others have a NaN somewhere.
    keep = [0, 6, *range(8, len(et))]
    kept = [[a[i] for i in keep] for a in (et, nt, ec, nc)]
    ev = rate_ratio_evidence(et, nt, ec, nc)
    assert ev == rate_ratio_evidence(*kept)
    assert ev.intervals == 20
    path = reference_rate_ratio(*kept, 1.0, 1, math.log(1.5))
    assert ev.e_value == pytest.approx(path[-1], rel=1e-9)


def test_rate_ratio_with_no_usable_interval_is_neutral() -> None:
    nan = math.nan
    ev = rate_ratio_evidence([nan, 1.0], [100.0, 0.0], [5.0, 2.0], [1000.0, 900.0])
    assert ev == Evidence("seq-conditional-binomial", 1.0, 1.0, 0)
    assert ev.p_value == 1.0
    assert not ev.rejects(0.5)


def test_one_sample_rate_matches_hand_mixture_and_skips_missing() -> None:
    limit = 0.01
    events = [3.0, math.nan, 4.0, 2.0, 5.0]
    trials = [200.0, 200.0, 0.0, 150.0, 210.0]
    keep = [0, 3, 4]
    grid, weights = reference_grid(), reference_weights(math.log(1.5))
    lrs = [1.0] * len(grid)
    path = []
    for i in keep:
        for k, step in enumerate(grid):
            p1 = limit * math.exp(step)
            lrs[k] *= (p1 / limit) ** events[i] * ((1 - p1) / (1 - limit)) ** (
                trials[i] - events[i]
            )
        path.append(sum(w * lr for w, lr in zip(weights, lrs, strict=True)))
    ev = one_sample_rate_evidence(events, trials, limit)
    assert ev.intervals == 3
    assert ev.e_value == pytest.approx(path[-1], rel=1e-9)
    assert ev.max_e_value == pytest.approx(max([1.0, *path]), rel=1e-9)


# --------------------------------------------------------------------------- simulations

ALPHA = 0.05
RUNS = 400
LOOKS = 50
REQUESTS = 2000
SHARE = 0.05
RATE = 0.01


def simulate_trials(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-interval trials of each cohort: REQUESTS split binomially with share SHARE."""
    nt = rng.binomial(REQUESTS, SHARE, size=(RUNS, LOOKS))
    return nt, REQUESTS - nt


def rejection_rate(
    et: np.ndarray, nt: np.ndarray, ec: np.ndarray, nc: np.ndarray, alpha: float
) -> float:
    hits = sum(
        rate_ratio_evidence(et[r], nt[r], ec[r], nc[r]).rejects(alpha) for r in range(et.shape[0])
    )
    return hits / et.shape[0]


def test_rate_ratio_false_positive_rate_over_fifty_looks() -> None:
    rng = np.random.default_rng(20240501)
    nt, nc = simulate_trials(rng)
    et = rng.binomial(nt, RATE)
    ec = rng.binomial(nc, RATE)

    # The e-process: max_e_value is the running maximum over all 50 looks, so one call
    # per run answers "did any look reject?". Ville: P(reject) <= alpha.
    sequential = rejection_rate(et, nt, ec, nc, ALPHA)
    assert sequential <= ALPHA

    # Contrast: a fixed-horizon one-sided pooled two-proportion z-test, recomputed on the
    # cumulative counts at each look, rejects a true null far more often than alpha.
    cet, cnt, cec, cnc = (np.cumsum(a, axis=1) for a in (et, nt, ec, nc))
    pooled = (cet + cec) / (cnt + cnc)
    se = np.sqrt(pooled * (1 - pooled) * (1 / cnt + 1 / cnc))
    diff = cet / cnt - cec / cnc
    z = np.divide(diff, se, out=np.zeros_like(diff), where=se > 0)
    repeated_fixed = float(np.mean((norm.sf(z) < ALPHA).any(axis=1)))
    assert repeated_fixed > 0.1
    assert repeated_fixed > 3 * max(sequential, 0.01)


def test_rate_ratio_is_immune_to_incidents_hitting_both_cohorts() -> None:
    rng = np.random.default_rng(77)
    nt, nc = simulate_trials(rng)
    factor = np.ones((RUNS, LOOKS))
    factor[:, 10:14] = 6.0  # two incidents: both cohorts' error rate jumps 6x
    factor[:, 30:33] = 6.0
    et = rng.binomial(nt, RATE * factor)
    ec = rng.binomial(nc, RATE * factor)
    assert rejection_rate(et, nt, ec, nc, ALPHA) <= ALPHA


def test_rate_ratio_power_for_a_doubled_error_rate() -> None:
    rng = np.random.default_rng(4242)
    nt, nc = simulate_trials(rng)
    et = rng.binomial(nt, 2 * RATE)
    ec = rng.binomial(nc, RATE)
    assert rejection_rate(et, nt, ec, nc, ALPHA / 3) >= 0.9


# --------------------------------------------------------------------------- ruling out


def test_ruling_out_is_the_point_likelihood_ratio_by_hand() -> None:
    # 3 intervals; under θ0 = 1.5 an event lands in treatment with q0 = 1.5s/(1.5s + 1 - s),
    # under no effect with s; the e-value is Π (s/q0)^et ((1-s)/(1-q0))^ec
    et, nt, ec, nc = [2.0, 0.0, 1.0], [500.0, 480.0, 520.0], [3.0, 4.0, 2.0], [500.0, 520.0, 480.0]
    path, product = [], 1.0
    for a, b, c, d in zip(et, nt, ec, nc, strict=True):
        share = b / (b + d)
        q0 = 1.5 * share / (1.5 * share + 1 - share)
        product *= (share / q0) ** a * ((1 - share) / (1 - q0)) ** c
        path.append(product)
    ev = rate_ruling_out_evidence(*(np.array(x) for x in (et, nt, ec, nc)), 1.5)
    assert ev.intervals == 3
    assert ev.e_value == pytest.approx(path[-1], rel=1e-12)
    assert ev.max_e_value == pytest.approx(max(1.0, *path), rel=1e-12)


@pytest.mark.parametrize(("theta0", "truth"), [(1.5, 1.5), (1.5, 2.0), (0.9, 0.9), (0.9, 0.8)])
def test_ruling_out_keeps_beta_at_the_regression_and_beyond(theta0: float, truth: float) -> None:
    # the null is "θ0 or worse": at θ0 and past it, ruling out over 50 looks happens at most
    # beta of the time (Ville); 10% of traffic in treatment, 1% / 10% base rates
    rng = np.random.default_rng(int(theta0 * 100 + truth * 10))
    base = 0.01 if theta0 > 1 else 0.10
    nt = rng.binomial(REQUESTS, 0.1, size=(RUNS, LOOKS)).astype(float)
    nc = REQUESTS - nt
    et = rng.binomial(nt.astype(int), base * truth).astype(float)
    ec = rng.binomial(nc.astype(int), base).astype(float)
    beta = 0.1
    hits = sum(
        rate_ruling_out_evidence(et[r], nt[r], ec[r], nc[r], theta0).rejects(beta)
        for r in range(RUNS)
    )
    assert hits / RUNS <= beta


def test_ruling_out_happens_with_no_effect() -> None:
    rng = np.random.default_rng(31)
    nt = rng.binomial(REQUESTS, 0.5, size=(RUNS, LOOKS)).astype(float)
    nc = REQUESTS - nt
    et = rng.binomial(nt.astype(int), RATE).astype(float)
    ec = rng.binomial(nc.astype(int), RATE).astype(float)
    ruled = [
        rate_ruling_out_evidence(et[r], nt[r], ec[r], nc[r], 1.5).rejects(0.1) for r in range(RUNS)
    ]
    assert np.mean(ruled) >= 0.95  # 50 looks of 10 errors per cohort: 500 each


@pytest.mark.parametrize(
    ("level", "drift", "variance"), [(2.3, 0.04, 0.08), (3.0, 0.5, 1.0), (2.3, 0.006, 0.012)]
)
def test_first_passage_median_matches_a_gaussian_walk(
    level: float, drift: float, variance: float
) -> None:
    # a seeded Gaussian random walk, one step per unit of time: the median of the step at
    # which it first reaches the level, against the corrected diffusion approximation
    rng = np.random.default_rng(7)
    runs, horizon = 4000, int(20 * level / drift)
    walks = np.cumsum(rng.normal(drift, math.sqrt(variance), (runs, horizon)), axis=1)
    crossed = walks >= level
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1) + 1, horizon)
    median = float(np.median(first))
    # within 4%, or one step where the walk crosses in a handful of steps
    assert first_passage_median(level, drift, variance) == pytest.approx(median, rel=0.04, abs=1)
    # without the overshoot, continuous time: shorter than the walk's
    assert first_passage_median(level, drift, variance, stepped=False) < median


def test_first_passage_median_edges() -> None:
    assert first_passage_median(0.0, 1.0, 1.0) == 0.0
    assert first_passage_median(1.0, 0.0, 1.0) == math.inf
    assert first_passage_median(2.0, 0.5, 0.0) == 4.0


def test_ruling_out_drift_by_hand() -> None:
    et, nt, ec, nc = (np.array(x) for x in ([3.0, 1.0], [100.0, 300.0], [5.0, 7.0], [300.0, 100.0]))
    drift, variance = rate_ruling_out_drift(et, nt, ec, nc, 2.0)
    expected_mean = expected_var = 0.0
    for events, share in ((8.0, 0.25), (8.0, 0.75)):
        q0 = 2 * share / (2 * share + 1 - share)
        hit, miss = math.log(share / q0), math.log((1 - share) / (1 - q0))
        mean = share * hit + (1 - share) * miss
        second = share * hit**2 + (1 - share) * miss**2  # E[X²]: Poisson count, var = E[e]·E[X²]
        expected_mean += events * mean
        expected_var += events * second
    assert drift == pytest.approx(expected_mean, rel=1e-12)
    assert variance == pytest.approx(expected_var, rel=1e-12)


def test_mean_difference_false_positive_rate_over_fifty_looks() -> None:
    rng = np.random.default_rng(99)
    per_t, per_c = 20, 200
    x = rng.normal(3.0, 2.0, size=(RUNS, LOOKS, per_t))
    y = rng.normal(3.0, 2.0, size=(RUNS, LOOKS, per_c))
    two_sample = one_sample = 0
    for r in range(RUNS):
        treatment, control = moments_of(x[r]), moments_of(y[r])
        two_sample += mean_difference_evidence(treatment, control)[0].rejects(ALPHA)
        one_sample += one_sample_mean_evidence(treatment, 3.0).rejects(ALPHA)
    assert two_sample / RUNS <= ALPHA
    assert one_sample / RUNS <= ALPHA


# --------------------------------------------------------------------------- sample ratio


def reference_split_log_e(t: list[float], c: list[float], share: float) -> list[float]:
    k = max((1 - share) / (0.01 * share), 4.0)
    a, b = k * share, k * (1 - share)
    out = []
    big_t = big_c = 0.0
    for ti, ci in zip(t, c, strict=True):
        big_t += ti
        big_c += ci
        out.append(
            float(
                special.betaln(a + big_t, b + big_c)
                - special.betaln(a, b)
                - big_t * math.log(share)
                - big_c * math.log(1 - share)
            )
        )
    return out


@pytest.mark.parametrize(
    ("t", "c", "share"),
    [
        ([50.0, 40.0, 30.0], [950.0, 1000.0, 900.0], 0.05),
        ([480.0, 470.0, 460.0, 455.0], [520.0, 530.0, 540.0, 545.0], 0.5),
        ([120.0, 80.0], [880.0, 920.0], 0.1),
        ([5.0, 9.0, 7.0], [2.0, 3.0, 1.0], 0.8),  # k hits its floor of 4
    ],
)
def test_split_evidence_matches_beta_binomial_closed_form(
    t: list[float], c: list[float], share: float
) -> None:
    path = reference_split_log_e(t, c, share)
    ev = split_evidence(t, c, share)
    assert ev.intervals == len(t)
    assert ev.e_value == pytest.approx(math.exp(path[-1]), rel=1e-9)
    assert ev.max_e_value == pytest.approx(math.exp(max(0.0, *path)), rel=1e-9)


def test_split_evidence_skips_intervals_missing_either_cohort() -> None:
    nan = math.nan
    t = [50.0, nan, 40.0, 45.0]
    c = [950.0, 900.0, nan, 955.0]
    ev = split_evidence(t, c, 0.05)
    assert ev == split_evidence([50.0, 45.0], [950.0, 955.0], 0.05)
    assert ev.intervals == 2
    # A lost treatment row is not a treatment deficit.
    assert not ev.rejects(0.05)


def test_split_evidence_detects_a_share_deficit() -> None:
    # Planned 50/50, observed 45/55 (treatment at 0.9x its share): 20 intervals of 1000.
    t, c = [450.0] * 20, [550.0] * 20
    ev = split_evidence(t, c, 0.5)
    assert ev.rejects(0.001)
    assert ev.e_value == pytest.approx(math.exp(reference_split_log_e(t, c, 0.5)[-1]), rel=1e-9)


def test_split_evidence_accepts_an_exact_split() -> None:
    ev = split_evidence([500.0] * 20, [500.0] * 20, 0.5)
    assert not ev.rejects(0.05)
    assert ev.max_e_value == 1.0


# --------------------------------------------------------------------------- bound


def test_bound_finds_the_edge_of_a_rising_function() -> None:
    alpha = 0.05
    edge = 2.0
    target = math.log(1 / alpha)
    # evidence_at returns log evidence (compared with log(1/alpha)); reaches target at edge.
    found = bound(lambda x: target + 3.0 * (x - edge), alpha, -5.0, 10.0, rising=True)
    assert found == pytest.approx(edge, abs=1e-6)


def test_bound_finds_the_edge_of_a_falling_function() -> None:
    alpha = 0.01
    edge = -1.25
    target = math.log(1 / alpha)
    found = bound(lambda x: target * math.exp(-(x - edge)), alpha, -4.0, 4.0, rising=False)
    assert found == pytest.approx(edge, abs=1e-6)


@pytest.mark.parametrize("rising", [True, False])
@pytest.mark.parametrize("edge", [-20.0, 20.0])
def test_bound_is_none_when_the_edge_is_outside_the_range(rising: bool, edge: float) -> None:
    alpha = 0.05
    target = math.log(1 / alpha)
    sign = 1.0 if rising else -1.0
    assert bound(lambda x: target + sign * (x - edge), alpha, -5.0, 5.0, rising=rising) is None


# --------------------------------------------------------------------------- sizing


@pytest.mark.parametrize(
    ("effect", "tau", "beta"),
    [(0.1, 0.1, 0.05), (0.5, 0.2, 0.01), (2.0, 1.0, 0.2), (0.02, 0.05, 0.1)],
)
def test_information_needed_is_the_smallest_sufficient_information(
    effect: float, tau: float, beta: float
) -> None:
    info = information_needed(effect, tau, beta)
    target = math.log(1 / beta)
    assert math.isfinite(info)
    assert info > 0
    assert mixture_log_e_closed(effect * info, info, tau) == pytest.approx(target, rel=1e-6)
    assert mixture_log_e_quad(effect * info, info, tau) == pytest.approx(target, rel=1e-6)
    smaller = info * (1 - 1e-6)
    assert mixture_log_e_closed(effect * smaller, smaller, tau) < target


# --------------------------------------------------------------------------- pooled variance


def test_pooled_variance_matches_hand_computation() -> None:
    groups = [[1.0, 2.0, 4.0], [10.0, 11.0, 9.0, 14.0], [5.0], [7.0, 7.5, 6.0, 8.0, 9.5]]
    series = moments(groups)
    dev = dof = 0.0
    for g in groups:
        if len(g) < 2:
            continue  # a lone value carries no within-interval spread
        mean = sum(g) / len(g)
        dev += sum((x - mean) ** 2 for x in g)
        dof += len(g) - 1
    expected = dev / dof
    # The same number from the moments formula Σ(sumsq - sum²/n) / Σ(n - 1).
    assert expected == pytest.approx(
        sum(sum(x * x for x in g) - sum(g) ** 2 / len(g) for g in groups if len(g) >= 2)
        / sum(len(g) - 1 for g in groups if len(g) >= 2),
        rel=1e-12,
    )
    assert series.pooled_variance() == pytest.approx(expected, rel=1e-12)


def test_pooled_variance_ignores_level_shifts_between_intervals() -> None:
    groups = [[1.0, 2.0, 4.0], [10.0, 11.0, 9.0, 14.0], [7.0, 7.5, 6.0, 8.0, 9.5]]
    shifted = [[x + shift for x in g] for g, shift in zip(groups, [100.0, -40.0, 7.0], strict=True)]
    base = moments(groups).pooled_variance()
    assert base is not None
    assert moments(shifted).pooled_variance() == pytest.approx(base, rel=1e-9)
    # A naive variance of all values together would be inflated by the shift.
    flat = [x for g in shifted for x in g]
    mean = sum(flat) / len(flat)
    assert sum((x - mean) ** 2 for x in flat) / (len(flat) - 1) > 10 * base


def test_pooled_variance_skips_missing_intervals() -> None:
    groups = [[1.0, 2.0, 4.0], [10.0, 11.0, 9.0, 14.0]]
    base = moments(groups)
    with_gap = MomentSeries.of(
        [*base.n, math.nan], [*base.total, math.nan], [*base.total_sq, math.nan]
    )
    assert with_gap.pooled_variance() == pytest.approx(base.pooled_variance(), rel=1e-12)


def test_pooled_variance_with_single_values_falls_back_to_overall_variance() -> None:
    values = [3.0, 5.0, 10.0]
    mean = sum(values) / 3
    expected = sum((x - mean) ** 2 for x in values) / 2
    assert moments([[v] for v in values]).pooled_variance() == pytest.approx(expected, rel=1e-12)
    assert moments([[3.0]]).pooled_variance() is None


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("theta0", [0.0, -1.0])
def test_rate_ratio_rejects_non_positive_theta0(theta0: float) -> None:
    with pytest.raises(ValueError, match="theta0"):
        rate_ratio_evidence([1], [100], [1], [100], theta0=theta0)


@pytest.mark.parametrize("limit", [0.0, 1.0, -0.1, 1.5])
def test_one_sample_rate_rejects_limit_outside_unit_interval(limit: float) -> None:
    with pytest.raises(ValueError, match="limit"):
        one_sample_rate_evidence([1], [100], limit)


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2, 2.0])
def test_split_rejects_share_outside_unit_interval(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        split_evidence([10], [10], share)


@pytest.mark.parametrize("effect", [0.0, -0.5])
def test_information_needed_rejects_non_positive_effect(effect: float) -> None:
    with pytest.raises(ValueError, match="effect"):
        information_needed(effect, 0.1, 0.05)


# --------------------------------------------------------------------------- means


def normal_cohorts(shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2000 treatment and 2000 control values (sd 1) in 20 intervals of 100."""
    rng = np.random.default_rng(seed)
    control = rng.normal(0.0, 1.0, size=(20, 100))
    treatment = rng.normal(shift, 1.0, size=(20, 100))
    return treatment, control


def test_predictable_variances_use_only_earlier_intervals_at_an_upper_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # intervals of two values: [1, 3], [2, 6], [0, 0], [5, 5]; squared deviations 2, 8, 0, 0
    values = np.array([[1.0, 3.0], [2.0, 6.0], [0.0, 0.0], [5.0, 5.0]])
    series = moments_of(values)
    ok = np.ones(4, dtype=bool)
    # by default: 30 dof within intervals, else the spread of all earlier values once there
    # are 6 (5 dof): before the fourth interval, [1, 3, 2, 6, 0, 0], squares about 2 sum to 26
    default = predictable_variances(series, ok)
    assert np.isnan(default[:3]).all()
    assert default[3] == pytest.approx(26 / chi2.ppf(0.2, 5), rel=1e-12)
    monkeypatch.setattr(sequential, "MIN_VARIANCE_DOF", 2)
    monkeypatch.setattr(sequential, "MIN_SUMMARY_DOF", 100)
    found = predictable_variances(series, ok)
    # nothing before the first; one degree of freedom before the second (too few, and all
    # values so far are the same two); two before the third: (2 + 8) / 2 = 5 on 2 dof,
    # whose 80% upper bound is 2·5 / χ²₂(0.2) and χ²₂(0.2) = -2 ln 0.8 in closed form
    assert math.isnan(found[0]) and math.isnan(found[1])
    assert found[2] == pytest.approx(10 / (-2 * math.log(0.8)), rel=1e-12)
    assert found[3] == pytest.approx(10 / chi2.ppf(0.2, 3), rel=1e-12)
    # the running variance includes the interval itself: 2/1, 10/2, 10/3, 10/4 once
    # pooled within; before that the spread of all values so far (2 for [1, 3])
    assert running_variances(series, ok) == pytest.approx([2.0, 5.0, 10 / 3, 2.5], rel=1e-12)


def test_a_later_interval_never_rescores_the_past() -> None:
    """The e-process is adapted: its value after k intervals depends on those k only, so
    the largest value over a run equals the largest of the values each look saw. (When
    every look re-scored the history with the latest variance, a quiet spell after a noisy
    one re-weighted the noisy minutes and rejected a true null: issue 24.)"""
    rng = np.random.default_rng(5)
    sd = np.where(np.arange(40) < 15, 6.0, 2.0)[:, None]
    treatment = rng.normal(3.0, 1.0, size=(40, 2)) * sd
    control = rng.normal(3.0, 1.0, size=(40, 20)) * sd
    seen = [
        mean_difference_evidence(moments_of(treatment[:k]), moments_of(control[:k]))[0].e_value
        for k in range(1, 41)
    ]
    full = mean_difference_evidence(moments_of(treatment), moments_of(control))[0]
    assert full.max_e_value == pytest.approx(max(max(seen), 1.0), rel=1e-12)


def test_the_issues_two_minute_case_is_no_longer_a_rollback() -> None:
    """Issue 24's minimal case: 2 treatment and 20 control values a minute, N(3, 2²) in
    both, 2 minutes. The treatment's tiny within-minute spread (0.067 against a true 4) used
    to re-score both minutes: e = 48,970. A minute is weighted only by a spread known
    before it, the two cohorts' pooled, so the second minute is scored with the first
    minute's 22 values, and the score's variance is the largest of that, each cohort's own
    spread so far and the score's step. By hand: e = 1.69, nowhere near a rollback."""
    treatment = np.array([[3.663, 3.921], [6.116, 5.668]])
    control = np.random.default_rng(24).normal(3.0, 2.0, size=(2, 20))
    ev = mean_difference_evidence(moments_of(treatment), moments_of(control))[0]
    first = (treatment[0], control[0])
    dof = 1 + 19  # each cohort around its own mean: fewer than 30, so over all its values
    pooled = sum(float(np.sum((x - x.mean()) ** 2)) for x in first) / chi2.ppf(0.2, dof)
    weight = 1 / (pooled / 2 + pooled / 20)
    score = weight * (treatment[1].mean() - control[1].mean())
    # own spreads so far: the treatment's 4 values over all (2 dof within < 30), the
    # control's within its two minutes (38 dof)
    own_t = float(np.var(treatment, ddof=1))
    own_c = float(sum(np.sum((x - x.mean()) ** 2) for x in control)) / 38
    # the score's step around the first minute's difference (weighted by its size, the
    # inverse of 1/2 + 1/20), less what that mean's own noise adds: 1 + size2 / size1
    centre = treatment[0].mean() - control[0].mean()
    step = (weight * (treatment[1].mean() - control[1].mean() - centre)) ** 2 / 2
    variance = max(weight, weight**2 * (own_t / 2 + own_c / 20), step)
    tau = math.sqrt(pooled) / 4
    denom = 1 + tau * tau * variance
    z = tau * score / math.sqrt(denom)
    by_hand = 2 / math.sqrt(denom) * math.exp(z * z / 2) * norm.cdf(z)
    assert ev.intervals == 1
    assert ev.max_e_value == pytest.approx(max(by_hand, 1.0), rel=1e-9)
    assert ev.max_e_value == pytest.approx(1.69, abs=0.01)


def test_mean_difference_rejects_a_clear_effect_and_not_none() -> None:
    treatment, control = normal_cohorts(0.5, seed=11)
    ev, score, info, _ = mean_difference_evidence(moments_of(treatment), moments_of(control))
    assert ev.rejects(0.001)
    assert ev.intervals == 19  # the first interval has no spread known before it
    # the score is the difference of interval means weighted by the inverse of their
    # variance known before each interval (both cohorts' pooled within intervals, at the
    # 80% upper bound)
    diffs, weights = [], []
    for i in range(1, 20):
        dof = 2 * i * 99
        squares = sum(
            float(np.sum((x[:i] - x[:i].mean(axis=1, keepdims=True)) ** 2))
            for x in (treatment, control)
        )
        upper = squares / chi2.ppf(0.2, dof)
        weights.append(1 / (upper / 100 + upper / 100))
        diffs.append(treatment[i].mean() - control[i].mean())
    assert score / info == pytest.approx(np.average(diffs, weights=weights), rel=1e-9)
    assert info == pytest.approx(sum(weights), rel=1e-9)
    # The wrong direction finds nothing.
    assert not mean_difference_evidence(moments_of(treatment), moments_of(control), direction=-1)[
        0
    ].rejects(0.05)

    same_t, same_c = normal_cohorts(0.0, seed=11)
    assert not mean_difference_evidence(moments_of(same_t), moments_of(same_c))[0].rejects(0.05)


def test_one_sample_mean_rejects_a_clear_effect_and_not_none() -> None:
    treatment, _ = normal_cohorts(0.5, seed=12)
    assert one_sample_mean_evidence(moments_of(treatment), 0.0).rejects(0.001)
    assert not one_sample_mean_evidence(moments_of(treatment), 0.0, direction=-1).rejects(0.05)
    same, _ = normal_cohorts(0.0, seed=12)
    assert not one_sample_mean_evidence(moments_of(same), 0.0).rejects(0.05)


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5])
def test_mean_direction_minus_one_mirrors_negated_data(shift: float) -> None:
    treatment, control = normal_cohorts(shift, seed=13)
    up = mean_difference_evidence(moments_of(treatment), moments_of(control), delta0=0.05)
    down = mean_difference_evidence(
        moments_of(-treatment), moments_of(-control), delta0=-0.05, direction=-1
    )
    assert down[0].e_value == pytest.approx(up[0].e_value, rel=1e-9)
    assert down[0].max_e_value == pytest.approx(up[0].max_e_value, rel=1e-9)
    assert down[1] == pytest.approx(up[1], rel=1e-9, abs=1e-9)
    assert down[2] == pytest.approx(up[2], rel=1e-9)

    one_up = one_sample_mean_evidence(moments_of(treatment), 0.05)
    one_down = one_sample_mean_evidence(moments_of(-treatment), -0.05, direction=-1)
    assert one_down.e_value == pytest.approx(one_up.e_value, rel=1e-9)
    assert one_down.max_e_value == pytest.approx(one_up.max_e_value, rel=1e-9)


@pytest.mark.parametrize("scale", [1e200, -1e200])
def test_absurd_means_score_nothing_and_warn_of_nothing(scale: float) -> None:
    """Values past 1e154 overflow the spreads' squares (and once overflowed the variance
    floor with an OverflowError); a cohort with no usable interval once tripped the
    one-sample test on an empty series. Now: no warning, no exception, no evidence."""
    import warnings

    n = np.array([10.0, 10, 10, np.nan, 10, 10, 10, 10])
    absurd = MomentSeries.of(n, n * scale, np.full(8, np.inf))  # the squares overflowed
    sane = MomentSeries.of(n * 10, n * 30, n * 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for treatment, control in ((absurd, sane), (sane, absurd), (absurd, absurd)):
            for direction in (1, -1):
                found = mean_difference_evidence(treatment, control, direction=direction)
                assert found.evidence.max_e_value == 1.0
        assert one_sample_mean_evidence(absurd, 1.0).max_e_value == 1.0
        nothing = MomentSeries.of([np.nan, -3.0], [1.0, 2.0], [1.0, 4.0])
        assert one_sample_mean_evidence(nothing, 1.0).intervals == 0
