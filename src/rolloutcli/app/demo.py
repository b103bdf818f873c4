"""`rollout demo`'s workspace: the embedded default, laid on the workspace's own clock.

The workspace (plans, a flagd flag file, metrics files, the plan schema) ships inside the
package. :func:`write_workspace` copies it to a folder of its own; with ``now`` it also lays
the example data on that clock (:func:`lay_in_time`): every flag's metrics end at ``now``
and its flag-file times move with them, so every command run there afterwards (``check``,
``advance``, ``watch --auto``, ``history``) reads a rollout as fresh as the examples
describe, whatever the day. The command (``cli``) then runs status → advance on it as of
:func:`demo_moment`, the moment of the demo's own step (5% → 10%): the verdict and the
change are the same on any day, and the 10% stage it enters already has a healthy window
when the workspace is handed over (the rows under ``demo/extra/``: what the metrics
recorded after the step, and the two days before the rollout that ``plan suggest`` reads).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.timeutil import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from rolloutcli.app.evaluate import Evaluation
    from rolloutcli.app.standing import Standing
    from rolloutcli.plan.model import LoadedPlan

DEMO_NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
"""The moment the shipped examples describe (their flag file and checkout-v2's metrics end
here): the demo's step, 5% → 10%, is taken at this moment of the data."""
DEMO_PLAN = "checkout-v2"
DATA_ENDS = {
    "checkout-v2": datetime(2026, 11, 2, 13, 15, tzinfo=UTC),  # with the extra rows
    "recommender-model": datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
    "assistant-model": datetime(2026, 11, 4, 10, 5, tzinfo=UTC),
}
"""Where each example rollout's data ends (``metrics/<flag>.csv``), once the workspace holds
the extra rows: each is laid so that it ends at the workspace's clock."""
SCHEMA_PATH = Path("docs") / "plan.schema.json"
"""Where the example plans' ``$schema`` comment points (``../docs/plan.schema.json``)."""

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def write_workspace(directory: Path | None, now: datetime | None = None) -> Path:
    """Copy the demo workspace to ``directory`` (must be empty or new) or a new temp folder;
    with ``now``, lay its data on that clock (:func:`lay_in_time`)."""
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
        if now is not None:
            _add_extra_rows(Path(folder) / "extra", target)
    _write_schema(target)
    if now is not None:
        lay_in_time(target, now)
    return target


def workspace_clock(now: datetime) -> datetime:
    """The workspace's moment for a demo created at ``now``: to the minute, not later."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def demo_moment(clock: datetime) -> datetime:
    """When the demo's own step is taken in a workspace laid at ``clock``."""
    return clock - (DATA_ENDS[DEMO_PLAN] - DEMO_NOW)


def lay_in_time(workspace: Path, clock: datetime) -> None:
    """Shift each example rollout's times so that its data ends at ``clock``: the rows of
    ``metrics/<flag>.csv`` and the flag's entry in ``flags/flags.json`` (the time of its
    last change) move by the same amount, so the stage and its window keep their data."""
    flags_file = workspace / "flags" / "flags.json"
    doc = json.loads(flags_file.read_text(encoding="utf-8"))
    for flag, end in DATA_ENDS.items():
        delta = clock - end
        metrics = workspace / "metrics" / f"{flag}.csv"
        if metrics.is_file():
            metrics.write_text(_shifted(metrics.read_text(encoding="utf-8"), delta), "utf-8")
        entry = doc.get("flags", {}).get(flag)
        if isinstance(entry, dict):
            doc["flags"][flag] = json.loads(_shifted(json.dumps(entry), delta))
    flags_file.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _shifted(text: str, delta: timedelta) -> str:
    def moved(match: re.Match[str]) -> str:
        at = parse_timestamp(match.group(0))
        return match.group(0) if at is None else format_timestamp(at + delta)

    return _STAMP.sub(moved, text)


def _add_extra_rows(folder: Path, workspace: Path) -> None:
    """Add the rows only the demo workspace holds (data rows, no header): checkout-v2's
    history before the rollout (for ``plan suggest``) and what its metrics recorded after
    the demo's step (its 10% stage's window)."""
    for extra in sorted((folder / "metrics").glob("*.csv")):
        rows = extra.read_text(encoding="utf-8").splitlines(keepends=True)[1:]
        with (workspace / "metrics" / extra.name).open("a", encoding="utf-8") as handle:
            handle.writelines(rows)


def _write_schema(workspace: Path) -> None:
    """The plan schema the example plans name in their ``$schema`` comment."""
    from rolloutcli.plan.model import plan_json_schema

    path = workspace / SCHEMA_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan_json_schema(), indent=2) + "\n", encoding="utf-8")


def demo_standing(workspace: Path) -> Standing:
    """Where the demo's rollout stands now, read from its flag file."""
    from rolloutcli.app.standing import read_standing

    return read_standing(_demo_plan(workspace))


def demo_evaluation(workspace: Path, at: datetime = DEMO_NOW) -> Evaluation:
    """The demo plan's verdict at ``at`` (the demo's moment in its workspace)."""
    from rolloutcli.app.evaluate import evaluate

    return evaluate(_demo_plan(workspace), at)


def _demo_plan(workspace: Path) -> LoadedPlan:
    from rolloutcli.plan.model import load_plan

    return load_plan(workspace / "plans" / f"{DEMO_PLAN}.yaml")
