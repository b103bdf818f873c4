"""`rollout report` (issue 23): the HTML page (self-contained: nothing fetched) and the
markdown of the example workspace's checkout-v2 at the moment its data ends, the scripted
rollouts' decision marks against their records, and the one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from tests import report_world

runner = CliRunner()
AT = "2026-11-02T12:00Z"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def classes(page: str, name: str) -> list[str]:
    """The class attribute of each SVG group whose classes include ``name``, in order."""
    return re.findall(rf'<g id="[^"]+" class="((?:[^"]* )?{name}(?: [^"]*)?)">', page)


def test_html_report_draws_each_guardrail_with_its_series_band_and_thresholds(
    workspace: Path,
) -> None:
    code, _, stderr = invoke("report", "checkout-v2", "--at", AT, "--html", "report.html")
    assert (code, stderr) == (0, "")
    page = (workspace / "report.html").read_text(encoding="utf-8")
    charts = re.findall(r'<svg class="chart" data-guardrail="([^"]+)"', page)
    assert charts == ["error_rate", "p99_latency", "conversion"]
    assert len(classes(page, "treatment")) == 3
    assert len(classes(page, "control")) == 3
    assert len(classes(page, "change")) == 3
    assert len(classes(page, "interval")) == 3  # every guardrail has an always-valid interval
    # error_rate and conversion: warn, pause, rollback relative lines; p99: its 800ms ceiling
    tiers = ["threshold warn", "threshold pause", "threshold rollback"]
    assert classes(page, "threshold") == [*tiers, "threshold rollback", *tiers]
    assert 'id="verdict">go</span>' in page
    assert "<td>error_rate</td><td>1.009%</td><td>1.088%</td><td>+7.7%</td>" in page
    assert "Exposure split (SRM): ok: treatment 5.01% of exposures, expected 5.00%" in page


def test_html_report_fetches_nothing(workspace: Path) -> None:
    code, page, _ = invoke("report", "checkout-v2", "--at", AT)
    assert code == 0
    assert page.startswith("<!DOCTYPE html>")
    for fetching in ("<script", "<link", "<img", "@import", "<iframe", "<object"):
        assert fetching not in page
    # every reference stays in the page (#id); the only URLs are the SVG namespaces' names
    ids = {f"#{ref}" for ref in re.findall(r' id="([^"]+)"', page)}
    references = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert references  # the series' markers are drawn by reference (xlink:href="#...")
    assert set(references) <= ids
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= ids
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }


def test_markdown_report_has_a_mermaid_chart_per_guardrail_and_the_tables(
    workspace: Path,
) -> None:
    code, text, stderr = invoke("report", "checkout-v2", "--at", AT, "--output", "markdown")
    assert (code, stderr) == (0, "")
    assert text.startswith("## Rollout report: checkout-v2\n")
    assert text.count("```mermaid\nxychart-beta\n") == 3
    assert '    title "p99_latency"\n' in text
    assert (
        "| error_rate | 1.009% | 1.088% | +7.7% | [-19.0%, +53.6%] | "
        "warn +20% · pause +50% · rollback 2x | ok |"
    ) in text
    assert "| conversion | 0 | 0 | 0 |" in text  # no tier fired in the span
    assert "- all guardrails within thresholds" in text


@pytest.mark.parametrize("scenario", report_world.SCENARIOS)
def test_decision_marks_match_the_records(tmp_path: Path, scenario: str) -> None:
    """Every applied change of a scripted rollout is one decision mark, in order, with the
    event as its class and who and why in its tooltip; each split move a stage boundary."""
    scripted = report_world.script(tmp_path, scenario)
    out = tmp_path / "report.html"
    code, _, stderr = invoke(
        "report", str(scripted.plan), "--at", scripted.end.isoformat(), "--html", str(out)
    )
    assert (code, stderr) == (0, "")
    page = out.read_text(encoding="utf-8")
    applied = scripted.applied()
    assert classes(page, "decision") == [f"decision {e['event']}" for e in applied]
    splits = [e for e in applied if e["event"] == "advance"]
    assert len(classes(page, "stage-boundary")) == len(splits)
    titles = re.findall(r'class="decision [a-z]+"><title>([^<]*)</title>', page)
    for entry, title in zip(applied, titles, strict=True):
        assert title.startswith(f"{entry['event']} by {entry['who']} at {entry['time']}")


def test_rolled_back_rollout_retrospective(tmp_path: Path) -> None:
    scripted = report_world.script(tmp_path, "rolled-back")
    code, text, _ = invoke(
        "report", str(scripted.plan), "--at", scripted.end.isoformat(), "--output", "markdown"
    )
    assert code == 0
    assert "| 5% | 2026-11-02T10:00:00Z | 30m | 30m |" in text
    assert "| 25% | 2026-11-02T10:30:00Z | 20m | 30m |" in text  # left early: rolled back
    assert "- rollback 2026-11-02T10:50:00Z by " in text
    assert text.rstrip().endswith("· not restarted")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "error: --since 'yesterday' is not an ISO 8601 time"),
        (["--since", "2026-11-02T13:00Z"], "error: --since is not before the report's moment"),
        (["--output", "markdown", "--html", "r.html"], "error: --html writes the HTML page"),
    ],
)
def test_invalid_input_is_one_line_exit_2(workspace: Path, args: list[str], message: str) -> None:
    code, stdout, stderr = invoke("report", "checkout-v2", "--at", AT, *args)
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(message), stderr


def test_unwritable_html_file_is_one_line(workspace: Path) -> None:
    code, _, stderr = invoke("report", "checkout-v2", "--at", AT, "--html", "no/such/dir/r.html")
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "cannot write it" in stderr and "give a writable file" in stderr


def test_without_matplotlib_html_says_how_to_install_it(workspace: Path) -> None:
    """A run in which matplotlib cannot be imported (as on an install without the extra)."""
    import subprocess
    import sys

    program = (
        "import sys; sys.modules['matplotlib'] = None; sys.argv = ['rollout', *sys.argv[1:]]; "
        "from rolloutcli.cli.main import main; main()"
    )
    args = ["report", "checkout-v2", "--at", AT]
    html = subprocess.run(
        [sys.executable, "-c", program, *args], capture_output=True, text=True, check=False
    )
    assert html.returncode == 2
    assert html.stdout == ""
    assert html.stderr.splitlines() == [
        "error: rollout report --output html draws its charts with matplotlib, which is not "
        "installed: pip install 'rolloutcli[report]' (or use --output markdown)"
    ]
    markdown = subprocess.run(
        [sys.executable, "-c", program, *args, "--output", "markdown"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.count("xychart-beta") == 3


def test_resumed_rollout_has_fixed_times(tmp_path: Path) -> None:
    """The scripted resume is stamped at +55 minutes, not by the clock: the report (and
    docs/'s screenshot of it) is the same on every run."""
    scripted = report_world.script(tmp_path, "resumed")
    applied = [(e["event"], e["time"]) for e in scripted.applied()]
    assert applied[:4] == [
        ("advance", "2026-11-02T10:00:00Z"),
        ("advance", "2026-11-02T10:30:00Z"),
        ("pause", "2026-11-02T10:50:00Z"),
        ("resume", "2026-11-02T10:55:00Z"),
    ]


def test_exposure_chart_marks_each_look_with_its_srm_verdict(workspace: Path) -> None:
    code, _, stderr = invoke("report", "checkout-v2", "--at", AT, "--html", "report.html")
    assert (code, stderr) == (0, "")
    page = (workspace / "report.html").read_text(encoding="utf-8")
    (svg,) = re.findall(r'<svg class="exposure" .*?</svg>', page, re.DOTALL)
    groups = re.findall(r'class="([^"]+)"><title>([^<]*)</title>', svg)
    assert [c for c, _ in groups[:2]] == ["series observed", "series expected"]
    looks = [(c, t) for c, t in groups if c.startswith("srm ")]
    assert looks  # every look the split was checked at
    assert {c for c, _ in looks} == {"srm ok"}
    assert looks[-1][1] == (
        "2026-11-02T12:00:00Z: ok: treatment 5.01% of exposures, expected 5.00%, p=1"
    )
    assert f"Sample-ratio check (SRM) over time: ok in {len(looks)}" in page
    assert "decision" not in svg  # decisions are tagged once, on the guardrails' charts


def test_segment_breaches_are_marked_on_the_guardrail_chart(workspace: Path) -> None:
    from tests.cli.test_segments_check import REGIONS5, segmented

    segmented(workspace, REGIONS5, worse={"eu-west": 5.0})
    code, _, stderr = invoke("report", "checkout-v2", "--at", AT, "--html", "report.html")
    assert (code, stderr) == (0, "")
    page = (workspace / "report.html").read_text(encoding="utf-8")
    marks = re.findall(r'class="segment-breach ([a-z]+)"><title>([^<]*)</title>', page)
    assert marks  # at least the report's own moment, which rolls back on eu-west
    assert marks[-1] == (
        "rollback",
        "error_rate reached rollback in segment region=eu-west at 2026-11-02T12:00:00Z",
    )
    assert {title.split(" in segment ")[1].split(" at ")[0] for _, title in marks} == {
        "region=eu-west"
    }
