"""Where a rollout is in its life, derived once from the platform (pure, no I/O).

From the plan, the flag's state (on/off, share, the pause mark) and the platform's normalised
change events (:class:`~rolloutcli.judge.flagstate.ChangeRecord`), :func:`derive` returns one
:class:`Lifecycle`: a :class:`Phase` and the facts of it. Every surface (status, check, the
verdict's rules, ``--fail-on``, ``advance``) reads this one value; no words here, they are in
:mod:`~rolloutcli.judge.messages`.

The phases, in the order they win when several hold at once:

1. ``killed``: the flag is off while a rollout stands on it (a share or an audience, or a
   standing rollback). A flag that is off at 0% with nothing to stop is ``not_started``:
   starting it turns it on, as a new Unleash flag that is off in its environments.
2. ``rolled_back``: the flag serves control to everyone and the latest rollback in the
   history has no change that set the split after it (an advance, a hand edit). Only
   ``rollout advance PLAN --restart`` starts it again.
3. ``paused``: the pause mark is set on the platform (``rollout pause``, or a pause verdict
   under ``watch --auto``).
4. ``off_plan``: a share no stage has (set by hand).
5. ``done``: at the last stage.
6. ``in_stage``: at a stage that is not the last.
7. ``not_started``: 0% and no audience, and nothing stopped it.

Why the stops come first: a kill and a rollback each need a person to lift them (turn the
flag on, ``--restart``), while a pause only holds automatic advancing; a rolled-back rollout
that is also paused must stay red under ``--fail-on rollback``. The pause mark is kept in the
facts (``pause``) whatever the phase, so no surface loses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, PauseMark
from rolloutcli.judge.position import Position, locate
from rolloutcli.judge.stagestart import moves_split
from rolloutcli.plan.model import Plan

_EPS = 1e-6

ROLLBACK_ACTION = "rollback"
KILL_ACTIONS = frozenset({"kill", "off", "on/off"})
"""Events that turn a flag off: the tool's kill, Unleash's environment disabled, and
LaunchDarkly's targeting toggle (which does not say which way; read with the state)."""

ROLLBACK_NOTE = "rolled back to 0%: "
"""What a rollback's comment says before the person's (or the verdict's) reason."""

_NOTE_HEAD = re.compile(
    r"^rolloutcli plan=\S+ stage=.*? pct=(?:[0-9.]+|-) action=[a-z-]+"
    r"(?: record=[0-9a-f]{8,64})?(?: · |$)"
)
"""The head of the change note a platform keeps (an Unleash strategy title, a LaunchDarkly
audit comment: ``rolloutcli plan=co stage=10% pct=10 action=kill record=<id> · <why>``, the
record id only in newer notes); the flag file's history keeps the why alone."""


class Phase(StrEnum):
    NOT_STARTED = "not_started"
    IN_STAGE = "in_stage"
    PAUSED = "paused"
    ROLLED_BACK = "rolled_back"
    KILLED = "killed"
    DONE = "done"
    OFF_PLAN = "off_plan"


STOPPED = frozenset({Phase.ROLLED_BACK, Phase.KILLED})
"""Phases a person must lift; a rollout in one never checks as ``go``."""


@dataclass(frozen=True)
class Lifecycle:
    """The phase and its facts; fields a phase does not have are None.

    ``at``, ``by``, ``why``: when the phase began, who began it and why, where known
    (in_stage, done: the stage's start; paused: the mark; rolled_back: the rollback event;
    killed: the kill event, or the flag file's record of it). ``stage`` and ``stage_index``:
    the live stage (None off-plan, not started, rolled back). ``from_stage`` and
    ``from_percent``: what a rollback or a kill stopped. ``pause``: the pause mark, whatever
    the phase.
    """

    phase: Phase
    at: datetime | None = None
    by: str | None = None
    why: str | None = None
    stage: str | None = None
    stage_index: int | None = None
    from_stage: str | None = None
    from_percent: float | None = None
    pause: PauseMark | None = None

    @property
    def stopped(self) -> bool:
        """Rolled back or killed: a person must act before it goes on."""
        return self.phase in STOPPED


