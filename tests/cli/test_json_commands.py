"""--json on the commands that read or draft: validate, plan schema, plan suggest, demo,
and the one-line JSON error of verify/who on a platform that cannot say (verify and who
on LaunchDarkly: tests/integration/test_launchdarkly_json.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app

runner = CliRunner()
PLAN = "checkout-v2"
MISSING = (
    "plans/checkout-v2.yaml:21: metrics.source.path: metrics file "
    "../metrics/checkout-v2.csv not found (looked for metrics/checkout-v2.csv)"
)


def run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr)."""
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str) -> tuple[int, Any, str]:
    code, output, errors = run(*args, "--json")
    return code, json.loads(output), errors


def test_validate_json_one_object_per_plan(workspace: Path) -> None:
    broken = workspace / "plans" / "broken.yaml"
    broken.write_text((workspace / "plans" / f"{PLAN}.yaml").read_text().replace("ratio", "ratoi"))
    code, document, errors = run_json("validate", PLAN, "broken", "plans/nope.yaml")
    assert (code, errors) == (2, "")
    assert document[0] == {
        "path": "plans/checkout-v2.yaml",
        "valid": True,
        "problems": [],
        "warnings": [],
        "stages": 6,
        "guardrails": 3,
    }
    assert (document[1]["path"], document[1]["valid"], document[1]["stages"]) == (
        "plans/broken.yaml",
        False,
        None,
    )
    assert document[1]["problems"] and all(
        p.startswith("plans/broken.yaml:") for p in document[1]["problems"]
    )
    assert document[2] == {
        "path": "plans/nope.yaml",
        "valid": False,
        "problems": ["plan file plans/nope.yaml not found"],
        "warnings": [],
        "stages": None,
        "guardrails": None,
    }


def test_validate_json_a_missing_file_warns_and_strict_refuses(workspace: Path) -> None:
    (workspace / "metrics" / "checkout-v2.csv").unlink()
    code, document, errors = run_json("validate", PLAN)
    assert (code, errors) == (0, "")
    assert (document[0]["valid"], document[0]["problems"]) == (True, [])
    assert document[0]["warnings"] == [MISSING]
    code, document, errors = run_json("validate", PLAN, "--strict")
    assert (code, errors) == (2, "")
    assert (document[0]["valid"], document[0]["warnings"]) == (False, [])
    assert document[0]["problems"] == [MISSING]
    # the person's text is as before
    code, output, errors = run("validate", PLAN, "--strict")
    assert (code, output, errors) == (2, "", f"error: {MISSING}\n")


def test_plan_schema_json_is_the_schema(workspace: Path) -> None:
    code, plain, _ = run("plan", "schema")
    assert code == 0
    code, document, errors = run_json("plan", "schema")
    assert (code, errors) == (0, "")
    assert document == json.loads(plain) and document["type"] == "object"


SUGGEST = [
    "plan",
    "suggest",
    PLAN,
    "--metrics-source",
    "file",
    "--metrics-file",
    "metrics/checkout-v2.csv",
    "--ratio",
    "error_rate=errors/requests",
    "--flag-file",
    "flags/flags.json",
]


@pytest.fixture
def demo_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's workspace (two weeks of history ending now: enough to suggest from)."""
    from rolloutcli.app.demo import workspace_clock, write_workspace

    root = write_workspace(tmp_path / "ws", workspace_clock(datetime.now(UTC)))
    monkeypatch.chdir(root)
    monkeypatch.delenv("ROLLOUT_PLANS_DIR", raising=False)
    return root


