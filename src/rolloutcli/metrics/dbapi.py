"""Any DB-API 2.0 (PEP 249) module as the sql source's driver, named by URL
(:mod:`rolloutcli.plan.dbapiurl`), and sqlite3 made safe where a generic module cannot be.

What holds for any module:

* the module is imported by name and must have ``connect()`` and a PEP 249 ``paramstyle``;
  the placeholders are bound in that style, so values are never text in the SQL;
* each query runs in a worker thread; past the statement timeout it is a typed failure
  (exit 3) and the tool moves on over a fresh connection. A generic module cannot be told
  to stop, so the query may keep running on the database until it ends;
* nothing is committed, and each query is rolled back after it is read. Read-only is NOT
  enforced: a generic module may autocommit, so the database account is what keeps a
  query from writing (give the tool one that may only read).

sqlite3 (stdlib) is not generic: the file (relative to the plan file) is opened read-only
(``file:...?mode=ro``) with ``PRAGMA query_only``, ATTACH is disabled, an authorizer lets a
statement only read (one SELECT), and a progress handler stops a query at its timeout.
SQLite has no timestamp type: ``{start}`` and ``{end}`` are bound as its own text form,
``YYYY-MM-DD HH:MM:SS`` (compare them with a text column in that form), and a ``time``
returned as ISO 8601 text is read as UTC.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import threading
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from rolloutcli.plan.dbapiurl import DbapiUrl, parse_dbapi, secrets
from rolloutcli.plan.sqltext import DBAPI_STYLES, POSITIONAL, Paramstyle
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.redact import register_all, scrub

from .base import QueryFailure
from .sqldrivers import (
    MAX_ROWS,
    NAME,
    Result,
    Statement,
    Table,
    _first_line,
    _timed_out,
    _too_many,
)

Args = list[Any] | dict[str, Any]


def open_dbapi(url: str, base_dir: Path, timeout: float, setting: str) -> DbapiDriver:
    """The driver for a ``dbapi+`` URL; InvalidInputError (exit 2) naming the module when it
    cannot be imported or is not a DB-API 2.0 module."""
    try:
        target = parse_dbapi(url)
    except ValueError as exc:
        raise InvalidInputError(f"{setting}: {exc}") from None
    register_all(secrets(target))  # from the environment (a plan holds none): scrubbed
    module, style = load_module(target.module, setting)
    if target.module == "sqlite3":
        return SqliteDriver(module, style, target, base_dir, timeout, setting)
    return DbapiDriver(module, style, target, base_dir, timeout, setting)


def load_module(name: str, setting: str) -> tuple[ModuleType, Paramstyle]:
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # ImportError, or whatever the module raises as it loads
        raise InvalidInputError(
            f"{setting}: cannot import the DB-API module {name!r} ({_first_line(exc)}): "
            "install it where rollout runs, or fix the name after dbapi+"
        ) from None
    if not callable(getattr(module, "connect", None)):
        raise InvalidInputError(
            f"{setting}: {name!r} is not a DB-API 2.0 module: it has no connect()"
        )
    style = getattr(module, "paramstyle", None)
    if style not in DBAPI_STYLES:
        raise InvalidInputError(
            f"{setting}: {name!r} is not a DB-API 2.0 module: its paramstyle is {style!r}, "
            f"not one of {', '.join(DBAPI_STYLES)}"
        )
    found: Paramstyle = style
    return module, found


class DbapiDriver:
    """A DB-API 2.0 module: connect() with the URL's parts, each query in a worker thread."""

    grace = 0.0
    """Seconds past the timeout to wait for a query that stops itself (sqlite3)."""

    def __init__(
        self,
        module: ModuleType,
        style: Paramstyle,
        target: DbapiUrl,
        base_dir: Path,
        timeout: float,
        setting: str,
    ) -> None:
        self.module = module
        self.style = style
        self.target = target
        self.timeout = timeout
        self.setting = setting
        self.where = scrub(target.shown)

    # ------------------------------------------------------------ the batch

    def run(self, batch: list[Statement]) -> list[Result]:
        results: list[Result] = []
        while len(results) < len(batch):
            results += self._session(batch[len(results) :])
        return results

    def _session(self, batch: list[Statement]) -> list[Result]:
        """Results for the batch over one connection: all of them, or those up to one that
        ran past its timeout (its connection is left to the worker, which stops there)."""
        answers: queue.Queue[Result | None] = queue.Queue()
        stop = threading.Event()
        worker = threading.Thread(
            target=self._work, args=(batch, answers, stop), name="rollout-dbapi", daemon=True
        )
        worker.start()
        wait = self.timeout + self.grace
        try:
            connected = answers.get(timeout=wait)
        except queue.Empty:
            stop.set()
            return [self._unreachable(f"no connection within {self.timeout:g} s")] * len(batch)
        if connected is not None:
            return [connected] * len(batch)
        out: list[Result] = []
        for _ in batch:
            try:
                answer = answers.get(timeout=wait)
            except queue.Empty:
                stop.set()
                return [*out, self._timed_out()]
            assert answer is not None  # only the first answer says "connected"
            out.append(answer)
        return out

    def _work(
        self, batch: list[Statement], answers: queue.Queue[Result | None], stop: threading.Event
    ) -> None:
        try:
            conn = self._connect()
        except QueryFailure as exc:
            answers.put(exc)
            return
        except Exception as exc:  # a module raises its own classes, PEP 249 or not
            answers.put(self._unreachable(_first_line(exc)))
            return
        answers.put(None)
        try:
            for statement in batch:
                if stop.is_set():
                    return
                answers.put(self._one(conn, statement))
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    # ------------------------------------------------------------ one query

    def _connect(self) -> Any:
        positional = () if self.target.path is None else (self.target.path,)
        return self.module.connect(*positional, **self.target.kwargs)

    def _one(self, conn: Any, statement: Statement) -> Result:
        try:
            cursor = conn.cursor()
            try:
                self._arm(conn)
                cursor.execute(statement.sql, self._args(statement))
                columns = tuple(str(d[0]).lower() for d in cursor.description or ())
                rows = [tuple(row) for row in cursor.fetchmany(MAX_ROWS + 1)]
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()
                with contextlib.suppress(Exception):
                    conn.rollback()  # nothing is ever committed
        except Exception as exc:
            return self._failure(exc)
        if len(rows) > MAX_ROWS:
            return _too_many(MAX_ROWS)
        return Table(columns, rows)

    def _args(self, statement: Statement) -> Args:
        """The parameters as the module's paramstyle takes them: a sequence or a mapping."""
        values = {name: self._value(v) for name, v in statement.params.items()}
        if self.style in POSITIONAL:
            return [values[name] for name in statement.order]
        return values

    def _value(self, value: str | float | datetime) -> Any:
        return value

    def _arm(self, conn: Any) -> None:
        """Before a query runs (sqlite3 starts its clock here)."""

    def _failure(self, exc: BaseException) -> QueryFailure:
        return QueryFailure(
            NAME,
            "rejected",
            f"query rejected ({_first_line(exc)})",
            hint="fix the query in metrics.queries",
        )

    def _timed_out(self) -> QueryFailure:
        return QueryFailure(
            NAME,
            "unreachable",
            f"the query ran longer than its statement timeout ({self.timeout:g} s); "
            f"{self.target.module} cannot be told to stop it, so it may still be running "
            "on the database",
            hint="raise metrics.source.timeout, or make the query cheaper (an index, a rollup)",
        )

    def _unreachable(self, text: str) -> QueryFailure:
        return QueryFailure(
            NAME,
            "unreachable",
            f"cannot reach {self.where}: {text}",
            hint=f"check {self.setting}",
        )


