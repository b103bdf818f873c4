"""`rollout history` pairs a platform change with the decision record its note names,
exactly (issue 19); changes that name none are paired by time and content as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rolloutcli.journal.record import Subject, merge_history, record
from rolloutcli.judge.flagstate import ChangeRecord
from rolloutcli.render.contract import history_json

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
A = "a" * 32
B = "b" * 32


def advance(tmp_path: Path, rid: str, at: datetime, after: float) -> dict[str, object]:
    plan = tmp_path / "shop.yaml"
    plan.write_bytes(b"flag: shop\n")
    return record(
        event="advance",
        subject=Subject("shop", plan, "shop", "flagfile", "flags.json", "production"),
        who="bot",
        at=at,
        command="watch --auto",
        after={"percent": after},
        change={"action": "advance", "percent": after},
        result="applied",
        record_id=rid,
    )


def change(at: datetime, after: float, rid: str | None, note: str = "note") -> ChangeRecord:
    return ChangeRecord(at, "advance", 10, after, None, "shop", note, record=rid)


def test_a_record_takes_the_id_minted_before_the_change(tmp_path: Path) -> None:
    assert advance(tmp_path, A, NOW, 25)["id"] == A


def test_two_changes_a_second_apart_pair_by_the_id_their_notes_name_not_by_time(
    tmp_path: Path,
) -> None:
    records = [advance(tmp_path, A, NOW, 25), advance(tmp_path, B, NOW + timedelta(seconds=1), 25)]
    # the platform stamped B's change at A's time: by time and content it would be A's
    entries = merge_history(records, [change(NOW, 25, B)], "shop", "shop")
    assert [(e.record_id, e.source, e.paired) for e in entries] == [
        (B, "record+platform", "id"),
        (A, "record", None),
    ]


def test_swapped_contents_do_not_move_a_pairing_by_id(tmp_path: Path) -> None:
    records = [advance(tmp_path, A, NOW, 25), advance(tmp_path, B, NOW + timedelta(seconds=1), 50)]
    platform = [change(NOW + timedelta(seconds=1), 25, B), change(NOW, 50, A)]
    entries = merge_history(records, platform, "shop", "shop")
    assert [(e.record_id, e.source, e.paired, e.percent_after) for e in entries] == [
        (B, "record+platform", "id", 50),
        (A, "record+platform", "id", 25),
    ]


def test_a_pairing_by_id_holds_whatever_the_clocks_say(tmp_path: Path) -> None:
    entries = merge_history(
        [advance(tmp_path, A, NOW, 25)], [change(NOW + timedelta(hours=3), 25, A)], "shop", "shop"
    )
    assert [(e.source, e.paired, e.at) for e in entries] == [("record+platform", "id", NOW)]


def test_a_change_naming_a_record_this_store_does_not_hold_says_so(tmp_path: Path) -> None:
    entries = merge_history([], [change(NOW, 25, A, "rolloutcli plan=shop ...")], "shop", "shop")
    assert [(e.source, e.record_id, e.paired) for e in entries] == [("platform", A, None)]
    assert entries[0].detail == f"record {A} is not in this store · rolloutcli plan=shop ..."


def test_a_change_without_an_id_pairs_by_time_only_with_a_record_no_change_names(
    tmp_path: Path,
) -> None:
    records = [advance(tmp_path, A, NOW, 25), advance(tmp_path, B, NOW + timedelta(hours=1), 50)]
    platform = [
        change(NOW + timedelta(seconds=3), 25, None, "hand edit to 25%"),
        change(NOW + timedelta(seconds=5), 25, A),
        change(NOW + timedelta(hours=1, seconds=2), 50, None),  # an older note: no id
    ]
    entries = merge_history(records, platform, "shop", "shop")
    assert [(e.source, e.record_id, e.paired) for e in entries] == [
        ("record+platform", B, "time"),
        ("platform", None, None),
        ("record+platform", A, "id"),
    ]
    assert entries[1].detail == "hand edit to 25%"


def test_history_json_names_the_record_id_and_how_it_was_paired(tmp_path: Path) -> None:
    entries = merge_history([advance(tmp_path, A, NOW, 25)], [change(NOW, 25, A)], "shop", "shop")
    (item,) = history_json(entries)
    assert (item["record_id"], item["paired"], item["source"]) == (A, "id", "record+platform")
    assert item["record"]["id"] == A
