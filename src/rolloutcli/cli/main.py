"""The `rollout` command line. Each command parses, calls the core, and renders; no logic.

Heavy modules (the verdict engine and scipy) are imported inside the commands that need
them, so `rollout --help` and `rollout kill` start fast and never load scipy.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from rolloutcli import __version__
from rolloutcli.support.errors import (
    EXIT_BREACH,
    EXIT_INTERNAL,
    EXIT_OK,
    InvalidInputError,
    PlanError,
    RefusedError,
    RolloutError,
)
from rolloutcli.support.redact import scrub

if TYPE_CHECKING:
    from rolloutcli.app.apply import Journal
    from rolloutcli.app.evaluate import Evaluation
    from rolloutcli.app.standing import Standing
    from rolloutcli.judge.flagstate import RolloutChange
    from rolloutcli.plan.model import LoadedPlan

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


RecordsOption = Annotated[
    Path | None,
    typer.Option(
        "--records",
        help="The decision log (default: ROLLOUT_RECORDS, else .rollout/decisions.jsonl in "
        "the plan's directory).",
        show_default=False,
    ),
]


def _journal(base_dir: Path, records_file: Path | None, command: str) -> Journal:
    """Where this command leaves its decision records and sends its notifications."""
    import os

    from rolloutcli.app.apply import Journal
    from rolloutcli.journal.identity import actor
    from rolloutcli.journal.store import records_path

    path = records_file or records_path(base_dir, os.environ)
    return Journal(path=path, who=actor(), command=command)


def _report_journal(journal: Journal) -> None:
    for warning in journal.warnings:
        err().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def out() -> Console:
    """stdout. No emoji codes (``:100:`` stays text) and no highlighting; markup is the
    tool's own, so every user or server string in it goes through ``escape``."""
    return Console(highlight=False, soft_wrap=False, emoji=False)


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


DEBUG_ENV = "ROLLOUT_DEBUG"


def _internal_error(exc: Exception) -> str:
    """The one line for an exception nobody expected: a bug, reported as such."""
    message = " ".join(scrub(str(exc)).split())[:300]
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"internal error: {detail} (a bug: please report it; {DEBUG_ENV}=1 shows the traceback)"


