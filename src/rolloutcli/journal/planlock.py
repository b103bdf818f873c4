"""One actor per plan: a watcher acts on a plan (and notifies) only while it holds the plan's
lock, so two watchers never both act for the same plan.

* Always, a lock file per plan beside the plans, ``.rollout/locks/<plan>.lock``, held with
  ``flock(LOCK_EX | LOCK_NB)``: watchers on one machine (sharing the plans folder) take
  turns. The holder writes who it is into the file, for the one turned away to say.
* With a PostgreSQL records store, in addition a session-level advisory lock on a
  connection of its own (pglock.py): watchers on different machines sharing the store take
  turns.

A lock is never waited for: a plan whose lock is held is skipped (:class:`Busy`), another
watcher is acting on it. Nothing can stay locked by a dead watcher: the kernel drops a
flock when its process dies (``kill -9`` included), and PostgreSQL drops a session's
advisory locks when the session ends (the process died, or its connection broke).

A store that cannot be reached never blocks an action (a rollback least of all): the
watcher acts under the file lock alone, with a warning. That round, only watchers on the
same machine are kept out; one on another machine that does reach the store may act on the
same plan too, and its write then meets the platform's conflict check (the flag changed
since it was read: nothing is written) unless it read the flag after this one's change.

Standard library only until a PostgreSQL lock is taken, like records.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from rolloutcli.journal.lease import Busy, Lease, PlanKey, describe_holder
from rolloutcli.journal.records import is_url

__all__ = ["LOCKS_DIR", "Busy", "Lease", "PlanKey", "file_lock", "try_lock"]

LOCKS_DIR = ".rollout/locks"


def try_lock(records: str | Path, base_dir: Path, key: PlanKey) -> Lease | Busy:
    """The plan's lock, never waited for: a :class:`Lease`, or :class:`Busy` when another
    watcher holds it. ``records``: where the decision records go (a ``postgresql://`` URL
    adds the store's advisory lock); ``base_dir``: the plans' folder."""
    lease = file_lock(base_dir / LOCKS_DIR / key.file_name)
    if isinstance(lease, Busy) or not is_url(records):
        return lease
    from rolloutcli.journal.pglock import advisory_lock
    from rolloutcli.journal.pgstore import StoreError

    try:
        held = advisory_lock(str(records), key)
    except StoreError as exc:
        lease.warning = (
            f"plan lock not taken in the records store ({exc}); acting under this "
            "machine's lock only, watchers elsewhere are not kept out this round"
        )
        return lease
    if isinstance(held, Busy):
        lease.release()
        return held
    lease.also(held.release)
    return lease


def file_lock(path: Path) -> Lease | Busy:
    """``flock`` on ``path`` (created if missing, never through a symbolic link). A lock
    file that cannot be used never blocks the action: a Lease that holds nothing, with a
    warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        return Lease(warning=f"plan lock file {path} cannot be used ({_reason(exc)}): not locked")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        return Busy(holder)
    except OSError as exc:
        os.close(fd)
        return Lease(warning=f"plan lock file {path} cannot be used ({_reason(exc)}): not locked")
    _stamp(fd)
    lease = Lease()
    lease.also(lambda: os.close(fd))
    return lease


def _stamp(fd: int) -> None:
    """Write who holds the lock into its file (best effort: only ever shown)."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8") + b"\n", 0)


def _holder(fd: int) -> str | None:
    """Who the lock file says holds it; None if it does not say (yet)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return describe_holder(int(data["pid"]), str(data["host"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
