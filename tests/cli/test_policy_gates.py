"""Policy windows, freezes and checklists on the flag file: `watch --auto` advances only
inside a window and out of a freeze (a rollback still acts), never into a stage with a
checklist; `rollout advance` warns and asks outside a window (`--yes` needs
`--outside-window`) and asks each checklist question (`--yes` needs `--checked ID`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from rolloutcli.cli import base as cli
from rolloutcli.cli.main import app
from rolloutcli.support.errors import EXIT_BREACH, EXIT_INVALID
from tests.conftest import read_flag

runner = CliRunner()
PLAN = "checkout-v2"
AT = "2026-11-02T12:00Z"  # Monday 13:00 in Berlin: the moment the example data describes
RECORDS = Path("plans") / ".rollout" / "decisions.jsonl"
CHECKLIST = (
    "  - percent: 10\n    min_duration: 1h\n    min_samples: 4000\n    checklist:\n"
    "      - no unresolved incidents\n"
    "      - {id: feedback, ask: user feedback predominantly positive}\n"
)


def invoke(*args: str, input: str | None = None) -> Result:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def edit_plan(root: Path, name: str, automation: str = "", checklist: bool = False) -> None:
    """Add ``automation`` lines (indented two spaces) to the plan's automation:, and a
    checklist to checkout-v2's 10% stage."""
    path = root / "plans" / f"{name}.yaml"
    text = path.read_text()
    if automation:
        if "\nautomation:" in text:
            text = text.replace("\nautomation:", "\nautomation:\n" + automation, 1)
        else:
            text += "automation:\n" + automation
    if checklist:
        text = text.replace("  - {percent: 10, min_duration: 1h, min_samples: 4000}\n", CHECKLIST)
    path.write_text(text)


def freeze_now(reason: str = "release week") -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = (now - timedelta(days=1)).isoformat(), (now + timedelta(days=1)).isoformat()
    return f"  freeze: [{{from: '{start}', to: '{end}', reason: {reason}}}]\n"


def flat(text: str) -> str:
    """Output with its line wrapping undone."""
    return " ".join(text.split())


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDS.read_text().splitlines()]


def percent(root: Path) -> int:
    share: int = read_flag(root, PLAN)["targeting"]["fractional"][1][1]
    return share


# ------------------------------------------------------------------------ watch --auto


def test_watch_auto_outside_the_window_changes_nothing_and_says_why(workspace: Path) -> None:
    edit_plan(workspace, PLAN, "  windows: [{days: sat-sun, hours: '09:00-17:00'}]\n")
    before = percent(workspace)
    result = invoke("watch", PLAN, "--auto", "--once", "--at", AT)
    assert result.exit_code == 0, result.output
    assert percent(workspace) == before
    assert (
        "… outside the automation window (sat-sun 09:00-17:00 UTC); next opening Sat 09:00 "
        "(in 4d 21h)" in flat(result.output)
    )
    line = invoke("watch", PLAN, "--auto", "--once", "--at", AT, "--output", "ndjson").stdout
    decision = json.loads(line)["decision"]
    assert decision["action"] == "none" and decision["held"] is True
    assert decision["reason"].startswith("outside the automation window (sat-sun")
    assert not RECORDS.exists()


def test_watch_auto_inside_the_window_advances(workspace: Path) -> None:
    edit_plan(workspace, PLAN, "  windows: [{days: mon-fri, hours: '09:00-17:00', "
              "timezone: Europe/Berlin}]\n")  # fmt: skip
    result = invoke("watch", PLAN, "--auto", "--once", "--at", AT)
    assert result.exit_code == 0, result.output
    assert "advanced 5% → 10%" in result.output


def test_watch_auto_never_answers_a_checklist(workspace: Path) -> None:
    edit_plan(workspace, PLAN, checklist=True)
    result = invoke("watch", PLAN, "--auto", "--once", "--at", AT)
    assert result.exit_code == 0, result.output
    assert f"… stage 10% has a checklist: rollout advance {PLAN} answers it" in flat(result.output)
    assert percent(workspace) == 5000


