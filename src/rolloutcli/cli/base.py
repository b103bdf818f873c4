"""What every command shares: the typer app, the common options, the consoles, the one way
errors leave (:func:`reports_errors`), asking before a write, and reading ``--at``.

Loaded by every command, ``--help`` included: it imports nothing heavy (no pydantic, no
statistics, nothing of ``rolloutcli.app``); the commands import those where they run.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from rolloutcli import __version__
from rolloutcli.cli.usage import (
    RolloutGroup,
    finish_writes_on_broken_pipe,
    leave_if_stdout_went_away,
    leave_quietly,
    stdout_went_away,
)
from rolloutcli.support.errors import (
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_OK,
    InvalidInputError,
    PlanError,
    RefusedError,
    RolloutError,
    one_line,
)
from rolloutcli.support.redact import scrub

if TYPE_CHECKING:
    from rolloutcli.app.apply import Journal
    from rolloutcli.plan.model import LoadedPlan


def new_app() -> typer.Typer:
    """An empty `rollout` app: its settings and the ``--version`` callback; the commands
    are registered by :func:`rolloutcli.cli.main.build_app`."""
    app = typer.Typer(
        name="rollout",
        help="Progressive feature-flag rollouts with a statistically honest go/no-go.",
        no_args_is_help=True,
        add_completion=True,
        cls=RolloutGroup,
        pretty_exceptions_enable=False,
        # plain help, as git and kubectl print it: fits 80 columns and CI logs, and spares
        # every `rollout --help` the import of rich's markdown and traceback modules
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(invoke_without_command=True)(main_callback)
    return app


F = TypeVar("F", bound=Callable[..., Any])

PlanArgument = Annotated[str, typer.Argument(help="Plan file or name.")]
PlansArgument = Annotated[list[str], typer.Argument(help="Plan files or names.", metavar="PLAN")]
FleetArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Plan files or names (or --all).", metavar="[PLAN]...", show_default=False),
]
AllFlag = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Every plan file (.yaml, .yml) in the plans directory, instead of PLAN names.",
    ),
]
SelectOption = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        metavar="KEY=VALUE",
        help="Only the plans whose labels: match (KEY!=VALUE: do not match); repeatable, "
        "all must match; with --all or named plans. A plan that does not load is reported "
        "whatever the selection.",
        show_default=False,
    ),
]
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
ReplayAtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="As of this moment (ISO 8601, e.g. 2026-11-02T10:00Z): the flag as it stood "
        "then, replayed from the platform's change history, and the metrics up to then.",
        show_default=False,
    ),
]
RecordsOption = Annotated[
    str | None,
    typer.Option(
        "--records",
        help="The decision records: a file, or a postgresql:// URL (default: "
        "ROLLOUT_RECORDS, else records in .rollout/config.toml, else .rollout/decisions.jsonl "
        "in the plan's directory).",
        show_default=False,
    ),
]


class _StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away (``| head -1``): the one quiet way out, not rich's exit 1."""
        stdout_went_away()


def out() -> Console:
    """stdout. No emoji codes (``:100:`` stays text) and no highlighting; markup is the
    tool's own, so every user or server string in it goes through ``escape``. Not a
    terminal (a CI log, a pipe) and no COLUMNS: 80 columns, whatever terminal stderr or
    stdin may be on, so the layout does not depend on where a job happens to run."""
    return _StdoutConsole(highlight=False, soft_wrap=False, emoji=False, width=_piped_width())


PIPED_WIDTH = 80


def _piped_width() -> int | None:
    """80 for stdout that is no terminal (unless COLUMNS says otherwise); else None: the
    terminal's width, as rich finds it."""
    if os.environ.get("COLUMNS", "").strip() or sys.stdout.isatty():
        return None
    return PIPED_WIDTH


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def warn(message: str) -> None:
    """One warning line on stderr (``message`` is plain text, escaped here)."""
    err().print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def report_journal(journal: Journal) -> None:
    """What the decision record and the notifications could not do: warnings, never errors;
    then, dim, the webhooks this environment does not configure (notes)."""
    for warning in journal.warnings:
        warn(warning)
    for note in journal.notes:
        err().print(f"[dim]note: {escape(note)}[/]", highlight=False)


DEBUG_ENV = "ROLLOUT_DEBUG"


def _internal_error(exc: Exception) -> str:
    """The one line for an exception nobody expected: a bug, reported as such."""
    message = " ".join(scrub(str(exc)).split())[:300]
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"internal error: {detail} (a bug: please report it; {DEBUG_ENV}=1 shows the traceback)"


def _file_error(exc: OSError) -> str:
    """The one line for a file the system refused (``--dir`` under a file, a records file
    without write permission): which file, and why; the user can fix it."""
    where = scrub(exc.filename if isinstance(exc.filename, str) else str(exc.filename))
    return one_line(f"{where}: {(exc.strerror or type(exc).__name__).lower()}")


WRITES = frozenset({"advance", "rollback", "kill", "unkill", "pause", "resume", "demo"})
"""The commands that change something: when stdout's reader goes away (``| head -1``) they
finish their work, output discarded, before they exit 141; the others stop at once."""


def reports_errors(command: F) -> F:
    """Turn every error a user can cause into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        finish_writes_on_broken_pipe(command.__name__ in WRITES)
        try:
            result = command(*args, **kwargs)
            leave_if_stdout_went_away()
            return result
        except PlanError as exc:
            for problem in exc.problems:
                err().print(f"[red]error:[/] {escape(scrub(problem))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except RolloutError as exc:
            err().print(f"[red]error:[/] {escape(scrub(str(exc)))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            leave_quietly()  # stdout's reader went away (`| head -1`): not an error
        except KeyboardInterrupt:
            err().print("interrupted: nothing more was changed")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise  # typer's own ways out (an exit code, a usage error): not a bug
        except Exception as exc:
            if isinstance(exc, OSError) and exc.filename is not None:
                err().print(f"[red]error:[/] {escape(_file_error(exc))}", highlight=False)
                raise typer.Exit(EXIT_INVALID) from None
            if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
                raise
            err().print(f"[red]error:[/] {escape(_internal_error(exc))}", highlight=False)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def now_or_at(at: str | None) -> datetime:
    """The moment ``--at`` names (ISO 8601, ``Z`` allowed), else now."""
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


def load(ref: str, plans_dir: Path | None) -> LoadedPlan:
    """The plan a command line names (a file, or a name under ``--plans-dir``), validated."""
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


def main_callback(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"rollout {installed_version()}")
        raise typer.Exit(EXIT_OK)


def installed_version() -> str:
    """The version pip installed (the package's metadata), else the source's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rolloutcli")
    except PackageNotFoundError:
        return __version__
