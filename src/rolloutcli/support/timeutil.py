"""Timestamps in and out: ISO 8601, UTC, `Z` suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 string → aware datetime in UTC (naive means UTC); anything else, and a
    time that UTC cannot hold (year 1 at +14:00), → None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def format_timestamp(when: datetime) -> str:
    """``2026-11-02T10:00:00Z`` (seconds precision, UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
