"""The decision log's storage: one JSON object per line, torn lines skipped, never glued."""

from __future__ import annotations

import fcntl
import math
import multiprocessing
import os
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.journal.store import (
    DEFAULT_NAME,
    Records,
    RecordsError,
    append,
    decode,
    encode,
    read,
    records_path,
)
from rolloutcli.support.errors import EXIT_BACKEND, BackendError

HINT = "(hint: set ROLLOUT_RECORDS to a file you can write, or fix the permissions)"


def test_records_path_defaults_under_the_plans_dir() -> None:
    assert DEFAULT_NAME == ".rollout/decisions.jsonl"
    assert records_path(Path("plans"), {}) == Path("plans/.rollout/decisions.jsonl")
    assert records_path(Path("/x/plans"), {"ROLLOUT_RECORDS": ""}) == Path(
        "/x/plans/.rollout/decisions.jsonl"
    )


def test_records_path_env_var_overrides() -> None:
    env = {"ROLLOUT_RECORDS": "/var/log/rollout.jsonl"}
    assert records_path(Path("plans"), env) == Path("/var/log/rollout.jsonl")
    assert records_path(Path("plans"), {"ROLLOUT_RECORDS": "~/r.jsonl", "HOME": "/h"}) == (
        Path("~/r.jsonl").expanduser()
    )


