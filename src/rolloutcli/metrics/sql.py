"""SQL over the team's own tables as a metrics source: PostgreSQL, DuckDB, or any DB-API 2.0
module named by a ``dbapi+MODULE:`` URL (:mod:`.dbapi`).

Each metric is one query (``metrics.queries``) returning rows shaped like the metrics
file's, by column name:

* ``time`` and ``value``: a counter's increment (``count(*) AS value`` per time bucket) or,
  for a mean guardrail, one value (a request's latency, or one unit's aggregate); or
* ``time``, ``count``, ``sum`` and ``sum_sq``: the moments of ``count`` values (a mean
  guardrail over a table too big to return row by row); or
* ``time``, ``events`` and ``trials``: one row per randomisation unit (``GROUP BY
  user_id``, ``time`` its first exposure), for a per-unit ratio guardrail (its events: and
  trials: name this one query). Read as a counter, each row is one unit (exposures).

A guardrail judged per segment (``segments: {by: region}``) reads its events' and trials'
queries (a mean guardrail: its values' query) with one more column, named as
``segments.by`` (``SELECT ts AS time, region, count(*) AS value ... GROUP BY ts,
region``): the source groups the rows by it, one segment per value (NULL or empty: the
pooled segment ``other``); totals ignore it. The column name is never put into the SQL:
the query returns it, and a query without it holds the rollout naming the column.

``time`` is when the row happened (a timestamp, or a bucket's start). The cohort, flag and
window are bound parameters (:mod:`rolloutcli.plan.sqltext`), never text in the query. Rows
are summed into the check's intervals here; a row more than one step before the window or
at its end or later is refused (the query ignores {start}/{end}). No rows is no data.

Configuration: ``metrics.source.url`` (no password), else the environment variable
``metrics.source.url_env`` names (``ROLLOUT_SQL_URL`` by default), which may hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rolloutcli.judge.dataquality import Coverage, Kind, first_bad_value
from rolloutcli.judge.observations import MeanData
from rolloutcli.plan.dbapiurl import is_dbapi
from rolloutcli.plan.segments import OTHER
from rolloutcli.plan.source_specs import SqlSourceSpec
from rolloutcli.plan.sqltext import PASSWORD, bind, url_problem
from rolloutcli.stats import fixed as stats
from rolloutcli.stats.moments import Array, MomentSeries, UnitMoments
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import BackendError, InvalidInputError, PlanError
from rolloutcli.support.quoting import quote
from rolloutcli.support.redact import register_url
from rolloutcli.support.timeutil import format_timestamp

from .base import Cohort, DataProblem, Need, QueryFailure, ResolvedQuery, Verb, Window
from .dbapi import open_dbapi
from .querying import Fetch, Index, interval_count, interval_sums, slot_coverage
from .sqldrivers import (
    NAME,
    Driver,
    DuckDriver,
    Params,
    PostgresDriver,
    Result,
    Statement,
    Table,
)

if TYPE_CHECKING:
    from rolloutcli.plan.model import LoadedPlan

    from .pool import QueryPool

ENV_URL = "ROLLOUT_SQL_URL"


def open_sql(loaded: LoadedPlan) -> SqlSource:
    """The source for a plan; a URL that cannot be used is a PlanError (exit 2), one line
    starting with the plan's path (``check`` adds none to a PlanError)."""
    spec = loaded.plan.metrics.source
    assert isinstance(spec, SqlSourceSpec)  # the registry opens this adapter for this kind
    env = spec.url_env or ENV_URL
    setting = f"metrics.source.url / {env}"
    url = (spec.url or os.environ.get(env, "")).strip()
    if not url:
        raise PlanError([f"{loaded.path}: the sql source needs a URL: set {setting}"])
    problem = url_problem(url)
    if problem and problem.startswith(PASSWORD):
        register_url(url)  # from the environment, a password may be in it: a secret
    elif problem:
        raise PlanError([f"{loaded.path}: {setting}: {problem}"])
    try:
        driver = driver_for(url, loaded.base_dir, spec.timeout, setting)
    except InvalidInputError as exc:  # a dbapi+ module that cannot be used
        raise PlanError([f"{loaded.path}: {exc}"]) from None
    return SqlSource(loaded, driver)


