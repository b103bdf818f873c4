"""Set a knob (issue 21): by a guardrail's knob tier under ``watch --auto``, or by a person
with ``rollout tune``. Applied like every change: conditional on the value read (a knob
changed meanwhile is a conflict, exit 4), its platform note naming the decision record
(event ``knob``: the knob, from, to, and the guardrail and tier that caused it), then
notified (``knob``). The change restarts the stage's evidence (``judge.knobs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rolloutcli.app.apply import Journal, _stage_label, _with_phase, notify_split_kept, subject_of
from rolloutcli.app.standing import Standing
from rolloutcli.journal import record as audit
from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.judge.knobs import KnobStep
from rolloutcli.plan.knobvalues import same_value
from rolloutcli.plan.notifications import NotifyEvent
from rolloutcli.platforms.base import TunesKnobs
from rolloutcli.support.errors import InvalidInputError, RolloutError

COMMAND = "tune"
EVENT: NotifyEvent = "knob"


def knob_platform(standing: Standing) -> TunesKnobs:
    """The platform, as one that sets knobs (every built-in platform does)."""
    platform = standing.platform
    if not isinstance(platform, TunesKnobs):
        raise InvalidInputError(f"{platform.name} cannot set knobs: remove knobs: from the plan")
    return platform


def person_step(standing: Standing, name: str, text: str) -> tuple[KnobStep, KnobReading]:
    """A person's ``rollout tune PLAN KNOB VALUE``: the knob and value checked against the
    plan (exit 2 naming what is allowed), the knob's live value read now (its failure is
    the platform's error, exit 3)."""
    plan = standing.loaded.plan
    knob = plan.knob(name)
    if knob is None:
        known = ", ".join(k.name for k in plan.knobs) or "none"
        raise InvalidInputError(
            f"plan {standing.loaded.name} has no knob named {name!r} (knobs: {known})"
        )
    value = knob.parse(text)
    if value is None:
        raise InvalidInputError(
            f"knob {knob.name} does not allow {text!r}: give one of {knob.allowed_text()}"
            if knob.values is not None
            else f"knob {knob.name} does not allow {text!r}: give a number from "
            f"{knob.allowed_text()}"
        )
    reading = knob_platform(standing).read_knob(knob.flag)
    return KnobStep(knob.name, knob.flag, reading.value, value), reading


def knob_comment(standing: Standing, step: KnobStep, reason: str) -> str:
    """The note the platform keeps with the change."""
    return f"rolloutcli: plan {standing.loaded.name} {step.describe()}: {reason}"


def unchanged(step: KnobStep) -> bool:
    """The knob already serves the value: nothing to write."""
    return same_value(step.before, step.after)


def tune_recorded(
    journal: Journal,
    standing: Standing,
    step: KnobStep,
    expected: KnobReading,
    reason: str,
    at: datetime,
    *,
    verdict: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
) -> KnobReading:
    """Set the knob if it still serves ``expected.value``, record it (or its failure), and
    notify. A knob already at the value is recorded ``unchanged``, not written."""
    platform = knob_platform(standing)
    subject = subject_of(standing)
    record_id = audit.new_record_id()
    knob = {
        "name": step.knob,
        "flag": step.flag,
        "from": step.before,
        "to": step.after,
        "guardrail": step.guardrail,
        "tier": "pause" if step.guardrail else None,
        "threshold": step.threshold,
    }
    common: dict[str, Any] = {
        "subject": subject,
        "who": journal.who,
        "at": at,
        "command": journal.command,
        "verdict": verdict,
        "decision": decision,
        "before": _with_phase(audit.state_json(standing.state, _stage_label(standing)), standing),
        "extra": {"knob": knob, "reason": reason},
        "record_id": record_id,
    }
    if unchanged(step):
        journal.write(audit.record(event=EVENT, result="unchanged", **common))
        return expected
    comment = knob_comment(standing, step, reason)
    try:
        after = platform.set_knob(
            step.flag,
            step.after,
            expected,
            standing.loaded.name,
            comment,
            at,
            record=record_id,
            by=journal.who,
        )
    except RolloutError as exc:
        journal.write(audit.record(event=EVENT, result="failed", error=str(exc), **common))
        raise
    journal.write(audit.record(event=EVENT, result="applied", **common))
    reasons = (f"{step.describe()}: {reason}",)
    notify_split_kept(journal, standing, EVENT, subject, at, verdict, reasons)
    return after
