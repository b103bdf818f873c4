"""Guardrails per segment on the sql source (issue 22): the guardrail's queries return the
segment as one more column, named as ``segments.by``, and the source groups the rows by it
(the column name is never put into the SQL). Run on DuckDB over a CSV file, a SQLite file
through the DB-API driver and a real PostgreSQL 15.

The table ``regions (ts, flag, variant, region, metric, value)`` holds the Prometheus
suite's regional history (:mod:`tests.integration.prometheus_data`) as a team's event
rollups, per 15 s over the 4 h before END: ``region-regression`` triples the treatment's
errors in eu-west (10% of the traffic) from END - 2h; ``region-healthy`` has 8 regions at
1% errors everywhere. ``latency`` (one value per 15 s, a mean guardrail's) is normal around
420 ms (sd 25) everywhere but in eu-west's treatment of ``region-regression``, 1.8x slower
from END - 2h."""

from __future__ import annotations

import contextlib
import csv
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.integration.prometheus_data import (
    END,
    REGION_FLAGS,
    REGION_PER_STEP,
    TREATMENT_SHARE,
    region_error_rate,
)
from tests.integration.sql_data import _stamp
from tests.integration.test_sql_metrics import Database, check, metric, setup

pytestmark = [pytest.mark.integration, pytest.mark.sql]

COLUMNS = ("ts", "flag", "variant", "region", "metric", "value")
SCHEMA = (
    "CREATE TABLE regions (ts timestamp NOT NULL, flag text NOT NULL, variant text NOT NULL, "
    "region text, metric text NOT NULL, value bigint NOT NULL)"
)
GUARDRAIL = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
    segments: {by: region, require: [eu-west]}
"""


def rows(seed: int = 20261207) -> list[tuple[str, ...]]:
    """Per 15 s, each region's and cohort's requests and errors (a row stamped t counts
    what happened in (t - 15 s, t]), the same on every machine."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, ...]] = []
    for flag, regions in REGION_FLAGS.items():
        for region, region_share in regions.items():
            for variant, share in (("true", TREATMENT_SHARE), ("false", 1 - TREATMENT_SHARE)):
                requests = round(REGION_PER_STEP * region_share * share)
                for t in range(END - 4 * 3600 + 15, END + 1, 15):
                    rate = region_error_rate(flag, region, variant, t)
                    errors = int(rng.binomial(requests, rate))
                    stamp = _stamp(t)
                    out.append((stamp, flag, variant, region, "requests", str(requests)))
                    out.append((stamp, flag, variant, region, "errors", str(errors)))
                    slower = 1.8 if rate == 0.03 else 1.0  # where the errors triple
                    latency = round(float(rng.normal(420, 25)) * slower)
                    out.append((stamp, flag, variant, region, "latency", str(latency)))
    return out


@pytest.fixture(scope="module")
def regions_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("regions") / "regions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows())
    return path


