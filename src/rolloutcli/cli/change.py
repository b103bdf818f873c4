"""The commands a person changes a rollout with: advance, rollback, reduce, pause, resume,
unkill.
Each shows
the change, asks (unless ``--yes``), and has :mod:`rolloutcli.app.changes` apply it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from rolloutcli.cli.base import (
    DryRunFlag,
    JsonFlag,
    PlanArgument,
    PlansDir,
    RecordsOption,
    YesFlag,
    load,
    report_journal,
    reports_errors,
)
from rolloutcli.cli.gates import CheckedOption, OutsideWindowFlag
from rolloutcli.cli.scripting import confirm_write, emit, human, json_errors
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
@json_errors
def advance(
    plan: PlanArgument,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
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
    checked: CheckedOption = None,
    outside_window: OutsideWindowFlag = False,
) -> None:
    """Check, and on `go` move to the next stage after showing the change and asking.

    This is also how a person approves a stage the plan's automation policy leaves to a
    person. A paused rollout is refused: `rollout resume` first. A rolled-back one is
    refused unless `--restart`. A stage with a checklist asks each question first (with
    --yes: --checked ID for each). Outside the plan's automation windows or in a freeze it
    warns and asks (with --yes: --outside-window)."""
    from rolloutcli.app.evaluate import evaluate
    from rolloutcli.app.journals import open_journal

    now = datetime.now(UTC)
    loaded = load(plan, plans_dir)
    journal = open_journal(loaded.base_dir, records_file, "advance")
    run_advance(
        evaluate(loaded, now, restart),
        yes,
        dry_run,
        now,
        journal,
        restart,
        json_output,
        checked=checked or [],
        outside_window=outside_window,
    )


def run_advance(
    evaluation: Evaluation,
    yes: bool,
    dry_run: bool,
    now: datetime,
    journal: Journal | None = None,
    restart: bool = False,
    json_output: bool = False,
    sink: Callable[[Any], None] = emit,
    *,
    checked: list[str] | None = None,
    outside_window: bool = False,
) -> None:
    """Show the verdict; on `go` show the change, pass the gates (checklist, policy
    window: :mod:`rolloutcli.cli.gates`), confirm, apply. Exit 1 on rollback, and on a
    rollout paused or rolled back (without ``restart``). With ``json_output``, stdout gets
    one document saying what changed (``render.contract.write_json``), handed to ``sink``
    (printed, unless the caller keeps it: ``demo --json``)."""
    from rolloutcli.app.changes import advance_refusal, apply_advance, restarting
    from rolloutcli.app.evaluate import advance_change
    from rolloutcli.app.gates import decision_extra, gates_for, gates_json
    from rolloutcli.app.outcome import (
        APPLIED,
        DRY_RUN,
        UNCHANGED,
        after_of,
        outcome_for,
        proposed_state,
    )
    from rolloutcli.cli.gates import pass_gates, question, show_needed, warn_window
    from rolloutcli.judge.messages import lifecycle_text
    from rolloutcli.render.console import print_change, print_check
    from rolloutcli.render.contract import check_json, decision_json, write_json

    console = human(json_output)
    print_check(console, evaluation)
    standing, kind = evaluation.standing, evaluation.verdict.kind.value
    restarted = restarting(evaluation, restart)
    outcome = outcome_for(standing, "advance", "restart" if restarted else "advance", UNCHANGED)
    verdict = check_json(evaluation) if json_output else None
    refusal = advance_refusal(evaluation, restart)
    if refusal is not None:
        if json_output:
            sink(write_json(outcome.refused(refusal), verdict))
        raise RefusedError(refusal)
    if restarted is not None:
        console.print(
            Text(f"\nrestart: {lifecycle_text(restarted, evaluation.standing.loaded.name)}"),
            highlight=False,
        )
    if kind != "go":
        console.print(f"\nnothing changed: verdict is {kind}.", highlight=False)
        if json_output:
            sink(write_json(outcome, verdict))
        if kind == "rollback":
            console.print(f"to roll back: rollout rollback {escape(str(standing.loaded.path))}")
            raise typer.Exit(EXIT_BREACH)
        return
    change = advance_change(evaluation)
    console.print()
    print_change(
        console, standing.loaded.plan, standing.state, change, standing.platform.describe()
    )
    planned = replace(
        outcome,
        after=after_of(
            standing,
            proposed_state(standing.state, change),
            "advance",
            now,
            stage=change.stage,
            comment=change.comment,
        ),
    )
    gates = gates_for(evaluation, now)
    warn_window(console, gates)
    if dry_run:
        show_needed(console, gates, checked or [])
        validated = _dry_run(console, standing, change)
        if json_output:
            dry = replace(planned, result=DRY_RUN, validated_by=validated)
            sink(write_json(dry, verdict, gates_json(gates)))
        return
    gates = pass_gates(
        gates,
        yes=yes,
        json_output=json_output,
        checked=checked or [],
        outside_window=outside_window,
        now=now,
        refused=lambda why: write_json(outcome.refused(why), verdict, gates_json(gates)),
    )
    confirm_write(
        question(gates, restarted is not None),
        yes,
        json_output,
        lambda why: write_json(outcome.refused(why), verdict, gates_json(gates)),
    )
    gates = gates.overridden()  # confirmed: a closed window or a freeze was overridden
    try:
        after = apply_advance(
            evaluation,
            change,
            now,
            journal,
            yes=yes,
            describe=decision_json,
            restarted=restarted,
            extra=decision_extra(gates),
        )
    finally:
        if journal is not None:
            report_journal(journal)
    console.print(
        f"[green]applied:[/] treatment now {after.state.percent:g}% "
        f"(stage {escape(str(change.stage))})"
    )
    report_serving(console, after)
    if json_output:
        snapshot = after_of(
            standing, after.state, "advance", now, stage=change.stage, comment=change.comment
        )
        applied = replace(planned, after=snapshot).settled(APPLIED, journal)
        sink(write_json(applied, verdict, gates_json(gates)))


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


def _dry_run(console: Console, standing: Standing, change: RolloutChange) -> str | None:
    """Nothing is written; where the platform can validate a change unsaved, it does (and
    its name is returned)."""
    from rolloutcli.app.standing import validate_change

    where = validate_change(standing, change)
    console.print(
        "dry run: nothing was changed."
        + (f" {escape(where)} accepted the change (validated, not saved)." if where else "")
    )
    return where


@reports_errors
@json_errors
def rollback(
    plan: PlanArgument,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why, for the change note and the record.")
    ] = "requested with rollout rollback",
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Treatment share to 0% for everyone; the flag stays on, serving control."""
    from rolloutcli.app.changes import apply_rollback, serves_control_to_all
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.outcome import (
        APPLIED,
        DRY_RUN,
        UNCHANGED,
        after_of,
        outcome_for,
        proposed_state,
    )
    from rolloutcli.app.standing import read_standing, rollback_change
    from rolloutcli.render.console import print_change
    from rolloutcli.render.contract import write_json

    loaded = load(plan, plans_dir)
    standing = read_standing(loaded)
    console = human(json_output)
    state = standing.state
    outcome = replace(outcome_for(standing, "rollback", "rollback", UNCHANGED), reason=reason)
    if serves_control_to_all(state):
        console.print(
            f"flag {escape(state.flag)} already serves control to everyone: nothing to do."
        )
        if json_output:
            emit(write_json(replace(outcome, after=outcome.before)))
        return
    change = rollback_change(standing, reason)
    print_change(console, standing.loaded.plan, state, change, standing.platform.describe())
    now = datetime.now(UTC)
    if dry_run:
        checked = _dry_run(console, standing, change)
        if json_output:
            proposed = proposed_state(state, change)
            shown = after_of(standing, proposed, "rollback", now, comment=change.comment)
            emit(write_json(replace(outcome, result=DRY_RUN, after=shown, validated_by=checked)))
        return
    confirm_write("Roll back?", yes, json_output, lambda why: write_json(outcome.refused(why)))
    journal = open_journal(loaded.base_dir, records_file, "rollback")
    try:
        after = apply_rollback(journal, standing, change, reason, now)
    finally:
        report_journal(journal)
    if after.on:
        console.print(f"[green]rolled back:[/] treatment now {after.percent:g}%, flag still on")
    else:
        console.print(
            f"[green]rolled back:[/] treatment share now {after.percent:g}%; the flag stays "
            "off (killed): nobody is served the treatment"
        )
    if json_output:
        snapshot = after_of(standing, after, "rollback", now, comment=change.comment)
        emit(write_json(replace(outcome, after=snapshot).settled(APPLIED, journal)))


