"""`rollout records import`: move an existing JSON Lines decision log into a records store.

Idempotent: a record whose id the store already holds is not added again (PostgreSQL: the
table's unique id; a file store: the ids already in the file), so importing twice adds
nothing. A record from before ids gets a stable one, the digest of its content.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rolloutcli.journal import store
from rolloutcli.journal.pgstore import PostgresStore, record_id
from rolloutcli.journal.records import JsonlStore, open_store, records_location
from rolloutcli.plan.locate import default_plans_dir
from rolloutcli.support.errors import InvalidInputError


@dataclass(frozen=True)
class Imported:
    """What one import did."""

    source: Path
    target: str
    read: int
    added: int
    skipped: list[int]
    """1-based lines of the source that are not a record (a torn write, a hand edit)."""


def import_log(source: Path, records: str | Path | None, plans_dir: Path | None) -> Imported:
    """Every record of the log at ``source`` into the store ``records`` names (default: the
    plans directory's, as for every command)."""
    base_dir = plans_dir or default_plans_dir()
    if not source.is_file():
        raise InvalidInputError(f"{source}: no such decision log (give a .jsonl file)")
    found = store.read(source)
    target = open_store(records_location(base_dir, records, os.environ), base_dir)
    entries = [{**item, "id": record_id(item)} for item in found.entries]
    if isinstance(target, PostgresStore):
        added = target.import_records(entries)
    elif isinstance(target, JsonlStore):
        added = _into_file(target, entries, source)
    else:  # pragma: no cover - every store is one of the two
        raise TypeError(type(target).__name__)
    return Imported(source, target.describe(), len(entries), added, found.skipped)


def _into_file(target: JsonlStore, entries: list[dict[str, object]], source: Path) -> int:
    if target.path.resolve() == source.resolve():
        raise InvalidInputError(f"{source} is already the records store: nothing to import")
    held = {record_id(item) for item in target.read().entries}
    added = 0
    for item in entries:
        if item["id"] not in held:
            target.append(item)
            held.add(str(item["id"]))
            added += 1
    return added
