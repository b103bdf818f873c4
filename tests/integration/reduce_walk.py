"""Shared by the reduce tests on the platforms (issue 21): a rollout taken to 50% with the
CLI, then stepped back with `rollout reduce` (to the previous stage, then to a named one),
asserting what `status --json` and `check --json` say, that advancing stays refused until
`rollout resume`, that `history --json` pairs each reduce with its decision record, and
that the platform holds the lower split. It mirrors the flag-file tests of
tests/cli/test_reduce_command.py, on a real server or the LaunchDarkly fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.cli_helpers import STAGES_NOW, fresh_metrics, invoke, write_plan
from tests.integration.lifecycle_walk import check, lifecycle

PLAN = "walk"  # lifecycle_walk's helpers read this plan


def advanced(root: Path, flag: str, percent: float) -> None:
    """`rollout advance --yes` from a stage whose exposure counts are in, to ``percent``."""
    code, output = invoke("advance", PLAN, "--yes")
    assert code == 0, output
    assert lifecycle()["stage"] == f"{percent:g}%", output
    fresh_metrics(root, flag, percent)


def history() -> list[dict[str, Any]]:
    code, output = invoke("history", PLAN, "--json")
    assert code == 0, output
    rows: list[dict[str, Any]] = json.loads(output)
    return rows


def reduce_walk(root: Path, flag: str, platform: str) -> None:
    """Walk plan ``walk`` (stages 10/25/50/100%) on ``flag``, a boolean flag that is off and
    not started on the platform the plan mapping ``platform`` names; the current directory
    is the workspace ``root``."""
    write_plan(root, PLAN, flag, platform, "{treatment: true, control: false}", STAGES_NOW)
    for percent in (10, 25, 50):
        advanced(root, flag, percent)

    # reduce: back to the previous stage, paused there; every surface says so
    code, output = invoke("reduce", PLAN, "-m", "drift indicators", "--yes")
    assert code == 0, output
    reduced = lifecycle()
    assert (reduced["phase"], reduced["stage"], reduced["stage_index"]) == ("paused", "25%", 1)
    assert reduced["stopped"] is False
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["paused"])
    code, output = invoke("status", PLAN, "--json")
    assert json.loads(output)["percent"] == 25

    # paused: advancing is refused, on its own and by watch --auto
    code, output = invoke("advance", PLAN, "--yes")
    assert code == 1 and "paused" in output, output
    fresh_metrics(root, flag, 25)
    invoke("watch", PLAN, "--auto", "--once")
    assert lifecycle()["stage"] == "25%"

    # a reduce to a named stage, while paused; a stage that is not below is refused
    code, output = invoke("reduce", PLAN, "--to", "50%", "--yes")
    assert code == 2 and "not below the current stage 25%" in output, output
    code, output = invoke("reduce", PLAN, "--to", "10%", "-m", "still drifting", "--yes")
    assert code == 0, output
    again = lifecycle()
    assert (again["phase"], again["stage"], again["stage_index"]) == ("paused", "10%", 0)

    # each reduce is a platform change paired with its decision record
    reduces = [row for row in history() if row.get("event") == "reduce"]
    assert len(reduces) == 2, reduces
    assert [(r["source"], r["paired"], r["percent_after"]) for r in reduces] == [
        ("record+platform", "id", 10),
        ("record+platform", "id", 25),
    ]  # newest first

    # resume: in stage 10% again, and the rollout moves on
    code, output = invoke("resume", PLAN, "--yes")
    assert code == 0, output
    assert (lifecycle()["phase"], lifecycle()["stage"]) == ("in_stage", "10%")
    fresh_metrics(root, flag, 10)
    advanced(root, flag, 25)
