"""What ``rollout report`` shows, laid out once for the HTML and the markdown renderings:
each guardrail's series (:class:`~rolloutcli.render.charts.ChartData`), the marks on the time
axis, the table behind the current verdict, and the retrospective's rows. Values only; no
markup here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rolloutcli.app.report import Report
from rolloutcli.judge.findings import Finding
from rolloutcli.judge.messages import text
from rolloutcli.judge.retrospective import SPLIT_EVENTS, Decision
from rolloutcli.judge.verdict import SrmFinding
from rolloutcli.plan.model import Plan
from rolloutcli.plan.thresholds import ThresholdKind, parse_threshold
from rolloutcli.render.charts import ChartData, ExposureData, Line, Mark
from rolloutcli.render.guardrails import thresholds_line
from rolloutcli.render.values import value_text
from rolloutcli.support.durations import format_duration
from rolloutcli.support.quoting import label
from rolloutcli.support.timeutil import format_timestamp


@dataclass(frozen=True)
class VerdictRow:
    name: str
    control: str
    treatment: str
    change: str
    interval: str
    thresholds: str
    status: str


def charts(report: Report) -> list[ChartData]:
    """One chart per guardrail, in the plan's order."""
    plan = report.loaded.plan
    marks = decision_marks(report.decisions)
    times = [m.at for m in report.moments]
    found: list[ChartData] = []
    for guardrail in plan.guardrails:
        findings = [m.findings.get(guardrail.name) for m in report.moments]
        scale = 100.0 if guardrail.kind == "ratio" else 1.0
        unit = "%" if guardrail.kind == "ratio" else (guardrail.unit or "value")
        relative = all(f is None or f.ci_relative for f in findings)
        value_lines, change_lines = threshold_lines(plan, guardrail.name, scale, relative)
        found.append(
            ChartData(
                name=guardrail.name,
                unit=unit,
                times=times,
                treatment=[_scaled(f.treatment if f else None, scale) for f in findings],
                control=[_scaled(f.control if f else None, scale) for f in findings],
                change=[_change(f, relative) for f in findings],
                low=[_bound(f, f.ci_low if f else None, relative) for f in findings],
                high=[_bound(f, f.ci_high if f else None, relative) for f in findings],
                change_label="change vs control (%)" if relative else "treatment - control",
                value_lines=value_lines,
                change_lines=change_lines,
                marks=marks,
                breaches=segment_breaches(report, guardrail.name),
            )
        )
    return found


BREACH_TIERS = ("pause", "rollback")


def segment_breaches(report: Report, name: str) -> list[Mark]:
    """The looks at which ``name`` reached a pause or rollback tier in one segment."""
    found: list[Mark] = []
    for moment in report.moments:
        f = moment.findings.get(name)
        if f is None or f.segment is None or f.status.value not in BREACH_TIERS:
            continue
        by = f"{label(f.segment_by)}=" if f.segment_by else ""
        title = (
            f"{name} reached {f.status.value} in segment {by}{label(f.segment)} "
            f"at {format_timestamp(moment.at)}"
        )
        found.append(Mark(moment.at, f.status.value, title))
    return found


def exposure(report: Report) -> ExposureData:
    """The exposure split and its sample-ratio verdict at each look."""
    observed: list[float | None] = []
    expected: list[float | None] = []
    verdicts: list[str] = []
    titles: list[str] = []
    for moment in report.moments:
        srm = moment.evaluation.verdict.srm
        seen, share = srm.observed_share, srm.expected_share
        checked = srm.checked and seen is not None
        observed.append(seen * 100.0 if checked and seen is not None else None)
        expected.append(share * 100.0 if checked and share is not None else None)
        verdicts.append(("mismatch" if srm.mismatch else "ok") if checked else "unchecked")
        titles.append(f"{format_timestamp(moment.at)}: {srm_text(srm)}")
    marks = decision_marks(report.decisions)
    return ExposureData([m.at for m in report.moments], observed, expected, verdicts, titles, marks)


def threshold_lines(
    plan: Plan, name: str, scale: float, relative: bool
) -> tuple[list[Line], list[Line]]:
    """The guardrail's thresholds as lines: absolute ones on the values, relative ones (and
    points, when the change is in units) on the change."""
    guardrail = plan.guardrail(name)
    values: list[Line] = []
    changes: list[Line] = []
    if guardrail is None:
        return values, changes
    is_ratio = guardrail.kind == "ratio"
    for tier, texts in guardrail.thresholds.items():
        for raw in texts:
            threshold = parse_threshold(raw, guardrail.direction, guardrail.unit, is_ratio)
            if threshold.kind is ThresholdKind.ABSOLUTE:
                values.append(Line(threshold.value * scale, tier, raw))
            elif threshold.kind is ThresholdKind.POINTS:
                if not relative:
                    changes.append(Line(threshold.value, tier, raw))
            elif relative:
                changes.append(Line((threshold.factor - 1.0) * 100.0, tier, raw))
    return values, changes


