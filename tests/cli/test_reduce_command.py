"""`rollout reduce PLAN [--to STAGE]` (issue 21): a person steps a rollout back to an
earlier stage and pauses it there; `--json` says what changed, `--dry-run` writes nothing,
a stage that is not below the current one is one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from rolloutcli.support.errors import EXIT_BREACH, EXIT_INVALID
from tests.cli.test_scripting import (
    AT_5,
    FLAGS,
    PLAN,
    RECORDS,
    document,
    expected,
    invoke,
    quiet,
    records,
    snapshot,
)

REASON = "drift under investigation"


def test_reduce_steps_back_to_the_previous_stage_and_pauses(workspace: Path) -> None:
    quiet(workspace)
    result = invoke("reduce", PLAN, "--yes", "--json", "-m", REASON)
    assert result.exit_code == 0, result.output
    reduce, pause = records()
    assert (reduce["event"], reduce["result"], pause["event"]) == ("reduce", "applied", "pause")
    assert document(result) == expected(
        "reduce",
        "applied",
        reason=REASON,
        after=snapshot(True, 1.0, "canary", "paused", True),
        record_id=reduce["id"],
    )
    state = json.loads(FLAGS.read_text())["flags"][PLAN]
    assert state["metadata"]["rolloutcli.paused"]["reason"] == f"reduced 5% → canary: {REASON}"
    status = json.loads(invoke("status", PLAN, "--json").stdout)["lifecycle"]
    assert (status["phase"], status["stage"]) == ("paused", "canary")
    assert status["reason"] == f"reduced 5% → canary: {REASON}"
    # automatic advancing stays stopped; resume lifts the pause at the reduced stage
    resumed = invoke("resume", PLAN, "--yes", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert document(resumed)["after"] == snapshot(True, 1.0, "canary", "in_stage", False)


def test_reduce_to_a_stage_not_below_is_one_line(workspace: Path) -> None:
    before = FLAGS.read_bytes()
    result = invoke("reduce", PLAN, "--to", "10%", "--yes")
    assert result.exit_code == EXIT_INVALID
    assert result.stderr.strip().splitlines() == [
        "error: --to 10% is not below the current stage 5%: reduce steps back"
    ]
    missing = invoke("reduce", PLAN, "--to", "7%", "--yes")
    assert missing.exit_code == EXIT_INVALID
    assert "--to '7%' names no stage of the plan (stages: canary, 5%, 10%, 25%, 50%, 100%)" in (
        missing.stderr
    )
    assert FLAGS.read_bytes() == before


def test_reduce_at_the_first_stage_is_refused(workspace: Path) -> None:
    quiet(workspace)
    assert invoke("reduce", PLAN, "--to", "canary", "--yes").exit_code == 0
    assert invoke("resume", PLAN, "--yes").exit_code == 0
    again = invoke("reduce", PLAN, "--yes")
    assert again.exit_code == EXIT_BREACH
    assert again.stderr.strip() == (
        "error: the rollout is at its first stage: nothing to step back to "
        f"(rollout rollback {PLAN} sets 0%)"
    )


def test_reduce_dry_run_writes_nothing(workspace: Path) -> None:
    before = FLAGS.read_bytes()
    result = invoke("reduce", PLAN, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert FLAGS.read_bytes() == before
    assert not RECORDS.exists()
    found = document(result)
    assert (found["result"], found["before"]) == ("dry_run", AT_5)
    assert found["after"] == snapshot(True, 1.0, "canary", "paused", True)