@pytest.fixture(
    params=[
        pytest.param("duckdb", marks=pytest.mark.duckdb),
        pytest.param("sqlite", marks=pytest.mark.dbapi),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def database(request: pytest.FixtureRequest, regions_csv: Path) -> Database:
    if request.param == "duckdb":
        table = f"read_csv('{regions_csv}', types={{'variant': 'VARCHAR'}})"
        return Database("duckdb:", table, table)
    if request.param == "sqlite":
        path = regions_csv.parent / "regions.sqlite"
        if not path.exists():
            with contextlib.closing(sqlite3.connect(path)) as conn, conn:
                conn.execute(SCHEMA)
                with regions_csv.open(newline="") as handle:
                    reader = csv.reader(handle)
                    next(reader)
                    conn.executemany("INSERT INTO regions VALUES (?, ?, ?, ?, ?, ?)", reader)
        return Database(f"dbapi+sqlite3:{path}", "regions", "regions")
    url = request.getfixturevalue("postgres_url")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('regions')").fetchone() == (None,):
            conn.execute(SCHEMA)
            with conn.cursor().copy("COPY regions FROM STDIN (FORMAT csv, HEADER true)") as copy:
                copy.write(regions_csv.read_bytes())
    return Database(url, "regions", "regions")


def by_region(db: Database, metric: str) -> str:
    return (
        f"SELECT ts AS time, region, value FROM {db.counts} WHERE flag = {{flag}} "
        f"AND variant = {{cohort}} AND metric = '{metric}' AND ts >= {{start}} AND ts < {{end}}"
    )


def plan_for(root: Path, flag: str, db: Database) -> Path:
    return setup(
        root,
        flag,
        db,
        guardrails=GUARDRAIL,
        requests=by_region(db, "requests"),
        errors=by_region(db, "errors"),
    )


def test_a_regression_in_one_region_rolls_back_naming_it(
    tmp_path: Path, database: Database
) -> None:
    code, result = check(plan_for(tmp_path, "region-regression", database), "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert (errors["segment_by"], errors["breached_segment"]) == ("region", "eu-west")
    assert errors["relative_change"] < 0.5  # over everyone: under the pause tier
    segments = {s["name"]: s for s in errors["segments"]}
    assert sorted(segments) == ["ap-south", "eu-west", "sa-east", "us-east", "us-west"]
    # 2 h at 2,000 requests per 15 s, 10% treatment, eu-west 10% of it: exactly
    assert segments["eu-west"]["treatment_n"] == 9_600
    assert 2.4 < segments["eu-west"]["treatment"] / segments["eu-west"]["control"] < 3.6
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    (reason,) = [r for r in result["reasons"] if "eu-west" in r]
    assert "in region=eu-west" in reason


def test_a_healthy_rollout_over_eight_regions_goes_on(tmp_path: Path, database: Database) -> None:
    code, result = check(plan_for(tmp_path, "region-healthy", database), "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    assert errors["status"] == "ok"
    assert len(errors["segments"]) == 8
    assert {s["status"] for s in errors["segments"]} == {"ok"}
    assert errors["segment_alpha"] == pytest.approx(0.05 / 9)


def test_a_query_without_the_region_column_holds_naming_it(
    tmp_path: Path, database: Database
) -> None:
    plan = setup(
        tmp_path,
        "region-healthy",
        database,
        guardrails=GUARDRAIL,
        requests=by_region(database, "requests").replace("region, value", "value"),
        errors=by_region(database, "errors"),
    )
    _, result = check(plan)
    assert result["verdict"] == "hold"
    note = metric(result, "error_rate")["note"]
    assert note.startswith(
        "requests (treatment) has no region label or column, so it cannot be judged per "
        "region (segments.by)"
    )


LATENCY_GUARDRAIL = """guardrails:
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds: {warn: "+10%", pause: "+25%", rollback: "+50%"}
    segments: {by: region, require: [eu-west]}
"""


def latency_plan(root: Path, flag: str, db: Database) -> Path:
    return setup(
        root,
        flag,
        db,
        guardrails=LATENCY_GUARDRAIL,
        requests=by_region(db, "requests"),
        latency_ms=by_region(db, "latency"),
    )


def test_a_slower_region_rolls_back_a_mean_guardrail_naming_it(
    tmp_path: Path, database: Database
) -> None:
    code, result = check(latency_plan(tmp_path, "region-regression", database), "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    latency = metric(result, "latency")
    assert (latency["segment_by"], latency["breached_segment"]) == ("region", "eu-west")
    segments = {s["name"]: s for s in latency["segments"]}
    assert sorted(segments) == ["ap-south", "eu-west", "sa-east", "us-east", "us-west"]
    eu = segments["eu-west"]
    assert eu["treatment_n"] == 480  # one value per 15 s for 2 h
    assert 1.7 < eu["treatment"] / eu["control"] < 1.9
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    (reason,) = [r for r in result["reasons"] if "eu-west" in r]
    assert "in region=eu-west" in reason


def test_regions_alike_keep_a_mean_guardrail_going(tmp_path: Path, database: Database) -> None:
    code, result = check(latency_plan(tmp_path, "region-healthy", database), "--fail-on-breach")
    assert (code, result["verdict"]) == (0, "go"), result["reasons"]
    latency = metric(result, "latency")
    assert latency["status"] == "ok" and len(latency["segments"]) == 8
    assert {s["status"] for s in latency["segments"]} == {"ok"}
    assert latency["segment_alpha"] == pytest.approx(0.05 / 9)
