"""What makes a writing command scriptable: with ``--json`` the human text is suppressed,
stdout holds one JSON document (what changed), nothing is asked, and an error is one JSON
line on stderr (``{"error": ..., "exit_code": ...}``) instead of ``error: ...``."""

from __future__ import annotations

import functools
import io
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from rolloutcli.cli.base import confirm, out
from rolloutcli.support.errors import PlanError, RefusedError, RolloutError
from rolloutcli.support.redact import scrub

F = TypeVar("F", bound=Callable[..., Any])

NO_PROMPT = "--json asks nothing: add --yes to apply (nothing was changed)"


def human(json_output: bool) -> Console:
    """Where the person's text goes: stdout, or nowhere when stdout is for ``--json``."""
    if json_output:
        return Console(file=io.StringIO(), highlight=False, emoji=False)
    return out()


def emit(document: Any) -> None:
    """One JSON document on stdout, flushed."""
    from rolloutcli.render.contract import dumps

    sys.stdout.write(dumps(document) + "\n")
    sys.stdout.flush()


def emit_line(document: Any) -> None:
    """One JSON document on one line of stdout, flushed at once (a stream: ndjson)."""
    from rolloutcli.support.jsonsafe import json_safe

    sys.stdout.write(json.dumps(json_safe(document), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def confirm_write(
    question: str,
    yes: bool,
    json_output: bool,
    refused: Callable[[str], Any] | None = None,
) -> None:
    """Ask before a write (never with ``--json``: that needs ``--yes``). When the write is
    refused and ``--json`` is set, ``refused(why)`` is the document stdout gets before the
    error (exit 1)."""
    try:
        if json_output and not yes:
            raise RefusedError(NO_PROMPT)
        confirm(question, yes)
    except RefusedError as exc:
        if json_output and refused is not None:
            emit(refused(str(exc)))
        raise


def json_errors(command: F) -> F:
    """With ``--json`` (the ``json_output`` argument), an error a user can cause is one JSON
    line on stderr, then its exit code; without it, :func:`rolloutcli.cli.base.reports_errors`
    (which wraps this) prints it as ever."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RolloutError as exc:
            if not kwargs.get("json_output"):
                raise
            error: dict[str, Any] = {"error": scrub(str(exc)).replace("\n", "; ")}
            if isinstance(exc, PlanError):
                error["problems"] = [scrub(problem) for problem in exc.problems]
            error["exit_code"] = exc.exit_code
            sys.stderr.write(json.dumps(error, ensure_ascii=False) + "\n")
            sys.stderr.flush()
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
