"""CI reporting of `rollout check`: the markdown summary, GitHub workflow commands and their
escaping, and the small file helpers, on hand-built check results."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.cli.cifiles import append_step_summary, read_plan_file
from rolloutcli.plan.model import load_plan
from rolloutcli.plan.yamlsource import load_yaml
from rolloutcli.render.markdown import (
    GithubContext,
    PlanFile,
    annotation_path,
    annotations,
    escape_data,
    escape_property,
    github_actions,
    markdown_report,
    plan_file,
    workflow_command,
)


def metric(name: str, kind: str, status: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "status": status,
        "control": None,
        "treatment": None,
        "relative_change": None,
        "p_value": None,
        "test": None,
        "threshold": None,
        "limit": None,
        "control_n": None,
        "treatment_n": None,
        "note": None,
        "query": "q",
        "e_value": None,
    }
    base.update(values)
    return base


PAUSED: dict[str, Any] = {
    "plan": "checkout",
    "flag": "checkout",
    "platform": "flagfile",
    "environment": "production",
    "verdict": "pause",
    "reasons": [
        "error_rate breached pause +50%: treatment 0.017 vs control 0.01 (+70.0%)",
        "warning: latency +12.5% vs control is past warn +10%",
    ],
    "percent": 50.0,
    "next_percent": None,
    "stage": {
        "index": 0,
        "name": "half",
        "percent": 50.0,
        "started_at": datetime(2026, 11, 2, 10, tzinfo=UTC),
    },
    "evaluated_at": datetime(2026, 11, 2, 12, tzinfo=UTC),
    "window_start": datetime(2026, 11, 2, 10, tzinfo=UTC),
    "look_again_at": None,
    "metrics": [
        metric(
            "error_rate",
            "ratio",
            "pause",
            control=0.01,
            treatment=0.017,
            relative_change=0.7,
            p_value=0.000123,
            test="z",
            threshold="pause +50%",
            limit=0.015,
            control_n=10000.0,
            treatment_n=10000.0,
        ),
        metric(
            "latency",
            "mean",
            "warn",
            control=200.0,
            treatment=225.0,
            relative_change=0.125,
            e_value=3.5,
            threshold="warn +10%",
            limit=220.0,
            control_n=400.0,
            treatment_n=380.0,
            note="2 intervals | missing\nlate",
        ),
    ],
    "srm": {
        "checked": True,
        "treatment": 10000.0,
        "control": 10000.0,
        "expected_share": 0.5,
        "observed_share": 0.5,
        "p_value": 1.0,
        "mismatch": False,
        "note": None,
    },
    "success": [
        {
            "metric": "error_rate",
            "requirement": "at most +10%",
            "met": False,
            "note": "treatment 0.017, bound 0.011",
        }
    ],
}

STARTING: dict[str, Any] = {
    "plan": "a:b,c",
    "flag": "f*1",
    "platform": "unleash",
    "environment": "prod",
    "verdict": "go",
    "reasons": [
        "rollout not started: the first stage is 1%\r\n(the flag is off: starting turns it on)"
    ],
    "percent": 0.0,
    "next_percent": 1.0,
    "stage": None,
    "evaluated_at": "2026-11-02T12:00:00Z",
    "window_start": None,
    "look_again_at": None,
    "metrics": [],
    "srm": {
        "checked": False,
        "treatment": None,
        "control": None,
        "expected_share": 0.0,
        "observed_share": None,
        "p_value": None,
        "mismatch": False,
        "note": "not checked: one cohort is planned empty",
    },
    "success": [],
}

BROKEN: dict[str, Any] = {"plan": "broken", "error": "plans/broken.yaml:3: flag: required"}

PAUSED_FILE = PlanFile(
    path="plans/check,out.yaml",
    guardrail_lines={"error_rate": 20, "latency": 30},
    tier_lines={("error_rate", "pause"): 25, ("latency", "warn"): 34},
    units={"error_rate": None, "latency": "ms"},
    stages=(("half", 50.0), ("100%", 100.0)),
)


# ---------------------------------------------------------------------- markdown


def test_markdown_report_exact() -> None:
    report = markdown_report([PAUSED, STARTING, BROKEN], [PAUSED_FILE, None, None])
    assert report == (
        "## rollout check\n"
        "\n"
        "### 🟠 checkout: **PAUSE**\n"
        "\n"
        "flag checkout · flagfile production · stage half (50%, 1 of 2) · next stage 100% · "
        "window 2026-11-02T10:00:00Z → 2026-11-02T12:00:00Z\n"
        "\n"
        "- error\\_rate breached pause +50%: treatment 0.017 vs control 0.01 (+70.0%)\n"
        "- warning: latency +12.5% vs control is past warn +10%\n"
        "\n"
        "| guardrail | status | control | treatment | change | evidence | threshold / limit "
        "| n (control / treatment) |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |\n"
        "| error\\_rate | 🟠 pause | 1.000% | 1.700% | +70.0% | p=0.00012 "
        "| pause +50% (limit 1.500%) | 10,000 / 10,000 |\n"
        "| latency | 🟡 warn — 2 intervals \\| missing late | 200 ms | 225 ms | +12.5% "
        "| e=3.5 | warn +10% (limit 220 ms) | 400 / 380 |\n"
        "\n"
        "evidence: p=p-value (fixed-horizon test); e=sequential e-value, a breach needs 1/alpha\n"
        "\n"
        "sample ratio: treatment 50.000% of 20,000 exposures, planned 50.000% (p = 1): ok\n"
        "\n"
        "success: error\\_rate at most +10%: **not met** (treatment 0.017, bound 0.011)\n"
        "\n"
        "### 🟢 a:b,c: **GO**\n"
        "\n"
        "flag f\\*1 · unleash prod · not started (0%) · next stage 1% · "
        "evaluated 2026-11-02T12:00:00Z\n"
        "\n"
        "- rollout not started: the first stage is 1% (the flag is off: starting turns it on)\n"
        "\n"
        "sample ratio: not checked: one cohort is planned empty\n"
        "\n"
        "### ❌ broken: **ERROR**\n"
        "\n"
        "plans/broken.yaml:3: flag: required\n"
    )


def test_markdown_without_plan_files_has_no_units_or_stage_counts() -> None:
    report = markdown_report([PAUSED])
    assert "· stage half (50%) · window" in report  # no "1 of 2", no next stage
    assert "| latency | 🟡 warn — 2 intervals \\| missing late | 200 | 225 | +12.5% " in report


def test_markdown_cells_never_break_the_table() -> None:
    nasty = dict(STARTING, metrics=[metric("a|b", "ratio", "no_data", note="x\ny|z\r\nw")])
    table_rows = [line for line in markdown_report([nasty]).splitlines() if line.startswith("| a")]
    assert table_rows == ["| a\\|b | ⚪ no data — x y\\|z w | — | — | — | not yet | — | — / — |"]


def test_markdown_plan_files_must_match_results() -> None:
    with pytest.raises(ValueError, match="1 plan files for 2 results"):
        markdown_report([PAUSED, STARTING], [PAUSED_FILE])


# ---------------------------------------------------------------------- annotations


def test_annotations_exact() -> None:
    assert annotations([PAUSED, STARTING, BROKEN], [PAUSED_FILE, None, None]) == [
        "::warning file=plans/check%2Cout.yaml,line=25,title=checkout%3A PAUSE at 50%25"
        "::error_rate breached pause +50%25: treatment 0.017 vs control 0.01 (+70.0%25)"
        "%0Awarning: latency +12.5%25 vs control is past warn +10%25",
        "::warning file=plans/check%2Cout.yaml,line=34,title=checkout%3A latency past warn "
        "+10%25::latency +12.5%25 vs control (treatment 225 ms, control 200 ms), past warn "
        "+10%25 (limit 220 ms); evidence e=3.5",
        "::notice title=a%3Ab%2Cc%3A GO 0%25 → 1%25::rollout not started: the first stage is "
        "1%25%0D%0A(the flag is off: starting turns it on)",
        "::error title=broken%3A check failed::plans/broken.yaml:3: flag: required",
    ]


def test_rollback_is_an_error_on_the_breached_tier_line() -> None:
    rolled = dict(
        PAUSED,
        verdict="rollback",
        reasons=["error_rate breached rollback 2x"],
        metrics=[
            metric("latency", "mean", "ok"),
            metric("error_rate", "ratio", "rollback", threshold="rollback 2x", p_value=0.001),
        ],
    )
    plan = PlanFile("p.yaml", {"error_rate": 20}, {("error_rate", "rollback"): 27})
    assert annotations([rolled], [plan]) == [
        "::error file=p.yaml,line=27,title=checkout%3A ROLLBACK at 50%25"
        "::error_rate breached rollback 2x"
    ]
    # without a tier line, the guardrail's own line; without a plan file, no location
    assert annotations([rolled], [PlanFile("p.yaml", {"error_rate": 20})])[0].startswith(
        "::error file=p.yaml,line=20,title="
    )
    assert annotations([rolled])[0].startswith("::error title=checkout%3A ROLLBACK at 50%25::")


def test_hold_and_done_are_notices_without_a_file() -> None:
    held = dict(STARTING, plan="p", verdict="hold", next_percent=None, percent=5.0)
    held["reasons"] = ["observation window: 10m of 1h elapsed; look again in 50m"]
    done = dict(held, verdict="done", percent=100.0, reasons=[])
    assert annotations([held, done], [PlanFile("p.yaml"), PlanFile("p.yaml")]) == [
        "::notice title=p%3A HOLD at 5%25::observation window: 10m of 1h elapsed; look again "
        "in 50m",
        "::notice title=p%3A DONE at 100%25::done",
    ]


def test_escaping_rules() -> None:
    assert escape_data("100% a:b,c\r\nd") == "100%25 a:b,c%0D%0Ad"
    assert escape_property("100% a:b,c\r\nd") == "100%25 a%3Ab%2Cc%0D%0Ad"
    assert escape_data("%0A") == "%250A"  # an encoded-looking text stays literal
    assert workflow_command("notice", "m") == "::notice::m"
    assert workflow_command("error", "m", file="f,1:2", line=3, title=None) == (
        "::error file=f%2C1%3A2,line=3::m"
    )


# ---------------------------------------------------------------------- environment and paths


def test_github_actions_detection() -> None:
    assert github_actions({}) is None
    assert github_actions({"GITHUB_ACTIONS": "false", "GITHUB_STEP_SUMMARY": "/s"}) is None
    assert github_actions({"GITHUB_ACTIONS": "true"}) == GithubContext(None, None)
    assert github_actions(
        {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "", "GITHUB_WORKSPACE": "/w"}
    ) == GithubContext(None, Path("/w"))
    assert github_actions(
        {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "/r/summary", "GITHUB_WORKSPACE": "/w"}
    ) == GithubContext(Path("/r/summary"), Path("/w"))


def test_annotation_path() -> None:
    cwd = Path("/w/repo/sub")
    assert annotation_path(Path("plans/a.yaml"), Path("/w/repo"), cwd) == "sub/plans/a.yaml"
    assert annotation_path(Path("../plans/a.yaml"), Path("/w/repo"), cwd) == "plans/a.yaml"
    assert annotation_path(Path("/w/repo/p/a.yaml"), None, Path("/w/repo")) == "p/a.yaml"
    assert annotation_path(Path("/elsewhere/a.yaml"), Path("/w/repo"), cwd) == "/elsewhere/a.yaml"


PLAN_YAML = """\
flag: checkout
platform: {kind: flagfile, path: flags.json}
variations: {treatment: true, control: false}
stages:
  - {name: half, percent: 50, min_duration: 1h}
  - {percent: 100}