def reports_errors(command: F) -> F:
    """Turn every error a user can cause into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PlanError as exc:
            for problem in exc.problems:
                err().print(f"[red]error:[/] {escape(scrub(problem))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except RolloutError as exc:
            err().print(f"[red]error:[/] {escape(scrub(str(exc)))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err().print("interrupted: nothing more was changed")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise  # typer's own ways out (an exit code, a usage error): not a bug
        except Exception as exc:
            if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
                raise
            err().print(f"[red]error:[/] {escape(_internal_error(exc))}", highlight=False)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    from rolloutcli.support.timeutil import parse_timestamp

    text = at.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = parse_timestamp(text)
    if parsed is None:
        raise InvalidInputError(f"--at {at!r} is not an ISO 8601 time (e.g. 2026-11-02T10:00Z)")
    return parsed


def _load(ref: str, plans_dir: Path | None) -> LoadedPlan:
    from rolloutcli.plan.locate import resolve_plan_path
    from rolloutcli.plan.model import load_plan

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
    from rolloutcli.plan.locate import resolve_plan_path
    from rolloutcli.plan.model import load_plan

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
    from rolloutcli.app.standing import read_standing
    from rolloutcli.render.console import dumps, print_status, status_json

    standing = read_standing(_load(plan, plans_dir))
    if json_output:
        typer.echo(dumps(status_json(standing)))
    else:
        print_status(out(), standing, _now(at))


class CheckOutput(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


class FailOn(StrEnum):
    WARN = "warn"
    PAUSE = "pause"
    ROLLBACK = "rollback"


@app.command()
@reports_errors
def check(
    plans: Annotated[list[str], typer.Argument(help="Plan files or names.")],
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 when this tier is reached: rollback = any rollback verdict; pause = "
            "any pause or rollback verdict; warn = those, or any guardrail past its warn "
            "threshold. Errors keep their own exit codes (2, 3).",
            show_default=False,
        ),
    ] = None,
    fail_on_breach: Annotated[
        bool,
        typer.Option(
            "--fail-on-breach", help="Exit 1 when any verdict is rollback (= --fail-on rollback)."
        ),
    ] = False,
    output: Annotated[
        CheckOutput | None,
        typer.Option(
            "--output",
            help="text (the default), json (the same as --json), or markdown: a summary for "
            "CI systems and pull-request comments. On GitHub Actions, annotations and the job "
            "summary come in addition, whatever the output.",
            show_default=False,
        ),
    ] = None,
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
    pool, and one plan's error never hides the others' verdicts.

    On GitHub Actions (GITHUB_ACTIONS=true) it also writes annotations (::error, ::warning,
    ::notice; on stderr when stdout carries json or markdown) and appends a markdown summary
    to $GITHUB_STEP_SUMMARY."""
    import os

    from rolloutcli.app.evaluate import evaluate_many

    if json_output and output not in (None, CheckOutput.JSON):
        raise InvalidInputError(f"--json and --output {output} disagree: give one of them")
    fmt = CheckOutput.JSON if json_output else output or CheckOutput.TEXT
    if explain and fmt is CheckOutput.MARKDOWN:
        raise InvalidInputError("--explain prints text or json: drop --output markdown")
    now = _now(at)
    loaded: list[LoadedPlan | RolloutError] = []
    for ref in plans:
        try:
            loaded.append(_load(ref, plans_dir))
        except RolloutError as exc:
            loaded.append(exc)
    if explain:
        _explain(loaded, plans, now, fmt is CheckOutput.JSON)
        return
    from rolloutcli.cli.cifiles import append_step_summary, read_plan_file
    from rolloutcli.render.console import check_json, dumps, print_check
    from rolloutcli.render.markdown import (
        PlanFile,
        annotations,
        fails,
        github_actions,
        markdown_report,
    )

    github = github_actions(os.environ)
    reporting = github is not None or fmt is CheckOutput.MARKDOWN
    workspace = github.workspace if github is not None else None
    good = [item for item in loaded if not isinstance(item, RolloutError)]
    evaluations = iter(evaluate_many(good, now, concurrency))
    results: list[dict[str, Any]] = []
    files: list[PlanFile | None] = []
    worst_error = 0
    console = out()
    shown = 0
    for ref, item in zip(plans, loaded, strict=True):
        outcome = item if isinstance(item, RolloutError) else next(evaluations)
        if reporting and not isinstance(item, RolloutError):
            files.append(read_plan_file(item, workspace))
        else:
            files.append(None)
        if isinstance(outcome, RolloutError):
            problems = outcome.problems if isinstance(outcome, PlanError) else [str(outcome)]
            prefix = "" if isinstance(outcome, PlanError) else f"{ref}: "
            for problem in problems:
                err().print(f"[red]error:[/] {escape(prefix + problem)}")
            worst_error = max(worst_error, outcome.exit_code)
            results.append({"plan": ref, "error": "; ".join(problems)})
            continue
        results.append(check_json(outcome))
        if fmt is CheckOutput.TEXT:
            if shown:
                console.print()
            print_check(console, outcome)
            shown += 1
    if fmt is CheckOutput.JSON:
        typer.echo(dumps(results[0] if len(plans) == 1 else results))
    elif fmt is CheckOutput.MARKDOWN:
        typer.echo(markdown_report(results, files), nl=False)
    if github is not None:
        # The runner reads workflow commands on stdout and stderr alike; stderr keeps them out
        # of a JSON or markdown document on stdout.
        for line in annotations(results, files):
            typer.echo(line, err=fmt is not CheckOutput.TEXT)
        if github.step_summary is not None:
            unwritten = append_step_summary(github.step_summary, markdown_report(results, files))
            if unwritten:
                err().print(f"[yellow]warning:[/] {escape(unwritten)}")
    if worst_error:
        raise typer.Exit(worst_error)
    tiers = [fail_on.value] if fail_on else []
    if fail_on_breach:
        tiers.append(FailOn.ROLLBACK.value)
    if any(fails(results, tier) for tier in tiers):
        raise typer.Exit(EXIT_BREACH)


