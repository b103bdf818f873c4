"""The `rollout` command line. Each command parses, calls the core, and renders; no logic.

Heavy modules (the verdict engine and scipy) are imported inside the commands that need
them, so `rollout --help` and `rollout kill` start fast and never load scipy.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import (
    EXIT_BREACH,
    EXIT_OK,
    InvalidInputError,
    PlanError,
    RefusedError,
    RolloutError,
)

if TYPE_CHECKING:
    from .engine import Evaluation, Standing
    from .plan import LoadedPlan
    from .state import RolloutChange

app = typer.Typer(
    name="rollout",
    help="Progressive feature-flag rollouts with a statistically honest go/no-go.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
plan_app = typer.Typer(help="Plan utilities (JSON Schema for editors).", no_args_is_help=True)
app.add_typer(plan_app, name="plan")

F = TypeVar("F", bound=Callable[..., Any])

PlansDir = Annotated[
    Path | None,
    typer.Option(
        "--plans-dir",
        envvar="ROLLOUT_PLANS_DIR",
        help="Where plan names are looked up (default: ./plans).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
DryRunFlag = Annotated[
    bool, typer.Option("--dry-run", help="Show the change and stop; nothing is written.")
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Evaluate as of this moment (ISO 8601, e.g. 2026-11-02T10:00Z) instead of now.",
        show_default=False,
    ),
]


def out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def reports_errors(command: F) -> F:
    """Turn every error a user can cause into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PlanError as exc:
            for problem in exc.problems:
                err().print(f"[red]error:[/] {escape(problem)}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except RolloutError as exc:
            err().print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err().print("interrupted: nothing more was changed")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    from .timeutil import parse_timestamp

    text = at.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = parse_timestamp(text)
    if parsed is None:
        raise InvalidInputError(f"--at {at!r} is not an ISO 8601 time (e.g. 2026-11-02T10:00Z)")
    return parsed


def _load(ref: str, plans_dir: Path | None) -> LoadedPlan:
    from .plan import load_plan, resolve_plan_path

    return load_plan(resolve_plan_path(ref, plans_dir))


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(question: str, yes: bool) -> None:
    """Ask before a write; without a terminal (CI) and without --yes, refuse instead of hanging."""
    if yes:
        return
    if not stdin_is_terminal():
        raise RefusedError("no terminal to confirm on and --yes not given: nothing was changed")
    if not typer.confirm(question, default=False):
        raise RefusedError("declined: nothing was changed")


@app.callback(invoke_without_command=True)
def main_callback(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"rollout {__version__}")
        raise typer.Exit(EXIT_OK)


# ---------------------------------------------------------------------- commands


@app.command()
@reports_errors
def validate(
    plans: Annotated[list[str], typer.Argument(help="Plan files or names.")],
    plans_dir: PlansDir = None,
) -> None:
    """Validate plans: exit 0 if all are valid, 2 otherwise (each problem as file:line: key)."""
    from .plan import load_plan, resolve_plan_path

    failed = False
    for ref in plans:
        try:
            loaded = load_plan(resolve_plan_path(ref, plans_dir))
        except PlanError as exc:
            failed = True
            for problem in exc.problems:
                err().print(f"[red]error:[/] {escape(problem)}")
        except InvalidInputError as exc:
            failed = True
            err().print(f"[red]error:[/] {escape(str(exc))}")
        else:
            out().print(
                f"[green]ok[/] {escape(str(loaded.path))} ({len(loaded.plan.stages)} stages, "
                f"{len(loaded.plan.guardrails)} guardrails)"
            )
    if failed:
        raise typer.Exit(PlanError.exit_code)


@app.command()
@reports_errors
def status(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    json_output: JsonFlag = False,
    at: AtOption = None,
    plans_dir: PlansDir = None,
) -> None:
    """Where the rollout stands, read from the flag platform."""
    from .engine import read_standing
    from .render import dumps, print_status, status_json

    standing = read_standing(_load(plan, plans_dir))
    if json_output:
        typer.echo(dumps(status_json(standing)))
    else:
        print_status(out(), standing, _now(at))


@app.command()
@reports_errors
def check(
    plans: Annotated[list[str], typer.Argument(help="Plan files or names.")],
    fail_on_breach: Annotated[
        bool, typer.Option("--fail-on-breach", help="Exit 1 when any verdict is rollback.")
    ] = False,
    json_output: JsonFlag = False,
    at: AtOption = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print every resolved metrics query (cohort, window, step) and stop: "
            "nothing is queried.",
        ),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Metrics queries in flight at once, shared by all plans "
            "(default: ROLLOUT_QUERY_CONCURRENCY, else 16).",
            show_default=False,
        ),
    ] = None,
    plans_dir: PlansDir = None,
) -> None:
    """Verdict for each plan (read-only): go, hold, pause, rollback or done, with reasons.

    Several plans are checked together: their metrics queries run concurrently over one
    pool, and one plan's error never hides the others' verdicts."""
    from .engine import evaluate_many

    now = _now(at)
    loaded: list[LoadedPlan | RolloutError] = []
    for ref in plans:
        try:
            loaded.append(_load(ref, plans_dir))
        except RolloutError as exc:
            loaded.append(exc)
    if explain:
        _explain(loaded, plans, now, json_output)
        return
    from .render import check_json, dumps, print_check

    good = [item for item in loaded if not isinstance(item, RolloutError)]
    evaluations = iter(evaluate_many(good, now, concurrency))
    results: list[dict[str, Any]] = []
    worst_error = 0
    breach = False
    console = out()
    shown = 0
    for ref, item in zip(plans, loaded, strict=True):
        outcome = item if isinstance(item, RolloutError) else next(evaluations)
        if isinstance(outcome, RolloutError):
            problems = outcome.problems if isinstance(outcome, PlanError) else [str(outcome)]
            prefix = "" if isinstance(outcome, PlanError) else f"{ref}: "
            for problem in problems:
                err().print(f"[red]error:[/] {escape(prefix + problem)}")
            worst_error = max(worst_error, outcome.exit_code)
            results.append({"plan": ref, "error": "; ".join(problems)})
            continue
        breach = breach or outcome.verdict.kind.value == "rollback"
        if json_output:
            results.append(check_json(outcome))
        else:
            if shown:
                console.print()
            print_check(console, outcome)
            shown += 1
    if json_output:
        typer.echo(dumps(results[0] if len(plans) == 1 else results))
    if worst_error:
        raise typer.Exit(worst_error)
    if fail_on_breach and breach:
        raise typer.Exit(EXIT_BREACH)


