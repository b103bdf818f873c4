"""`rollout check` in CI, through the real CLI in-process: GitHub Actions annotations and
the step summary, `--output markdown`, and the exit codes of `--fail-on` and
`--fail-on-breach`, on workspaces (flagd file + metrics file + plan) written here whose
verdicts are go, go with a warn-tier finding, pause and rollback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from rolloutcli.cli.main import app
from tests.integration.cli_helpers import start_stage, write_flag_file

runner = CliRunner()
BEGAN = datetime(2026, 11, 2, 10, tzinfo=UTC)  # the stage began; the data is 30 minutes in
AT = "2026-11-02T12:00Z"  # two hours in: the 1h window has elapsed
WINDOW = "window 2026-11-02T10:00:00Z → 2026-11-02T12:00:00Z"

PLAN = """\
flag: checkout
platform: {kind: flagfile, path: ../flags/flags.json, environment: production}
variations: {treatment: true, control: false}
stages:
  - {name: half, percent: 50, min_duration: 1h, min_samples: 1000}
  - {percent: 100, min_duration: 1h}
metrics:
  source: {kind: file, path: ../metrics/checkout.csv}
  exposures: requests
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds:
      warn: "+10%"
      pause: "+25%"
      rollback: "+50%"
statistics: {method: fixed}
"""
ERROR_RATE_LINE, LATENCY_WARN_LINE = 15, 21

# treatment errors per 10,000 requests (control: 100) and treatment mean latency (control: 200)
CASES = {
    "go": (100, 200.0),
    "warn": (100, 225.0),  # latency +12.5%: past warn +10%, below pause +25%
    "pause": (170, 225.0),  # error rate +70%: past pause +50%, below rollback 2x
    "rollback": (400, 200.0),  # error rate 4x, significantly
}
VERDICT = {"go": "go", "warn": "go", "pause": "pause", "rollback": "rollback"}


def write_workspace(root: Path, case: str) -> Path:
    """A flag at 50% since BEGAN, a plan with two guardrails, and metrics 30 minutes in."""
    for folder in ("plans", "metrics"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    flags = write_flag_file(root / "flags" / "flags.json", "checkout")
    start_stage(flags, "checkout", 50, BEGAN, "checkout")
    (root / "plans" / "checkout.yaml").write_text(PLAN, encoding="utf-8")
    errors, latency = CASES[case]
    at = (BEGAN + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = ["time,cohort,metric,value,count,sum,sum_sq"]
    for cohort, events, mean in (("treatment", errors, latency), ("control", 100, 200.0)):
        rows += [
            f"{at},{cohort},requests,10000,,,",
            f"{at},{cohort},errors,{events},,,",
            # 1,000 latencies with this mean and a standard deviation of 20 ms
            f"{at},{cohort},latency_ms,,1000,{mean * 1000:.1f},{1000 * (mean**2 + 400):.1f}",
        ]
    (root / "metrics" / "checkout.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """No GitHub Actions unless a test says so; the current directory is a fresh root."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE", "ROLLOUT_PLANS_DIR"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    return {"root": root, "summary": tmp_path / "step_summary.md"}


def on_github(monkeypatch: pytest.MonkeyPatch, ci: dict[str, Path]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(ci["summary"]))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ci["root"]))


