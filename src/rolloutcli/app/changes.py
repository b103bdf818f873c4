"""The changes a person makes from the command line (advance, rollback, pause, resume): when
one has nothing to do, and what its decision record says about who decided.

Automatic changes (``watch --auto``) are :mod:`rolloutcli.app.watch`'s; both write through
:mod:`rolloutcli.app.apply`, which applies first and records after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rolloutcli.app.apply import Journal, apply_recorded, pause_recorded
from rolloutcli.app.standing import Standing, apply_change
from rolloutcli.judge.flagstate import FlagState, RolloutChange

if TYPE_CHECKING:
    from rolloutcli.app.evaluate import Evaluation


def apply_advance(
    evaluation: Evaluation,
    change: RolloutChange,
    now: datetime,
    journal: Journal | None,
    *,
    yes: bool,
    describe: Callable[[Evaluation], dict[str, Any]],
) -> Standing:
    """Apply the advance a `go` proposed; recorded (with ``describe(evaluation)`` as the
    verdict) when there is a journal. The standing after it."""
    standing = evaluation.standing
    if journal is None:
        after = apply_change(standing, change, now)
    else:
        decision = {"action": "advance", "reason": "--yes" if yes else "confirmed"}
        after = apply_recorded(
            journal, standing, change, now, verdict=describe(evaluation), decision=decision
        )
    return replace(standing, state=after)


def serves_control_to_all(state: FlagState) -> bool:
    """Nothing to roll back: no treatment share and no targeted audience."""
    return state.percent == 0 and not state.audience_keys and not state.audience_segment


def apply_rollback(
    journal: Journal, standing: Standing, change: RolloutChange, reason: str, now: datetime
) -> FlagState:
    """Apply a rollback a person asked for, recorded with their reason."""
    decision = {"action": "rollback", "reason": reason}
    return apply_recorded(journal, standing, change, now, decision=decision)


def already_paused(standing: Standing, paused: bool) -> bool:
    """Whether the rollout already is as ``paused`` asks (so nothing is to change)."""
    return (standing.state.paused is not None) == paused


def set_paused(
    journal: Journal, standing: Standing, paused: bool, reason: str, now: datetime
) -> None:
    """Pause or resume automatic advancing, recorded with the person's reason."""
    pause_recorded(journal, standing, paused, reason, now)
