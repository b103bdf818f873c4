"""Decision records in PostgreSQL survive ``kill -9`` of the writer.

A child process appends records of 64K-512K characters (some multi-byte) in a loop through
``PostgresStore.append``, the store every command uses, saying ``sending <id>`` before each
write and ``<id>`` once the write returned. The test SIGKILLs it at seeded random moments
(while it connects, inside the insert's transaction, between the commit and its
acknowledgement ...), round after round, against a real PostgreSQL 15 (the session's
``postgres_url`` server, a database of its own). Then the table must hold:

- every record the child acknowledged (it was committed when ``append`` returned);
- at most one more per round, the one in flight when the kill came (committed, its
  acknowledgement cut off), never anything else;
- each record whole: the JSONB equal to what the child meant to write, the indexed columns
  equal to the record's own fields; no id twice.

The test asserts some kills landed while a write was in flight, so it cannot pass without
exercising one.
"""

from __future__ import annotations

import inspect
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.test_records_postgres import (
    create_database,
    server_and_admin,
    with_password,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ROUNDS = 10
SEED = 20261206


def record(round_no: int, index: int) -> dict[str, Any]:
    """The child's ``index``-th record in round ``round_no``: deterministic."""
    import random

    rng = random.Random(round_no * 100_003 + index)
    size = rng.randrange(1 << 16, 1 << 19)
    unit = 'rollout é€ 🚀 {x} "q" \\ '
    return {
        "id": f"kill9-{round_no}-{index}",
        "time": f"2026-11-02T10:{round_no:02d}:{index % 60:02d}Z",
        "plan": f"plan-{round_no}",
        "flag": "checkout",
        "environment": "production",
        "event": "advance",
        "who": "kill9",
        "verdict": {"verdict": "go", "reasons": [f"round {round_no}"]},
        "payload": (unit * (size // len(unit) + 1))[:size],
    }


CHILD = (
    """
import sys
from pathlib import Path
from typing import Any

from rolloutcli.journal.pgstore import PostgresStore
"""
    + textwrap.dedent(inspect.getsource(record))
    + """
url, spool, round_no = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
store = PostgresStore(url, spool)
import psycopg  # loaded before "ready", so the kill never lands in the imports
print("ready", flush=True)
index = 0
while True:
    item = record(round_no, index)
    print("sending", item["id"], flush=True)
    store.append(item)
    print(item["id"], flush=True)
    index += 1
"""
)


@pytest.fixture
def records_url(postgres_url: str) -> Iterator[str]:
    name = f"records_{uuid.uuid4().hex[:12]}"
    create_database(postgres_url, name)
    yield with_password(server_and_admin(postgres_url)[0], name)


def kill_round(url: str, spool: Path, round_no: int, delay: float) -> tuple[list[str], str | None]:
    """Run one writer, SIGKILL it after ``delay`` seconds: the ids it acknowledged, and the
    one it was sending when killed (None: killed between two writes)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(spool), str(round_no)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        out = child.stdout.read()  # the rest, after what readline() buffered
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    acked: list[str] = []
    in_flight: str | None = None
    for line in out.splitlines():
        if line.startswith("sending "):
            in_flight = line.removeprefix("sending ")
        else:
            assert line == in_flight, out
            acked.append(line)
            in_flight = None
    return acked, in_flight


def stored(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, time, plan, flag, environment, event, verdict, who, record "
            "FROM decision_records ORDER BY seq"
        ).fetchall()


def test_records_survive_kill_9_mid_write(records_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    spool = tmp_path / "records-spool.jsonl"
    expected: list[str] = []
    in_flight_kills = 0
    committed_unacknowledged = 0
    for round_no in range(ROUNDS):
        acked, in_flight = kill_round(records_url, spool, round_no, rng.uniform(0.05, 0.8))
        ids = [row[0] for row in stored(records_url)]
        new = ids[len(expected) :]
        assert ids[: len(expected)] == expected  # nothing earlier lost or rewritten
        assert new[: len(acked)] == acked, (round_no, acked, new)  # every acknowledged one
        assert new[len(acked) :] in ([], [in_flight]), (round_no, in_flight, new)
        in_flight_kills += in_flight is not None
        committed_unacknowledged += len(new) - len(acked)
        expected = ids

    rows = stored(records_url)
    assert len({row[0] for row in rows}) == len(rows)  # no id twice
    for row in rows:
        id_, at, plan, flag, environment, event, verdict, who, kept = row
        round_no, index = (int(part) for part in id_.split("-")[1:])
        assert kept == record(round_no, index)  # whole, byte for byte
        assert at.strftime("%Y-%m-%dT%H:%M:%SZ") == kept["time"]
        assert (plan, flag, environment, event, verdict, who) == (
            kept["plan"],
            kept["flag"],
            kept["environment"],
            kept["event"],
            kept["verdict"]["verdict"],
            kept["who"],
        )
    assert not spool.exists() or spool.read_bytes() == b""  # nothing was ever spooled
    assert len(rows) >= ROUNDS, "the writers wrote"
    assert in_flight_kills > 0, "no kill landed during a write"
    print(
        f"{len(rows)} records, {in_flight_kills} kills mid-write, {committed_unacknowledged} "
        "committed before their acknowledgement"
    )
