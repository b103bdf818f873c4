"""Where a rollout stands in its plan, and the split each stage serves (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rolloutcli.judge.flagstate import ChangeRecord, FlagState
from rolloutcli.plan.model import Plan

_EPS = 1e-6


@dataclass(frozen=True)
class Position:
    """The plan stage the live split matches, and the stage a `go` moves to.

    ``index`` is None when the live percentage matches no stage: either the rollout has not
    started (0% and no audience) or someone set a percentage by hand (``off_plan``).
    """

    index: int | None
    next_index: int | None
    not_started: bool
    off_plan: bool

    @property
    def at_last_stage(self) -> bool:
        return self.index is not None and self.next_index is None


def locate(plan: Plan, state: FlagState) -> Position:
    stages = plan.stages
    has_audience = bool(state.audience_keys or state.audience_segment)
    for i, stage in enumerate(stages):
        if abs(stage.percent - state.percent) < _EPS and (stage.percent > 0 or has_audience):
            nxt = i + 1 if i + 1 < len(stages) else None
            return Position(index=i, next_index=nxt, not_started=False, off_plan=False)
    if state.percent < _EPS and not has_audience:
        return Position(index=None, next_index=0, not_started=True, off_plan=False)
    above = next((i for i, s in enumerate(stages) if s.percent > state.percent + _EPS), None)
    return Position(index=None, next_index=above, not_started=False, off_plan=True)


def audience_for(plan: Plan, index: int) -> tuple[tuple[str, ...], str | None]:
    """The audience served at stage ``index``: every allowlist so far, and the latest segment.

    An audience that went first keeps the treatment in later stages (nobody who had the
    feature loses it while the rollout moves on).
    """
    keys: list[str] = []
    segment: str | None = None
    for stage in plan.stages[: index + 1]:
        if stage.audience is None:
            continue
        for key in stage.audience.keys or ():
            if key not in keys:
                keys.append(key)
        if stage.audience.segment:
            segment = stage.audience.segment
    return tuple(keys), segment


def rollout_started_at(history: list[ChangeRecord], state: FlagState) -> datetime | None:
    """When the current rollout began: the first of the unbroken run of ``advance`` changes
    that led to the live split (a rollback, kill or hand edit breaks the run).

    Falls back to when the current stage began when the history does not reach back.
    """
    started: datetime | None = None
    for record in sorted(history, key=lambda r: r.at):
        if record.action == "advance":
            if started is None:
                started = record.at
        else:
            started = None
    if started is None or (state.changed_at is not None and started > state.changed_at):
        return state.changed_at
    return started