def driver_for(url: str, base_dir: Path, timeout: float, setting: str) -> Driver:
    """The driver a URL names: ``duckdb:`` (memory), ``duckdb:PATH`` (a file, relative to
    the plan's directory), ``dbapi+MODULE:...`` (any DB-API 2.0 module,
    :mod:`.dbapi`) or a PostgreSQL URL."""
    if is_dbapi(url):
        return open_dbapi(url, base_dir, timeout, setting)
    scheme, _, rest = url.partition(":")
    if scheme.lower() != "duckdb":
        return PostgresDriver(url, timeout, setting)
    rest = rest.removeprefix("//")
    if rest in ("", ":memory:"):
        return DuckDriver(None, base_dir, timeout, setting)
    path = Path(os.path.expanduser(rest))
    return DuckDriver(path if path.is_absolute() else base_dir / path, base_dir, timeout, setting)


@dataclass(frozen=True)
class Rows:
    """A query's rows as moments: each row's time (epoch seconds), count, sum and sum of
    squares (a ``value`` row is 1, v, v²); ``raw`` when every row was one value."""

    times: Array
    n: Array
    total: Array
    total_sq: Array
    raw: bool


@dataclass(frozen=True)
class UnitRows:
    """A per-unit query's rows: each unit's time (epoch seconds), events and trials."""

    times: Array
    events: Array
    trials: Array

    def as_units(self) -> Rows:
        """Each row as one unit counted (a counter of units: exposures)."""
        ones = np.ones(self.times.size)
        return Rows(self.times, ones, ones, ones, True)


@dataclass(frozen=True)
class NoRows:
    """The query returned no rows (or only NULL values)."""


@dataclass(frozen=True)
class Segmented:
    """A grouped fetch's rows per value of its label column (``{}``: the query returns
    no such column)."""

    rows: dict[str, Rows]


Answer = Rows | UnitRows | NoRows | Segmented | BackendError


