"""Verdicts from SQL over tables with known truth: a real PostgreSQL 15 server, DuckDB
over CSV files and a SQLite file through the DB-API driver (``dbapi+sqlite3:``), the same
rows in each (:mod:`tests.integration.sql_data`, the Prometheus suite's three rollouts as a
team's event rollups).

Each test writes a plan whose flag sits in a flagd file at its 10% stage since END - 2h
and checks it as of END (``--at``), so every query reads a fixed window. The cases are the
Prometheus suite's, run on each database.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.timeutil import format_timestamp
from tests.integration import sql_data
from tests.integration.cli_helpers import invoke, write_flag_file
from tests.integration.prometheus_data import END_TIME

pytestmark = [pytest.mark.integration, pytest.mark.sql]

AT = format_timestamp(END_TIME)
STAGE_START = END_TIME - timedelta(hours=2)


@dataclass(frozen=True)
class Database:
    """Where the tables are, for one backend: its URL and how a query names each table."""

    url: str
    counts: str
    latency: str
    users: str = "users"


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("duckdb", marks=pytest.mark.duckdb),
        pytest.param("sqlite", marks=pytest.mark.dbapi),
    ]
)
def database(request: pytest.FixtureRequest, sql_csv: tuple[Path, Path]) -> Database:
    if request.param == "postgres":
        return Database(request.getfixturevalue("postgres_url"), "counts", "latency")
    if request.param == "sqlite":
        path = request.getfixturevalue("sqlite_path")
        return Database(f"dbapi+sqlite3:{path}", "counts", "latency")
    return duck(*sql_csv)


def duck(counts: Path, latency: Path) -> Database:
    """DuckDB in memory over the CSV files; the variant read as text (DuckDB would guess
    BOOLEAN from true/false, and a label that is not one would not compare)."""
    text = "types={'variant': 'VARCHAR'}"
    return Database(
        "duckdb:",
        f"read_csv('{counts}', {text})",
        f"read_csv('{latency}', {text})",
        f"read_csv('{counts.parent / 'users.csv'}', {text})",
    )


def counter(db: Database, metric: str) -> str:
    return (
        f"SELECT ts AS time, value FROM {db.counts} WHERE flag = {{flag}} "
        f"AND variant = {{cohort}} AND metric = '{metric}' AND ts >= {{start}} AND ts < {{end}}"
    )


def queries(db: Database, **override: str) -> dict[str, str]:
    out = {m: counter(db, m) for m in ("requests", "errors", "checkouts", "orders")}
    out["latency_ms"] = (
        f"SELECT ts AS time, n AS count, total AS sum, total_sq AS sum_sq FROM {db.latency} "
        "WHERE flag = {flag} AND variant = {cohort} AND ts >= {start} AND ts < {end}"
    )
    out.update(override)
    return out


GUARDRAILS = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
    detect: "+50%"
  - name: mean_latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds: {warn: "+10%", pause: "+25%", rollback: ["+50%", "< 2000ms"]}
  - name: conversion
    kind: ratio
    events: orders
    trials: checkouts
    direction: lower_is_worse
    thresholds: {pause: "-8%", rollback: "-15%"}
    significant: [pause, rollback]
"""