def derive(
    plan: Plan,
    state: FlagState,
    history: Iterable[ChangeRecord] = (),
    position: Position | None = None,
) -> Lifecycle:
    """The rollout's lifecycle from the plan, the flag's state and its change history
    (oldest first or not: events are ordered by time here)."""
    events = sorted(history, key=lambda r: r.at)
    where = position if position is not None else locate(plan, state, events)
    label = plan.stages[where.index].label if where.index is not None else None
    rollback = standing_rollback(events) if serves_nobody(state) else None
    if not state.on and (rollback is not None or not where.not_started):
        return _killed(plan, state, events, label, where.index, rollback)
    if rollback is not None:
        return Lifecycle(
            Phase.ROLLED_BACK,
            at=rollback.at,
            by=rollback.who,
            why=rollback_reason(rollback.comment),
            from_stage=_stage_label(plan, rollback.percent_before, rollback.stage),
            from_percent=rollback.percent_before,
            pause=state.paused,
        )
    mark = state.paused
    if mark is not None:
        return Lifecycle(
            Phase.PAUSED,
            at=mark.at,
            by=mark.by,
            why=mark.reason,
            stage=label,
            stage_index=where.index,
            pause=mark,
        )
    if where.not_started:
        return Lifecycle(Phase.NOT_STARTED)
    if where.off_plan:
        phase = Phase.OFF_PLAN
    else:
        phase = Phase.DONE if where.at_last_stage else Phase.IN_STAGE
    return Lifecycle(phase, at=where.stage_began, stage=label, stage_index=where.index)


def serves_nobody(state: FlagState) -> bool:
    """No treatment share and no audience: everyone gets control (or the flag's off value)."""
    return state.percent < _EPS and not state.audience_keys and not state.audience_segment


def standing_rollback(events: Iterable[ChangeRecord]) -> ChangeRecord | None:
    """The latest rollback with no change after it that set the split again."""
    found: ChangeRecord | None = None
    for record in sorted(events, key=lambda r: r.at):
        if record.action == ROLLBACK_ACTION:
            found = record
        elif found is not None and moves_split(record):
            found = None
    return found


def rollback_reason(comment: str) -> str | None:
    """The reason a rollback's comment gives (after ``rolled back to 0%:``), else the
    comment as the platform shows it; None when empty."""
    head, sep, tail = comment.partition(ROLLBACK_NOTE)
    reason = tail if sep else head
    return reason.strip() or None


def kill_reason(comment: str) -> str | None:
    """The why of a kill's comment, without the change note's head that Unleash and
    LaunchDarkly keep before it (so every platform gives the same reason); None when empty."""
    return _NOTE_HEAD.sub("", comment, count=1).strip() or None


def _killed(
    plan: Plan,
    state: FlagState,
    events: list[ChangeRecord],
    label: str | None,
    index: int | None,
    rollback: ChangeRecord | None,
) -> Lifecycle:
    """Killed; what it stopped is the live share, or, once rolled back to 0% as well
    (before or after the kill), the share the rollback took away."""
    kill = next((r for r in reversed(events) if r.action in KILL_ACTIONS), None)
    if serves_nobody(state) and rollback is not None:
        from_stage = _stage_label(plan, rollback.percent_before, rollback.stage)
        from_percent = rollback.percent_before
    else:
        from_stage, from_percent = label, None if serves_nobody(state) else state.percent
    return Lifecycle(
        Phase.KILLED,
        at=kill.at if kill is not None else None,
        by=kill.who if kill is not None else None,
        why=kill_reason(kill.comment) if kill is not None else None,
        stage=label,
        stage_index=index,
        from_stage=from_stage,
        from_percent=from_percent,
        pause=state.paused,
    )


def _stage_label(plan: Plan, percent: float | None, named: str | None) -> str | None:
    """The stage a share was at: the plan stage with that share, else the one the event
    names (an audience stage at 0% has no share of its own)."""
    if percent is not None and percent > _EPS:
        for stage in plan.stages:
            if abs(stage.percent - percent) < _EPS:
                return stage.label
    return named
