"""What a knob action does now (issue 21), and what a knob change does to the evidence. Pure.

A guardrail whose pause tier says ``on_pause: {knob: min_confidence, to: [0.8, 0.9], then:
rollback}`` tunes the knob instead of pausing: on a pause-tier breach the knob goes to the
value of ``to`` after its live one (the first, when the live value is not in ``to``). Once
the knob is at the last value of ``to`` it has been tried ``len(to)`` times: the breach
then does ``then`` (rollback by default, or pause, or reduce).

A knob change restarts the stage's evidence: what was measured before it was produced by
another treatment (a different threshold), so the stage's window starts again at the
change (:func:`restart_at_knob_changes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.judge.stagestart import StageStart
from rolloutcli.plan.knobs import KnobAction, Then
from rolloutcli.plan.knobvalues import Value as KnobValue
from rolloutcli.plan.knobvalues import same_value, show_value

if TYPE_CHECKING:  # types only: the findings module imports the statistics
    from rolloutcli.judge.findings import Finding
    from rolloutcli.plan.model import Plan


@dataclass(frozen=True)
class KnobStep:
    """Set knob ``knob`` (flag ``flag``) from ``before`` to ``after``; ``guardrail`` and
    ``threshold`` (its tier and threshold as written) say why, None for a person's tune."""

    knob: str
    flag: str
    before: KnobValue | None
    after: KnobValue
    guardrail: str | None = None
    threshold: str | None = None

    @property
    def verb(self) -> str:
        """``raise`` or ``lower`` for numbers, ``set`` otherwise."""
        before, after = self.before, self.after
        if isinstance(before, int | float) and isinstance(after, int | float):
            return "raise" if after > before else "lower"
        return "set"

    def describe(self) -> str:
        """``raise min_confidence 0.7 -> 0.8``."""
        before = "(unset)" if self.before is None else show_value(self.before)
        return f"{self.verb} {self.knob} {before} -> {show_value(self.after)}"


@dataclass(frozen=True)
class UsedUp:
    """A knob already at the last value of a guardrail's ``to``: the breach does ``then``."""

    knob: str
    value: KnobValue
    guardrail: str
    threshold: str | None
    then: Then


@dataclass(frozen=True)
class KnobResponse:
    """What the pause-tier breaches of guardrails with knob actions call for: one knob
    step (the first such guardrail's, in plan order: one write per round), and the
    knobs already used up."""

    step: KnobStep | None
    used_up: tuple[UsedUp, ...]

    @property
    def rollback(self) -> UsedUp | None:
        """The first used-up knob whose ``then`` is rollback: the breach rolls back."""
        return next((u for u in self.used_up if u.then == "rollback"), None)

    @property
    def reducing(self) -> frozenset[str]:
        """The guardrails whose knob is used up with ``then: reduce``."""
        return frozenset(u.guardrail for u in self.used_up if u.then == "reduce")


NO_RESPONSE = KnobResponse(None, ())


def next_value(to: Iterable[KnobValue], live: object) -> KnobValue | None:
    """The value of ``to`` after ``live``: the first when ``live`` is not in ``to``; None
    when ``live`` is the last (the knob is used up)."""
    values = list(to)
    for index, value in enumerate(values):
        if same_value(value, live):
            return values[index + 1] if index + 1 < len(values) else None
    return values[0]


def respond(
    plan: Plan, findings: Iterable[Finding], readings: Mapping[str, KnobReading]
) -> KnobResponse:
    """The knob actions the pause-tier findings call for, given the knobs' live values. A
    knob whose value could not be read (or serves no single value) is not tuned: that
    guardrail's breach is a plain pause."""
    step: KnobStep | None = None
    used: list[UsedUp] = []
    for finding in findings:
        guardrail = plan.guardrail(finding.name)
        if finding.status != "pause" or guardrail is None:
            continue
        action = guardrail.on_pause
        if not isinstance(action, KnobAction):
            continue
        knob = plan.knob(action.knob)
        reading = readings.get(action.knob)
        if knob is None or reading is None or reading.value is None:
            continue
        after = next_value(action.to, reading.value)
        if after is None:
            why = (knob.name, reading.value, guardrail.name, finding.threshold, action.then)
            used.append(UsedUp(*why))
        elif step is None:
            step = KnobStep(
                knob.name, knob.flag, reading.value, after, guardrail.name, finding.threshold
            )
    return KnobResponse(step, tuple(used))


def last_knob_change(readings: Iterable[KnobReading]) -> datetime | None:
    """When a knob last changed, over the plan's knobs; None when none says."""
    return max((r.since for r in readings if r.since is not None), default=None)


def restart_at_knob_changes(started: StageStart, readings: Iterable[KnobReading]) -> StageStart:
    """The stage's evidence starts at max(stage start, the last knob change): data from
    before a knob change was produced by another treatment. An unknown stage start stays
    unknown (the rollout has no stage to restart); the rollout's start is untouched."""
    changed = last_knob_change(readings)
    if started.stage is None or changed is None or changed <= started.stage:
        return started
    return replace(started, stage=changed)
