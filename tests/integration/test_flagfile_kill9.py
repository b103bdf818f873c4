"""The flag file, its history and the decision log survive ``kill -9`` during writes.

A child process advances, kills and pauses a flag in a flagd file through
``FlagFilePlatform`` as fast as it can, writing a decision record after each change (as
`rollout` does), and says on stdout which state it is about to write ("intend") and when
the change and its record are done. The parent SIGKILLs it, then checks what it left:

- the flag file always parses, and the flag is in a state that was written: the last one
  done, or the one the child was writing when it died (never a mix, never the initial
  state once something was done);
- the history file's complete lines all parse (a dead writer's cut-off last line aside);
- the decision log reads, every record intact and in order;
- after the next write (the parent's own, through the same adapter): no temporary file is
  left beside the flag file, and every history line parses.

Two kinds of round, alternating, with seeded timings: *any moment* (a random delay) and
*mid-write* (the parent watches the folder and kills as soon as a temporary file exists,
i.e. between the temporary file's creation and its rename). Rounds continue past the
minimum until some kill left a temporary file (bounded), and the test asserts one did: it
cannot pass without exercising the clean-up. ``ROLLOUT_KILL9_ROUNDS`` sets the minimum
(default 60).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.journal.store import append, read
from rolloutcli.platforms.flagfile import FlagFilePlatform

pytestmark = pytest.mark.integration

MIN_ROUNDS = int(os.environ.get("ROLLOUT_KILL9_ROUNDS") or 60)
MAX_ROUNDS = MIN_ROUNDS + 60
SEED = 20261206
TEMP_PREFIX = ".flags.json.tmp-"

CHILD = """
import json, random, sys
from pathlib import Path

from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.journal.store import append
from rolloutcli.judge.flagstate import RolloutChange

path, log, round_no = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rng = random.Random(round_no)
platform = FlagFilePlatform(path, "f")
PERCENTS = (0.0, 5.0, 10.0, 25.0, 50.0, 100.0)
print("ready", flush=True)
index = 0
while True:
    state = platform.read_state(True, False)
    now = {"on": state.on, "percent": state.percent, "paused": state.paused is not None}
    op = rng.choice(["advance", "advance", "kill", "pause"])
    if op == "advance":
        percent = rng.choice([p for p in PERCENTS if p != now["percent"]])
        intended = {"on": True, "percent": percent, "paused": now["paused"]}
    elif op == "kill":
        intended = {**now, "on": False}
    else:
        intended = {**now, "paused": not now["paused"]}
    print("intend " + json.dumps(intended), flush=True)
    if op == "advance":
        change = RolloutChange(percent, (), None, "kill9", f"{percent:g}%", "advance", "loop", True)
        platform.set_rollout(change, True, False, state)
    elif op == "kill":
        platform.turn_off("kill9", "loop")
    else:
        platform.set_paused(intended["paused"], "kill9", "loop", "loop")
    append(log, {"round": round_no, "index": index, "op": op, "state": intended})
    print("done " + str(index), flush=True)
    index += 1
"""


def state_of(platform: FlagFilePlatform) -> dict[str, Any]:
    json.loads(platform.path.read_bytes())  # the file parses, whatever the kill left
    state = platform.read_state(True, False)
    return {"on": state.on, "percent": state.percent, "paused": state.paused is not None}


def temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX))


def complete_lines(path: Path) -> list[bytes]:
    """The lines that end in a newline (a dead writer's cut-off last line left out)."""
    data = path.read_bytes() if path.exists() else b""
    return data.split(b"\n")[:-1]


def kill_round(
    flags: Path, log: Path, round_no: int, rng: random.Random, mid_write: bool
) -> list[str]:
    """Run one child, SIGKILL it; return its stdout lines."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(flags), str(log), str(round_no)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.03 if mid_write else 0.15))
        if mid_write:
            deadline = time.monotonic() + 5.0
            while not temporaries(flags.parent) and time.monotonic() < deadline:
                pass
        child.send_signal(signal.SIGKILL)
        out = child.stdout.read()  # not communicate(): it would skip what readline buffered
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    return ["ready", *out.splitlines()]


def possible_states(lines: list[str], before: dict[str, Any]) -> list[dict[str, Any]]:
    """The states the file may hold: the last change done (or ``before``), or the one being
    written when the kill came."""
    done, writing = before, None
    for line in lines[1:]:
        if line.startswith("intend "):
            writing = json.loads(line[len("intend ") :])
        elif line.startswith("done ") and writing is not None:
            done, writing = writing, None
    return [done] if writing is None else [done, writing]


def test_flag_file_history_and_records_survive_kill_9(tmp_path: Path) -> None:
    flags = tmp_path / "flags" / "flags.json"
    flags.parent.mkdir()
    flags.write_text(
        json.dumps(
            {
                "flags": {
                    "f": {
                        "state": "ENABLED",
                        "variants": {"on": True, "off": False},
                        "defaultVariant": "off",
                    }
                }
            }
        )
    )
    log = tmp_path / "plans" / ".rollout" / "decisions.jsonl"
    history = flags.with_name("flags.json.history.jsonl")
    platform = FlagFilePlatform(flags, "f")
    rng = random.Random(SEED)
    before = state_of(platform)
    left_behind = torn_history = records_seen = 0
    rounds = {"any moment": 0, "mid-write": 0}
    started = time.monotonic()

    round_no = 0
    while round_no < MIN_ROUNDS or (left_behind == 0 and round_no < MAX_ROUNDS):
        kind = "mid-write" if round_no % 2 else "any moment"
        lines = kill_round(flags, log, round_no, rng, mid_write=kind == "mid-write")
        rounds[kind] += 1

        # what the kill left: a whole file in a state that was written
        now = state_of(platform)
        assert now in possible_states(lines, before), (round_no, now, before, lines)
        for line in complete_lines(history):
            assert isinstance(json.loads(line), dict), (round_no, line)
        torn_history += bool(history.exists() and not history.read_bytes().endswith(b"\n"))
        stored = read(log)  # never raises
        mine = [e for e in stored.entries if e.get("round") == round_no]
        assert [e["index"] for e in mine] == list(range(len(mine))), round_no
        acked = sum(1 for line in lines if line.startswith("done "))
        assert acked <= len(mine) <= acked + 1, (round_no, acked, len(mine))
        records_seen += len(mine)
        left_behind += bool(temporaries(flags.parent))

        # the next write cleans up after the dead writer
        paused = not now["paused"]
        assert platform.set_paused(paused, "parent", "test", f"round {round_no}") is True
        append(log, {"round": round_no, "parent": True, "paused": paused})
        assert temporaries(flags.parent) == [], round_no
        assert sorted(os.listdir(flags.parent)) == [
            ".flags.json.lock",
            "flags.json",
            "flags.json.history.jsonl",
        ]
        assert history.read_bytes().endswith(b"\n")
        for line in complete_lines(history):
            assert isinstance(json.loads(line), dict), (round_no, line)
        assert read(log).entries[-1] == {"round": round_no, "parent": True, "paused": paused}
        before = {**now, "paused": paused}
        round_no += 1

    summary = (
        f"{round_no} rounds {rounds}, {left_behind} left a temporary file, "
        f"{torn_history} a cut-off history line, {records_seen} child records, "
        f"{time.monotonic() - started:.1f} s"
    )
    print(summary)
    assert left_behind >= 1, f"no kill left a temporary file, the sweep went untested: {summary}"
    assert records_seen > round_no, summary  # the children did write, round after round
