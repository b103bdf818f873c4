"""`rollout check`: the verdict for each plan (read-only), as text, JSON or markdown, with
GitHub Actions annotations and job summary when running there; and ``check --explain``.

:mod:`rolloutcli.app.check` loads, evaluates and chooses the exit code; this module only
renders. The CI files (the plan's lines, the step summary) are :mod:`rolloutcli.cli.cifiles`'s.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from rolloutcli.cli.base import (
    AllFlag,
    FleetArgument,
    JsonFlag,
    PlansDir,
    ReplayAtOption,
    SelectOption,
    err,
    now_or_at,
    out,
    reports_errors,
    warn,
)
from rolloutcli.support.errors import InvalidInputError, PlanError, RolloutError

if TYPE_CHECKING:
    from rolloutcli.app.check import Checked
    from rolloutcli.app.evaluate import Explained
    from rolloutcli.render.markdown import GithubContext, PlanFile


class CheckOutput(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


class FailOn(StrEnum):
    WARN = "warn"
    PAUSE = "pause"
    ROLLBACK = "rollback"


FailOnOption = Annotated[
    FailOn | None,
    typer.Option(
        "--fail-on",
        help="Exit 1 when this tier is reached: rollback = any rollback verdict; pause = "
        "any pause or rollback verdict; warn = those, or any guardrail past its warn "
        "threshold. Errors keep their own exit codes (2, 3).",
        show_default=False,
    ),
]
FailOnBreachFlag = Annotated[
    bool,
    typer.Option(
        "--fail-on-breach", help="Exit 1 when any verdict is rollback (= --fail-on rollback)."
    ),
]
OutputOption = Annotated[
    CheckOutput | None,
    typer.Option(
        "--output",
        help="text (the default), json (the same as --json), or markdown: a summary for "
        "CI systems and pull-request comments. On GitHub Actions, annotations and the job "
        "summary come in addition, whatever the output.",
        show_default=False,
    ),
]
ExplainFlag = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Print every resolved metrics query (cohort, window, step) and stop: "
        "nothing is queried.",
    ),
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        min=1,
        help="Platform reads and metrics queries in flight at once, shared by all plans "
        "(default: ROLLOUT_QUERY_CONCURRENCY, else 16).",
        show_default=False,
    ),
]


@reports_errors
def check(
    plans: FleetArgument = None,
    all_plans: AllFlag = False,
    select: SelectOption = None,
    fail_on: FailOnOption = None,
    fail_on_breach: FailOnBreachFlag = False,
    output: OutputOption = None,
    json_output: JsonFlag = False,
    at: ReplayAtOption = None,
    explain: ExplainFlag = False,
    concurrency: ConcurrencyOption = None,
    plans_dir: PlansDir = None,
) -> None:
    """Verdict for each plan (read-only): go, hold, pause, rollback or done, with reasons.

    Several plans are checked together: their platforms are read and their metrics
    queried concurrently, and one plan's error never hides the others' verdicts. --all
    checks every plan of the plans directory (--json: always an array), --select only those
    whose labels match; no plan matching is an error (exit 2).

    On GitHub Actions (GITHUB_ACTIONS=true) it also writes annotations (::error, ::warning,
    ::notice; on stderr when stdout carries json or markdown) and appends a markdown summary
    to $GITHUB_STEP_SUMMARY."""
    if json_output and output not in (None, CheckOutput.JSON):
        raise InvalidInputError(f"--json and --output {output} disagree: give one of them")
    fmt = CheckOutput.JSON if json_output else output or CheckOutput.TEXT
    if explain and fmt is CheckOutput.MARKDOWN:
        raise InvalidInputError("--explain prints text or json: drop --output markdown")
    now = now_or_at(at)
    from rolloutcli.app.check import check_plans, exit_code, explain_plans
    from rolloutcli.app.fleet import fleet

    chosen = fleet(plans, all_plans, select, plans_dir)
    picked = chosen.load()
    refs = [ref for ref, _ in picked]
    loaded = [item for _, item in picked]
    replay = at is not None  # the flag as it stood at --at, not only the metrics window
    if explain:
        explained = explain_plans(loaded, now, replay)
        _print_explained(refs, explained, fmt is CheckOutput.JSON, chosen.every)
        return
    checked = check_plans(refs, loaded, now, concurrency, replay)
    _print_checked(checked, fmt, chosen.every)
    code = exit_code(checked, fail_on.value if fail_on else None, fail_on_breach)
    if code:
        raise typer.Exit(code)


def _print_error(ref: str, error: RolloutError) -> str:
    """A plan that could not be checked, on stderr; its problems in one line, for JSON."""
    problems = error.problems if isinstance(error, PlanError) else [str(error)]
    prefix = "" if isinstance(error, PlanError) else f"{ref}: "
    for problem in problems:
        err().print(f"[red]error:[/] {escape(prefix + problem)}")
    return "; ".join(problems)


def _print_checked(checked: list[Checked], fmt: CheckOutput, array: bool = False) -> None:
    """Each plan's verdict (or error) in order, as ``fmt`` asks (JSON: one object for one
    plan, unless ``array``); then, on GitHub Actions, the annotations and the job summary."""
    from rolloutcli.cli.cifiles import read_plan_file
    from rolloutcli.render.console import print_check
    from rolloutcli.render.contract import check_json, dumps
    from rolloutcli.render.markdown import github_actions, markdown_report

    github = github_actions(os.environ)
    reporting = github is not None or fmt is CheckOutput.MARKDOWN
    workspace = github.workspace if github is not None else None
    results: list[dict[str, Any]] = []
    files: list[PlanFile | None] = []
    console = out()
    shown = 0
    for item in checked:
        reads = reporting and item.plan is not None
        files.append(read_plan_file(item.plan, workspace) if reads and item.plan else None)
        if isinstance(item.outcome, RolloutError):
            results.append({"plan": item.ref, "error": _print_error(item.ref, item.outcome)})
            continue
        results.append(check_json(item.outcome))
        if fmt is CheckOutput.TEXT:
            if shown:
                console.print()
            print_check(console, item.outcome)
            shown += 1
    if fmt is CheckOutput.JSON:
        typer.echo(dumps(results[0] if len(checked) == 1 and not array else results))
    elif fmt is CheckOutput.MARKDOWN:
        typer.echo(markdown_report(results, files), nl=False)
    if github is not None:
        _report_to_github(github, results, files, fmt)


def _report_to_github(
    github: GithubContext,
    results: list[dict[str, Any]],
    files: list[PlanFile | None],
    fmt: CheckOutput,
) -> None:
    """Workflow commands (annotations) and the job summary. The runner reads workflow
    commands on stdout and stderr alike; stderr keeps them out of a JSON or markdown
    document on stdout."""
    from rolloutcli.cli.cifiles import append_step_summary
    from rolloutcli.render.markdown import annotations, markdown_report

    for line in annotations(results, files):
        typer.echo(line, err=fmt is not CheckOutput.TEXT)
    if github.step_summary is not None:
        unwritten = append_step_summary(github.step_summary, markdown_report(results, files))
        if unwritten:
            warn(unwritten)


def _print_explained(
    refs: list[str],
    explained: list[Explained | RolloutError],
    json_output: bool,
    array: bool = False,
) -> None:
    """``check --explain``: each plan's metrics queries as they would be sent."""
    from rolloutcli.app.check import worst_error
    from rolloutcli.render.console import print_explain
    from rolloutcli.render.contract import dumps, explain_json

    results: list[dict[str, Any]] = []
    console = out()
    for index, (ref, item) in enumerate(zip(refs, explained, strict=True)):
        if isinstance(item, RolloutError):
            _print_error(ref, item)
        elif json_output:
            results.append(explain_json(item))
        else:
            if index:
                console.print()
            print_explain(console, item)
    if json_output:
        typer.echo(dumps(results[0] if len(refs) == 1 and results and not array else results))
    worst = worst_error(explained)
    if worst:
        raise typer.Exit(worst)
