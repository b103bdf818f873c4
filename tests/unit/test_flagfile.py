"""The flagd file platform's own guarantees: atomic, conditional writes and honest reads."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rolloutcli.errors import BackendError, ConflictError
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.state import RolloutChange

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
    assert after.changed_at == AT and after.recorded_stage == "12.5%" and not after.notes
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
    assert state.changed_at != AT and state.notes


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
