"""The PostgreSQL records store against a real PostgreSQL 15 (the session's ``postgres_url``
server; each test gets a database of its own).

Commands run as real ``rollout`` processes, each in its own copy of the example workspace:
what one machine writes, another reads back; a store that is down does not stop the action,
and its record reaches the store with the next write.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from rolloutcli.journal.pgstore import PostgresStore, StoreError
from rolloutcli.journal.records import SPOOL_NAME
from rolloutcli.journal.store import append, read
from rolloutcli.support.redact import display_url
from tests.conftest import write_workspace

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PASSWORD = "records-pw-7f3a9c"
ROLLOUT = str(Path(sys.executable).parent / "rollout")


def server_and_admin(postgres_url: str) -> tuple[str, str]:
    """(``postgresql://user@host:port``, the admin database's URL)."""
    server = postgres_url.rsplit("/", 1)[0]
    return server, f"{server}/postgres"


def with_password(server: str, database: str) -> str:
    """The URL with a password in it (the test server trusts loopback, so it is ignored by
    the server; it must still never be printed)."""
    scheme, rest = server.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}/{database}"


def create_database(postgres_url: str, name: str) -> None:
    with psycopg.connect(server_and_admin(postgres_url)[1], autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())


@pytest.fixture
def records_url(postgres_url: str) -> Iterator[str]:
    name = f"records_{uuid.uuid4().hex[:12]}"
    create_database(postgres_url, name)
    yield with_password(server_and_admin(postgres_url)[0], name)