def test_a_rollback_acts_in_a_freeze(workspace: Path) -> None:
    name = "recommender-model"
    edit_plan(workspace, name, freeze_now())
    result = invoke("watch", name, "--auto", "--once")  # its data says rollback now
    assert "rolled back" in result.output, result.output
    assert read_flag(workspace, name)["targeting"]["fractional"][1][1] == 0


# ----------------------------------------------------------------------- check, status


def test_check_and_status_show_the_window(workspace: Path) -> None:
    edit_plan(workspace, PLAN, "  freeze: [{from: '2026-11-01T00:00:00Z', "
              "to: '2026-11-03T00:00:00Z', reason: release}]\n")  # fmt: skip
    reason = "freeze until 2026-11-03T00:00:00Z: release; next opening Tue 00:00 UTC (in 12h)"
    text = invoke("check", PLAN, "--at", AT).output
    assert f"automation: {reason}" in flat(text)
    checked = json.loads(invoke("check", PLAN, "--at", AT, "--json").stdout)
    assert checked["automation"] == {
        "window": {
            "open": False,
            "state": "freeze",
            "reason": reason,
            "next_opening": "2026-11-03T00:00:00Z",
        }
    }
    status = json.loads(invoke("status", PLAN, "--at", AT, "--json").stdout)
    assert status["automation"]["window"]["state"] == "freeze"
    assert reason in flat(invoke("status", PLAN, "--at", AT).output)


def test_check_of_a_plan_without_windows_is_open_and_quiet(workspace: Path) -> None:
    checked = json.loads(invoke("check", PLAN, "--at", AT, "--json").stdout)
    assert checked["automation"]["window"] == {
        "open": True,
        "state": "open",
        "reason": "no automation windows: any time",
        "next_opening": None,
    }
    assert "automation:" not in invoke("check", PLAN, "--at", AT).output


# --------------------------------------------------------------------- advance: window


def test_advance_yes_in_a_freeze_needs_outside_window(live_workspace: Path) -> None:
    edit_plan(live_workspace, PLAN, freeze_now())
    result = invoke("advance", PLAN, "--yes")
    assert result.exit_code == EXIT_BREACH
    assert percent(live_workspace) == 5000
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: freeze until ")
    assert last.endswith(": release week; next opening " + last.split("next opening ")[1])
    assert "--yes needs --outside-window to advance anyway" in last
    assert "warning: freeze until" in flat(result.stdout)

    result = invoke("advance", PLAN, "--yes", "--outside-window")
    assert result.exit_code == 0, result.output
    assert percent(live_workspace) == 10000
    (written,) = records()
    window = written["decision"]["window"]
    assert (window["open"], window["state"], window["override"]) == (False, "freeze", True)
    assert window["reason"].startswith("freeze until ")


