"""`rollout tune PLAN KNOB VALUE` (issue 21): a person sets a knob; the value is checked
against the knob (exit 2, one line), the change is recorded as event ``knob`` and
restarts the stage's evidence; `--dry-run` writes nothing; `--json` says what changed."""

from __future__ import annotations

import json
from pathlib import Path

from rolloutcli.journal.store import read
from rolloutcli.support.errors import EXIT_INVALID
from tests.cli.test_watch_knob import KNOB_FLAG, KnobWorld
from tests.integration.cli_helpers import invoke


def knob_doc(world: KnobWorld) -> dict[str, object]:
    flag: dict[str, object] = json.loads(world.flags.read_text())["flags"][KNOB_FLAG]
    return flag


def records(world: KnobWorld) -> list[dict[str, object]]:
    return read(world.root / "plans" / ".rollout" / "decisions.jsonl").entries


def test_tune_sets_the_knob_and_records_it(tmp_path: Path) -> None:
    world = KnobWorld(tmp_path, falls=True)
    code, output = invoke(
        "tune", str(world.plan), "min_confidence", "0.90", "--yes", "--json", "-m", "too noisy"
    )
    assert code == 0, output
    doc = json.loads(output)
    assert (doc["command"], doc["action"], doc["result"], doc["reason"]) == (
        "tune",
        "knob",
        "applied",
        "too noisy",
    )
    assert doc["knob"] == {
        "name": "min_confidence",
        "flag": KNOB_FLAG,
        "from": 0.7,
        "to": 0.9,
        "guardrail": None,
    }
    assert knob_doc(world)["defaultVariant"] == "high"
    [record] = records(world)
    assert (record["event"], record["result"], record["id"]) == (
        "knob",
        "applied",
        doc["record_id"],
    )
    assert record["knob"] == {
        "name": "min_confidence",
        "flag": KNOB_FLAG,
        "from": 0.7,
        "to": 0.9,
        "guardrail": None,
        "tier": None,
        "threshold": None,
    }
    reading = world.knob.read_knob(KNOB_FLAG)
    assert reading.value == 0.9 and reading.since is not None and reading.by is not None
    history = json.loads(world.flags.with_name("flags.json.history.jsonl").read_text())
    assert (
        history["flag"],
        history["action"],
        history["value_before"],
        history["value_after"],
    ) == (
        KNOB_FLAG,
        "knob",
        0.7,
        0.9,
    )
    assert history["record"] == record["id"]
    code, output = invoke("history", str(world.plan))
    assert code == 0, output
    assert "knob" in output and "too noisy" in output


def test_a_value_the_knob_does_not_allow_is_one_line(tmp_path: Path) -> None:
    world = KnobWorld(tmp_path, falls=True)
    before = world.flags.read_text()
    code, output = invoke("tune", str(world.plan), "min_confidence", "0.95", "--yes")
    assert code == EXIT_INVALID
    assert output.strip() == (
        "error: knob min_confidence does not allow '0.95': give one of 0.7, 0.8, 0.9"
    )
    code, output = invoke("tune", str(world.plan), "max_confidence", "0.8", "--yes")
    assert code == EXIT_INVALID
    assert output.strip() == (
        "error: plan pause has no knob named 'max_confidence' (knobs: min_confidence)"
    )
    assert world.flags.read_text() == before


def test_dry_run_and_an_unchanged_value_write_nothing(tmp_path: Path) -> None:
    world = KnobWorld(tmp_path, falls=True)
    before = world.flags.read_text()
    code, output = invoke("tune", str(world.plan), "min_confidence", "0.8", "--dry-run")
    assert code == 0, output
    assert "raise min_confidence 0.7 -> 0.8" in output and "dry run" in output
    code, output = invoke("tune", str(world.plan), "min_confidence", "0.7", "--yes", "--json")
    assert code == 0, output
    assert json.loads(output)["result"] == "unchanged"
    assert world.flags.read_text() == before
    assert not (world.root / "plans" / ".rollout" / "decisions.jsonl").exists()


def test_json_without_yes_is_refused(tmp_path: Path) -> None:
    world = KnobWorld(tmp_path, falls=True)
    code, output = invoke("tune", str(world.plan), "min_confidence", "0.8", "--json")
    assert code == 1
    refused, _ = json.JSONDecoder().raw_decode(output)
    assert refused["result"] == "refused" and refused["knob"]["to"] == 0.8
    assert knob_doc(world)["defaultVariant"] == "low"
