"""The verbs every metrics backend offers. Backends fetch numbers; they never decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from ..observations import MeanData
from ..sequential import Array, MomentSeries


@dataclass(frozen=True)
class Cohort:
    """Which cohort to query: its role, and the flag variation it is served."""

    role: Literal["treatment", "control"]
    variation: object


@dataclass(frozen=True)
class Window:
    """The half-open interval [start, end) since the current stage began."""

    start: datetime
    end: datetime


class MetricsSource(Protocol):
    name: str

    def describe(self, metric: str, cohort: Cohort, window: Window) -> str:
        """The concrete query for ``metric`` (shown to users), without running it."""
        ...

    def counter(self, metric: str, cohort: Cohort, window: Window) -> float | None:
        """Total of a counter over the window; None when the backend has no data for it."""
        ...

    def values(self, metric: str, cohort: Cohort, window: Window) -> MeanData | None:
        """Values of a metric over the window (summary, plus raw samples when available)."""
        ...

    def counter_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> Array | None:
        """A counter's total per interval of ``step`` from the window's start (NaN where the
        backend has no data: missing, not zero); None when it has none at all."""
        ...

    def moment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        """Count, sum and sum of squares of the values per interval (of ln(value) when
        ``log``); NaN where missing; None when there is no data at all."""
        ...
