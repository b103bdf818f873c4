"""``rollout report --all`` as markdown (a pull request, ``$GITHUB_STEP_SUMMARY``) and as a
terminal table (rich): the totals, a row per guardrail, a row per plan."""

from __future__ import annotations

from dataclasses import astuple

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rolloutcli.app.fleetreport import FleetReport
from rolloutcli.render.summaryview import (
    GUARDRAIL_HEAD,
    PLAN_HEAD,
    failures,
    guardrail_rows,
    plan_rows,
    totals,
)


def summary_markdown(report: FleetReport) -> str:
    count = len(report.summary.plans)
    lines = [f"## Rollouts report: {count} plan{'s' if count != 1 else ''}", ""]
    lines += [f"- {_cell(line)}" for line in totals(report)]
    lines += ["", "### Guardrails: how often each tier fired (in looks)", ""]
    lines += _table(GUARDRAIL_HEAD, [astuple(r)[:-1] for r in guardrail_rows(report)])
    lines += ["", "### Plans", ""]
    lines += _table(PLAN_HEAD, [astuple(r) for r in plan_rows(report)])
    if report.failed:
        lines += ["", "### Not reported", ""]
        lines += [f"- {_cell(line)}" for line in failures(report)]
    return "\n".join(lines) + "\n"


def summary_table(report: FleetReport) -> RenderableType:
    """The terminal view: the totals, then the two tables (errors go to stderr)."""
    guardrails = Table(*GUARDRAIL_HEAD, title="guardrails: tiers fired, in looks")
    for row in guardrail_rows(report):
        cells = [escape(c) for c in astuple(row)[:-1]]
        guardrails.add_row(*cells, style="dim" if row.never else None)
    plans = Table(*PLAN_HEAD, title="plans")
    for plan in plan_rows(report):
        plans.add_row(*(escape(c) for c in astuple(plan)))
    lines = Text("\n".join(totals(report)))
    return Group(lines, guardrails, plans)


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(str(c)) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