def run(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::")]


def check_json(*extra: str) -> dict[str, Any]:
    result = run("check", "checkout", "--at", AT, "--output", "json", *extra)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def p_text(data: dict[str, Any], name: str, test: str) -> str:
    """The evidence as the annotations and the summary show it (``p=0.0012``, two
    significant digits), from the JSON of the same check (``test``: which test gave it)."""
    found = next(m for m in data["metrics"] if m["name"] == name)
    assert found["test"] == test
    return f"p={found['p_value']:.2g}"


# ---------------------------------------------------------------------- GitHub Actions


def test_pause_on_github_annotations_and_appended_summary(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "pause")
    data = check_json()
    assert data["verdict"] == "pause"
    markdown = run("check", "checkout", "--at", AT, "--output", "markdown").stdout
    ci["summary"].write_text("# an earlier step\n", encoding="utf-8")
    on_github(monkeypatch, ci)

    result = run("check", "checkout", "--at", AT)

    assert result.exit_code == 0
    assert "verdict PAUSE" in result.stdout  # the usual text output is still there
    assert commands(result.stdout) == [
        f"::warning file=plans/checkout.yaml,line={ERROR_RATE_LINE},"
        "title=checkout%3A PAUSE at 50%25::error_rate breached pause +50%25: treatment 0.017 "
        f"vs control 0.01 (+70.0%25), p = {data['metrics'][0]['p_value']:.3g}"
        "%0Awarning: latency +12.5%25 vs control is past warn +10%25",
        f"::warning file=plans/checkout.yaml,line={LATENCY_WARN_LINE},"
        "title=checkout%3A latency past warn +10%25::latency +12.5%25 vs control (treatment "
        "225 ms, control 200 ms), past warn +10%25 (limit 220 ms); "
        f"evidence {p_text(data, 'latency', 'welch-t')}",
    ]
    assert result.stderr == ""
    assert ci["summary"].read_text(encoding="utf-8") == "# an earlier step\n\n" + markdown
    run("check", "checkout", "--at", AT)  # a second check in the same step appends again
    assert ci["summary"].read_text(encoding="utf-8") == (
        "# an earlier step\n\n" + markdown + "\n" + markdown
    )


def test_summary_is_the_markdown_report(ci: dict[str, Path]) -> None:
    write_workspace(ci["root"], "pause")
    data = check_json()
    result = run("check", "checkout", "--at", AT, "--output", "markdown")
    assert result.exit_code == 0
    assert result.stdout == (
        "## rollout check\n\n"
        "### 🟠 checkout: **PAUSE**\n\n"
        f"flag checkout · flagfile production · stage half (50%, 1 of 2) · next stage 100% · "
        f"{WINDOW}\n\n"
        "**lifecycle**: in stage half since 2026-11-02T10:00:00Z\n\n"
        "- error\\_rate breached pause +50%: treatment 0.017 vs control 0.01 (+70.0%), "
        f"p = {data['metrics'][0]['p_value']:.3g}\n"
        "- warning: latency +12.5% vs control is past warn +10%\n\n"
        "| guardrail | status | control | treatment | change | evidence | threshold / limit "
        "| n (control / treatment) |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |\n"
        "| error\\_rate | 🟠 pause | 1.000% | 1.700% | +70.0% | "
        f"{p_text(data, 'error_rate', 'z')} | pause +50% (limit 1.500%) | 10,000 / 10,000 |\n"
        "| latency | 🟡 warn | 200 ms | 225 ms | +12.5% | "
        f"{p_text(data, 'latency', 'welch-t')} | warn +10% (limit 220 ms) | 1,000 / 1,000 |\n\n"
        "evidence: p=p-value (fixed-horizon test)\n\n"
        "sample ratio: treatment 50.000% of 20,000 exposures, planned 50.000% (p = 1): ok\n"
    )


def test_go_and_rollback_on_github(ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    write_workspace(ci["root"] / "a", "go")
    write_workspace(ci["root"] / "b", "rollback")
    rollback = json.loads(run("check", "b/plans/checkout.yaml", "--at", AT, "--json").stdout)
    assert rollback["verdict"] == "rollback"
    on_github(monkeypatch, ci)

    result = run(
        "check", "a/plans/checkout.yaml", "b/plans/checkout.yaml", "--at", AT, "--fail-on-breach"
    )

    assert result.exit_code == 1
    assert commands(result.stdout) == [
        "::notice title=checkout%3A GO 50%25 → 100%25::all guardrails within thresholds; "
        "window and samples met: advance 50%25 → 100%25",
        f"::error file=b/plans/checkout.yaml,line={ERROR_RATE_LINE},"
        "title=checkout%3A ROLLBACK at 50%25::error_rate breached rollback 2x: treatment 0.04 "
        f"vs control 0.01 (+300.0%25), p = {rollback['metrics'][0]['p_value']:.3g}",
    ]
    summary = ci["summary"].read_text(encoding="utf-8")
    assert summary.startswith("## rollout check\n\n### 🟢 checkout: **GO**\n\n")
    assert "\n### 🔴 checkout: **ROLLBACK**\n" in summary
    assert "| error\\_rate | 🔴 rollback | 1.000% | 4.000% | +300.0% |" in summary


def test_json_on_github_keeps_annotations_off_stdout(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "warn")
    on_github(monkeypatch, ci)
    result = run("check", "checkout", "--at", AT, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # nothing but the JSON document
    assert data["verdict"] == "go"
    assert [line.split("::")[1] for line in commands(result.stderr)] == [
        "notice title=checkout%3A GO 50%25 → 100%25",
        f"warning file=plans/checkout.yaml,line={LATENCY_WARN_LINE},"
        "title=checkout%3A latency past warn +10%25",
    ]
    assert ci["summary"].read_text(encoding="utf-8").startswith("## rollout check\n\n### 🟢")


def test_markdown_on_github_keeps_annotations_off_stdout(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "go")
    on_github(monkeypatch, ci)
    result = run("check", "checkout", "--at", AT, "--output", "markdown")
    assert result.stdout.startswith("## rollout check\n") and not commands(result.stdout)
    assert len(commands(result.stderr)) == 1
    assert ci["summary"].read_text(encoding="utf-8") == result.stdout


def test_errors_are_annotated_and_keep_their_exit_code(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "rollback")
    (ci["root"] / "metrics" / "checkout.csv").unlink()  # the backend fails: exit 3
    on_github(monkeypatch, ci)
    result = run("check", "checkout", "nope", "--at", AT, "--fail-on", "warn")
    assert result.exit_code == 3
    assert [line.split("::")[1] for line in commands(result.stdout)] == [
        "error file=plans/checkout.yaml,title=checkout%3A check failed",
        "error title=nope%3A check failed",
    ]
    assert "### ❌ checkout: **ERROR**" in ci["summary"].read_text(encoding="utf-8")


def test_unwritable_summary_is_a_warning(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "go")
    on_github(monkeypatch, ci)
    missing = ci["root"] / "no" / "such" / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(missing))
    result = run("check", "checkout", "--at", AT, "--fail-on", "pause")
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: cannot append the summary to $GITHUB_STEP_SUMMARY ({missing}): "
        "No such file or directory\n"
    )
    assert len(commands(result.stdout)) == 1


def test_without_a_summary_file_annotations_still_come(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "go")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run("check", "checkout", "--at", AT)
    assert result.exit_code == 0 and result.stderr == ""
    assert len(commands(result.stdout)) == 1


def test_off_github_nothing_extra(ci: dict[str, Path]) -> None:
    write_workspace(ci["root"], "rollback")
    result = run("check", "checkout", "--at", AT)
    assert result.exit_code == 0
    assert not commands(result.output)
    assert not ci["summary"].exists()


# ---------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("case", "flags", "code"),
    [
        ("go", [], 0),
        ("go", ["--fail-on", "warn"], 0),
        ("go", ["--fail-on", "pause"], 0),
        ("go", ["--fail-on", "rollback"], 0),
        ("go", ["--fail-on-breach"], 0),
        ("warn", ["--fail-on", "warn"], 1),
        ("warn", ["--fail-on", "pause"], 0),
        ("warn", ["--fail-on", "rollback"], 0),
        ("warn", ["--fail-on-breach"], 0),
        ("pause", [], 0),
        ("pause", ["--fail-on", "warn"], 1),
        ("pause", ["--fail-on", "pause"], 1),
        ("pause", ["--fail-on", "rollback"], 0),
        ("pause", ["--fail-on-breach"], 0),
        ("pause", ["--fail-on-breach", "--fail-on", "pause"], 1),
        ("rollback", [], 0),
        ("rollback", ["--fail-on", "warn"], 1),
        ("rollback", ["--fail-on", "pause"], 1),
        ("rollback", ["--fail-on", "rollback"], 1),
        ("rollback", ["--fail-on-breach"], 1),
    ],
)
def test_fail_on_exit_codes(ci: dict[str, Path], case: str, flags: list[str], code: int) -> None:
    write_workspace(ci["root"], case)
    data = check_json()
    assert data["verdict"] == VERDICT[case]
    assert [m["status"] for m in data["metrics"]] == {
        "go": ["ok", "ok"],
        "warn": ["ok", "warn"],
        "pause": ["pause", "warn"],
        "rollback": ["rollback", "ok"],
    }[case]
    assert run("check", "checkout", "--at", AT, *flags).exit_code == code
    assert run("check", "checkout", "--at", AT, "--json", *flags).exit_code == code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--output", "markdown"], "--json and --output markdown disagree"),
        (["--json", "--output", "text"], "--json and --output text disagree"),
        (["--explain", "--output", "markdown"], "--explain prints text or json"),
    ],
)
def test_conflicting_options_are_exit_2(ci: dict[str, Path], args: list[str], message: str) -> None:
    write_workspace(ci["root"], "go")
    result = run("check", "checkout", "--at", AT, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")


def test_json_and_output_json_agree(ci: dict[str, Path]) -> None:
    write_workspace(ci["root"], "go")
    both = run("check", "checkout", "--at", AT, "--json", "--output", "json")
    assert both.exit_code == 0
    assert json.loads(both.stdout)["verdict"] == "go"


def test_bad_fail_on_tier_is_a_usage_error(ci: dict[str, Path]) -> None:
    write_workspace(ci["root"], "go")
    assert run("check", "checkout", "--at", AT, "--fail-on", "hold").exit_code == 2


def test_explain_on_github_is_unchanged(
    ci: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workspace(ci["root"], "go")
    plain = run("check", "checkout", "--at", AT, "--explain", "--json")
    on_github(monkeypatch, ci)
    result = run("check", "checkout", "--at", AT, "--explain", "--json")
    assert result.exit_code == 0 and result.stdout == plain.stdout
    assert not commands(result.output)
    assert not ci["summary"].exists()
