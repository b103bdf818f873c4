"""`rollout kill` on a plan with nobody to notify loads neither pydantic, nor the statistics,
nor the notification stack: on-call's command pays little more than the CLI itself.

A plan that names a webhook for kills must notify, and then may load what that takes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import read_flag

PROBE = (
    "import sys\n"
    "from typer.testing import CliRunner\n"
    "from rolloutcli.cli.main import app\n"
    "result = CliRunner().invoke(app, {args!r})\n"
    "assert result.exit_code == 0, result.output\n"
    "heavy = sorted({{m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
    "('pydantic', 'scipy', 'numpy', 'ldclient')}})\n"
    "notify = 'rolloutcli.journal.notify' in sys.modules\n"
    "print('HEAVY', heavy, 'NOTIFY', notify)\n"
)


def _probe(workspace: Path, args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _drop_notifications(workspace: Path) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    plan.write_text(re.sub(r"(?ms)^notifications:.*?(?=^\S|\Z)", "", plan.read_text()))


def test_kill_with_nobody_to_notify_loads_only_what_it_needs(workspace: Path) -> None:
    _drop_notifications(workspace)
    output = _probe(workspace, ["kill", "checkout-v2", "--yes"])
    assert "HEAVY [] NOTIFY False" in output
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"


def test_kill_with_a_webhook_for_kills_loads_the_notification_stack(workspace: Path) -> None:
    output = _probe(workspace, ["kill", "checkout-v2", "--yes"])
    assert "NOTIFY True" in output
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"
