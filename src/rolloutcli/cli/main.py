"""The `rollout` command line: :func:`main`, and which module holds each command.

One module per group of commands, each thin (parse, call ``rolloutcli.app``, render):
:mod:`~rolloutcli.cli.inspect` (validate, status, verify, who, history),
:mod:`~rolloutcli.cli.check`, :mod:`~rolloutcli.cli.change` (advance, rollback, reduce, pause,
resume, unkill), :mod:`~rolloutcli.cli.kill`, :mod:`~rolloutcli.cli.watch`,
:mod:`~rolloutcli.cli.demo` and :mod:`~rolloutcli.cli.plan`; what they share is in
:mod:`~rolloutcli.cli.base`.

When the command line names a command, only that command's module is imported and
registered: `rollout kill` builds a one-command app, and never imports (or has typer
inspect) the thirteen others. Heavy modules (the verdict engine, scipy, pydantic) are
imported inside the commands that need them. ``app`` (every command) is built on first use,
for tests and for ``rollout --help``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer

from rolloutcli.cli.base import new_app

__all__ = ["app", "build_app", "main"]

COMMANDS: tuple[tuple[str, str], ...] = (
    ("validate", "inspect"),
    ("status", "inspect"),
    ("check", "check"),
    ("advance", "change"),
    ("rollback", "change"),
    ("reduce", "change"),
    ("tune", "tune"),
    ("verify", "inspect"),
    ("who", "inspect"),
    ("kill", "kill"),
    ("unkill", "change"),
    ("watch", "watch"),
    ("wait", "wait"),
    ("pause", "change"),
    ("resume", "change"),
    ("history", "inspect"),
    ("report", "report"),
    ("demo", "demo"),
)
"""Each command and the module in ``rolloutcli.cli`` that holds it, in ``--help``'s order."""
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("plan", "plan", "plan_app"),
    ("records", "records", "records_app"),
)
"""Each command group: its name, module and typer app."""


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with just ``only`` when that names one."""
    known = {name for name, _ in COMMANDS} | {name for name, _, _ in GROUPS}
    wanted = only if only in known else None
    app = new_app()
    for name, module in COMMANDS:
        if wanted in (None, name):
            app.command()(getattr(importlib.import_module(f"rolloutcli.cli.{module}"), name))
    for name, module, attribute in GROUPS:
        if wanted in (None, name):
            group = getattr(importlib.import_module(f"rolloutcli.cli.{module}"), attribute)
            app.add_typer(group, name=name)
    return app


_built: dict[str, typer.Typer] = {}
app: typer.Typer  # every command; made by __getattr__ on first use (PEP 562)


def __getattr__(name: str) -> Any:
    """``app``: every command, built once, on first use."""
    if name == "app":
        return _built.setdefault("app", build_app())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The ``rollout`` entry point: every byte written to stdout and stderr is scrubbed of
    registered secrets (see redact.py), and the environment's secrets are registered before
    any command runs; pydantic's plugins are not loaded."""
    from rolloutcli.support.redact import install_output_scrubbing, register_environment

    register_environment(os.environ)
    install_output_scrubbing()
    # pydantic would otherwise look through every installed package's metadata for plugins
    # (about 17 ms of CPU, a tenth of the import floor) and load any it finds, which would then
    # see every plan this tool validates; a user who sets the variable decides
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ.get("_ROLLOUT_COMPLETE"):
        # a shell asks for completions (see --show-completion): typer renders each option's
        # help for zsh and fish through rich, which folds it at 80 columns; a description
        # must stay on its one line of the answer, whatever width the shell exports
        os.environ["COLUMNS"] = "10000"
    first = sys.argv[1] if len(sys.argv) > 1 else None
    build_app(first)()
