"""The tables as a person sees them: `rollout` run in a real pseudo-terminal of 60, 80 and
120 columns (pexpect), and every guardrail's name, thresholds and status found on the
screen, with nothing cut short; the live `watch` keeps its footer on an 80x24 screen."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

ROLLOUT = str(Path(sys.executable).with_name("rollout"))
AT = "2026-11-02T12:00Z"  # the moment the checkout-v2 example data describes
PLAN = "checkout-v2"
WIDTHS = (60, 80, 120)
ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78])")


def screen(args: list[str], cols: int, rows: int = 200, stop_at: str | None = None) -> str:
    """What `rollout ARGS` prints in a pseudo-terminal of ``cols`` x ``rows``, without its
    escape sequences. With ``stop_at``, Ctrl-C once that text is on screen (`watch`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        ROLLOUT, args, dimensions=(rows, cols), env=env, encoding="utf-8", timeout=60
    )
    seen = ""
    if stop_at is not None:
        child.expect_exact(stop_at)
        seen = child.before + child.after
        child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    return ANSI.sub("", seen + child.before).replace("\r", "")


def flat(text: str) -> str:
    """The text with every run of white space one space: a line a narrow screen wrapped
    reads as one again."""
    return " ".join(text.split())


def thresholds(root: Path) -> dict[str, list[str]]:
    """Each guardrail of the plan, with its thresholds as written."""
    from rolloutcli.plan.model import load_plan

    plan = load_plan(root / "plans" / f"{PLAN}.yaml").plan
    return {
        g.name: [text for _, texts in g.thresholds.items() for text in texts]
        for g in plan.guardrails
    }


def statuses(root: Path, *at: str) -> dict[str, str]:
    """Each guardrail's status from `check --json` (the same check, as data)."""
    from typer.testing import CliRunner

    from rolloutcli.cli.main import app

    result = CliRunner().invoke(app, ["check", PLAN, "--json", *at])
    return {m["name"]: m["status"] for m in json.loads(result.output)["metrics"]}


def assert_guardrails_shown(text: str, root: Path, status: dict[str, str] | None) -> None:
    """Every guardrail's name on a line with its status, and each of its thresholds."""
    lines = text.splitlines()
    for name, written in thresholds(root).items():
        assert any(name in line for line in lines), name
        for threshold in written:
            assert threshold in flat(text), (name, threshold)
        if status is not None:
            word = status[name].replace("_", " ")
            assert any(name in line and word in line for line in lines), (name, word)


@pytest.mark.parametrize("cols", WIDTHS)
def test_check_shows_every_guardrail_at_each_width(workspace: Path, cols: int) -> None:
    text = screen(["check", PLAN, "--at", AT], cols)
    assert_guardrails_shown(text, workspace, statuses(workspace, "--at", AT))
    assert "…" not in text  # nothing cut short
    assert all(len(line) <= cols for line in text.splitlines())
    assert "evidence: e=sequential e-value" in flat(text)


@pytest.mark.parametrize("cols", WIDTHS)
def test_status_shows_every_guardrail_at_each_width(workspace: Path, cols: int) -> None:
    text = screen(["status", PLAN], cols)
    assert "stage 5% (2 of 6)" in flat(text)
    assert_guardrails_shown(text, workspace, None)
    assert "…" not in text


@pytest.mark.parametrize("cols", WIDTHS)
def test_watch_once_shows_every_guardrail_at_each_width(workspace: Path, cols: int) -> None:
    text = screen(["watch", PLAN, "--once", "--at", AT], cols)
    assert_guardrails_shown(text, workspace, statuses(workspace, "--at", AT))
    assert "checked 2026-11-02T12:00:00Z · report only" in flat(text)
    assert "…" not in text


@pytest.mark.parametrize("cols", WIDTHS)
def test_live_watch_keeps_its_footer_on_a_24_line_screen(live_workspace: Path, cols: int) -> None:
    text = screen(["watch", PLAN, "--interval", "1h"], cols, rows=24, stop_at="Ctrl-C stops")
    assert_guardrails_shown(text, live_workspace, statuses(live_workspace))
    assert re.search(r"next check \S+ · Ctrl-C stops", flat(text))
    assert "stopped watching: nothing is left half-done" in text


@pytest.mark.parametrize("cols", WIDTHS)
def test_history_shows_complete_changes_at_each_width(live_workspace: Path, cols: int) -> None:
    from typer.testing import CliRunner

    from rolloutcli.cli.main import app

    for args in (["advance", PLAN, "--yes"], ["pause", PLAN, "--yes"], ["kill", PLAN, "--yes"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    text = flat(screen(["history", PLAN], cols))
    for shown in ("advance", "5% → 10% (10%)", "PAUSED", "at 10%", "KILLED", "applied"):
        assert shown in text, shown
    assert not re.search(r"→ (?![0-9]+%|off|PAUSED|KILLED|RESUMED|ROLLED|RESTARTED|stage)", text)
    assert "…" not in text


@pytest.mark.parametrize("cols", WIDTHS)
def test_report_all_shows_every_guardrail_whole_at_each_width(workspace: Path, cols: int) -> None:
    """`report --all`'s terminal view: the tables where they fit, else a block per guardrail
    and per plan; either way each name whole on a line with its tier counts. (At AT only
    the checkout-v2 plans can be replayed; the others are named on stderr.)"""
    text = screen(["report", "--all", "--output", "text", "--at", AT], cols)
    lines = text.splitlines()
    for name in [*thresholds(workspace), "checkout-v2", "checkout-v2-sql"]:
        assert any(re.search(rf"(^|\W){name}(\W|$)", line) for line in lines), name
    assert "…" not in text
    # an error is one line whatever the width (the terminal folds it); the rest fits
    assert all(len(line) <= cols for line in lines if not line.startswith("error: "))
    assert re.search(r"warn \d+ · pause \d+ · rollback \d+|┃ warn ┃", text)
