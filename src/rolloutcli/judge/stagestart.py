"""When the current stage began, and when the current rollout run began: the one rule (pure).

Every platform reports the same two kinds of fact: its state, which may itself record when
the live split was set (``FlagState.split_changed_at``: the flag file's metadata, or its
modification time after a hand edit), and its normalised change events (``ChangeRecord``).
This module turns them into times; no adapter and no use case decides a stage start, and
elapsed time is measured from what :func:`stage_start` returns.

The stage began when the live split was set. Where the state itself records that, the
record wins: it dates the very split that is live, even when the history is missing, does
not reach back, or names later changes that were since undone (a flag file restored from a
copy). Where the state does not say, the last event that set the split dates it. Neither
known: the start is unknown (None).

A pause or resume moves no split, so it neither restarts the stage nor dates it; a kill
only turns the flag off, so the stage keeps its start (the verdict reads the flag's on/off).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rolloutcli.judge.flagstate import ChangeRecord, FlagState

SPLIT_ACTIONS = ("advance", "rollback", "reduce", "edit")
"""Actions that set the split even where the event does not say to what: the tool's own
moves (an ``advance`` onto a 0% stage that opens to an audience moves no percentage; a
``reduce`` back to an earlier stage) and a
hand edit LaunchDarkly's audit log records without the share it set."""

RUN_ACTION = "advance"
NEUTRAL_ACTIONS = ("pause", "resume", "on", "unkill")
"""Events that neither move the split nor stop serving the treatment, so they do not break
a run of advances: a pause held, then lifted, a flag turned on as its rollout starts
(Unleash logs that as advance, then on), or turned back on after a kill (``rollout
unkill``: the kill before it already broke the run). A rollback, a kill or a hand edit
does."""


@dataclass(frozen=True)
class StageStart:
    """When the current stage began and when the run of advances that led to it began.

    ``rollout`` is never later than ``stage``; both are None when unknown.
    """

    stage: datetime | None
    rollout: datetime | None

    def elapsed(self, now: datetime) -> timedelta | None:
        """How long the current stage has been running at ``now``; None when unknown."""
        return None if self.stage is None else now - self.stage


def moves_split(record: ChangeRecord) -> bool:
    """Whether ``record`` set the split: one of :data:`SPLIT_ACTIONS`, or any change that
    names a new share different from the one before (a hand edit, a removed strategy)."""
    if record.action in SPLIT_ACTIONS:
        return True
    return record.percent_after is not None and record.percent_after != record.percent_before


def split_moved_at(history: Iterable[ChangeRecord]) -> datetime | None:
    """When the latest event that set the split happened, in any order; None when no event
    in the history set it (the history does not reach back, or was never kept)."""
    return max((r.at for r in history if moves_split(r)), default=None)


def run_began_at(history: Iterable[ChangeRecord]) -> datetime | None:
    """The first of the unbroken run of ``advance`` events the history ends with (events in
    :data:`NEUTRAL_ACTIONS` between or after them aside); None when the run was broken
    after its last advance (a rollback, a kill, a hand edit)."""
    began: datetime | None = None
    for record in sorted(history, key=lambda r: r.at):
        if record.action == RUN_ACTION:
            began = began or record.at
        elif record.action not in NEUTRAL_ACTIONS:
            began = None
    return began


def stage_start(state: FlagState, history: Iterable[ChangeRecord]) -> StageStart:
    """The one stage-start rule: when the current stage and the current rollout began.

    The rollout began at the first advance of the run that led to the live split (a
    rollback, kill or hand edit breaks the run); when the history shows no such run, or one
    that began after the stage did (it does not reach back), the rollout began with the stage.
    """
    events = list(history)
    stage = state.split_changed_at
    if stage is None:
        stage = split_moved_at(events)
    run = run_began_at(events)
    if run is None or (stage is not None and run > stage):
        return StageStart(stage=stage, rollout=stage)
    return StageStart(stage=stage, rollout=run)
