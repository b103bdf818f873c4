"""`rollout records`: the decision records store (``records import``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rolloutcli.cli.base import PlansDir, RecordsOption, err, out, reports_errors

records_app = typer.Typer(help="The decision records store.", no_args_is_help=True)

SourceArgument = Annotated[
    Path, typer.Argument(help="A JSON Lines decision log (e.g. .rollout/decisions.jsonl).")
]


@records_app.command("import")
@reports_errors
def records_import(
    source: SourceArgument, records_file: RecordsOption = None, plans_dir: PlansDir = None
) -> None:
    """Copy every record of a JSON Lines log into the records store (--records, else
    ROLLOUT_RECORDS, else records in the plans directory's .rollout/config.toml). Records
    the store already holds (same id) are not added again: importing twice adds nothing."""
    from rolloutcli.app.recordsimport import import_log

    done = import_log(source, records_file, plans_dir)
    out().print(
        f"{done.added} of {done.read} record(s) added to {done.target} "
        f"({done.read - done.added} already there)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if done.skipped:
        lines = ", ".join(str(n) for n in done.skipped)
        err().print(
            f"warning: {source}: unreadable line(s) skipped: {lines}", markup=False, soft_wrap=True
        )