class SqliteDriver(DbapiDriver):
    """sqlite3: read-only, reading only, stopped at its timeout (see the module docstring)."""

    grace = 1.0

    def __init__(
        self,
        module: ModuleType,
        style: Paramstyle,
        target: DbapiUrl,
        base_dir: Path,
        timeout: float,
        setting: str,
    ) -> None:
        super().__init__(module, style, target, base_dir, timeout, setting)
        path = Path(target.path).expanduser() if target.path else None
        self.path = None if path is None else path if path.is_absolute() else base_dir / path
        self.where = f"dbapi+sqlite3:{self.path}"
        self._deadline = 0.0
        self._denied: str | None = None

    def _connect(self) -> Any:
        if self.path is None or not self.path.is_file():
            what = "no such database file" if self.path else "no database file named"
            raise QueryFailure(
                NAME,
                "unreachable",
                f"cannot reach {self.where}: {what}",
                hint=f"check {self.setting} (dbapi+sqlite3:PATH, relative to the plan file)",
            )
        sqlite3 = self.module
        conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, **self.target.kwargs)
        conn.execute("PRAGMA query_only = ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._past_deadline, 1000)
        return conn

    def _authorize(self, action: int, *_: object) -> int:
        """Reading only: a SELECT, its reads, functions and recursive CTEs."""
        sqlite3 = self.module
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION):
            return int(sqlite3.SQLITE_OK)
        if action == sqlite3.SQLITE_RECURSIVE:
            return int(sqlite3.SQLITE_OK)
        self._denied = "give one SELECT statement: the connection only reads"
        return int(sqlite3.SQLITE_DENY)

    def _past_deadline(self) -> int:
        return int(time.monotonic() > self._deadline)

    def _arm(self, conn: Any) -> None:
        self._deadline = time.monotonic() + self.timeout
        self._denied = None

    def _value(self, value: str | float | datetime) -> Any:
        return value.isoformat(" ") if isinstance(value, datetime) else value

    def _failure(self, exc: BaseException) -> QueryFailure:
        if self._denied is not None:
            return QueryFailure(
                NAME,
                "rejected",
                f"query rejected ({self._denied})",
                hint="fix the query in metrics.queries",
            )
        if str(exc) == "interrupted" and time.monotonic() > self._deadline:
            return self._timed_out()
        return super()._failure(exc)

    def _timed_out(self) -> QueryFailure:
        """Stopped at its timeout: sqlite3 runs in this process, and the progress handler
        ends the query (nothing keeps running)."""
        return _timed_out(self.timeout)
