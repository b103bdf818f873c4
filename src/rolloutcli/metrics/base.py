"""The verbs every metrics backend offers. Backends fetch numbers; they never decide.

A check first lists what it needs (:class:`Need`: a verb, a metric, a cohort, a window),
lets the source fetch all of it at once (:meth:`MetricsSource.prefetch`, concurrently over
a shared :class:`~rolloutcli.metrics.pool.QueryPool`), then reads the answers through the
synchronous verbs. ``resolve`` shows the concrete queries without running them.

No data is ``None`` (the verdict holds and names the metric); a query that cannot give
numbers (rejected, ambiguous, malformed, backend unreachable) raises :class:`QueryFailure`
(exit 3); numbers that cannot be true (a negative count, infinity, 1e308) raise
:class:`DataProblem`, which holds the rollout and names what to look at. Every backend applies
the same rules (:mod:`rolloutcli.judge.dataquality`) at the same place: the verbs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from rolloutcli.judge.dataquality import Coverage
from rolloutcli.judge.observations import MeanData
from rolloutcli.stats.moments import Array, MomentSeries, UnitMoments
from rolloutcli.support.errors import BackendError

if TYPE_CHECKING:
    from .pool import QueryPool


@dataclass(frozen=True)
class Cohort:
    """Which cohort to query: its role, and the flag variation it is served."""

    role: Literal["treatment", "control"]
    variation: object

    @property
    def label(self) -> str:
        """The variation as metrics label it: ``true``/``false`` for booleans, else text."""
        return variation_label(self.variation)


def variation_label(variation: object) -> str:
    if isinstance(variation, bool):
        return "true" if variation else "false"
    return str(variation)


@dataclass(frozen=True)
class Window:
    """The half-open interval [start, end) since the current stage began."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


Verb = Literal[
    "counter",
    "values",
    "counter_series",
    "moment_series",
    "unit_series",
    "segment_series",
    "segment_moments",
]


@dataclass(frozen=True)
class Need:
    """One call a check makes on a source: ``verb(metric, cohort, window[, step])``."""

    verb: Verb
    metric: str
    cohort: Cohort
    window: Window
    step: timedelta | None = None
    log: bool = False
    by: str | None = None
    """For ``segment_series`` and ``segment_moments``: the label (or column) the metric is
    grouped by."""


@dataclass(frozen=True)
class ResolvedQuery:
    """A concrete query as it would be sent, for ``check --explain``."""

    backend: str
    text: str
    params: dict[str, str] = field(default_factory=dict)


FailureKind = Literal[
    "rejected", "ambiguous", "malformed", "unreachable", "unauthorized", "rate_limited"
]


class QueryFailure(BackendError):
    """A query that gave no usable answer, for a reason other than "no data yet": the
    backend rejected it, it returned several series where one was expected, or the backend
    could not be reached. Always exit 3: the verdict is not computed on partial numbers."""

    def __init__(
        self, backend: str, kind: FailureKind, message: str, hint: str | None = None
    ) -> None:
        self.kind = kind
        self.detail = message
        super().__init__(backend, message, hint)


class DataProblem(BackendError):
    """Numbers a backend returned that cannot be true: a negative count, an infinite or
    absurdly large value. The message names the metric, the cohort and the query; the
    verdict holds on it (it is never read as zero or skipped)."""

    def __init__(self, backend: str, message: str) -> None:
        self.detail = message
        super().__init__(backend, message)


class MetricsSource(Protocol):
    name: str

    def describe(self, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter") -> str:
        """The concrete query ``verb`` runs for ``metric`` (shown to users), not run."""
        ...

    def resolve(self, need: Need) -> list[ResolvedQuery]:
        """Every query ``need`` takes, as it would be sent, without running anything."""
        ...

    async def prefetch(self, needs: list[Need], pool: QueryPool) -> None:
        """Fetch everything ``needs`` asks for, concurrently; the verbs then answer from
        what was fetched. Failures are kept and raised by the verb that reads them."""
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

    def coverage(self, need: Need, window: Window) -> Coverage | None:
        """How complete the series fetched for ``need`` (a ``counter_series`` or
        ``moment_series``) is over ``window``, a part of the need's own window: delivery
        steps expected, steps with a point, steps silent at the end. None when the backend
        cannot tell (no series was fetched, or the cohort has no data at all)."""
        ...


@runtime_checkable
class UnitSource(Protocol):
    """A source that can return one row per randomisation unit (the sql source): what a
    per-unit ratio guardrail reads."""

    def unit_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> UnitMoments | None:
        """Per interval of ``step`` (a unit counted in the interval of its ``time``): the
        units, and the sums of their events, trials, squares and cross products (NaN where
        no unit fell); None when the query returned no rows."""


@runtime_checkable
class SegmentedSource(Protocol):
    """A source that can also group a counter by a label (``segments: {by: region}``)."""

    def segment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str
    ) -> dict[str, Array] | None:
        """A counter's total per interval of ``step``, per value of the label ``by`` (NaN
        where a segment has no point: missing, not zero). ``{}`` when the metric has data
        but none of it carries the label; None when it has no data at all."""
        ...


@runtime_checkable
class SegmentedMomentSource(Protocol):
    """A source that can also group a value metric by a label (a mean guardrail's
    ``segments: {by: region}``)."""

    def segment_moments(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str, log: bool
    ) -> dict[str, MomentSeries] | None:
        """:meth:`MetricsSource.moment_series` per value of the label ``by``. ``{}`` when
        the metric has data but none of it carries the label; None when it has none."""
        ...


@runtime_checkable
class LabelledSource(Protocol):
    """A source whose rows name their own labels (the metrics file's extra columns): what
    ``plan suggest`` tries as segment breakdowns when none is given."""

    def label_names(self, metric: str) -> tuple[str, ...]:
        """The labels any row of ``metric`` carries, in the order first seen."""
        ...
