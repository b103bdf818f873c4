"""Decision records in PostgreSQL: one append-only table, idempotent by record id.

``decision_records`` holds the full record as JSONB plus the columns reads filter on (time,
plan, flag, environment, event, verdict, who), created on first use by a versioned
migration (``rollout_schema_version`` says which migrations ran; a migration runs under an
advisory lock, so two first writers do not both create the table). ``INSERT ... ON CONFLICT
(id) DO NOTHING``: a retried write adds nothing.

A store that is down never loses a record: the record goes to a spool file beside the plans
(a JSON Lines log, store.py's durable append) and the failure is raised, one line, with the
URL's password left out. The next write to the store first sends the spool, then empties it;
both under the spool's lock, so a record appended meanwhile waits and is not lost.
The guarantee that remains: a record is in the store or in the spool of the machine that
wrote it; a spool on a runner that is thrown away before a later write is lost with it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutcli.journal import store
from rolloutcli.journal.store import Records
from rolloutcli.support.errors import BackendError
from rolloutcli.support.jsonsafe import json_safe
from rolloutcli.support.redact import display_url, register_url, scrub

if TYPE_CHECKING:
    import psycopg

TABLE = "decision_records"
VERSION_TABLE = "rollout_schema_version"
CONNECT_TIMEOUT = 5
_LOCK_KEY = 0x726F6C6C6F7574  # "rollout": serialises the migrations of concurrent writers
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        time timestamptz,
        plan text,
        flag text,
        environment text,
        event text,
        verdict text,
        who text,
        record jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS {TABLE}_plan_time ON {TABLE} (plan, time);
    CREATE INDEX IF NOT EXISTS {TABLE}_flag_time ON {TABLE} (flag, time);
    CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (time);
    """,
)
"""Migration n (1-based) brings the schema to version n; only ever add to the end."""
_INSERT = (
    f"INSERT INTO {TABLE} (id, time, plan, flag, environment, event, verdict, who, record) "
    "VALUES (%s, %s::timestamptz, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)


class StoreError(BackendError):
    """The PostgreSQL store could not be reached or refused (one line, no password)."""

    spooled = False
    """True when the record was kept in the spool, to be sent on the next write."""

    def __init__(self, where: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"decision records at {where}", message, hint)


class PostgresStore:
    """Records in PostgreSQL at ``url``; unsent ones wait in ``spool``."""

    def __init__(self, url: str, spool: Path) -> None:
        register_url(url)
        self.url = url
        self.spool = spool
        self.where = display_url(url)

    def describe(self) -> str:
        return self.where

    def append(self, record: Mapping[str, Any]) -> None:
        """Send the spool, then ``record``; if the store is down, spool ``record`` and raise."""
        try:
            with self._connect() as conn:
                self._flush(conn)
                insert(conn, [record], self.where)
        except StoreError as exc:
            store.append(self.spool, record)
            spooled = StoreError(
                self.where,
                f"{_reason(exc)}; record {record.get('id')} kept in {self.spool}",
                "it is sent on the next write that reaches the store",
            )
            spooled.spooled = True
            raise spooled from exc

    def import_records(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``records`` (one transaction); how many were new."""
        with self._connect() as conn:
            return insert(conn, records, self.where)

    def read(
        self,
        plan: str | None = None,
        flag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Records:
        clauses: list[str] = []
        params: list[Any] = []
        if plan is not None or flag is not None:
            clauses.append("(plan = %s OR flag = %s)")
            params += [plan, flag]
        if since is not None:
            clauses.append("time >= %s")
            params.append(since)
        if until is not None:
            clauses.append("time <= %s")
            params.append(until)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as conn:
            rows = self._query(conn, f"SELECT record FROM {TABLE}{where} ORDER BY seq", params)
        found = [row[0] for row in rows if isinstance(row[0], dict)]
        pending = self._pending(found, plan, flag, since, until)
        return Records(found + pending, [], spooled=len(pending))

    def _pending(
        self,
        found: list[dict[str, Any]],
        plan: str | None,
        flag: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> list[dict[str, Any]]:
        """The records this machine's spool holds that the store does not have yet (the store
        was down when they were written): a reader on this machine sees them too."""
        if not self.spool.exists():
            return []
        known = {record.get("id") for record in found}
        return [
            record
            for record in store.read(self.spool).entries
            if record.get("id") not in known and store.matches(record, plan, flag, since, until)
        ]

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise StoreError(self.where, f"cannot connect: {_first_line(exc)}") from exc
        try:
            migrate(conn)
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(self.where, f"cannot create the table: {_first_line(exc)}") from exc
        return conn

    def _query(self, conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> list[Any]:
        import psycopg

        try:
            with conn.cursor() as cursor:
                cursor.execute(sql.encode(), params)
                return cursor.fetchall()
        except psycopg.Error as exc:
            raise StoreError(self.where, f"cannot read: {_first_line(exc)}") from exc

    def _flush(self, conn: psycopg.Connection[Any]) -> None:
        """Send the spooled records, then empty the spool (under its lock: an append that
        comes meanwhile waits, and is sent next time)."""
        try:
            fd = os.open(self.spool, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = store.read(self.spool)
            if held.entries:
                insert(conn, held.entries, self.where)
            os.ftruncate(fd, 0)
            os.fsync(fd)
        finally:
            os.close(fd)


def migrate(conn: psycopg.Connection[Any]) -> None:
    """Bring the schema to the newest version (once per database; concurrent callers wait)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version integer NOT NULL)")
        cursor.execute(f"SELECT max(version) FROM {VERSION_TABLE}")
        row = cursor.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            cursor.execute(sql.encode())
            cursor.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)", (version,))


def insert(conn: psycopg.Connection[Any], records: Iterable[Mapping[str, Any]], where: str) -> int:
    """Insert ``records`` in one transaction, skipping ids already there; how many were new."""
    import psycopg
    from psycopg.types.json import Jsonb

    added = 0
    try:
        with conn.transaction(), conn.cursor() as cursor:
            for record in records:
                safe = json_safe(record)
                cursor.execute(_INSERT, (record_id(safe), *_columns(safe), Jsonb(safe)))
                added += cursor.rowcount
    except psycopg.Error as exc:
        raise StoreError(where, f"cannot write: {_first_line(exc)}") from exc
    return added


def record_id(record: Mapping[str, Any]) -> str:
    """The record's ``id``; a record from before ids (an old log) gets a stable one, the
    digest of its content, so importing it twice still adds it once."""
    given = record.get("id")
    if isinstance(given, str) and given:
        return given
    return "sha256:" + hashlib.sha256(store.encode(record)).hexdigest()


def _columns(record: Mapping[str, Any]) -> tuple[Any, ...]:
    verdict = record.get("verdict")
    outcome = verdict.get("verdict") if isinstance(verdict, dict) else None
    return (
        _text(record.get("time")),
        _text(record.get("plan")),
        _text(record.get("flag")),
        _text(record.get("environment")),
        _text(record.get("event")),
        _text(outcome),
        _text(record.get("who")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return scrub(text[0]) if text else type(exc).__name__


def _reason(exc: StoreError) -> str:
    """The failure without the ``decision records at ...:`` prefix it already carries."""
    return str(exc).split(": ", 1)[-1]
