"""The guardrails of a verdict on a terminal: a table where it fits, else one block per
guardrail; under either, the notes and the legend of the evidence notation.

Whatever the width, every guardrail shows its values, change with bounds, thresholds,
evidence and status; nothing of those is cut short (a table that would need to cut gives
way to the blocks). Long notes keep their first part here; the query they quote is what
``rollout check --explain`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from rolloutcli.plan.fields import TIERS
from rolloutcli.plan.model import Plan
from rolloutcli.render.values import evidence_legend, evidence_text, value_text

if TYPE_CHECKING:  # types only: `status` renders without importing the statistics
    from rolloutcli.judge.findings import Finding
    from rolloutcli.judge.verdict import Verdict

STATUS_STYLE = {
    "ok": "green",
    "warn": "yellow",
    "pause": "dark_orange",
    "rollback": "bold red",
    "no_data": "dim",
    "bad_data": "yellow",
}

UNBOUNDED = 10_000
"""A width no table needs: measured against it, a table tells its natural width."""

DETAIL = " · "
"""Where a data problem's words end and the query it quotes begins (``metrics/``,
``app/evaluate.py``): ``requests (treatment) has no data in the window · <query>``."""


def without_query(sentence: str) -> str:
    """A data problem's words without the query it quotes (``check --explain`` prints it)."""
    return sentence.split(DETAIL, 1)[0]


def guardrails_view(console: Console, plan: Plan, verdict: Verdict) -> list[RenderableType]:
    """The table if it fits the console's width, else the blocks; then the notes no
    reason has quoted and the evidence legend, one line each."""
    table = guardrail_table(plan, verdict)
    natural = Measurement.get(console, console.options.update_width(UNBOUNDED), table)
    fits = natural.maximum <= console.width
    parts: list[RenderableType] = [table if fits else guardrail_blocks(plan, verdict)]
    said = {r.finding.name for r in verdict.reasons if r.finding is not None and r.finding.note}
    for f in verdict.findings:
        if f.note and f.name not in said:  # a reason's bullet quotes it already
            parts.append(Text(f"{f.name}: {without_query(f.note)}", style="dim"))
    for f in verdict.findings:
        parts.extend(segment_lines(f))
    cells = [evidence_text(f.p_value, f.e_value, f.test) for f in verdict.findings]
    legend = evidence_legend(cells)
    if legend is not None:
        parts.append(Text(legend, style="dim"))
    return parts


def status_text(f: Finding) -> Text:
    """``ok``, ``no data``, ``pause (+50%)``: the status and the threshold it reached."""
    status = Text(f.status.replace("_", " "), style=STATUS_STYLE.get(f.status, ""))
    if f.reached is not None:
        status.append(f" ({f.reached.raw})")
    return status


