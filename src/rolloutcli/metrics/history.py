"""A metric's recent history, read through any metrics source: what ``rollout plan suggest``
sizes a plan from.

Nothing new is asked of the backends: the history is the same per-interval verbs a check
uses (``counter_series`` for counters, ``moment_series`` for values), over the lookback, one
interval per hour, for one cohort. Every query runs at once over one bounded pool first, as
a check's do. Backends still only fetch: what the numbers mean is :mod:`rolloutcli.stats.sizing`'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from rolloutcli.stats.moments import Array, MomentSeries

from .base import Cohort, MetricsSource, Need, SegmentedSource, Window
from .pool import QueryPool, default_limit

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class History:
    """Per-hour series over the lookback; a metric the backend had no data for is absent."""

    window: Window
    step: timedelta
    counters: dict[str, Array]
    """Each counter's total per interval (NaN: no data in that interval)."""
    values: dict[str, MomentSeries]
    """Each value metric's count, sum and sum of squares of its per-step values per interval
    (of ln(value) when read with ``log``)."""
    segments: dict[tuple[str, str], dict[str, Array]] = field(default_factory=dict)
    """Each ``(counter, label)`` asked for: the counter per interval per value of the label;
    absent when the source has no data for the counter, empty when none carries the label."""


def history_needs(
    counters: list[str],
    values: list[tuple[str, bool]],
    cohort: Cohort,
    window: Window,
    step: timedelta = HOUR,
    grouped: list[tuple[str, str]] | None = None,
) -> list[Need]:
    """The calls :func:`read_history` makes (``values`` are ``(metric, log)`` pairs,
    ``grouped`` ``(counter, label)`` pairs)."""
    needs = [Need("counter_series", m, cohort, window, step) for m in dict.fromkeys(counters)]
    needs += [
        Need("moment_series", m, cohort, window, step, log) for m, log in dict.fromkeys(values)
    ]
    needs += [
        Need("segment_series", m, cohort, window, step, by=by)
        for m, by in dict.fromkeys(grouped or [])
    ]
    return needs


async def _prefetch(source: MetricsSource, needs: list[Need]) -> None:
    async with QueryPool(limit=default_limit()) as pool:
        await source.prefetch(needs, pool)


def read_history(
    source: MetricsSource,
    counters: list[str],
    values: list[tuple[str, bool]],
    cohort: Cohort,
    window: Window,
    step: timedelta = HOUR,
    grouped: list[tuple[str, str]] | None = None,
) -> History:
    """Fetch every series at once, then read them. Raises the source's QueryFailure (exit
    3) for a query that cannot give numbers; no data is an absent entry, for the caller to
    name. ``grouped`` needs a source that can group (:class:`SegmentedSource`)."""
    needs = history_needs(counters, values, cohort, window, step, grouped)
    asyncio.run(_prefetch(source, needs))
    found_counters: dict[str, Array] = {}
    found_values: dict[str, MomentSeries] = {}
    found_segments: dict[tuple[str, str], dict[str, Array]] = {}
    for need in needs:
        if need.verb == "segment_series":
            assert isinstance(source, SegmentedSource) and need.by is not None
            groups = source.segment_series(need.metric, cohort, window, step, need.by)
            if groups is not None:
                found_segments[(need.metric, need.by)] = groups
        elif need.verb == "counter_series":
            series = source.counter_series(need.metric, cohort, window, step)
            if series is not None:
                found_counters[need.metric] = series
        else:
            moments = source.moment_series(need.metric, cohort, window, step, need.log)
            if moments is not None:
                found_values[need.metric] = moments
    return History(window, step, found_counters, found_values, found_segments)
