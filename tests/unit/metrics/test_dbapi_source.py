"""The sql source through a DB-API 2.0 module named by URL, on real SQLite files (sqlite3
is in the standard library): every paramstyle binds the same rows, sqlite3 only reads and
is stopped at its timeout, a module that cannot be used is a plan error naming it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rolloutcli.metrics import open_source
from rolloutcli.metrics.base import Cohort, Need, QueryFailure, ResolvedQuery, Window
from rolloutcli.metrics.sql import SqlSource
from rolloutcli.metrics.sqldrivers import Table
from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import EXIT_INVALID, InvalidInputError

T = Cohort("treatment", True)
C = Cohort("control", False)
START = datetime(2026, 11, 2, 10, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(minutes=3))
MINUTE = timedelta(minutes=1)

ROWS = [
    ("2026-11-02 10:00:00", "true", "requests", 10),
    ("2026-11-02 10:00:30", "true", "requests", 5),
    ("2026-11-02 10:02:00", "true", "requests", 7),
    ("2026-11-02 10:00:00", "false", "requests", 90),
    ("2026-11-02 10:05:00", "true", "requests", 1000),
]
REQUESTS = (
    "SELECT ts AS time, value FROM hits WHERE variant = {cohort} AND metric = 'requests' "
    "AND (variant = {cohort} OR {role} = 'none') AND ts >= {start} AND ts < {end}"
)
"""{cohort} twice: a positional style sends it twice (qmark) or numbers it once (numeric)."""


def database(path: Path) -> Path:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE hits (ts TEXT, variant TEXT, metric TEXT, value INTEGER)")
        conn.executemany("INSERT INTO hits VALUES (?, ?, ?, ?)", ROWS)
    conn.close()
    return path


def total(path: Path) -> list[tuple[int]]:
    conn = sqlite3.connect(path)
    try:
        found: list[tuple[int]] = conn.execute("SELECT sum(value) FROM hits").fetchall()
    finally:
        conn.close()
    return found


def shim(root: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> None:
    """A module ``name`` importable from ``root`` (e.g. sqlite3 under another paramstyle)."""
    (root / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(root))


def write_plan(
    root: Path, url: str, queries: dict[str, str] | None = None, timeout: float = 10
) -> Path:
    source = {"kind": "sql", "url": url, "timeout": timeout}
    metrics = {"source": source, "queries": queries or {"requests": REQUESTS}}
    path = root / "plan.yaml"
    path.write_text(
        f"""flag: checkout-v2
platform: {{kind: flagfile, path: flags.json}}
variations: {{treatment: true, control: false}}
stages:
  - {{percent: 1, min_duration: 30m}}
  - {{percent: 100, min_duration: 0}}
metrics: {json.dumps(metrics)}
guardrails:
  - {{name: rate, kind: ratio, events: requests, trials: requests, thresholds: {{pause: "+50%"}}}}
