"""The embedded metrics source: a local CSV or JSON-lines file of timestamped observations.

Each row is one observation of one metric for one cohort:

``time`` (ISO 8601), ``cohort`` (``treatment``/``control`` or the variation served, e.g.
``v2.4``), ``metric`` (the name a plan refers to), and either

* ``value`` alone — a counter increment (``requests``, ``errors``) or, for a value metric,
  one raw sample (a latency, a score); or
* ``count``, ``sum`` and ``sum_sq`` — a pre-aggregated summary of ``count`` values.

Any other column (or JSON key) with a text or integer value is a label: a guardrail with
``segments: {by: region}`` groups its counters by the ``region`` column, one segment per
value. Totals ignore labels (they sum every row); a row with no value for the label falls
into the pooled segment ``other``.

Files ending in ``.csv`` are read as CSV with a header row; anything else as JSON lines.
The source sums what falls in the window since the stage began.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import stat
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rolloutcli.judge.dataquality import Coverage, Kind, first_bad_value
from rolloutcli.judge.observations import MeanData
from rolloutcli.plan.segments import OTHER
from rolloutcli.plan.source_specs import FileSourceSpec
from rolloutcli.stats import fixed as stats
from rolloutcli.stats.moments import Array, MomentSeries
from rolloutcli.support.durations import format_duration
from rolloutcli.support.errors import BackendError
from rolloutcli.support.paths import shown_path
from rolloutcli.support.quoting import quote
from rolloutcli.support.timeutil import format_timestamp, parse_timestamp

from .base import Cohort, DataProblem, Need, ResolvedQuery, Verb, Window, variation_label

COLUMNS = frozenset({"time", "cohort", "metric", "value", "count", "sum", "sum_sq"})
"""A row's own columns; any other is a label a guardrail's segments may group by."""

if TYPE_CHECKING:
    from rolloutcli.plan.model import LoadedPlan

    from .pool import QueryPool

NAME = "metrics file"
MAX_BYTES = 256 * 1024 * 1024
"""The largest metrics file read (256 MiB, a few million rows): past that, aggregate the rows
(count, sum, sum_sq per interval) or query the metrics backend itself."""
MAX_FIELD = 1024 * 1024  # characters in one CSV field (csv's own default limit is 128 KiB)


@dataclass(frozen=True)
class _Row:
    at: datetime
    cohort: str
    metric: str
    value: float | None
    count: int | None
    total: float | None
    total_sq: float | None
    labels: tuple[tuple[str, str], ...] = ()


def open_file_source(loaded: LoadedPlan) -> FileMetricsSource:
    spec = loaded.plan.metrics.source
    assert isinstance(spec, FileSourceSpec)  # the registry opens this adapter for this kind
    assert spec.path is not None  # guaranteed by plan validation
    return FileMetricsSource(loaded.resolve(spec.path))


class FileMetricsSource:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: list[_Row] | None = None
        self._cadences: dict[str, tuple[float, float] | None] = {}

    @property
    def shown(self) -> str:
        """The file as messages name it (:func:`~rolloutcli.support.paths.shown_path`)."""
        return shown_path(self.path)

    def describe(self, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter") -> str:
        return (
            f"{self.path.name}: metric={metric} cohort in ({cohort.role}, "
            f"{variation_label(cohort.variation)}) time in "
            f"[{format_timestamp(window.start)}, {format_timestamp(window.end)})"
        )

    def resolve(self, need: Need) -> list[ResolvedQuery]:
        text = self.describe(need.metric, need.cohort, need.window)
        if need.by is not None:
            text += f" grouped by {need.by}"
        params = {"step": format_duration(need.step)} if need.step is not None else {}
        return [ResolvedQuery(NAME, text, params)]

    async def prefetch(self, needs: list[Need], pool: QueryPool) -> None:
        """Nothing to fetch ahead: the file is read once, on first use."""

    def counter(self, metric: str, cohort: Cohort, window: Window) -> float | None:
        rows = self._checked(metric, cohort, window, "count")
        if not rows:
            return None
        total = sum(_increment(r) for r in rows)
        self._check([total], metric, cohort, window, "count")
        return total

    def segment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str
    ) -> dict[str, Array] | None:
        """The counter per interval for each value of the column ``by``; rows without one
        go to ``other``. ``{}`` when no row of the metric has the column at all."""
        rows = self._checked(metric, cohort, window, "count")
        if not rows:
            return None
        named = [dict(r.labels).get(by) for r in rows]
        if all(name is None for name in named) and not self._has_label(metric, by):
            return {}
        out: dict[str, Array] = {}
        size = _buckets(window, step)
        for r, name in zip(rows, named, strict=True):
            series = out.setdefault(name or OTHER, np.full(size, np.nan))
            i = _bucket(r.at, window, step)
            add = _increment(r)
            series[i] = add if math.isnan(series[i]) else series[i] + add
        return out

    def label_names(self, metric: str) -> tuple[str, ...]:
        """The label columns any row of ``metric`` carries, in the order first seen."""
        names = (key for r in self._load() if r.metric == metric for key, _ in r.labels)
        return tuple(dict.fromkeys(names))

    def _has_label(self, metric: str, by: str) -> bool:
        """Whether any row of ``metric`` (any cohort, any time) carries the label ``by``."""
        return any(r.metric == metric and by in dict(r.labels) for r in self._load())

    def values(self, metric: str, cohort: Cohort, window: Window) -> MeanData | None:
        rows = self._checked(metric, cohort, window, "value")
        if not rows:
            return None
        raw = [r.value for r in rows if r.count is None and r.value is not None]
        parts = [
            stats.summary_from_moments(r.count, r.total or 0.0, r.total_sq or 0.0)
            for r in rows
            if r.count is not None
        ]
        if raw:
            parts.append(stats.summarize(raw))
        summary = stats.combine_summaries(parts)
        samples = tuple(raw) if raw and len(parts) == 1 else None
        return MeanData(n=summary.n, mean=summary.mean, sd=summary.sd, samples=samples)

    def counter_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> Array | None:
        rows = self._checked(metric, cohort, window, "count")
        if not rows:
            return None
        out = np.full(_buckets(window, step), np.nan)
        for r in rows:
            i = _bucket(r.at, window, step)
            add = _increment(r)
            out[i] = add if math.isnan(out[i]) else out[i] + add
        return out

    def moment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        rows = self._checked(metric, cohort, window, "value")
        if not rows:
            return None
        return self._moments(rows, metric, window, step, log)

    def segment_moments(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str, log: bool
    ) -> dict[str, MomentSeries] | None:
        """The moments per interval for each value of the column ``by``; rows without one
        go to ``other``. ``{}`` when no row of the metric has the column at all."""
        rows = self._checked(metric, cohort, window, "value")
        if not rows:
            return None
        if not any(by in dict(r.labels) for r in rows) and not self._has_label(metric, by):
            return {}
        groups: dict[str, list[_Row]] = {}
        for r in rows:
            groups.setdefault(dict(r.labels).get(by) or OTHER, []).append(r)
        return {
            name: self._moments(part, metric, window, step, log) for name, part in groups.items()
        }

    def _moments(
        self, rows: list[_Row], metric: str, window: Window, step: timedelta, log: bool
    ) -> MomentSeries:
        size = _buckets(window, step)
        n, total, total_sq = (np.full(size, np.nan) for _ in range(3))
        for r in rows:
            if r.count is not None:
                if log:
                    raise BackendError(
                        NAME,
                        f"{self.shown}: metric {metric} has pre-aggregated rows (count, sum, "
                        "sum_sq) but its guardrail has scale: log",
                        hint="give raw samples (value) so they can be logged, or use scale: linear",
                    )
                parts = (float(r.count), r.total or 0.0, r.total_sq or 0.0)
            else:
                assert r.value is not None
                if log and r.value <= 0:
                    raise BackendError(
                        NAME,
                        f"{self.shown}: metric {metric} has a value {r.value:g} <= 0, "
                        "which scale: log cannot take",
                    )
                x = math.log(r.value) if log else r.value
                parts = (1.0, x, x * x)
            i = _bucket(r.at, window, step)
            for array, add in zip((n, total, total_sq), parts, strict=True):
                array[i] = add if math.isnan(array[i]) else array[i] + add
        return MomentSeries(n, total, total_sq)

    def coverage(self, need: Need, window: Window) -> Coverage | None:
        """Coverage at the file's own reporting cadence for the metric: the commonest gap
        between its distinct timestamps (both cohorts), when at least half of the gaps are
        that one (a series written once per interval). Irregular rows (raw samples as they
        came) have no cadence to measure gaps against: None, judged on what they hold."""
        from .querying import slot_coverage

        found = self._cadence(need.metric)
        if found is None:
            return None
        origin, cadence = found
        own = self._select(need.metric, need.cohort, need.window)
        if not own:
            return None
        starts = np.asarray(sorted({r.at.timestamp() for r in own}), dtype=np.float64)
        return slot_coverage(starts, origin, timedelta(seconds=cadence), window)

    def _cadence(self, metric: str) -> tuple[float, float] | None:
        """(first timestamp, commonest gap in seconds) of ``metric``'s rows, or None."""
        if metric not in self._cadences:
            times = sorted({r.at.timestamp() for r in self._load() if r.metric == metric})
            gaps = Counter(round(b - a, 3) for a, b in itertools.pairwise(times))
            found = None
            if gaps:
                gap, count = gaps.most_common(1)[0]
                if gap > 0 and count * 2 >= sum(gaps.values()):
                    found = (times[0], gap)
            self._cadences[metric] = found
        return self._cadences[metric]

    # ------------------------------------------------------------------ checking

    def _checked(self, metric: str, cohort: Cohort, window: Window, kind: Kind) -> list[_Row]:
        """The rows in the window, refusing values that cannot be true for ``kind``."""
        rows = self._select(metric, cohort, window)
        values: list[float] = []
        for r in rows:
            values.extend(v for v in (r.value, r.total) if v is not None)
            if r.total_sq is not None:
                values.append(r.total_sq if kind == "value" else abs(r.total_sq))
        self._check(values, metric, cohort, window, kind)
        return rows

    def _check(
        self, values: list[float], metric: str, cohort: Cohort, window: Window, kind: Kind
    ) -> None:
        problem = first_bad_value(values, kind)
        if problem is not None:
            where = self.describe(metric, cohort, window)
            raise DataProblem(NAME, f"{metric} ({cohort.role}) has {problem} · {where}")

    # ------------------------------------------------------------------ reading

    def _select(self, metric: str, cohort: Cohort, window: Window) -> list[_Row]:
        labels = {cohort.role, variation_label(cohort.variation)}
        return [
            r
            for r in self._load()
            if r.metric == metric and r.cohort in labels and window.start <= r.at < window.end
        ]

    def _load(self) -> list[_Row]:
        if self._rows is None:
            self._rows = list(self._read())
        return self._rows

    def _read(self) -> list[_Row]:
        text = self._text()
        if self.path.suffix.lower() == ".csv":
            return self._read_csv(text)
        return self._read_json_lines(text)

    def _text(self) -> str:
        """The whole file as text: a regular file, at most MAX_BYTES, UTF-8 (a BOM is
        dropped); every other case is one line naming the file (and line) to fix."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BackendError(
                NAME,
                f"{self.shown} not found",
                hint="check metrics.source.path in the plan",
            ) from None
        except OSError as exc:
            raise BackendError(NAME, f"cannot read {self.shown}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise BackendError(
                    NAME,
                    f"{self.shown} is not a regular file",
                    hint="metrics.source.path names a CSV or JSON-lines file",
                )
            try:
                raw = handle.read(MAX_BYTES + 1)
            except OSError as exc:
                raise BackendError(NAME, f"cannot read {self.shown}: {exc.strerror}") from None
        if len(raw) > MAX_BYTES:
            raise BackendError(
                NAME,
                f"{self.shown} is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                hint="aggregate its rows (count, sum, sum_sq per interval) or query the "
                "metrics backend itself",
            )
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            byte = raw[exc.start]
            raise self._bad(
                line, f"not UTF-8 (byte 0x{byte:02x} at column {column}): save it as UTF-8"
            ) from None

    def _read_csv(self, text: str) -> list[_Row]:
        rows: list[_Row] = []
        previous = csv.field_size_limit()
        csv.field_size_limit(MAX_FIELD)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            for item in reader:
                rows.append(self._row(item, reader.line_num))
        except csv.Error as exc:
            # csv counts the lines it finished: the failing one is the next
            raise self._bad(reader.line_num + 1, _csv_problem(exc)) from None
        finally:
            csv.field_size_limit(previous)
        return rows

    def _read_json_lines(self, text: str) -> list[_Row]:
        rows: list[_Row] = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except (ValueError, RecursionError):
                raise self._bad(number, "not a JSON object") from None
            if not isinstance(item, dict):
                raise self._bad(number, "not a JSON object")
            rows.append(self._row(item, number))
        return rows

    def _row(self, item: dict[str, Any], line: int) -> _Row:
        def number(key: str) -> float | None:
            raw = item.get(key)
            if raw is None or raw == "":
                return None
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise self._bad(line, f"{key} is not a number")
            try:
                value = float(raw)
            except (TypeError, ValueError, OverflowError):
                raise self._bad(line, f"{key} {quote(raw)} is not a number") from None
            if math.isnan(value):
                return None
            return value

        at = parse_timestamp(item.get("time"))
        if at is None:
            raise self._bad(line, f"time {quote(item.get('time'))} is not an ISO 8601 timestamp")
        cohort, metric = item.get("cohort"), item.get("metric")
        if not isinstance(cohort, str | int | float | bool) or not isinstance(metric, str):
            raise self._bad(line, "cohort and metric are required (text)")
        if not cohort or not metric:
            raise self._bad(line, "cohort and metric are required")
        count = number("count")
        value = number("value")
        if count is None and value is None:
            raise self._bad(line, "give value, or count with sum and sum_sq")
        total, total_sq = number("sum"), number("sum_sq")
        if count is not None:
            problem = _summary_problem(count, total or 0.0, total_sq or 0.0)
            if problem is not None:
                raise self._bad(line, problem)
        return _Row(
            at=at,
            cohort=variation_label(cohort),
            metric=metric,
            value=value,
            count=int(count) if count is not None else None,
            total=total,
            total_sq=total_sq,
            labels=_labels(item),
        )

    def _bad(self, line: int, message: str) -> BackendError:
        return BackendError(NAME, f"{self.shown}:{line}: {message}")


def _labels(item: dict[Any, Any]) -> tuple[tuple[str, str], ...]:
    """A row's labels: its other columns with a text or integer value (empty ones left
    out: a CSV row without a region has none)."""
    return tuple(
        (key, value if isinstance(value, str) else str(value))
        for key, value in item.items()
        if isinstance(key, str)
        and key not in COLUMNS
        and isinstance(value, str | int)
        and not isinstance(value, bool)
        and value != ""
    )


def _summary_problem(count: float, total: float, total_sq: float) -> str | None:
    """Why count, sum and sum_sq cannot be the moments of real values (None: they can):
    a count that is not a whole number, a negative sum of squares, sums without values,
    or sum_sq below sum²/count (Cauchy-Schwarz)."""
    if not (0 <= count <= 1e15 and count == int(count)):
        return f"count {quote(count)} is not a whole number >= 0"
    if not (math.isfinite(total) and math.isfinite(total_sq)) or total_sq < 0:
        return "sum and sum_sq must be finite, sum_sq not negative"
    if count == 0 and (total or total_sq):
        return "sum and sum_sq of no values (count 0) must be 0"
    if count and total * total > count * total_sq * (1 + 1e-9) + 1e-9:
        return "sum_sq is smaller than sum²/count: not the moments of real values"
    return None


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field limit" in text:
        return f"a field longer than {MAX_FIELD:,} characters: not a metrics row"
    if "NUL" in text:
        return "a NUL byte: not a text CSV file"
    return f"not CSV ({text})"


def _increment(row: _Row) -> float:
    return row.value if row.value is not None else float(row.total or 0)


def _buckets(window: Window, step: timedelta) -> int:
    return max(1, math.ceil((window.end - window.start) / step))


def _bucket(at: datetime, window: Window, step: timedelta) -> int:
    return int((at - window.start) // step)
