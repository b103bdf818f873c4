"""Durations as plans write them (`30m`, `3d`, `1h30m`) and as people read them."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from rolloutcli.support.quoting import quote

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")

MAX_DURATION = timedelta(days=3650)
"""The longest duration accepted anywhere (ten years): a stage window, an interval, a
lookback. Beyond it a number is a typo, and Python's timedelta would overflow."""
MAX_DURATION_TEXT = "3650d"
_MAX_CHARS = 40  # `1w 2d 3h 4m 5s` is 14; a longer text is not a duration


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `30m`, `1h30m`, `3d`, `2w`; `0` means no minimum. Raises ValueError,
    also for a duration longer than :data:`MAX_DURATION`."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned == "0":
        return timedelta(0)
    if len(cleaned) > _MAX_CHARS or not _WHOLE.match(cleaned):
        raise ValueError(
            f"bad duration {quote(text)}: use a number and a unit s, m, h, d or w, "
            "e.g. 30m, 1h30m, 3d"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if not math.isfinite(seconds) or seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"duration {quote(text)} is longer than the maximum of {MAX_DURATION_TEXT} (ten years)"
        )
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Compact human form: `2d 3h`, `1h 5m`, `4m 10s`, `0s`; the two largest units."""
    total = round(delta.total_seconds())
    if total <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])