"""
    )
    return path


def opened(
    root: Path, url: str, queries: dict[str, str] | None = None, timeout: float = 10
) -> SqlSource:
    found = open_source(load_plan(write_plan(root, url, queries, timeout)))
    assert isinstance(found, SqlSource)
    return found


@pytest.mark.parametrize("style", ["qmark", "numeric", "named"])
def test_every_paramstyle_reads_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    path = database(tmp_path / "events.sqlite")
    shim(tmp_path, monkeypatch, f"{style}db", f"from sqlite3 import *\nparamstyle = {style!r}\n")
    source = opened(tmp_path, f"dbapi+{style}db:{path}")
    assert source.counter("requests", T, WINDOW) == 22.0
    assert source.counter("requests", C, WINDOW) == 90.0
    series = source.counter_series("requests", T, WINDOW, MINUTE)
    assert series is not None and series[0] == 15.0 and series[2] == 7.0


def test_sqlite3_reads_a_file_next_to_the_plan_with_text_times(tmp_path: Path) -> None:
    database(tmp_path / "events.sqlite")
    source = opened(tmp_path, "dbapi+sqlite3:events.sqlite")
    series = source.counter_series("requests", T, WINDOW, MINUTE)
    assert series is not None and series[0] == 15.0 and series[2] == 7.0
    (shown,) = source.resolve(Need("counter", "requests", T, WINDOW))
    assert shown == ResolvedQuery(
        f"sql (dbapi+sqlite3:{tmp_path}/events.sqlite)",
        "SELECT ts AS time, value FROM hits WHERE variant = ? AND metric = 'requests' "
        "AND (variant = ? OR ? = 'none') AND ts >= ? AND ts < ?",
        {
            "cohort": "true",
            "role": "treatment",
            "start": "2026-11-02T10:00:00Z",
            "end": "2026-11-02T10:03:00Z",
        },
    )


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM hits WHERE variant = {cohort} AND ts >= {start} AND ts < {end}",
        "UPDATE hits SET value = 0 WHERE variant = {cohort} AND ts >= {start} AND ts < {end}",
        "INSERT INTO hits SELECT {start}, {cohort}, 'requests', 1 WHERE {start} < {end}",
        "ATTACH DATABASE 'other' || {cohort} || {start} || {end} AS o",
    ],
)
def test_sqlite3_only_reads(tmp_path: Path, query: str) -> None:
    path = database(tmp_path / "events.sqlite")
    source = opened(tmp_path, "dbapi+sqlite3:events.sqlite", {"requests": REQUESTS, "w": query})
    with pytest.raises(QueryFailure) as caught:
        source.counter("w", T, WINDOW)
    assert "query rejected (give one SELECT statement: the connection only reads)" in str(
        caught.value
    )
    assert total(path) == [(1112,)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("other")] == []


def test_two_statements_are_refused(tmp_path: Path) -> None:
    path = database(tmp_path / "events.sqlite")
    two = REQUESTS + "; DELETE FROM hits"
    source = opened(tmp_path, "dbapi+sqlite3:events.sqlite", {"requests": two})
    with pytest.raises(QueryFailure, match="You can only execute one statement at a time"):
        source.counter("requests", T, WINDOW)
    assert total(path) == [(1112,)]


def test_a_missing_sqlite_file_is_unreachable_and_not_created(tmp_path: Path) -> None:
    source = opened(tmp_path, "dbapi+sqlite3:no/such.sqlite")
    with pytest.raises(QueryFailure) as caught:
        source.counter("requests", T, WINDOW)
    assert caught.value.kind == "unreachable"
    assert f"cannot reach dbapi+sqlite3:{tmp_path}/no/such.sqlite: no such database file" in str(
        caught.value
    )
    assert not (tmp_path / "no").exists()


SLOW = (
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 20000000) "
    "SELECT '2026-11-02 10:00:00' AS time, count(*) AS value FROM r "
    "WHERE {cohort} <> {flag} AND {start} < {end}"
)
"""Twenty million rows: seconds of work, whatever the machine, and then it ends."""


def test_sqlite3_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    database(tmp_path / "events.sqlite")
    queries = {"requests": REQUESTS, "slow": SLOW}
    source = opened(tmp_path, "dbapi+sqlite3:events.sqlite", queries, timeout=0.2)
    with pytest.raises(QueryFailure) as caught:
        source.counter("slow", T, WINDOW)
    assert "the query ran longer than its statement timeout (0.2 s)" in str(caught.value)
    assert "may still be running" not in str(caught.value)  # sqlite3 stops it
    assert source.counter("requests", T, WINDOW) == 22.0


def test_a_generic_module_past_its_timeout_is_left_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module the tool cannot stop: the query is abandoned (it says so), and the next
    query of the batch runs over a fresh connection."""
    path = database(tmp_path / "events.sqlite")
    shim(tmp_path, monkeypatch, "slowdb", "from sqlite3 import *\n")
    queries = {"requests": REQUESTS, "slow": SLOW}
    source = opened(tmp_path, f"dbapi+slowdb:{path}", queries, timeout=0.2)
    slow = source.bound(source.fetch_for(Need("counter", "slow", T, WINDOW)))
    fast = source.bound(source.fetch_for(Need("counter", "requests", T, WINDOW)))
    timed_out, table = source.driver.run([slow, fast])
    assert isinstance(timed_out, QueryFailure)
    assert str(timed_out).startswith(
        "sql: the query ran longer than its statement timeout (0.2 s); slowdb cannot be told "
        "to stop it, so it may still be running on the database"
    )
    assert isinstance(table, Table) and [row[1] for row in table.rows] == [10, 5, 7]


