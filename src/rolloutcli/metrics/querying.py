"""What the query backends (Prometheus, Datadog) share: templates → calls → numbers.

A backend says how to turn one :class:`Fetch` (a metric for one cohort over a window, as
one total or one value per step) into HTTP calls, and how to read an answer into
:class:`Points`. This class does the rest: the cache the verbs read from, concurrent
prefetching, bucketing points into the verdict's intervals, and typed failures that name
the metric, the backend and the query.

Where a point's time falls in its interval is the backend's convention: Prometheus
evaluates at the interval's end (a point at t covers (t - step, t]); Datadog stamps a
rollup bucket with its start (a point at t covers [t, t + step)).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from rolloutcli.judge.dataquality import Coverage, Kind, bad_value, first_bad_value
from rolloutcli.judge.observations import MeanData
from rolloutcli.plan.model import LoadedPlan, QuerySpec
from rolloutcli.stats import fixed as stats
from rolloutcli.stats.moments import Array, MomentSeries
from rolloutcli.support.errors import BackendError
from rolloutcli.support.quoting import quote

from .base import (
    Cohort,
    DataProblem,
    FailureKind,
    Need,
    QueryFailure,
    ResolvedQuery,
    Verb,
    Window,
)
from .pool import Call, QueryPool
from .templates import render


@dataclass(frozen=True)
class Fetch:
    """One metric for one cohort over [start, end): a total (step None) or one value per
    ``step``."""

    metric: str
    role: str
    label: str
    start: datetime
    end: datetime
    step: timedelta | None
    by: str | None = None  # grouped by this label: one series per value (segments)
    values: bool = False  # a grouped fetch of values (a mean's), not of a counter


@dataclass(frozen=True)
class Points:
    times: tuple[float, ...]  # epoch seconds
    values: tuple[float, ...]  # NaN where the backend said NaN or null


@dataclass(frozen=True)
class NoData:
    why: str


@dataclass(frozen=True)
class Grouped:
    """A grouped query's answer: the points of each value of the label grouped by."""

    series: dict[str, Points]


Answer = Points | NoData | Grouped | BackendError
Index = npt.NDArray[np.int64]