def setup(
    root: Path,
    flag: str,
    db: Database,
    since: datetime = STAGE_START,
    url: str | None = None,
    variations: tuple[Any, Any] = (True, False),
    guardrails: str = GUARDRAILS,
    **override: str,
) -> Path:
    """A workspace: a flagd file with ``flag`` at 10% since ``since``, and a plan over it."""
    flags = root / "flags" / "flags.json"
    write_flag_file(flags, flag)
    if variations != (True, False):
        doc = json.loads(flags.read_text())
        doc["flags"][flag]["variants"] = {"on": variations[0], "off": variations[1]}
        flags.write_text(json.dumps(doc))
    (root / "plans").mkdir(exist_ok=True)
    platform = FlagFilePlatform(flags, flag)
    change = RolloutChange(10, (), None, "sqlplan", "10%", "advance", "test setup")
    platform.set_rollout(change, *variations, platform.read_state(*variations), at=since)
    metrics = {
        "source": {"kind": "sql", "url": url or db.url},
        "exposures": "requests",
        "queries": queries(db, **override),
    }
    plan = root / "plans" / "sqlplan.yaml"
    treatment, control = (json.dumps(v) for v in variations)
    plan.write_text(
        f"""flag: {json.dumps(flag)}
platform: {{kind: flagfile, path: ../flags/flags.json}}
variations: {{treatment: {treatment}, control: {control}}}
stages:
  - {{percent: 10, min_duration: 1h, min_samples: 5000}}
  - {{percent: 50, min_duration: 1h, min_samples: 20000}}
  - {{percent: 100, min_duration: 0}}
metrics: {json.dumps(metrics)}
{guardrails}"""
    )
    return plan


