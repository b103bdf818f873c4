"""The commands a person changes a rollout with: advance, rollback, pause, resume, unkill.
Each shows
the change, asks (unless ``--yes``), and has :mod:`rolloutcli.app.changes` apply it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from rolloutcli.cli.base import (
    DryRunFlag,
    PlanArgument,
    PlansDir,
    RecordsOption,
    YesFlag,
    confirm,
    load,
    out,
    report_journal,
    reports_errors,
)
from rolloutcli.support.errors import EXIT_BREACH, RefusedError

if TYPE_CHECKING:
    from rolloutcli.app.apply import Journal
    from rolloutcli.app.evaluate import Evaluation
    from rolloutcli.app.standing import Standing
    from rolloutcli.judge.flagstate import RolloutChange

ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", "-m", help="Why (kept in the platform's history and the record)."),
]


@reports_errors
def advance(
    plan: PlanArgument,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Start a rolled-back rollout again at its first stage (shows the "
            "rollback's reason and asks).",
        ),
    ] = False,
) -> None:
    """Check, and on `go` move to the next stage after showing the change and asking.

    This is also how a person approves a stage the plan's automation policy leaves to a
    person. A paused rollout is refused: `rollout resume` first. A rolled-back one is
    refused unless `--restart`."""
    from rolloutcli.app.evaluate import evaluate
    from rolloutcli.app.journals import open_journal

    now = datetime.now(UTC)
    loaded = load(plan, plans_dir)
    journal = open_journal(loaded.base_dir, records_file, "advance")
    run_advance(evaluate(loaded, now, restart), yes, dry_run, now, journal, restart)


def run_advance(
    evaluation: Evaluation,
    yes: bool,
    dry_run: bool,
    now: datetime,
    journal: Journal | None = None,
    restart: bool = False,
) -> None:
    """Show the verdict; on `go` show the change, confirm, apply. Exit 1 on rollback, and
    on a rollout paused or rolled back (without ``restart``)."""
    from rolloutcli.app.changes import advance_refusal, apply_advance, restarting
    from rolloutcli.app.evaluate import advance_change
    from rolloutcli.judge.messages import lifecycle_text
    from rolloutcli.render.console import print_change, print_check
    from rolloutcli.render.contract import decision_json

    console = out()
    print_check(console, evaluation)
    refusal = advance_refusal(evaluation, restart)
    if refusal is not None:
        raise RefusedError(refusal)
    restarted = restarting(evaluation, restart)
    if restarted is not None:
        console.print(
            Text(f"\nrestart: {lifecycle_text(restarted, evaluation.standing.loaded.name)}"),
            highlight=False,
        )
    standing, kind = evaluation.standing, evaluation.verdict.kind.value
    if kind != "go":
        console.print(f"\nnothing changed: verdict is {kind}.", highlight=False)
        if kind == "rollback":
            console.print(f"to roll back: rollout rollback {escape(str(standing.loaded.path))}")
            raise typer.Exit(EXIT_BREACH)
        return
    change = advance_change(evaluation)
    console.print()
    print_change(
        console, standing.loaded.plan, standing.state, change, standing.platform.describe()
    )
    if dry_run:
        _dry_run(console, standing, change)
        return
    confirm("Restart the rollout?" if restarted else "Apply this change?", yes)
    try:
        after = apply_advance(
            evaluation, change, now, journal, yes=yes, describe=decision_json, restarted=restarted
        )
    finally:
        if journal is not None:
            report_journal(journal)
    console.print(
        f"[green]applied:[/] treatment now {after.state.percent:g}% "
        f"(stage {escape(str(change.stage))})"
    )
    report_serving(console, after)


def report_serving(console: Console, standing: Standing, sample: int = 10_000) -> bool:
    """Where the platform's SDK can evaluate the flag offline, say what it serves now."""
    from rolloutcli.app.standing import serving_check

    check = serving_check(standing, sample)
    if check is None:
        return True
    line = (
        f"served: {check.percent:.2f}% of {check.total:,} synthetic contexts get the "
        f"treatment (stage {check.expected_percent:g}%, tolerance ±{check.tolerance:.2f})"
    )
    if check.ok:
        console.print(f"[green]{line}[/]", highlight=False)
    else:
        console.print(
            f"[bold yellow]warning:[/] {line}: what is served does not match the stage",
            highlight=False,
        )
    return check.ok


def _dry_run(console: Console, standing: Standing, change: RolloutChange) -> None:
    """Nothing is written; where the platform can validate a change unsaved, it does."""
    from rolloutcli.app.standing import validate_change

    where = validate_change(standing, change)
    console.print(
        "dry run: nothing was changed."
        + (f" {escape(where)} accepted the change (validated, not saved)." if where else "")
    )