@reports_errors
@json_errors
def reduce(
    plan: PlanArgument,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The stage to step back to (name or percentage, e.g. 5%); default: the "
            "previous stage.",
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why, for the change note and the record.")
    ] = "requested with rollout reduce",
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Step back to an earlier stage and pause there until rollout resume.

    The treatment keeps being served at the lower stage (unlike rollback, which sets 0%
    and stops the rollout); watch --auto does the same when a guardrail with on_pause:
    reduce reaches its pause tier."""
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.outcome import APPLIED, DRY_RUN, after_of, outcome_for, proposed_state
    from rolloutcli.app.reduce import (
        COMMAND,
        pause_reason,
        reduce_change,
        reduce_index,
        reduce_recorded,
    )
    from rolloutcli.app.standing import read_standing
    from rolloutcli.judge.flagstate import PauseMark
    from rolloutcli.render.console import print_change
    from rolloutcli.render.contract import write_json

    loaded = load(plan, plans_dir)
    standing = read_standing(loaded)
    console = human(json_output)
    outcome = replace(outcome_for(standing, COMMAND, COMMAND, APPLIED), reason=reason)
    change = reduce_change(standing, reduce_index(standing, to), reason)
    print_change(console, loaded.plan, standing.state, change, standing.platform.describe())
    now = datetime.now(UTC)
    if dry_run:
        checked = _dry_run(console, standing, change)
        if json_output:
            mark = PauseMark(now, None, pause_reason(standing, change, reason))
            proposed = replace(proposed_state(standing.state, change), paused=mark)
            shown = after_of(standing, proposed, "pause", now, stage=change.stage)
            emit(write_json(replace(outcome, result=DRY_RUN, after=shown, validated_by=checked)))
        return
    confirm_write(
        f"Reduce to {change.stage} and pause?",
        yes,
        json_output,
        lambda why: write_json(outcome.refused(why)),
    )
    journal = open_journal(loaded.base_dir, records_file, COMMAND)
    decision = {"action": COMMAND, "reason": reason}
    try:
        after = reduce_recorded(journal, standing, change, reason, now, decision=decision)
    finally:
        report_journal(journal)
    console.print(
        f"[green]reduced:[/] treatment now {after.percent:g}% ({escape(str(change.stage))}), "
        f"paused until rollout resume {escape(loaded.name)}"
    )
    if json_output:
        mark = PauseMark(now, journal.who, pause_reason(standing, change, reason))
        snapshot = after_of(standing, replace(after, paused=mark), "pause", now, stage=change.stage)
        emit(write_json(replace(outcome, after=snapshot).settled(APPLIED, journal)))


@reports_errors
@json_errors
def pause(
    plan: PlanArgument,
    reason: ReasonOption = None,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Stop automatic advancing (watch --auto) until resumed; the flag is not changed.

    Recorded on the platform with its change history. Automatic rollback still works while
    paused, and kill always wins."""
    _set_pause(
        plan,
        True,
        reason or "paused by a person",
        Asked(yes, dry_run, json_output),
        plans_dir,
        records_file,
    )


