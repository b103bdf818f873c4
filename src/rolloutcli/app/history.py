"""`rollout history`: the decision records and the platform's own change history, merged.

Needs only the plan's flag address (``flag:`` and ``platform:``), so it works on a plan
that no longer validates. The platform's history failing to read is not fatal: the records
are still shown, and the problem is handed back for the command to report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rolloutcli.journal.record import HistoryEntry, merge_history
from rolloutcli.journal.records import open_store, records_location
from rolloutcli.plan.address import load_flag_address
from rolloutcli.plan.locate import resolve_plan_path
from rolloutcli.platforms import open_platform
from rolloutcli.support.errors import RolloutError


@dataclass(frozen=True)
class History:
    """What `rollout history` shows, newest first, and what went wrong reading it."""

    plan: str
    flag: str
    log: str
    """Where the records were read (a file, or the store's URL without its password)."""
    entries: list[HistoryEntry]
    skipped: list[int]
    """1-based lines of the decision log that could not be read (a write was cut off)."""
    problem: RolloutError | None
    """Why the platform's history could not be read (the records are still in ``entries``)."""
    spooled: int = 0
    """How many records come from this machine's spool: written while a shared store was
    down, not in it yet (sent on the next write that reaches it)."""


def read_history(
    ref: str, plans_dir: Path | None, records_file: str | Path | None, limit: int
) -> History:
    """The newest ``limit`` entries of the plan's records and its flag's platform history."""
    name, address, base_dir = load_flag_address(resolve_plan_path(ref, plans_dir))
    records = open_store(records_location(base_dir, records_file, os.environ), base_dir)
    stored = records.read(plan=name, flag=address.flag)
    problem: RolloutError | None = None
    try:
        platform = open_platform(address.platform, address.flag, base_dir, name)
        changes = platform.history()
    except RolloutError as exc:
        problem, changes = exc, []
    entries = merge_history(stored.entries, changes, name, address.flag)[:limit]
    return History(
        name, address.flag, records.describe(), entries, stored.skipped, problem, stored.spooled
    )