metrics:
  source: {kind: file, path: m.csv}
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds:
      warn: "+20%"
      rollback: "2x"
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds: {warn: "+10%", pause: "+25%"}
"""


def test_plan_file_finds_guardrail_and_tier_lines(tmp_path: Path) -> None:
    path = tmp_path / "checkout.yaml"
    path.write_text(PLAN_YAML)
    loaded = load_plan(path)
    assert plan_file(loaded, load_yaml(path), "plans/checkout.yaml") == PlanFile(
        path="plans/checkout.yaml",
        guardrail_lines={"error_rate": 10, "latency": 17},
        tier_lines={
            ("error_rate", "warn"): 15,
            ("error_rate", "rollback"): 16,
            ("latency", "warn"): 21,
            ("latency", "pause"): 21,
        },
        units={"error_rate": None, "latency": "ms"},
        stages=(("half", 50.0), ("100%", 100.0)),
    )
    found = read_plan_file(loaded, tmp_path)
    assert found.path == "checkout.yaml" and found.line("error_rate", "rollback") == 16
    path.write_text("flag: [unclosed")  # changed since loaded: the path alone
    assert read_plan_file(loaded, tmp_path) == PlanFile("checkout.yaml")


def test_append_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert append_step_summary(summary, "## one\n") is None
    summary.write_text(summary.read_text() + "written by another step")
    assert append_step_summary(summary, "## two\n") is None
    assert append_step_summary(summary, "## three\n") is None
    assert summary.read_text() == "## one\nwritten by another step\n\n## two\n\n## three\n"
    message = append_step_summary(tmp_path / "missing" / "summary.md", "x")
    assert message == (
        f"cannot append the summary to $GITHUB_STEP_SUMMARY ({tmp_path}/missing/summary.md): "
        "No such file or directory"
    )


def test_markdown_warns_where_requests_cluster() -> None:
    clustered = metric(
        "error_rate",
        "ratio",
        "ok",
        dispersion={
            "factor": 2.345,
            "interval_pairs": 119,
            "significant": True,
            "summary": "varies 2.3x more between intervals than independent requests would "
            "(119 interval pairs)",
        },
    )
    calm = metric(
        "fallbacks",
        "ratio",
        "ok",
        dispersion={"factor": 1.0, "interval_pairs": 119, "significant": False, "summary": "x"},
    )
    allowed = dict(clustered, name="timeouts", test="seq-quasi-binomial")
    report = markdown_report([dict(STARTING, metrics=[clustered, calm, allowed])])
    warnings = [line for line in report.splitlines() if "clustering" in line]
    assert warnings == [
        "⚠️ clustering: error\\_rate varies 2.3x more between intervals than independent "
        "requests would (119 interval pairs); its test assumes independent requests, so its "
        "p-value is optimistic",
        "⚠️ clustering: timeouts varies 2.3x more between intervals than independent "
        "requests would (119 interval pairs); its test allows for that (quasi-likelihood), "
        "so its p-value holds",
    ]


def _lifecycle(phase: str, **facts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "phase": phase,
        "at": None,
        "by": None,
        "reason": None,
        "stage": None,
        "stage_index": None,
        "from_stage": None,
        "from_percent": None,
        "stopped": phase in ("rolled_back", "killed"),
        "paused": None,
    }
    base.update(facts)
    return base


ROLLED_BACK = _lifecycle(
    "rolled_back",
    at="2026-11-02T12:00:00Z",
    by="bob",
    reason="p99 *breached*",
    from_stage="10%",
    from_percent=10.0,
)


def test_markdown_says_the_lifecycle_and_the_command_that_lifts_it() -> None:
    held = dict(STARTING, plan="co", verdict="hold", next_percent=None, percent=0.0, stage=None)
    held.update(lifecycle=ROLLED_BACK, reasons=["rolled back"])
    report = markdown_report([held])
    assert "· ROLLED BACK (0%) ·" in report and "not started" not in report
    assert (
        "**lifecycle**: **ROLLED BACK** rolled back from 10% at 2026-11-02T12:00:00Z by bob: "
        "p99 \\*breached\\* · restart with `rollout advance co --restart`\n"
    ) in report
    staged = dict(STARTING, lifecycle=_lifecycle("in_stage", stage="5%", at="2026-11-02T10:00:00Z"))
    assert "**lifecycle**: in stage 5% since 2026-11-02T10:00:00Z\n" in markdown_report([staged])
    assert "**lifecycle**" not in markdown_report([STARTING])  # an older document: none


def test_a_stopped_or_paused_rollout_is_flagged_whatever_the_verdict() -> None:
    held = dict(STARTING, plan="co", verdict="hold", next_percent=None, percent=0.0, stage=None)
    held["reasons"] = ["rolled back"]
    (rolled,) = annotations([dict(held, lifecycle=ROLLED_BACK)], [PlanFile("co.yaml")])
    assert rolled == (
        "::error file=co.yaml,title=co%3A HOLD at 0%25 · ROLLED BACK::rolled back%0Alifecycle: "
        "rolled back from 10%25 at 2026-11-02T12:00:00Z by bob: p99 *breached* · restart with "
        "rollout advance co --restart"
    )
    paused = _lifecycle("paused", stage="5%", by="ana", reason="freeze")
    (line,) = annotations([dict(held, percent=5.0, lifecycle=paused)])
    assert line.startswith("::warning title=co%3A HOLD at 5%25 · PAUSED::")
    assert line.endswith(
        "lifecycle: paused at stage 5%25 by ana (freeze) · resume with rollout resume co"
    )
    killed = _lifecycle("killed", from_percent=5.0)
    (line,) = annotations([dict(held, lifecycle=killed)])
    assert line.startswith("::error title=co%3A HOLD at 0%25 · KILLED::")
    staged = _lifecycle("in_stage", stage="5%")
    (line,) = annotations([dict(held, percent=5.0, lifecycle=staged)])
    assert line == "::notice title=co%3A HOLD at 5%25::rolled back"


def test_markdown_shows_a_points_guardrails_change_in_points() -> None:
    accuracy = metric(
        "accuracy",
        "mean",
        "pause",
        control=0.9,
        treatment=0.87,
        relative_change=-0.0333,
        change_pp=-3.0,
        e_value=25.0,
        threshold="pause -2pp",
        limit=0.88,
        control_n=8000.0,
        treatment_n=2000.0,
    )
    report = markdown_report([dict(PAUSED, metrics=[accuracy])])
    assert "| accuracy | 🟠 pause | 0.9 | 0.87 | -3.0pp | e=25 | pause -2pp (limit 0.88) |" in (
        report
    )
    warned = dict(accuracy, status="warn", threshold="warn -1pp", limit=0.89)
    [*_, line] = annotations([dict(PAUSED, metrics=[warned])])
    assert line.endswith(
        "::accuracy -3.0pp vs control (treatment 0.87, control 0.9), past warn -1pp "
        "(limit 0.89); evidence e=25"
    )