class SqlSource:
    name = NAME

    def __init__(self, loaded: LoadedPlan, driver: Driver) -> None:
        plan = loaded.plan
        self.flag = plan.flag
        self.metrics = plan.metrics
        self.default_step = plan.statistics.step
        self.driver = driver
        self._answers: dict[Fetch, Answer] = {}
        self.misses = 0  # fetches not prefetched (a check should have none)

    # ------------------------------------------------------------ queries

    def fetch_for(self, need: Need) -> Fetch:
        """What one query answers: ``{window}`` is the step of a series (a value metric's
        own ``step:`` if it has one), else the whole window."""
        step: timedelta | None = None
        if need.verb in ("counter_series", "unit_series", "segment_series"):
            step = need.step
        elif need.verb in ("moment_series", "segment_moments"):
            own = self._query(need.metric).step
            step = parse_duration(own) if own else need.step
        w = need.window
        by = need.by if need.verb in ("segment_series", "segment_moments") else None
        return Fetch(need.metric, need.cohort.role, need.cohort.label, w.start, w.end, step, by)

    def _query(self, metric: str) -> Any:
        found = self.metrics.query(metric)
        if found is None:  # plan validation makes this unreachable
            raise BackendError(NAME, f"the plan has no query for metric {metric!r}")
        return found

    def bound(self, fetch: Fetch) -> Statement:
        """The SQL as sent to the driver, and the parameters bound to it."""
        sql, order = bind(self._query(fetch.metric).query, self.driver.style)
        length = fetch.step if fetch.step is not None else fetch.end - fetch.start
        values: Params = {
            "cohort": fetch.label,
            "role": fetch.role,
            "flag": self.flag,
            "start": _naive_utc(fetch.start),
            "end": _naive_utc(fetch.end),
            "window": length.total_seconds(),
        }
        return Statement(sql, {name: values[name] for name in order}, order)

    def _shown(self, fetch: Fetch) -> tuple[str, dict[str, str]]:
        statement = self.bound(fetch)
        params = statement.params
        return " ".join(statement.sql.split()), {k: _param_text(v) for k, v in params.items()}

    def _text(self, fetch: Fetch) -> str:
        sql, params = self._shown(fetch)
        bound = ", ".join(f"{k}={quote(v)}" for k, v in params.items())
        return f"{sql} [{bound}]"

    def describe(self, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter") -> str:
        serial = ("counter_series", "moment_series", "unit_series")
        step = self.default_step if verb in serial else None
        fetch = self.fetch_for(Need(verb, metric, cohort, window, step))
        return f"{NAME} ({self.driver.where}): {self._text(fetch)}"

    def resolve(self, need: Need) -> list[ResolvedQuery]:
        sql, params = self._shown(self.fetch_for(need))
        return [ResolvedQuery(f"{NAME} ({self.driver.where})", sql, params)]

    # ------------------------------------------------------------ fetching

    async def prefetch(self, needs: list[Need], pool: QueryPool) -> None:
        """Every query over one connection, in a worker thread (the drivers block), so the
        other plans' HTTP queries go on meanwhile."""
        wanted = list(dict.fromkeys(self.fetch_for(n) for n in needs if n.window.length))
        wanted = [f for f in wanted if f not in self._answers]
        if wanted:
            await asyncio.to_thread(self._run, wanted)

    def _run(self, fetches: list[Fetch]) -> None:
        """Run each distinct query once: a total and a series of the same metric are the
        same SQL with the same parameters unless it uses {window}."""
        bound = {f: self.bound(f) for f in fetches}
        keys = {f: (st.sql, tuple(sorted(st.params.items()))) for f, st in bound.items()}
        distinct = {key: bound[f] for f, key in keys.items()}
        results = self.driver.run(list(distinct.values()))
        by_key = dict(zip(distinct, results, strict=True))
        for fetch in fetches:
            self._answers[fetch] = self._read(fetch, by_key[keys[fetch]])

    def _read(self, fetch: Fetch, result: Result) -> Answer:
        if isinstance(result, BackendError):
            return result
        try:
            return read_rows(result, fetch) if fetch.by is None else read_segments(result, fetch)
        except QueryFailure as exc:
            return exc

    def _fetched(self, fetch: Fetch) -> Rows | UnitRows | None:
        answer = self._read_answer(fetch)
        assert not isinstance(answer, Segmented), "a grouped fetch read as an ungrouped one"
        return answer

    def _read_answer(self, fetch: Fetch) -> Rows | UnitRows | Segmented | None:
        if fetch.end <= fetch.start:
            return None
        if fetch not in self._answers:
            self.misses += 1
            self._run([fetch])
        answer = self._answers[fetch]
        if isinstance(answer, BackendError):
            raise self._with_context(answer, fetch)
        return None if isinstance(answer, NoRows) else answer

    def _answer(self, fetch: Fetch, kind: Kind) -> Rows | None:
        answer = self._fetched(fetch)
        if isinstance(answer, UnitRows):
            if kind != "count":
                raise self._per_unit_misused(fetch)
            answer = answer.as_units()
        if answer is None:
            return None
        checks: tuple[tuple[Array, Kind], ...] = (
            (answer.n, "count"),
            (answer.total, kind),
            (answer.total_sq, kind),
        )
        self._check_values(fetch, checks)
        return answer

    def _check_values(self, fetch: Fetch, checks: tuple[tuple[Array, Kind], ...]) -> None:
        for values, as_kind in checks:
            problem = first_bad_value(values.tolist(), as_kind)
            if problem is not None:
                raise DataProblem(
                    NAME, f"{fetch.metric} ({fetch.role}) has {problem} · {self._text(fetch)}"
                )

    def _per_unit_misused(self, fetch: Fetch) -> QueryFailure:
        return QueryFailure(
            NAME,
            "rejected",
            f"metric {fetch.metric} ({fetch.role}) returns events and trials (one row per "
            f"unit), which only a ratio guardrail reads; query: {self._text(fetch)}",
            hint="name it as both events: and trials: of a ratio guardrail, or return time "
            "and value",
        )

    def _with_context(self, error: BackendError, fetch: Fetch) -> BackendError:
        """The same failure, now naming the metric, the cohort and the query."""
        detail = getattr(error, "detail", None) or str(error).removeprefix(f"{NAME}: ")
        message = f"metric {fetch.metric} ({fetch.role}): {detail}; query: {self._text(fetch)}"
        kind = error.kind if isinstance(error, QueryFailure) else "unreachable"
        return QueryFailure(NAME, kind, message, error.hint)

    # ------------------------------------------------------------ the verbs

    def counter(self, metric: str, cohort: Cohort, window: Window) -> float | None:
        rows = self._answer(self.fetch_for(Need("counter", metric, cohort, window)), "count")
        return None if rows is None else float(rows.total.sum())

    def counter_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> Array | None:
        need = Need("counter_series", metric, cohort, window, step)
        rows = self._answer(self.fetch_for(need), "count")
        if rows is None:
            return None
        index = _slots(rows.times, window, step)
        return interval_sums(index, rows.total, interval_count(window, step))

    def segment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str
    ) -> dict[str, Array] | None:
        """The counter per interval for each value of the column ``by``; ``{}`` when the
        query returns no such column."""
        fetch = self.fetch_for(Need("segment_series", metric, cohort, window, step, by=by))
        found = self._read_answer(fetch)
        if found is None:
            return None
        assert isinstance(found, Segmented)
        size = interval_count(window, step)
        out: dict[str, Array] = {}
        for name, rows in found.rows.items():
            for values in (rows.n, rows.total):
                problem = first_bad_value(values.tolist(), "count")
                if problem is not None:
                    raise DataProblem(
                        NAME,
                        f"{metric} ({cohort.role}) has {problem} in {by}={name} · "
                        f"{self._text(fetch)}",
                    )
            out[name] = interval_sums(_slots(rows.times, window, step), rows.total, size)
        return out

    def values(self, metric: str, cohort: Cohort, window: Window) -> MeanData | None:
        rows = self._answer(self.fetch_for(Need("values", metric, cohort, window)), "value")
        if rows is None:
            return None
        if rows.raw:
            samples = tuple(rows.total.tolist())
            summary = stats.summarize(samples)
            return MeanData(summary.n, summary.mean, summary.sd, samples)
        summary = stats.summary_from_moments(
            int(rows.n.sum()), float(rows.total.sum()), float(rows.total_sq.sum())
        )
        return MeanData(summary.n, summary.mean, summary.sd)

    def moment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        need = Need("moment_series", metric, cohort, window, step, log)
        fetch = self.fetch_for(need)
        rows = self._answer(fetch, "value")
        if rows is None:
            return None
        return self._moments(rows, fetch, window, step, log)

    def segment_moments(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str, log: bool
    ) -> dict[str, MomentSeries] | None:
        """The moments per interval for each value of the column ``by`` (a mean guardrail's
        ``segments:``); ``{}`` when the query returns no such column."""
        fetch = self.fetch_for(Need("segment_moments", metric, cohort, window, step, log, by))
        found = self._read_answer(fetch)
        if found is None:
            return None
        assert isinstance(found, Segmented)
        out: dict[str, MomentSeries] = {}
        for name, rows in found.rows.items():
            checks: tuple[tuple[Array, Kind], ...] = (
                (rows.n, "count"),
                (rows.total, "value"),
                (rows.total_sq, "value"),
            )
            for values, kind in checks:
                problem = first_bad_value(values.tolist(), kind)
                if problem is not None:
                    raise DataProblem(
                        NAME,
                        f"{metric} ({cohort.role}) has {problem} in {by}={name} · "
                        f"{self._text(fetch)}",
                    )
            out[name] = self._moments(rows, fetch, window, step, log)
        return out

    def _moments(
        self, rows: Rows, fetch: Fetch, window: Window, step: timedelta, log: bool
    ) -> MomentSeries:
        """Count, sum and sum of squares per interval (of the values' logs with ``log``)."""
        metric, role = fetch.metric, fetch.role
        total, total_sq = rows.total, rows.total_sq
        if log:
            if not rows.raw:
                raise QueryFailure(
                    NAME,
                    "rejected",
                    f"metric {metric} ({role}) returns count, sum and sum_sq but its "
                    f"guardrail has scale: log; query: {self._text(fetch)}",
                    hint="return time and value (the values themselves), or use scale: linear",
                )
            if (total <= 0).any():
                bad = float(total[total <= 0][0])
                raise QueryFailure(
                    NAME,
                    "rejected",
                    f"metric {metric} ({role}) has a value {bad:g} <= 0, which scale: "
                    f"log cannot take; query: {self._text(fetch)}",
                    hint="use scale: linear, or a query whose values are positive",
                )
            total = np.log(total)
            total_sq = total * total
        index, size = _slots(rows.times, window, step), interval_count(window, step)
        return MomentSeries(
            interval_sums(index, rows.n, size),
            interval_sums(index, total, size),
            interval_sums(index, total_sq, size),
        )

    def unit_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> UnitMoments | None:
        fetch = self.fetch_for(Need("unit_series", metric, cohort, window, step))
        rows = self._fetched(fetch)
        if rows is None:
            return None
        if isinstance(rows, Rows):
            raise QueryFailure(
                NAME,
                "rejected",
                f"metric {metric} ({cohort.role}) is a per-unit ratio's query (its guardrail "
                f"names it as events: and trials:) but returns no events and trials columns; "
                f"query: {self._text(fetch)}",
                hint="return time, events and trials, one row per unit (GROUP BY user_id)",
            )
        self._check_values(fetch, ((rows.events, "count"), (rows.trials, "count")))
        index, size = _slots(rows.times, window, step), interval_count(window, step)
        e, t = rows.events, rows.trials
        columns = (np.ones(e.size), e, t, e * e, t * t, e * t)
        return UnitMoments(*(interval_sums(index, c, size) for c in columns))

    def coverage(self, need: Need, window: Window) -> Coverage | None:
        """Coverage at the rows' own cadence, as for the metrics file: the commonest gap
        between the distinct times the query returned, when at least half of the gaps are
        that one (a table written once per interval). Irregular rows (events as they came)
        have no cadence to measure gaps against: None, judged on what they hold."""
        fetch = self.fetch_for(need)
        rows = self._fetched(fetch)
        if rows is None:
            return None
        times = np.unique(rows.times)
        cadence = _cadence(times)
        if cadence is None:
            return None
        return slot_coverage(times, float(times[0]), timedelta(seconds=cadence), window)


