"""`rollout demo`: a whole rollout step on the embedded default, the same on any day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from rolloutcli.cli.base import JsonFlag, reports_errors
from rolloutcli.cli.scripting import emit, human, json_errors

DEMO_PLAN = "checkout-v2"  # app.demo.DEMO_PLAN, named here to keep the help light

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Where to write the demo workspace (default: a new temp dir)."),
]


@reports_errors
@json_errors
def demo(directory: DirOption = None, json_output: JsonFlag = False) -> None:
    """Run a whole rollout step on the embedded default (local flag file + local metrics),
    in a workspace whose data ends now: every command works there afterwards. --json
    prints the workspace and what each step found."""
    from rolloutcli.app.demo import (
        demo_evaluation,
        demo_moment,
        demo_standing,
        workspace_clock,
        write_workspace,
    )
    from rolloutcli.cli.change import run_advance
    from rolloutcli.render.console import print_status
    from rolloutcli.render.contract import demo_json
    from rolloutcli.support.durations import format_duration

    console = human(json_output)
    clock = workspace_clock(datetime.now(UTC))
    workspace = write_workspace(directory, clock)
    step = demo_moment(clock)
    console.rule("[bold]rollout demo[/]: the embedded default (flagd file + metrics file)")
    console.print(
        f"workspace: {workspace}  (its data ends now, {clock:%Y-%m-%d %H:%M} UTC; the step "
        f"below is taken as of {step:%H:%M} UTC, when the 5% stage's window was met)\n"
    )
    console.rule(f"rollout status {DEMO_PLAN}")
    before = demo_standing(workspace)
    print_status(console, before, step)
    console.print()
    console.rule(f"rollout advance {DEMO_PLAN} --yes")
    evaluation = demo_evaluation(workspace, step)
    advanced: list[Any] = []
    run_advance(evaluation, True, False, step, json_output=json_output, sink=advanced.append)
    console.print()
    console.rule(f"rollout status {DEMO_PLAN}  (after)")
    after = demo_standing(workspace)
    print_status(console, after, step)
    console.print(next_steps(workspace, format_duration(clock - step)), highlight=False)
    if json_output:
        tries = [{"command": command, "expect": why or None} for command, why in TRIES]
        emit(demo_json(workspace, clock, step, before, evaluation, advanced[0], after, tries))


TRIES = [
    (f"rollout check {DEMO_PLAN}", "go: 10% -> 25%"),
    (f"rollout advance {DEMO_PLAN} --yes", "apply it"),
    (f"rollout history {DEMO_PLAN}", ""),
    ("rollout check recommender-model --fail-on-breach", "a breach: exit 1"),
]
"""What to try in the workspace afterwards (command, what it gives)."""


def next_steps(workspace: Path, healthy: str) -> str:
    """What to try in the workspace afterwards: every command here gives a real verdict."""
    lines = TRIES
    width = max(len(command) for command, _ in lines) + 3
    tried = [f"  {c.ljust(width)}# {why}" if why else f"  {c}" for c, why in lines]
    return "\n".join(
        [
            f"\nnext, in the workspace (its 10% stage has {healthy} of healthy data):",
            f"  cd {workspace}",
            *tried,
            "or, in a fresh demo workspace, let the plan's automation apply the go:",
            f"  rollout watch {DEMO_PLAN} --auto --once",
        ]
    )
