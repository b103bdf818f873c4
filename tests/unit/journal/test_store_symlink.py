"""The decision log never follows a symbolic link it did not create: appending or reading
through one is a one-line RecordsError, and the link's target is left untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutcli.journal.store import RecordsError, append, read
from rolloutcli.support.errors import EXIT_BACKEND

HINT = "(hint: point ROLLOUT_RECORDS at the real file, or replace the link by the file itself)"


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
def test_a_linked_log_is_refused_and_its_target_untouched(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "elsewhere" / "victim"
    target.parent.mkdir()
    if not dangling:
        target.write_text("keep me\n")
    log = tmp_path / "plans" / ".rollout" / "decisions.jsonl"
    log.parent.mkdir(parents=True)
    log.symlink_to(target)
    with pytest.raises(RecordsError) as caught:
        append(log, {"event": "kill"})
    assert str(caught.value) == (
        f"decision records: {log} is a symbolic link: refusing to write through it {HINT}"
    )
    assert caught.value.exit_code == EXIT_BACKEND and caught.value.path == log
    assert target.exists() is not dangling and (dangling or target.read_text() == "keep me\n")
    with pytest.raises(RecordsError) as reading:
        read(log)
    assert str(reading.value) == (
        f"decision records: {log} is a symbolic link: refusing to read through it {HINT}"
    )


def test_a_linked_folder_above_the_log_is_followed(tmp_path: Path) -> None:
    """Only the log file itself must not be a link: a plans folder may be one."""
    real = tmp_path / "real-plans"
    real.mkdir()
    (tmp_path / "plans").symlink_to(real)
    log = tmp_path / "plans" / ".rollout" / "decisions.jsonl"
    append(log, {"n": 1})
    assert read(log).entries == [{"n": 1}]
    assert (real / ".rollout" / "decisions.jsonl").read_text() == '{"n":1}\n'
