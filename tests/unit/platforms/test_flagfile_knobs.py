"""Knobs in a flagd flag file (issue 21): read as ``variants[defaultVariant]``, set by
selecting (or adding) the variant serving the value, conditionally, with the change
recorded in the flag's metadata and the file's history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.errors import BackendError, ConflictError

AT = datetime(2026, 11, 2, 10, 50, tzinfo=UTC)


def flag_file(tmp_path: Path, **knob: Any) -> FlagFilePlatform:
    doc = {
        "flags": {
            "model": {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
            },
            "min-confidence": {
                "state": "ENABLED",
                "variants": {"low": 0.7, "mid": 0.8},
                "defaultVariant": "low",
                **knob,
            },
        }
    }
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(doc))
    return FlagFilePlatform(path, "model")


def knob_flag(platform: FlagFilePlatform) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(platform.path.read_text())["flags"]["min-confidence"]
    return doc


def test_a_hand_set_knob_reads_its_value_without_a_since(tmp_path: Path) -> None:
    platform = flag_file(tmp_path)
    assert platform.read_knob("min-confidence") == KnobReading(
        "min-confidence", 0.7, None, None, "set by hand: when is not recorded"
    )


def test_set_selects_the_variant_and_records_when_and_who(tmp_path: Path) -> None:
    platform = flag_file(tmp_path)
    expected = platform.read_knob("min-confidence")
    after = platform.set_knob(
        "min-confidence", 0.8, expected, "fraud", "raise 0.7 -> 0.8", AT, "ab12cd34", "ana"
    )
    assert after == KnobReading("min-confidence", 0.8, AT, "ana")
    flag = knob_flag(platform)
    assert flag["defaultVariant"] == "mid"
    assert flag["variants"] == {"low": 0.7, "mid": 0.8}
    assert flag["metadata"]["rolloutcli.comment"] == "raise 0.7 -> 0.8 (record ab12cd34)"
    [line] = platform.history_path.read_text().splitlines()
    assert json.loads(line) == {
        "at": "2026-11-02T10:50:00Z",
        "flag": "min-confidence",
        "action": "knob",
        "percent_before": None,
        "percent_after": None,
        "stage": None,
        "plan": "fraud",
        "comment": "raise 0.7 -> 0.8 (record ab12cd34)",
        "by": "ana",
        "record": "ab12cd34",
        "value_before": 0.7,
        "value_after": 0.8,
    }
    # the plan's own flag keeps its history: the knob's line is another flag's
    assert platform.history() == []


def test_a_value_no_variant_serves_is_added_as_a_variant(tmp_path: Path) -> None:
    platform = flag_file(tmp_path)
    expected = platform.read_knob("min-confidence")
    platform.set_knob("min-confidence", 0.85, expected, "fraud", "tune", AT)
    flag = knob_flag(platform)
    assert flag["variants"] == {"low": 0.7, "mid": 0.8, "0.85": 0.85}
    assert flag["defaultVariant"] == "0.85"
    assert platform.read_knob("min-confidence").value == 0.85


def test_a_knob_changed_since_it_was_read_is_a_conflict(tmp_path: Path) -> None:
    platform = flag_file(tmp_path)
    stale = platform.read_knob("min-confidence")
    platform.set_knob("min-confidence", 0.8, stale, "fraud", "by someone else", AT)
    before = platform.path.read_text()
    with pytest.raises(ConflictError, match=re.escape("serves 0.8 now, not the 0.7 read")):
        platform.set_knob("min-confidence", 0.85, stale, "fraud", "tune", AT)
    assert platform.path.read_text() == before


@pytest.mark.parametrize(
    ("knob", "note"),
    [
        ({"state": "DISABLED"}, "it is disabled: flagd serves no value"),
        (
            {"targeting": {"if": [True, "mid", "low"]}},
            "it has targeting rules: no single value for all",
        ),
        ({"defaultVariant": "none"}, "it has no defaultVariant among its variants"),
    ],
)
def test_a_knob_serving_no_single_value_reads_none(
    tmp_path: Path, knob: dict[str, Any], note: str
) -> None:
    reading = flag_file(tmp_path, **knob).read_knob("min-confidence")
    assert (reading.value, reading.note) == (None, note)


def test_a_missing_knob_flag_is_a_backend_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="knob flag 'min-conf' not found in"):
        flag_file(tmp_path).read_knob("min-conf")