def guardrail_table(plan: Plan, verdict: Verdict) -> Table:
    """One row per guardrail, for a console wide enough (about 105 columns)."""
    table = Table(header_style="bold")
    table.add_column("metric", no_wrap=True)
    table.add_column("control", no_wrap=True)
    table.add_column("treatment", no_wrap=True)
    table.add_column(Text("change [bounds]"), justify="right", no_wrap=True)
    table.add_column("warn / pause / rollback", no_wrap=True)
    table.add_column("evidence", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for f in verdict.findings:
        unit = _unit(plan, f)
        table.add_row(
            Text(f.name),
            Text(value_text(f.control, f.kind, unit) + _size(f.control_size, "\n")),
            Text(value_text(f.treatment, f.kind, unit) + _size(f.treatment_size, "\n")),
            Text(_change(f, unit, "\n")),
            Text(" / ".join(", ".join(texts) or "-" for texts in _tiers(plan, f.name))),
            Text(evidence_text(f.p_value, f.e_value, f.test)),
            status_text(f),
        )
    return table


def guardrail_blocks(plan: Plan, verdict: Verdict) -> Text:
    """One block per guardrail, for a narrow console: its name and status, then its values,
    its change and evidence, and its thresholds, each on a line of its own::

        error_rate  ok
          control 1.009% n=228,357 · treatment 1.088% n=12,045
          change +7.7% [-19.0%, +40.3%] · evidence e=1
          warn +20% · pause +50% · rollback 2x
    """
    block = Text()
    for index, f in enumerate(verdict.findings):
        unit = _unit(plan, f)
        if index:
            block.append("\n")
        block.append(f.name, style="bold")
        block.append("  ")
        block.append_text(status_text(f))
        block.append(
            f"\n  control {value_text(f.control, f.kind, unit)}{_size(f.control_size, ' ')}"
            f" · treatment {value_text(f.treatment, f.kind, unit)}"
            f"{_size(f.treatment_size, ' ')}"
        )
        block.append(
            f"\n  change {_change(f, unit, ' ')} · evidence "
            f"{evidence_text(f.p_value, f.e_value, f.test)}"
        )
        block.append(f"\n  {thresholds_line(plan, f.name)}")
    return block


def segment_lines(f: Finding, expand: bool = False) -> list[Text]:
    """A guardrail's segments folded under it: a one-line summary while every segment is
    within its thresholds, one row each when one is not (or with ``expand``)::

        error_rate by region: 5 segments, each at alpha 0.0083
          eu-west    rollback (2x)  +430.8% [+150.2%, +900.1%] · n=1,204
          us-east    ok             +2.1% [-30.5%, +50.2%] · n=4,210
    """
    if not f.segments or f.segment_by is None:
        return []
    level = f.segment_alpha
    at = f", each tested at alpha {level:.2g}" if level is not None else ""
    head = f"{f.name} by {f.segment_by}: {len(f.segments)} segments{at}"
    loud = f.segment is not None or any(s.status not in ("ok", "no_data") for s in f.segments)
    if not (loud or expand):
        return [Text(head + " (all within thresholds)", style="dim")]
    lines = [Text(head + ":")]
    width = max(len(s.name) for s in f.segments)
    for s in f.segments:
        status = status_text(s)
        row = Text(f"  {s.name:<{width}}  ")
        row.append_text(status)
        row.append(" " * max(1, 16 - len(status.plain)))
        row.append(f"{_change(s, None, ' ')}{_size(s.treatment_size, ' · ')}")
        lines.append(row)
    return lines


def thresholds_line(plan: Plan, name: str) -> str:
    """``warn +20% · pause +50% · rollback 2x``: a guardrail's thresholds by tier, as
    written (``-`` for a tier it has none of)."""
    tiers = zip(TIERS, _tiers(plan, name), strict=True)
    return " · ".join(f"{tier} {', '.join(texts) or '-'}" for tier, texts in tiers)


def _unit(plan: Plan, f: Finding) -> str | None:
    guardrail = plan.guardrail(f.name)
    return guardrail.unit if guardrail else None


def _size(size: float | None, before: str) -> str:
    return "" if size is None else f"{before}n={size:,.0f}"


def _change(f: Finding, unit: str | None, before_bounds: str) -> str:
    change = f.change_text() or "—"
    if f.ci_low is not None or f.ci_high is not None:
        change += before_bounds + _bounds(f, unit)
    return change


def _tiers(plan: Plan, name: str) -> list[list[str]]:
    """The thresholds of each tier, warn, pause and rollback, as written (none: empty)."""
    guardrail = plan.guardrail(name)
    texts = dict(guardrail.thresholds.items()) if guardrail is not None else {}
    return [texts.get(tier, []) for tier in TIERS]


def _bounds(f: Finding, unit: str | None) -> str:
    """Always-valid bounds on the effect, e.g. ``[-2.1%, +14%]`` (relative), ``[-0.4pp,
    +1.9pp]`` (percentage points) or in units."""

    def one(value: float | None) -> str:
        if value is None:
            return "…"
        if f.ci_relative or f.per_point is not None:
            return f.bound_text(value)
        suffix = f" {unit}" if unit in ("ms", "s") else ""
        return f"{value:+.3g}{suffix}"

    return f"[{one(f.ci_low)}, {one(f.ci_high)}]"
