"""Per-interval moments of a cohort's values: the data the mean tests read (numpy only, so
that reading observations does not import the statistics)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _as_array(values: ArrayLike) -> Array:
    return np.asarray(values, dtype=np.float64).reshape(-1)


@dataclass(frozen=True)
class MomentSeries:
    """Per-interval moments of one cohort's values: count, sum, sum of squares (NaN = missing)."""

    n: Array
    total: Array
    total_sq: Array

    @staticmethod
    def of(n: ArrayLike, total: ArrayLike, total_sq: ArrayLike) -> MomentSeries:
        return MomentSeries(_as_array(n), _as_array(total), _as_array(total_sq))

    def pooled_variance(self) -> float | None:
        """Within-interval variance pooled over intervals (None with fewer than 2 values)."""
        ok = np.isfinite(self.n) & (self.n >= 2)
        n = self.n[ok]
        dof = float(np.sum(n - 1))
        if dof < 1:
            ok_any = np.isfinite(self.n) & (self.n >= 1)
            n_all = float(np.sum(self.n[ok_any]))
            if n_all < 2:
                return None
            s = float(np.sum(self.total[ok_any]))
            ss = float(np.sum(self.total_sq[ok_any]))
            return max((ss - s * s / n_all) / (n_all - 1), 0.0)
        dev = self.total_sq[ok] - self.total[ok] ** 2 / n
        return max(float(np.sum(dev)) / dof, 0.0)


@dataclass(frozen=True)
class UnitMoments:
    """Per-interval sums over the randomisation units (users) of a ratio's per-unit events
    ``e`` and trials ``t``: units, Σe, Σt, Σe², Σt² and Σe·t (NaN = missing). What the
    delta method needs for the variance of the ratio of sums Σe/Σt when a unit's requests
    are not independent of each other."""

    n: Array
    events: Array
    trials: Array
    events_sq: Array
    trials_sq: Array
    cross: Array

    @staticmethod
    def of(
        n: ArrayLike,
        events: ArrayLike,
        trials: ArrayLike,
        events_sq: ArrayLike,
        trials_sq: ArrayLike,
        cross: ArrayLike,
    ) -> UnitMoments:
        return UnitMoments(
            *(_as_array(a) for a in (n, events, trials, events_sq, trials_sq, cross))
        )

    def arrays(self) -> tuple[Array, Array, Array, Array, Array, Array]:
        return (self.n, self.events, self.trials, self.events_sq, self.trials_sq, self.cross)

    def total(self) -> UnitMoments:
        """The sums over every interval that has data, as one interval."""
        ok = np.isfinite(self.n)
        return UnitMoments.of(*([float(np.sum(a[ok]))] for a in self.arrays()))

    def head(self, length: int) -> UnitMoments:
        """The first ``length`` intervals."""
        return UnitMoments(*(a[:length] for a in self.arrays()))