def test_advance_in_a_freeze_asks_naming_it(
    live_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    edit_plan(live_workspace, PLAN, freeze_now())
    result = invoke("advance", PLAN, input="n\n")
    assert result.exit_code == EXIT_BREACH and "declined" in result.output
    assert "Apply this change in a freeze? [y/N]" in result.output
    assert percent(live_workspace) == 5000
    result = invoke("advance", PLAN, input="y\n")
    assert result.exit_code == 0, result.output
    assert records()[-1]["decision"]["window"]["override"] is True


def test_advance_json_carries_the_gates(live_workspace: Path) -> None:
    edit_plan(live_workspace, PLAN, freeze_now(), checklist=True)
    result = invoke(
        "advance", PLAN, "--json", "--yes", "--outside-window",
        "--checked", "feedback", "--checked", "no-unresolved-incidents",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    gates = json.loads(result.stdout)["gates"]
    assert gates["stage"] == "10%"
    assert gates["window"]["state"] == "freeze" and gates["window"]["override"] is True
    assert [(i["id"], i["ask"], i["answer"]) for i in gates["checklist"]] == [
        ("no-unresolved-incidents", "no unresolved incidents", True),
        ("feedback", "user feedback predominantly positive", True),
    ]
    assert all(i["by"] and i["at"] for i in gates["checklist"])
    (written,) = records()
    assert written["decision"]["checklist"] == gates["checklist"]


# ------------------------------------------------------------------ advance: checklist


def test_advance_asks_each_checklist_question(
    live_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    edit_plan(live_workspace, PLAN, checklist=True)
    result = invoke("advance", PLAN, input="y\nn\n")
    assert result.exit_code == EXIT_BREACH
    assert "checklist (no-unresolved-incidents): no unresolved incidents [y/N]: y" in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: checklist: 'user feedback predominantly positive' answered no: nothing was changed"
    )
    assert percent(live_workspace) == 5000 and not RECORDS.exists()

    result = invoke("advance", PLAN, input="y\ny\ny\n")
    assert result.exit_code == 0, result.output
    assert percent(live_workspace) == 10000
    answers = records()[-1]["decision"]["checklist"]
    assert [(a["id"], a["answer"]) for a in answers] == [
        ("no-unresolved-incidents", True),
        ("feedback", True),
    ]
    assert "window" not in records()[-1]["decision"]  # the window was open


def test_checked_items_are_not_asked_again(
    live_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    edit_plan(live_workspace, PLAN, checklist=True)
    result = invoke("advance", PLAN, "--checked", "feedback", input="y\ny\n")
    assert result.exit_code == 0, result.output
    assert "checklist (feedback)" not in result.output


def test_advance_yes_needs_every_checklist_item(live_workspace: Path) -> None:
    edit_plan(live_workspace, PLAN, checklist=True)
    result = invoke("advance", PLAN, "--yes", "--checked", "feedback")
    assert result.exit_code == EXIT_BREACH
    assert result.stderr.strip().splitlines()[-1] == (
        "error: stage 10% has a checklist: --yes needs --checked no-unresolved-incidents "
        "(nothing was changed)"
    )
    result = invoke("advance", PLAN, "--yes", "--checked", "feedbak")
    assert result.exit_code == EXIT_INVALID
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --checked feedbak: not an item of stage 10%'s checklist "
        "(its ids: no-unresolved-incidents, feedback)"
    )
    assert percent(live_workspace) == 5000 and not RECORDS.exists()
    result = invoke(
        "advance", PLAN, "--yes", "--checked", "feedback", "--checked", "no-unresolved-incidents"
    )
    assert result.exit_code == 0, result.output
    assert percent(live_workspace) == 10000


def test_checked_on_a_stage_without_a_checklist_is_invalid(live_workspace: Path) -> None:
    result = invoke("advance", PLAN, "--yes", "--checked", "feedback")
    assert result.exit_code == EXIT_INVALID
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --checked feedback: stage 10% has no checklist"
    )


def test_dry_run_shows_what_would_be_asked(live_workspace: Path) -> None:
    edit_plan(live_workspace, PLAN, freeze_now(), checklist=True)
    result = invoke("advance", PLAN, "--dry-run", "--checked", "feedback")
    assert result.exit_code == 0, result.output
    shown = flat(result.output)
    assert (
        "checklist would ask: no unresolved incidents [--checked no-unresolved-incidents]" in shown
    )
    assert (
        "checklist would ask: user feedback predominantly positive [--checked feedback] "
        "(--checked)" in shown
    )
    assert "--yes would need --outside-window" in shown
    found = json.loads(invoke("advance", PLAN, "--dry-run", "--json").stdout)
    assert found["result"] == "dry_run"
    assert [i["answer"] for i in found["gates"]["checklist"]] == [None, None]
    assert percent(live_workspace) == 5000


def test_check_markdown_names_a_closed_window(workspace: Path) -> None:
    edit_plan(workspace, PLAN, "  windows: [{days: sat-sun}]\n")
    output = flat(invoke("check", PLAN, "--at", AT, "--output", "markdown").stdout)
    assert (
        "**automation**: outside the automation window (sat-sun 00:00-24:00 UTC); next opening "
        "Sat 00:00 (in 4d 12h)" in output
    )
