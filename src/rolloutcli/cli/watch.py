"""`rollout watch`: re-check plans every interval in a live view; with ``--auto``, act on
the verdicts. :mod:`rolloutcli.app.watchloop` runs the rounds; this module shows them and
turns Ctrl-C into a request to stop after the current round."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, RenderableType

from rolloutcli.cli.base import (
    AllFlag,
    FleetArgument,
    PlansDir,
    RecordsOption,
    SelectOption,
    err,
    now_or_at,
    out,
    reports_errors,
)

if TYPE_CHECKING:
    from rolloutcli.app.watchloop import Round, Watcher

IntervalOption = Annotated[
    str, typer.Option("--interval", help="Time between checks: 30s, 5m, 1h.")
]
AutoFlag = Annotated[
    bool,
    typer.Option(
        "--auto",
        help="Act on verdicts as each plan's automation policy allows (advance, pause, "
        "roll back; at most one stage per check). Without it, watch only reports.",
    ),
]
OnceFlag = Annotated[
    bool,
    typer.Option("--once", help="One round, then exit (for scheduled CI jobs)."),
]
RehearsalOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="With --once: run the round as of this moment (ISO 8601), to rehearse a "
        "policy on recorded metrics; changes are stamped with that time.",
        show_default=False,
    ),
]


class WatchOutput(StrEnum):
    TEXT = "text"
    NDJSON = "ndjson"


WatchOutputOption = Annotated[
    WatchOutput,
    typer.Option(
        "--output",
        help="text: the view (live on a terminal); ndjson: one JSON object per plan per "
        "round on stdout, one line each, flushed at once (no live view).",
    ),
]
ReportFileOption = Annotated[
    str | None,
    typer.Option(
        "--report",
        metavar="FILE",
        help="After each round, write the HTML report to FILE (atomically): watching one "
        "plan, its report; several, the summary of rollout report --all; FILE with {plan} "
        "in it: one report per plan.",
        show_default=False,
    ),
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--concurrency", min=1, help="Platform reads and metrics queries in flight at once."
    ),
]


@reports_errors
def watch(
    plans: FleetArgument = None,
    all_plans: AllFlag = False,
    select: SelectOption = None,
    interval: IntervalOption = "5m",
    auto: AutoFlag = False,
    once: OnceFlag = False,
    at: RehearsalOption = None,
    concurrency: ConcurrencyOption = None,
    output: WatchOutputOption = WatchOutput.TEXT,
    report: ReportFileOption = None,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Re-check plans every interval in a live view; with --auto, run them hands-off.

    Stateless: each round starts from the platform's state, so a restarted watch (or a
    scheduled `watch --auto --once`) continues where the rollout stands. Ctrl-C stops after
    the current round; nothing is left half-done. With --once the exit code is 1 when a
    verdict was rollback, 3 or 4 when a plan could not be checked or changed. A plan's
    error is on stderr, whatever the output. --all watches every plan of the plans
    directory, looked up anew each round (--select: those whose labels match). --report
    FILE writes the HTML report after each round, so a team can serve it."""
    from rolloutcli.app.fleet import fleet
    from rolloutcli.app.watchloop import Watcher, once_exit_code, watch_interval
    from rolloutcli.render.contract import decision_json

    every = watch_interval(interval, once=once, rehearsal=at is not None)
    chosen = fleet(plans, all_plans, select, plans_dir, "watch")
    watcher = Watcher(
        refs=list(chosen.refs),
        fleet=chosen,
        plans_dir=plans_dir,
        every=every,
        auto=auto,
        once=once,
        records_file=records_file,
        concurrency=concurrency,
        clock=lambda: now_or_at(at),
        describe=decision_json,
    )
    reports = None
    if report is not None:
        from rolloutcli.cli.watchreport import RoundReports

        reports = RoundReports(report, chosen, at is not None, records_file)
    with _ctrl_c_stops() as stop:
        rounds = watcher.rounds(stop)
        if reports is not None:
            rounds = reports.after_each(rounds)
        if output is WatchOutput.NDJSON:
            last = _stream(watcher, rounds)
        else:
            last = _show(out(), watcher, rounds)
    if stop.is_set():
        err().print("stopped watching: nothing is left half-done")
        return
    if once:
        code = once_exit_code(last.plans) or (reports.exit_code if reports else 0)
        if code:
            raise typer.Exit(code)


@contextmanager
def _ctrl_c_stops() -> Iterator[threading.Event]:
    """An event that the first Ctrl-C sets (a second one interrupts as usual); outside
    the main thread, where signals cannot be handled, Ctrl-C behaves as usual."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C forces

    try:
        previous = signal.signal(signal.SIGINT, request_stop)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield stop
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _stream(watcher: Watcher, rounds: Iterator[Round]) -> Round:
    """Every round until stopped, as ndjson: one line per plan per round. The last round."""
    from rolloutcli.cli.scripting import emit_line
    from rolloutcli.render.contract import watch_event_json

    last: Round | None = None
    for last in rounds:
        _report_errors(last)
        for item in last.plans:
            emit_line(watch_event_json(item, last.now, watcher.auto))
    assert last is not None  # rounds() yields at least one round
    return last


def _show(console: Console, watcher: Watcher, rounds: Iterator[Round]) -> Round:
    """Every round until stopped: one view after another where the output is not a
    terminal (or with --once), else one live view updated in place. The last round."""
    from rich.live import Live

    last = next(rounds)
    if watcher.once or not console.is_terminal:
        console.print(_view(console, watcher, last))
        for last in rounds:
            console.print()
            console.print(_view(console, watcher, last))
        return last
    with Live(_view(console, watcher, last, True), console=console, auto_refresh=False) as live:
        for last in rounds:
            live.update(_view(console, watcher, last, True), refresh=True)
    return last


def _view(
    console: Console, watcher: Watcher, last: Round, fit_screen: bool = False
) -> RenderableType:
    """One round's view (``fit_screen``: cropped to the live screen, footer kept); the
    plans that could not be loaded or checked are reported on stderr instead (errors never
    go to stdout)."""
    from rolloutcli.render.console import watch_view

    _report_errors(last)
    shown = [item for item in last.plans if item.evaluation is not None]
    return watch_view(console, shown, last.now, _footer(watcher, last), fit_screen=fit_screen)


def _report_errors(last: Round) -> None:
    """Each plan's error of this round, one line on stderr."""
    from rich.markup import escape

    for item in last.plans:
        problem = item.error or item.action_error
        if problem:
            err().print(f"[red]error:[/] {escape(item.ref)}: {escape(problem)}", highlight=False)


def _footer(watcher: Watcher, last: Round) -> str:
    from rolloutcli.support.timeutil import format_timestamp

    mode = "auto" if watcher.auto else "report only"
    checked = f"checked {format_timestamp(last.now)} · {mode}"
    if watcher.once:
        return checked
    nxt = format_timestamp(last.now + watcher.every)
    return f"{checked} · next check {nxt} · Ctrl-C stops"
