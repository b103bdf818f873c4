"""The verbs every flag platform adapter offers. Adapters read and write; they never decide."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from rolloutcli.judge.flagstate import (
    ChangeRecord,
    FlagReading,
    FlagShare,
    FlagState,
    KnobReading,
    RolloutChange,
)
from rolloutcli.support.errors import BackendError

VERBS = (
    "read",
    "is_on",
    "read_state",
    "history",
    "set_rollout",
    "turn_off",
    "turn_on",
    "set_paused",
    "validate_change",
    "serving_sample",
    "explain",
    "read_share",
    "read_knob",
    "set_knob",
)
SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)
C = TypeVar("C", bound=type)


def answers_checked(cls: C) -> C:
    """Make every verb of an adapter class fail in one line on an answer whose shape its
    API does not document (a list where an object was due, a missing key, a string for a
    number), instead of a traceback. The adapters read answers defensively where it
    matters for safety (the kill's read, the split); this is the net under the rest: the
    error names the platform and what went wrong, exit 3, and nothing more is written."""
    platform = getattr(cls, "name", cls.__name__)
    hint = getattr(cls, "shape_hint", DEFAULT_SHAPE_HINT)
    for verb in VERBS:
        method = getattr(cls, verb, None)
        if callable(method):
            setattr(cls, verb, _checked(method, platform, hint))
    return cls


DEFAULT_SHAPE_HINT = (
    "check that the URL points at the platform's API, not a proxy or a login page; nothing "
    "more was written"
)


def _checked(method: Callable[..., Any], platform: str, hint: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def verb(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SHAPE_ERRORS as exc:
            detail = " ".join(str(exc).split())[:160]
            kind = type(exc).__name__
            raise BackendError(
                platform,
                f"unexpected content, not in the documented format ({kind}: {detail})",
                hint=hint,
            ) from exc

    return verb


class Platform(Protocol):
    name: str
    environment: str

    def describe(self) -> str:
        """Where the flag lives, for messages (file path, project/environment)."""
        ...

    def read(self, treatment: object, control: object) -> FlagReading:
        """The live state and the change history, the history read once for both: facts
        only (when a stage began is ``judge.stagestart``'s to say)."""
        ...

    def is_on(self) -> bool:
        """Whether the flag is on (serving its rules) in this environment: all a kill needs
        to know, read without the plan's variations (``kill --dry-run``)."""
        ...

    def read_state(self, treatment: object, control: object) -> FlagState:
        """The live split of ``treatment`` against ``control``, on/off, audience and pause
        mark (and, where the state records it, when the split was set)."""
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

    def turn_off(
        self, plan: str | None, comment: str, at: datetime | None = None, record: str | None = None
    ) -> bool:
        """Turn the flag off. Returns False when it already was off. ``record`` (here and in
        every writing verb, as ``RolloutChange.record`` in ``set_rollout``): the id of the
        decision record written with the change, for the note the platform keeps."""
        ...

    def turn_on(
        self,
        plan: str | None,
        comment: str,
        at: datetime | None = None,
        by: str | None = None,
        record: str | None = None,
    ) -> bool:
        """Turn a killed flag back on, the split untouched (a kill leaves it as it was),
        recorded in the platform's change history as action ``unkill``. Returns False when
        it already was on. ``by``: who, where the platform does not know it itself."""
        ...

    def set_paused(
        self,
        paused: bool,
        plan: str | None,
        by: str,
        reason: str,
        at: datetime | None = None,
        record: str | None = None,
    ) -> bool:
        """Set (``paused``) or clear the hold on automatic advancing, recorded in the
        platform's change history as action ``pause`` / ``resume``. The split and the
        stage's start are untouched. Returns False when it already was so."""
        ...

    def history(self) -> list[ChangeRecord]:
        """Changes recorded on the platform, oldest first."""
        ...


# ------------------------------------------------------------------ optional capabilities
# A platform that can do more declares it by having these verbs; callers ask with
# isinstance(platform, ValidatesChanges) instead of probing for attributes by name.


@runtime_checkable
class ValidatesChanges(Protocol):
    """The platform validates a change without saving it (LaunchDarkly's ``dryRun``)."""

    def validate_change(
        self, change: RolloutChange, treatment: object, control: object, expected: FlagState
    ) -> None: ...


@runtime_checkable
class ReadsOtherFlags(Protocol):
    """The platform reads another flag of the same project and environment, for a plan's
    ``requires:``: whether it exists and is on, and the share it serves ``variation`` to.
    A missing flag is a :class:`FlagShare` with ``found=False``, not an error."""

    def read_share(self, flag: str, variation: object) -> FlagShare: ...


@runtime_checkable
class EvaluatesOffline(Protocol):
    """The platform's own SDK evaluates the flag as it is now, offline: ``verify`` and
    ``who`` check what is really served."""

    def serving_sample(
        self, treatment: object, control: object, sample: int
    ) -> tuple[int, int]: ...

    def explain(self, treatment: object, control: object, key: str) -> tuple[object, str]: ...


@runtime_checkable
class TunesKnobs(Protocol):
    """The platform reads and sets knobs (issue 21): companion flags on the same
    environment whose one value, a number or a string, is served to everyone."""

    def read_knob(self, flag: str) -> KnobReading:
        """The value flag ``flag`` serves everyone (None when it serves no single value,
        with a note saying why), and since when and by whom where the platform says."""
        ...

    def set_knob(
        self,
        flag: str,
        value: object,
        expected: KnobReading,
        plan: str,
        comment: str,
        at: datetime | None = None,
        record: str | None = None,
        by: str | None = None,
    ) -> KnobReading:
        """Serve ``value`` to everyone, only if the flag still serves ``expected.value``
        (else ConflictError); the change note names ``record``. Returns the reading after."""
        ...
