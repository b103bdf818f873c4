"""Metric observations per cohort, as the verdict engine consumes them (pure data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RatioData:
    """events / trials for one cohort (errors / requests)."""

    events: float
    trials: float

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
class Observation:
    """One guardrail's data for the window: treatment and control, or why it is missing."""

    name: str
    treatment: CohortData | None
    control: CohortData | None
    query: str = ""
    problem: str | None = None


@dataclass(frozen=True)
class Exposures:
    """Units assigned to each cohort in the window (for sample sizes and the SRM check)."""

    treatment: float
    control: float
    metric: str