def _explain(
    loaded: list[LoadedPlan | RolloutError], refs: list[str], now: datetime, json_output: bool
) -> None:
    """``check --explain``: each plan's metrics queries as they would be sent."""
    from .engine import explain_queries
    from .render import dumps, explain_json, print_explain

    results: list[dict[str, Any]] = []
    worst_error = 0
    console = out()
    for index, (ref, item) in enumerate(zip(refs, loaded, strict=True)):
        try:
            if isinstance(item, RolloutError):
                raise item
            explained = explain_queries(item, now)
        except PlanError as exc:
            for problem in exc.problems:
                err().print(f"[red]error:[/] {escape(problem)}")
            worst_error = max(worst_error, exc.exit_code)
            continue
        except RolloutError as exc:
            err().print(f"[red]error:[/] {escape(ref)}: {escape(str(exc))}")
            worst_error = max(worst_error, exc.exit_code)
            continue
        if json_output:
            results.append(explain_json(explained))
        else:
            if index:
                console.print()
            print_explain(console, explained)
    if json_output:
        typer.echo(dumps(results[0] if len(refs) == 1 and results else results))
    if worst_error:
        raise typer.Exit(worst_error)


@app.command()
@reports_errors
def advance(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    plans_dir: PlansDir = None,
) -> None:
    """Check, and on `go` move to the next stage after showing the change and asking."""
    from .engine import evaluate

    now = datetime.now(UTC)
    run_advance(evaluate(_load(plan, plans_dir), now), yes, dry_run, now)


def run_advance(evaluation: Evaluation, yes: bool, dry_run: bool, now: datetime) -> None:
    """Show the verdict; on `go` show the change, confirm, apply. Exit 1 on rollback."""
    from .engine import advance_change, apply_change
    from .render import print_change, print_check

    console = out()
    print_check(console, evaluation)
    verdict, standing = evaluation.verdict, evaluation.standing
    kind = verdict.kind.value
    if kind != "go":
        console.print(f"\nnothing changed: verdict is {kind}.", highlight=False)
        if kind == "rollback":
            console.print(f"to roll back: rollout rollback {standing.loaded.path}")
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
    confirm("Apply this change?", yes)
    after = apply_change(standing, change, now)
    console.print(f"[green]applied:[/] treatment now {after.percent:g}% (stage {change.stage})")
    _report_serving(console, replace(standing, state=after))


