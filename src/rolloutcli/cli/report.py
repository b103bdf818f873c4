"""`rollout report`: the rollout's story as one self-contained HTML page (charts, lifecycle,
the verdict's table, a retrospective) or as markdown for a pull request; with ``--all``, the
retrospectives of every plan summed up per guardrail (HTML, markdown or a terminal table).

:mod:`rolloutcli.app.report` and :mod:`rolloutcli.app.fleetreport` evaluate; the renderers
are :mod:`rolloutcli.render.report_html`, :mod:`rolloutcli.render.report_markdown`,
:mod:`rolloutcli.render.summary_html` and :mod:`rolloutcli.render.summary_text`. matplotlib
(the single report's charts) is imported only here, and only for HTML.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rolloutcli.cli.base import (
    AllFlag,
    PlansDir,
    RecordsOption,
    SelectOption,
    err,
    load,
    now_or_at,
    out,
    reports_errors,
)
from rolloutcli.support.errors import InvalidInputError

if TYPE_CHECKING:
    from rolloutcli.app.fleetreport import FleetReport


class ReportOutput(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


ReportPlanArgument = Annotated[
    str | None,
    typer.Argument(help="Plan file or name (or --all).", metavar="[PLAN]", show_default=False),
]


HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        help="Write the HTML page to this file (default: print it on stdout).",
        show_default=False,
        dir_okay=False,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Start of the span shown (ISO 8601; default: when the rollout began).",
        show_default=False,
    ),
]
ReportAtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="End of the span, and the verdict shown (ISO 8601; default: now): the flag as "
        "it stood then, replayed from the platform's change history.",
        show_default=False,
    ),
]
ReportOutputOption = Annotated[
    ReportOutput | None,
    typer.Option(
        "--output",
        help="html (the default; a plan's charts need the report extra: pip install "
        "'rolloutcli[report]'), markdown (tables and mermaid charts, for a pull request "
        "or $GITHUB_STEP_SUMMARY) or, with --all, text (tables on the terminal).",
        show_default=False,
    ),
]


@reports_errors
def report(
    plan: ReportPlanArgument = None,
    all_plans: AllFlag = False,
    select: SelectOption = None,
    html: HtmlOption = None,
    since: SinceOption = None,
    at: ReportAtOption = None,
    output: ReportOutputOption = None,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """A report of the rollout: per guardrail, treatment and control over time with the
    interval of the change, thresholds, stage boundaries and decisions; the lifecycle; the
    table behind the verdict; a retrospective.

    With --all (every plan of the plans directory; --select narrows it): how often each
    guardrail's tiers fired across the plans, holds by cause, pauses, rollbacks and their
    restarts, each stage's time against its window.

    The HTML page is self-contained (inline CSS and SVG, nothing fetched): it opens
    offline. Each moment is judged as check --at judges it. Exit 2 when the plan or a time
    is invalid, 3 when the platform or the metrics cannot be read (with --all: when a
    plan's could not; the others are still reported)."""
    fmt = output or ReportOutput.HTML
    if html is not None and fmt is not ReportOutput.HTML:
        raise InvalidInputError(f"--html writes the HTML page: drop --output {fmt.value}")
    moment = now_or_at(at)
    start = _since(since)
    if all_plans or plan is None or select:
        _report_all(
            plan,
            all_plans,
            select,
            html,
            start,
            moment,
            at is not None,
            fmt,
            plans_dir,
            records_file,
        )
        return
    if fmt is ReportOutput.TEXT:
        raise InvalidInputError(
            "--output text is the table of rollout report --all: add --all, or use "
            "--output html or markdown"
        )
    loaded = load(plan, plans_dir)
    from rolloutcli.app.report import build_report

    found = build_report(loaded, moment, start, at is not None, records_file)
    if fmt is ReportOutput.MARKDOWN:
        from rolloutcli.render.report_markdown import report_markdown

        typer.echo(report_markdown(found), nl=False)
        return
    from rolloutcli.render.report_html import report_html

    _page(report_html(found), html)


def _report_all(
    plan: str | None,
    every: bool,
    select: list[str] | None,
    html: Path | None,
    since: datetime | None,
    at: datetime,
    replay_now: bool,
    fmt: ReportOutput,
    plans_dir: Path | None,
    records_file: str | None,
) -> None:
    """``--all`` (or ``--select`` on a plan): the summary, then each plan's error on
    stderr; exit with the highest of their codes."""
    from rolloutcli.app.fleet import fleet
    from rolloutcli.app.fleetreport import build_fleet_report

    chosen = fleet([plan] if plan else None, every, select, plans_dir, "report")
    found = build_fleet_report(chosen, at, since, replay_now, records_file)
    _show_summary(found, fmt, html)
    for line in _failures(found):
        err().print(f"[red]error:[/] {line}", highlight=False)
    if found.exit_code:
        raise typer.Exit(found.exit_code)


def _show_summary(found: FleetReport, fmt: ReportOutput, html: Path | None) -> None:
    if fmt is ReportOutput.TEXT:
        from rolloutcli.render.summary_text import summary_table

        console = out()
        console.print(summary_table(console, found))
    elif fmt is ReportOutput.MARKDOWN:
        from rolloutcli.render.summary_text import summary_markdown

        typer.echo(summary_markdown(found), nl=False)
    else:
        from rolloutcli.render.summary_html import summary_html

        _page(summary_html(found), html)


def _failures(found: FleetReport) -> list[str]:
    from rich.markup import escape

    from rolloutcli.render.summaryview import failures

    return [escape(line) for line in failures(found)]


def _page(page: str, html: Path | None) -> None:
    """The page on stdout, or written to ``html``."""
    if html is None:
        typer.echo(page, nl=False)
        return
    write_page(html, page)


def write_page(path: Path, page: str, option: str = "--html") -> None:
    """Write ``page`` to ``path`` atomically (a reader never sees half a page).
    InvalidInputError, naming ``option``, when it cannot."""
    from rolloutcli.support.atomicfile import write_atomically

    try:
        write_atomically(path, page)
    except OSError as exc:
        raise InvalidInputError(
            f"{option} {path}: cannot write it ({exc.strerror}): give a writable file"
        ) from exc


def _since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        return now_or_at(since)
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("--at", "--since", 1)) from exc
