"""Is the data fit to decide on? One set of rules for every metrics backend (pure, no I/O).

Backends hand over numbers; before any statistics run, these rules say which numbers cannot
be trusted. Each returns a one-line description of the problem (the caller adds the metric,
the cohort, the backend and the query) or None when the data passes. A problem holds the
rollout (never a ``go``); it is never repaired into a plausible-looking number.

* **Values.** NaN and null are *missing* (a gap), never zero. A count is finite, not
  negative and at most :data:`MAX_MAGNITUDE`; a measured value (a latency, a score) is finite
  and at most that large in size. Infinity is not missing: it is a number the backend made up
  (a quantile past a histogram's last bucket, a division by zero), so it holds.
* **Events within trials.** A ratio's events (errors) cannot outnumber its trials (requests)
  beyond the extrapolation slack of counter queries (:func:`events_exceed_trials`).
* **Absent events.** An events counter with no data where its trials have some is read as 0
  only while 0 is plausible: absent all along, fewer than :data:`PLAUSIBLE_ZERO_EVENTS`
  events expected at the other cohort's rate (Poisson: P(0) > 5%); absent in some
  intervals, no more such gaps than intervals with no events would explain
  (:func:`absent_events_problem`). Prometheus counters appear at their first increment, so
  a young cohort's error counter is legitimately absent; one absent while ~30 errors were
  due is lost data, and reading it as zero would turn a regression into a ``go``.
* **Coverage.** A series is judged on the points it has, but only while it has enough of
  them: the share of a stage's delivery steps with a point (:class:`Coverage`) must reach the
  plan's ``statistics.min_coverage``, and the series must not have gone silent for its last
  :data:`STALE_STEPS` steps (a treatment whose metrics stop is the likeliest to be failing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

MAX_MAGNITUDE = 1e15
"""No count or value beyond this is believed: a quadrillion requests in one window is a
broken query or a corrupted answer, and sums of squares of such values overflow."""

PLAUSIBLE_ZERO_EVENTS = 3.0
"""Absent events are read as 0 only while fewer than this many were expected (e^-3 ≈ 5%)."""

MIN_COVERAGE_STEPS = 4
"""Coverage is judged once a window holds this many delivery steps; shorter windows are too
short to tell a gap from the edge of the window."""

STALE_STEPS = 3
"""A series whose last this-many steps (up to the window's end) are all missing has gone
silent: the verdict holds whatever its coverage."""

EVENTS_SLACK = 0.01
"""Events may exceed trials by 1% (plus one event): ``increase()`` extrapolates each counter
on its own, so two exact counts can come back a little apart."""

Kind = Literal["count", "value"]


def bad_value(value: float, kind: Kind) -> str | None:
    """Why one finite-or-infinite value (NaN excluded: that is missing) cannot be used."""
    if math.isinf(value):
        return f"a value of {value:+g} (a number the backend made up, e.g. a division by zero)"
    if abs(value) > MAX_MAGNITUDE:
        return f"a value of {value:.3g}, beyond {MAX_MAGNITUDE:.0e} (a broken query or answer)"
    if kind == "count" and value < 0:
        return f"a negative count ({value:g}): counts cannot go below zero"
    return None


def first_bad_value(values: Iterable[float], kind: Kind) -> str | None:
    """The problem with the first unusable value among ``values`` (NaN is skipped)."""
    values = values if isinstance(values, list | tuple) else list(values)
    if not _any_bad(values, kind):
        return None  # the usual case, in one vectorised pass: a fleet reads ~10^5 values
    for value in values:
        if math.isnan(value):
            continue
        problem = bad_value(value, kind)
        if problem is not None:
            return problem
    return None


def _any_bad(values: list[float] | tuple[float, ...], kind: Kind) -> bool:
    """Whether :func:`bad_value` would find anything among ``values`` (NaN excluded):
    an infinity or a magnitude beyond MAX_MAGNITUDE, or for counts a negative value."""
    array = np.asarray(values, dtype=np.float64)
    bad = np.abs(array) > MAX_MAGNITUDE  # NaN compares False: missing, not bad
    if kind == "count":
        bad |= array < 0
    return bool(bad.any())


def events_exceed_trials(events: float, trials: float) -> bool:
    """True when ``events`` outnumber ``trials`` beyond the extrapolation slack."""
    return events > trials * (1 + EVENTS_SLACK) + 1


def expected_events(trials: float, rate: float | None) -> float | None:
    """Events expected in ``trials`` at ``rate`` (None when the rate is unknown)."""
    if rate is None or not math.isfinite(rate) or trials <= 0:
        return None
    return trials * rate


def zero_is_plausible(expected: float | None) -> bool:
    """Whether no events at all is a likely outcome when ``expected`` were due. With no
    rate to compare against (None), zero is taken at its word."""
    return expected is None or expected < PLAUSIBLE_ZERO_EVENTS


def absent_events_problem(events: Array, trials: Array) -> str | None:
    """Why the intervals where an events counter has no point but its trials do cannot be
    read as 0 (None: they can).

    Intervals before the counter's first point are its birth (a Prometheus counter appears
    at its first increment) and count 0. After it, some backends leave an interval out when
    nothing happened in it (a DogStatsD count, a file that skips zero rows), so gaps are
    read as zero events while there are no more of them than zero-event intervals would
    explain: under "every gap is a zero", interval i has no event with probability
    exp(-trials_i · rate) (Poisson, at the cohort's rate with the gaps as zeros), and the
    number of gaps is refused when a count that high has a chance below GAPS_ALPHA. A
    series that lost every other point at a 3% error rate has 60 gaps where about 1 zero
    interval was due; one at 0.5 events an interval has ~60% zeros, all explained."""
    present = np.isfinite(events)
    if not present.any():
        return None
    born = int(np.argmax(present))
    counted = np.isfinite(trials) & (trials > 0)
    counted[:born] = False
    gaps = counted & ~present
    found = int(gaps.sum())
    if not found:
        return None
    total_trials = float(trials[counted].sum())
    rate = float(np.nansum(events[counted])) / total_trials
    zero_chance = np.exp(-trials[counted] * rate)
    due = float(zero_chance.sum())
    from scipy import special  # only here: reading observations should not import scipy

    chance = float(special.gammainc(found, due)) if due > 0 else 0.0  # P(Poisson(due) >= found)
    if chance >= GAPS_ALPHA:
        return None
    return (
        f"has no data in {found} of {int(counted.sum())} intervals that have trials, where "
        f"about {due:.2g} would have had no events at its rate (chance {chance:.1g}): the "
        "series has gaps (data lost, not zero)"
    )


GAPS_ALPHA = 1e-3
"""How unlikely the number of event gaps must be, if every gap were an interval with no
events, before they are called lost data (Poisson approximation of the count: it
overstates the spread when zeros are common, so it errs towards reading gaps as zeros)."""


@dataclass(frozen=True)
class Coverage:
    """How complete one cohort's series is over a window: facts a backend reports about
    what it returned, judged by :func:`coverage_problem`.

    ``expected`` counts the delivery steps (one point each: a range query's step, a
    rollup's bucket, the file's reporting cadence) from the window's start, or from the
    series' first point when it first appears later (a counter is born at its first
    increment), to the window's end. ``received`` counts those steps that have a point;
    ``silent_tail`` the steps at the end without one."""

    expected: int
    received: int
    step: timedelta
    silent_tail: int = 0

    @property
    def share(self) -> float:
        return min(1.0, self.received / self.expected) if self.expected > 0 else 1.0


def coverage_problem(coverage: Coverage, min_share: float) -> str | None:
    """Why a series with this coverage cannot be judged (None: it can)."""
    if coverage.expected < MIN_COVERAGE_STEPS:
        return None
    step = _duration(coverage.step)
    if coverage.silent_tail >= STALE_STEPS and coverage.silent_tail < coverage.expected:
        silent = _duration(coverage.step * coverage.silent_tail)
        return f"no data for the last {silent} (its last {coverage.silent_tail} {step} steps)"
    if coverage.share < min_share:
        return (
            f"data in only {coverage.received} of {coverage.expected} {step} steps "
            f"({coverage.share:.0%}; at least {min_share:.0%} needed): the series has gaps"
        )
    return None


def _duration(delta: timedelta) -> str:
    from rolloutcli.support.durations import format_duration

    return format_duration(delta).replace(" ", "")
