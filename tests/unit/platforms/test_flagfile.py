"""The flagd file platform's own guarantees: atomic, conditional writes and honest reads."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support import deadlines
from rolloutcli.support.errors import BackendError, ConflictError

AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def make_file(tmp_path: Path, targeting: object = None) -> FlagFilePlatform:
    flag: dict[str, object] = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    if targeting is not None:
        flag["targeting"] = targeting
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": {"f": flag, "other": flag}}))
    return FlagFilePlatform(path, "f")


def change(percent: float) -> RolloutChange:
    return RolloutChange(percent, (), None, "plan", f"{percent:g}%", "advance", "why")


def test_write_then_read_back_records_the_stage(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    before = platform.read_state(True, False)
    assert before.percent == 0 and before.notes  # never set by the tool: mtime is the start
    after = platform.set_rollout(change(12.5), True, False, before, at=AT)
    assert after.percent == 12.5
    assert after.split_changed_at == AT and after.recorded_stage == "12.5%" and not after.notes
    doc = json.loads(platform.path.read_text())
    assert doc["flags"]["f"]["targeting"] == {"fractional": [["on", 12_500], ["off", 87_500]]}
    assert doc["flags"]["other"] == {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    (record,) = platform.history()
    assert (record.action, record.percent_before, record.percent_after) == ("advance", 0, 12.5)


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_file(tmp_path)
    original = platform.path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        platform.set_rollout(change(10), True, False, platform.read_state(True, False), at=AT)
    assert platform.path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [".flags.json.lock", "flags.json"]


def test_a_stale_read_is_refused(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    stale = platform.read_state(True, False)
    platform.set_rollout(change(5), True, False, stale, at=AT)
    with pytest.raises(ConflictError):
        platform.set_rollout(change(10), True, False, stale, at=AT)
    assert platform.read_state(True, False).percent == 5


def test_a_hand_edit_is_reported_not_trusted(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    platform.set_rollout(change(5), True, False, platform.read_state(True, False), at=AT)
    doc = json.loads(platform.path.read_text())
    doc["flags"]["f"]["targeting"]["fractional"] = [["on", 7], ["off", 93]]
    platform.path.write_text(json.dumps(doc))
    state = platform.read_state(True, False)
    assert state.percent == 7
    assert state.split_changed_at != AT and state.notes


def test_torn_history_lines_are_skipped(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    platform.set_rollout(change(5), True, False, platform.read_state(True, False), at=AT)
    with platform.history_path.open("a") as handle:
        handle.write('{"at": "2026-11-02T12:05:00Z", "flag": "f", "act')
    assert [r.percent_after for r in platform.history()] == [5]


def test_targeting_it_does_not_manage_is_refused(tmp_path: Path) -> None:
    platform = make_file(tmp_path, {"if": [{"==": [{"var": "country"}, "NZ"]}, "on", "off"]})
    with pytest.raises(BackendError, match="not a split rolloutcli manages"):
        platform.read_state(True, False)


def test_unknown_variation_and_flag_name_what_to_fix(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    with pytest.raises(BackendError, match="no variant serving the treatment 'v2'"):
        platform.read_state("v2", False)
    with pytest.raises(BackendError, match="flag 'nope' not found"):
        FlagFilePlatform(platform.path, "nope").read_state(True, False)


def test_segment_must_be_defined(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    seg = RolloutChange(0, (), "staff", "plan", "internal", "advance", "why")
    with pytest.raises(BackendError, match="segment 'staff' is not defined"):
        platform.set_rollout(seg, True, False, platform.read_state(True, False), at=AT)
    doc = json.loads(platform.path.read_text())
    doc["$evaluators"] = {"staff": {"ends_with": [{"var": "email"}, "@example.com"]}}
    platform.path.write_text(json.dumps(doc))
    state = platform.set_rollout(seg, True, False, platform.read_state(True, False), at=AT)
    assert state.audience_segment == "staff" and state.percent == 0


def test_turn_off_is_idempotent(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    assert platform.turn_off("plan", "fire", at=AT) is True
    assert platform.turn_off("plan", "fire", at=AT) is False
    assert platform.read_state(True, False).on is False
    assert [r.action for r in platform.history()] == ["kill"]


def test_turn_on_undoes_a_kill_and_keeps_the_split_and_its_start(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    platform.set_rollout(change(10), True, False, platform.read_state(True, False), at=AT)
    started = platform.read_state(True, False)
    assert platform.turn_on("plan", "already on", at=AT) is False  # on: nothing to do
    platform.turn_off("plan", "fire", at=AT)
    later = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    assert platform.turn_on("plan", "fix deployed", at=later, by="ana") is True
    assert platform.turn_on("plan", "fix deployed", at=later, by="ana") is False
    state = platform.read_state(True, False)
    assert state.on is True and state.percent == 10
    assert state.split_changed_at == started.split_changed_at == AT
    meta = json.loads(platform.path.read_text())["flags"]["f"]["metadata"]
    assert "rolloutcli.killedAt" not in meta
    assert meta["rolloutcli.unkilledAt"] == "2026-11-02T13:00:00Z"
    last = platform.history()[-1]
    assert (last.action, last.who, last.comment, last.at) == (
        "unkill",
        "ana",
        "fix deployed",
        later,
    )
    assert [r.action for r in platform.history()] == ["advance", "kill", "unkill"]


# ---------------------------------------------------------------------- symlinks, dead writers


def linked(tmp_path: Path) -> tuple[FlagFilePlatform, Path, Path]:
    """A flag file living in ``real/``, reached through a link in ``repo/``."""
    (tmp_path / "real").mkdir()
    (tmp_path / "repo").mkdir()
    target = make_file(tmp_path / "real").path
    link = tmp_path / "repo" / "flags.json"
    link.symlink_to(target)
    return FlagFilePlatform(link, "f"), link, target


def test_a_kill_through_a_symlink_turns_the_real_file_off_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    platform, link, target = linked(tmp_path)
    assert platform.turn_off("plan", "fire", at=AT) is True
    assert link.is_symlink() and link.resolve() == target
    assert json.loads(target.read_text())["flags"]["f"]["state"] == "DISABLED"
    assert json.loads(target.read_text())["flags"]["other"]["state"] == "ENABLED"
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["flags.json"]
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == [
        ".flags.json.lock",
        "flags.json",
        "flags.json.history.jsonl",
    ]
    assert FlagFilePlatform(target, "f").read_state(True, False).on is False
    assert [r.action for r in FlagFilePlatform(target, "f").history()] == ["kill"]


def test_advances_through_a_link_and_directly_share_one_lock_and_history(
    tmp_path: Path,
) -> None:
    via_link, link, target = linked(tmp_path)
    direct = FlagFilePlatform(target, "f")
    via_link.set_rollout(change(5), True, False, via_link.read_state(True, False), at=AT)
    stale = direct.read_state(True, False)
    assert stale.percent == 5
    direct.set_rollout(change(10), True, False, stale, at=AT)
    with pytest.raises(ConflictError):
        direct.set_rollout(change(25), True, False, stale, at=AT)
    assert via_link.read_state(True, False).percent == 10
    assert [r.percent_after for r in via_link.history()] == [5, 10]
    assert link.is_symlink()


def test_temporary_files_of_dead_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    dead = [".flags.json.tmp-k2j3h4g5", ".flags.json.a1b2c3d4", ".flags.json.tmp-x"]
    kept = [".flags.json.lock", ".other.json.tmp-abcdefgh", ".flags.json.toolong12", "x.json"]
    for name in dead + kept:
        (tmp_path / name).write_text("{")
    platform.turn_off("plan", "fire", at=AT)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*kept, "flags.json", "flags.json.history.jsonl"]
    )


def test_a_write_leaves_no_temporary_file_and_names_them_distinctively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_file(tmp_path)
    made: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        made.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    platform.set_rollout(change(10), True, False, platform.read_state(True, False), at=AT)
    assert len(made) == 1 and made[0].startswith(".flags.json.tmp-")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".flags.json.lock",
        "flags.json",
        "flags.json.history.jsonl",
    ]


def test_a_linked_history_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("")
    platform.history_path.symlink_to(elsewhere)
    original = platform.path.read_bytes()
    message = (
        f"flagfile: history file {tmp_path / 'flags.json.history.jsonl'} is a symbolic link: "
        "refusing to {} through it (hint: replace the link by the file itself (or remove it))"
    )
    with pytest.raises(BackendError) as caught:
        platform.set_rollout(change(10), True, False, platform.read_state(True, False), at=AT)
    assert str(caught.value) == message.format("write")
    assert caught.value.exit_code == 3
    with pytest.raises(BackendError):
        platform.set_paused(True, "plan", "ana", "look", at=AT)
    assert platform.path.read_bytes() == original
    with pytest.raises(BackendError) as read:
        platform.history()
    assert str(read.value) == message.format("read")
    # the kill still lands; only its history line is left out
    assert platform.turn_off("plan", "fire", at=AT) is True
    assert platform.read_state(True, False).on is False
    assert elsewhere.read_text() == ""


def test_a_torn_history_line_is_dropped_by_the_next_writer(tmp_path: Path) -> None:
    """A dead writer's fragment never glues onto the next line; a whole record missing
    only its newline (a hand edit) is kept."""
    platform = make_file(tmp_path)
    whole = '{"at": "2026-11-02T12:05:00Z", "flag": "f", "action": "advance"}'
    platform.history_path.write_text(whole + "\n" + whole[:30])
    platform.turn_off("plan", "fire", at=AT)
    lines = platform.history_path.read_text().split("\n")
    assert lines[0] == whole and json.loads(lines[1])["action"] == "kill" and lines[2] == ""
    platform.history_path.write_text(whole)
    platform.set_paused(True, "plan", "ana", "look", at=AT)
    lines = platform.history_path.read_text().split("\n")
    assert lines[0] == whole and json.loads(lines[1])["action"] == "pause" and lines[2] == ""
    platform.history_path.write_bytes("é".encode()[:1])  # nothing but a cut character
    platform.set_paused(False, "plan", "ana", "go on", at=AT)
    assert [r.action for r in platform.history()] == ["resume"]


def test_a_lock_held_past_the_deadline_is_a_one_line_error(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    lock = tmp_path / ".flags.json.lock"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: flock conflicts, even in-process
    try:
        with deadlines.budget(0.3), pytest.raises(BackendError) as caught:
            platform.turn_off("plan", "fire", at=AT)
    finally:
        os.close(holder)
    assert str(caught.value) == (
        f"flagfile: {lock} stayed locked by another writer past the deadline; nothing was "
        "written (hint: find the process holding it (fuser / lsof on the lock file))"
    )
    assert platform.read_state(True, False).on is True
    assert platform.turn_off("plan", "fire", at=AT) is True  # released: the kill lands


def excluding(
    percent: float, keys: tuple[str, ...] = (), segment: str | None = None
) -> RolloutChange:
    return RolloutChange(
        percent,
        ("staff",),
        None,
        "plan",
        f"{percent:g}%",
        "advance",
        "why",
        excluded_keys=keys,
        excluded_segment=segment,
    )


def test_the_exclusion_is_the_outermost_if_serving_the_control(tmp_path: Path) -> None:
    """issue 21: flagd looks at the excluded keys before the allowlist and the split."""
    platform = make_file(tmp_path)
    state = platform.set_rollout(
        excluding(100, ("vip-1", "vip-2")), True, False, platform.read_state(True, False), at=AT
    )
    doc = json.loads(platform.path.read_text())
    assert doc["flags"]["f"]["targeting"] == {
        "if": [
            {"in": [{"var": "targetingKey"}, ["vip-1", "vip-2"]]},
            "off",
            {
                "if": [
                    {"in": [{"var": "targetingKey"}, ["staff"]]},
                    "on",
                    {"fractional": [["on", 100_000], ["off", 0]]},
                ]
            },
        ]
    }
    assert (state.percent, state.audience_keys) == (100, ("staff",))
    assert (state.excluded_keys, state.excluded_segment) == (("vip-1", "vip-2"), None)
    again = platform.set_rollout(excluding(100, ("vip-1", "vip-2")), True, False, state, at=AT)
    assert (
        json.loads(platform.path.read_text())["flags"]["f"]["targeting"]
        == (doc["flags"]["f"]["targeting"])
    )
    assert again.excluded_keys == ("vip-1", "vip-2")


def test_an_excluded_segment_is_a_ref_and_must_be_defined(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    with pytest.raises(BackendError, match="segment 'vip' is not defined"):
        platform.set_rollout(
            excluding(5, segment="vip"), True, False, platform.read_state(True, False), at=AT
        )
    doc = json.loads(platform.path.read_text())
    doc["$evaluators"] = {"vip": {"in": [{"var": "plan"}, ["gold"]]}}
    platform.path.write_text(json.dumps(doc))
    state = platform.set_rollout(
        excluding(5, segment="vip"), True, False, platform.read_state(True, False), at=AT
    )
    targeting = json.loads(platform.path.read_text())["flags"]["f"]["targeting"]
    assert targeting["if"][:2] == [{"$ref": "vip"}, "off"]
    assert (state.percent, state.excluded_keys, state.excluded_segment) == (5, (), "vip")


def test_a_change_without_the_exclusion_removes_it(tmp_path: Path) -> None:
    platform = make_file(tmp_path)
    state = platform.set_rollout(
        excluding(5, ("vip-1",)), True, False, platform.read_state(True, False), at=AT
    )
    state = platform.set_rollout(change(10), True, False, state, at=AT)
    assert json.loads(platform.path.read_text())["flags"]["f"]["targeting"] == {
        "fractional": [["on", 10_000], ["off", 90_000]]
    }
    assert (state.percent, state.excluded_keys) == (10, ())
