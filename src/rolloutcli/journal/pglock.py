"""A plan's lock in the PostgreSQL records store: ``pg_try_advisory_lock(key)``, session
level, on a connection opened for it alone and held until the lease is released (then
unlocked and closed). The key is :attr:`PlanKey.advisory_key` (lease.py).

Session level, not transaction level, because the action runs outside any transaction of
this connection; and PostgreSQL releases a session's advisory locks when the session ends,
so a watcher killed while acting, or whose network went away, holds nothing once the
server sees the connection gone. The connection's ``application_name`` says who holds it,
which the watcher turned away reads back from ``pg_stat_activity``.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rolloutcli.journal.lease import Busy, Lease, PlanKey, describe_holder
from rolloutcli.journal.pgstore import CONNECT_TIMEOUT, StoreError, _first_line
from rolloutcli.support.redact import display_url, register_url

if TYPE_CHECKING:
    import psycopg

_HOLDER = """
SELECT a.application_name, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = %s AND l.objid::bigint = %s
"""
_PREFIX = "rollout watch "


def advisory_lock(url: str, key: PlanKey) -> Lease | Busy:
    """Take ``key``'s advisory lock without waiting: a Lease holding the connection, or Busy
    (with the holder's pid, host and since when). StoreError when the store cannot be
    reached."""
    import psycopg

    register_url(url)
    where = display_url(url)
    name = f"{_PREFIX}{os.getpid()}@{socket.gethostname()}"[:63]
    try:
        conn = psycopg.connect(
            url, connect_timeout=CONNECT_TIMEOUT, autocommit=True, application_name=name
        )
    except psycopg.Error as exc:
        raise StoreError(where, f"cannot connect: {_first_line(exc)}") from exc
    try:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key.advisory_key,)).fetchone()
        if row is not None and row[0]:
            lease = Lease()
            lease.also(lambda: _unlock(conn, key))
            return lease
        holder = _holder(conn, key)
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(where, f"cannot take the plan lock: {_first_line(exc)}") from exc
    conn.close()
    return Busy(holder)


def _unlock(conn: psycopg.Connection[Any], key: PlanKey) -> None:
    """Unlock, then close (closing alone would release it too)."""
    try:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key.advisory_key,))
    finally:
        conn.close()


def _holder(conn: psycopg.Connection[Any], key: PlanKey) -> str | None:
    """Who holds ``key``, from its session's ``application_name``; None when that session
    is not a watcher's (or is already gone)."""
    value = key.advisory_key & 0xFFFFFFFFFFFFFFFF  # the lock's two halves are unsigned
    row = conn.execute(_HOLDER, (value >> 32, value & 0xFFFFFFFF)).fetchone()
    if row is None:
        return None
    name, since = str(row[0] or ""), row[1]
    if not name.startswith(_PREFIX) or "@" not in name:
        return f"session {name or 'without a name'} since {_iso(since)}"
    pid, _, host = name[len(_PREFIX) :].partition("@")
    return describe_holder(int(pid) if pid.isdigit() else 0, host, _iso(since))


def _iso(value: Any) -> str:
    if not isinstance(value, datetime):
        return "unknown"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
