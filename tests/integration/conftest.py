"""Fixtures for the integration tests: one real Unleash server per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.unleash_server import UnleashServer, start_unleash, stop_unleash


@pytest.fixture(scope="session")
def unleash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnleashServer]:
    """A real Unleash OSS server on a fresh PostgreSQL database, shared by the whole session.

    Started on first use, stopped at the end of the session. If it cannot start (e.g.
    ``scripts/install-unleash`` was not run) the tests using it ERROR; they are never skipped.
    The server's data persists between the tests of a session: use unique flag names.
    """
    server = start_unleash(tmp_path_factory.mktemp("unleash"))
    try:
        yield server
    finally:
        stop_unleash(server)


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus 2.42 over the backfilled history of ``prometheus_data`` (three
    rollouts ending at ``END``), shared by the session. Errors (never skips) when the
    binaries are missing: ``scripts/install-prometheus`` installs them."""
    from tests.integration import prometheus_data
    from tests.integration.prometheus_server import backfill, start_prometheus, stop_prometheus

    root = tmp_path_factory.mktemp("prometheus")
    blocks = backfill(prometheus_data.write(root / "history.om"), root / "blocks")
    server = start_prometheus(blocks, root)
    try:
        yield server.url
    finally:
        stop_prometheus(server)


@pytest.fixture(scope="session")
def victoriametrics_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real VictoriaMetrics 1.79 holding the same history as ``prometheus_url`` (the
    ``prometheus_data`` rollouts, imported over HTTP), shared by the session. Errors (never
    skips) when the binary is missing: ``scripts/install-victoriametrics`` installs it."""
    from tests.integration import prometheus_data
    from tests.integration.victoriametrics_server import (
        import_samples,
        start_victoriametrics,
        stop_victoriametrics,
    )

    server = start_victoriametrics(tmp_path_factory.mktemp("victoriametrics"))
    try:
        import_samples(server, prometheus_data.samples())
        yield server.url
    finally:
        stop_victoriametrics(server)


@pytest.fixture(scope="session")
def sql_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """counts.csv and latency.csv of ``sql_data`` (the Prometheus suite's truth as tables)."""
    from tests.integration import sql_data

    return sql_data.write_csv(tmp_path_factory.mktemp("sql-data"))


@pytest.fixture(scope="session")
def postgres_url(
    tmp_path_factory: pytest.TempPathFactory, sql_csv: tuple[Path, Path]
) -> Iterator[str]:
    """A real PostgreSQL 15 holding ``sql_data``'s tables, shared by the session. Errors
    (never skips) when the server binaries are missing: ``scripts/install-unleash``."""
    from tests.integration import sql_data
    from tests.integration.postgres_server import running_postgres

    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        sql_data.load_postgres(url, *sql_csv)
        yield url


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory, sql_csv: tuple[Path, Path]) -> Path:
    """A SQLite file holding ``sql_data``'s tables (sqlite3 is in the standard library)."""
    from tests.integration import sql_data

    path = tmp_path_factory.mktemp("sqlite") / "metrics.sqlite"
    sql_data.load_sqlite(path, *sql_csv)
    return path