class QueryingSource:
    """Base of the sources that run a plan's query templates against an HTTP API."""

    name = "query"
    anchor: Literal["start", "end"] = "end"

    def __init__(self, loaded: LoadedPlan) -> None:
        plan = loaded.plan
        self.flag = plan.flag
        self.queries = plan.metrics
        self.default_step = plan.statistics.step
        self.timeout = plan.metrics.source.timeout
        self._answers: dict[Fetch, Answer] = {}
        self.misses = 0  # fetches not prefetched (a check should have none)
        self._released = False

    # ------------------------------------------------------------ for backends

    def calls(self, fetch: Fetch, query: str) -> list[Call]:
        """The HTTP calls that answer ``fetch``, with ``query`` already rendered."""
        raise NotImplementedError

    def parse(self, call: Call, response: object) -> Points | NoData:
        """Read one answer; raise QueryFailure when it carries no usable numbers."""
        raise NotImplementedError

    def window_text(self, length: timedelta) -> str:
        """``{window}`` in the backend's duration syntax."""
        raise NotImplementedError

    def grouped(self, query: str, by: str) -> str:
        """``query`` aggregated by the label ``by`` (one series per segment)."""
        raise BackendError(self.name, "this source cannot group a query by segment yet")

    def grouped_values(self, query: str, by: str) -> str:
        """A query of values (a mean guardrail's) aggregated by the label ``by`` as well."""
        return self.grouped(query, by)

    def parse_grouped(self, call: Call, response: object, by: str) -> Grouped | NoData:
        """Read one answer of a grouped query: one series per value of ``by``."""
        raise BackendError(self.name, "this source cannot group a query by segment yet")

    def describe_call(self, call: Call) -> dict[str, str]:
        """The parameters shown by --explain besides the query text."""
        return {k: v for k, v in call.params.items() if k != "query"}

    def grid_origin(self, fetch: Fetch) -> float:
        """Where the backend's steps start (epoch seconds): a range query's steps run from
        its start; Datadog aligns rollup buckets to UNIX time (origin 0)."""
        return fetch.start.timestamp() if self.anchor == "end" else 0.0

    # ------------------------------------------------------------ templates

    def spec(self, metric: str) -> QuerySpec:
        found = self.queries.query(metric)
        if found is None:  # plan validation makes this unreachable
            raise BackendError(self.name, f"the plan has no query for metric {metric!r}")
        return found

    def value_step(self, metric: str) -> timedelta:
        step = self.spec(metric).step
        from rolloutcli.support.durations import parse_duration

        return parse_duration(step) if step else self.default_step

    def fetch_for(self, need: Need) -> Fetch:
        step: timedelta | None
        if need.verb == "counter":
            step = None
        elif need.verb in ("counter_series", "segment_series"):
            step = need.step
        else:
            step = self.value_step(need.metric)
        w = need.window
        by = need.by if need.verb in ("segment_series", "segment_moments") else None
        values = need.verb == "segment_moments"
        cohort = need.cohort
        return Fetch(need.metric, cohort.role, cohort.label, w.start, w.end, step, by, values)

    def rendered(self, fetch: Fetch) -> str:
        length = fetch.step if fetch.step is not None else fetch.end - fetch.start
        cohort = Cohort(fetch.role, fetch.label)  # type: ignore[arg-type]
        query = render(
            self.spec(fetch.metric).query,
            cohort=cohort,
            flag=self.flag,
            window=self.window_text(length),
        )
        if fetch.by is None:
            return query
        return (
            self.grouped_values(query, fetch.by) if fetch.values else self.grouped(query, fetch.by)
        )

    def describe(self, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter") -> str:
        step = self.default_step if verb == "counter_series" else None
        fetch = self.fetch_for(Need(verb, metric, cohort, window, step))
        return f"{self.name}: {self.rendered(fetch)}"

    def resolve(self, need: Need) -> list[ResolvedQuery]:
        fetch = self.fetch_for(need)
        query = self.rendered(fetch)
        return [
            ResolvedQuery(self.name, query, self.describe_call(c)) for c in self.calls(fetch, query)
        ]

    # ------------------------------------------------------------ fetching

    async def prefetch(self, needs: list[Need], pool: QueryPool) -> None:
        wanted = {self.fetch_for(n) for n in needs} - set(self._answers)
        await asyncio.gather(*(self._fetch(f, pool) for f in wanted))

    def release(self) -> None:
        """Drop the fetched answers once the verdict is decided: a fleet's plans would
        otherwise keep every series they read until the output is printed. Only
        :meth:`resolve` (the calls as sent) is asked of a source after that."""
        self._answers = {}
        self._released = True

    async def _fetch(self, fetch: Fetch, pool: QueryPool) -> None:
        query = self.rendered(fetch)
        calls = self.calls(fetch, query)
        if not calls:
            self._answers[fetch] = NoData("the window is empty")
            return
        if fetch.by is not None:
            await self._fetch_grouped(fetch, calls, pool)
            return
        try:
            answers = await asyncio.gather(*(self._one(c, pool) for c in calls))
        except BackendError as exc:
            self._answers[fetch] = exc
            return
        points = [a for a in answers if isinstance(a, Points)]
        if not points:
            first = answers[0]
            self._answers[fetch] = first
            return
        times = tuple(t for p in points for t in p.times)
        values = tuple(v for p in points for v in p.values)
        self._answers[fetch] = Points(times, values)

    async def _fetch_grouped(self, fetch: Fetch, calls: list[Call], pool: QueryPool) -> None:
        """A grouped fetch: each segment's points from every call, merged."""
        assert fetch.by is not None
        by = fetch.by

        async def one(call: Call) -> Grouped | NoData:
            return self.parse_grouped(call, await pool.send(call), by)

        try:
            answers = await asyncio.gather(*(one(c) for c in calls))
        except BackendError as exc:
            self._answers[fetch] = exc
            return
        merged: dict[str, tuple[list[float], list[float]]] = {}
        for answer in answers:
            if isinstance(answer, Grouped):
                for name, points in answer.series.items():
                    times, values = merged.setdefault(name, ([], []))
                    times.extend(points.times)
                    values.extend(points.values)
        if not merged:
            self._answers[fetch] = answers[0]
            return
        self._answers[fetch] = Grouped(
            {name: Points(tuple(t), tuple(v)) for name, (t, v) in merged.items()}
        )

    async def _one(self, call: Call, pool: QueryPool) -> Points | NoData:
        response = await pool.send(call)
        return self.parse(call, response)

    def _answer(self, fetch: Fetch, kind: Kind = "count") -> Points | None:
        """The fetched points (None: no data); raises the failure with its context, or a
        DataProblem when a value cannot be true for a ``kind`` (counts are not negative)."""
        assert not self._released, "answers read after release()"
        if fetch not in self._answers:
            self.misses += 1
            asyncio.run(self._fetch_alone(fetch))
        answer = self._answers[fetch]
        if isinstance(answer, BackendError):
            raise self._with_context(answer, fetch)
        if isinstance(answer, NoData | Grouped):
            return None
        problem = first_bad_value(answer.values, kind)
        if problem is not None:
            raise self._data_problem(fetch, problem)
        return answer

    def _data_problem(self, fetch: Fetch, problem: str) -> DataProblem:
        query = f"{self.name}: {self.rendered(fetch)}"
        return DataProblem(self.name, f"{fetch.metric} ({fetch.role}) has {problem} · {query}")

    async def _fetch_alone(self, fetch: Fetch) -> None:
        async with QueryPool(limit=4) as pool:
            await self._fetch(fetch, pool)

    def _with_context(self, error: BackendError, fetch: Fetch) -> BackendError:
        """The same failure, now naming the metric, the cohort and the query."""
        detail = getattr(error, "detail", None)
        if detail is None:
            detail = str(error).removeprefix(f"{error.backend}: ")
            if error.hint:
                detail = detail.removesuffix(f" (hint: {error.hint})")
        message = f"metric {fetch.metric} ({fetch.role}): {detail}; query: {self.rendered(fetch)}"
        kind: FailureKind = error.kind if isinstance(error, QueryFailure) else "unreachable"
        return QueryFailure(error.backend, kind, message, error.hint)

    # ------------------------------------------------------------ the verbs

    def counter(self, metric: str, cohort: Cohort, window: Window) -> float | None:
        fetch = self.fetch_for(Need("counter", metric, cohort, window))
        points = self._answer(fetch)
        if points is None:
            return None
        finite = [v for v in points.values if math.isfinite(v)]
        if not finite:
            return None
        total = float(sum(finite))
        problem = bad_value(total, "count")
        if problem is not None:
            raise self._data_problem(fetch, problem)
        return total

    def counter_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> Array | None:
        fetch = self.fetch_for(Need("counter_series", metric, cohort, window, step))
        points = self._answer(fetch)
        if points is None:
            return None
        index, values = self._placed(points, window, step)
        return interval_sums(index, values, interval_count(window, step))

    def segment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str
    ) -> dict[str, Array] | None:
        """The counter per interval, per value of the label ``by``; a series without the
        label goes to ``other``."""
        fetch = self.fetch_for(Need("segment_series", metric, cohort, window, step, by=by))
        answer = self._grouped(fetch)
        if answer is None:
            return None
        out: dict[str, Array] = {}
        size = interval_count(window, step)
        for name, points in answer.series.items():
            problem = first_bad_value(points.values, "count")
            if problem is not None:
                raise self._data_problem(fetch, f"{problem} in {by}={name}")
            index, values = self._placed(points, window, step)
            out[name] = interval_sums(index, values, size)
        return out

    def _grouped(self, fetch: Fetch) -> Grouped | None:
        """A grouped fetch's answer (fetched now if it was not prefetched); None when the
        metric has no data at all."""
        assert not self._released, "answers read after release()"
        if fetch not in self._answers:
            self.misses += 1
            asyncio.run(self._fetch_alone(fetch))
        answer = self._answers[fetch]
        if isinstance(answer, BackendError):
            raise self._with_context(answer, fetch)
        return answer if isinstance(answer, Grouped) else None

    def values(self, metric: str, cohort: Cohort, window: Window) -> MeanData | None:
        points = self._answer(self.fetch_for(Need("values", metric, cohort, window)), "value")
        samples = [v for v in points.values if math.isfinite(v)] if points else []
        if not samples:
            return None
        summary = stats.summarize(samples)
        return MeanData(summary.n, summary.mean, summary.sd, tuple(samples))

    def moment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        fetch = self.fetch_for(Need("moment_series", metric, cohort, window, step, log))
        points = self._answer(fetch, "value")
        if points is None:
            return None
        return self._moments(points, fetch, window, step, log)

    def segment_moments(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str, log: bool
    ) -> dict[str, MomentSeries] | None:
        """The moments per interval, per value of the label ``by``; a series without the
        label goes to ``other``."""
        fetch = self.fetch_for(Need("segment_moments", metric, cohort, window, step, log, by))
        answer = self._grouped(fetch)
        if answer is None:
            return None
        out: dict[str, MomentSeries] = {}
        for name, points in answer.series.items():
            problem = first_bad_value(points.values, "value")
            if problem is not None:
                raise self._data_problem(fetch, f"{problem} in {by}={name}")
            found = self._moments(points, fetch, window, step, log)
            if found is not None:
                out[name] = found
        return out

    def _moments(
        self, points: Points, fetch: Fetch, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        """Count, sum and sum of squares of the values per interval (of their logs)."""
        metric, role = fetch.metric, fetch.role
        index, values = self._placed(points, window, step)
        if values.size == 0:
            return None
        if log:
            if (values <= 0).any():
                bad = float(values[values <= 0][0])
                raise QueryFailure(
                    self.name,
                    "rejected",
                    f"metric {metric} ({role}) has a value {bad:g} <= 0, which "
                    f"scale: log cannot take; query: {self.rendered(fetch)}",
                    hint="use scale: linear, or a query whose values are positive",
                )
            values = np.log(values)
        size = interval_count(window, step)
        return MomentSeries(
            interval_sums(index, np.ones_like(values), size),
            interval_sums(index, values, size),
            interval_sums(index, values * values, size),
        )

    def coverage(self, need: Need, window: Window) -> Coverage | None:
        fetch = self.fetch_for(need)
        if fetch.step is None:
            return None
        points = self._answer(fetch, "count" if need.verb == "counter_series" else "value")
        if points is None:
            return None
        times = np.asarray(points.times, dtype=np.float64)
        values = np.asarray(points.values, dtype=np.float64)
        step = fetch.step.total_seconds()
        starts = times[np.isfinite(values)] - (step if self.anchor == "end" else 0.0)
        return slot_coverage(starts, self.grid_origin(fetch), fetch.step, window)

    def _placed(self, points: Points, window: Window, step: timedelta) -> tuple[Index, Array]:
        """The finite values, and the interval each belongs to by the time it covers:
        Prometheus's point at t covers (t - step, t], so it is placed by its last instant;
        Datadog's covers [t, t + step). Points outside the window are clamped into it."""
        times = np.asarray(points.times, dtype=np.float64)
        values = np.asarray(points.values, dtype=np.float64)
        keep = np.isfinite(values)
        offset = times[keep] - window.start.timestamp()
        if self.anchor == "end":
            offset = offset - 1e-3
        index = np.floor(offset / step.total_seconds()).astype(np.int64)
        return np.clip(index, 0, interval_count(window, step) - 1), values[keep]


class Malformed(Exception):
    """An answer that does not follow its API's documented shape, raised while a backend
    reads it; :func:`read_strictly` turns it into the one QueryFailure for all backends."""


def read_strictly(
    backend: str,
    read: Callable[[], Points | NoData],
    asked: tuple[float, float] | None,
    api: str,
    setting: str,
) -> Points | NoData:
    """``read()`` an answer strictly: its shape as ``api`` documents it, and its points
    stamped inside the range ``asked`` for (epoch seconds; None: not known). Anything else
    is a QueryFailure (exit 3), never numbers guessed from a shape we do not understand."""
    try:
        answer = read()
        if isinstance(answer, Points) and asked is not None:
            stray = stray_time(answer, *asked)
            if stray is not None:
                raise Malformed(f"a timestamp {quote(stray)} far outside the range asked for")
        return answer
    except Malformed as exc:
        raise QueryFailure(
            backend,
            "malformed",
            f"malformed answer: {exc}",
            hint=f"the server (or a proxy in front of it) does not answer as {api} does; "
            f"check {setting}",
        ) from None


TIME_SLACK = 86_400.0
"""Seconds an answer's timestamps may stray outside the range a query asked for (clock skew,
bucket alignment) before the answer is malformed: Prometheus stamps points inside the range,
Datadog aligns buckets to it."""


def stray_time(points: Points, start: float, end: float) -> float | None:
    """The first timestamp of ``points`` outside [start, end] by more than TIME_SLACK."""
    for at in points.times:
        if not start - TIME_SLACK <= at <= end + TIME_SLACK:
            return at
    return None


def slot_coverage(starts: Array, origin: float, step: timedelta, window: Window) -> Coverage:
    """Coverage of ``window`` by points whose steps start at ``starts`` (epoch seconds), on a
    grid of ``step`` from ``origin``. Only whole steps inside the window count; they are
    counted from the window's start, or from the series' first point when it begins later."""
    size = step.total_seconds()
    eps = 1e-6
    slots = np.floor((starts - origin) / size + eps).astype(np.int64)
    first = math.ceil((window.start.timestamp() - origin) / size - eps)
    last = math.floor((window.end.timestamp() - origin) / size + eps) - 1
    if slots.size:
        first = max(first, int(slots.min()))
    expected = max(0, last - first + 1)
    seen = np.unique(slots[(slots >= first) & (slots <= last)])
    tail = expected if seen.size == 0 else last - int(seen.max())
    return Coverage(expected, int(seen.size), step, tail)


def interval_sums(index: Index, values: Array, size: int) -> Array:
    """Per-interval sums, NaN where no point fell (missing, not zero)."""
    out = np.zeros(size)
    np.add.at(out, index, values)
    seen = np.zeros(size, dtype=bool)
    seen[index] = True
    out[~seen] = np.nan
    return out


def interval_count(window: Window, step: timedelta) -> int:
    """How many intervals of ``step`` the window holds (a last partial one counts)."""
    return max(1, math.ceil((window.end - window.start) / step))


def range_times(start: datetime, end: datetime, step: timedelta) -> tuple[float, int]:
    """For an end-anchored backend: the first evaluation time (start + step) and how many
    whole steps fit in [start, end). A partial last step is left for the next check."""
    count = math.floor((end - start) / step)
    return (start + step).timestamp(), count
