"""The text of a CloudWatch metrics query, as a plan writes it, parsed into its parts.

One metric stat is one line: ``Namespace MetricName Stat Dimension=Value ...`` (words as a
shell splits them, so a value with spaces is quoted: ``"Route=/a b"``). Metric math names
its metrics, one per line as ``id = Namespace MetricName Stat ...``, and ends with the one
expression whose values are read (``errors4 + errors5``); a line starting with ``=`` is an
expression on its own (``=SEARCH('...', 'Sum', {window})``). Lines may also be separated by
``;``. Ids start with a lower-case letter, as CloudWatch requires.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

RESULT_ID = "result"
"""The id of the query whose values are read; the plan's own ids cannot take it."""

NAMED = re.compile(r"^([a-z][A-Za-z0-9_]*)\s*=(?!=)\s*(.*)$")
STAT = re.compile(
    r"^(Sum|Average|Minimum|Maximum|SampleCount|IQM|"
    r"(p|tm|wm|tc|ts|PR|TM|WM|TC|TS)\(?[0-9.:%]*\)?)$"
)


@dataclass(frozen=True)
class MetricStat:
    """One metric, its statistic and its dimensions (in the order written)."""

    namespace: str
    name: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CloudWatchQuery:
    """Named metrics (not returned) and what is returned: a metric stat or an expression."""

    named: tuple[tuple[str, MetricStat], ...]
    returned: MetricStat | str


def lines(text: str) -> list[str]:
    """The query's lines, blank ones dropped."""
    return [line.strip() for line in re.split(r"[\n;]", text) if line.strip()]


def one_line(text: str) -> str:
    """The query as one line (for messages and --explain): its lines joined by ``; ``."""
    return "; ".join(lines(text))


def parse_query(text: str) -> CloudWatchQuery:
    """The parts of a query; ValueError naming what is wrong."""
    named: list[tuple[str, MetricStat]] = []
    rest: list[str] = []
    for line in lines(text):
        match = NAMED.match(line)
        if match and not line.startswith("="):
            ident = match.group(1)
            if ident == RESULT_ID:
                raise ValueError(f"the id {RESULT_ID!r} is taken: name the metric otherwise")
            if ident in dict(named):
                raise ValueError(f"the id {ident!r} is named twice")
            named.append((ident, parse_stat(match.group(2))))
        else:
            rest.append(line)
    if len(rest) != 1:
        raise ValueError(
            "a CloudWatch query is one metric (Namespace MetricName Stat Dimension=Value ...) "
            "or named metrics (id = Namespace MetricName Stat ...) and one expression over "
            f"them; this one has {len(rest)} unnamed lines"
        )
    line = rest[0]
    if line.startswith("="):
        expression = line[1:].strip()
        if not expression:
            raise ValueError("an expression line '=' with nothing after it")
        return CloudWatchQuery(tuple(named), expression)
    if named:
        return CloudWatchQuery(tuple(named), line)
    return CloudWatchQuery((), parse_stat(line))


def parse_stat(text: str) -> MetricStat:
    """``Namespace MetricName Stat Dimension=Value ...``."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot read {text!r}: {exc}") from None
    if len(words) < 3:
        raise ValueError(
            f"{text!r}: a metric is Namespace MetricName Stat Dimension=Value ... "
            "(e.g. Checkout Errors Sum Variant={cohort})"
        )
    namespace, name, stat, *dims = words
    if not STAT.match(stat):
        raise ValueError(
            f"{stat!r} is not a CloudWatch statistic (Sum, Average, Minimum, Maximum, "
            "SampleCount, p99, tm90 ...)"
        )
    dimensions: list[tuple[str, str]] = []
    for dim in dims:
        key, sep, value = dim.partition("=")
        if not sep or not key:
            raise ValueError(f"{dim!r}: a dimension is Name=Value")
        dimensions.append((key, value))
    return MetricStat(namespace, name, stat, tuple(dimensions))


def query_problem(text: str) -> str | None:
    """What is wrong with a query template (its placeholders unrendered), or None."""
    try:
        parse_query(text)
    except ValueError as exc:
        return str(exc)
    return None
