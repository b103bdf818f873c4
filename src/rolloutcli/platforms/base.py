"""The verbs every flag platform adapter offers. Adapters read and write; they never decide."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..state import ChangeRecord, FlagState, RolloutChange


class Platform(Protocol):
    name: str
    environment: str

    def describe(self) -> str:
        """Where the flag lives, for messages (file path, project/environment)."""
        ...

    def read_state(self, treatment: object, control: object) -> FlagState:
        """The live split of ``treatment`` against ``control``, with when it last changed."""
        ...

    def set_rollout(
        self,
        change: RolloutChange,
        treatment: object,
        control: object,
        expected: FlagState,
        at: datetime | None = None,
    ) -> FlagState:
        """Apply ``change`` only if the flag is still as in ``expected`` (else ConflictError)."""
        ...

    def turn_off(self, plan: str | None, comment: str, at: datetime | None = None) -> bool:
        """Turn the flag off. Returns False when it already was off."""
        ...

    def set_paused(
        self, paused: bool, plan: str | None, by: str, reason: str, at: datetime | None = None
    ) -> bool:
        """Set (``paused``) or clear the hold on automatic advancing, recorded in the
        platform's change history as action ``pause`` / ``resume``. The split and the
        stage's start are untouched. Returns False when it already was so."""
        ...

    def history(self) -> list[ChangeRecord]:
        """Changes recorded on the platform, oldest first."""
        ...
