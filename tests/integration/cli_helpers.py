"""Shared by the platform integration tests: run the CLI in-process, write a small plan
with no guardrails, and the exposure counts that let its next check say `go`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.platforms.flagfile import FlagFilePlatform

runner = CliRunner()

STAGES_NOW = """  - {percent: 10, min_duration: 0}
  - {percent: 25, min_duration: 0}
  - {percent: 50, min_duration: 0}
  - {percent: 100, min_duration: 0}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def write_plan(
    root: Path, name: str, flag: str, platform: str, variations: str, stages: str
) -> Path:
    """A plan with no guardrails (every check after the window is a `go`) and an empty
    metrics file; ``platform`` is the plan's platform mapping in flow style."""
    path = root / "plans" / f"{name}.yaml"
    path.write_text(
        f"""flag: {flag}
platform: {platform}
variations: {variations}
stages:
{stages}
metrics:
  source: {{kind: file, path: ../metrics/{flag}.csv}}
  exposures: requests
""",
        encoding="utf-8",
    )
    (root / "metrics" / f"{flag}.csv").write_text("time,cohort,metric,value\n")
    return path


def fresh_metrics(root: Path, flag: str, percent: float) -> None:
    """Exposure counts from the last instant, inside the window of a stage that began at
    least a moment ago: enough for a `go` on a plan with no guardrails."""
    at = (datetime.now(UTC) - timedelta(milliseconds=50)).isoformat()
    (root / "metrics" / f"{flag}.csv").write_text(
        "time,cohort,metric,value\n"
        f"{at},treatment,requests,{10 * percent:g}\n"
        f"{at},control,requests,{10 * (100 - percent):g}\n"
    )


BOOLEAN_FLAG = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}


def write_flag_file(path: Path, *flags: str) -> Path:
    """A flagd file with each of ``flags`` as a boolean flag, off to everyone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"flags": {flag: BOOLEAN_FLAG for flag in flags}}))
    return path


def start_stage(flags: Path, flag: str, percent: float, since: datetime, plan: str) -> None:
    """Put a boolean ``flag`` of a flagd file at ``percent`` for ``plan``, the stage having
    begun at ``since`` (as `rollout advance` would have recorded it then)."""
    platform = FlagFilePlatform(flags, flag)
    change = RolloutChange(percent, (), None, plan, f"{percent:g}%", "advance", "test setup")
    platform.set_rollout(change, True, False, platform.read_state(True, False), at=since)
