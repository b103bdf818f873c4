"""What a plan lock is, whatever holds it (planlock.py: the file; pglock.py: PostgreSQL):
the plan's identity and its key, a held lock (:class:`Lease`), or another's (:class:`Busy`)."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class PlanKey:
    """What identifies a rollout across machines: the plan's name, its flag, the flag's
    environment."""

    plan: str
    flag: str
    environment: str

    @property
    def advisory_key(self) -> int:
        """The PostgreSQL advisory lock key: the first 8 bytes of the SHA-256 of
        ``rolloutcli:<plan>\\n<flag>\\n<environment>``, as a signed 64-bit integer. Stable
        across machines, versions and Python runs (unlike ``hash()``)."""
        text = f"rolloutcli:{self.plan}\n{self.flag}\n{self.environment}"
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @property
    def file_name(self) -> str:
        """The lock file's name: the plan's name, any character unsafe in a file name as
        ``_``."""
        return _UNSAFE.sub("_", self.plan) + ".lock"


@dataclass(frozen=True)
class Busy:
    """Another watcher holds the plan's lock."""

    holder: str | None = None
    """Who, where, since when, where known (e.g. ``pid 4242 on runner-3 since ...``)."""


@dataclass
class Lease:
    """A plan lock held until :meth:`release` (or the end of the ``with`` block)."""

    warning: str | None = None
    """Set when the lock is weaker than asked (the store was unreachable: this machine only)."""
    _releases: list[Callable[[], None]] = field(default_factory=list)

    def also(self, release: Callable[[], None]) -> None:
        """Hold one more lock with this one: ``release`` lets it go (the last taken first)."""
        self._releases.append(release)

    def release(self) -> None:
        """Let the next watcher act; never fails (a lock that cannot be released explicitly
        goes with its file descriptor or its connection)."""
        while self._releases:
            with contextlib.suppress(Exception):  # the lock dies with its fd or session
                self._releases.pop()()

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def describe_holder(pid: int, host: str, since: str) -> str:
    """Who holds a lock, as read back from a lock file or another session: the host and
    time are whatever was written there, so a name that is not plain is shown quoted."""
    from rolloutcli.support.quoting import looks_like_key, quote

    shown = host if looks_like_key(host) else quote(host)
    when = since if looks_like_key(since.replace(":", "")) else quote(since)
    return f"pid {pid} on {shown} since {when}"
