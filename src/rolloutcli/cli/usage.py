"""How the command line reads in ``--help`` and in a usage error.

Typer builds every command and parameter itself and offers no hook for their classes, so
:class:`RolloutGroup` (the root app's class) walks what typer built once and gives each
command and parameter the plain behaviour below:

- metavars as git and kubectl print them: ``PLAN...``, ``[PLAN_OR_FLAG]``, ``TEXT``,
  ``[warn|pause|rollback]`` (typer's own read ``{plans}...`` and ``<str>``);
- help text wrapped on spaces only, never inside ``--flag-file`` or ``hands-off``;
- a usage error (a bad choice, a missing argument, an unknown option) is one line on
  stderr, like every other error: ``error: --fail-on 'bogus' is not one of warn, pause,
  rollback``, exit 2;
- a broken pipe on stdout (``rollout check X | head -1``) ends the command quietly, exit
  141, wherever it happens (:func:`stdout_went_away`); a command that changes something
  first finishes its work.

Loaded by every command: it imports nothing but typer.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from typer._click.core import Command, Context, Parameter
from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError
from typer._click.formatting import HelpFormatter
from typer._click.utils import echo
from typer._types import TyperChoice
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.exceptions import Exit

from rolloutcli.support.errors import EXIT_BROKEN_PIPE

__all__ = [
    "RolloutGroup",
    "finish_writes_on_broken_pipe",
    "leave_if_stdout_went_away",
    "leave_quietly",
    "plain_usage_message",
    "stdout_went_away",
]

_TYPE_WORDS = {
    "str": "TEXT",
    "text": "TEXT",
    "path": "PATH",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "boolean": "BOOLEAN",
}
"""The metavar of an option without one of its own, by its type's name."""

_GLUE = "\u2011"
"""Stands in for a hyphen while help text is wrapped, so no line breaks after one."""


class PlainArgument(TyperArgument):
    def make_metavar(self, ctx: Context, *, usage: bool = False) -> str:
        var = self.metavar or (self.name or "").upper()
        if self.nargs != 1 and not var.endswith("..."):
            var += "..."
        return f"[{var}]" if usage and not self.required and not var.startswith("[") else var


class PlainOption(TyperOption):
    def make_metavar(self, ctx: Context) -> str:
        if self.metavar is not None:
            return self.metavar
        if isinstance(self.type, TyperChoice):
            return "[" + "|".join(_choice_words(self.type)) + "]"
        word = _TYPE_WORDS.get(self.type.name, self.type.name.upper().replace(" ", "_"))
        return word + ("..." if self.nargs != 1 else "")


