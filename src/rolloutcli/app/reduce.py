"""Step a rollout back to an earlier stage and pause it there (issue 21's ``reduce``).

A reduce is two writes: the split back to the earlier stage (recorded as event ``reduce``,
notified as ``reduce``), then the pause mark, so that automatic advancing stops until
``rollout resume`` (recorded as ``pause``, not notified again: the reduce said it). The
split goes first because its write is conditional on the flag as read; a pause mark set
first would change the flag under it. A failed pause after an applied reduce leaves the
rollout at the lower stage, unpaused, and is that command's error (the record says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from rolloutcli.app.apply import Journal, apply_recorded, pause_recorded
from rolloutcli.app.standing import Standing
from rolloutcli.judge.flagstate import FlagState, RolloutChange
from rolloutcli.judge.position import audience_for, exclusion_for, locate
from rolloutcli.support.errors import InvalidInputError, RefusedError

COMMAND = "reduce"


def reduce_index(standing: Standing, to: str | None) -> int:
    """The stage a person's ``rollout reduce`` steps back to: ``--to`` (a stage's name or
    percentage, below the current one), else the previous stage. A rollout that is not at
    a plan stage above the first has nowhere to step back to: refused (exit 1)."""
    plan, current = standing.loaded.plan, standing.position.index
    if current is None or current == 0:
        where = "at its first stage" if current == 0 else "not at a plan stage"
        raise RefusedError(
            f"the rollout is {where}: nothing to step back to "
            f"(rollout rollback {standing.loaded.name} sets 0%)"
        )
    if to is None:
        return current - 1
    index = plan.stage_index(to)
    if index is None:
        labels = ", ".join(s.label for s in plan.stages)
        raise InvalidInputError(f"--to {to!r} names no stage of the plan (stages: {labels})")
    if index >= current:
        raise InvalidInputError(
            f"--to {plan.stages[index].label} is not below the current stage "
            f"{plan.stages[current].label}: reduce steps back"
        )
    return index


def reduce_change(standing: Standing, index: int, reason: str) -> RolloutChange:
    """The split of stage ``index`` (with its audience and the plan's exclusion, which every
    change writes: a change without it would take it off the platform), as a ``reduce``."""
    loaded = standing.loaded
    stage = loaded.plan.stages[index]
    keys, segment = audience_for(loaded.plan, index)
    excluded_keys, excluded_segment = exclusion_for(loaded.plan)
    before = standing.state.percent
    return RolloutChange(
        percent=stage.percent,
        audience_keys=keys,
        audience_segment=segment,
        excluded_keys=excluded_keys,
        excluded_segment=excluded_segment,
        plan=loaded.name,
        stage=stage.label,
        action=COMMAND,
        comment=f"rolloutcli: plan {loaded.name} reduced {before:g}% → stage {stage.label} "
        f"({stage.percent:g}%), paused: {reason}",
    )


def pause_reason(standing: Standing, change: RolloutChange, reason: str) -> str:
    """The pause mark's reason: where from, where to, and why."""
    return f"reduced {standing.state.percent:g}% → {change.stage}: {reason}"


def reduce_recorded(
    journal: Journal,
    standing: Standing,
    change: RolloutChange,
    reason: str,
    at: datetime,
    *,
    verdict: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
) -> FlagState:
    """Apply the reduce, then mark the rollout paused at the stage it reduced to."""
    after = apply_recorded(journal, standing, change, at, verdict=verdict, decision=decision)
    plan = standing.loaded.plan
    reduced = replace(standing, state=after, position=locate(plan, after))
    why = pause_reason(standing, change, reason)
    pause_recorded(
        journal, reduced, True, why, at, verdict=verdict, decision=decision, notify=False
    )
    return after