def test_round_trip_writes_one_compact_line_per_record(tmp_path: Path) -> None:
    log = tmp_path / "plans" / ".rollout" / "decisions.jsonl"
    first = {"kind": "verdict", "plan": "checkout-v2", "verdict": "go", "percent": 10}
    second = {"kind": "action", "nested": {"list": [1, 2.5, None, True]}, "text": "a\nb"}
    append(log, first)
    append(log, second)

    assert log.read_bytes() == (
        b'{"kind":"verdict","plan":"checkout-v2","verdict":"go","percent":10}\n'
        b'{"kind":"action","nested":{"list":[1,2.5,null,true]},"text":"a\\nb"}\n'
    )
    assert read(log) == Records(entries=[first, second], skipped=[])
    assert oct(log.stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_encode_cleans_nan_infinity_and_datetimes() -> None:
    record = {
        "p": math.nan,
        "hi": math.inf,
        "lo": [-math.inf, 1.5, (math.nan, 2)],
        "at": datetime(2026, 11, 2, 10, 0, 0, 900, tzinfo=UTC),
        "paris": datetime(2026, 11, 2, 11, 30, tzinfo=timezone(timedelta(hours=1))),
        "deep": {"when": [datetime(2026, 1, 1, tzinfo=UTC)]},
    }
    assert encode(record) == (
        b'{"p":null,"hi":null,"lo":[null,1.5,[null,2]],"at":"2026-11-02T10:00:00Z",'
        b'"paris":"2026-11-02T10:30:00Z","deep":{"when":["2026-01-01T00:00:00Z"]}}\n'
    )


def test_encode_keeps_unicode_and_stays_on_one_line(tmp_path: Path) -> None:
    # U+2028, U+2029, U+0085 and U+001C are line breaks to str.splitlines but not to JSON
    # Lines: ensure_ascii=False leaves the first three raw, so the reader must split on \n only
    record = {"who": "Zoë 🚀", "odd": "a\u2028b\u2029c\x85d\x1ce\r\n\tf"}
    line = encode(record)
    assert line == ('{"who":"Zoë 🚀","odd":"a\u2028b\u2029c\x85d\\u001ce\\r\\n\\tf"}\n'.encode())
    assert line.count(b"\n") == 1
    log = tmp_path / "d.jsonl"
    append(log, record)
    append(log, {"n": 2})
    assert read(log) == Records(entries=[record, {"n": 2}], skipped=[])


def test_encode_refuses_values_json_cannot_hold_and_writes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    with pytest.raises(TypeError):
        append(log, {"paths": {Path("x")}})
    assert not log.exists()


def test_missing_file_is_an_empty_log(tmp_path: Path) -> None:
    assert read(tmp_path / "nowhere" / "decisions.jsonl") == Records(entries=[], skipped=[])
    assert not (tmp_path / "nowhere").exists()


def test_torn_last_line_is_skipped_and_the_next_append_starts_a_fresh_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "d.jsonl"
    first = {"kind": "verdict", "n": 1}
    append(log, first)
    fragment = encode({"kind": "action", "n": 2, "payload": "x" * 50})[:37]
    with log.open("ab") as handle:  # a writer killed mid-line
        handle.write(fragment)

    torn = read(log)
    assert torn == Records(entries=[first], skipped=[2])

    third = {"kind": "action", "n": 3}
    append(log, third)
    assert log.read_bytes() == encode(first) + fragment + b"\n" + encode(third)
    assert read(log) == Records(entries=[first, third], skipped=[2])

    with log.open("ab") as handle:  # and again: each tear stays on its own line
        handle.write(b'{"kind":"act')
    append(log, {"n": 4})
    assert read(log) == Records(entries=[first, third, {"n": 4}], skipped=[2, 4])


def test_a_complete_record_missing_only_its_newline_counts(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.write_bytes(b'{"n":1}')
    assert read(log) == Records(entries=[{"n": 1}], skipped=[])
    append(log, {"n": 2})
    assert log.read_bytes() == b'{"n":1}\n{"n":2}\n'


def test_lines_that_are_not_json_objects_are_skipped_by_number(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.write_bytes(
        b'{"n":1}\n'
        b"[1, 2]\n"  # 2: JSON, not an object
        b'"text"\n'  # 3
        b"42\n"  # 4
        b"\n"  # 5: blank, ignored
        b'{"n": 2}   \n'  # 6: an object with trailing spaces: fine
        b"not json\n"  # 7
        b'{"bad": "\xff\xfe"}\n'  # 8: not UTF-8
        b'{"n":3}{"n":4}\n'  # 9: two records glued together
        b"   \n"  # 10: blank
        b'{"n":5}\n'
    )
    assert read(log) == Records(entries=[{"n": 1}, {"n": 2}, {"n": 5}], skipped=[2, 3, 4, 7, 8, 9])


def test_every_proper_prefix_of_a_record_is_rejected(tmp_path: Path) -> None:
    """A record is self-delimiting: cut anywhere, it never parses as a shorter record."""
    record = {
        "kind": "action",
        "braces": '} { ] [ " \\ ,:',
        "n": 12345,
        "x": -0.125e-3,
        "flags": [True, False, None, {}, [], {"a": {"b": [1, 22, 333]}}],
        "who": "Zoë 🚀 ü",  # multi-byte: some cuts split a character
        "empty": "",
        "last": 10,
    }
    line = encode(record)
    body = line[:-1]
    assert decode(body) == record
    log = tmp_path / "d.jsonl"
    for cut in range(len(body)):
        assert decode(body[:cut]) is None, body[:cut]
        log.write_bytes(body[:cut])
        expected_skipped = [1] if body[:cut].strip() else []
        assert read(log) == Records(entries=[], skipped=expected_skipped), body[:cut]
    log.write_bytes(body)  # the whole record, only its newline missing: it counts
    assert read(log) == Records(entries=[record], skipped=[])


def test_reading_needs_no_lock(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    append(log, {"n": 1})
    fd = os.open(log, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a writer holds the lock
        assert read(log) == Records(entries=[{"n": 1}], skipped=[])
    finally:
        os.close(fd)


def test_unwritable_log_is_a_one_line_backend_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(RecordsError) as caught:
        append(folder, {"n": 1})
    assert str(caught.value) == f"decision records: cannot write {folder}: Is a directory {HINT}"
    assert isinstance(caught.value, BackendError)
    assert caught.value.exit_code == EXIT_BACKEND
    assert caught.value.path == folder

    blocker = tmp_path / "plans"
    blocker.write_text("a file where the folder should be")
    log = blocker / ".rollout" / "decisions.jsonl"
    with pytest.raises(RecordsError) as caught:
        append(log, {"n": 1})
    assert str(caught.value) == (
        f"decision records: cannot write {log}: {blocker / '.rollout'}: Not a directory {HINT}"
    )


def test_unreadable_log_is_a_one_line_backend_error(tmp_path: Path) -> None:
    with pytest.raises(RecordsError) as caught:
        read(tmp_path)
    assert str(caught.value) == (f"decision records: cannot read {tmp_path}: Is a directory {HINT}")


WRITERS = 4
PER_WRITER = 250
PAYLOAD = 10_000


def _writer(path: str, writer: int, start: Any) -> None:
    start.wait(timeout=60)  # all writers begin together, so their appends contend
    for index in range(PER_WRITER):
        fill = chr(ord("a") + writer) * PAYLOAD
        append(Path(path), {"writer": writer, "index": index, "payload": fill})


def test_concurrent_appends_interleave_only_at_line_boundaries(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    workers = [context.Process(target=_writer, args=(str(log), w, start)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS

    raw = log.read_bytes().split(b"\n")
    assert raw[-1] == b""
    assert len(raw) - 1 == WRITERS * PER_WRITER
    records = read(log)
    assert records.skipped == []
    seen: dict[int, list[int]] = {w: [] for w in range(WRITERS)}
    for entry in records.entries:
        assert entry["payload"] == chr(ord("a") + entry["writer"]) * PAYLOAD
        seen[entry["writer"]].append(entry["index"])
    assert seen == {w: list(range(PER_WRITER)) for w in range(WRITERS)}
    # the writers did run at the same time: their lines are interleaved
    writers_in_order = [entry["writer"] for entry in records.entries]
    changes = sum(a != b for a, b in pairwise(writers_in_order))
    assert changes >= WRITERS, changes
