"""The SQL drivers: PostgreSQL through psycopg 3, DuckDB embedded. Each runs a batch of
queries over one read-only connection under a statement timeout, and turns what the driver
raises into the tool's typed failures. Neither decides what the rows mean (:mod:`.sql`).

* PostgreSQL: ``default_transaction_read_only=on`` and ``statement_timeout`` are set as
  connection options, the session's time zone is UTC, and psycopg's read-only mode is on,
  so a query that tries to write fails (SQLSTATE 25006). Parameters are bound by the server
  (psycopg's extended protocol), which also refuses several statements in one query.
* DuckDB: a database file is opened with ``read_only=True``; ``duckdb:`` alone is an
  in-memory database for queries over CSV or Parquet files, whose relative paths are
  looked up next to the plan (``file_search_path``). Only a single SELECT is run (DuckDB's
  own parser says what a statement is), and a timer interrupts one that runs too long.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rolloutcli.plan.sqltext import Paramstyle
from rolloutcli.support.errors import BackendError
from rolloutcli.support.redact import clip, scrub, split_url

from .base import QueryFailure

if TYPE_CHECKING:
    import duckdb
    import psycopg

NAME = "sql"
MAX_ROWS = 1_000_000
"""Rows one query may return: past that, aggregate per interval in the query."""

Params = dict[str, str | float | datetime]


@dataclass(frozen=True)
class Table:
    """What one query returned: its column names (lower case) and its rows."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


Result = Table | BackendError


@dataclass(frozen=True)
class Statement:
    """One query as sent: its SQL with the driver's markers, its parameters by name, and
    the names in the order a positional paramstyle takes them (see ``sqltext.bind``)."""

    sql: str
    params: Params
    order: tuple[str, ...]


class Driver(Protocol):
    style: Paramstyle
    where: str
    """The database as it may be shown (no password)."""

    def run(self, batch: list[Statement]) -> list[Result]:
        """Run each statement over one connection; a failure in place of its result."""
        ...


def where(url: str) -> str:
    """A database URL as it may be shown: without its user and password, scrubbed. (Only
    a URL with a password registers secrets: a user name alone is not one, and
    registering ``postgres`` would scrub every ``postgresql://`` shown.)"""
    scheme, _, host, rest = split_url(url.strip())
    return scrub(f"{scheme}{host}{rest}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return clip(text[0] if text else type(exc).__name__, 300)


def _too_many(count: int) -> QueryFailure:
    return QueryFailure(
        NAME,
        "rejected",
        f"the query returned more than {count:,} rows",
        hint="aggregate per interval in the query (GROUP BY a time bucket)",
    )


def _timed_out(timeout: float) -> QueryFailure:
    return QueryFailure(
        NAME,
        "unreachable",
        f"the query ran longer than its statement timeout ({timeout:g} s)",
        hint="raise metrics.source.timeout, or make the query cheaper (an index, a rollup)",
    )


def _rejected(text: str) -> QueryFailure:
    return QueryFailure(
        NAME, "rejected", f"query rejected ({text})", hint="fix the query in metrics.queries"
    )


class PostgresDriver:
    """PostgreSQL (and what speaks its protocol) through psycopg 3."""

    style: Paramstyle = "pyformat"

    def __init__(self, url: str, timeout: float, setting: str) -> None:
        self.url = url
        self.timeout = timeout
        self.setting = setting
        self.where = where(url)

    def run(self, batch: list[Statement]) -> list[Result]:
        import psycopg

        ms = max(1, round(self.timeout * 1000))
        options = f"-c default_transaction_read_only=on -c statement_timeout={ms} -c TimeZone=UTC"
        try:
            conn = psycopg.connect(
                self.url, connect_timeout=max(1, math.ceil(self.timeout)), options=options
            )
        except psycopg.Error as exc:
            return [self._unreachable(exc)] * len(batch)
        results: list[Result] = []
        with conn:
            conn.read_only = True
            for statement in batch:
                results.append(self._one(conn, statement.sql, statement.params))
        return results

    def _one(self, conn: psycopg.Connection[Any], sql: str, params: Params) -> Result:
        import psycopg

        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                columns = tuple(d.name.lower() for d in cursor.description or ())
                rows = cursor.fetchmany(MAX_ROWS + 1)
        except psycopg.errors.QueryCanceled:
            conn.rollback()
            return _timed_out(self.timeout)
        except psycopg.OperationalError as exc:
            return self._unreachable(exc)
        except psycopg.Error as exc:
            if not conn.closed:
                conn.rollback()
            state = f"SQLSTATE {exc.sqlstate}: " if exc.sqlstate else ""
            return _rejected(state + _first_line(exc))
        conn.rollback()  # nothing to keep; the next query starts a fresh transaction
        if len(rows) > MAX_ROWS:
            return _too_many(MAX_ROWS)
        return Table(columns, rows)

    def _unreachable(self, exc: BaseException) -> QueryFailure:
        return QueryFailure(
            NAME,
            "unreachable",
            f"cannot reach {self.where}: {_first_line(exc)}",
            hint=f"check {self.setting} (password from PGPASSWORD or ~/.pgpass)",
        )


class DuckDriver:
    """DuckDB, embedded: a database file (read-only) or memory, over files next to the plan."""

    style: Paramstyle = "dollar"

    def __init__(self, path: Path | None, search_dir: Path, timeout: float, setting: str) -> None:
        self.path = path
        self.search_dir = search_dir
        self.timeout = timeout
        self.setting = setting
        self.where = f"duckdb:{path}" if path is not None else "duckdb (in memory)"

    def run(self, batch: list[Statement]) -> list[Result]:
        try:
            conn = self._connect()
        except BackendError as exc:
            return [exc] * len(batch)
        try:
            return [self._one(conn, st.sql, st.params) for st in batch]
        finally:
            conn.close()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        if self.path is not None and not self.path.is_file():
            raise QueryFailure(
                NAME,
                "unreachable",
                f"cannot reach {self.where}: no such database file",
                hint=f"check {self.setting} (a path relative to the plan file)",
            )
        try:
            if self.path is None:
                conn = duckdb.connect(":memory:")
            else:
                conn = duckdb.connect(str(self.path), read_only=True)
            conn.execute("SET TimeZone = 'UTC'")
            search = str(self.search_dir).replace("'", "''")
            conn.execute(f"SET file_search_path = '{search}'")
        except duckdb.Error as exc:
            raise QueryFailure(
                NAME,
                "unreachable",
                f"cannot reach {self.where}: {_first_line(exc)}",
                hint=f"check {self.setting}",
            ) from None
        return conn

    def _one(self, conn: duckdb.DuckDBPyConnection, sql: str, params: Params) -> Result:
        import duckdb

        try:
            statements = conn.extract_statements(sql)
        except duckdb.Error as exc:
            return _rejected(_first_line(exc))
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            return _rejected("give one SELECT statement: the connection only reads")
        timer = threading.Timer(self.timeout, conn.interrupt)
        timer.start()
        try:
            conn.execute(sql, params)
            columns = tuple(str(d[0]).lower() for d in conn.description or ())
            rows = conn.fetchmany(MAX_ROWS + 1)
        except duckdb.InterruptException:
            return _timed_out(self.timeout)
        except duckdb.Error as exc:
            return _rejected(_first_line(exc))
        finally:
            timer.cancel()
        if len(rows) > MAX_ROWS:
            return _too_many(MAX_ROWS)
        return Table(columns, rows)
