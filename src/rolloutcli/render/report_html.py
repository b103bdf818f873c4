"""``rollout report`` as one self-contained HTML page: inline CSS, charts as inline SVG, no
script, font, style or image fetched from anywhere (it opens offline, from a mail or a CI
artifact). Every value is escaped; the charts come from :mod:`rolloutcli.render.charts`.
"""

from __future__ import annotations

from dataclasses import astuple
from html import escape

from rolloutcli.app.report import Report
from rolloutcli.render.charts import DECISION_COLORS, chart_svg, exposure_svg
from rolloutcli.render.reportview import (
    charts,
    decision_title,
    duration,
    exposure,
    reasons,
    srm_counts,
    srm_line,
    stage_words,
    stamp,
    verdict_rows,
)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#212529;background:#f8f9fa}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#495057;margin:0 0 12px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.verdict.go,.verdict.done{background:#2f9e44}.verdict.hold{background:#868e96}
.verdict.pause{background:#e8590c}.verdict.rollback{background:#c92a2a}
section.card{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:12px 16px;
margin:12px 0}
svg.chart,svg.exposure{width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e9ecef;vertical-align:top}
th{background:#f1f3f5}
ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid #ced4da}
ol.timeline li{position:relative;margin:0 0 10px 0;padding-left:16px}
ol.timeline li::before{content:"";position:absolute;left:-8px;top:5px;width:11px;height:11px;
border-radius:50%;background:var(--c,#495057)}
.when{color:#495057;font-variant-numeric:tabular-nums}
.muted{color:#868e96}
"""


def report_html(report: Report) -> str:
    """The whole page."""
    loaded = report.loaded
    verdict = report.current.verdict.kind.value
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Rollout report: {escape(loaded.name)}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        f"<h1>Rollout report: {escape(loaded.name)}</h1>",
        f'<p class="sub">flag <b>{escape(loaded.plan.flag)}</b> on '
        f"{escape(report.current.standing.platform.name)} · from {stamp(report.since)} to "
        f'{stamp(report.at)} · verdict <span class="verdict {escape(verdict)}" '
        f'id="verdict">{escape(verdict)}</span></p>',
        _guardrails(report),
        _exposure(report),
        _timeline(report),
        _verdict_table(report),
        _retrospective(report),
        _skipped(report),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _guardrails(report: Report) -> str:
    blocks = ["<h2>Guardrails over time</h2>"]
    for data in charts(report):
        blocks.append(
            f'<section class="card guardrail" data-guardrail="{escape(data.name)}">'
            f"{chart_svg(data)}</section>"
        )
    return "\n".join(blocks)


def _exposure(report: Report) -> str:
    return (
        '<h2>Exposure split</h2><section class="card" id="exposure">'
        f"{exposure_svg(exposure(report))}"
        f"<p>Sample-ratio check (SRM) over time: {escape(srm_counts(report))}</p></section>"
    )


def _timeline(report: Report) -> str:
    items = []
    for decision in report.decisions:
        color = DECISION_COLORS.get(decision.event, "#495057")
        items.append(
            f'<li class="decision {escape(decision.event)}" style="--c:{color}" '
            f'title="{escape(decision_title(decision))}"><span class="when">'
            f"{stamp(decision.at)}</span> <b>{escape(decision.event)}</b>"
            f" {escape(stage_words(decision))}"
            f' <span class="muted">by {escape(decision.who or "the platform")}</span>'
            f"{'<br>' + escape(decision.why) if decision.why else ''}</li>"
        )
    body = "\n".join(items) or '<li class="muted">no decisions in this span</li>'
    phase = report.current.standing.lifecycle.phase.value.replace("_", " ")
    return (
        f'<h2>Lifecycle</h2><section class="card"><p>now: <b id="phase">{escape(phase)}</b>'
        f'</p><ol class="timeline">{body}</ol></section>'
    )


def _verdict_table(report: Report) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("guardrail", "control", "treatment", "change", "interval", "thresholds", "status")
    )
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in astuple(row)) + "</tr>"
        for row in verdict_rows(report)
    )
    why = "".join(f"<li>{escape(line)}</li>" for line in reasons(report))
    return (
        f'<h2>The verdict at {stamp(report.at)}</h2><section class="card">'
        f'<table id="verdict-table"><tr>{head}</tr>{rows}</table>'
        f"<p>Exposure split (SRM): {escape(srm_line(report))}</p><ul>{why}</ul></section>"
    )


def _retrospective(report: Report) -> str:
    retro = report.retrospective
    stages = "".join(
        f"<tr><td>{escape(s.stage)}</td><td>{stamp(s.entered)}</td>"
        f"<td>{duration(s.spent)}{'' if s.left else ' (ongoing)'}</td>"
        f"<td>{duration(s.planned)}</td><td>{'left early' if s.short else ''}</td></tr>"
        for s in retro.stages
    )
    tiers = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{count}</td>" for _, count in counts)
        + "</tr>"
        for name, counts in retro.tiers
    )
    holds = ", ".join(f"{escape(code.replace('_', ' '))}: {n}" for code, n in retro.holds)
    backs = "".join(
        f"<li>{stamp(r.at)} by {escape(r.who or 'the platform')}: {escape(r.why)} · "
        + (
            f"restarted {stamp(r.restarted)}, "
            + ("advanced again" if r.recovered else "not advanced since")
            if r.restarted
            else "not restarted"
        )
        + "</li>"
        for r in retro.rollbacks
    )
    return (
        '<h2>Retrospective</h2><section class="card" id="retrospective">'
        "<table><tr><th>stage</th><th>entered</th><th>spent</th><th>planned</th><th></th></tr>"
        f"{stages}</table>"
        f"<p>Tiers reached, in looks (of {retro.looks}):</p>"
        "<table><tr><th>guardrail</th><th>warn</th><th>pause</th><th>rollback</th></tr>"
        f"{tiers}</table>"
        f"<p>Holds: {holds or 'none'} · pauses: {retro.pauses}</p>"
        f"<p>Rollbacks: {'none' if not backs else ''}</p><ul>{backs}</ul></section>"
    )


def _skipped(report: Report) -> str:
    if not report.skipped:
        return ""
    return (
        f'<p class="muted">{len(report.skipped)} look(s) left out: '
        f"{escape(report.skipped[0][1])}</p>"
    )