def check(plan: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, output = invoke("check", str(plan), "--at", AT, "--json", *extra)
    return code, json.loads(output)


def metric(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in result["metrics"] if m["name"] == name)
    return found


def test_a_healthy_rollout_goes_on(tmp_path: Path, database: Database) -> None:
    plan = setup(tmp_path, "healthy", database)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0, result
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # 2 h at 40 (treatment) and 360 (control) requests per 15 s, exactly
    assert (errors["treatment_n"], errors["control_n"]) == (19_200, 172_800)
    assert abs(errors["treatment"] - 0.01) < 0.003 and abs(errors["control"] - 0.01) < 0.001
    latency = metric(result, "mean_latency")
    assert latency["status"] == "ok"
    # lognormal(ln 120, 0.5): a mean of 120 * e^(0.125) = 136 ms
    assert abs(latency["control"] - 136.0) < 2 and abs(latency["treatment"] - 136.0) < 4
    assert metric(result, "conversion")["status"] == "ok"
    assert result["srm"]["checked"] and not result["srm"]["mismatch"]
    assert "flag='healthy', cohort='true'" in errors["query"]
    assert errors["query"].startswith(
        ("sql (postgresql://127.0.0.1:", "sql (duckdb (in memory))", "sql (dbapi+sqlite3:/")
    )


def test_an_error_regression_in_the_treatment_only_rolls_back(
    tmp_path: Path, database: Database
) -> None:
    plan = setup(tmp_path, "regression", database)
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert errors["status"] == "rollback"
    assert 2.5 < errors["treatment"] / errors["control"] < 3.5
    assert metric(result, "conversion")["status"] == "ok"


def per_user(db: Database) -> str:
    """One row per user: the per-unit ratio guardrail's query."""
    return (
        "SELECT min(ts) AS time, sum(errors) AS events, sum(requests) AS trials "
        f"FROM {db.users} WHERE flag = {{flag}} AND variant = {{cohort}} "
        "AND ts >= {start} AND ts < {end} GROUP BY user_id"
    )


PER_UNIT = """guardrails:
  - name: errors_per_user
    kind: ratio
    events: per_user
    trials: per_user
    thresholds: {{warn: "+20%", pause: "+1pp", rollback: ["2x", "< 10%"]}}
statistics: {{method: {method}}}
"""


def user_totals(flag: str, variant: str) -> tuple[int, int]:
    """Requests and errors of the users first seen in the stage, from the rows themselves."""
    start, end = (format_timestamp(t)[:19].replace("T", " ") for t in (STAGE_START, END_TIME))
    rows = [
        r for r in sql_data.user_rows() if r[1] == flag and r[2] == variant and start <= r[0] < end
    ]
    return sum(int(r[4]) for r in rows), sum(int(r[5]) for r in rows)


@pytest.mark.parametrize("method", ["sequential", "fixed"])
@pytest.mark.parametrize(("flag", "verdict"), [("healthy", "go"), ("regression", "rollback")])
def test_a_per_unit_ratio_compares_users(
    tmp_path: Path, database: Database, method: str, flag: str, verdict: str
) -> None:
    """Errors per request with one row per user (requests clustered within users): the
    healthy rollout goes on, the treatment's tripled errors roll back; the counts are the
    users' sums, exactly."""
    guardrails = PER_UNIT.format(method=method)
    plan = setup(tmp_path, flag, database, guardrails=guardrails, per_user=per_user(database))
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == verdict, result["reasons"]
    assert code == (0 if verdict == "go" else 1)
    found = metric(result, "errors_per_user")
    requests, errors = user_totals(flag, "true")
    assert found["treatment_n"] == requests
    assert found["treatment"] == pytest.approx(errors / requests)
    control_requests, control_errors = user_totals(flag, "false")
    assert found["control_n"] == control_requests
    assert found["control"] == pytest.approx(control_errors / control_requests)
    assert found["status"] == ("ok" if verdict == "go" else "rollback")
    assert found["test"] == ("delta-z" if method == "fixed" else "seq-normal")
    assert found["dispersion"] is None  # the per-unit test allows for the clustering


def test_a_global_incident_in_both_cohorts_is_not_a_rollback(
    tmp_path: Path, database: Database
) -> None:
    plan = setup(tmp_path, "incident", database)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # both cohorts at 1% then 8%: 4.5% over the stage, the same on each side
    assert errors["control"] > 0.04 and errors["treatment"] > 0.04
    assert errors["status"] == "ok"


def test_a_metric_with_no_data_holds_and_is_named(tmp_path: Path, database: Database) -> None:
    plan = setup(tmp_path, "healthy", database, orders=counter(database, "abandoned"))
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "hold"
    conversion = metric(result, "conversion")
    assert conversion["status"] == "no_data"
    assert any("no data" in r and "conversion" in r for r in result["reasons"]), result
    assert "orders (treatment) has no data" in conversion["note"]
    assert "metric = 'abandoned'" in conversion["note"]
    assert metric(result, "error_rate")["status"] == "ok"


def test_a_bad_query_is_a_clear_error(tmp_path: Path, database: Database) -> None:
    broken = counter(database, "errors").replace("SELECT", "SELEC")
    plan = setup(tmp_path, "healthy", database, errors=broken)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3
    assert len(output.strip().splitlines()) == 1, output  # one line, no traceback
    assert "sql: metric errors (treatment): query rejected" in output
    assert "syntax error" in output and "fix the query in metrics.queries" in output
    assert "cohort='true'" in output  # the query as sent, with its parameters


def test_a_query_without_the_columns_is_a_clear_error(tmp_path: Path, database: Database) -> None:
    wrong = counter(database, "errors").replace("ts AS time, value", "ts, value AS n")
    plan = setup(tmp_path, "healthy", database, errors=wrong)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3
    assert "returns columns (ts, n): return time and value" in output


def test_a_query_that_writes_is_refused(tmp_path: Path, database: Database) -> None:
    if database.url.startswith("duckdb"):
        writes = "COPY (SELECT {cohort}, {flag}, {start}, {end}) TO 'x.csv'; " + counter(
            database, "errors"
        )
        said = "give one SELECT statement"
    elif database.url.startswith("dbapi+sqlite3"):
        writes = (
            "DELETE FROM counts WHERE flag = {flag} AND variant = {cohort} "
            "AND ts >= {start} AND ts < {end} RETURNING ts AS time, value"
        )
        said = "give one SELECT statement: the connection only reads"
    else:
        writes = (
            "WITH gone AS (DELETE FROM counts WHERE flag = {flag} AND variant = {cohort} "
            "AND ts >= {start} AND ts < {end} RETURNING ts, value) "
            "SELECT ts AS time, value FROM gone"
        )
        said = "read-only transaction"
    plan = setup(tmp_path, "healthy", database, errors=writes)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3 and said in output, output
    code, result = check(setup(tmp_path, "healthy", database))
    assert metric(result, "error_rate")["treatment_n"] == 19_200  # nothing was deleted


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "down",
    [
        pytest.param("postgresql://postgres@127.0.0.1:{port}/metrics", marks=pytest.mark.postgres),
        pytest.param("duckdb:missing/warehouse.duckdb", marks=pytest.mark.duckdb),
        pytest.param("dbapi+sqlite3:missing/warehouse.sqlite", marks=pytest.mark.dbapi),
    ],
)
def test_a_database_that_is_down_exits_3_and_changes_nothing(tmp_path: Path, down: str) -> None:
    since = datetime.now(UTC) - timedelta(hours=2)  # advance evaluates now
    db = Database(down.format(port=_closed_port()), "counts", "latency")
    plan = setup(tmp_path, "healthy", db, since=since)
    flags = tmp_path / "flags" / "flags.json"
    before = flags.read_bytes()
    code, output = invoke("advance", str(plan), "--yes")
    assert code == 3, output
    assert "sql: metric" in output and "cannot reach" in output
    assert flags.read_bytes() == before
    code, output = invoke("check", str(plan))
    assert code == 3 and "cannot reach" in output