def test_a_database_the_module_cannot_open_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim(tmp_path, monkeypatch, "plaindb", "from sqlite3 import *\n")
    source = opened(tmp_path, f"dbapi+plaindb:{tmp_path}/none/events.sqlite")
    with pytest.raises(QueryFailure) as caught:
        source.counter("requests", T, WINDOW)
    assert caught.value.kind == "unreachable"
    assert f"cannot reach dbapi+plaindb:{tmp_path}/none/events.sqlite: unable to open" in str(
        caught.value
    )


FIX_NAME = ": install it where rollout runs, or fix the name after dbapi+"


@pytest.mark.parametrize(
    ("name", "body", "said"),
    [
        (
            "no_such_dbapi_module",
            None,
            "cannot import the DB-API module 'no_such_dbapi_module' "
            f"(No module named 'no_such_dbapi_module'){FIX_NAME}",
        ),
        (
            "brokendb",
            "raise RuntimeError('needs a licence file')\n",
            f"cannot import the DB-API module 'brokendb' (needs a licence file){FIX_NAME}",
        ),
        (
            "noconnectdb",
            "paramstyle = 'qmark'\n",
            "'noconnectdb' is not a DB-API 2.0 module: it has no connect()",
        ),
        (
            "nostyledb",
            "def connect(*args, **kwargs):\n    raise NotImplementedError\n",
            "'nostyledb' is not a DB-API 2.0 module: its paramstyle is None, not one of "
            "qmark, numeric, named, format, pyformat",
        ),
    ],
)
def test_a_module_that_cannot_be_used_is_a_plan_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str | None, said: str
) -> None:
    if body is not None:
        shim(tmp_path, monkeypatch, name, body)
    plan = write_plan(tmp_path, f"dbapi+{name}:events.db")
    with pytest.raises(InvalidInputError) as caught:
        open_source(load_plan(plan))
    assert caught.value.exit_code == EXIT_INVALID
    assert str(caught.value) == f"{plan}: metrics.source.url / ROLLOUT_SQL_URL: {said}"


def test_a_connection_string_with_a_password_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATH as a connection string (``...;PWD=...``) from the environment: a secret, so
    the database's name for it is scrubbed wherever it is shown."""
    shim(tmp_path, monkeypatch, "dsndb", "from sqlite3 import *\n")
    secret = "Sentinel-dsn-7a1f"
    monkeypatch.setenv("WAREHOUSE_URL", f"dbapi+dsndb:{tmp_path}/none/x.db;PWD={secret}")
    plan = write_plan(tmp_path, "duckdb:")
    plan.write_text(plan.read_text().replace('"url": "duckdb:"', '"url_env": "WAREHOUSE_URL"'))
    source = open_source(load_plan(plan))
    assert isinstance(source, SqlSource)
    assert source.driver.where == "dbapi+dsndb:[redacted]"
    with pytest.raises(QueryFailure) as caught:
        source.counter("requests", T, WINDOW)
    assert str(caught.value).startswith("sql: metric requests (treatment): cannot reach ")
    assert secret not in str(caught.value)