@reports_errors
def rollback(
    plan: PlanArgument,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why, for the change note and the record.")
    ] = "requested with rollout rollback",
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Treatment share to 0% for everyone; the flag stays on, serving control."""
    from rolloutcli.app.changes import apply_rollback, serves_control_to_all
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.standing import read_standing, rollback_change
    from rolloutcli.render.console import print_change

    loaded = load(plan, plans_dir)
    standing = read_standing(loaded)
    console = out()
    state = standing.state
    if serves_control_to_all(state):
        console.print(
            f"flag {escape(state.flag)} already serves control to everyone: nothing to do."
        )
        return
    change = rollback_change(standing, reason)
    print_change(console, standing.loaded.plan, state, change, standing.platform.describe())
    if dry_run:
        _dry_run(console, standing, change)
        return
    confirm("Roll back?", yes)
    journal = open_journal(loaded.base_dir, records_file, "rollback")
    try:
        after = apply_rollback(journal, standing, change, reason, datetime.now(UTC))
    finally:
        report_journal(journal)
    if after.on:
        console.print(f"[green]rolled back:[/] treatment now {after.percent:g}%, flag still on")
    else:
        console.print(
            f"[green]rolled back:[/] treatment share now {after.percent:g}%; the flag stays "
            "off (killed): nobody is served the treatment"
        )


@reports_errors
def pause(
    plan: PlanArgument,
    reason: ReasonOption = None,
    yes: YesFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Stop automatic advancing (watch --auto) until resumed; the flag is not changed.

    Recorded on the platform with its change history. Automatic rollback still works while
    paused, and kill always wins."""
    _set_pause(plan, True, reason or "paused by a person", yes, plans_dir, records_file)


@reports_errors
def resume(
    plan: PlanArgument,
    reason: ReasonOption = None,
    yes: YesFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Lift a pause: watch --auto may advance the rollout again."""
    _set_pause(plan, False, reason or "resumed by a person", yes, plans_dir, records_file)


@reports_errors
def unkill(
    plan: PlanArgument,
    reason: ReasonOption = None,
    yes: YesFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Turn a killed flag back on, deliberately: its split, as the kill left it, is served
    again at once (shown before asking).

    Recorded on the platform and in the decision log, and notified. A rolled-back rollout
    stays rolled back (0%): rollout advance PLAN --restart starts it again."""
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.standing import read_standing
    from rolloutcli.app.unkill import COMMAND, DEFAULT_REASON, Unkill, unkill_recorded

    loaded = load(plan, plans_dir)
    found = Unkill(read_standing(loaded))
    flag, env = escape(found.standing.state.flag), escape(found.standing.platform.environment)
    console = out()
    if not found.needed:
        console.print(f"flag {flag} is already on in {env}: nothing changed", highlight=False)
        return
    where = escape(found.standing.platform.describe())
    console.print(
        f"unkill: turn flag [bold]{flag}[/] ON in {env} ({where}): {escape(found.serves())}",
        highlight=False,
        soft_wrap=True,
    )
    confirm("Turn the flag back on?", yes)
    journal = open_journal(loaded.base_dir, records_file, COMMAND)
    decided = "--yes" if yes else "confirmed"
    try:
        changed = unkill_recorded(
            journal, found, reason or DEFAULT_REASON, decided, datetime.now(UTC)
        )
    finally:
        report_journal(journal)
    if not changed:
        console.print(f"flag {flag} was already on in {env}: nothing changed", highlight=False)
        return
    stays = " (the rollout stays rolled back)" if found.rolled_back else ""
    console.print(f"[green]flag {flag} is ON[/] in {env}{stays}", highlight=False)


def _set_pause(
    plan: str, paused: bool, reason: str, yes: bool, plans_dir: Path | None, records: Path | None
) -> None:
    from rolloutcli.app.changes import already_paused, set_paused
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.standing import read_standing

    loaded = load(plan, plans_dir)
    standing = read_standing(loaded)
    state = standing.state
    console = out()
    verb = "pause" if paused else "resume"
    if already_paused(standing, paused):
        console.print(
            f"{escape(loaded.name)} is already {'paused' if paused else 'not paused'}: "
            "nothing changed"
        )
        return
    what = (
        "automatic advancing stops until rollout resume; the flag stays"
        if paused
        else "automatic advancing may continue; the flag stays"
    )
    console.print(
        f"{verb}: [bold]{escape(loaded.name)}[/] (flag {escape(state.flag)} in "
        f"{escape(standing.platform.environment)}): {what} at {state.percent:g}%",
        highlight=False,
    )
    confirm(f"{verb.capitalize()} the rollout?", yes)
    journal = open_journal(loaded.base_dir, records, verb)
    try:
        set_paused(journal, standing, paused, reason, datetime.now(UTC))
    finally:
        report_journal(journal)
    console.print(f"[green]{'paused' if paused else 'resumed'}:[/] {escape(loaded.name)}")
