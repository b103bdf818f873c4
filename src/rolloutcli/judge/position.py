"""Where a rollout stands in its plan, and the split each stage serves (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, KnobReading
from rolloutcli.judge.knobs import restart_at_knob_changes
from rolloutcli.judge.stagestart import StageStart, stage_start
from rolloutcli.plan.model import Plan

_EPS = 1e-6


@dataclass(frozen=True)
class Position:
    """The plan stage the live split matches, and the stage a `go` moves to.

    ``index`` is None when the live percentage matches no stage: either the rollout has not
    started (0% and no audience) or someone set a percentage by hand (``off_plan``).
    ``started`` says when the live split's stage and the run of advances to it began
    (``judge.stagestart``).
    """

    index: int | None
    next_index: int | None
    not_started: bool
    off_plan: bool
    started: StageStart
    knob_changed: datetime | None = None
    """When one of the plan's knobs changed after the stage began: the stage's evidence
    (its window, its minimum duration) starts again from then (``judge.knobs``)."""

    @property
    def at_last_stage(self) -> bool:
        return self.index is not None and self.next_index is None

    @property
    def stage_began(self) -> datetime | None:
        return self.started.stage

    @property
    def rollout_began(self) -> datetime | None:
        return self.started.rollout

    @property
    def evidence_began(self) -> datetime | None:
        """Where the stage's evidence starts: the stage's start, or a later knob change."""
        return self.knob_changed or self.started.stage

    def stage_elapsed(self, now: datetime) -> timedelta | None:
        """How long the live split's stage has gathered evidence at ``now`` (since its
        start, or a later knob change); None when unknown."""
        began = self.evidence_began
        return None if began is None else now - began


def locate(
    plan: Plan,
    state: FlagState,
    history: Iterable[ChangeRecord] = (),
    knobs: Iterable[KnobReading] = (),
) -> Position:
    """The plan stage of the live split, and when it (and the rollout) began according to
    ``state`` and the platform's change ``history``; a later change of one of the plan's
    ``knobs`` restarts the stage (:func:`~rolloutcli.judge.knobs.restart_at_knob_changes`)."""
    started = stage_start(state, history)
    restarted = restart_at_knob_changes(started, knobs).stage
    changed = restarted if restarted != started.stage else None
    stages = plan.stages
    has_audience = bool(state.audience_keys or state.audience_segment)
    for i, stage in enumerate(stages):
        if abs(stage.percent - state.percent) < _EPS and (stage.percent > 0 or has_audience):
            nxt = i + 1 if i + 1 < len(stages) else None
            return Position(i, nxt, False, False, started, changed)
    if state.percent < _EPS and not has_audience:
        return Position(None, 0, not_started=True, off_plan=False, started=started)
    above = next((i for i, s in enumerate(stages) if s.percent > state.percent + _EPS), None)
    return Position(None, above, False, True, started, changed)


def exclusion_for(plan: Plan) -> tuple[tuple[str, ...], str | None]:
    """The plan's ``exclude:`` as (keys, segment): the same in every stage."""
    if plan.exclude is None:
        return (), None
    return tuple(plan.exclude.keys or ()), plan.exclude.segment


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
