"""``rollout report --output markdown``: the same report for a pull-request comment or
``$GITHUB_STEP_SUMMARY``: tables, and per guardrail a mermaid ``xychart-beta`` (treatment
and control over time), which GitHub draws. No plotting library needed.
"""

from __future__ import annotations

from dataclasses import astuple

from rolloutcli.app.report import Report
from rolloutcli.render.charts import ChartData
from rolloutcli.render.reportview import (
    charts,
    duration,
    reasons,
    srm_counts,
    srm_line,
    stamp,
    verdict_rows,
)


def report_markdown(report: Report) -> str:
    loaded = report.loaded
    lines = [
        f"## Rollout report: {loaded.name}",
        "",
        f"Flag `{loaded.plan.flag}` · from {stamp(report.since)} to {stamp(report.at)} · "
        f"verdict **{report.current.verdict.kind.value}**",
        "",
        "### Guardrails over time",
        "",
    ]
    for data in charts(report):
        lines += xychart(data)
    lines += [
        "### Lifecycle",
        "",
        "| when | decision | stage | who | why |",
        "|---|---|---|---|---|",
    ]
    for d in report.decisions:
        lines.append(
            f"| {stamp(d.at)} | {d.event} | {_cell(d.stage or '')} | {_cell(d.who or '')} | "
            f"{_cell(d.why)} |"
        )
    lines += [
        "",
        f"### The verdict at {stamp(report.at)}",
        "",
        "| guardrail | control | treatment | change | interval | thresholds | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in verdict_rows(report):
        lines.append("| " + " | ".join(_cell(c) for c in astuple(row)) + " |")
    lines += ["", f"Exposure split (SRM): {srm_line(report)}", ""]
    lines += [f"Sample-ratio check (SRM) over time: {srm_counts(report)}", ""]
    lines += [f"- {_cell(r)}" for r in reasons(report)]
    lines += _retrospective(report)
    return "\n".join(lines) + "\n"


def xychart(data: ChartData) -> list[str]:
    """A mermaid xychart of treatment and control (looks without a number left out: the
    chart has no gaps)."""
    points = [
        (at, t, c)
        for at, t, c in zip(data.times, data.treatment, data.control, strict=True)
        if t is not None and c is not None
    ]
    if not points:
        return [f"**{data.name}**: no data in this span", ""]
    labels = ", ".join(f'"{at:%H:%M}"' for at, _, _ in points)
    return [
        f"**{data.name}** (treatment, then control; {data.unit})",
        "",
        "```mermaid",
        "xychart-beta",
        f'    title "{data.name}"',
        f"    x-axis [{labels}]",
        f'    y-axis "{data.unit}"',
        f"    line [{', '.join(_num(t) for _, t, _ in points)}]",
        f"    line [{', '.join(_num(c) for _, _, c in points)}]",
        "```",
        "",
    ]


def _retrospective(report: Report) -> list[str]:
    retro = report.retrospective
    lines = [
        "",
        "### Retrospective",
        "",
        "| stage | entered | spent | planned |",
        "|---|---|---|---|",
    ]
    for s in retro.stages:
        ongoing = "" if s.left else " (ongoing)"
        lines.append(
            f"| {_cell(s.stage)} | {stamp(s.entered)} | {duration(s.spent)}{ongoing} | "
            f"{duration(s.planned)} |"
        )
    lines += ["", f"Tiers reached, in looks (of {retro.looks}):", ""]
    lines += ["| guardrail | warn | pause | rollback |", "|---|---|---|---|"]
    for name, counts in retro.tiers:
        lines.append(f"| {_cell(name)} | " + " | ".join(str(n) for _, n in counts) + " |")
    holds = ", ".join(f"{code.replace('_', ' ')}: {n}" for code, n in retro.holds) or "none"
    lines += ["", f"Holds: {holds} · pauses: {retro.pauses}", ""]
    for r in retro.rollbacks:
        after = "not restarted"
        if r.restarted is not None:
            again = "advanced again" if r.recovered else "not advanced since"
            after = f"restarted {stamp(r.restarted)}, {again}"
        lines.append(
            f"- rollback {stamp(r.at)} by {r.who or 'the platform'}: {_cell(r.why)} · {after}"
        )
    return lines


def _num(value: float) -> str:
    return f"{value:.6g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
