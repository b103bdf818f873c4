"""`rollout unkill`: a killed flag turned back on, deliberately, on the embedded default (the
flag file): shown, confirmed, applied, recorded; the lifecycle is no longer `killed`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.support.errors import EXIT_BREACH
from tests.conftest import read_flag

runner = CliRunner()
PLAN = "checkout-v2"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def status() -> dict[str, Any]:
    code, output = invoke("status", PLAN, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    return found


def check() -> dict[str, Any]:
    code, output = invoke("check", PLAN, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    return found


def records(root: Path) -> list[dict[str, Any]]:
    decisions = root / "plans" / ".rollout" / "decisions.jsonl"
    return [json.loads(line) for line in decisions.read_text().splitlines()]


def history_lines(root: Path) -> list[dict[str, Any]]:
    found = (root / "flags").glob("*history*")
    return [json.loads(line) for path in found for line in path.read_text().splitlines()]


def test_kill_then_unkill_serves_the_split_again(live_workspace: Path) -> None:
    before = status()["lifecycle"]
    assert before["phase"] == "in_stage"
    share = status().get("percent")
    assert invoke("kill", PLAN, "--yes")[0] == 0
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["flag_off"])
    assert f"rollout unkill {PLAN}" in checked["reasons"][0]
    assert invoke("check", PLAN, "--fail-on", "rollback")[0] == 1

    # no terminal, no --yes: refused, nothing changed
    code, output = invoke("unkill", PLAN)
    assert code == EXIT_BREACH and "nothing was changed" in output
    assert read_flag(live_workspace, PLAN)["state"] == "DISABLED"

    code, output = invoke("unkill", PLAN, "--yes", "--reason", "fix deployed")
    assert code == 0, output
    assert f"turn flag {PLAN} ON in" in output
    assert "treatment will be served again" in output
    assert f"flag {PLAN} is ON" in output
    assert read_flag(live_workspace, PLAN)["state"] == "ENABLED"

    after = status()["lifecycle"]
    assert after["phase"] == "in_stage" and after["stage"] == before["stage"]
    assert after["stopped"] is False
    assert check()["verdict"] != "hold" or "flag_off" not in check()["reason_codes"]
    assert invoke("check", PLAN, "--fail-on", "rollback")[0] == 0
    if share is not None:
        assert status()["percent"] == share

    written = records(live_workspace)
    record = next(r for r in reversed(written) if r["event"] == "unkill")
    assert record["result"] == "applied" and record["reason"] == "fix deployed"
    assert record["decision"] == {"action": "unkill", "reason": "--yes"}
    assert record["before"]["on"] is False and record["after"]["on"] is True
    assert any(line["action"] == "unkill" for line in history_lines(live_workspace))
    # the plan's Slack webhook is not configured here (its variable is unset): a quiet
    # note, not a failed delivery, and no notify record
    assert not [r for r in written if r["event"] == "notify"]
    assert "note: unkill not notified: SLACK_WEBHOOK_URL is not set" in output
    assert "warning" not in output
    code, output = invoke("history", PLAN)
    assert code == 0 and "unkill" in output


def test_unkill_on_a_flag_that_is_on_changes_nothing(live_workspace: Path) -> None:
    flag = read_flag(live_workspace, PLAN)
    code, output = invoke("unkill", PLAN, "--yes")
    assert code == 0, output
    assert output.strip() == f"flag {PLAN} is already on in production: nothing changed" or (
        "is already on" in output and "nothing changed" in output and len(output.splitlines()) == 1
    )
    assert read_flag(live_workspace, PLAN) == flag


def test_unkill_after_a_rollback_stays_rolled_back(live_workspace: Path) -> None:
    assert invoke("rollback", PLAN, "--yes", "--reason", "p99 too high")[0] == 0
    assert invoke("kill", PLAN, "--yes")[0] == 0
    assert status()["lifecycle"]["phase"] == "killed"
    code, output = invoke("unkill", PLAN, "--yes")
    assert code == 0, output
    assert "stays rolled back" in output and f"rollout advance {PLAN} --restart" in output
    lifecycle = status()["lifecycle"]
    assert lifecycle["phase"] == "rolled_back"
    assert invoke("check", PLAN, "--fail-on", "rollback")[0] == 1
