"""`rollout check` on a guardrail in percentage points (issue 21): the change is shown in
points, in the table and in `--json` (`change_pp`), with bounds on the difference."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rolloutcli.cli.main import app

AT = "2026-11-02T12:00Z"


def in_points(workspace: Path) -> None:
    """checkout-v2's conversion guardrail, with its tiers and success bound in points."""
    plan = workspace / "plans" / "checkout-v2.yaml"
    text = plan.read_text(encoding="utf-8")
    for old, new in (
        ('warn: "-3%"', 'warn: "-1pp"'),
        ('pause: "-8%"', 'pause: "-4pp"'),
        ('rollback: "-15%"', 'rollback: "-8pp"'),
        ('at_least: "-2%"', 'at_least: "-1pp"'),
    ):
        assert text.count(old) == 1
        text = text.replace(old, new)
    plan.write_text(text, encoding="utf-8")


def test_check_json_has_the_change_in_points(workspace: Path) -> None:
    in_points(workspace)
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT, "--json"])
    assert result.exit_code == 0, result.output
    metrics = {m["name"]: m for m in json.loads(result.stdout)["metrics"]}
    conversion = metrics["conversion"]
    difference = (conversion["treatment"] - conversion["control"]) * 100
    assert abs(conversion["change_pp"] - difference) < 1e-9
    assert conversion["status"] == "ok"
    assert conversion["threshold"] == "warn -1pp · pause -4pp · rollback -8pp"
    assert conversion["test"] == "seq-normal"
    assert metrics["error_rate"]["change_pp"] is None  # relative thresholds: no points


def test_check_table_shows_points(workspace: Path) -> None:
    in_points(workspace)
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("conversion  ok")
    change = lines[start + 2]
    assert change.startswith("  change +0.6pp [")
    assert change.endswith("pp] · evidence e=1")
    assert lines[start + 3] == "  warn -1pp · pause -4pp · rollback -8pp"
