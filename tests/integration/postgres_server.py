"""A real, throwaway PostgreSQL 15 server for the SQL metrics tests, started the way the
Unleash tests start theirs (:mod:`tests.integration.unleash_server`: a fresh ``initdb``
cluster on a free port of 127.0.0.1 only, run as the ``postgres`` user when this is root),
with a ``metrics`` database. The tests connect as the superuser on purpose: what keeps a
query from writing is the source's read-only connection, not the role's grants."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.integration.unleash_server import HOST, PG_SUPERUSER, _start_postgres, _stop_postgres

DATABASE = "metrics"


@contextlib.contextmanager
def running_postgres(workdir: Path) -> Iterator[str]:
    """The URL of a running server's ``metrics`` database; the server is stopped after."""
    import psycopg

    pg = _start_postgres(workdir)
    try:
        admin = f"postgresql://{PG_SUPERUSER}@{HOST}:{pg.port}"
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield f"{admin}/{DATABASE}"
    finally:
        _stop_postgres(pg)