def decision_marks(decisions: tuple[Decision, ...]) -> list[Mark]:
    """A stage boundary where a decision moved the split, and a mark for every decision."""
    marks: list[Mark] = []
    for decision in decisions:
        if decision.event in SPLIT_EVENTS and decision.event != "rollback" and decision.stage:
            marks.append(Mark(decision.at, "stage-boundary", f"stage {decision.stage} begins"))
        marks.append(Mark(decision.at, decision.event, decision_title(decision)))
    return marks


def decision_title(decision: Decision) -> str:
    """``advance by alice at 2026-11-02T10:00:00Z (to 10%): why``: who and why."""
    who = decision.who or "the platform (no record)"
    to = f" ({stage_words(decision)})" if decision.stage else ""
    why = f": {decision.why}" if decision.why else ""
    segments = "".join(f" · {name} breached in segment {seg}" for name, seg in decision.segments)
    return f"{decision.event} by {who} at {format_timestamp(decision.at)}{to}{why}{segments}"


def stage_words(decision: Decision) -> str:
    """``to 25%`` for a decision that moved the split there, ``at 25%`` for one taken in a
    stage (a pause, a rollback from it)."""
    moved = decision.event in SPLIT_EVENTS and decision.event != "rollback"
    return f"{'to' if moved else 'at'} {decision.stage}" if decision.stage else ""


def verdict_rows(report: Report) -> list[VerdictRow]:
    """The table behind the current verdict, one row per guardrail."""
    plan = report.loaded.plan
    rows: list[VerdictRow] = []
    for f in report.current.verdict.findings:
        guardrail = plan.guardrail(f.name)
        unit = guardrail.unit if guardrail else None
        interval = ""
        if f.ci_low is not None and f.ci_high is not None:
            interval = f"[{f.bound_text(f.ci_low)}, {f.bound_text(f.ci_high)}]"
        status = f.status.value.replace("_", " ")
        if f.reached is not None:
            status += f" ({f.reached.raw})"
        rows.append(
            VerdictRow(
                f.name,
                value_text(f.control, f.kind, unit),
                value_text(f.treatment, f.kind, unit),
                f.change_text() or "-",
                interval or "-",
                thresholds_line(plan, f.name),
                status,
            )
        )
    return rows


def reasons(report: Report) -> list[str]:
    return [text(r) for r in report.current.verdict.reasons]


def srm_line(report: Report) -> str:
    """The exposure split and the SRM verdict now, in one line."""
    return srm_text(report.current.verdict.srm)


def srm_counts(report: Report) -> str:
    """How the looks' sample-ratio checks came out: ``ok in 20 looks, mismatch in 1``."""
    data = exposure(report)
    parts = [
        f"{verdict} in {data.verdicts.count(verdict)}"
        for verdict in ("ok", "mismatch", "unchecked")
        if verdict in data.verdicts
    ]
    return f"{', '.join(parts)} of {len(data.verdicts)} looks"


def srm_text(srm: SrmFinding) -> str:
    """A sample-ratio check's result, in one line."""
    if not srm.checked or srm.observed_share is None or srm.expected_share is None:
        if srm.note and srm.note.startswith("not checked"):
            return srm.note  # the note says it already
        return f"not checked{': ' + srm.note if srm.note else ''}"
    word = "MISMATCH" if srm.mismatch else "ok"
    p = f", p={srm.p_value:.3g}" if srm.p_value is not None else ""
    return (
        f"{word}: treatment {srm.observed_share:.2%} of exposures, expected "
        f"{srm.expected_share:.2%}{p}"
    )


def duration(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "-"


def stamp(at: datetime | None) -> str:
    return format_timestamp(at) if at is not None else "-"


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _change(f: Finding | None, relative: bool) -> float | None:
    if f is None or f.treatment is None or f.control is None:
        return None
    if relative:
        return None if f.relative_change is None else f.relative_change * 100.0
    return f.treatment - f.control


def _bound(f: Finding | None, value: float | None, relative: bool) -> float | None:
    if f is None or value is None:
        return None
    return value * 100.0 if relative else value
