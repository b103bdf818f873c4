"""User text is shown as written: never rich markup, never an emoji code.

A flag key ``chk[/]`` used to raise MarkupError, ``[bold]x[/bold]`` to turn bold, and
``:100:`` to become an emoji. Here the plan name, the flag key, the environment, a stage
name and a pause reason hold all three, and status, check, pause, history and watch must
print each of them literally and exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app

PLAN = "p[bold]x:100:"
FLAG = "chk[/]:100:"
ENVIRONMENT = "[bold]x[/bold] :100:"
STAGE = "[red]c[/]"
REASON = "[bold]why[/bold] :100: chk[/] [link=http://x]y[/link]"


@pytest.fixture
def hostile(workspace: Path) -> Path:
    plan = (workspace / "plans" / "checkout-v2.yaml").read_text()
    plan = (
        plan.replace("flag: checkout-v2", f"flag: '{FLAG}'")
        .replace("environment: production", f"environment: '{ENVIRONMENT}'")
        .replace("- {percent: 5, min_duration", f"- {{name: '{STAGE}', percent: 5, min_duration")
    )
    assert FLAG in plan and ENVIRONMENT in plan and STAGE in plan
    (workspace / "plans" / f"{PLAN}.yaml").write_text(plan)
    flags = workspace / "flags" / "flags.json"
    text = flags.read_text()
    assert '"checkout-v2": {' in text
    flags.write_text(text.replace('"checkout-v2": {', f'"{FLAG}": {{', 1))
    return workspace


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_status_prints_names_literally(hostile: Path) -> None:
    output = run("status", PLAN)
    assert output.splitlines()[0] == (
        f"{PLAN} · flag {FLAG} · flagfile {ENVIRONMENT} · stage {STAGE} (2 of 6)"
    )
    assert "💯" not in output


def test_check_prints_names_literally(hostile: Path) -> None:
    output = run("check", PLAN)
    assert output.splitlines()[0] == (
        f"{PLAN} · flag {FLAG} · flagfile {ENVIRONMENT} · stage {STAGE} (2 of 6)"
    )
    assert "💯" not in output


def test_pause_history_and_watch_print_the_reason_literally(hostile: Path) -> None:
    output = run("pause", PLAN, "--yes", "-m", REASON)
    assert f"pause: {PLAN} (flag {FLAG} in {ENVIRONMENT}): " in output
    assert output.splitlines()[-1] == f"paused: {PLAN}"
    history = run("history", PLAN)
    assert history.splitlines()[0] == (
        f"{PLAN} · flag {FLAG} · records plans/.rollout/decisions.jsonl and the platform's "
        "history, newest first"
    )
    assert REASON in history
    watch = run("watch", PLAN, "--once")
    assert watch.splitlines()[0] == (
        f"{PLAN} · flag {FLAG} · flagfile {ENVIRONMENT} · stage {STAGE} (2 of 6)"
    )
    assert "💯" not in history + watch
