"""Scripts drive the writing commands: `--json` says what changed (exact keys and values),
`--dry-run` writes nothing, `--json` never asks, errors are one JSON line on stderr; `kill
-m`; `watch --output ndjson`; `rollout wait`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from rolloutcli.cli.main import app
from rolloutcli.support.errors import EXIT_BREACH, EXIT_INVALID

runner = CliRunner()
PLAN = "checkout-v2"
FLAGS = Path("flags") / "flags.json"
RECORDS = Path("plans") / ".rollout" / "decisions.jsonl"


def invoke(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def document(result: Result) -> dict[str, Any]:
    """stdout is one JSON document and nothing else."""
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDS.read_text().splitlines()]


def quiet(root: Path) -> None:
    """The plan without its webhook section: no notification is due (none is sent)."""
    plan = root / "plans" / f"{PLAN}.yaml"
    text = plan.read_text()
    plan.write_text(text[: text.index("notifications:")])


def snapshot(
    on: bool | None,
    percent: float | None = None,
    stage: str | None = None,
    phase: str | None = None,
    paused: bool | None = None,
) -> dict[str, Any]:
    return {"on": on, "percent": percent, "stage": stage, "phase": phase, "paused": paused}


AT_5 = snapshot(True, 5.0, "5%", "in_stage", False)


def expected(action: str, result: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "command": action,
        "plan": PLAN,
        "flag": PLAN,
        "platform": "flagfile",
        "environment": "production",
        "where": "flags/flags.json",
        "action": action,
        "result": result,
        "reason": None,
        "before": AT_5,
        "after": None,
        "record_id": None,
        "notifications": [],
        "validated_by": None,
        "error": None,
        "verdict": None,
        "gates": None,
    }
    base.update(changes)
    return base


def test_rollback_json_says_what_changed_and_names_its_record(workspace: Path) -> None:
    quiet(workspace)
    result = invoke("rollback", PLAN, "--json", "--yes", "-m", "p99 spike")
    assert result.exit_code == 0, result.output
    found = document(result)
    (written,) = records()
    assert found == expected(
        "rollback",
        "applied",
        reason="p99 spike",
        after=snapshot(True, 0.0, None, "rolled_back", False),
        record_id=written["id"],
    )
    assert written["event"] == "rollback" and written["result"] == "applied"
    # nothing else: the person's text is not on stdout
    assert result.stdout.strip().startswith("{") and result.stdout.strip().endswith("}")


def test_rollback_json_when_nothing_is_to_do(workspace: Path) -> None:
    quiet(workspace)
    assert invoke("rollback", PLAN, "--yes").exit_code == 0
    result = invoke("rollback", PLAN, "--json", "--yes")
    assert result.exit_code == 0
    rolled_back = snapshot(True, 0.0, None, "rolled_back", False)
    assert document(result) == expected(
        "rollback",
        "unchanged",
        reason="requested with rollout rollback",
        before=rolled_back,
        after=rolled_back,
    )


def test_pause_and_resume_json(workspace: Path) -> None:
    quiet(workspace)
    paused = invoke("pause", PLAN, "--json", "--yes", "-m", "freeze")
    assert paused.exit_code == 0, paused.output
    first = records()[-1]
    assert document(paused) == expected(
        "pause",
        "applied",
        reason="freeze",
        after=snapshot(True, 5.0, "5%", "paused", True),
        record_id=first["id"],
    )
    again = invoke("pause", PLAN, "--json", "--yes")
    assert document(again) == expected(
        "pause",
        "unchanged",
        reason="paused by a person",
        before=snapshot(True, 5.0, "5%", "paused", True),
        after=snapshot(True, 5.0, "5%", "paused", True),
    )
    resumed = invoke("resume", PLAN, "--json", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert document(resumed) == expected(
        "resume",
        "applied",
        reason="resumed by a person",
        before=snapshot(True, 5.0, "5%", "paused", True),
        after=AT_5,
        record_id=records()[-1]["id"],
    )


def test_kill_and_unkill_json(workspace: Path) -> None:
    quiet(workspace)
    killed = invoke("kill", PLAN, "--json", "--yes", "-m", "pager 4711")
    assert killed.exit_code == 0, killed.output
    record = records()[-1]
    assert document(killed) == expected(
        "kill",
        "applied",
        reason="rolloutcli kill: pager 4711",
        before=snapshot(True),
        after=snapshot(False),
        record_id=record["id"],
    )
    assert record["reason"] == "rolloutcli kill: pager 4711"
    note = json.loads(FLAGS.read_text())["flags"][PLAN]["metadata"]["rolloutcli.comment"]
    assert "pager 4711" in note
    unkilled = invoke("unkill", PLAN, "--json", "--yes")
    assert unkilled.exit_code == 0, unkilled.output
    assert document(unkilled) == expected(
        "unkill",
        "applied",
        reason="turned back on by a person",
        before=snapshot(False, 5.0, "5%", "killed", False),
        after=AT_5,
        record_id=records()[-1]["id"],
    )


def test_kill_json_with_a_flag_file_and_no_plan(workspace: Path) -> None:
    result = invoke("kill", PLAN, "--flag-file", str(FLAGS), "--json", "--yes")
    assert result.exit_code == 0, result.output
    assert document(result) == expected(
        "kill",
        "applied",
        plan=None,
        environment=None,
        reason="rolloutcli kill: flag turned off by on-call",
        before=snapshot(True),
        after=snapshot(False),
        record_id=records()[-1]["id"],
    )


@pytest.mark.parametrize(
    ("command", "result", "changes"),
    [
        (["rollback"], "dry_run", {"reason": "requested with rollout rollback"}),
        (["pause"], "dry_run", {"reason": "paused by a person"}),
        (["kill"], "dry_run", {}),
    ],
)
def test_dry_run_json_writes_nothing(
    workspace: Path, command: list[str], result: str, changes: dict[str, Any]
) -> None:
    before = FLAGS.read_bytes()
    outcome = invoke(*command, PLAN, "--dry-run", "--json")
    assert outcome.exit_code == 0, outcome.output
    assert FLAGS.read_bytes() == before
    assert not RECORDS.exists()
    found = document(outcome)
    assert found["result"] == result
    assert found["record_id"] is None
    for key, value in changes.items():
        assert found[key] == value
    after = {
        "rollback": snapshot(True, 0.0, None, "rolled_back", False),
        "pause": snapshot(True, 5.0, "5%", "paused", True),
        "kill": snapshot(False),
    }[command[0]]
    assert found["after"] == after
    if command[0] == "kill":  # the dry run read the flag: on now
        assert found["before"] == snapshot(True)


def test_kill_dry_run_reads_the_flag(workspace: Path) -> None:
    """A dry run reads the flag: it says whether the kill would change anything, and a
    key the file lacks fails as the kill itself would, with nothing written."""
    result = invoke("kill", PLAN, "--dry-run")
    assert "the flag is on now: a kill turns it off\n" in result.stdout
    assert invoke("kill", PLAN, "--yes").exit_code == 0
    flags = FLAGS.read_bytes()
    result = invoke("kill", PLAN, "--dry-run", "--json")
    assert (result.exit_code, document(result)["before"]) == (0, snapshot(False))
    result = invoke("kill", PLAN, "--dry-run")
    assert "the flag is already off: a kill changes nothing\n" in result.stdout
    typo = invoke("kill", "nosuch", "--flag-file", str(FLAGS), "--dry-run")
    assert typo.exit_code == EXIT_INVALID
    assert typo.stderr.startswith("error: flag 'nosuch' not found in ")
    assert "dry run" not in typo.stdout
    assert FLAGS.read_bytes() == flags


@pytest.mark.parametrize("command", ["kill", "pause", "resume", "unkill", "rollback"])
def test_dry_run_writes_nothing(workspace: Path, command: str) -> None:
    if command in ("resume", "unkill"):  # something for them to lift first
        assert invoke("pause" if command == "resume" else "kill", PLAN, "--yes").exit_code == 0
    flags, history = FLAGS.read_bytes(), RECORDS.read_bytes() if RECORDS.exists() else b""
    result = invoke(command, PLAN, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was changed." in result.stdout
    assert FLAGS.read_bytes() == flags
    assert (RECORDS.read_bytes() if RECORDS.exists() else b"") == history


def test_json_never_asks_and_refuses_in_one_json_line(workspace: Path) -> None:
    before = FLAGS.read_bytes()
    result = invoke("rollback", PLAN, "--json")
    assert result.exit_code == EXIT_BREACH
    assert FLAGS.read_bytes() == before
    why = "--json asks nothing: add --yes to apply (nothing was changed)"
    assert json.loads(result.stderr) == {"error": why, "exit_code": EXIT_BREACH}
    assert document(result) == expected(
        "rollback", "refused", reason="requested with rollout rollback", error=why
    )


def test_json_error_before_reading_is_only_on_stderr(workspace: Path) -> None:
    result = invoke("pause", "nosuch", "--json", "--yes")
    assert result.exit_code == EXIT_INVALID
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["exit_code"] == EXIT_INVALID
    assert error["error"].startswith("no plan named 'nosuch'")


def test_advance_json_carries_the_verdict(live_workspace: Path) -> None:
    quiet(live_workspace)
    check = invoke("check", PLAN, "--json")
    verdict = document(check)
    result = invoke("advance", PLAN, "--json", "--dry-run")
    found = document(result)
    assert found["verdict"]["verdict"] == verdict["verdict"]
    assert found["command"] == "advance" and found["record_id"] is None
    if verdict["verdict"] == "go":
        assert result.exit_code == 0
        assert found["result"] == "dry_run"
        assert found["after"]["percent"] == verdict["next_percent"]
    else:
        assert found["result"] == "unchanged" and found["after"] is None


def test_advance_json_applied_on_go(live_workspace: Path) -> None:
    quiet(live_workspace)
    result = invoke("advance", PLAN, "--json", "--yes")
    assert result.exit_code == 0, result.output
    found = document(result)
    (written,) = records()
    assert found["verdict"]["verdict"] == "go"
    assert found["verdict"]["reason_codes"] == ["advance"]
    assert found["gates"] == {
        "stage": "10%",
        "window": {
            "open": True,
            "state": "open",
            "reason": "no automation windows: any time",
            "next_opening": None,
            "override": False,
        },
        "checklist": [],
    }
    found["verdict"] = found["gates"] = None
    assert found == expected(
        "advance",
        "applied",
        after=snapshot(True, 10.0, "10%", "in_stage", False),
        record_id=written["id"],
    )
    assert written["event"] == "advance" and written["after"]["percent"] == 10.0


def test_kill_of_a_flag_the_file_lacks_lists_its_flags(workspace: Path) -> None:
    result = invoke("kill", "nosuchflag", "--flag-file", str(FLAGS), "--yes")
    assert result.exit_code == EXIT_INVALID
    assert "plan" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: flag 'nosuchflag' not found in flags/flags.json: it has flags "
        "assistant-min-confidence, assistant-model, assistant-retrieval-index, checkout-v2, "
        "payments-v2, recommender-model, search-ranking, signup-v2"
    )


def test_kill_with_a_flag_file_names_no_environment(workspace: Path) -> None:
    result = invoke("kill", PLAN, "--flag-file", str(FLAGS), "--yes")
    assert result.exit_code == 0
    assert (
        result.stdout.splitlines()[0]
        == "kill: turn flag checkout-v2 OFF (flagd file flags/flags.json)"
    )
    assert "local" not in result.stdout


# ---------------------------------------------------------------------- watch --output ndjson


def test_watch_ndjson_streams_one_line_per_plan(workspace: Path) -> None:
    result = invoke(
        "watch", PLAN, "nosuch", "--once", "--output", "ndjson", "--at", "2026-11-02T15:00Z"
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {
        "event", "at", "plan", "flag", "mode", "verdict", "reasons", "reason_codes", "percent",
        "stage", "lifecycle", "decision", "applied", "record_id", "error", "exit_code",
        "warnings",
        "skipped", "skip_reason",
    }  # fmt: skip
    assert first["plan"] == PLAN and first["event"] == "plan" and first["mode"] == "report"
    assert first["at"] == "2026-11-02T15:00:00Z"
    assert first["lifecycle"]["phase"] == "in_stage" and first["error"] is None
    assert second["plan"] == "nosuch" and second["verdict"] is None
    assert second["exit_code"] == EXIT_INVALID
    assert second["error"].startswith("no plan named 'nosuch'")
    assert "error: nosuch: no plan named 'nosuch'" in result.stderr
    assert result.exit_code == EXIT_INVALID


def test_watch_text_puts_an_unknown_plan_on_stderr(workspace: Path) -> None:
    result = invoke("watch", "nosuch", "--once")
    assert result.exit_code == EXIT_INVALID
    assert "nosuch" not in result.stdout
    assert result.stderr.startswith("error: nosuch: no plan named 'nosuch'")


# ---------------------------------------------------------------------- wait


@pytest.mark.parametrize("condition", ["stage=5", "stage=5%", "stage=canary", "lifecycle=in_stage"])
def test_wait_for_what_already_holds_exits_at_once(workspace: Path, condition: str) -> None:
    result = invoke("wait", PLAN, "--for", condition, "--timeout", "1s", "--interval", "0.2s")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{PLAN}: {condition} holds: stage 5% at 5%, lifecycle in_stage\n"


def test_wait_times_out_with_what_it_saw_last(workspace: Path) -> None:
    result = invoke("wait", PLAN, "--for", "stage=10", "--timeout", "1s", "--interval", "0.2s")
    assert result.exit_code == EXIT_BREACH
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {PLAN}: stage=10 did not hold within 1s (")
    assert line.endswith("polls); last seen: stage 5% at 5%, lifecycle in_stage")


def test_wait_json_prints_the_final_state(workspace: Path) -> None:
    result = invoke("wait", PLAN, "--for", "lifecycle=in_stage", "--json")
    assert result.exit_code == 0
    found = document(result)
    assert {k: found[k] for k in ("plan", "flag", "condition", "met", "polls", "seen")} == {
        "plan": PLAN,
        "flag": PLAN,
        "condition": "lifecycle=in_stage",
        "met": True,
        "polls": 1,
        "seen": {"stage": "5%", "percent": 5.0, "lifecycle": "in_stage", "verdict": None},
    }
    assert found["status"]["percent"] == 5.0 and found["check"] is None


def test_wait_for_a_verdict_reads_the_check(workspace: Path) -> None:
    result = invoke(
        "wait", PLAN, "--for", "verdict=done", "--timeout", "1s", "--interval", "0.5s", "--json"
    )
    assert result.exit_code == EXIT_BREACH
    found = document(result)
    assert found["met"] is False and found["check"]["verdict"] == found["seen"]["verdict"]
    assert json.loads(result.stderr)["exit_code"] == EXIT_BREACH


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "stage=33"], "error: --for 'stage=33': the plan has no stage '33'"),
        (["--for", "stage=10", "--timeout", "0s"], "error: --timeout must be positive"),
        (["--for", "stage=10", "--interval", "soon"], "error: --interval: bad duration"),
    ],
)
def test_wait_bad_input_exits_2(workspace: Path, args: list[str], message: str) -> None:
    result = invoke("wait", PLAN, *args)
    assert result.exit_code == EXIT_INVALID
    assert result.stderr.startswith(message)


@pytest.mark.parametrize("content", ["", "# nothing yet\n"])
def test_kill_and_history_on_an_empty_plan_say_what_validate_says(
    workspace: Path, content: str
) -> None:
    (workspace / "plans" / "empty.yaml").write_text(content)
    said = invoke("validate", "empty")
    assert said.exit_code == EXIT_INVALID
    assert "(top level)" not in said.stderr
    for command in (["kill", "empty", "--yes"], ["history", "empty"]):
        result = invoke(*command)
        assert result.exit_code == EXIT_INVALID, command
        assert result.stderr == said.stderr, command
