"""`rollout demo`: a whole rollout step on the embedded default, the same on any day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rolloutcli.cli.base import out, reports_errors

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Where to write the demo workspace (default: a new temp dir)."),
]


@reports_errors
def demo(directory: DirOption = None) -> None:
    """Run a whole rollout step on the embedded default (local flag file + local metrics)."""
    from rolloutcli.app.demo import (
        DEMO_NOW,
        DEMO_PLAN,
        demo_evaluation,
        demo_standing,
        write_workspace,
    )
    from rolloutcli.cli.change import run_advance
    from rolloutcli.render.console import print_status

    console = out()
    workspace = write_workspace(directory)
    console.rule("[bold]rollout demo[/]: the embedded default (flagd file + metrics file)")
    console.print(f"workspace: {workspace}  (clock fixed at {DEMO_NOW:%Y-%m-%d %H:%M} UTC)\n")
    console.rule(f"rollout status {DEMO_PLAN}")
    print_status(console, demo_standing(workspace), DEMO_NOW)
    console.print()
    console.rule(f"rollout advance {DEMO_PLAN} --yes")
    run_advance(demo_evaluation(workspace), True, False, DEMO_NOW)
    console.print()
    console.rule(f"rollout status {DEMO_PLAN}  (after)")
    print_status(console, demo_standing(workspace), DEMO_NOW)
    console.print(
        f"\ntry: cd {workspace} && rollout check {DEMO_PLAN} && "
        f"rollout check recommender-model --fail-on-breach"
    )