def _explain(
    loaded: list[LoadedPlan | RolloutError], refs: list[str], now: datetime, json_output: bool
) -> None:
    """``check --explain``: each plan's metrics queries as they would be sent."""
    from rolloutcli.app.evaluate import explain_queries
    from rolloutcli.render.console import dumps, explain_json, print_explain

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
    records_file: RecordsOption = None,
) -> None:
    """Check, and on `go` move to the next stage after showing the change and asking.

    This is also how a person approves a stage the plan's automation policy leaves to a
    person. A paused rollout is refused: `rollout resume` first."""
    from rolloutcli.app.evaluate import evaluate

    now = datetime.now(UTC)
    loaded = _load(plan, plans_dir)
    journal = _journal(loaded.base_dir, records_file, "advance")
    run_advance(evaluate(loaded, now), yes, dry_run, now, journal)


def run_advance(
    evaluation: Evaluation,
    yes: bool,
    dry_run: bool,
    now: datetime,
    journal: Journal | None = None,
) -> None:
    """Show the verdict; on `go` show the change, confirm, apply. Exit 1 on rollback."""
    from rolloutcli.app.apply import apply_recorded
    from rolloutcli.app.evaluate import advance_change
    from rolloutcli.app.standing import apply_change
    from rolloutcli.render.console import decision_json, print_change, print_check

    console = out()
    print_check(console, evaluation)
    verdict, standing = evaluation.verdict, evaluation.standing
    kind = verdict.kind.value
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
    confirm("Apply this change?", yes)
    if journal is None:
        after = apply_change(standing, change, now)
    else:
        decision = {"action": "advance", "reason": "--yes" if yes else "confirmed"}
        try:
            after = apply_recorded(
                journal, standing, change, now, verdict=decision_json(evaluation), decision=decision
            )
        finally:
            _report_journal(journal)
    console.print(
        f"[green]applied:[/] treatment now {after.percent:g}% (stage {escape(str(change.stage))})"
    )
    _report_serving(console, replace(standing, state=after))


def _report_serving(console: Console, standing: Standing, sample: int = 10_000) -> bool:
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