def _cadence(times: Array) -> float | None:
    """The commonest gap in seconds between sorted distinct ``times``, when at least half
    of the gaps are that one; else None."""
    if times.size < 2:
        return None
    gaps, counts = np.unique(np.round(np.diff(times), 3), return_counts=True)
    best = int(np.argmax(counts))
    if gaps[best] <= 0 or counts[best] * 2 < counts.sum():
        return None
    return float(gaps[best])


# ---------------------------------------------------------------- reading rows

MOMENTS = ("count", "sum", "sum_sq")


def read_rows(table: Table, fetch: Fetch) -> Rows | UnitRows | NoRows:
    """The rows of one answer as moments, strictly: the columns by name, every time a
    timestamp inside the window (or one step before it), every number a number."""
    columns = table.columns
    per_unit = "events" in columns and "trials" in columns
    if "time" not in columns or not ("value" in columns or "count" in columns or per_unit):
        raise QueryFailure(
            NAME,
            "malformed",
            f"the query returns columns ({', '.join(columns) or 'none'}): return time and "
            "value, or time, count, sum and sum_sq, or time, events and trials (per unit)",
            hint="name the columns with AS, e.g. SELECT ts AS time, count(*) AS value",
        )
    if per_unit and not ("value" in columns or "count" in columns):
        return _read_units(table, fetch)
    at = columns.index("time")
    raw = "value" in columns
    picks = [columns.index("value")] if raw else [columns.index(c) for c in MOMENTS if c in columns]
    times: list[float] = []
    moments: list[tuple[float, float, float]] = []
    for row in table.rows:
        numbers = [_number(row[i]) for i in picks]
        if any(math.isnan(x) for x in numbers[:1]):
            continue  # NULL: missing, not zero
        times.append(_epoch(row[at]))
        if raw:
            v = numbers[0]
            moments.append((1.0, v, v * v))
        else:
            numbers += [0.0] * (3 - len(numbers))
            moments.append((numbers[0], numbers[1], numbers[2]))
    if not times:
        return NoRows()
    _check_times(times, fetch)
    n, total, total_sq = np.asarray(moments, dtype=np.float64).T
    return Rows(np.asarray(times, dtype=np.float64), n, total, total_sq, raw)


