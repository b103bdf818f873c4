"""`rollout demo`'s workspace: the embedded default, the same on any day.

The workspace (plans, a flagd flag file, a metrics file) ships inside the package. It is
copied to a folder of its own; the command (``cli``) then runs status → check → advance on
it (:func:`demo_standing`, :func:`demo_evaluation`) with the clock set to :data:`DEMO_NOW`,
the moment the example data describes, so the verdict and the change never depend on the
day the demo is run.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from rolloutcli.support.errors import InvalidInputError

if TYPE_CHECKING:
    from rolloutcli.app.evaluate import Evaluation
    from rolloutcli.app.standing import Standing
    from rolloutcli.plan.model import LoadedPlan

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


def demo_standing(workspace: Path) -> Standing:
    """Where the demo's rollout stands now, read from its flag file."""
    from rolloutcli.app.standing import read_standing

    return read_standing(_demo_plan(workspace))


def demo_evaluation(workspace: Path) -> Evaluation:
    """The demo plan's verdict at :data:`DEMO_NOW`."""
    from rolloutcli.app.evaluate import evaluate

    return evaluate(_demo_plan(workspace), DEMO_NOW)


def _demo_plan(workspace: Path) -> LoadedPlan:
    from rolloutcli.plan.model import load_plan

    return load_plan(workspace / "plans" / f"{DEMO_PLAN}.yaml")
