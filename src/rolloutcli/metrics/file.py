"""The embedded metrics source: a local CSV or JSON-lines file of timestamped observations.

Each row is one observation of one metric for one cohort:

``time`` (ISO 8601), ``cohort`` (``treatment``/``control`` or the variation served, e.g.
``v2.4``), ``metric`` (the name a plan refers to), and either

* ``value`` alone — a counter increment (``requests``, ``errors``) or, for a value metric,
  one raw sample (a latency, a score); or
* ``count``, ``sum`` and ``sum_sq`` — a pre-aggregated summary of ``count`` values.

Files ending in ``.csv`` are read as CSV with a header row; anything else as JSON lines.
The source sums what falls in the window since the stage began.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import stats
from ..durations import format_duration
from ..errors import BackendError
from ..observations import MeanData
from ..sequential import Array, MomentSeries
from ..timeutil import format_timestamp, parse_timestamp
from .base import Cohort, Need, ResolvedQuery, Verb, Window, variation_label

if TYPE_CHECKING:
    from ..plan import LoadedPlan
    from .pool import QueryPool

NAME = "metrics file"


@dataclass(frozen=True)
class _Row:
    at: datetime
    cohort: str
    metric: str
    value: float | None
    count: int | None
    total: float | None
    total_sq: float | None


def open_file_source(loaded: LoadedPlan) -> FileMetricsSource:
    spec = loaded.plan.metrics.source
    assert spec.path is not None  # guaranteed by plan validation
    return FileMetricsSource(loaded.resolve(spec.path))


class FileMetricsSource:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: list[_Row] | None = None

    def describe(self, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter") -> str:
        return (
            f"{self.path.name}: metric={metric} cohort in ({cohort.role}, "
            f"{variation_label(cohort.variation)}) time in "
            f"[{format_timestamp(window.start)}, {format_timestamp(window.end)})"
        )

    def resolve(self, need: Need) -> list[ResolvedQuery]:
        text = self.describe(need.metric, need.cohort, need.window)
        params = {"step": format_duration(need.step)} if need.step is not None else {}
        return [ResolvedQuery(NAME, text, params)]

    async def prefetch(self, needs: list[Need], pool: QueryPool) -> None:
        """Nothing to fetch ahead: the file is read once, on first use."""

    def counter(self, metric: str, cohort: Cohort, window: Window) -> float | None:
        rows = self._select(metric, cohort, window)
        if not rows:
            return None
        return sum(r.value if r.value is not None else float(r.total or 0) for r in rows)

    def values(self, metric: str, cohort: Cohort, window: Window) -> MeanData | None:
        rows = self._select(metric, cohort, window)
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
        rows = self._select(metric, cohort, window)
        if not rows:
            return None
        out = np.full(_buckets(window, step), np.nan)
        for r in rows:
            i = _bucket(r.at, window, step)
            add = r.value if r.value is not None else float(r.total or 0)
            out[i] = add if math.isnan(out[i]) else out[i] + add
        return out

    def moment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        rows = self._select(metric, cohort, window)
        if not rows:
            return None
        size = _buckets(window, step)
        n, total, total_sq = (np.full(size, np.nan) for _ in range(3))
        for r in rows:
            if r.count is not None:
                if log:
                    raise BackendError(
                        NAME,
                        f"{self.path}: metric {metric} has pre-aggregated rows (count, sum, "
                        "sum_sq) but its guardrail has scale: log",
                        hint="give raw samples (value) so they can be logged, or use scale: linear",
                    )
                parts = (float(r.count), r.total or 0.0, r.total_sq or 0.0)
            else:
                assert r.value is not None
                if log and r.value <= 0:
                    raise BackendError(
                        NAME,
                        f"{self.path}: metric {metric} has a value {r.value:g} <= 0, "
                        "which scale: log cannot take",
                    )
                x = math.log(r.value) if log else r.value
                parts = (1.0, x, x * x)
            i = _bucket(r.at, window, step)
            for array, add in zip((n, total, total_sq), parts, strict=True):
                array[i] = add if math.isnan(array[i]) else array[i] + add
        return MomentSeries(n, total, total_sq)

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
        try:
            handle = self.path.open(encoding="utf-8", newline="")
        except FileNotFoundError:
            raise BackendError(
                NAME, f"{self.path} not found", hint="check metrics.source.path in the plan"
            ) from None
        except OSError as exc:
            raise BackendError(NAME, f"cannot read {self.path}: {exc.strerror}") from None
        rows: list[_Row] = []
        with handle:
            if self.path.suffix.lower() == ".csv":
                reader = csv.DictReader(handle)
                for item in reader:
                    rows.append(self._row(item, reader.line_num))
            else:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                    except ValueError:
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
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise self._bad(line, f"{key} {raw!r} is not a number") from None
            if math.isnan(value):
                return None
            return value

        at = parse_timestamp(item.get("time"))
        if at is None:
            raise self._bad(line, f"time {item.get('time')!r} is not an ISO 8601 timestamp")
        cohort, metric = item.get("cohort"), item.get("metric")
        if not cohort or not metric:
            raise self._bad(line, "cohort and metric are required")
        count = number("count")
        value = number("value")
        if count is None and value is None:
            raise self._bad(line, "give value, or count with sum and sum_sq")
        return _Row(
            at=at,
            cohort=str(cohort),
            metric=str(metric),
            value=value,
            count=int(count) if count is not None else None,
            total=number("sum"),
            total_sq=number("sum_sq"),
        )

    def _bad(self, line: int, message: str) -> BackendError:
        return BackendError(NAME, f"{self.path}:{line}: {message}")


def _buckets(window: Window, step: timedelta) -> int:
    return max(1, math.ceil((window.end - window.start) / step))


def _bucket(at: datetime, window: Window, step: timedelta) -> int:
    return int((at - window.start) // step)