@app.command()
@reports_errors
def rollback(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why, for the change note and the record.")
    ] = "requested with rollout rollback",
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Treatment share to 0% for everyone; the flag stays on, serving control."""
    from rolloutcli.app.apply import apply_recorded
    from rolloutcli.app.standing import read_standing, rollback_change
    from rolloutcli.render.console import print_change

    loaded = _load(plan, plans_dir)
    standing = read_standing(loaded)
    console = out()
    state = standing.state
    if state.percent == 0 and not state.audience_keys and not state.audience_segment:
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
    journal = _journal(loaded.base_dir, records_file, "rollback")
    try:
        after = apply_recorded(
            journal,
            standing,
            change,
            datetime.now(UTC),
            decision={"action": "rollback", "reason": reason},
        )
    finally:
        _report_journal(journal)
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
    from rolloutcli.app.standing import read_standing

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
    from rolloutcli.app.standing import explain_serving, read_standing

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


KillPlatformOption = Annotated[
    str | None,
    typer.Option(
        "--platform",
        help="Kill with no plan: flagfile, unleash or launchdarkly (with --flag, "
        "--environment; tokens come from the environment).",
        show_default=False,
    ),
]
KillFlagOption = Annotated[
    str | None,
    typer.Option("--flag", help="With --platform: the flag key.", show_default=False),
]
KillEnvironmentOption = Annotated[
    str | None,
    typer.Option(
        "--environment",
        help="With --platform: the environment (required for unleash and launchdarkly).",
        show_default=False,
    ),
]
KillProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="With --platform: the project (unleash: default; launchdarkly: required).",
        show_default=False,
    ),
]
KillUrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="With --platform: the server (default: UNLEASH_URL, or LD_BASE_URL).",
        show_default=False,
    ),
]
KillDeadlineOption = Annotated[
    str | None,
    typer.Option(
        "--deadline",
        help="The longest the kill may take, retries included: 20s, 45s, 1m (default: "
        "ROLLOUT_HTTP_DEADLINE, else 20s).",
        show_default=False,
    ),
]


@app.command()
@reports_errors
def kill(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="PLAN_OR_FLAG",
            help="Plan or flag key (or the flag's address in the options).",
            show_default=False,
        ),
    ] = None,
    yes: YesFlag = False,
    flag_file: Annotated[
        Path | None,
        typer.Option("--flag-file", help="Kill FLAG in this flagd file, no plan needed."),
    ] = None,
    platform: KillPlatformOption = None,
    flag: KillFlagOption = None,
    environment: KillEnvironmentOption = None,
    project: KillProjectOption = None,
    url: KillUrlOption = None,
    deadline: KillDeadlineOption = None,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Turn the flag off, now. Needs only the flag's address: works on a broken plan, or
    with no plan at all (--platform/--flag/--environment, or --flag-file).

    Retries rate limits (429) and server errors (5xx) within --deadline and says what it
    did. The flag is turned off first; the decision record and the notifications follow,
    and neither can stop or delay the kill beyond its own short deadline."""
    from rolloutcli.app import killtarget
    from rolloutcli.app.apply import kill_recorded, lenient_hooks
    from rolloutcli.plan.locate import default_plans_dir
    from rolloutcli.support import deadlines

    if deadline is not None:
        seconds = deadlines.parse_deadline(deadline, "--deadline")
    else:
        try:
            seconds = deadlines.default_deadline()
        except InvalidInputError as exc:  # a bad setting must not stop a kill: say it, go on
            seconds = deadlines.DEFAULT_DEADLINE
            err().print(f"[yellow]warning:[/] {escape(str(exc))}; using {seconds:g}s")
            os.environ.pop(deadlines.ENV_DEADLINE, None)  # for the platform's client too
    address = killtarget.Address(platform, flag, environment, project, url, flag_file)
    found = killtarget.find(target, address, plans_dir)
    key, env = escape(found.flag), escape(killtarget.in_environment(found))
    where = escape(killtarget.place(found))
    console = out()
    console.print(f"kill: turn flag [bold]{key}[/] OFF{env} ({where})", emoji=False, soft_wrap=True)
    confirm("Turn the flag off?", yes)
    if found.path is not None:
        base = found.path.parent
    elif (plans_dir or default_plans_dir()).is_dir():
        base = plans_dir or default_plans_dir()
    else:
        base = (flag_file or Path(".")).parent
    journal = _journal(base, records_file, "kill")

    def report(changed: bool) -> None:
        did = escape(killtarget.tried(scope))
        if changed:
            line = f"[bold red]flag {key} is OFF[/]{env} ({where}; {did})"
        else:
            line = f"flag {key} was already off{env} ({where}; {did}): nothing changed"
        console.print(line, emoji=False, soft_wrap=True)

    with deadlines.budget(seconds, killtarget.KILL_BACKOFF, killtarget.KILL_READ_SHARE) as scope:
        try:
            kill_recorded(
                journal,
                found.platform,
                found.plan,
                found.path,
                found.flag,
                found.kind,
                lenient_hooks(found.path),
                "rolloutcli kill: flag turned off by on-call",
                datetime.now(UTC),
                environment=found.label,
                turned_off=report,
            )
        except RolloutError as exc:
            if scope.attempts:  # which attempts failed how, on the error's one line
                exc.args = (f"{exc}; {killtarget.attempts_note(scope)}",)
            raise
        finally:
            _report_journal(journal)


