"""A guardrail's breakdown by segment (``segments:``): the label or column its numbers are
grouped by, the segments that must be present, the share of traffic below which a segment
is pooled into ``other``, and whether a breach in one segment acts (``act_on``).

Kept apart from the plan model so its rules are read in one place; the model only carries
the field and calls :func:`segment_problems`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from rolloutcli.plan.fields import Key, Percent, PlanModel
from rolloutcli.plan.yamlsource import KeyPath
from rolloutcli.support.quoting import quote

OTHER = "other"
"""The pooled segment: every segment under ``min_share`` of the traffic, and rows with no
value for the label."""
MAX_REQUIRED = 50
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED = frozenset({"time", "cohort", "metric", "value", "count", "sum", "sum_sq"})
"""Names the metrics file's rows already use for something else."""
SQL_COLUMNS = frozenset({"events", "trials"})
"""Columns the sql source's rows already use (a per-unit query's), besides RESERVED."""
SEGMENTED_SOURCES = ("file", "prometheus", "datadog", "sql")
"""The metrics sources that can group a guardrail's numbers (a ratio's counts, a mean's
values) by a label so far."""


class Segments(PlanModel):
    """Judge the guardrail in each segment (a region, a platform, a user group) as well as
    over everyone: a regression confined to one segment is diluted in the total."""

    by: Key = Field(
        description="The label (Prometheus), tag (Datadog) or column (metrics file, or a "
        "column the sql source's query returns) naming each row's segment, e.g. region. A "
        "plain name: letters, digits and _."
    )
    require: Annotated[list[Key], Field(max_length=MAX_REQUIRED)] = Field(
        default_factory=list,
        description="Segments that must be present: a missing one holds the rollout.",
    )
    min_share: Percent = Field(
        1.0,
        description="Segments with less than this share of the guardrail's trials (both "
        "cohorts) are pooled into one segment named other (default 1%).",
    )
    act_on: Literal["any", "total"] = Field(
        "any",
        description="any: a tier acts when the total or any segment breaches it; total: "
        "segments are shown, only the total acts.",
    )

    @property
    def min_fraction(self) -> float:
        return self.min_share / 100


def _reserved(by: str, source: str) -> bool:
    """Whether ``by`` names a column the source's rows already use (the sql source's
    drivers give column names in lower case)."""
    if source == "sql":
        return by.lower() in RESERVED | SQL_COLUMNS
    return by in RESERVED or by.startswith("__")


def label_problem(by: str, source: str) -> str | None:
    """Why ``by`` cannot name a segment label of ``source`` (None: it can)."""
    if not IDENTIFIER.fullmatch(by):
        return (
            f"{quote(by)} is not a plain label name (letters, digits and _, "
            "not starting with a digit)"
        )
    if _reserved(by, source):
        return f"{quote(by)} is reserved: name the segment's own label"
    return None


def segment_problems(
    segments: Segments, where: KeyPath, method: str, source: str
) -> list[tuple[KeyPath, str]]:
    """What is wrong with one guardrail's ``segments:`` (``where`` is its key path)."""
    here: KeyPath = (*where, "segments")
    out: list[tuple[KeyPath, str]] = []
    problem = label_problem(segments.by, source)
    if problem is not None:
        out.append(((*here, "by"), problem))
    if method != "sequential":
        out.append((here, "judging per segment needs statistics.method: sequential"))
    if source not in SEGMENTED_SOURCES:
        out.append(
            (
                here,
                f"the {source} source cannot group by segment yet "
                f"({', '.join(SEGMENTED_SOURCES[:-1])} and {SEGMENTED_SOURCES[-1]} can)",
            )
        )
    if segments.min_share >= 50:
        out.append(((*here, "min_share"), "min_share must be below 50%"))
    seen: set[str] = set()
    for j, name in enumerate(segments.require):
        if not name.strip():
            out.append(((*here, "require", j), "a required segment needs a name"))
        elif not name.isprintable():
            out.append(
                ((*here, "require", j), f"{quote(name)} is not printable text: name a segment")
            )
        elif name == OTHER:
            out.append(((*here, "require", j), "other is the pooled segment, not one to require"))
        elif name in seen:
            out.append(((*here, "require", j), f"{quote(name)} is listed twice"))
        seen.add(name)
    return out
