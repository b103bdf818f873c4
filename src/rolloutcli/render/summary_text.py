"""``rollout report --all`` as markdown (a pull request, ``$GITHUB_STEP_SUMMARY``) and as a
terminal table (rich): the totals, a row per guardrail, a row per plan."""

from __future__ import annotations

from dataclasses import astuple

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from rolloutcli.app.fleetreport import FleetReport
from rolloutcli.render.guardrails import UNBOUNDED
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


def summary_table(console: Console, report: FleetReport) -> RenderableType:
    """The terminal view: the totals, then a row per guardrail and per plan where the
    console is wide enough for the tables, else a block each (errors go to stderr)."""
    guardrails = Table(*GUARDRAIL_HEAD, title="guardrails: tiers fired, in looks")
    for row in guardrail_rows(report):
        cells = [escape(c) for c in astuple(row)[:-1]]
        guardrails.add_row(*cells, style="dim" if row.never else None)
    plans = Table(*PLAN_HEAD, title="plans")
    for plan in plan_rows(report):
        plans.add_row(*(escape(c) for c in astuple(plan)))
    lines = Text("\n".join(totals(report)))
    if all(_fits(console, table) for table in (guardrails, plans)):
        return Group(lines, guardrails, plans)
    return Group(lines, Text(""), summary_blocks(report))


def _fits(console: Console, table: Table) -> bool:
    natural = Measurement.get(console, console.options.update_width(UNBOUNDED), table)
    return natural.maximum <= console.width


def summary_blocks(report: FleetReport) -> Text:
    """For a narrow console: a block per guardrail, then per plan, each line whole::

    error_rate  fired in resumed, rolled-back
      3 plans, 82 looks · warn 4 · pause 3 · rollback 1
      paused 1 · rolled back 1, of which went on 0
    """
    out = Text()
    for row in guardrail_rows(report):
        out.append(row.name, style="bold dim" if row.never else "bold")
        out.append(f"  {'never fired' if row.never else 'fired in ' + row.fired_in}\n")
        out.append(
            f"  {row.plans} plan(s), {row.looks} looks · warn {row.warn} · pause {row.pause} · "
            f"rollback {row.rollback}\n  paused {row.paused} · rolled back {row.rolled_back}, "
            f"of which went on {row.recovered}\n"
        )
    for plan in plan_rows(report):
        out.append(plan.plan, style="bold")
        out.append(f"  {plan.verdict}\n  stages: {plan.stages}\n")
        out.append(f"  pauses {plan.pauses} · rollbacks: {plan.rollbacks}\n")
        out.append(f"  holds: {plan.holds}\n")
    out.rstrip()
    return out


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(str(c)) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