@app.command()
@reports_errors
def watch(
    plans: Annotated[list[str], typer.Argument(help="Plan files or names.")],
    interval: Annotated[
        str, typer.Option("--interval", help="Time between checks: 30s, 5m, 1h.")
    ] = "5m",
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="Act on verdicts as each plan's automation policy allows (advance, pause, "
            "roll back; at most one stage per check). Without it, watch only reports.",
        ),
    ] = False,
    once: Annotated[
        bool,
        typer.Option("--once", help="One round, then exit (for scheduled CI jobs)."),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="With --once: run the round as of this moment (ISO 8601), to rehearse a "
            "policy on recorded metrics; changes are stamped with that time.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Metrics queries in flight at once."),
    ] = None,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Re-check plans every interval in a live view; with --auto, run them hands-off.

    Stateless: each round starts from the platform's state, so a restarted watch (or a
    scheduled `watch --auto --once`) continues where the rollout stands. Ctrl-C stops after
    the current round; nothing is left half-done. With --once the exit code is 1 when a
    verdict was rollback, 3 or 4 when a plan could not be checked or changed."""
    import signal
    import threading

    from rich.live import Live

    from rolloutcli.app.watch import run_round
    from rolloutcli.render.console import decision_json, watch_view
    from rolloutcli.support.durations import parse_duration

    try:
        every = parse_duration(interval)
    except ValueError as exc:
        raise InvalidInputError(f"--interval: {exc}") from None
    if every.total_seconds() <= 0:
        raise InvalidInputError("--interval must be positive, e.g. 5m")
    if at is not None and not once:
        raise InvalidInputError("--at needs --once (a rehearsal is one round at one moment)")
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C forces

    try:
        previous = signal.signal(signal.SIGINT, request_stop)
    except ValueError:  # not the main thread: Ctrl-C behaves as usual
        previous = None
    console = out()
    mode = "auto" if auto else "report only"

    def one_round() -> tuple[list[Any], datetime]:
        now = _now(at)
        journals: dict[Path, Journal] = {}

        def journal_for(loaded: LoadedPlan) -> Journal:
            if loaded.base_dir not in journals:
                journals[loaded.base_dir] = _journal(
                    loaded.base_dir, records_file, "watch --auto" + (" --once" if once else "")
                )
            return journals[loaded.base_dir]

        return run_round(
            plans,
            plans_dir,
            now,
            auto=auto,
            journal_for=journal_for,
            describe=decision_json,
            concurrency=concurrency,
        ), now

    def footer(now: datetime) -> str:
        from rolloutcli.support.timeutil import format_timestamp

        if once:
            return f"checked {format_timestamp(now)} · {mode}"
        nxt = format_timestamp(now + every)
        return f"checked {format_timestamp(now)} · {mode} · next check {nxt} · Ctrl-C stops"

    try:
        if once or not console.is_terminal:
            while True:
                rounds, now = one_round()
                console.print(watch_view(rounds, now, footer(now)))
                if once or stop.wait(every.total_seconds()):
                    break
                console.print()
        else:
            rounds, now = one_round()
            with Live(
                watch_view(rounds, now, footer(now)), console=console, auto_refresh=False
            ) as live:
                while not stop.wait(every.total_seconds()):
                    rounds, now = one_round()
                    live.update(watch_view(rounds, now, footer(now)), refresh=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        err().print("stopped watching: nothing is left half-done")
        return
    if once:
        codes = [r.exit_code or r.action_exit_code for r in rounds]
        worst = max(codes, default=0)
        if worst:
            raise typer.Exit(worst)
        if any(
            r.evaluation is not None and r.evaluation.verdict.kind.value == "rollback"
            for r in rounds
        ):
            raise typer.Exit(EXIT_BREACH)


def _set_pause(
    plan: str, paused: bool, reason: str, yes: bool, plans_dir: Path | None, records: Path | None
) -> None:
    from rolloutcli.app.apply import pause_recorded
    from rolloutcli.app.standing import read_standing

    loaded = _load(plan, plans_dir)
    standing = read_standing(loaded)
    state = standing.state
    console = out()
    verb = "pause" if paused else "resume"
    if (state.paused is not None) == paused:
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
    journal = _journal(loaded.base_dir, records, verb)
    try:
        pause_recorded(journal, standing, paused, reason, datetime.now(UTC))
    finally:
        _report_journal(journal)
    console.print(f"[green]{'paused' if paused else 'resumed'}:[/] {escape(loaded.name)}")


ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", "-m", help="Why (kept in the platform's history and the record)."),
]


@app.command()
@reports_errors
def pause(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    reason: ReasonOption = None,
    yes: YesFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Stop automatic advancing (watch --auto) until resumed; the flag is not changed.

    Recorded on the platform with its change history. Automatic rollback still works while
    paused, and kill always wins."""
    _set_pause(plan, True, reason or "paused by a person", yes, plans_dir, records_file)


