"""``rollout advance``'s gates on the command line: the warning for a closed policy window,
the checklist's questions, and the ``--checked`` / ``--outside-window`` options that answer
them under ``--yes``. The rules are :mod:`rolloutcli.app.gates`'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from rolloutcli.cli import base
from rolloutcli.support.errors import RefusedError, RolloutError

if TYPE_CHECKING:
    from rolloutcli.app.gates import Gates
    from rolloutcli.plan.policy import ChecklistItem

CheckedOption = Annotated[
    list[str] | None,
    typer.Option(
        "--checked",
        help="A checklist item (by id) of the stage advanced into, answered yes; repeat for "
        "each. With --yes, every item must be named.",
    ),
]
OutsideWindowFlag = Annotated[
    bool,
    typer.Option(
        "--outside-window",
        help="With --yes: advance even outside the plan's automation windows or in a freeze "
        "(recorded as an override).",
    ),
]


def warn_window(console: Console, gates: Gates) -> None:
    """One line when the plan's policy would not let automation advance now."""
    if not gates.window.ok:
        line = Text("warning: ", style="bold yellow")
        line.append(gates.window.reason)
        console.print(line, highlight=False)


def show_needed(console: Console, gates: Gates, checked: list[str]) -> None:
    """``--dry-run``: what a real advance would ask, and what ``--yes`` would need."""
    from rolloutcli.app.gates import OUTSIDE_WINDOW_FLAG, check_named

    check_named(gates, checked)
    for item in gates.items:
        done = " (--checked)" if item.key in checked else ""
        console.print(
            Text(f"checklist would ask: {item.ask} [--checked {item.key}]{done}"), highlight=False
        )
    if not gates.window.ok:
        console.print(Text(f"--yes would need {OUTSIDE_WINDOW_FLAG}"), highlight=False)


def pass_gates(
    gates: Gates,
    *,
    yes: bool,
    json_output: bool,
    checked: list[str],
    outside_window: bool,
    now: datetime,
    refused: Callable[[str], Any],
) -> Gates:
    """The gates answered, or a one-line refusal: a checklist "no" or a missing
    ``--checked`` (exit 1), an unknown one (exit 2), ``--yes`` outside the window without
    ``--outside-window`` (exit 1). With ``--json`` the refusal's document (``refused(why)``)
    goes to stdout first. The override is noted once the change is confirmed."""
    from rolloutcli.app.gates import answer_checklist, check_named, window_refusal
    from rolloutcli.cli.scripting import emit
    from rolloutcli.journal.identity import actor

    try:
        check_named(gates, checked)
        refusal = window_refusal(gates, yes, outside_window)
        if refusal is not None:
            raise RefusedError(refusal)
        if json_output and not yes:
            return gates  # never asks: the confirmation refuses (no --yes)
        answered = answer_checklist(gates, checked, actor(), now, None if yes else ask)
    except RolloutError as exc:
        if json_output:
            emit(refused(str(exc)))
        raise
    return answered


def ask(item: ChecklistItem) -> bool:
    """One checklist question, on a terminal (without one: refused, as every prompt)."""
    if not base.stdin_is_terminal():
        raise RefusedError("no terminal to confirm on and --yes not given: nothing was changed")
    return typer.confirm(f"checklist ({item.key}): {item.ask}", default=False)


def question(gates: Gates, restarted: bool) -> str:
    """The confirmation, naming a closed window or a freeze."""
    verb = "Restart the rollout" if restarted else "Apply this change"
    if gates.window.ok:
        return f"{verb}?"
    where = "in a freeze" if gates.window.freeze is not None else "outside the automation window"
    return f"{verb} {where}?"
