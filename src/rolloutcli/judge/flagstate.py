"""What the flag platform says about a rollout right now (pure data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PauseMark:
    """A hold on automatic advancing, set on the platform by `rollout pause` (or by
    `watch --auto` on a pause verdict) and cleared by `rollout resume`."""

    at: datetime | None
    by: str | None
    reason: str | None


@dataclass(frozen=True)
class FlagState:
    """The live rollout as read from the platform.

    ``percent`` is the treatment share of traffic outside the audience, 0-100.
    ``changed_at`` is when the rollout last changed, from the platform's own record of the
    change (the stage began then); ``recorded_stage`` is the stage that record names.
    ``version`` is an opaque token a conditional write compares against.
    ``paused`` is set while a person (or a pause verdict) holds automatic advancing.
    """

    flag: str
    on: bool
    percent: float
    audience_keys: tuple[str, ...] = ()
    audience_segment: str | None = None
    changed_at: datetime | None = None
    recorded_stage: str | None = None
    comment: str | None = None
    version: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    paused: PauseMark | None = None


@dataclass(frozen=True)
class RolloutChange:
    """A change to apply: the new split and why (plan, stage, verdict) for the change record."""

    percent: float
    audience_keys: tuple[str, ...]
    audience_segment: str | None
    plan: str
    stage: str | None
    action: str
    comment: str
    turn_on: bool = False
    """Also turn the flag on: only when a rollout starts on a flag that is off."""


@dataclass(frozen=True)
class ChangeRecord:
    """One change in the platform's history."""

    at: datetime
    action: str
    percent_before: float | None
    percent_after: float | None
    stage: str | None
    plan: str | None
    comment: str