class PlainFormatter(HelpFormatter):
    """Wraps on spaces only: a hyphen is glued to its word while the text is wrapped."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(_glue(prog), _glue(args), prefix)

    def write_text(self, text: str) -> None:
        super().write_text(_glue(text))

    def write_dl(
        self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        super().write_dl([(first, _glue(second)) for first, second in rows], col_max, col_spacing)

    def getvalue(self) -> str:
        return super().getvalue().replace(_GLUE, "-")


class PlainContext(Context):
    formatter_class = PlainFormatter


class PlainCommand(TyperCommand):
    context_class = PlainContext


class PlainUsageError(UsageError):
    """A usage error already put in one line: shown as ``error: ...`` alone."""

    def show(self, file: IO[Any] | None = None) -> None:
        echo(f"error: {self.message}", file=file, err=file is None)


class RolloutGroup(TyperGroup):
    """The root app: plain commands and parameters, one-line usage errors."""

    context_class = PlainContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _make_plain(self)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except PlainUsageError:
            raise
        except UsageError as exc:
            raise PlainUsageError(plain_usage_message(exc), exc.ctx) from None
        except BrokenPipeError:
            leave_quietly()

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlainUsageError:
            raise
        except UsageError as exc:
            raise PlainUsageError(plain_usage_message(exc), exc.ctx) from None
        except BrokenPipeError:
            leave_quietly()


class _Stdout:
    """Whether stdout's reader went away, and whether the running command changes
    something (then it finishes its work with its output discarded)."""

    gone = False
    finish_anyway = False


def finish_writes_on_broken_pipe(finish: bool) -> None:
    """Whether the command about to run finishes its work when stdout's reader goes away:
    one that changes something does (a kill must not stop between the flag and its record
    because ``| head -1`` had its line); one that only reads ends at once."""
    _Stdout.finish_anyway = finish
    _Stdout.gone = False


def stdout_went_away() -> None:
    """A write to stdout broke its pipe. stdout goes to /dev/null from here on, so nothing
    can fail on it again; a command that only reads ends now (:func:`leave_quietly`), one
    that changes something goes on, and :func:`leave_if_stdout_went_away` ends it."""
    _silence_stdout()
    _Stdout.gone = True
    if not _Stdout.finish_anyway:
        leave_quietly()


def leave_if_stdout_went_away() -> None:
    """After a command that finished its work: exit 141 if its output was cut."""
    if _Stdout.gone:
        leave_quietly()


def leave_quietly() -> NoReturn:
    """End the command because stdout's reader went away (``| head -1``): no error and no
    traceback, exit 141 as git and the coreutils do (128 + SIGPIPE: not 0, which could hide a
    check's breach, and not an error a shell without ``pipefail`` would see)."""
    _silence_stdout()
    raise Exit(EXIT_BROKEN_PIPE)


def _silence_stdout() -> None:
    """stdout's file descriptor on /dev/null: what is still buffered for it (and what the
    interpreter flushes at exit) goes nowhere instead of failing on the pipe again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
        os.close(devnull)


def plain_usage_message(exc: UsageError) -> str:
    """The one line for a usage error: what was wrong, and where help is when that says
    more (an unknown option or command, a missing argument)."""
    see = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
    if isinstance(exc, MissingParameter) and exc.param is not None:
        return f"missing {_param_name(exc.param, exc.ctx)}{see}"
    if isinstance(exc, BadParameter) and exc.param is not None:
        message = _sentence(exc.message)
        if isinstance(exc.param.type, TyperChoice):
            words = ", ".join(_choice_words(exc.param.type))
            message = re.sub(r" is not one of .*", f" is not one of {words}", message)
        message = message.replace("valid int range", "valid integer")
        return f"{_param_name(exc.param, exc.ctx)} {message}"
    if isinstance(exc, NoSuchOption):
        guesses = sorted(exc.possibilities or ())
        guess = f"; did you mean {' or '.join(guesses)}?" if guesses else ""
        return f"no such option {exc.option_name}{guess}{see}"
    message = _sentence(exc.format_message())
    return f"{message[:1].lower()}{message[1:]}{see}"


def _param_name(param: Parameter, ctx: Context | None) -> str:
    if isinstance(param, TyperOption):
        return param.opts[0]
    return param.make_metavar(ctx) if ctx is not None else (param.name or "").upper()


def _sentence(text: str) -> str:
    """``text`` on one line without its closing full stop."""
    return " ".join(text.split()).removesuffix(".")


def _choice_words(choice: TyperChoice[Any]) -> list[str]:
    return [str(getattr(value, "value", value)) for value in choice.choices]


def _glue(text: str) -> str:
    return text.replace("-", _GLUE)


def _make_plain(command: Command) -> None:
    """Give ``command``, its parameters and its subcommands the plain classes above (only
    typer's own classes are replaced: a class a command chose itself is kept)."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = PlainArgument
        elif type(param) is TyperOption:
            param.__class__ = PlainOption
    if type(command) is TyperCommand:
        command.__class__ = PlainCommand
    if isinstance(command, TyperGroup):
        if type(command) is TyperGroup:
            command.__class__ = RolloutGroup
        for sub in command.commands.values():
            _make_plain(sub)
