"""The commands that read and change nothing: validate, status, verify, who, history.
(``check`` has a module of its own: :mod:`rolloutcli.cli.check`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from rolloutcli.cli.base import (
    JsonFlag,
    PlanArgument,
    PlansArgument,
    PlansDir,
    RecordsOption,
    ReplayAtOption,
    err,
    load,
    now_or_at,
    out,
    reports_errors,
    warn,
)
from rolloutcli.cli.scripting import emit, json_errors
from rolloutcli.support.errors import EXIT_BREACH, PlanError

if TYPE_CHECKING:
    from rolloutcli.app.validation import Validated


@reports_errors
def validate(
    plans: PlansArgument,
    plans_dir: PlansDir = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="A file the plan names (flag file, metrics file) that does not exist is an "
            "error, not a warning.",
        ),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Validate plans: exit 0 if all are valid, 2 otherwise (each problem as file:line: key).
    A flag file or metrics file the plan names that does not exist is a warning (an error
    with --strict). --json prints an array, one object per plan."""
    from rolloutcli.app.validation import validate_plan
    from rolloutcli.render.contract import dumps, validate_json

    results = [validate_plan(ref, plans_dir, strict) for ref in plans]
    if json_output:
        typer.echo(dumps(validate_json(results)))
    else:
        for result in results:
            _print_validated(result, strict)
    if not all(result.valid for result in results):
        raise typer.Exit(PlanError.exit_code)


def _print_validated(result: Validated, strict: bool) -> None:
    """A plan's problems and warnings on stderr, or ``ok`` with its size on stdout."""
    for problem in result.problems:
        err().print(f"[red]error:[/] {escape(problem)}", highlight=False)
    for warning in result.warnings:
        err().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if result.valid:
        out().print(
            f"[green]ok[/] {escape(result.path)} ({result.stages} stages, "
            f"{result.guardrails} guardrails)"
        )


@reports_errors
def status(
    plan: PlanArgument,
    json_output: JsonFlag = False,
    at: ReplayAtOption = None,
    plans_dir: PlansDir = None,
) -> None:
    """Where the rollout stands, read from the flag platform."""
    from rolloutcli.app.standing import read_standing
    from rolloutcli.render.console import print_status
    from rolloutcli.render.contract import dumps, status_json

    now = now_or_at(at)
    standing = read_standing(load(plan, plans_dir), now if at is not None else None)
    if json_output:
        typer.echo(dumps(status_json(standing, now)))
    else:
        print_status(out(), standing, now)


@reports_errors
@json_errors
def verify(
    plan: PlanArgument,
    sample: Annotated[
        int, typer.Option("--sample", min=100, help="Synthetic contexts to evaluate.")
    ] = 10_000,
    plans_dir: PlansDir = None,
    json_output: JsonFlag = False,
) -> None:
    """What the platform's own SDK serves now, against the stage: exit 1 on a mismatch."""
    from rolloutcli.app.serving import require_offline_sdk
    from rolloutcli.app.standing import read_standing, serving_check
    from rolloutcli.cli.change import report_serving
    from rolloutcli.render.contract import serving_json

    standing = read_standing(load(plan, plans_dir))
    require_offline_sdk(standing, "verify")
    if json_output:
        check = serving_check(standing, sample)
        assert check is not None  # require_offline_sdk: the platform evaluates offline
        emit(serving_json(standing, check))
        ok = check.ok
    else:
        ok = report_serving(out(), standing, sample)
    if not ok:
        raise typer.Exit(EXIT_BREACH)


@reports_errors
@json_errors
def who(
    plan: PlanArgument,
    key: Annotated[str, typer.Argument(help="The context key (of the plan's context kind).")],
    plans_dir: PlansDir = None,
    json_output: JsonFlag = False,
) -> None:
    """Which variation one context gets, and why (target, rule, rollout bucket)."""
    from rolloutcli.app.serving import require_offline_sdk
    from rolloutcli.app.standing import explain_serving, read_standing
    from rolloutcli.render.contract import who_json

    standing = read_standing(load(plan, plans_dir))
    require_offline_sdk(standing, "who")
    found = explain_serving(standing, key)
    assert found is not None
    value, why = found
    if json_output:
        emit(who_json(standing, key, value, why))
    else:
        out().print(f"{escape(key)} gets {escape(repr(value))}: {escape(why)}", highlight=False)


@reports_errors
def history(
    plan: PlanArgument,
    json_output: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest entries to show.")] = 50,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Decision records and the platform's own change history, merged, newest first.

    Works on a plan that no longer validates (only flag: and platform: are read). Exit 3
    when the platform's history could not be read (the records are still shown)."""
    from rolloutcli.app.history import read_history
    from rolloutcli.render.console import print_history
    from rolloutcli.render.contract import dumps, history_json

    found = read_history(plan, plans_dir, records_file, limit)
    if json_output:
        typer.echo(dumps(history_json(found.entries)))
    else:
        print_history(out(), found.plan, found.flag, found.log, found.entries)
    if found.skipped:
        lines = ", ".join(str(n) for n in found.skipped[:10])
        warn(
            f"{found.log}: {len(found.skipped)} unreadable line(s) skipped "
            f"(line {lines}): a write was cut off"
        )
    if found.spooled:
        err().print(
            f"[dim]note: {found.spooled} record(s) shown from this machine's spool, not yet in "
            f"{escape(found.log)}: sent on the next write that reaches it[/]",
            highlight=False,
        )
    if found.problem is not None:
        err().print(
            f"[red]error:[/] platform history not read: {escape(str(found.problem))}",
            highlight=False,
        )
        raise typer.Exit(found.problem.exit_code)