def read_segments(table: Table, fetch: Fetch) -> Segmented | NoRows:
    """The rows of a grouped fetch, per value of the column ``fetch.by`` (each group read
    as :func:`read_rows` reads a whole answer; one row per unit counts one unit)."""
    assert fetch.by is not None
    whole = read_rows(table, fetch)  # the shape and every row's time, checked once
    column = fetch.by.lower()  # the drivers give column names in lower case
    if isinstance(whole, NoRows) or column not in table.columns:
        return whole if isinstance(whole, NoRows) else Segmented({})
    at = table.columns.index(column)
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for row in table.rows:
        groups.setdefault(_segment_name(row[at], fetch.by), []).append(row)
    out: dict[str, Rows] = {}
    for name, rows in groups.items():
        found = read_rows(Table(table.columns, rows), fetch)
        if isinstance(found, UnitRows):
            found = found.as_units()
        if isinstance(found, Rows):
            out[name] = found
    return Segmented(out)


def _segment_name(raw: Any, by: str) -> str:
    """A row's segment: its text or whole-number label; NULL or empty is ``other``."""
    if raw is None or raw == "":
        return OTHER
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    raise QueryFailure(
        NAME,
        "malformed",
        f"a {by} value {quote(raw)} that is not text (segments.by names this column)",
        hint=f"cast it in the query, e.g. CAST({by} AS TEXT) AS {by}",
    )


