"""Decision records survive ``kill -9`` during a write.

A child Python process appends large records (1-3 M characters, some of them multi-byte, so
one ``write()`` spans hundreds of pages and a tear may split a character) to a real log file
through ``rolloutcli.journal.store.append`` and acknowledges each on stdout. The parent SIGKILLs it,
appends a small record of its own, and checks the whole log against a model of what must be
there.

Two kinds of round, alternating, with seeded timings:

- *any moment*: the kill lands after a random delay, wherever the child is (encoding, inside
  ``write()``, in ``fsync``, between the append and its acknowledgement ...);
- *mid-write*: the parent waits a random delay, then watches the file and kills the child as
  soon as the file ends in something other than ``\\n``, i.e. while a line is being written.
  Encoding a record takes ~10x longer than writing it, so "any moment" kills rarely land
  inside ``write()``; these rounds are what make torn lines routine rather than luck.

Rounds continue past the minimum until at least one line was torn (bounded), and the test
asserts one was: it cannot pass without exercising a torn line.
"""

from __future__ import annotations

import inspect
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.journal.store import append, read

pytestmark = pytest.mark.integration

MIN_ROUNDS = 12
MAX_ROUNDS = 40
SEED = 20260611


def big_record(round_no: int, index: int) -> dict[str, Any]:
    """The child's ``index``-th record in round ``round_no``: deterministic, 1-3 M chars."""
    import random

    rng = random.Random(round_no * 100_003 + index)
    size = rng.randrange(1 << 20, 3 << 20)
    unit = 'rollout é€ 🚀 {x} "q" \\ '
    payload = (unit * (size // len(unit) + 1))[:size]
    return {"kind": "big", "round": round_no, "index": index, "size": size, "payload": payload}


CHILD = (
    """
import sys
from pathlib import Path
from typing import Any

from rolloutcli.journal.store import append
"""
    + textwrap.dedent(inspect.getsource(big_record))
    + """
path, round_no = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
index = 0
while True:
    append(path, big_record(round_no, index))
    print(index, flush=True)
    index += 1
"""
)


def _mid_write(fd: int) -> bool:
    """The file's last byte is not a newline: some line is being written (or was torn)."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _kill_round(log: Path, round_no: int, rng: random.Random, mid_write: bool) -> int:
    """Run one child, SIGKILL it; return how many appends it acknowledged."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(log), str(round_no)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.06 if mid_write else 0.12))
        if mid_write:
            fd = os.open(log, os.O_RDONLY)
            try:
                deadline = time.monotonic() + 5.0
                while not _mid_write(fd) and time.monotonic() < deadline:
                    pass
            finally:
                os.close(fd)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    acks = [int(line) for line in out.splitlines()]
    assert acks == list(range(len(acks)))
    return len(acks)


def test_records_survive_kill_9_mid_write(tmp_path: Path) -> None:
    log = tmp_path / "plans" / ".rollout" / "decisions.jsonl"
    append(log, {"kind": "parent", "round": -1})
    rng = random.Random(SEED)
    expected: list[dict[str, Any]] = [{"kind": "parent", "round": -1}]
    skipped: list[int] = []
    lines = 1
    torn = {"any moment": 0, "mid-write": 0}
    rounds = {"any moment": 0, "mid-write": 0}
    unacknowledged = 0  # records written in full whose acknowledgement the kill cut off
    started = time.monotonic()

    round_no = 0
    while round_no < MIN_ROUNDS or (sum(torn.values()) == 0 and round_no < MAX_ROUNDS):
        kind = "mid-write" if round_no % 2 else "any moment"
        acked = _kill_round(log, round_no, rng, mid_write=kind == "mid-write")
        parent = {"kind": "parent", "round": round_no, "acked": acked}
        append(log, parent)

        records = read(log)  # never raises, whatever the kill left behind
        intact = len(records.entries) - len(expected) - 1
        # a write may complete between the append and its acknowledgement
        assert acked <= intact <= acked + 1, (round_no, acked, intact)
        expected += [big_record(round_no, i) for i in range(intact)] + [parent]
        new_skipped = records.skipped[len(skipped) :]
        assert records.skipped[: len(skipped)] == skipped
        # at most one torn line per kill, alone on its line, just before the parent's record
        assert new_skipped in ([], [lines + intact + 1]), (round_no, new_skipped)
        lines += intact + len(new_skipped) + 1
        skipped += new_skipped
        rounds[kind] += 1
        torn[kind] += len(new_skipped)
        unacknowledged += intact - acked
        assert records.entries == expected  # every record intact, in order; parent's last
        assert records.entries[-1] == parent
        round_no += 1

    summary = (
        f"{round_no} rounds {rounds}, torn lines {torn}, "
        f"{unacknowledged} unacknowledged, {time.monotonic() - started:.1f} s"
    )
    print(summary)
    assert sum(torn.values()) >= 1, f"no kill tore a line, the test proved nothing: {summary}"
    assert len(skipped) == sum(torn.values())
