"""Total deadlines: how long one HTTP call (or one whole `rollout kill`) may take, all
attempts, retries and backoff included.

A per-read timeout does not bound a call: a server that trickles one byte a second never
trips a 10 s read timeout. So every call gets an end time on the monotonic clock, and
everything it does (connecting, sending, waiting for headers, reading the body, sleeping
before a retry) is cut off there. ``ROLLOUT_HTTP_DEADLINE`` sets the default (20 s).

A :func:`budget` scope sets one end time for several calls at once and records every
attempt they make: ``rollout kill`` runs its platform calls inside one, so ``--deadline 20s``
bounds the whole kill, and it can say what it did ("3 requests (2 got HTTP 429), 1.3 s").

Standard library only: imported by ``rollout kill`` and the flag-file platform.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from rolloutcli.support.errors import InvalidInputError

ENV_DEADLINE = "ROLLOUT_HTTP_DEADLINE"
DEFAULT_DEADLINE = 20.0  # seconds
MAX_DEADLINE = 3600.0  # seconds: a longer wait is a typo, not a plan
_TEXT = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m)?$")
_UNIT = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0}


def parse_deadline(text: str, source: str) -> float:
    """``20``, ``2.5``, ``20s``, ``500ms``, ``1m`` → seconds. Raises InvalidInputError naming
    ``source`` (the option or variable the text came from)."""
    match = _TEXT.match(text.strip().lower())
    seconds = float(match.group(1)) * _UNIT[match.group(2)] if match else math.nan
    if not 0 < seconds <= MAX_DEADLINE:
        raise InvalidInputError(
            f"{source}={text!r}: give a number of seconds above 0 and at most "
            f"{MAX_DEADLINE:g}, e.g. 20 or 20s"
        )
    return seconds


def default_deadline(environ: Mapping[str, str] | None = None) -> float:
    """``$ROLLOUT_HTTP_DEADLINE`` in seconds if set and non-empty, else 20 s."""
    raw = (os.environ if environ is None else environ).get(ENV_DEADLINE, "").strip()
    return parse_deadline(raw, ENV_DEADLINE) if raw else DEFAULT_DEADLINE


@dataclass(frozen=True)
class Attempt:
    """One request sent (or tried) inside a budget, and how it ended."""

    backend: str
    method: str
    path: str
    outcome: str  # "HTTP 200", "HTTP 429", "timed out", "connection failed", "deadline"

    @property
    def ok(self) -> bool:
        return self.outcome.startswith("HTTP ") and self.outcome[5:6] in ("1", "2", "3")


@dataclass
class Budget:
    """One end time shared by every call made inside the scope, and what they tried."""

    seconds: float
    end: float  # time.monotonic()
    started: float
    backoff: tuple[float, ...] | None = None
    read_share: float = 1.0
    """The share of the time left a read (GET) may take: a kill's read of the flag before
    its write must leave the write time to be tried."""
    attempts: list[Attempt] = field(default_factory=list)

    def left(self) -> float:
        return self.end - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "rolloutcli_budget", default=None
)


@contextlib.contextmanager
def budget(
    seconds: float, backoff: tuple[float, ...] | None = None, read_share: float = 1.0
) -> Iterator[Budget]:
    """Within this block every call ends by ``seconds`` from now (or its own deadline, if
    sooner; a read by ``read_share`` of the time then left), retries on ``backoff`` when
    given, and records its attempts here."""
    now = time.monotonic()
    scope = Budget(
        seconds=seconds, end=now + seconds, started=now, backoff=backoff, read_share=read_share
    )
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)


def current() -> Budget | None:
    return _CURRENT.get()


def end_of_call(deadline: float, *, read: bool = False) -> float:
    """The monotonic time a call starting now must end by: its own ``deadline`` from now,
    or the enclosing budget's end if sooner (for a ``read``, its share of the time left)."""
    now = time.monotonic()
    end = now + deadline
    scope = _CURRENT.get()
    if scope is None:
        return end
    share = scope.read_share if read else 1.0
    return min(end, now + max(0.0, scope.end - now) * share)


def record(attempt: Attempt) -> None:
    scope = _CURRENT.get()
    if scope is not None:
        scope.attempts.append(attempt)