def _read_units(table: Table, fetch: Fetch) -> UnitRows | NoRows:
    """One row per unit: its time, events and trials (a row with a NULL is skipped)."""
    at, columns = table.columns.index("time"), table.columns
    picks = columns.index("events"), columns.index("trials")
    times: list[float] = []
    pairs: list[tuple[float, float]] = []
    for row in table.rows:
        events, trials = (_number(row[i]) for i in picks)
        if math.isnan(events) or math.isnan(trials):
            continue
        times.append(_epoch(row[at]))
        pairs.append((events, trials))
    if not times:
        return NoRows()
    _check_times(times, fetch)
    events_array, trials_array = np.asarray(pairs, dtype=np.float64).T
    return UnitRows(np.asarray(times, dtype=np.float64), events_array, trials_array)


def _check_times(times: list[float], fetch: Fetch) -> None:
    start, end = fetch.start.timestamp(), fetch.end.timestamp()
    slack = (fetch.step or fetch.end - fetch.start).total_seconds()
    for at in times:
        if not start - slack <= at < end:
            when = format_timestamp(datetime.fromtimestamp(at, UTC))
            raise QueryFailure(
                NAME,
                "malformed",
                f"a row at {when}, outside the window asked for "
                f"[{format_timestamp(fetch.start)}, {format_timestamp(fetch.end)})",
                hint="filter the rows with WHERE ts >= {start} AND ts < {end}",
            )


def _number(raw: Any) -> float:
    if raw is None:
        return math.nan
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise QueryFailure(
            NAME,
            "malformed",
            f"a value {quote(raw)} that is not a number",
            hint="cast it in the query, e.g. CAST(x AS DOUBLE PRECISION)",
        )
    return float(raw)


def _epoch(raw: Any) -> float:
    """A row's time: a timestamp (without a zone: UTC), a date, epoch seconds, or ISO 8601
    text (SQLite has no timestamp type: its dates are text)."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = datetime.fromisoformat(raw)
    if isinstance(raw, datetime):
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).timestamp()
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC).timestamp()
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        value = float(raw)
        if math.isfinite(value):
            return value
    raise QueryFailure(
        NAME,
        "malformed",
        f"a time {quote(raw)} that is not a timestamp",
        hint="return time as a timestamp (or epoch seconds)",
    )


def _naive_utc(at: datetime) -> datetime:
    """Bound as a timestamp without time zone, in UTC: the session's zone is UTC too, so a
    column with or without a zone compares the same."""
    return at.astimezone(UTC).replace(tzinfo=None)


def _param_text(value: str | float | datetime) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value.replace(tzinfo=UTC))
    if isinstance(value, float):
        return f"{value:g}"
    return value


def _slots(times: Array, window: Window, step: timedelta) -> Index:
    offset = (times - window.start.timestamp()) / step.total_seconds()
    index = np.floor(offset).astype(np.int64)
    return np.clip(index, 0, interval_count(window, step) - 1)
