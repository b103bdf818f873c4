"""The tables the SQL integration tests query, with the truth of the Prometheus suite's
history (:mod:`tests.integration.prometheus_data`): three rollouts of 4 hours ending at END,
every 15 s per flag 400 requests, 10% to the treatment (variant ``true``) and 90% to
control (``false``).

* ``healthy``: 1% errors in both cohorts; ``regression``: the treatment's errors triple from
  END - 2h; ``incident``: both cohorts go to 8% errors at END - 1h.

Two tables, as a team's event rollups would be:

* ``counts (ts, flag, variant, metric, value)``: per 15 s, the requests, errors, checkouts
  and orders of each cohort (a row stamped t counts what happened in (t - 15 s, t]);
* ``latency (ts, flag, variant, n, total, total_sq)``: per 15 s, the count, sum and sum of
  squares of the requests' latencies in milliseconds (a mean guardrail's moments);
* ``users (ts, flag, variant, user_id, requests, errors)``: one row per user (a third
  table, ``users.csv`` beside the others): every minute 10 new users in the treatment and
  90 in control, each with a geometric number of requests (mean 10) and an error rate of
  its own (Beta with the mean the flag's error rate and concentration 20), so requests
  cluster within users (a per-unit ratio guardrail's rows).

Written as CSV (what DuckDB reads) and loaded into PostgreSQL and a SQLite file from the
same rows (SQLite keeps the times as its own text form, ``YYYY-MM-DD HH:MM:SS``).
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tests.integration.prometheus_data import END, PER_STEP, STEP, TREATMENT_SHARE, error_rate

HOURS = 4
FLAGS = ("healthy", "regression", "incident")
COUNTS = ("ts", "flag", "variant", "metric", "value")
LATENCY = ("ts", "flag", "variant", "n", "total", "total_sq")
USERS = ("ts", "flag", "variant", "user_id", "requests", "errors")
USERS_PER_MINUTE = {"true": 10, "false": 90}

Row = tuple[str, ...]


def _stamp(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def rows(seed: int = 20240101) -> tuple[list[Row], list[Row]]:
    """(counts rows, latency rows), the same on every machine."""
    rng = np.random.default_rng(seed)
    counts: list[Row] = []
    latency: list[Row] = []
    for flag in FLAGS:
        for variant, share in (("true", TREATMENT_SHARE), ("false", 1 - TREATMENT_SHARE)):
            requests = round(PER_STEP * share)
            for t in _times():
                errors = int(rng.binomial(requests, error_rate(flag, variant, t)))
                started = int(rng.binomial(requests, 0.2))
                completed = int(rng.binomial(started, 0.5))
                ms = rng.lognormal(np.log(120.0), 0.5, requests)
                stamp = _stamp(t)
                for metric, value in (
                    ("requests", requests),
                    ("errors", errors),
                    ("checkouts", started),
                    ("orders", completed),
                ):
                    counts.append((stamp, flag, variant, metric, str(value)))
                total, total_sq = float(ms.sum()), float((ms * ms).sum())
                latency.append(
                    (stamp, flag, variant, str(requests), f"{total:.6f}", f"{total_sq:.6f}")
                )
    return counts, latency


def user_rows(seed: int = 20240102) -> list[Row]:
    """The ``users`` table's rows, the same on every machine."""
    rng = np.random.default_rng(seed)
    out: list[Row] = []
    for flag in FLAGS:
        for variant, count in USERS_PER_MINUTE.items():
            for t in range(END - HOURS * 3600 + 60, END + 1, 60):
                rate = error_rate(flag, variant, t)
                requests = rng.geometric(1 / 10, count)
                errors = rng.binomial(requests, rng.beta(rate * 20, (1 - rate) * 20, count))
                stamp = _stamp(t)
                for i in range(count):
                    user = f"{variant}-{t}-{i}"
                    out.append((stamp, flag, variant, user, str(requests[i]), str(errors[i])))
    return out


def _times() -> Iterator[int]:
    return iter(range(END - HOURS * 3600 + STEP, END + 1, STEP))


def write_csv(root: Path) -> tuple[Path, Path]:
    """counts.csv and latency.csv under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    counts, latency = rows()
    out = []
    for name, header, table in (("counts", COUNTS, counts), ("latency", LATENCY, latency)):
        path = root / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(table)
        out.append(path)
    with (root / "users.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(USERS)
        writer.writerows(user_rows())
    return out[0], out[1]


SCHEMA = """
CREATE TABLE counts (ts timestamp NOT NULL, flag text NOT NULL, variant text NOT NULL,
                     metric text NOT NULL, value bigint NOT NULL);
CREATE TABLE latency (ts timestamp NOT NULL, flag text NOT NULL, variant text NOT NULL,
                      n bigint NOT NULL, total double precision NOT NULL,
                      total_sq double precision NOT NULL);
CREATE TABLE users (ts timestamp NOT NULL, flag text NOT NULL, variant text NOT NULL,
                    user_id text NOT NULL, requests bigint NOT NULL, errors bigint NOT NULL);
CREATE INDEX ON counts (flag, variant, metric, ts);
"""


def _tables(counts_csv: Path, latency_csv: Path) -> tuple[tuple[str, Path], ...]:
    users = counts_csv.parent / "users.csv"
    return (("counts", counts_csv), ("latency", latency_csv), ("users", users))


def load_postgres(url: str, counts_csv: Path, latency_csv: Path) -> None:
    """Create the two tables in the database at ``url`` and copy the CSV files in."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for table, path in _tables(counts_csv, latency_csv):
            with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                copy.write(path.read_bytes())


def load_sqlite(path: Path, counts_csv: Path, latency_csv: Path) -> None:
    """A SQLite database file at ``path`` with the two tables, copied from the CSV files."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(SCHEMA.replace("CREATE INDEX ON counts", "CREATE INDEX ix ON counts"))
        for table, csv_path in _tables(counts_csv, latency_csv):
            with csv_path.open(newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                marks = ", ".join("?" * len(header))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", reader)
