"""``rollout report --all`` as one self-contained HTML page: the report page's inline CSS,
tables, and per guardrail a bar of the share of looks at each tier drawn in CSS (no script,
font or image; nothing fetched, so it opens offline). Every value is escaped.
"""

from __future__ import annotations

from dataclasses import astuple
from html import escape

from rolloutcli.app.fleetreport import FleetReport
from rolloutcli.judge.summary import GuardrailTally
from rolloutcli.render.charts import TIER_COLORS
from rolloutcli.render.report_html import STYLE
from rolloutcli.render.summaryview import (
    GUARDRAIL_HEAD,
    PLAN_HEAD,
    failures,
    guardrail_row,
    plan_rows,
    span,
    totals,
)

SUMMARY_STYLE = """
.bar{display:flex;width:160px;height:12px;background:#e9ecef;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%}
tr.never td{color:#868e96}
"""


def summary_html(report: FleetReport) -> str:
    """The whole page."""
    count = len(report.summary.plans)
    title = f"Rollouts report: {count} plan{'s' if count != 1 else ''}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}{SUMMARY_STYLE}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">from {escape(span(report))}</p>',
        '<section class="card"><ul id="totals">'
        + "".join(f"<li>{escape(line)}</li>" for line in totals(report))
        + "</ul></section>",
        _guardrails(report),
        _plans(report),
        _failed(report),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _guardrails(report: FleetReport) -> str:
    head = "".join(f"<th>{h}</th>" for h in (*GUARDRAIL_HEAD, "share of looks"))
    rows = []
    for tally in report.summary.guardrails:
        row = guardrail_row(tally)
        cells = "".join(f"<td>{escape(c)}</td>" for c in astuple(row)[:-1])
        never = ' class="never"' if row.never else ""
        rows.append(
            f'<tr{never} data-guardrail="{escape(tally.name)}">{cells}<td>{_bar(tally)}</td></tr>'
        )
    return (
        "<h2>Guardrails: how often each tier fired</h2>"
        '<section class="card"><table id="guardrails">'
        f"<tr>{head}</tr>{''.join(rows)}</table>"
        '<p class="muted">Tiers are counted in looks: each rollout judged at evenly spaced '
        "moments and just before each decision, as check --at judges them. Paused and "
        "rolled back: the decisions whose recorded verdict names the guardrail; went on: "
        "those rollbacks a restart then advanced past. A tier that fires in rollouts that "
        "go on may cry wolf; one that never fires may be set too loose.</p></section>"
    )


def _bar(tally: GuardrailTally) -> str:
    """The share of looks at each tier, as one stacked bar (a title gives the numbers)."""
    spans = []
    for tier, count in tally.tiers:
        share = 100.0 * count / tally.looks if tally.looks else 0.0
        spans.append(
            f'<span class="tier {tier}" style="width:{share:.1f}%;'
            f'background:{TIER_COLORS[tier]}" title="{tier}: {count} of {tally.looks} looks">'
            "</span>"
        )
    return f'<div class="bar">{"".join(spans)}</div>'


def _plans(report: FleetReport) -> str:
    head = "".join(f"<th>{h}</th>" for h in PLAN_HEAD)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in astuple(row)) + "</tr>"
        for row in plan_rows(report)
    )
    return (
        "<h2>Plans: stages against their windows, pauses, rollbacks, holds</h2><section "
        f'class="card"><table id="plans"><tr>{head}</tr>{rows}</table></section>'
    )


def _failed(report: FleetReport) -> str:
    lines = failures(report)
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<h2>Not reported</h2><section class="card"><ul id="failed">{items}</ul></section>'
