"""What a writing command did, as one typed result: the rollout before and after, whether
the change was applied (or already so, or only shown), the decision record it wrote and how
its notifications went. ``--json`` prints it (``render.contract.write_json``).

Light (no statistics, no pydantic at import): `rollout kill` builds one too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Final

from rolloutcli.judge.flagstate import FlagState, PauseMark, RolloutChange

if TYPE_CHECKING:
    from rolloutcli.app.apply import Journal
    from rolloutcli.app.standing import Standing
    from rolloutcli.journal.notify import Delivery

APPLIED: Final = "applied"
"""The change was made."""
UNCHANGED: Final = "unchanged"
"""Nothing to do: the flag already was as asked (or a verdict other than go held it)."""
DRY_RUN: Final = "dry_run"
"""``--dry-run``: the change was shown, nothing was written."""
REFUSED: Final = "refused"
"""The command would not make the change (no ``--yes``, declined, paused, rolled back)."""


@dataclass(frozen=True)
class Snapshot:
    """The rollout at one moment, as a script compares it: None where the command cannot
    know (a kill with no plan knows only whether the flag is on)."""

    on: bool | None
    percent: float | None = None
    stage: str | None = None
    phase: str | None = None
    paused: bool | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """One writing command's result (README, "JSON output")."""

    command: str
    action: str
    result: str
    flag: str
    platform: str
    where: str
    plan: str | None = None
    environment: str | None = None
    before: Snapshot | None = None
    after: Snapshot | None = None
    reason: str | None = None
    record_id: str | None = None
    deliveries: tuple[Delivery, ...] = ()
    validated_by: str | None = None
    """``--dry-run``: the platform that validated the change unsaved, where one can."""
    error: str | None = None
    """Why it was refused."""

    def settled(self, result: str, journal: Journal | None = None) -> WriteOutcome:
        """This outcome with its result, and the record and notifications ``journal`` kept."""
        if journal is None:
            return replace(self, result=result)
        return replace(
            self,
            result=result,
            record_id=journal.record_id,
            deliveries=tuple(journal.deliveries),
        )

    def refused(self, why: str) -> WriteOutcome:
        return replace(self, result=REFUSED, error=why, after=None)


def before_of(standing: Standing) -> Snapshot:
    """The rollout as the command read it."""
    state, lifecycle = standing.state, standing.lifecycle
    return Snapshot(
        on=state.on,
        percent=state.percent,
        stage=lifecycle.stage,
        phase=lifecycle.phase.value,
        paused=state.paused is not None,
    )


def after_of(
    standing: Standing,
    after: FlagState,
    action: str,
    at: datetime,
    *,
    stage: str | None = None,
    comment: str = "",
) -> Snapshot:
    """The rollout once ``action`` left the flag ``after`` (its lifecycle derived as the
    next reading of the platform will derive it)."""
    from rolloutcli.app.standing import lifecycle_after

    lifecycle = lifecycle_after(standing, after, action, at, comment)
    return Snapshot(
        on=after.on,
        percent=after.percent,
        stage=stage if stage is not None else lifecycle.stage,
        phase=lifecycle.phase.value,
        paused=after.paused is not None,
    )


def paused_state(state: FlagState, paused: bool, who: str, reason: str, at: datetime) -> FlagState:
    """``state`` with the pause mark set (or cleared), as ``pause``/``resume`` leave it."""
    return replace(state, paused=PauseMark(at, who, reason) if paused else None)


def proposed_state(state: FlagState, change: RolloutChange) -> FlagState:
    """The flag as ``change`` will leave it (``--dry-run``'s ``after``)."""
    return replace(
        state,
        on=state.on or change.turn_on,
        percent=change.percent,
        audience_keys=change.audience_keys,
        audience_segment=change.audience_segment,
        excluded_keys=change.excluded_keys,
        excluded_segment=change.excluded_segment,
    )


def outcome_for(standing: Standing, command: str, action: str, result: str) -> WriteOutcome:
    """A plan's outcome, before anything is done: who, where, and the rollout as read."""
    plan = standing.loaded.plan
    return WriteOutcome(
        command=command,
        action=action,
        result=result,
        flag=plan.flag,
        platform=plan.platform.kind,
        where=standing.platform.describe(),
        plan=standing.loaded.name,
        environment=plan.platform.environment,
        before=before_of(standing),
    )
