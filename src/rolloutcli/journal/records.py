"""Where decision records are kept: one small interface, two stores, chosen by URL.

* a file path (the default, ``.rollout/decisions.jsonl`` beside the plans): the JSON Lines
  log of store.py, embedded, for one machine;
* ``postgresql://...`` (or ``postgres://``): one append-only table shared by every machine
  (pgstore.py), for a team whose watchers run on ephemeral runners.

Which one: ``--records``, else ``$ROLLOUT_RECORDS``, else the ``records`` key of the
workspace's ``.rollout/config.toml`` (beside the plans), else the default file. Standard
library only until a PostgreSQL store is opened: ``rollout kill`` imports this.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from rolloutcli.journal import store
from rolloutcli.journal.store import DEFAULT_NAME, ENV_VAR, Records
from rolloutcli.support.errors import InvalidInputError

CONFIG_NAME = ".rollout/config.toml"
SPOOL_NAME = ".rollout/records-spool.jsonl"
"""Records a PostgreSQL store could not take yet, beside the plans; sent on the next write."""
URL_SCHEMES = ("postgresql://", "postgres://")


class RecordStore(Protocol):
    """What every records store does: append one record, read records back."""

    def append(self, record: Mapping[str, Any]) -> None:
        """Keep ``record``; idempotent by its ``id`` where the store can tell (PostgreSQL)."""

    def read(
        self,
        plan: str | None = None,
        flag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Records:
        """The records of ``plan`` or of ``flag`` (either matching; neither: all), within
        ``[since, until]`` when given, oldest first."""

    def describe(self) -> str:
        """Where the records are, as it may be shown (never a password)."""


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


def records_location(
    base_dir: Path, option: str | Path | None, environ: Mapping[str, str]
) -> str | Path:
    """``--records``, else ``$ROLLOUT_RECORDS``, else ``.rollout/config.toml``'s
    ``records``, else ``<base_dir>/.rollout/decisions.jsonl``. A URL stays a string; any
    other value is a file path (the config file's relative to ``base_dir``)."""
    for chosen in (option, environ.get(ENV_VAR)):
        if chosen:
            return chosen if is_url(str(chosen)) else Path(chosen).expanduser()
    configured = _configured(base_dir)
    if configured:
        return configured if is_url(configured) else base_dir / Path(configured).expanduser()
    return base_dir / DEFAULT_NAME


def open_store(location: str | Path, spool_dir: Path | None = None) -> RecordStore:
    """The store at ``location``; a PostgreSQL store spools in ``spool_dir`` (the plans'
    directory; default: the current directory)."""
    if is_url(location):
        from rolloutcli.journal.pgstore import PostgresStore

        return PostgresStore(str(location), (spool_dir or Path.cwd()) / SPOOL_NAME)
    return JsonlStore(Path(location))


class JsonlStore:
    """The JSON Lines log (store.py) behind the interface; reads filter in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        store.append(self.path, record)

    def read(
        self,
        plan: str | None = None,
        flag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Records:
        found = store.read(self.path)
        kept = [r for r in found.entries if store.matches(r, plan, flag, since, until)]
        return Records(kept, found.skipped)

    def describe(self) -> str:
        return str(self.path)


def _configured(base_dir: Path) -> str | None:
    """The ``records`` key of ``<base_dir>/.rollout/config.toml``, if the file exists."""
    path = base_dir / CONFIG_NAME
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the workspace configuration: {exc}") from exc
    value = data.get("records")
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{path}: records must be a file path or a postgresql:// URL")
    return value or None


def environ_location(base_dir: Path, option: str | Path | None) -> str | Path:
    """:func:`records_location` with the process environment."""
    return records_location(base_dir, option, os.environ)
