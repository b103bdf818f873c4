"""Where a command's decision records go: ``--records``, else ``ROLLOUT_RECORDS``, else the
workspace's ``.rollout/config.toml``, else ``.rollout/decisions.jsonl`` beside the plan (see
journal/records.py). Light: `rollout kill` imports it."""

from __future__ import annotations

import os
from pathlib import Path

from rolloutcli.app.apply import Journal
from rolloutcli.journal.identity import actor
from rolloutcli.journal.records import records_location
from rolloutcli.journal.store import DEFAULT_NAME
from rolloutcli.support.errors import InvalidInputError


def open_journal(base_dir: Path, records_file: str | Path | None, command: str) -> Journal:
    """Where ``command`` leaves its decision records and sends its notifications. A broken
    workspace configuration never blocks the action (a kill least of all): the records go
    to the default file, and a warning says why."""
    try:
        location: str | Path = records_location(base_dir, records_file, os.environ)
        problem = None
    except InvalidInputError as exc:
        location = base_dir / DEFAULT_NAME
        problem = f"{exc}; decision records written to {location}"
    journal = Journal(path=location, who=actor(), command=command, spool_dir=base_dir)
    if problem:
        journal.warnings.append(problem)
    return journal
