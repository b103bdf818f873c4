"""`rollout report`: the rollout's story as one self-contained HTML page (charts, lifecycle,
the verdict's table, a retrospective) or as markdown for a pull request.

:mod:`rolloutcli.app.report` evaluates; the renderers are :mod:`rolloutcli.render.report_html`
and :mod:`rolloutcli.render.report_markdown`. matplotlib (the HTML's charts) is imported only
here, and only for HTML.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rolloutcli.cli.base import (
    PlanArgument,
    PlansDir,
    RecordsOption,
    load,
    now_or_at,
    reports_errors,
)
from rolloutcli.support.errors import InvalidInputError


class ReportOutput(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"


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
        help="html (the default; the charts need the report extra: pip install "
        "'rolloutcli[report]') or markdown (tables and mermaid charts, for a pull request "
        "or $GITHUB_STEP_SUMMARY).",
        show_default=False,
    ),
]


@reports_errors
def report(
    plan: PlanArgument,
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

    The HTML page is self-contained (inline CSS and SVG, nothing fetched): it opens
    offline. Each moment is judged as check --at judges it. Exit 2 when the plan or a time
    is invalid, 3 when the platform or the metrics cannot be read."""
    fmt = output or ReportOutput.HTML
    if html is not None and fmt is ReportOutput.MARKDOWN:
        raise InvalidInputError("--html writes the HTML page: drop --output markdown")
    moment = now_or_at(at)
    start = _since(since)
    loaded = load(plan, plans_dir)
    from rolloutcli.app.report import build_report

    found = build_report(loaded, moment, start, at is not None, records_file)
    if fmt is ReportOutput.MARKDOWN:
        from rolloutcli.render.report_markdown import report_markdown

        typer.echo(report_markdown(found), nl=False)
        return
    from rolloutcli.render.report_html import report_html

    page = report_html(found)
    if html is None:
        typer.echo(page, nl=False)
        return
    try:
        html.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"--html {html}: cannot write it ({exc.strerror}): give a writable file"
        ) from exc


def _since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        return now_or_at(since)
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("--at", "--since", 1)) from exc
