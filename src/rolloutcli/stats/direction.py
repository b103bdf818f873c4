"""Which way a metric gets worse: the one fact about a metric the statistics need."""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"
