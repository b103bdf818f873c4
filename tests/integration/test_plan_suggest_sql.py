"""`rollout plan suggest` reading its history through SQL: DuckDB over a CSV export of
3 days of 5-minute rows with known parameters (the control cohort only, as before a
rollout): requests Poisson around 5,000 per 5 minutes (60,000/h), errors 1% of them
(binomial), and one latency value per 5 minutes, log-normal around 250 ms (sd 0.1 in ln).
The suggestion must read those parameters back and validate as a plan."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke

pytestmark = [pytest.mark.integration, pytest.mark.sql, pytest.mark.duckdb]

END = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 3


def write_history(path: Path) -> Path:
    rng = np.random.default_rng(20260101)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "variant", "metric", "value"])
        at = END - timedelta(days=DAYS)
        while at < END:
            stamp = at.strftime("%Y-%m-%d %H:%M:%S")
            requests = int(rng.poisson(5000))
            writer.writerow([stamp, "false", "requests", requests])
            writer.writerow([stamp, "false", "errors", int(rng.binomial(requests, 0.01))])
            latency = float(rng.lognormal(np.log(250.0), 0.1))
            writer.writerow([stamp, "false", "latency_ms", f"{latency:.4f}"])
            at += timedelta(minutes=5)
    return path


def query(history: Path, metric: str) -> str:
    return (
        f"SELECT ts AS time, value FROM read_csv('{history}', types={{'variant': 'VARCHAR'}}) "
        f"WHERE variant = {{cohort}} AND metric = '{metric}' AND ts >= {{start}} AND ts < {{end}}"
    )


def suggest(history: Path, *extra: str) -> tuple[int, str]:
    args = ["plan", "suggest", "checkout", "--metrics-source", "sql", "--url", "duckdb:"]
    args += ["--ratio", "error_rate=errors/requests", "--mean", "p99=latency_ms", "--log", "p99"]
    args += ["--lookback", f"{DAYS}d", "--at", format_timestamp(END)]
    args += ["--flag-file", "../flags/flags.json"]
    for metric in ("requests", "errors", "latency_ms"):
        args += ["--query", f"{metric}={query(history, metric)}"]
    return invoke(*args, *extra)


def test_a_suggestion_reads_the_history_back(tmp_path: Path) -> None:
    code, text = suggest(write_history(tmp_path / "history.csv"))
    assert code == 0, text
    assert "kind: sql" in text and "url: 'duckdb:'" in text
    flat = " ".join(line.strip().lstrip("# ") for line in text.splitlines())
    found = re.search(r"errors ([\d.]+)% of requests, ([\d,]+) requests/h on average", flat)
    assert found, flat
    assert abs(float(found.group(1)) - 1.0) < 0.05
    assert abs(int(found.group(2).replace(",", "")) - 60_000) < 600
    assert f"over {DAYS * 24}h" in flat
    geometric = re.search(r"\(geometric mean ([\d.]+)\), sd ([\d.]+) \(ln\)", flat)
    assert geometric, flat
    assert (
        abs(float(geometric.group(1)) - 250.0) < 3 and abs(float(geometric.group(2)) - 0.1) < 0.01
    )
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "checkout.yaml").write_text(text)
    code, output = invoke("validate", str(plans / "checkout.yaml"))
    assert code == 0, output


def test_no_history_is_refused_naming_the_query(tmp_path: Path) -> None:
    code, output = suggest(write_history(tmp_path / "history.csv"), "--control", "off")
    assert code == 3, output
    assert "no data for requests ({cohort} = off)" in output and "variant = $cohort" in output


@pytest.mark.dbapi
def test_a_suggestion_reads_the_history_through_a_dbapi_module(tmp_path: Path) -> None:
    """The same history in a SQLite file, read through ``dbapi+sqlite3:``: the same
    parameters come back."""
    import contextlib
    import sqlite3

    history = write_history(tmp_path / "history.csv")
    database = tmp_path / "history.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("CREATE TABLE history (ts TEXT, variant TEXT, metric TEXT, value REAL)")
        with history.open(newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?)", rows)
    args = ["plan", "suggest", "checkout", "--metrics-source", "sql"]
    args += ["--url", f"dbapi+sqlite3:{database}", "--ratio", "error_rate=errors/requests"]
    args += ["--lookback", f"{DAYS}d", "--at", format_timestamp(END)]
    args += ["--flag-file", "../flags/flags.json"]
    for metric in ("requests", "errors"):
        sql = (
            "SELECT ts AS time, value FROM history WHERE variant = {cohort} "
            f"AND metric = '{metric}' AND ts >= {{start}} AND ts < {{end}}"
        )
        args += ["--query", f"{metric}={sql}"]
    code, text = invoke(*args)
    assert code == 0, text
    assert f"url: 'dbapi+sqlite3:{database}'" in text
    flat = " ".join(line.strip().lstrip("# ") for line in text.splitlines())
    found = re.search(r"errors ([\d.]+)% of requests, ([\d,]+) requests/h on average", flat)
    assert found, flat
    assert abs(float(found.group(1)) - 1.0) < 0.05
    assert abs(int(found.group(2).replace(",", "")) - 60_000) < 600


REGIONS = {"us-east": 0.5, "eu-west": 0.3, "ap-south": 0.2}


def write_regions(path: Path) -> Path:
    """The same 3 days split by region; eu-west's errors at 2%, the others' at 1%."""
    rng = np.random.default_rng(22)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "variant", "region", "metric", "value"])
        at = END - timedelta(days=DAYS)
        while at < END:
            stamp = at.strftime("%Y-%m-%d %H:%M:%S")
            for region, share in REGIONS.items():
                requests = int(rng.poisson(5000 * share))
                rate = 0.02 if region == "eu-west" else 0.01
                writer.writerow([stamp, "false", region, "requests", requests])
                writer.writerow([stamp, "false", region, "errors", rng.binomial(requests, rate)])
            at += timedelta(minutes=5)
    return path


def test_segments_that_differ_are_proposed_from_the_querys_column(tmp_path: Path) -> None:
    """The queries return the segment as one more column named as --segments-by."""
    history = write_regions(tmp_path / "regions.csv")
    args = ["plan", "suggest", "checkout", "--metrics-source", "sql", "--url", "duckdb:"]
    args += ["--ratio", "error_rate=errors/requests", "--segments-by", "region"]
    args += ["--lookback", f"{DAYS}d", "--at", format_timestamp(END)]
    args += ["--flag-file", "../flags/flags.json"]
    for metric in ("requests", "errors"):
        text = query(history, metric).replace("ts AS time, value", "ts AS time, region, value")
        args += ["--query", f"{metric}={text}"]
    code, text = invoke(*args)
    assert code == 0, text
    assert "    segments:\n      by: region" in text
    assert "require: [us-east, eu-west, ap-south]" in text
    flat = " ".join(line.strip().lstrip("# ") for line in text.splitlines())
    assert "error_rate differs by region: eu-west 2." in flat
