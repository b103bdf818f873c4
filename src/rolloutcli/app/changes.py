"""The changes a person makes from the command line (advance, rollback, pause, resume): when
one has nothing to do, and what its decision record says about who decided.

Automatic changes (``watch --auto``) are :mod:`rolloutcli.app.watch`'s; both write through
:mod:`rolloutcli.app.apply`, which applies first and records after.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rolloutcli.app.apply import Journal, apply_recorded, pause_recorded
from rolloutcli.app.standing import Standing, apply_change
from rolloutcli.judge.flagstate import FlagState, RolloutChange
from rolloutcli.judge.lifecycle import Lifecycle, Phase
from rolloutcli.judge.prerequisites import unmet
from rolloutcli.judge.reasons import ReasonCode
from rolloutcli.support.timeutil import format_timestamp

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
    restarted: Lifecycle | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Standing:
    """Apply the advance a `go` proposed; recorded (with ``describe(evaluation)`` as the
    verdict) when there is a journal. ``restarted``: the rollback this advance restarts
    from (``advance --restart``), recorded as a ``restart`` decision. ``extra``: more for
    the record's decision (the checklist's answers, a window override). The standing after."""
    standing = evaluation.standing
    if journal is None:
        after = apply_change(standing, change, now)
    else:
        decision: dict[str, Any] = {"action": "advance", "reason": "--yes" if yes else "confirmed"}
        if restarted is not None:
            decision["action"] = "restart"
            decision["rolled_back"] = {
                "at": restarted.at,
                "by": restarted.by,
                "reason": restarted.why,
                "from_stage": restarted.from_stage,
                "from_percent": restarted.from_percent,
            }
        decision.update(extra or {})
        after = apply_recorded(
            journal, standing, change, now, verdict=describe(evaluation), decision=decision
        )
    return replace(standing, state=after)


def restarting(evaluation: Evaluation, restart: bool) -> Lifecycle | None:
    """The standing rollback ``advance --restart`` lifts; None when there is none (then
    ``--restart`` changes nothing)."""
    lifecycle = evaluation.standing.lifecycle
    return lifecycle if restart and lifecycle.phase is Phase.ROLLED_BACK else None


def advance_refusal(evaluation: Evaluation, restart: bool) -> str | None:
    """Why ``advance`` will not move this rollout, in one line naming the flag and the
    command that lifts it; None when it may. A rolled-back rollout needs ``--restart``; a
    paused one ``rollout resume``; a killed one ``rollout unkill`` (the verdict says so)."""
    standing = evaluation.standing
    lifecycle, name, flag = standing.lifecycle, standing.loaded.name, standing.state.flag
    when = f" at {format_timestamp(lifecycle.at)}" if lifecycle.at is not None else ""
    if lifecycle.phase is Phase.ROLLED_BACK and not restart:
        return (
            f"flag {flag} was rolled back{when}: nothing advances until a person restarts "
            f"it deliberately: rollout advance {name} --restart"
        )
    mark = lifecycle.pause
    if mark is not None and (lifecycle.phase is Phase.PAUSED or restart):
        since = f" since {format_timestamp(mark.at)}" if mark.at is not None else ""
        by = f" by {mark.by}" if mark.by else ""
        return f"flag {flag} is paused{since}{by}: rollout resume {name} first"
    return prerequisite_refusal(evaluation)


def prerequisite_refusal(evaluation: Evaluation) -> str | None:
    """Why an advance held by an unmet ``requires:`` flag does not move: the first such
    flag, as read and as needed. There is no override: the plan says the rollout needs it."""
    reasons = evaluation.verdict.reasons
    if not any(r.code is ReasonCode.PREREQUISITE_UNMET for r in reasons):
        return None
    waiting = unmet(evaluation.standing.prerequisites)
    if not waiting:
        return None
    first, more = waiting[0], len(waiting) - 1
    also = f" (and {more} more prerequisite{'s' if more != 1 else ''})" if more else ""
    return (
        f"flag {evaluation.standing.state.flag} waits for its prerequisite {first.flag}: "
        f"{first.flag} {first.state}, needs {first.needs}{also}; nothing was changed"
    )


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
) -> bool:
    """Pause or resume automatic advancing, recorded with the person's reason. False when
    it already was so."""
    return pause_recorded(journal, standing, paused, reason, now)
