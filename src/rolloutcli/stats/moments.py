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
