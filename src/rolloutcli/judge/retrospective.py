"""A rollout looked back on (pure): time per stage, tiers fired, holds, rollbacks.

``rollout report`` evaluates the rollout at evenly spaced moments of its span and one
second before each decision (as ``check --at`` does, one :class:`Look` each) and reads its
decisions (the records and the platform's history, one :class:`Decision` each, oldest
first). From those, :func:`retrospect` says:

- how long each stage lasted against the window the plan gives it (the stage a decision
  moved the split to lasts until the next decision that moved it, or until the report's
  moment);
- how often each guardrail reached each tier (warn, pause, rollback), in looks;
- how often the verdict held, by cause (no data, SRM, power, the window, samples);
- each rollback, and whether a later restart reached a further stage without another;
- per guardrail, the pauses and rollbacks it caused (the guardrails a decision's recorded
  verdict found at a pause or rollback tier), and how many of those rollbacks a restart
  then advanced past (a threshold that may cry wolf).

No words here beyond the labels the plan and the records give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rolloutcli.plan.fields import TIERS
from rolloutcli.plan.model import Plan

SPLIT_EVENTS = frozenset({"start", "advance", "reduce", "rollback", "restart", "set"})
"""Decisions that move the split: each one opens a stage (or, a rollback, leaves them)."""


@dataclass(frozen=True)
class Decision:
    """One thing done to the rollout: the event (``advance``, ``pause``, ``rollback``,
    ...), when, who and why, the stage and share it left, and the lifecycle step it is."""

    at: datetime
    event: str
    who: str | None
    why: str
    stage: str | None
    percent: float | None
    step: str | None = None
    causes: tuple[str, ...] = ()
    """The guardrails the decision's recorded verdict found at a pause or rollback tier
    (none for a person's decision, or a record without its verdict)."""
    segments: tuple[tuple[str, str], ...] = ()
    """(guardrail, segment) for each guardrail the verdict found breached in one segment."""


@dataclass(frozen=True)
class Look:
    """The verdict at one moment: its kind, the reason codes of a hold, and each
    guardrail's status (``ok``, ``warn``, ``pause``, ``rollback``, ``no_data``, ...)."""

    at: datetime
    verdict: str
    reasons: tuple[str, ...]
    statuses: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StageTime:
    """A stage as it went: entered, left (None: still in it), time spent, time planned."""

    stage: str
    entered: datetime
    left: datetime | None
    spent: timedelta
    planned: timedelta | None

    @property
    def short(self) -> bool:
        """Left before its planned window elapsed (a rollback, a reduce, a hand edit)."""
        return self.left is not None and self.planned is not None and self.spent < self.planned


@dataclass(frozen=True)
class Rollback:
    at: datetime
    who: str | None
    why: str
    restarted: datetime | None
    """When a person restarted it (None: it stands)."""
    recovered: bool
    """A restart followed, and the rollout then advanced past its first stage without
    another rollback."""
    causes: tuple[str, ...] = ()
    """The guardrails that caused it, as its record says."""


@dataclass(frozen=True)
class Retrospective:
    stages: tuple[StageTime, ...]
    tiers: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    """Per guardrail (plan order), how many looks reached each tier (warn, pause, rollback)."""
    holds: tuple[tuple[str, int], ...]
    """Looks whose verdict held, by reason code, most frequent first."""
    looks: int
    rollbacks: tuple[Rollback, ...]
    pauses: int
    caused: tuple[tuple[str, int, int, int], ...] = ()
    """Per guardrail (plan order): pauses it caused, rollbacks it caused, and of those
    rollbacks the ones a restart then advanced past."""


def retrospect(
    plan: Plan, decisions: Sequence[Decision], looks: Sequence[Look], at: datetime
) -> Retrospective:
    """What the rollout's decisions (oldest first) and looks say, up to ``at``."""
    backs = rollbacks(decisions)
    return Retrospective(
        stages=stage_times(plan, decisions, at),
        tiers=tiers_fired(plan, looks),
        holds=hold_causes(looks),
        looks=len(looks),
        rollbacks=backs,
        pauses=sum(1 for d in decisions if d.event == "pause"),
        caused=caused(plan, decisions, backs),
    )


def stage_times(plan: Plan, decisions: Sequence[Decision], at: datetime) -> tuple[StageTime, ...]:
    """Each stage a split move opened, until the next split move (or ``at``)."""
    planned = {stage.label: stage.window for stage in plan.stages}
    moves = [d for d in decisions if d.event in SPLIT_EVENTS and d.at <= at]
    times: list[StageTime] = []
    for index, move in enumerate(moves):
        if move.event == "rollback" or move.stage is None:
            continue
        left = moves[index + 1].at if index + 1 < len(moves) else None
        spent = (left or at) - move.at
        times.append(StageTime(move.stage, move.at, left, spent, planned.get(move.stage)))
    return tuple(times)


def tiers_fired(
    plan: Plan, looks: Sequence[Look]
) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """Per guardrail, in the plan's order, the looks at each tier (zeros kept: a tier that
    never fired is worth seeing too)."""
    counts: dict[str, Counter[str]] = {g.name: Counter() for g in plan.guardrails}
    for look in looks:
        for name, status in look.statuses:
            if name in counts and status in TIERS:
                counts[name][status] += 1
    return tuple(
        (name, tuple((tier, counted[tier]) for tier in TIERS)) for name, counted in counts.items()
    )


def hold_causes(looks: Sequence[Look]) -> tuple[tuple[str, int], ...]:
    """Looks that held, counted by each reason they gave (most frequent first, then by
    name: a stable order)."""
    counted: Counter[str] = Counter()
    for look in looks:
        if look.verdict == "hold":
            counted.update(set(look.reasons))
    return tuple(sorted(counted.items(), key=lambda item: (-item[1], item[0])))


def rollbacks(decisions: Sequence[Decision]) -> tuple[Rollback, ...]:
    """Each rollback, the restart after it (if any) and whether the rollout then advanced
    again before any further rollback."""
    found: list[Rollback] = []
    for index, decision in enumerate(decisions):
        if decision.event != "rollback":
            continue
        later = list(decisions[index + 1 :])
        until = next((i for i, d in enumerate(later) if d.event == "rollback"), len(later))
        later = later[:until]
        restart = next((d for d in later if d.step == "restarted"), None)
        recovered = restart is not None and any(
            d.event == "advance" and d.at > restart.at for d in later
        )
        found.append(
            Rollback(
                decision.at,
                decision.who,
                decision.why,
                restart.at if restart is not None else None,
                recovered,
                decision.causes,
            )
        )
    return tuple(found)


def caused(
    plan: Plan, decisions: Sequence[Decision], backs: Sequence[Rollback]
) -> tuple[tuple[str, int, int, int], ...]:
    """Per guardrail, in the plan's order: the pauses and the rollbacks whose recorded
    verdict names it, and how many of those rollbacks recovered."""
    return tuple(
        (
            g.name,
            sum(1 for d in decisions if d.event == "pause" and g.name in d.causes),
            sum(1 for r in backs if g.name in r.causes),
            sum(1 for r in backs if r.recovered and g.name in r.causes),
        )
        for g in plan.guardrails
    )
