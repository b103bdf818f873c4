"""`rollout report --all` (issue 23): the three scripted rollouts (healthy; paused then
resumed; rolled back) in one plans directory, summed per guardrail across plans, as
markdown, as a terminal table and as one self-contained HTML page; a plan that cannot be
reported is named on stderr and the others still are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from tests import report_world

runner = CliRunner()
AT = "2026-11-02T12:10Z"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("all")
    report_world.script_all(root)
    return root / "plans"


def test_markdown_sums_the_three_rollouts(plans: Path) -> None:
    code, text, stderr = invoke(
        "report", "--all", "--plans-dir", str(plans), "--at", AT, "--output", "markdown"
    )
    assert (code, stderr) == (0, "")
    assert text.startswith("## Rollouts report: 3 plans\n")
    # 24 evenly spaced looks each, and one before each of the 10 decisions; the rolled-back
    # one holds as rolled back from its rollback on
    assert "- 3 plan(s), 82 looks from each rollout's start to 2026-11-02T12:10:00Z\n" in text
    assert "- pauses: 1 · rollbacks: 1 (restarted 0, advanced again 0)\n" in text
    assert "- stages entered: 10 (left before their window 1, kept longer than it 0)\n" in text
    assert "- never fired: none\n" in text
    # error_rate in 3 plans: warn reached in 4 looks, pause in 2, rollback in 1 (the look
    # just before the rollback); the pause and the rollback records name it
    assert "| error_rate | 3 | 82 | 4 | 2 | 1 | resumed, rolled-back | 1 | 1 | 0 |\n" in text
    assert (
        "| rolled-back | hold | 5% 30m of 30m · 25% 20m of 30m, left early | 0 | "
        "2026-11-02T10:50:00Z, not restarted |"
    ) in text
    assert (
        "| healthy | done | 5% 30m of 30m · 25% 30m of 30m · 50% 30m of 30m · "
        "100% 40m of 30m, ongoing | 0 | none |"
    ) in text
    assert "| resumed | done |" in text


def test_terminal_table_shows_the_same_counts(plans: Path) -> None:
    code, text, _ = invoke(
        "report", "--all", "--plans-dir", str(plans), "--at", AT, "--output", "text"
    )
    assert code == 0
    assert "pauses: 1 · rollbacks: 1 (restarted 0, advanced again 0)" in text
    # 80 columns: the ten-column table does not fit, so a block per guardrail and plan
    assert (
        "error_rate  fired in resumed, rolled-back\n"
        "  3 plan(s), 82 looks · warn 4 · pause 2 · rollback 1\n"
        "  paused 1 · rolled back 1, of which went on 0\n"
    ) in text
    assert "rolled-back  hold\n  stages: 5% 30m of 30m · 25% 20m of 30m, left early\n" in text


def test_html_is_one_self_contained_page(plans: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    code, stdout, stderr = invoke(
        "report", "--all", "--plans-dir", str(plans), "--at", AT, "--html", str(out)
    )
    assert (code, stdout, stderr) == (0, "", "")
    page = out.read_text(encoding="utf-8")
    for fetching in ("<script", "<link", "<img", "@import", "<iframe", "http://", "https://"):
        assert fetching not in page
    assert re.findall(r'<tr(?: class="never")? data-guardrail="([^"]+)"', page) == ["error_rate"]
    assert page.count('<span class="tier ') == 3
    assert 'title="pause: 2 of 82 looks"' in page
    assert re.findall(r"<tr><td>([a-z-]+)</td><td>(go|hold|done)</td>", page) == [
        ("healthy", "done"),
        ("resumed", "done"),
        ("rolled-back", "hold"),
    ]


def test_a_plan_that_does_not_load_is_named_and_the_others_reported(
    plans: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "plans"
    broken.mkdir()
    for plan in plans.glob("*.yaml"):
        (broken / plan.name).write_text(plan.read_text().replace("../", f"{plans.parent}/"))
    (broken / "zz-broken.yaml").write_text("flag: [\n")
    code, text, stderr = invoke(
        "report", "--all", "--plans-dir", str(broken), "--at", AT, "--output", "markdown"
    )
    assert code == 2  # the broken plan's code; the others are in the summary
    assert text.startswith("## Rollouts report: 3 plans\n")
    assert "### Not reported\n\n- zz-broken: " in text
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("error: zz-broken: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["checkout-v2", "--output", "text"], "error: --output text is the table of rollout"),
        (["--all", "--output", "text", "--html", "r.html"], "error: --html writes the HTML"),
        (["--all", "--since", "2026-11-02T13:00Z"], "error: --since is not before the report's"),
        ([], "error: missing PLAN... or --all"),
    ],
)
def test_usage_errors_are_one_line_exit_2(workspace: Path, args: list[str], message: str) -> None:
    code, stdout, stderr = invoke("report", "--at", "2026-11-02T12:00Z", *args)
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(message), stderr