def rows(url: str) -> list[tuple[str, str | None, str | None, str | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, plan, event, record->>'result' FROM decision_records ORDER BY seq"
        ).fetchall()


def rollout(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROLLOUT_")}
    environ.update(env or {})
    return subprocess.Popen(
        [ROLLOUT, *args],
        cwd=root,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    assert PASSWORD not in out and PASSWORD not in err
    return process.returncode, out, err


def test_two_workspaces_write_a_third_reads_them_all(records_url: str, tmp_path: Path) -> None:
    first, second, third = (write_workspace(tmp_path / n) for n in ("a", "b", "c"))
    # one by --records, one by ROLLOUT_RECORDS, at the same time
    a = rollout(first, "rollback", "recommender-model", "--yes", "--json", "--records", records_url)
    b = rollout(
        second,
        "rollback",
        "recommender-model",
        "--yes",
        "--json",
        env={"ROLLOUT_RECORDS": records_url},
    )
    done = [finish(a), finish(b)]
    assert [code for code, _, _ in done] == [0, 0], [err for _, _, err in done]
    written = {json.loads(out)["record_id"] for _, out, _ in done}
    assert len(written) == 2
    assert {row[0] for row in rows(records_url)} == written

    code, out, err = finish(
        rollout(third, "history", "recommender-model", "--json", "--records", records_url)
    )
    assert code == 0, err
    entries = json.loads(out)
    assert [(e["source"], e["event"], e["result"]) for e in entries] == [
        ("record", "rollback", "applied"),
        ("record", "rollback", "applied"),
    ]


def test_a_retried_insert_adds_nothing(records_url: str, tmp_path: Path) -> None:
    store = PostgresStore(records_url, tmp_path / SPOOL_NAME)
    item = {"id": "retried-1", "time": "2026-11-02T10:00:00Z", "plan": "p", "event": "advance"}
    store.append(item)
    store.append(item)
    assert store.import_records([item]) == 0
    assert rows(records_url) == [("retried-1", "p", "advance", None)]
    assert [r["id"] for r in store.read(plan="p").entries] == ["retried-1"]
    assert store.read(plan="other").entries == []


def test_a_store_that_is_down_spools_and_sends_on_the_next_write(
    postgres_url: str, tmp_path: Path
) -> None:
    name = f"records_{uuid.uuid4().hex[:12]}"
    url = with_password(server_and_admin(postgres_url)[0], name)  # no such database yet
    root = write_workspace(tmp_path / "ws")
    code, out, err = finish(
        rollout(root, "rollback", "recommender-model", "--yes", "--json", "--records", url)
    )
    assert code == 0, err
    status = finish(rollout(root, "status", "recommender-model", "--json"))[1]
    assert json.loads(status)["percent"] == 0  # the action was applied
    lines = err.splitlines()
    assert len(lines) == 1, err
    first_id = json.loads(out)["record_id"]
    assert lines[0].startswith("warning: decision record not written: decision records at ")
    assert f"record {first_id} kept in " in lines[0]
    spool = root / "plans" / SPOOL_NAME
    assert [r["id"] for r in read(spool).entries] == [first_id]

    create_database(postgres_url, name)  # the store is back
    code, out, err = finish(
        rollout(root, "pause", "recommender-model", "--yes", "--json", "--records", url)
    )
    assert code == 0 and err == ""
    second_id = json.loads(out)["record_id"]
    assert [row[0] for row in rows(url)] == [first_id, second_id]
    assert read(spool).entries == []


def test_history_on_the_writing_machine_shows_spooled_records_until_they_are_sent(
    postgres_url: str, tmp_path: Path
) -> None:
    name = f"records_{uuid.uuid4().hex[:12]}"
    url = with_password(server_and_admin(postgres_url)[0], name)  # no such database yet
    root = write_workspace(tmp_path / "ws")
    out = finish(
        rollout(root, "rollback", "recommender-model", "--yes", "--json", "--records", url)
    )
    spooled_id = json.loads(out[1])["record_id"]
    create_database(postgres_url, name)  # the store is back; nothing sent to it yet

    code, out_text, err = finish(
        rollout(root, "history", "recommender-model", "--json", "--records", url)
    )
    assert code == 0, err
    ids = [e.get("record_id") for e in json.loads(out_text) if e.get("record_id")]
    assert spooled_id in ids
    assert rows(url) == []
    assert err.splitlines() == [
        f"note: 1 record(s) shown from this machine's spool, not yet in {display_url(url)}: "
        "sent on the next write that reaches it"
    ]

    paused = finish(
        rollout(root, "pause", "recommender-model", "--yes", "--json", "--records", url)
    )
    code, out_text, err = finish(
        rollout(root, "history", "recommender-model", "--json", "--records", url)
    )
    assert (code, err) == (0, "")
    assert [row[0] for row in rows(url)] == [spooled_id, json.loads(paused[1])["record_id"]]


def test_a_server_that_refuses_connections_keeps_the_record(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://rollout:{PASSWORD}@127.0.0.1:{port}/records"
    store = PostgresStore(url, tmp_path / SPOOL_NAME)
    with pytest.raises(StoreError) as caught:
        store.append({"id": "kept-1", "time": "2026-11-02T10:00:00Z", "plan": "p"})
    text = str(caught.value)
    assert text.startswith(
        f"decision records at postgresql://127.0.0.1:{port}/records: cannot connect"
    )
    assert PASSWORD not in text and caught.value.spooled
    assert [r["id"] for r in read(tmp_path / SPOOL_NAME).entries] == ["kept-1"]


def test_records_import_twice_adds_once(records_url: str, tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws")
    log = root / "old.jsonl"
    for n in range(3):
        append(log, {"id": f"old-{n}", "time": f"2026-11-02T1{n}:00:00Z", "plan": "checkout-v2"})
    append(log, {"time": "2026-11-02T14:00:00Z", "plan": "checkout-v2", "event": "pause"})
    outputs = []
    for _ in range(2):
        code, out, err = finish(
            rollout(root, "records", "import", "old.jsonl", "--records", records_url)
        )
        assert code == 0, err
        outputs.append(out.replace(records_url.split("@")[1], "DB"))
    assert outputs == [
        "4 of 4 record(s) added to postgresql://DB (0 already there)\n",
        "0 of 4 record(s) added to postgresql://DB (4 already there)\n",
    ]
    assert len(rows(records_url)) == 4
