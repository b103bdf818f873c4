"""`rollout demo`: a whole rollout step on the embedded default, the same on any day.

The workspace (plans, a flagd flag file, a metrics file) ships inside the package. It is
copied to a folder of its own, then status → check → advance run on it with the clock set
to the moment the example data describes, so the verdict and the change never depend on
the day the demo is run.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from rich.console import Console

from rolloutcli.support.errors import InvalidInputError

DEMO_NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DEMO_PLAN = "checkout-v2"


def write_workspace(directory: Path | None) -> Path:
    """Copy the demo workspace to ``directory`` (must be empty or new) or a new temp folder."""
    if directory is None:
        target = Path(tempfile.mkdtemp(prefix="rollout-demo-"))
    else:
        target = directory
        if target.exists() and any(target.iterdir()):
            raise InvalidInputError(f"--dir {target} is not empty: give a new or empty folder")
        target.mkdir(parents=True, exist_ok=True)
    source = resources.files("rolloutcli") / "demo"
    with resources.as_file(source) as folder:
        for part in ("plans", "flags", "metrics"):
            shutil.copytree(Path(folder) / part, target / part)
    return target


def run_demo(console: Console, directory: Path | None) -> None:
    from rolloutcli.app.evaluate import evaluate, read_standing
    from rolloutcli.cli.main import run_advance
    from rolloutcli.plan.model import load_plan
    from rolloutcli.render.console import print_status

    workspace = write_workspace(directory)
    plan_path = workspace / "plans" / f"{DEMO_PLAN}.yaml"
    console.rule("[bold]rollout demo[/]: the embedded default (flagd file + metrics file)")
    console.print(f"workspace: {workspace}  (clock fixed at {DEMO_NOW:%Y-%m-%d %H:%M} UTC)\n")
    console.rule(f"rollout status {DEMO_PLAN}")
    print_status(console, read_standing(load_plan(plan_path)), DEMO_NOW)
    console.print()
    console.rule(f"rollout advance {DEMO_PLAN} --yes")
    run_advance(evaluate(load_plan(plan_path), DEMO_NOW), True, False, DEMO_NOW)
    console.print()
    console.rule(f"rollout status {DEMO_PLAN}  (after)")
    print_status(console, read_standing(load_plan(plan_path)), DEMO_NOW)
    console.print(
        f"\ntry: cd {workspace} && rollout check {DEMO_PLAN} && "
        f"rollout check recommender-model --fail-on-breach"
    )