def test_explain_prints_the_sql_and_its_bound_parameters(tmp_path: Path) -> None:
    down = Database(f"postgresql://postgres@127.0.0.1:{_closed_port()}/metrics", "counts", "x")
    plan = setup(tmp_path, "healthy", down)
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0, output  # nothing was queried: the database being down does not matter
    rows = json.loads(output)["queries"]
    totals = [r for r in rows if r["metric"] == "errors" and r["verb"] == "counter"]
    treatment = next(r for r in totals if r["cohort"] == "treatment")
    (request,) = treatment["requests"]
    assert request["query"] == (
        "SELECT ts AS time, value FROM counts WHERE flag = %(flag)s AND variant = %(cohort)s "
        "AND metric = 'errors' AND ts >= %(start)s AND ts < %(end)s"
    )
    assert request["params"] == {
        "flag": "healthy",
        "cohort": "true",
        "start": "2023-12-31T22:00:00Z",
        "end": "2024-01-01T00:00:00Z",
    }
    code, text = invoke("check", str(plan), "--at", AT, "--explain")
    assert code == 0 and "%(cohort)s" in text and "2023-12-31T22:00:00Z" in text


@pytest.mark.duckdb
def test_explain_shows_duckdb_markers(tmp_path: Path, sql_csv: tuple[Path, Path]) -> None:
    plan = setup(tmp_path, "healthy", duck(*sql_csv))
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0, output
    rows = json.loads(output)["queries"]
    request = next(r for r in rows if r["metric"] == "requests")["requests"][0]
    assert "variant = $cohort" in request["query"] and "ts >= $start" in request["query"]


INJECTIONS = ("healthy' OR '1'='1", "x'; DROP TABLE counts; --")


@pytest.mark.parametrize("key", INJECTIONS)
def test_sql_in_a_flag_key_is_inert(tmp_path: Path, database: Database, key: str) -> None:
    """The key is compared as a value: it matches no rows (no data: hold), and reads or
    drops nothing; the tables are whole afterwards."""
    plan = setup(tmp_path / "inject", key, database)
    code, result = check(plan)
    assert code == 0 and result["verdict"] == "hold"
    assert {m["status"] for m in result["metrics"]} == {"no_data"}
    code, result = check(setup(tmp_path / "after", "healthy", database))
    assert metric(result, "error_rate")["treatment_n"] == 19_200


def test_sql_in_a_cohort_label_is_inert(tmp_path: Path, database: Database) -> None:
    """A variation served as ``true' OR '1'='1`` is a label compared as text: it matches no
    row, where formatted into the SQL it would match every cohort of every flag."""
    plan = setup(tmp_path, "healthy", database, variations=("true' OR '1'='1", "false"))
    code, result = check(plan)
    assert code == 0 and result["verdict"] == "hold"
    errors = metric(result, "error_rate")
    assert errors["status"] == "no_data" and "requests (treatment) has no data" in errors["note"]


