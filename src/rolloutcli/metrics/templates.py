"""A plan's query templates, rendered for one cohort, flag and window.

Only the four placeholders are replaced: ``{cohort}``, ``{role}``, ``{flag}`` and
``{window}``. Every other brace is left as written, because both PromQL
(``rate(x{job="api"}[5m])``) and Datadog (``sum:x{env:prod}``) use braces themselves.
"""

from __future__ import annotations

import re
from datetime import timedelta

from .base import Cohort

PLACEHOLDER = re.compile(r"\{(cohort|role|flag|window)\}")


def render(template: str, *, cohort: Cohort, flag: str, window: str) -> str:
    values = {"cohort": cohort.label, "role": cohort.role, "flag": flag, "window": window}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def prometheus_duration(length: timedelta) -> str:
    """Prometheus's duration syntax, to the millisecond: ``1h30m``, ``59m59s500ms``.
    Larger units stop at days (``w`` and ``y`` would be exact too, but read worse)."""
    ms = round(length.total_seconds() * 1000)
    if ms <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)


def datadog_seconds(length: timedelta) -> str:
    """Datadog takes rollup intervals in whole seconds (``.rollup(sum, 3600)``); at least 1."""
    return str(max(1, round(length.total_seconds())))
