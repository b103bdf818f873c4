"""Issue 17: the lifecycle on `watch`'s live view and in `rollout history`, walked on the
embedded default (flag file + metrics file)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rolloutcli.cli.main import app

runner = CliRunner()
PLAN = "checkout-v2"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "400"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def watch_view() -> str:
    code, output = invoke("watch", PLAN, "--once")
    assert code in (0, 1), output
    return output


def test_watch_and_history_show_the_lifecycle(live_workspace: Path) -> None:
    running = watch_view()
    assert "PAUSED" not in running and "ROLLED BACK" not in running
    assert "in stage" in running  # time in the stage, as before

    assert invoke("pause", PLAN, "-m", "launch freeze", "--yes")[0] == 0
    paused = watch_view()
    assert "PAUSED · paused at stage 5%" in paused and "(launch freeze)" in paused
    assert f"rollout resume {PLAN}" in paused
    assert invoke("resume", PLAN, "--yes")[0] == 0
    assert "PAUSED" not in watch_view()

    assert invoke("rollback", PLAN, "-m", "p99 too high", "--yes")[0] == 0
    rolled = watch_view()
    assert "ROLLED BACK · rolled back from 5%" in rolled and "p99 too high" in rolled
    assert f"rollout advance {PLAN} --restart" in rolled
    assert "in stage" not in rolled

    assert invoke("pause", PLAN, "-m", "hold on", "--yes")[0] == 0
    assert "also PAUSED" in watch_view()  # the pause mark under a stop is named too
    assert invoke("resume", PLAN, "--yes")[0] == 0
    assert invoke("advance", PLAN, "--restart", "--yes")[0] == 0

    code, output = invoke("history", PLAN, "--json")
    assert code == 0, output
    marked = sorted(
        (e["event"], e["lifecycle"]) for e in json.loads(output) if e["lifecycle"] is not None
    )  # sorted: steps within one second have no order of their own
    assert marked == [
        ("advance", "restarted"),
        ("pause", "paused"),
        ("pause", "paused"),
        ("resume", "resumed"),
        ("resume", "resumed"),
        ("rollback", "rolled_back"),
    ]
    code, output = invoke("history", PLAN)
    assert code == 0, output
    for mark in ("advance → RESTARTED", "rollback → ROLLED BACK", "pause → PAUSED"):
        assert mark in output

    records = live_workspace / "plans" / ".rollout" / "decisions.jsonl"
    written = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()]
    phases = [
        (r["event"], r["before"]["phase"], (r["after"] or {}).get("phase"))
        for r in written
        if r["event"] in ("rollback", "advance", "pause")
    ]
    assert phases == [
        ("pause", "in_stage", None),
        ("rollback", "in_stage", "rolled_back"),
        ("pause", "rolled_back", None),
        ("advance", "rolled_back", "in_stage"),  # the restart
    ]
