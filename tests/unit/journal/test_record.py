"""Decision records' content and `rollout history`'s merge with the platform's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rolloutcli import __version__
from rolloutcli.journal.record import Subject, lifecycle_step, merge_history, plan_digest, record
from rolloutcli.judge.flagstate import ChangeRecord

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def subject(tmp_path: Path) -> Subject:
    plan = tmp_path / "shop.yaml"
    plan.write_bytes(b"flag: shop\n")
    return Subject("shop", plan, "shop", "flagfile", "flags.json", "production")


def test_record_names_tool_who_plan_hash_and_result(tmp_path: Path) -> None:
    item = record(
        event="advance",
        subject=subject(tmp_path),
        who="alice@host",
        at=NOW,
        command="advance",
        verdict={"verdict": "go", "reasons": ["all clear"]},
        change={"action": "advance", "percent": 25},
        before={"percent": 10},
        after={"percent": 25},
        result="applied",
    )
    record_id = item["id"]
    assert isinstance(record_id, str) and len(record_id) == 32
    assert int(record_id, 16) >= 0  # hex
    assert item == {
        "schema": "rolloutcli.decision/v1",
        "id": record_id,
        "time": "2026-11-02T12:00:00Z",
        "tool": f"rolloutcli {__version__}",
        "who": "alice@host",
        "command": "advance",
        "event": "advance",
        "plan": "shop",
        "plan_file": str(tmp_path / "shop.yaml"),
        "plan_sha256": plan_digest(tmp_path / "shop.yaml"),
        "flag": "shop",
        "platform": "flagfile",
        "where": "flags.json",
        "environment": "production",
        "verdict": {"verdict": "go", "reasons": ["all clear"]},
        "decision": None,
        "change": {"action": "advance", "percent": 25},
        "before": {"percent": 10},
        "after": {"percent": 25},
        "result": "applied",
        "error": None,
    }


def test_each_record_has_its_own_id(tmp_path: Path) -> None:
    made = [
        record(
            event="kill",
            subject=subject(tmp_path),
            who="a",
            at=NOW,
            command="kill",
            result="applied",
        )
        for _ in range(3)
    ]
    assert len({item["id"] for item in made}) == 3


def test_plan_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "p.yaml"
    path.write_bytes(b"flag: shop\n")
    assert plan_digest(path) == "sha256:" + hashlib.sha256(b"flag: shop\n").hexdigest()
    assert plan_digest(tmp_path / "missing.yaml") is None


def test_history_pairs_a_record_with_the_platforms_entry_and_sorts_newest_first(
    tmp_path: Path,
) -> None:
    s = subject(tmp_path)
    records = [
        record(
            event="advance",
            subject=s,
            who="bot",
            at=NOW,
            command="watch --auto",
            before={"percent": 10},
            after={"percent": 25},
            change={"action": "advance", "percent": 25, "stage": "25%"},
            result="applied",
        ),
        record(
            event="pause",
            subject=s,
            who="alice",
            at=NOW + timedelta(hours=1),
            command="pause",
            result="applied",
            extra={"reason": "dashboards"},
        ),
        {"time": "2026-11-02T13:30:00Z", "plan": "other", "event": "advance"},
    ]
    platform = [
        # the same advance, stamped by the platform's clock 3 s later
        ChangeRecord(NOW + timedelta(seconds=3), "advance", 10, 25, "25%", "shop", "note"),
        ChangeRecord(NOW - timedelta(hours=1), "advance", 0, 10, "10%", "shop", "by hand?"),
        ChangeRecord(NOW + timedelta(hours=1, seconds=1), "pause", None, None, None, "shop", ""),
    ]
    entries = merge_history(records, platform, "shop", "shop")
    assert [(e.event, e.source, e.at) for e in entries] == [
        ("pause", "record+platform", NOW + timedelta(hours=1)),
        ("advance", "record+platform", NOW),
        ("advance", "platform", NOW - timedelta(hours=1)),
    ]
    assert entries[0].detail == "dashboards" and entries[0].who == "alice"
    assert (entries[1].percent_before, entries[1].percent_after) == (10, 25)
    assert entries[2].detail == "by hand?"


def test_a_failed_change_is_not_paired(tmp_path: Path) -> None:
    s = subject(tmp_path)
    failed = record(
        event="advance",
        subject=s,
        who="bot",
        at=NOW,
        command="watch",
        result="failed",
        error="conflict",
    )
    platform = [ChangeRecord(NOW, "advance", 10, 25, "25%", "shop", "someone else")]
    entries = merge_history([failed], platform, "shop", "shop")
    assert [(e.source, e.result) for e in entries] == [("record", "failed"), ("platform", None)]
    assert entries[0].detail == "error: conflict"


def test_kill_records_by_flag_match_when_no_plan_named(tmp_path: Path) -> None:
    kill = {
        "time": "2026-11-02T12:00:00Z",
        "plan": None,
        "flag": "shop",
        "event": "kill",
        "result": "applied",
    }
    assert [e.event for e in merge_history([kill], [], "shop", "shop")] == ["kill"]
    assert merge_history([kill], [], "shop", "other-flag") == []


def test_lifecycle_steps_are_marked() -> None:
    assert lifecycle_step("rollback") == "rolled_back"
    assert lifecycle_step("pause") == "paused" and lifecycle_step("resume") == "resumed"
    assert lifecycle_step("kill") == "killed" and lifecycle_step("off") == "killed"
    assert lifecycle_step("advance", {"action": "restart"}) == "restarted"
    assert lifecycle_step("advance", {"action": "advance"}) is None
    assert lifecycle_step("on/off") is None  # a toggle does not say which way
    assert lifecycle_step("notify") is None
