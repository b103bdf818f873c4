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


OUTER_SUM = re.compile(r"\s*sum\s*(?:by\s*\(([^()]*)\)\s*)?\(")
TRAILING_BY = re.compile(r"\s*by\s*\(([^()]*)\)\s*")
ZERO_FALLBACK = re.compile(r"\s+or\s+vector\s*\(\s*0(?:\.0*)?\s*\)\s*$")
"""``or vector(0)`` at the end: a counter's zero before its first increment."""


def prometheus_grouped(query: str, by: str) -> str:
    """A rendered PromQL query aggregated by the label ``by`` as well (the cohort's own
    matchers stay as written): ``sum(increase(x[1h]))`` becomes
    ``sum by (region) (increase(x[1h]))``, an existing ``sum by (a)`` gains the label, and
    any other query is wrapped: ``sum by (region) (query)``, which keeps the label only if
    the query does. A trailing ``or vector(0)`` is dropped: its label-less zero would be
    a segment of its own, and a segment without events where it has trials counts 0
    anyway."""
    text = ZERO_FALLBACK.sub("", query.strip())
    found = OUTER_SUM.match(text)
    if found is not None:
        close = _closing(text, found.end() - 1)
        if close is not None:
            inner = text[found.end() : close]
            rest = text[close + 1 :]
            labels = found.group(1)
            trailing = TRAILING_BY.fullmatch(rest) if rest.strip() else None
            if not rest.strip() or trailing is not None:
                named = labels if labels is not None else (trailing.group(1) if trailing else "")
                return f"sum by ({_with_label(named, by)}) ({inner})"
    return f"sum by ({by}) ({text})"


def _with_label(labels: str, by: str) -> str:
    names = [name.strip() for name in labels.split(",") if name.strip()]
    return ", ".join(names if by in names else [*names, by])


AGGREGATION = re.compile(
    r"\b(sum|avg|min|max|count|group|stddev|stdvar)\s*(?:by\s*\(([^()]*)\)\s*)?\("
)


TRAILING_WITHOUT = re.compile(r"\s*without\s*\(")


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Where the quoted strings (label values) are: no aggregation is read inside one."""
    spans: list[tuple[int, int]] = []
    quote_char: str | None = None
    start = i = 0
    while i < len(text):
        char = text[i]
        if quote_char is not None:
            if char == "\\":
                i += 1
            elif char == quote_char:
                spans.append((start, i))
                quote_char = None
        elif char in "\"'`":
            quote_char, start = char, i
        i += 1
    return spans


def prometheus_grouped_values(query: str, by: str) -> str:
    """A rendered PromQL query of values (a mean guardrail's) that keeps the label ``by``
    through every aggregation in it, so each segment comes back as its own series:
    ``1000 * histogram_quantile(0.99, sum by (le) (rate(x[5m])))`` becomes
    ``... sum by (le, region) (...)``; ``sum(a) / sum(b)`` becomes ``sum by (region) (a) /
    sum by (region) (b)`` (the division matches on the label); ``avg(x) by (job)`` gains it
    in its ``by``; ``without (...)`` keeps it already. A query without an aggregation is
    wrapped in ``avg by (region) (...)``."""
    text = query.strip()
    quoted = _quoted_spans(text)
    edits: list[tuple[int, int, str]] = []
    for found in AGGREGATION.finditer(text):
        if any(a <= found.start() <= b for a, b in quoted):
            continue
        operator, labels = found.group(1), found.group(2)
        close = _closing(text, found.end() - 1)
        if labels is not None:
            edits.append(
                (found.start(), found.end(), f"{operator} by ({_with_label(labels, by)}) (")
            )
            continue
        rest = text[close + 1 :] if close is not None else ""
        if TRAILING_WITHOUT.match(rest):
            continue  # without (...) keeps every other label
        trailing = TRAILING_BY.match(text, close + 1) if close is not None else None
        if trailing is not None:
            named = _with_label(trailing.group(1), by)
            gap = " " if trailing.end() < len(text) else ""
            edits.append((trailing.start(), trailing.end(), gap))
            edits.append((found.start(), found.end(), f"{operator} by ({named}) ("))
        else:
            edits.append((found.start(), found.end(), f"{operator} by ({by}) ("))
    if not edits:
        return f"avg by ({by}) ({text})"
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _closing(text: str, opening: int) -> int | None:
    """Where the parenthesis at ``opening`` closes, skipping quoted strings; None if never."""
    depth = 0
    quote_char: str | None = None
    i = opening
    while i < len(text):
        char = text[i]
        if quote_char is not None:
            if char == "\\":
                i += 1
            elif char == quote_char:
                quote_char = None
        elif char in "\"'`":
            quote_char = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


DATADOG_SCOPE = re.compile(r"([A-Za-z][A-Za-z0-9_.]*\{[^{}]*\})(\s*by\s*\{([^{}]*)\})?")


def datadog_grouped(query: str, by: str) -> str:
    """A rendered Datadog query grouped by the tag ``by`` as well: every
    ``metric{scope}`` gains `` by {region}``, or the tag is added to its ``by {...}``:
    ``sum:x{flag:f}.as_count()`` becomes ``sum:x{flag:f} by {region}.as_count()``."""

    def group(found: re.Match[str]) -> str:
        names = [n.strip() for n in (found.group(3) or "").split(",") if n.strip()]
        return f"{found.group(1)} by {{{','.join(names if by in names else [*names, by])}}}"

    return DATADOG_SCOPE.sub(group, query.strip())
