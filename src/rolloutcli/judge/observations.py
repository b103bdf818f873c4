"""Metric observations per cohort, as the verdict engine consumes them (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rolloutcli.judge.dataquality import Coverage
from rolloutcli.stats.moments import Array, MomentSeries, UnitMoments


@dataclass(frozen=True)
class RatioData:
    """events / trials for one cohort (errors / requests)."""

    events: float
    trials: float
    units: UnitMoments | None = None
    """The per-unit sums behind the counts (a per-unit ratio guardrail), for the delta
    method; None when the source counted requests only."""

    @property
    def value(self) -> float | None:
        return self.events / self.trials if self.trials > 0 else None

    @property
    def size(self) -> float:
        return self.trials


@dataclass(frozen=True)
class MeanData:
    """Values for one cohort: summary statistics, and the raw samples when the source has them."""

    n: int
    mean: float
    sd: float
    samples: tuple[float, ...] | None = None

    @property
    def value(self) -> float | None:
        return self.mean if self.n > 0 else None

    @property
    def size(self) -> float:
        return float(self.n)


CohortData = RatioData | MeanData


@dataclass(frozen=True)
class RatioSeries:
    """Per-interval events and trials of both cohorts over the evidence window (NaN = no
    data for that interval: missing, not zero)."""

    treatment_events: Array
    treatment_trials: Array
    control_events: Array
    control_trials: Array
    treatment_units: UnitMoments | None = None
    control_units: UnitMoments | None = None
    """Per-interval per-unit sums (a per-unit ratio guardrail): the tests then compare the
    ratios of sums with the delta method's variance (:mod:`rolloutcli.stats.unitratio`)."""


@dataclass(frozen=True)
class MeanSeries:
    """Per-interval moments of both cohorts' values over the evidence window."""

    treatment: MomentSeries
    control: MomentSeries


Series = RatioSeries | MeanSeries


@dataclass(frozen=True)
class SegmentData:
    """One segment of a guardrail (``segments: {by: region}``): its stage totals and its
    per-interval series over the evidence window, both cohorts."""

    name: str
    treatment: CohortData | None
    control: CohortData | None
    series: Series
    """A ratio's events and trials, or a mean's moments, per interval."""
    first: int = 0
    """The index in ``series`` of the current stage's first interval (the series may
    start with the rollout's earlier stages)."""
    log: bool = False
    """A mean on ``scale: log``: the moments are of ln values, the stage values geometric."""

    @property
    def trials(self) -> float:
        """Both cohorts' trials (a mean: values) over the stage: the segment's share of
        the traffic."""
        return sum(c.size for c in (self.treatment, self.control) if c is not None)


@dataclass(frozen=True)
class SeriesCoverage:
    """How complete one cohort's series of one metric is over the stage (see
    :mod:`rolloutcli.judge.dataquality`), with the query that gave it, to name in a hold."""

    metric: str
    role: str
    coverage: Coverage
    query: str = ""


@dataclass(frozen=True)
class Observation:
    """One guardrail's data for the window: treatment and control, or why it is missing."""

    name: str
    treatment: CohortData | None
    control: CohortData | None
    query: str = ""
    problem: str | None = None
    series: Series | None = None
    """Per-interval data since the evidence began (the rollout's start, or the stage's),
    for sequential tests. None when the source gave none (the fixed method needs none)."""
    untrustworthy: bool = False
    """The ``problem`` is data that cannot be true (not merely absent): it holds as such."""
    coverage: tuple[SeriesCoverage, ...] = ()
    """Per cohort, how complete the series behind ``series`` is over the stage."""
    segments: tuple[SegmentData, ...] | None = None
    """Per segment, as the source grouped them (not pooled yet); None when the guardrail
    has no ``segments:`` or its series were not read."""


@dataclass(frozen=True)
class Exposures:
    """Units assigned to each cohort in the window (for sample sizes and the SRM check)."""

    treatment: float
    control: float
    metric: str
    treatment_series: Array = field(default_factory=lambda: np.zeros(0))
    control_series: Array = field(default_factory=lambda: np.zeros(0))
    """Per-interval exposures in the current stage (NaN = missing), for the sequential
    sample-ratio check; empty when the source gave none."""
    coverage: tuple[SeriesCoverage, ...] = ()
    """Per cohort, how complete the exposure series is over the stage."""
