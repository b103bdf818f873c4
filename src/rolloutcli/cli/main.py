"""The `rollout` command line: :func:`main`, and every command registered on the app.

One module per group of commands, each thin (parse, call ``rolloutcli.app``, render):
:mod:`~rolloutcli.cli.inspect` (validate, status, verify, who, history),
:mod:`~rolloutcli.cli.check`, :mod:`~rolloutcli.cli.change` (advance, rollback, pause,
resume), :mod:`~rolloutcli.cli.kill`, :mod:`~rolloutcli.cli.watch`,
:mod:`~rolloutcli.cli.demo` and :mod:`~rolloutcli.cli.plan`; what they share is in
:mod:`~rolloutcli.cli.base`. Commands are registered here, in the order ``--help`` lists them.

Heavy modules (the verdict engine and scipy) are imported inside the commands that need
them, so `rollout --help` and `rollout kill` start fast and never load scipy.
"""

from __future__ import annotations

import os

from rolloutcli.cli import change, check, demo, inspect, kill, plan, watch
from rolloutcli.cli.base import app

__all__ = ["app", "main"]

for command in (
    inspect.validate,
    inspect.status,
    check.check,
    change.advance,
    change.rollback,
    inspect.verify,
    inspect.who,
    kill.kill,
    watch.watch,
    change.pause,
    change.resume,
    inspect.history,
    demo.demo,
):
    app.command()(command)
app.add_typer(plan.plan_app, name="plan")


def main() -> None:
    """The ``rollout`` entry point: every byte written to stdout and stderr is scrubbed of
    registered secrets (see redact.py), and the environment's secrets are registered before
    any command runs."""
    from rolloutcli.support.redact import install_output_scrubbing, register_environment

    register_environment(os.environ)
    install_output_scrubbing()
    app()
