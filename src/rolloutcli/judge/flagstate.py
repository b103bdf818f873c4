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
class FlagShare:
    """Another flag as read for a prerequisite: whether it exists and is on, and the share
    of traffic it serves ``variation`` to whatever the context (rules that serve only some
    users not counted). ``problem``: why it could not be read (a missing flag, an answer
    the adapter does not understand); then nothing else is known."""

    flag: str
    variation: object
    found: bool
    on: bool = False
    percent: float = 0.0
    problem: str | None = None


@dataclass(frozen=True)
class PlatformPrerequisite:
    """A prerequisite the platform itself enforces on the flag (LaunchDarkly's
    ``prerequisites``, Unleash's feature dependencies): while it is unmet for a user, the
    platform serves them the flag's off variation. ``variation``: what the prerequisite
    must serve (Unleash: True for enabled, False for disabled); ``variants``: Unleash's
    required variants, if any; ``share``: the prerequisite flag as read."""

    flag: str
    variation: object
    share: FlagShare
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlagState:
    """The live rollout as read from the platform.

    ``percent`` is the treatment share of traffic outside the audience, 0-100.
    ``split_changed_at`` is when the live split was set, where the state itself records it
    (the flag file's metadata or modification time); None where only the change history
    can say (``judge.stagestart`` turns both into the stage start).
    ``recorded_stage`` is the stage the record of the live split names.
    ``version`` is an opaque token a conditional write compares against.
    ``paused`` is set while a person (or a pause verdict) holds automatic advancing.
    ``excluded_keys`` / ``excluded_segment``: who the platform serves the control whatever
    the split (the plan's ``exclude:``), as read back from the platform.
    """

    flag: str
    on: bool
    percent: float
    audience_keys: tuple[str, ...] = ()
    audience_segment: str | None = None
    split_changed_at: datetime | None = None
    recorded_stage: str | None = None
    comment: str | None = None
    version: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    paused: PauseMark | None = None
    excluded_keys: tuple[str, ...] = ()
    excluded_segment: str | None = None
    platform_prerequisites: tuple[PlatformPrerequisite, ...] = ()
    """The platform's own prerequisites of the flag, as read (none where it has none)."""


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
    record: str | None = None
    """The id of the decision record the change is written with, minted before the write
    so the note the platform keeps names it (None: no record is written)."""
    excluded_keys: tuple[str, ...] = ()
    excluded_segment: str | None = None
    """The plan's ``exclude:``: served the control before the audience and the split, in
    every change (an advance, a rollback), so no write ever drops it."""


@dataclass(frozen=True)
class ChangeRecord:
    """One change in the platform's history, normalised: when, what (``action``: advance,
    rollback, kill, pause, resume, edit, ...), the treatment share before and after where
    the platform says, the plan and stage the change names, the comment as the platform
    shows it, ``who`` made it where the platform says (None: it does not), and ``reason``,
    the why alone where the platform keeps it inside its own note (a pause's reason), and
    ``record``, the id of the decision record the change's note names (None: it names none,
    a hand edit or a note older than ids)."""

    at: datetime
    action: str
    percent_before: float | None
    percent_after: float | None
    stage: str | None
    plan: str | None
    comment: str
    who: str | None = None
    reason: str | None = None
    record: str | None = None


@dataclass(frozen=True)
class FlagReading:
    """The flag's state and its change history (oldest first), read together: one read of
    the history serves a whole check, status or watch round."""

    state: FlagState
    history: tuple[ChangeRecord, ...]
    reaches_back_to: datetime | None = None
    """The history holds every change since this time; None: since the flag began (or, for
    the flag file, since the tool first wrote it)."""


@dataclass(frozen=True)
class KnobReading:
    """A knob's companion flag (issue 21) as the platform serves it to everyone: ``value``
    (None when it serves no single value: a split, targeting rules, a flag that is off),
    when it was last changed (``since``) and by whom (``by``), where the platform says."""

    flag: str
    value: int | float | str | None
    since: datetime | None = None
    by: str | None = None
    note: str | None = None
    """Why ``value`` is None, or a caveat about ``since`` (a hand edit)."""
