"""`rollout watch --once --report FILE` (issue 23): after the round, the HTML report in FILE,
written atomically (nothing else left in its folder): one plan's report, the summary of
several, or one page per plan with {plan} in FILE; a FILE that cannot be written is one
line on stderr and exit 2, after the round was shown."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.support.timeutil import format_timestamp
from tests import report_world

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_one_plan_watched_writes_its_report(tmp_path: Path) -> None:
    scripted = report_world.script(tmp_path, "healthy")
    out = tmp_path / "site" / "healthy.html"
    out.parent.mkdir()
    at = format_timestamp(scripted.end)
    code, stdout, stderr = invoke(
        "watch", str(scripted.plan), "--once", "--at", at, "--report", str(out)
    )
    assert (code, stderr) == (0, "")
    assert "healthy" in stdout  # the round is shown as usual
    assert [p.name for p in out.parent.iterdir()] == ["healthy.html"]  # no temporary file
    assert oct(out.stat().st_mode & 0o777) == "0o644"  # readable by the server
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'id="verdict">done</span>' in page
    assert re.findall(r'<svg class="chart" data-guardrail="([^"]+)"', page) == ["error_rate"]
    marks = re.findall(r'class="decision ([a-z]+)"><title>', page)
    assert marks == [e["event"] for e in scripted.applied()]
    assert f"to {at}" in page


def test_several_plans_write_the_summary_or_a_page_each(tmp_path: Path) -> None:
    report_world.script_all(tmp_path)
    plans = str(tmp_path / "plans")
    at = format_timestamp(report_world.ALL_AT)
    summary = tmp_path / "all.html"
    code, _, stderr = invoke(
        "watch", "--all", "--plans-dir", plans, "--once", "--at", at, "--report", str(summary)
    )
    assert (code, stderr) == (0, "")
    page = summary.read_text(encoding="utf-8")
    assert "<h1>Rollouts report: 3 plans</h1>" in page
    assert re.findall(r"<tr><td>([a-z-]+)</td><td>(?:go|hold|done)</td>", page) == list(
        report_world.SCENARIOS
    )
    each = tmp_path / "each"
    each.mkdir()
    code, _, stderr = invoke(
        "watch", "--all", "--plans-dir", plans, "--once", "--at", at,
        "--report", str(each / "{plan}.html"),
    )  # fmt: skip
    assert (code, stderr) == (0, "")
    assert sorted(p.name for p in each.iterdir()) == [
        f"{s}.html" for s in sorted(report_world.SCENARIOS)
    ]
    rolled_back = (each / "rolled-back.html").read_text(encoding="utf-8")
    assert "<h1>Rollout report: rolled-back</h1>" in rolled_back
    assert 'class="decision rollback"' in rolled_back


def test_an_unwritable_report_is_one_line_after_the_round(tmp_path: Path) -> None:
    scripted = report_world.script(tmp_path, "rolled-back")
    at = format_timestamp(scripted.end)
    code, stdout, stderr = invoke(
        "watch",
        str(scripted.plan),
        "--once",
        "--at",
        at,
        "--report",
        str(tmp_path / "no" / "r.html"),
    )
    assert code == 2
    assert "rolled-back" in stdout
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("error: report of rolled-back: --report ")
    assert "cannot write it (No such file or directory): give a writable file" in stderr