def test_plan_suggest_json_is_the_yaml_as_data(demo_workspace: Path) -> None:
    import yaml

    code, printed, _ = run(*SUGGEST)
    assert code == 0
    code, document, errors = run_json(*SUGGEST)
    assert (code, errors) == (0, "")
    assert set(document) == {"plan", "written", "evidence"}
    assert document["plan"] == yaml.safe_load(printed)
    assert document["written"] is None
    evidence = document["evidence"]
    assert set(evidence) == {
        "backend",
        "lookback",
        "history_end",
        "cohort",
        "power",
        "min_window",
        "exposures_per_hour",
        "stages",
        "guardrails",
    }
    assert (evidence["backend"], evidence["lookback"], evidence["cohort"]) == (
        "file",
        "14d",
        "false",
    )
    assert (evidence["power"], evidence["min_window"]) == (0.9, "30m")
    stages = evidence["stages"]
    assert [s["percent"] for s in stages] == [1, 5, 10, 25, 50, 100]
    assert [s["min_duration"] for s in stages] == [
        s["min_duration"] for s in document["plan"]["stages"]
    ]
    assert (stages[-1]["min_samples"], stages[-1]["slowest_guardrail"]) == (None, None)
    assert stages[0]["slowest_guardrail"] == "error_rate"
    (guardrail,) = evidence["guardrails"]
    assert set(guardrail) == {
        "name",
        "direction",
        "detect",
        "warn",
        "pause",
        "rollback",
        "sigma",
        "sigma_at_percent",
        "detect_crosses_warn",
        "healthy_crosses_warn",
        "history",
        "segments",
    }
    assert guardrail["segments"] is None  # no label tested: the file has no label columns
    assert (guardrail["name"], guardrail["direction"], guardrail["detect"]) == (
        "error_rate",
        "higher_is_worse",
        1.2,
    )
    # the tiers depend on the history's noise (its end is the workspace's clock): the YAML
    # says what the evidence says, and rollback is never below the detectable change
    thresholds = document["plan"]["guardrails"][0]["thresholds"]
    for tier in ("warn", "pause", "rollback"):
        assert thresholds[tier] == f"+{round((guardrail[tier] - 1) * 100):g}%"
    assert guardrail["rollback"] >= guardrail["detect"]
    history = guardrail["history"]
    assert set(history) == {
        "kind",
        "hours",
        "quiet_rate",
        "mean_rate",
        "base_rate",
        "dispersion",
        "raw_dispersion",
    }
    assert history["kind"] == "ratio"


def test_plan_suggest_json_with_out_names_the_file(demo_workspace: Path) -> None:
    code, document, errors = run_json(*SUGGEST, "--out", "plans/drafted.yaml")
    assert (code, errors) == (0, "")
    assert document["written"] == "plans/drafted.yaml"
    assert (demo_workspace / "plans" / "drafted.yaml").is_file()
    code, output, errors = run(*SUGGEST, "--out", "plans/drafted.yaml", "--json")
    assert (code, output) == (2, "")
    assert json.loads(errors) == {
        "error": "--out plans/drafted.yaml: the file exists; give a new file",
        "exit_code": 2,
    }


def test_demo_json_each_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, document, errors = run_json("demo", "--dir", "ws")
    assert (code, errors) == (0, "")
    assert list(document) == [
        "workspace",
        "data_ends_at",
        "step_at",
        "status",
        "check",
        "advance",
        "status_after",
        "next",
    ]
    assert document["workspace"] == "ws"
    assert (document["status"]["percent"], document["status"]["stage"]["name"]) == (5, "5%")
    assert (document["check"]["verdict"], document["check"]["next_percent"]) == ("go", 10)
    advance = document["advance"]
    assert (advance["command"], advance["result"], advance["plan"]) == ("advance", "applied", PLAN)
    assert (advance["before"]["percent"], advance["after"]["percent"]) == (5, 10)
    assert advance["verdict"] == document["check"]
    assert (document["status_after"]["percent"], document["status_after"]["on"]) == (10, True)
    assert document["next"][0] == {"command": f"rollout check {PLAN}", "expect": "go: 10% -> 25%"}
    assert document["next"][2] == {"command": f"rollout history {PLAN}", "expect": None}
    # the workspace is kept, as without --json: the flag file holds the change
    monkeypatch.chdir(tmp_path / "ws")
    code, status, _ = run_json("status", PLAN)
    assert (code, status["percent"]) == (0, 10)


@pytest.mark.parametrize("command", [["verify", PLAN], ["who", PLAN, "user-1"]])
def test_verify_and_who_json_error_on_a_flag_file(workspace: Path, command: list[str]) -> None:
    code, output, errors = run(*command, "--json")
    assert (code, output) == (2, "")
    assert json.loads(errors) == {
        "error": f"{command[0]} needs a platform whose SDK evaluates offline (launchdarkly); "
        "flagfile is not one",
        "exit_code": 2,
    }
