"""Significance tests for rollout verdicts: numbers in, numbers out.

Everything here is pure: no I/O and no knowledge of flags, plan files or HTTP.
The verdict engine calls these functions through the plan's ``method`` setting;
``method: fixed`` selects the fixed-horizon tests in this module. Sequential
(always-valid) tests will be added here later, next to the fixed-horizon ones.

Conventions shared by every test:

* ``alternative="greater"`` means treatment > control (or, for the one-sample
  tests, the observed value > the reference value); ``"less"`` is the opposite;
  ``"two-sided"`` tests for any difference.
* ``p_value`` is always a float in ``[0, 1]`` and never NaN. Degenerate inputs
  (no variance at all) are resolved explicitly, as documented on each function.
* ``statistic`` is ``None`` when it is undefined or infinite.
* Invalid input (negative counts, events > trials, empty samples, non-finite
  numbers, unknown alternative) raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import stats as _sps

Alternative = Literal["greater", "less", "two-sided"]
"""``"greater"`` means treatment > control (or > the reference value)."""

_ALTERNATIVES: tuple[str, ...] = get_args(Alternative)

SRM_THRESHOLD = 0.001
"""Default p-value below which a sample ratio mismatch is flagged."""


@dataclass(frozen=True)
class TestResult:
    """Outcome of one significance test."""

    __test__ = False  # not a pytest test class, despite the name

    method: str
    """``"z"``, ``"fisher-exact"``, ``"welch-t"``, ``"mann-whitney"``,
    ``"binomial-exact"`` or ``"one-sample-t"``."""
    statistic: float | None
    """z, t, U, odds ratio, observed proportion...; ``None`` when not defined."""
    p_value: float
    """In ``[0, 1]``, never NaN."""


@dataclass(frozen=True)
class SrmResult:
    """Sample ratio mismatch check of the observed cohort sizes."""

    treatment: int
    control: int
    expected_share: float
    """Planned treatment share of ``treatment + control``, in ``(0, 1)``."""
    observed_share: float
    chi2: float
    p_value: float
    mismatch: bool
    """``p_value < threshold``."""


@dataclass(frozen=True)
class Summary:
    """Count, mean and sample standard deviation of a group of observations."""

    n: int
    mean: float
    sd: float
    """Sample standard deviation (ddof=1); ``0.0`` when ``n < 2``."""


# --------------------------------------------------------------------------- helpers


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_count(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def _check_sd(name: str, value: float) -> None:
    _check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def _clean_p(p: float) -> float:
    """Clamp a p-value into [0, 1]; NaN (should not happen) becomes the conservative 1.0."""
    p = float(p)
    if math.isnan(p):
        return 1.0
    return min(1.0, max(0.0, p))


def _clean_stat(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _p_from_tails(sf: float, cdf: float, alternative: Alternative) -> float:
    """Pick the p-value of a symmetric statistic from its upper tail sf and lower tail cdf."""
    if alternative == "greater":
        return _clean_p(sf)
    if alternative == "less":
        return _clean_p(cdf)
    return _clean_p(2.0 * min(sf, cdf))


def _p_without_variance(diff: float, alternative: Alternative) -> float:
    """p-value when the estimate has zero standard error.

    An exactly-zero difference is no evidence of anything (p = 1). A non-zero
    difference with no noise at all is certain: p = 0 when it points in the
    direction of the alternative (or the alternative is two-sided), else p = 1.
    """
    if diff == 0:
        return 1.0
    if alternative == "two-sided":
        return 0.0
    if alternative == "greater":
        return 0.0 if diff > 0 else 1.0
    return 0.0 if diff < 0 else 1.0


# --------------------------------------------------------------------------- two-sample tests


def two_proportion_test(
    events_t: int,
    trials_t: int,
    events_c: int,
    trials_c: int,
    alternative: Alternative = "greater",
    min_expected: float = 5.0,
) -> TestResult:
    """Compare the event rates of treatment and control.

    Uses the pooled two-proportion z-test (``method="z"``, statistic = z,
    equivalent to R's ``prop.test(correct=FALSE)``). When any expected cell
    of the 2x2 table (events / non-events x treatment / control, expected
    under the pooled rate) is below ``min_expected``, Fisher's exact test is
    used instead (``method="fisher-exact"``, statistic = sample odds ratio,
    ``None`` when it is 0/0 or infinite).

    Degenerate case: when the pooled rate is 0 or 1 (no events at all, or
    only events) both cohorts have the identical observed rate and the
    standard error is 0. The result is then ``method="z"``, ``statistic=0.0``,
    ``p_value=1.0`` for every alternative (no evidence of a difference; Fisher's
    test gives the same p-value for such a table).

    Raises ``ValueError`` for negative counts, events > trials, or a cohort
    with zero trials.
    """
    _check_alternative(alternative)
    for name, value in (
        ("events_t", events_t),
        ("trials_t", trials_t),
        ("events_c", events_c),
        ("trials_c", trials_c),
    ):
        _check_count(name, value)
    if trials_t == 0 or trials_c == 0:
        raise ValueError("each cohort needs at least one trial")
    if events_t > trials_t:
        raise ValueError(f"events_t ({events_t}) exceeds trials_t ({trials_t})")
    if events_c > trials_c:
        raise ValueError(f"events_c ({events_c}) exceeds trials_c ({trials_c})")
    _check_finite("min_expected", min_expected)

    total_events = events_t + events_c
    total_trials = trials_t + trials_c
    if total_events == 0 or total_events == total_trials:
        return TestResult(method="z", statistic=0.0, p_value=1.0)

    pooled = total_events / total_trials
    expected = (
        trials_t * pooled,
        trials_t * (1.0 - pooled),
        trials_c * pooled,
        trials_c * (1.0 - pooled),
    )
    support = min(total_events, total_trials - total_events, trials_t, trials_c) + 1
    if min(expected) < min_expected and support <= MAX_EXACT_SUPPORT:
        odds, p = fisher_exact(events_t, trials_t, events_c, trials_c, alternative)
        return TestResult(method="fisher-exact", statistic=_clean_stat(odds), p_value=p)

    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / trials_t + 1.0 / trials_c))
    z = (events_t / trials_t - events_c / trials_c) / se
    p = _p_from_tails(float(_sps.norm.sf(z)), float(_sps.norm.cdf(z)), alternative)
    return TestResult(method="z", statistic=z, p_value=p)


MAX_EXACT_SUPPORT = 10**7
"""Tables the exact branch may sum over (about 80 MB of weights). Below 5 expected events
the support stays under ``sqrt(5·N)``, so this is only reached past 2·10¹³ trials, where the
z-test is used instead."""

TIE_TOLERANCE = 1e-7
"""Two-sided Fisher: tables whose probability is within this relative distance of the
observed one count as equally extreme (R's ``fisher.test`` uses the same)."""


def fisher_exact(
    events_t: int, trials_t: int, events_c: int, trials_c: int, alternative: Alternative
) -> tuple[float, float]:
    """Fisher's exact test of a 2x2 table: (sample odds ratio, p-value).

    Given the margins, treatment's events follow a hypergeometric law over a support of at
    most ``min(events, non-events, trials_t, trials_c) + 1`` tables. Its weights are built
    from the ratio of neighbouring ones, ``(K-k)(n-k) / ((k+1)(M-n+k+1))``, in logs, and
    normalised over the whole support: no ``log C(N, n)`` (whose rounding error grows with
    N) is ever formed. Fisher is used when an expected cell is below 5, which keeps that
    support below ``sqrt(5·N)`` tables: about 2·10⁵ at 10¹⁰ trials, a few milliseconds
    (scipy's search took seconds at 10⁹).
    """
    events = events_t + events_c
    non_events = trials_t + trials_c - events
    low = max(0, trials_t - non_events)
    high = min(trials_t, events)
    k = np.arange(low, high, dtype=np.float64)
    # log of weight(k+1)/weight(k), each term exact to rounding: no huge logs to cancel
    steps = (
        np.log(events - k)
        - np.log(k + 1)
        + np.log(trials_t - k)
        - np.log(non_events - trials_t + k + 1)
    )
    log_w = np.concatenate([[0.0], np.cumsum(steps)])
    log_w -= float(np.max(log_w))
    weights = np.exp(log_w)
    weights /= float(weights.sum())
    observed = events_t - low
    if alternative == "greater":
        p = float(weights[observed:].sum())
    elif alternative == "less":
        p = float(weights[: observed + 1].sum())
    else:
        p = float(weights[weights <= weights[observed] * (1 + TIE_TOLERANCE)].sum())
    non_t, non_c = trials_t - events_t, trials_c - events_c
    top, bottom = events_t * non_c, non_t * events_c
    odds = math.nan if top == bottom == 0 else (math.inf if bottom == 0 else top / bottom)
    return odds, _clean_p(p)


def welch_t_test(
    mean_t: float,
    sd_t: float,
    n_t: int,
    mean_c: float,
    sd_c: float,
    n_c: int,
    alternative: Alternative = "greater",
) -> TestResult:
    """Welch's unequal-variance t-test from summary statistics (``method="welch-t"``).

    Statistic = t. Needs ``n >= 2`` in both cohorts (``ValueError`` otherwise).

    Degenerate case: when both standard deviations are 0 the standard error is 0.
    Equal means give ``statistic=0.0, p_value=1.0``. Different means give
    ``statistic=None`` (t is infinite) and ``p_value=0.0`` if the difference
    points the way of the alternative (or it is two-sided), else ``1.0``.
    """
    _check_alternative(alternative)
    _check_finite("mean_t", mean_t)
    _check_finite("mean_c", mean_c)
    _check_sd("sd_t", sd_t)
    _check_sd("sd_c", sd_c)
    if n_t < 2 or n_c < 2:
        raise ValueError(f"Welch's t-test needs n >= 2 in each cohort, got {n_t} and {n_c}")

    if sd_t == 0 and sd_c == 0:
        diff = mean_t - mean_c
        return TestResult(
            method="welch-t",
            statistic=0.0 if diff == 0 else None,
            p_value=_p_without_variance(diff, alternative),
        )

    res = _sps.ttest_ind_from_stats(
        mean_t, sd_t, n_t, mean_c, sd_c, n_c, equal_var=False, alternative=alternative
    )
    return TestResult(
        method="welch-t", statistic=_clean_stat(res.statistic), p_value=_clean_p(res.pvalue)
    )


def mann_whitney_u(
    treatment: Sequence[float],
    control: Sequence[float],
    alternative: Alternative = "greater",
) -> TestResult:
    """Mann-Whitney U (Wilcoxon rank-sum) test (``method="mann-whitney"``).

    Statistic = U of the treatment sample (number of pairs with treatment >
    control, ties counting 1/2). scipy's ``method="auto"`` chooses the exact
    distribution for small samples without ties and the normal approximation
    (tie- and continuity-corrected) otherwise. If every value is tied the
    normal approximation is undefined; the p-value is then 1.0.

    Raises ``ValueError`` for an empty sample or non-finite values.
    """
    _check_alternative(alternative)
    if len(treatment) == 0 or len(control) == 0:
        raise ValueError("Mann-Whitney U needs at least one value in each sample")
    xs = [float(v) for v in treatment]
    ys = [float(v) for v in control]
    for v in (*xs, *ys):
        _check_finite("sample value", v)

    res = _sps.mannwhitneyu(xs, ys, alternative=alternative, method="auto")
    return TestResult(
        method="mann-whitney", statistic=_clean_stat(res.statistic), p_value=_clean_p(res.pvalue)
    )


# --------------------------------------------------------------------------- one-sample tests


def one_sample_proportion_test(
    events: int,
    trials: int,
    p0: float,
    alternative: Alternative = "greater",
) -> TestResult:
    """Exact binomial test of an event rate against a fixed reference ``p0``.

    ``method="binomial-exact"``, statistic = observed proportion. Used for
    absolute ceilings ("error rate must stay below 1%"): ``"greater"`` asks
    whether the rate is above ``p0``. ``p0`` must be in ``[0, 1]``.

    Raises ``ValueError`` for negative counts, events > trials, zero trials
    or ``p0`` outside ``[0, 1]``.
    """
    _check_alternative(alternative)
    _check_count("events", events)
    _check_count("trials", trials)
    if trials == 0:
        raise ValueError("trials must be at least 1")
    if events > trials:
        raise ValueError(f"events ({events}) exceeds trials ({trials})")
    _check_finite("p0", p0)
    if not 0.0 <= p0 <= 1.0:
        raise ValueError(f"p0 must be in [0, 1], got {p0}")

    res = _sps.binomtest(int(events), int(trials), p=float(p0), alternative=alternative)
    return TestResult(
        method="binomial-exact",
        statistic=_clean_stat(res.statistic),
        p_value=_clean_p(res.pvalue),
    )


def one_sample_t_test(
    mean: float,
    sd: float,
    n: int,
    mu0: float,
    alternative: Alternative = "greater",
) -> TestResult:
    """One-sample t-test of a mean against a fixed reference ``mu0``, from summary stats.

    ``method="one-sample-t"``, statistic ``t = (mean - mu0) / (sd / sqrt(n))``,
    ``n - 1`` degrees of freedom. ``n < 2`` raises ``ValueError``.

    Degenerate case ``sd == 0``: ``mean == mu0`` gives ``statistic=0.0,
    p_value=1.0``; otherwise ``statistic=None`` (t is infinite) and
    ``p_value=0.0`` if the difference points the way of the alternative (or it
    is two-sided), else ``1.0``.
    """
    _check_alternative(alternative)
    _check_finite("mean", mean)
    _check_finite("mu0", mu0)
    _check_sd("sd", sd)
    if n < 2:
        raise ValueError(f"one-sample t-test needs n >= 2, got {n}")

    diff = mean - mu0
    if sd == 0:
        return TestResult(
            method="one-sample-t",
            statistic=0.0 if diff == 0 else None,
            p_value=_p_without_variance(diff, alternative),
        )

    t = diff / (sd / math.sqrt(n))
    df = n - 1
    p = _p_from_tails(float(_sps.t.sf(t, df)), float(_sps.t.cdf(t, df)), alternative)
    return TestResult(method="one-sample-t", statistic=t, p_value=p)


# --------------------------------------------------------------------------- sample ratio mismatch


def sample_ratio_mismatch(
    treatment: int,
    control: int,
    expected_share: float,
    threshold: float = SRM_THRESHOLD,
) -> SrmResult:
    """Pearson chi-square goodness-of-fit test (1 dof) of cohort sizes against the plan.

    ``expected_share`` is the planned treatment share of ``treatment + control``
    and must lie strictly inside ``(0, 1)``. ``mismatch`` is ``p_value < threshold``.

    With no units at all (``treatment + control == 0``) nothing can deviate:
    ``chi2=0.0``, ``p_value=1.0``, ``mismatch=False`` and ``observed_share`` is
    reported as ``expected_share``.
    """
    _check_count("treatment", treatment)
    _check_count("control", control)
    _check_finite("expected_share", expected_share)
    if not 0.0 < expected_share < 1.0:
        raise ValueError(f"expected_share must be in (0, 1), got {expected_share}")
    _check_finite("threshold", threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")

    total = treatment + control
    if total == 0:
        return SrmResult(
            treatment=treatment,
            control=control,
            expected_share=expected_share,
            observed_share=expected_share,
            chi2=0.0,
            p_value=1.0,
            mismatch=False,
        )

    exp_t = total * expected_share
    exp_c = total * (1.0 - expected_share)
    chi2 = (treatment - exp_t) ** 2 / exp_t + (control - exp_c) ** 2 / exp_c
    p = _clean_p(float(_sps.chi2.sf(chi2, 1)))
    return SrmResult(
        treatment=treatment,
        control=control,
        expected_share=expected_share,
        observed_share=treatment / total,
        chi2=chi2,
        p_value=p,
        mismatch=p < threshold,
    )


# --------------------------------------------------------------------------- summaries


_EMPTY = Summary(n=0, mean=0.0, sd=0.0)


def summarize(values: Sequence[float]) -> Summary:
    """Count, mean and sample standard deviation (ddof=1) of ``values``.

    An empty sequence gives ``Summary(n=0, mean=0.0, sd=0.0)``; a single value
    has ``sd=0.0``. Non-finite values raise ``ValueError``.
    """
    xs = [float(v) for v in values]
    for v in xs:
        _check_finite("value", v)
    n = len(xs)
    if n == 0:
        return _EMPTY
    mean = math.fsum(xs) / n
    if n < 2:
        return Summary(n=n, mean=mean, sd=0.0)
    ss = math.fsum((x - mean) ** 2 for x in xs)
    return Summary(n=n, mean=mean, sd=math.sqrt(ss / (n - 1)))


def summary_from_moments(n: int, total: float, total_sq: float) -> Summary:
    """Summary from count, sum and sum of squares (what monitoring systems export).

    The variance is ``(total_sq - total**2 / n) / (n - 1)``. A slightly negative
    result caused by floating-point rounding is treated as 0; a clearly negative
    one means the inputs are inconsistent and raises ``ValueError``. ``n == 0``
    gives ``Summary(n=0, mean=0.0, sd=0.0)``.

    Note: when the mean is huge relative to the spread, this formula loses
    precision (catastrophic cancellation) -- inherent to the exported moments.
    """
    _check_count("n", n)
    _check_finite("total", total)
    _check_finite("total_sq", total_sq)
    if total_sq < 0:
        raise ValueError(f"total_sq must be non-negative, got {total_sq}")
    if n == 0:
        return _EMPTY
    mean = total / n
    if n < 2:
        return Summary(n=n, mean=mean, sd=0.0)
    ss = total_sq - total * total / n
    if ss < 0:
        tolerance = 1e-9 * max(total_sq, total * total / n)
        if ss < -tolerance:
            raise ValueError(
                f"inconsistent moments: sum of squares {total_sq} is smaller than "
                f"sum**2 / n = {total * total / n}"
            )
        ss = 0.0
    return Summary(n=n, mean=mean, sd=math.sqrt(ss / (n - 1)))


def combine_summaries(parts: Sequence[Summary]) -> Summary:
    """Pool several group summaries into the summary of the concatenated data (exact).

    ``mean = sum(n_i * mean_i) / N`` and
    ``sd**2 = sum((n_i - 1) * sd_i**2 + n_i * (mean_i - mean)**2) / (N - 1)``.
    Empty parts are ignored; no parts (or only empty ones) give
    ``Summary(n=0, mean=0.0, sd=0.0)``.
    """
    kept = []
    for part in parts:
        _check_count("n", part.n)
        _check_finite("mean", part.mean)
        _check_sd("sd", part.sd)
        if part.n > 0:
            kept.append(part)
    n = sum(p.n for p in kept)
    if n == 0:
        return _EMPTY
    mean = math.fsum(p.n * p.mean for p in kept) / n
    if n < 2:
        return Summary(n=n, mean=mean, sd=0.0)
    ss = math.fsum((p.n - 1) * p.sd**2 + p.n * (p.mean - mean) ** 2 for p in kept)
    return Summary(n=n, mean=mean, sd=math.sqrt(max(ss, 0.0) / (n - 1)))
