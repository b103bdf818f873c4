"""Fixtures for the integration tests: one real Unleash server per test session."""

from __future__ import annotations

from collections.abc import Iterator

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