def test_a_query_past_its_statement_timeout_is_stopped(tmp_path: Path, database: Database) -> None:
    if database.url.startswith("duckdb"):
        slow = (
            "SELECT TIMESTAMP '2023-12-31 23:00:00' AS time, count(*) AS value "
            "FROM range(100000000000) WHERE {cohort} <> {flag} AND {start} < {end}"
        )
    elif database.url.startswith("dbapi+sqlite3"):
        slow = (
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
            "SELECT '2023-12-31 23:00:00' AS time, count(*) AS value FROM r "
            "WHERE {cohort} <> {flag} AND {start} < {end}"
        )
    else:
        slow = counter(database, "errors").replace("FROM counts", "FROM counts, pg_sleep(30)")
    plan = setup(tmp_path, "healthy", database, errors=slow)
    text = plan.read_text().replace('"kind": "sql"', '"kind": "sql", "timeout": 0.5')
    plan.write_text(text)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3, output
    assert "metric errors (treatment)" in output
    assert "ran longer than its statement timeout (0.5 s)" in output


@pytest.mark.postgres
def test_a_password_from_the_environment_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Sentinel-pw-4f1c"
    port = _closed_port()
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql://postgres:{secret}@127.0.0.1:{port}/metrics")
    plan = setup(tmp_path, "healthy", Database("duckdb:", "counts", "latency"))
    plan.write_text(plan.read_text().replace('"url": "duckdb:"', '"url_env": "WAREHOUSE_URL"'))
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3 and "cannot reach postgresql://127.0.0.1:" in output, output
    assert secret not in output
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0 and secret not in output


@pytest.mark.duckdb
def test_the_shipped_sql_example_reads_what_the_file_example_reads(workspace: Path) -> None:
    """plans/checkout-v2-sql.yaml as shipped (DuckDB over the workspace's metrics file) gives
    the verdict and the numbers plans/checkout-v2.yaml gives from the same file."""
    at = "2026-11-02T12:00:00Z"
    code, output = invoke("check", "checkout-v2-sql", "--at", at, "--json")
    assert code == 0, output
    sql = json.loads(output)
    code, output = invoke("check", "checkout-v2", "--at", at, "--json")
    assert code == 0, output
    file = json.loads(output)
    assert sql["verdict"] == file["verdict"] == "go", sql["reasons"]
    keys = ("status", "control", "treatment", "control_n", "treatment_n")
    for ours, theirs in zip(sql["metrics"], file["metrics"], strict=True):
        assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}
    assert sql["srm"] == file["srm"]


@pytest.mark.dbapi
def test_explain_shows_the_dbapi_module_markers(tmp_path: Path, sqlite_path: Path) -> None:
    plan = setup(tmp_path, "healthy", Database(f"dbapi+sqlite3:{sqlite_path}", "counts", "x"))
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0, output
    rows = json.loads(output)["queries"]
    totals = [r for r in rows if r["metric"] == "errors" and r["verb"] == "counter"]
    (request,) = next(r for r in totals if r["cohort"] == "treatment")["requests"]
    assert request["query"] == (
        "SELECT ts AS time, value FROM counts WHERE flag = ? AND variant = ? "
        "AND metric = 'errors' AND ts >= ? AND ts < ?"
    )
    assert request["params"] == {
        "flag": "healthy",
        "cohort": "true",
        "start": "2023-12-31T22:00:00Z",
        "end": "2024-01-01T00:00:00Z",
    }


FORMAT_SHIM = """from psycopg import *  # noqa: F403
from psycopg import connect  # noqa: F401

paramstyle = "format"
"""