@app.command()
@reports_errors
def resume(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    reason: ReasonOption = None,
    yes: YesFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Lift a pause: watch --auto may advance the rollout again."""
    _set_pause(plan, False, reason or "resumed by a person", yes, plans_dir, records_file)


@app.command()
@reports_errors
def history(
    plan: Annotated[str, typer.Argument(help="Plan file or name.")],
    json_output: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest entries to show.")] = 50,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Decision records and the platform's own change history, merged, newest first.

    Works on a plan that no longer validates (only flag: and platform: are read). Exit 3
    when the platform's history could not be read (the records are still shown)."""
    import os

    from rolloutcli.journal.record import merge_history
    from rolloutcli.journal.store import read, records_path
    from rolloutcli.plan.address import load_flag_address
    from rolloutcli.plan.locate import resolve_plan_path
    from rolloutcli.platforms import open_platform
    from rolloutcli.render.console import dumps, history_json, print_history

    path = resolve_plan_path(plan, plans_dir)
    name, address, base_dir = load_flag_address(path)
    log = records_file or records_path(base_dir, os.environ)
    stored = read(log)
    problem: RolloutError | None = None
    try:
        platform = open_platform(address.platform, address.flag, base_dir, name)
        changes = platform.history()
    except RolloutError as exc:
        problem, changes = exc, []
    entries = merge_history(stored.entries, changes, name, address.flag)[:limit]
    if json_output:
        typer.echo(dumps(history_json(entries)))
    else:
        print_history(out(), name, address.flag, log, entries)
    if stored.skipped:
        lines = ", ".join(str(n) for n in stored.skipped[:10])
        err().print(
            f"[yellow]warning:[/] {escape(str(log))}: {len(stored.skipped)} unreadable line(s) "
            "skipped "
            f"(line {lines}): a write was cut off",
            highlight=False,
        )
    if problem is not None:
        err().print(
            f"[red]error:[/] platform history not read: {escape(str(problem))}", highlight=False
        )
        raise typer.Exit(problem.exit_code)


@app.command()
@reports_errors
def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write the demo workspace (default: a new temp dir)."),
    ] = None,
) -> None:
    """Run a whole rollout step on the embedded default (local flag file + local metrics)."""
    _run_demo(out(), directory)


def _run_demo(console: Console, directory: Path | None) -> None:
    from rolloutcli.app.demo import DEMO_NOW, DEMO_PLAN, write_workspace
    from rolloutcli.app.evaluate import evaluate
    from rolloutcli.app.standing import read_standing
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


@plan_app.command("schema")
@reports_errors
def plan_schema() -> None:
    """Print the plan's JSON Schema (point your editor's YAML support at it)."""
    import json

    from rolloutcli.plan.model import plan_json_schema

    typer.echo(json.dumps(plan_json_schema(), indent=2))


