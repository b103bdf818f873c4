"""The sql source on embedded DuckDB (no server): how rows become the verbs' numbers,
which rows and columns are refused, what --explain shows, and where the URL comes from."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from rolloutcli.metrics import open_source
from rolloutcli.metrics.base import Cohort, Need, QueryFailure, ResolvedQuery, Window
from rolloutcli.metrics.sql import SqlSource
from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import InvalidInputError, PlanError

T = Cohort("treatment", True)
C = Cohort("control", False)
START = datetime(2026, 11, 2, 10, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(minutes=3))
MINUTE = timedelta(minutes=1)

ROWS = """ts,variant,metric,value
2026-11-02 10:00:00,true,requests,10
2026-11-02 10:00:30,true,requests,5
2026-11-02 10:02:00,true,requests,7
2026-11-02 10:00:00,false,requests,90
2026-11-02 10:01:00,true,latency,2
2026-11-02 10:01:10,true,latency,4
2026-11-02 10:02:10,true,latency,6
2026-11-02 10:05:00,true,requests,1000
"""
UNITS = """ts,variant,user,ms
2026-11-02 10:00:00,true,ann,100
2026-11-02 10:00:10,true,ann,300
2026-11-02 10:01:00,true,bob,50
2026-11-02 10:02:00,true,cy,70
2026-11-02 10:02:30,true,cy,90
"""
REQUESTS = """ts,variant,user,failed
2026-11-02 10:00:00,true,ann,1
2026-11-02 10:00:10,true,ann,1
2026-11-02 10:00:20,true,ann,0
2026-11-02 10:00:40,true,bob,0
2026-11-02 10:02:00,true,cy,0
2026-11-02 10:02:30,true,cy,1
2026-11-02 10:01:00,false,dan,0
"""
MOMENTS = """ts,variant,n,total,total_sq
2026-11-02 10:00:00,true,2,6,20
2026-11-02 10:01:00,true,1,5,25
"""


def select(metric: str) -> str:
    return (
        "SELECT ts AS time, value FROM read_csv('rows.csv', types={'variant': 'VARCHAR'}) "
        f"WHERE variant = {{cohort}} AND metric = '{metric}' AND ts >= {{start}} AND ts < {{end}}"
    )


QUERIES = {
    "requests": select("requests"),
    "latency": select("latency"),
    "moments": "SELECT ts AS time, n AS count, total AS sum, total_sq AS sum_sq "
    "FROM read_csv('moments.csv', types={'variant': 'VARCHAR'}) "
    "WHERE variant = {cohort} AND ts >= {start} AND ts < {end}",
    "per_user": "SELECT min(ts) AS time, avg(ms) AS value FROM read_csv('units.csv', "
    "types={'variant': 'VARCHAR'}) WHERE variant = {cohort} AND ts >= {start} AND ts < {end} "
    "GROUP BY user ORDER BY user",
    "errors_per_user": "SELECT min(ts) AS time, sum(failed) AS events, count(*) AS trials "
    "FROM read_csv('requests.csv', types={'variant': 'VARCHAR'}) WHERE variant = {cohort} "
    "AND ts >= {start} AND ts < {end} GROUP BY user",
    "unfiltered": "SELECT ts AS time, value FROM read_csv('rows.csv', "
    "types={'variant': 'VARCHAR'}) WHERE variant = {cohort} AND {start} < {end}",
    "columns": "SELECT ts, value FROM read_csv('rows.csv') WHERE {cohort} = {role} "
    "AND {start} < {end}",
    "text": "SELECT ts AS time, metric AS value FROM read_csv('rows.csv', "
    "types={'variant': 'VARCHAR'}) WHERE variant = {cohort} AND ts >= {start} AND ts < {end}",
}


def write_plan(root: Path, url: str = "duckdb:", queries: dict[str, str] = QUERIES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rows.csv").write_text(ROWS)
    (root / "moments.csv").write_text(MOMENTS)
    (root / "units.csv").write_text(UNITS)
    (root / "requests.csv").write_text(REQUESTS)
    metrics = {"source": {"kind": "sql", "url": url}, "queries": queries}
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


@pytest.fixture
def source(tmp_path: Path) -> SqlSource:
    found = open_source(load_plan(write_plan(tmp_path)))
    assert isinstance(found, SqlSource)
    return found


def test_a_counter_sums_the_rows_in_the_window(source: SqlSource) -> None:
    assert source.counter("requests", T, WINDOW) == 22.0
    assert source.counter("requests", C, WINDOW) == 90.0


def test_a_counter_series_places_each_row_in_its_interval(source: SqlSource) -> None:
    series = source.counter_series("requests", T, WINDOW, MINUTE)
    assert series is not None
    assert series[0] == 15.0 and math.isnan(series[1]) and series[2] == 7.0


def test_values_are_the_rows_themselves(source: SqlSource) -> None:
    found = source.values("latency", T, WINDOW)
    assert found is not None
    assert (found.n, found.mean, found.sd, found.samples) == (3, 4.0, 2.0, (2.0, 4.0, 6.0))


def test_moment_rows_pool_into_one_summary(source: SqlSource) -> None:
    found = source.values("moments", T, WINDOW)
    assert found is not None
    # values 2, 4 (sum 6, squares 20) and 5: mean 11/3, sd of (2, 4, 5)
    assert found.n == 3 and found.mean == pytest.approx(11 / 3)
    assert found.sd == pytest.approx(float(np.std([2, 4, 5], ddof=1)))
    assert found.samples is None


def test_a_moment_series_per_interval(source: SqlSource) -> None:
    found = source.moment_series("moments", T, WINDOW, MINUTE, log=False)
    assert found is not None
    assert found.n[:2].tolist() == [2.0, 1.0] and math.isnan(found.n[2])
    assert found.total[:2].tolist() == [6.0, 5.0] and found.total_sq[:2].tolist() == [20.0, 25.0]
    logged = source.moment_series("latency", T, WINDOW, MINUTE, log=True)
    assert logged is not None
    assert logged.total[1] == pytest.approx(math.log(2) + math.log(4))


def test_one_row_per_unit_makes_a_mean_over_units(source: SqlSource) -> None:
    """GROUP BY the randomisation unit: each user's mean latency is one value, so the mean
    guardrail compares users (3 here), not requests (5)."""
    found = source.values("per_user", T, WINDOW)
    assert found is not None
    assert found.samples == (200.0, 50.0, 80.0) and found.n == 3


def test_one_row_per_unit_with_events_and_trials_makes_per_unit_sums(source: SqlSource) -> None:
    """ann (2 of 3 failed) and bob (0 of 1) first seen in the first minute, cy (1 of 2) in
    the third: per interval the units and the sums of e, t, e², t², e·t."""
    found = source.unit_series("errors_per_user", T, WINDOW, MINUTE)
    assert found is not None
    assert found.n[0] == 2 and math.isnan(found.n[1]) and found.n[2] == 1
    first = [a[0] for a in found.arrays()]
    assert first == [2.0, 2.0, 4.0, 4.0, 10.0, 6.0]
    assert [a[2] for a in found.arrays()] == [1.0, 1.0, 2.0, 1.0, 4.0, 2.0]


def test_a_per_unit_query_counts_units_as_a_counter(source: SqlSource) -> None:
    """As exposures: each row is one unit."""
    assert source.counter("errors_per_user", T, WINDOW) == 3.0
    assert source.counter("errors_per_user", C, WINDOW) == 1.0


def test_per_unit_rows_and_value_rows_are_not_mixed_up(source: SqlSource) -> None:
    with pytest.raises(QueryFailure, match=r"returns events and trials \(one row per unit\)"):
        source.values("errors_per_user", T, WINDOW)
    with pytest.raises(QueryFailure, match="returns no events and trials columns"):
        source.unit_series("requests", T, WINDOW, MINUTE)


def test_moment_rows_cannot_be_logged(source: SqlSource) -> None:
    with pytest.raises(QueryFailure, match="returns count, sum and sum_sq but its guardrail"):
        source.moment_series("moments", T, WINDOW, MINUTE, log=True)


def test_no_rows_is_no_data(source: SqlSource) -> None:
    assert source.counter("latency", C, WINDOW) is None
    assert source.values("latency", C, WINDOW) is None


def test_a_row_outside_the_window_is_refused(source: SqlSource) -> None:
    with pytest.raises(QueryFailure) as caught:
        source.counter("unfiltered", T, WINDOW)
    assert "a row at 2026-11-02T10:05:00Z, outside the window asked for" in str(caught.value)
    assert "filter the rows with WHERE ts >= {start} AND ts < {end}" in str(caught.value)


def test_columns_are_read_by_name(source: SqlSource) -> None:
    with pytest.raises(QueryFailure, match=r"returns columns \(ts, value\): return time and"):
        source.counter("columns", T, WINDOW)
    with pytest.raises(QueryFailure, match="a value 'requests' that is not a number"):
        source.counter("text", T, WINDOW)


def test_coverage_follows_the_rows_cadence(source: SqlSource) -> None:
    need = Need("counter_series", "moments", T, WINDOW, MINUTE)
    found = source.coverage(need, WINDOW)
    assert found is not None
    assert (found.expected, found.received, found.silent_tail) == (3, 2, 1)
    # a single row has no gaps to find a cadence in
    single = Window(START, START + timedelta(minutes=1))
    assert source.coverage(Need("counter_series", "moments", T, single, MINUTE), single) is None


def test_explain_shows_the_sql_and_its_parameters(source: SqlSource) -> None:
    (resolved,) = source.resolve(Need("counter", "requests", T, WINDOW))
    assert resolved == ResolvedQuery(
        "sql (duckdb (in memory))",
        "SELECT ts AS time, value FROM read_csv('rows.csv', types={'variant': 'VARCHAR'}) "
        "WHERE variant = $cohort AND metric = 'requests' AND ts >= $start AND ts < $end",
        {"cohort": "true", "start": "2026-11-02T10:00:00Z", "end": "2026-11-02T10:03:00Z"},
    )
    assert source.describe("requests", C, WINDOW).endswith(
        "[cohort='false', start='2026-11-02T10:00:00Z', end='2026-11-02T10:03:00Z']"
    )
    assert source.misses == 0  # nothing ran


def test_the_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(tmp_path)
    plan.write_text(plan.read_text().replace('"url": "duckdb:"', '"url_env": "WAREHOUSE_URL"'))
    loaded = load_plan(plan)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    with pytest.raises(InvalidInputError, match=r"set metrics\.source\.url / WAREHOUSE_URL"):
        open_source(loaded)
    monkeypatch.setenv("WAREHOUSE_URL", "duckdb:")
    source = open_source(loaded)
    assert source.counter("requests", T, WINDOW) == 22.0


def test_a_missing_database_file_is_unreachable(tmp_path: Path) -> None:
    source = open_source(load_plan(write_plan(tmp_path, url="duckdb:no/such.duckdb")))
    with pytest.raises(QueryFailure) as caught:
        source.counter("requests", T, WINDOW)
    assert caught.value.kind == "unreachable"
    assert f"cannot reach duckdb:{tmp_path}/no/such.duckdb: no such database file" in str(
        caught.value
    )


def test_a_plan_with_a_password_or_an_unbound_query_does_not_validate(tmp_path: Path) -> None:
    queries = {"requests": "SELECT ts AS time, value FROM t WHERE v = '{cohort}'"}
    plan = write_plan(tmp_path, url="postgresql://r:s3cret@db/x", queries=queries)
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    text = str(caught.value)
    assert "metrics.source.url: the URL holds a password: a plan never does" in text
    assert "metrics.queries.requests: {cohort} is inside quotes" in text
    assert "metrics.queries.requests: the query names no {start} or {end}" in text


def test_a_duckdb_file_is_opened_read_only(tmp_path: Path) -> None:
    import duckdb

    with duckdb.connect(str(tmp_path / "events.duckdb")) as conn:
        conn.execute("CREATE TABLE hits (ts TIMESTAMP, variant VARCHAR, value BIGINT)")
        conn.execute("INSERT INTO hits VALUES ('2026-11-02 10:00:00', 'true', 4)")
    window = "ts >= {start} AND ts < {end}"
    queries = {
        "requests": f"SELECT ts AS time, value FROM hits WHERE variant = {{cohort}} AND {window}",
        "wipe": f"DELETE FROM hits WHERE variant = {{cohort}} AND {window}",
    }
    source = open_source(load_plan(write_plan(tmp_path, "duckdb:events.duckdb", queries)))
    assert source.counter("requests", T, WINDOW) == 4.0
    with pytest.raises(QueryFailure, match="give one SELECT statement: the connection only reads"):
        source.counter("wipe", T, WINDOW)
    with duckdb.connect(str(tmp_path / "events.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM hits").fetchall() == [(1,)]


def test_too_many_rows_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rolloutcli.metrics import sqldrivers

    monkeypatch.setattr(sqldrivers, "MAX_ROWS", 2)
    source = open_source(load_plan(write_plan(tmp_path)))
    with pytest.raises(QueryFailure) as caught:
        source.counter("requests", T, WINDOW)
    assert "the query returned more than 2 rows" in str(caught.value)
    assert "aggregate per interval in the query" in str(caught.value)