@pytest.fixture(params=["duckdb", "psycopg", "format"])
def generic(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sql_csv: tuple[Path, Path],
) -> Database:
    """The same tables through modules the tool knows nothing special about: DuckDB
    (qmark) in memory over the CSV files, psycopg by the network form (pyformat; psycopg
    calls the database ``dbname``), and psycopg under a shim declaring ``format`` (``%s``,
    the values in marker order)."""
    if request.param == "duckdb":
        db = duck(*sql_csv)
        return Database("dbapi+duckdb:", db.counts, db.latency)
    url: str = request.getfixturevalue("postgres_url")
    authority, database = url.removeprefix("postgresql://").split("/")
    module = "psycopg"
    if request.param == "format":
        (tmp_path / "formatdb.py").write_text(FORMAT_SHIM)
        monkeypatch.syspath_prepend(str(tmp_path))
        module = "formatdb"
    return Database(f"dbapi+{module}://{authority}?dbname={database}", "counts", "latency")


@pytest.mark.dbapi
@pytest.mark.postgres
def test_any_dbapi_module_gives_the_same_verdicts(tmp_path: Path, generic: Database) -> None:
    code, result = check(setup(tmp_path / "healthy", "healthy", generic), "--fail-on-breach")
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    assert (errors["treatment_n"], errors["control_n"]) == (19_200, 172_800)
    assert abs(metric(result, "mean_latency")["control"] - 136.0) < 2
    code, result = check(setup(tmp_path / "regression", "regression", generic))
    assert result["verdict"] == "rollback", result["reasons"]
    code, result = check(setup(tmp_path / "inject", INJECTIONS[0], generic))
    assert code == 0 and {m["status"] for m in result["metrics"]} == {"no_data"}


@pytest.mark.dbapi
@pytest.mark.postgres
def test_a_generic_module_past_its_timeout_says_the_query_may_still_run(
    tmp_path: Path, postgres_url: str
) -> None:
    authority, database = postgres_url.removeprefix("postgresql://").split("/")
    db = Database(f"dbapi+psycopg://{authority}?dbname={database}", "counts", "latency")
    slow = counter(db, "errors").replace("FROM counts", "FROM counts, pg_sleep(3)")
    plan = setup(tmp_path, "healthy", db, errors=slow)
    plan.write_text(plan.read_text().replace('"kind": "sql"', '"kind": "sql", "timeout": 0.5'))
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3, output
    assert len(output.strip().splitlines()) == 1, output
    said = "metric errors (treatment): the query ran longer than its statement timeout (0.5 s)"
    assert said in output
    assert "psycopg cannot be told to stop it, so it may still be running on the database" in output


@pytest.mark.dbapi
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("dbapi+no_such_dbapi_module:x.db", "cannot import the DB-API module"),
        ("dbapi+json:x.db", "'json' is not a DB-API 2.0 module: it has no connect()"),
    ],
)
def test_a_module_that_cannot_be_used_exits_2_in_one_line(
    tmp_path: Path, url: str, said: str
) -> None:
    plan = setup(tmp_path, "healthy", Database(url, "counts", "latency"))
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1, output
    assert output.startswith(f"error: {plan}: metrics.source.url / ROLLOUT_SQL_URL: {said}")
    assert output.count(str(plan)) == 1


@pytest.mark.dbapi
def test_a_dbapi_password_from_the_environment_is_passed_but_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module gets the password (it echoes its arguments in its error, as drivers
    do); the tool's output never shows it."""
    secret = "Sentinel-pw-9d2e"
    (tmp_path / "echodb.py").write_text(
        "paramstyle = 'qmark'\n\n\ndef connect(**kwargs):\n"
        "    raise RuntimeError(f'login refused for {kwargs}')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_URL", f"dbapi+echodb://rollout:{secret}@db.internal/metrics")
    plan = setup(tmp_path, "healthy", Database("duckdb:", "counts", "latency"))
    plan.write_text(plan.read_text().replace('"url": "duckdb:"', '"url_env": "WAREHOUSE_URL"'))
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3, output
    assert "cannot reach dbapi+echodb://db.internal/metrics: login refused for" in output
    assert "'password': '[redacted]'" in output and secret not in output
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0 and secret not in output