@plan_app.command("suggest")
@reports_errors
def plan_suggest(
    flag: Annotated[str, typer.Argument(help="The flag key the plan rolls out.")],
    metrics_source: Annotated[
        str, typer.Option("--metrics-source", help="prometheus, datadog or file.")
    ],
    ratio: Annotated[
        list[str] | None,
        typer.Option(
            "--ratio",
            help="A ratio guardrail: NAME=EVENTS/TRIALS (metric names), e.g. "
            "error_rate=errors/requests. Repeatable.",
            show_default=False,
        ),
    ] = None,
    mean: Annotated[
        list[str] | None,
        typer.Option(
            "--mean",
            help="A mean guardrail: NAME=METRIC, e.g. p99_latency=latency_p99_ms. Repeatable.",
            show_default=False,
        ),
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            help="NAME=TEMPLATE for each metric (prometheus, datadog), with {cohort} "
            "{role} {flag} {window} placeholders. Repeatable.",
            show_default=False,
        ),
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(
            "--step", help="METRIC=5m: one value per step for a mean's query.", show_default=False
        ),
    ] = None,
    detect: Annotated[
        list[str] | None,
        typer.Option(
            "--detect",
            help="The smallest regression each stage must see: 20% (every guardrail, in its "
            "worse direction; default 20%) or NAME=10%. Repeatable.",
            show_default=False,
        ),
    ] = None,
    lower_is_worse: Annotated[
        list[str] | None,
        typer.Option(
            "--lower-is-worse", help="NAME: a guardrail where lower is worse.", show_default=False
        ),
    ] = None,
    log: Annotated[
        list[str] | None,
        typer.Option(
            "--log", help="NAME: compare a mean on the log scale (latencies).", show_default=False
        ),
    ] = None,
    exposures: Annotated[
        str | None,
        typer.Option(
            "--exposures",
            help="Counter of units per cohort (default: the first ratio's trials).",
            show_default=False,
        ),
    ] = None,
    stages: Annotated[
        str, typer.Option("--stages", help="Stage percentages, the last 100.")
    ] = "1,5,10,25,50,100",
    lookback: Annotated[str, typer.Option("--lookback", help="History to read.")] = "14d",
    power: Annotated[float, typer.Option("--power", help="statistics.power.")] = 0.9,
    alpha: Annotated[float, typer.Option("--alpha", help="statistics.alpha.")] = 0.05,
    min_window: Annotated[
        str, typer.Option("--min-window", help="The shortest stage window.")
    ] = "30m",
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Metrics backend URL, written into the plan (default: PROMETHEUS_URL, "
            "or Datadog's site).",
            show_default=False,
        ),
    ] = None,
    site: Annotated[
        str | None, typer.Option("--site", help="Datadog site.", show_default=False)
    ] = None,
    metrics_file: Annotated[
        str | None,
        typer.Option("--metrics-file", help="The file source's path.", show_default=False),
    ] = None,
    platform: Annotated[
        str, typer.Option("--platform", help="flagfile, unleash or launchdarkly.")
    ] = "flagfile",
    flag_file: Annotated[
        str | None,
        typer.Option(
            "--flag-file",
            help="flagfile: the flagd file, relative to where the plan will be saved.",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option("--project", help="unleash/launchdarkly project.", show_default=False),
    ] = None,
    environment: Annotated[str, typer.Option("--environment")] = "production",
    treatment: Annotated[str, typer.Option("--treatment", help="Treatment variation.")] = "true",
    control: Annotated[str, typer.Option("--control", help="Control variation.")] = "false",
    at: AtOption = None,
) -> None:
    """Draft a plan from the metrics' recent history: stage windows long enough to see
    each --detect regression at --power, thresholds above healthy noise. Prints YAML with
    a comment on every number; save it and edit it."""
    from rolloutcli.app.suggest import SuggestOptions, build_request, suggest_plan

    options = SuggestOptions(
        flag=flag,
        metrics_source=metrics_source,
        url=url,
        site=site,
        metrics_file=metrics_file,
        queries=tuple(query or ()),
        steps=tuple(step or ()),
        ratios=tuple(ratio or ()),
        means=tuple(mean or ()),
        lower_is_worse=tuple(lower_is_worse or ()),
        log=tuple(log or ()),
        exposures=exposures,
        detect=tuple(detect or ()),
        stages=stages,
        lookback=lookback,
        min_window=min_window,
        power=power,
        alpha=alpha,
        platform=platform,
        flag_file=flag_file,
        project=project,
        environment=environment,
        treatment=treatment,
        control=control,
    )
    suggested = suggest_plan(build_request(options, _now(at)))
    typer.echo(suggested.text, nl=False)


def main() -> None:
    """The ``rollout`` entry point: every byte written to stdout and stderr is scrubbed of
    registered secrets (see redact.py), and the environment's secrets are registered before
    any command runs."""
    from rolloutcli.support.redact import install_output_scrubbing, register_environment

    register_environment(os.environ)
    install_output_scrubbing()
    app()