def _report_serving(console: Console, standing: Standing, sample: int = 10_000) -> bool:
    """Where the platform's SDK can evaluate the flag offline, say what it serves now."""
    from .engine import serving_check

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
    from .engine import validate_change

    where = validate_change(standing, change)
    console.print(
        "dry run: nothing was changed."
        + (f" {where} accepted the change (validated, not saved)." if where else "")
    )


@app.command()
@reports_errors
def rollback(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    plans_dir: PlansDir = None,
) -> None:
    """Treatment share to 0% for everyone; the flag stays on, serving control."""
    from .engine import apply_change, read_standing, rollback_change
    from .render import print_change

    standing = read_standing(_load(plan, plans_dir))
    console = out()
    state = standing.state
    if state.percent == 0 and not state.audience_keys and not state.audience_segment:
        console.print(f"flag {state.flag} already serves control to everyone: nothing to do.")
        return
    change = rollback_change(standing, "requested with rollout rollback")
    print_change(console, standing.loaded.plan, state, change, standing.platform.describe())
    if dry_run:
        _dry_run(console, standing, change)
        return
    confirm("Roll back?", yes)
    after = apply_change(standing, change, datetime.now(UTC))
    console.print(f"[green]rolled back:[/] treatment now {after.percent:g}%, flag still on")


@app.command()
@reports_errors
def verify(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    sample: Annotated[
        int, typer.Option("--sample", min=100, help="Synthetic contexts to evaluate.")
    ] = 10_000,
    plans_dir: PlansDir = None,
) -> None:
    """What the platform's own SDK serves now, against the stage: exit 1 on a mismatch."""
    from .engine import read_standing

    standing = read_standing(_load(plan, plans_dir))
    if not _supports(standing, "serving_sample"):
        raise InvalidInputError(
            f"verify needs a platform whose SDK evaluates offline (launchdarkly); "
            f"{standing.platform.name} is not one"
        )
    if not _report_serving(out(), standing, sample):
        raise typer.Exit(EXIT_BREACH)


@app.command()
@reports_errors
def who(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    key: Annotated[str, typer.Argument(help="The context key (of the plan's context kind).")],
    plans_dir: PlansDir = None,
) -> None:
    """Which variation one context gets, and why (target, rule, rollout bucket)."""
    from .engine import explain_serving, read_standing

    standing = read_standing(_load(plan, plans_dir))
    if not _supports(standing, "explain"):
        raise InvalidInputError(
            f"who needs a platform whose SDK evaluates offline (launchdarkly); "
            f"{standing.platform.name} is not one"
        )
    found = explain_serving(standing, key)
    assert found is not None
    value, why = found
    out().print(f"{escape(key)} gets {escape(repr(value))}: {escape(why)}", highlight=False)


def _supports(standing: Standing, verb: str) -> bool:
    return callable(getattr(standing.platform, verb, None))


@app.command()
@reports_errors
def kill(
    target: Annotated[str, typer.Argument(metavar="PLAN_OR_FLAG", help="Plan or flag key.")],
    yes: YesFlag = False,
    flag_file: Annotated[
        Path | None,
        typer.Option("--flag-file", help="Kill FLAG in this flagd file, no plan needed."),
    ] = None,
    plans_dir: PlansDir = None,
) -> None:
    """Turn the flag off, now. Needs only the flag's address: works on a broken plan."""
    from .killswitch import find_target

    target_info = find_target(target, flag_file, plans_dir)
    platform = target_info.platform
    console = out()
    console.print(
        f"kill: turn flag [bold]{target_info.flag}[/] OFF in "
        f"[bold]{platform.environment}[/] ({platform.describe()})",
        highlight=False,
    )
    confirm("Turn the flag off?", yes)
    changed = platform.turn_off(target_info.plan, "rolloutcli kill: flag turned off by on-call")
    if changed:
        console.print(f"[bold red]flag {target_info.flag} is OFF[/]")
    else:
        console.print(f"flag {target_info.flag} was already off: nothing changed")


@app.command()
@reports_errors
def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write the demo workspace (default: a new temp dir)."),
    ] = None,
) -> None:
    """Run a whole rollout step on the embedded default (local flag file + local metrics)."""
    from .demo import run_demo

    run_demo(out(), directory)


@plan_app.command("schema")
@reports_errors
def plan_schema() -> None:
    """Print the plan's JSON Schema (point your editor's YAML support at it)."""
    import json

    from .plan import plan_json_schema

    typer.echo(json.dumps(plan_json_schema(), indent=2))


def main() -> None:
    app()
