"""Issue 17: a rollout walked through its life on the embedded default (the flag file),
with what `status --json`, `check --json` and the `--fail-on` exit codes say at each step,
and, at the end, what `--at` a moment between two steps says: the earlier state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from tests.conftest import moment, read_flag

runner = CliRunner()
PLAN = "checkout-v2"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def lifecycle() -> dict[str, Any]:
    code, output = invoke("status", PLAN, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)["lifecycle"]
    return found


def check() -> dict[str, Any]:
    code, output = invoke("check", PLAN, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    assert found["lifecycle"] == lifecycle()  # the same object on both surfaces
    return found


def gates() -> tuple[int, int, int]:
    """The exit codes of `--fail-on rollback`, `--fail-on-breach` and `--fail-on pause`."""
    return (
        invoke("check", PLAN, "--fail-on", "rollback")[0],
        invoke("check", PLAN, "--fail-on-breach")[0],
        invoke("check", PLAN, "--fail-on", "pause")[0],
    )


def status_at(at: str) -> dict[str, Any]:
    code, output = invoke("status", PLAN, "--json", "--at", at)
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    return found


def check_at(at: str) -> dict[str, Any]:
    code, output = invoke("check", PLAN, "--json", "--at", at)
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    return found


def gates_at(at: str) -> tuple[int, int, int]:
    return (
        invoke("check", PLAN, "--fail-on", "rollback", "--at", at)[0],
        invoke("check", PLAN, "--fail-on-breach", "--at", at)[0],
        invoke("check", PLAN, "--fail-on", "pause", "--at", at)[0],
    )


def test_start_advance_pause_resume_rollback_restart_kill_unkill(live_workspace: Path) -> None:
    # in stage 5%, healthy and past its window: go
    assert lifecycle()["phase"] == "in_stage" and lifecycle()["stage"] == "5%"
    assert check()["verdict"] == "go"
    assert gates() == (0, 0, 0)

    # advance: in stage 10%, which has just begun
    assert invoke("advance", PLAN, "--yes")[0] == 0
    stage = lifecycle()
    assert (stage["phase"], stage["stage"], stage["stage_index"]) == ("in_stage", "10%", 2)
    assert stage["at"] is not None and stage["paused"] is None
    assert check()["verdict"] == "hold"
    marks = [(moment(), stage, "hold", (0, 0, 0))]

    # pause: every surface says so; never go; --fail-on pause is red, rollback is not
    assert invoke("pause", PLAN, "-m", "launch freeze", "--yes")[0] == 0
    paused = lifecycle()
    assert (paused["phase"], paused["reason"], paused["stage"]) == (
        "paused",
        "launch freeze",
        "10%",
    )
    assert paused["paused"]["reason"] == "launch freeze" and paused["by"]
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["paused"])
    assert gates() == (0, 0, 1)
    marks.append((moment(), paused, "hold", (0, 0, 1)))
    code, output = invoke("status", PLAN)
    assert "paused at stage 10%" in output and "rollout resume checkout-v2" in output
    code, output = invoke("advance", PLAN, "--yes")
    assert code == 1 and "paused" in output

    # resume: back in stage
    assert invoke("resume", PLAN, "--yes")[0] == 0
    assert lifecycle()["phase"] == "in_stage"
    assert gates() == (0, 0, 0)

    # rollback: holds (never go), says when and why, and keeps every gate red
    assert invoke("rollback", PLAN, "-m", "p99 too high", "--yes")[0] == 0
    rolled = lifecycle()
    assert (rolled["phase"], rolled["reason"], rolled["from_stage"], rolled["from_percent"]) == (
        "rolled_back",
        "p99 too high",
        "10%",
        10,
    )
    assert rolled["stopped"] is True and rolled["at"] is not None
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["rolled_back"])
    assert "rollout advance checkout-v2 --restart" in checked["reasons"][0]
    assert "p99 too high" in checked["reasons"][0]
    assert gates() == (1, 1, 1)
    marks.append((moment(), rolled, "hold", (1, 1, 1)))
    code, output = invoke("status", PLAN)
    assert "ROLLED BACK" in output and "not started" not in output
    code, output = invoke("advance", PLAN, "--yes")
    assert code == 1 and "flag checkout-v2 was rolled back" in output
    assert "--restart" in output
    assert read_flag(live_workspace, PLAN)["targeting"]["fractional"][1] == ["on", 0]
    code, output = invoke("watch", PLAN, "--auto", "--once")
    assert read_flag(live_workspace, PLAN)["targeting"]["fractional"][1] == ["on", 0]
    assert lifecycle()["phase"] == "rolled_back"  # watch --auto never restarts it

    # restart, deliberately: shows the rollback's reason; recorded as a restart
    code, output = invoke("advance", PLAN, "--restart", "--yes")
    assert code == 0, output
    assert "restart: rolled back from 10%" in output and "p99 too high" in output
    restarted = lifecycle()
    assert (restarted["phase"], restarted["stage"]) == ("in_stage", "canary")
    assert gates() == (0, 0, 0)
    decisions = live_workspace / "plans" / ".rollout" / "decisions.jsonl"
    record = json.loads(decisions.read_text().splitlines()[-1])
    assert record["decision"]["action"] == "restart"
    assert record["decision"]["rolled_back"]["reason"] == "p99 too high"

    # kill: holds, says when and what to do; the gates stay red
    assert invoke("kill", PLAN, "--yes")[0] == 0
    killed = lifecycle()
    assert (killed["phase"], killed["from_percent"], killed["stopped"]) == ("killed", 1, True)
    assert killed["at"] is not None
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["flag_off"])
    assert "turn it back on" in checked["reasons"][0]
    assert gates() == (1, 1, 1)
    marks.append((moment(), killed, "hold", (1, 1, 1)))

    # a rollback on the killed flag says the flag is off, not "still on"
    code, output = invoke("rollback", PLAN, "--yes")
    assert code == 0, output
    assert "still on" not in output and "the flag stays off (killed)" in output
    assert lifecycle()["phase"] == "killed"

    # unkill: the flag is on again; the rollback made while it was off still stands
    code, output = invoke("unkill", PLAN, "-m", "fix deployed", "--yes")
    assert code == 0, output
    unkilled = lifecycle()
    assert (unkilled["phase"], unkilled["from_percent"]) == ("rolled_back", 1)
    assert check()["reason_codes"] == ["rolled_back"]
    assert gates() == (1, 1, 1)
    code, output = invoke("advance", PLAN, "--restart", "--yes")
    assert code == 0, output
    assert lifecycle()["phase"] == "in_stage" and gates() == (0, 0, 0)

    # --at a moment between two steps reports the state of the earlier one, on every surface
    for at, then, verdict, codes in marks:
        replayed = status_at(at)
        assert replayed["lifecycle"] == then, at
        assert replayed["replayed"]["changes_undone"] > 0
        checked = check_at(at)
        assert (checked["verdict"], checked["lifecycle"]) == (verdict, then)
        assert gates_at(at) == codes
    code, output = invoke("status", PLAN, "--at", marks[1][0])
    assert "paused at stage 10%" in " ".join(output.split())
    assert "replayed from the platform's history" in " ".join(output.split())
