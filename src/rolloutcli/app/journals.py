"""Where a command's decision records go: ``--records``, else ``ROLLOUT_RECORDS``, else
``.rollout/decisions.jsonl`` beside the plan. Light: `rollout kill` imports it."""

from __future__ import annotations

import os
from pathlib import Path

from rolloutcli.app.apply import Journal
from rolloutcli.journal.identity import actor
from rolloutcli.journal.store import records_path


def open_journal(base_dir: Path, records_file: Path | None, command: str) -> Journal:
    """Where ``command`` leaves its decision records and sends its notifications."""
    path = records_file or records_path(base_dir, os.environ)
    return Journal(path=path, who=actor(), command=command)
