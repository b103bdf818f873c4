"""What ``rollout report --all`` shows, laid out once for its HTML, markdown and terminal
renderings: a row per guardrail (the tiers it reached across plans), a row per plan (its
stages against their windows, pauses, rollbacks, holds) and the totals. Values only, as
text; no markup here. Names that came from plans and records pass through
:func:`~rolloutcli.support.quoting.label`: no control character reaches a page or a screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from rolloutcli.app.fleetreport import FleetReport
from rolloutcli.judge.retrospective import Rollback, StageTime
from rolloutcli.judge.summary import GuardrailTally, PlanTally
from rolloutcli.render.reportview import duration, stamp
from rolloutcli.support.quoting import label

GUARDRAIL_HEAD = (
    "guardrail",
    "plans",
    "looks",
    "warn",
    "pause",
    "rollback",
    "fired in",
    "paused",
    "rolled back",
    "of which went on",
)
PLAN_HEAD = ("plan", "verdict", "stages (spent of planned)", "pauses", "rollbacks", "holds")


@dataclass(frozen=True)
class GuardrailRow:
    name: str
    plans: str
    looks: str
    warn: str
    pause: str
    rollback: str
    fired_in: str
    paused: str
    rolled_back: str
    recovered: str
    never: bool
    """No tier fired in any look: a threshold that may never fire."""


@dataclass(frozen=True)
class PlanRow:
    plan: str
    verdict: str
    stages: str
    pauses: str
    rollbacks: str
    holds: str


def guardrail_rows(report: FleetReport) -> list[GuardrailRow]:
    return [guardrail_row(tally) for tally in report.summary.guardrails]


def guardrail_row(tally: GuardrailTally) -> GuardrailRow:
    counts = dict(tally.tiers)
    return GuardrailRow(
        label(tally.name),
        str(len(tally.plans)),
        str(tally.looks),
        str(counts["warn"]),
        str(counts["pause"]),
        str(counts["rollback"]),
        ", ".join(label(plan) for plan in tally.fired_in) or "never fired",
        str(tally.paused),
        str(tally.rolled_back),
        str(tally.recovered),
        tally.never_fired,
    )


def plan_rows(report: FleetReport) -> list[PlanRow]:
    return [plan_row(tally) for tally in report.summary.plans]


def plan_row(tally: PlanTally) -> PlanRow:
    retro = tally.retrospective
    holds = ", ".join(f"{hold_words(code)} {n}" for code, n in retro.holds) or "none"
    return PlanRow(
        label(tally.plan),
        tally.verdict,
        " · ".join(stage_text(s) for s in retro.stages) or "not started",
        str(retro.pauses),
        "; ".join(rollback_text(r) for r in retro.rollbacks) or "none",
        holds,
    )


def stage_text(stage: StageTime) -> str:
    """``25% 20m of 30m, left early``; a stage still running says so."""
    text = f"{label(stage.stage)} {duration(stage.spent)} of {duration(stage.planned)}"
    if stage.left is None:
        return f"{text}, ongoing"
    if stage.short:
        return f"{text}, left early"
    return text


def rollback_text(rollback: Rollback) -> str:
    """``2026-11-02T10:50:00Z, restarted 11:20:00Z, advanced again`` (or not restarted)."""
    if rollback.restarted is None:
        return f"{stamp(rollback.at)}, not restarted"
    again = "advanced again" if rollback.recovered else "not advanced since"
    return f"{stamp(rollback.at)}, restarted {stamp(rollback.restarted)}, {again}"


def hold_words(code: str) -> str:
    return code.replace("_", " ")


def totals(report: FleetReport) -> list[str]:
    """The totals, one short line each."""
    s = report.summary
    holds = ", ".join(f"{hold_words(code)} {n}" for code, n in s.holds) or "none"
    never = [label(g.name) for g in s.guardrails if g.never_fired]
    return [
        f"{len(s.plans)} plan(s), {s.looks} looks from {span(report)}",
        f"holds by cause, in looks: {holds}",
        f"pauses: {s.pauses} · rollbacks: {s.rollbacks} (restarted {s.restarted}, "
        f"advanced again {s.recovered})",
        f"stages entered: {s.stages} (left before their window {s.left_early}, kept longer "
        f"than it {s.overran})",
        f"never fired: {', '.join(never) if never else 'none'}",
    ]


def span(report: FleetReport) -> str:
    start = f"{stamp(report.since)} " if report.since else "each rollout's start "
    return f"{start}to {stamp(report.at)}"


def failures(report: FleetReport) -> list[str]:
    """Each plan that could not be reported, in one line."""
    return [f"{label(ref)}: {error}" for ref, error in report.failed]