@reports_errors
@json_errors
def resume(
    plan: PlanArgument,
    reason: ReasonOption = None,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Lift a pause: watch --auto may advance the rollout again."""
    _set_pause(
        plan,
        False,
        reason or "resumed by a person",
        Asked(yes, dry_run, json_output),
        plans_dir,
        records_file,
    )


@reports_errors
@json_errors
def unkill(
    plan: PlanArgument,
    reason: ReasonOption = None,
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Turn a killed flag back on, deliberately: its split, as the kill left it, is served
    again at once (shown before asking).

    Recorded on the platform and in the decision log, and notified. A rolled-back rollout
    stays rolled back (0%): rollout advance PLAN --restart starts it again."""
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.outcome import APPLIED, DRY_RUN, UNCHANGED, after_of, outcome_for
    from rolloutcli.app.standing import read_standing
    from rolloutcli.app.unkill import COMMAND, DEFAULT_REASON, Unkill, unkill_recorded
    from rolloutcli.render.contract import write_json

    loaded = load(plan, plans_dir)
    found = Unkill(read_standing(loaded))
    standing = found.standing
    flag, env = escape(standing.state.flag), escape(standing.platform.environment)
    console = human(json_output)
    why = reason or DEFAULT_REASON
    outcome = replace(outcome_for(standing, COMMAND, COMMAND, UNCHANGED), reason=why)
    if not found.needed:
        console.print(f"flag {flag} is already on in {env}: nothing changed", highlight=False)
        if json_output:
            emit(write_json(replace(outcome, after=outcome.before)))
        return
    where = escape(standing.platform.describe())
    console.print(
        f"unkill: turn flag [bold]{flag}[/] ON in {env} ({where}): {escape(found.serves())}",
        highlight=False,
        soft_wrap=True,
    )
    now = datetime.now(UTC)
    planned = replace(
        outcome, after=after_of(standing, replace(standing.state, on=True), "on", now)
    )
    if dry_run:
        console.print("dry run: nothing was changed.")
        if json_output:
            emit(write_json(replace(planned, result=DRY_RUN)))
        return
    confirm_write(
        "Turn the flag back on?", yes, json_output, lambda why: write_json(outcome.refused(why))
    )
    journal = open_journal(loaded.base_dir, records_file, COMMAND)
    decided = "--yes" if yes else "confirmed"
    try:
        changed = unkill_recorded(journal, found, why, decided, now)
    finally:
        report_journal(journal)
    if json_output:
        settled = planned if changed else replace(outcome, after=outcome.before)
        emit(write_json(settled.settled(APPLIED if changed else UNCHANGED, journal)))
    if not changed:
        console.print(f"flag {flag} was already on in {env}: nothing changed", highlight=False)
        return
    stays = " (the rollout stays rolled back)" if found.rolled_back else ""
    console.print(f"[green]flag {flag} is ON[/] in {env}{stays}", highlight=False)


@dataclass(frozen=True)
class Asked:
    """How a write was asked for: ``--yes``, ``--dry-run``, ``--json``."""

    yes: bool
    dry_run: bool
    json_output: bool


def _set_pause(
    plan: str, paused: bool, reason: str, asked: Asked, plans_dir: Path | None, records: str | None
) -> None:
    from rolloutcli.app.changes import already_paused, set_paused
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.outcome import (
        APPLIED,
        DRY_RUN,
        UNCHANGED,
        after_of,
        outcome_for,
        paused_state,
    )
    from rolloutcli.app.standing import read_standing
    from rolloutcli.render.contract import write_json

    loaded = load(plan, plans_dir)
    standing = read_standing(loaded)
    state = standing.state
    console = human(asked.json_output)
    verb = "pause" if paused else "resume"
    outcome = replace(outcome_for(standing, verb, verb, UNCHANGED), reason=reason)
    if already_paused(standing, paused):
        console.print(
            f"{escape(loaded.name)} is already {'paused' if paused else 'not paused'}: "
            "nothing changed"
        )
        if asked.json_output:
            emit(write_json(replace(outcome, after=outcome.before)))
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
    now = datetime.now(UTC)
    marked = paused_state(state, paused, "", reason, now)
    planned = replace(outcome, after=after_of(standing, marked, verb, now))
    if asked.dry_run:
        console.print("dry run: nothing was changed.")
        if asked.json_output:
            emit(write_json(replace(planned, result=DRY_RUN)))
        return
    confirm_write(
        f"{verb.capitalize()} the rollout?",
        asked.yes,
        asked.json_output,
        lambda why: write_json(outcome.refused(why)),
    )
    journal = open_journal(loaded.base_dir, records, verb)
    try:
        changed = set_paused(journal, standing, paused, reason, now)
    finally:
        report_journal(journal)
    console.print(f"[green]{'paused' if paused else 'resumed'}:[/] {escape(loaded.name)}")
    if asked.json_output:
        settled = planned if changed else replace(outcome, after=outcome.before)
        emit(write_json(settled.settled(APPLIED if changed else UNCHANGED, journal)))
