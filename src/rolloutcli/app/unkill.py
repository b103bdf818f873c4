"""`rollout unkill` as a use case: what turning a killed flag back on will serve, and doing
it deliberately, then recording and notifying (as every change: apply first, see
:mod:`rolloutcli.app.apply`).

A kill only turns the flag off; the split stays as it was on every platform. So turning it
back on serves that split again, at once: the description says which share, and a rollout
that stands rolled back stays rolled back (0%) until ``rollout advance PLAN --restart``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from rolloutcli.app.apply import Journal, subject_of
from rolloutcli.app.standing import Standing
from rolloutcli.journal import record as audit
from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.lifecycle import serves_nobody, standing_rollback
from rolloutcli.support.errors import RolloutError

DEFAULT_REASON = "turned back on by a person"
COMMAND: Final = "unkill"


@dataclass(frozen=True)
class Unkill:
    """What ``rollout unkill`` would do to this rollout."""

    standing: Standing

    @property
    def needed(self) -> bool:
        """The flag is off: there is something to turn on."""
        return not self.standing.state.on

    @property
    def rolled_back(self) -> bool:
        """A rollback stands under the kill: turning the flag on serves nobody the
        treatment, and the rollout stays rolled back."""
        state = self.standing.state
        return serves_nobody(state) and standing_rollback(self.standing.history) is not None

    def serves(self) -> str:
        """What is served once the flag is on, in words: ``10% treatment will be served
        again``."""
        state, name = self.standing.state, self.standing.loaded.name
        if self.rolled_back:
            return (
                "the rollout stays rolled back: nobody is served the treatment (0%); "
                f"rollout advance {name} --restart starts it again"
            )
        served = audience_text(state)
        if served is None:
            return "nobody is served the treatment (0%)"
        return f"{served} will be served again"


def audience_text(state: FlagState) -> str | None:
    """``10% treatment``, ``treatment to 3 listed users``, ``treatment to segment beta and
    10% of the rest``; None when nobody gets it."""
    audience: list[str] = []
    if state.audience_keys:
        count = len(state.audience_keys)
        audience.append(f"{count} listed user{'s' if count != 1 else ''}")
    if state.audience_segment:
        audience.append(f"segment {state.audience_segment}")
    share = f"{state.percent:g}%" if state.percent > 0 else None
    if not audience:
        return f"{share} treatment" if share else None
    rest = f" and {share} of the rest" if share else ""
    return "treatment to " + " and ".join(audience) + rest


def unkill_recorded(
    journal: Journal, unkill: Unkill, reason: str, decided: str, at: datetime
) -> bool:
    """Turn the flag back on, then write the decision record (event ``unkill``, or
    ``failed``) and notify. Returns False when it already was on (recorded as
    ``unchanged``, not notified)."""
    standing = unkill.standing
    subject = subject_of(standing)
    state = standing.state
    stage = standing.lifecycle.stage
    record_id = audit.new_record_id()  # before the write: the platform's note names it
    common: dict[str, Any] = {
        "subject": subject,
        "who": journal.who,
        "at": at,
        "command": journal.command,
        "decision": {"action": COMMAND, "reason": decided},
        "before": audit.state_json(state, stage),
        "extra": {"reason": reason, "rolled_back": unkill.rolled_back},
        "record_id": record_id,
    }
    try:
        changed = standing.platform.turn_on(
            standing.loaded.name, reason, at, by=journal.who, record=record_id
        )
    except RolloutError as exc:
        journal.write(audit.record(event=COMMAND, result="failed", error=str(exc), **common))
        raise
    after = audit.state_json(state, stage)
    if after is not None:
        after["on"] = True
    result = "applied" if changed else "unchanged"
    journal.write(audit.record(event=COMMAND, result=result, after=after, **common))
    if changed:
        journal.notify(
            COMMAND,
            subject,
            standing.loaded.plan.notifications.webhooks,
            at,
            stage_after=stage,
            percent_after=state.percent,
            reasons=(reason, unkill.serves()),
        )
    return changed
