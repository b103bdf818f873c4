"""The flag as it stood at an earlier time, replayed from the platform's history (pure).

``status --at T`` and ``check --at T`` must say what the tool would have said at T, so the
platform's state is taken back to T, not only the metrics window. :func:`replay` starts from
the state read now and undoes, newest first, every change the history records after T:

- a change that set the split goes back to the share it had before (``percent_before``);
  the audience at T is the one the stage of the last split change at or before T opened
  (none before any, or after a rollback or a hand edit);
- a kill (``kill``, Unleash's ``off``) was made on a flag that was on; an ``on`` or an
  ``unkill`` on a flag that was off; LaunchDarkly's targeting toggle (``on/off``) flips;
- the pause mark at T is the one the last pause or resume at or before T left.

The history at T is the events at or before it, so the stage start, the run of advances and
the lifecycle are derived at T by the same rules as now. Where the history cannot say, the
replay refuses (:class:`Unreplayable`) rather than guess: T is older than the history
reaches (``reaches_back_to``), a change to undo does not say what it replaced, or the live
split was set after T by a change the history does not hold (a hand-edited flag file).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, PauseMark
from rolloutcli.judge.lifecycle import KILL_ACTIONS, ROLLBACK_ACTION
from rolloutcli.judge.position import audience_for
from rolloutcli.judge.stagestart import moves_split, split_moved_at
from rolloutcli.plan.model import Plan
from rolloutcli.support.timeutil import format_timestamp

TURN_ON_ACTIONS = frozenset({"on", "unkill"})
TOGGLE_ACTION = "on/off"
PAUSE_ACTIONS = frozenset({"pause", "resume"})


@dataclass(frozen=True)
class Replayed:
    """The flag's state at ``at`` and the history up to it (oldest first); ``undone``: how
    many later changes were taken back to get there."""

    at: datetime
    state: FlagState
    history: tuple[ChangeRecord, ...]
    undone: int


@dataclass(frozen=True)
class Unreplayable:
    """Why the state at ``at`` cannot be known from the history (one line, no platform
    name: the caller adds where it read from)."""

    at: datetime
    why: str


def replay(
    plan: Plan,
    state: FlagState,
    history: Iterable[ChangeRecord],
    at: datetime,
    reaches_back_to: datetime | None = None,
) -> Replayed | Unreplayable:
    """The flag as it stood at ``at``, from ``state`` (read now) and the platform's
    ``history``, which holds every change since ``reaches_back_to`` (None: since the flag
    began)."""
    events = sorted(history, key=lambda r: r.at)
    if reaches_back_to is not None and at < reaches_back_to:
        return Unreplayable(
            at, f"its change history reaches back only to {format_timestamp(reaches_back_to)}"
        )
    before = tuple(r for r in events if r.at <= at)
    after = [r for r in events if r.at > at]
    unrecorded = _unrecorded_split_change(state, events)
    if unrecorded is not None and unrecorded > at:
        return Unreplayable(
            at,
            f"its live split was set at {format_timestamp(unrecorded)} by a change its "
            "history does not hold (a hand edit, or a history that was not kept), so what "
            "it served before is unknown",
        )
    if not after:
        return Replayed(at, state, before, 0)
    percent, on = state.percent, state.on
    for record in reversed(after):
        if moves_split(record):
            if record.percent_before is None:
                return Unreplayable(
                    at,
                    f"its history does not say what the split was before the "
                    f"{record.action} at {format_timestamp(record.at)}",
                )
            percent = record.percent_before
        on = _on_before(record, on)
    replayed = replace(
        state, on=on, percent=percent, paused=_pause_at(state.paused, before, after, at), notes=()
    )
    if any(moves_split(r) for r in after):
        replayed = _split_at(plan, replayed, before)
    return Replayed(at, replayed, before, len(after))


def _on_before(record: ChangeRecord, on: bool) -> bool:
    """Whether the flag was on before ``record``, given whether it was on after it."""
    if record.action in KILL_ACTIONS - {TOGGLE_ACTION}:
        return True
    if record.action in TURN_ON_ACTIONS:
        return False
    if record.action == TOGGLE_ACTION:
        return not on
    return on


def _split_at(plan: Plan, state: FlagState, before: tuple[ChangeRecord, ...]) -> FlagState:
    """The split facts at T once a later change is undone: the audience, stage and comment
    the last split change at or before T left, and no recorded start (the history at T
    dates the stage, as ``judge.stagestart`` does)."""
    last = next((r for r in reversed(before) if moves_split(r)), None)
    keys: tuple[str, ...] = ()
    segment: str | None = None
    stage: str | None = None
    if last is not None and last.action != ROLLBACK_ACTION and last.plan is not None:
        index = next((i for i, s in enumerate(plan.stages) if s.label == last.stage), None)
        if index is not None:
            keys, segment = audience_for(plan, index)
            stage = last.stage
    return replace(
        state,
        audience_keys=keys,
        audience_segment=segment,
        split_changed_at=None,
        recorded_stage=stage,
        comment=last.comment if last is not None else None,
    )


def _pause_at(
    live: PauseMark | None,
    before: tuple[ChangeRecord, ...],
    after: list[ChangeRecord],
    at: datetime,
) -> PauseMark | None:
    """The pause mark at T: the one the last pause or resume at or before T left (the live
    mark when it is that pause); with none before T, the live mark unless a later pause
    set it."""
    last = next((r for r in reversed(before) if r.action in PAUSE_ACTIONS), None)
    if last is not None:
        if last.action != "pause":
            return None
        if live is not None and live.at == last.at:
            return live
        return PauseMark(at=last.at, by=last.who, reason=last.reason)
    first_later = next((r for r in after if r.action in PAUSE_ACTIONS), None)
    if first_later is not None:
        return None if first_later.action == "pause" else live or PauseMark(None, None, None)
    if live is not None and live.at is not None and live.at > at:
        return None
    return live


def _unrecorded_split_change(state: FlagState, events: list[ChangeRecord]) -> datetime | None:
    """When the live split was set, where the state says so and no event in the history
    did it (a hand edit the flag file dates by its modification time)."""
    stamped = state.split_changed_at
    if stamped is None:
        return None
    latest = split_moved_at(events)
    return stamped if latest is None or stamped > latest else None
