"""Decision records on disk: an append-only JSON Lines log that survives a killed writer.

One record is one line: a JSON object followed by ``\\n``. What goes *in* a record is
audit.py's business; this module only stores and reads them. It is imported by
``rollout kill``, so it uses the standard library alone (no rich, pydantic, httpx, numpy).

Why a torn line can never be mistaken for a record
--------------------------------------------------
A writer killed with SIGKILL in the middle of ``write()`` can leave part of its line in the
file: on Linux, ``generic_perform_write`` copies a large buffer into the page cache one page
(folio) at a time and stops between two of them when a fatal signal is pending, so the file
keeps a *prefix* of the line. A power cut can also leave a zero-filled or truncated tail.
Such a fragment never parses as a record, because a record is self-delimiting:

- the serialised record starts with ``{`` and ends with the ``}`` that closes it, and
  ``json.dumps`` escapes every control character, so the line holds no ``\\n`` but its
  last byte;
- a JSON text that starts with ``{`` is complete only at its matching ``}``, which is the
  last byte of the record: a proper prefix is an object left open (or, cut inside a
  multi-byte character, not even UTF-8) and fails to parse. It cannot parse as a shorter
  *valid* record.

The only prefix that parses is the whole record without its ``\\n``: that record was written
in full, and it counts. The reader splits on ``b"\\n"`` alone (never ``str.splitlines``,
which would also split on U+2028, U+0085 ... that ``ensure_ascii=False`` leaves unescaped),
so a torn fragment is one unparsable line, reported by number in ``Records.skipped`` and
otherwise ignored. The next ``append`` starts on a fresh line (see ``append``), so the
fragment never glues onto a good record.

POSIX only (``fcntl.flock``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rolloutcli.support.errors import BackendError
from rolloutcli.support.jsonsafe import json_safe

DEFAULT_NAME = ".rollout/decisions.jsonl"
ENV_VAR = "ROLLOUT_RECORDS"
_BACKEND = "decision records"


class RecordsError(BackendError):
    """The decision log could not be written or read (one line, naming the file).

    The caller decides whether that blocks: ``rollout kill`` only warns, since the flag is
    already off when the record is written."""

    def __init__(self, action: str, path: Path, exc: OSError) -> None:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
            super().__init__(
                _BACKEND,
                f"{path} is a symbolic link: refusing to {action} through it",
                f"point {ENV_VAR} at the real file, or replace the link by the file itself",
            )
            self.path = path
            return
        reason = exc.strerror or str(exc)
        named = exc.filename if isinstance(exc.filename, str | bytes | os.PathLike) else None
        if named is not None and Path(os.fsdecode(named)) != path:
            reason = f"{os.fsdecode(named)}: {reason}"  # e.g. the parent folder is a file
        super().__init__(
            _BACKEND,
            f"cannot {action} {path}: {reason}",
            f"set {ENV_VAR} to a file you can write, or fix the permissions",
        )
        self.path = path


@dataclass(frozen=True)
class Records:
    """What a decision log holds: the records in file order, and the lines that are not one.

    ``skipped`` are 1-based line numbers of lines that are not a JSON object (a line torn by
    a killed writer, a hand edit). A reader racing a live writer may also see that writer's
    unfinished last line here; it is complete on the next read."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    spooled: int = 0
    """How many of ``entries`` come from this machine's spool, not yet in a shared store."""


def records_path(plans_dir: Path, environ: Mapping[str, str]) -> Path:
    """``$ROLLOUT_RECORDS`` (a file path) if set and non-empty, else
    ``<plans_dir>/.rollout/decisions.jsonl``."""
    override = environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    return plans_dir / DEFAULT_NAME


def encode(record: Mapping[str, Any]) -> bytes:
    """The record as one line of UTF-8 JSON ending in ``\\n``.

    NaN and infinities become null and datetimes ``2026-11-02T10:00:00Z`` first, so the
    strict encoder (``allow_nan=False``) accepts every record audit.py builds; every string
    is scrubbed of registered secrets on the way (``json_safe``), so no record can hold a
    token, whatever a server echoed into an error. Any other value JSON cannot hold (a set,
    a Path) raises TypeError: a programming error."""
    text = json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any] | None:
    """One line (without its ``\\n``) → the record, or None when it is not a JSON object."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def append(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` to the log at ``path`` as one line; durable when this returns.

    Each step, and why:

    1. Serialise first (``encode``), so a record that cannot be encoded touches no file.
    2. Create the parent directory: the default lives in a ``.rollout`` folder of its own.
    3. Open with ``O_APPEND`` (every write lands at the current end of file, whatever other
       writers did) and ``O_CREAT`` (mode 0o644). ``O_RDWR`` rather than ``O_WRONLY``: step
       5 reads the last byte through the same descriptor.
    4. Take an exclusive ``flock``: writers take turns, so steps 5-6 of one writer never
       interleave with another's (a partial write followed by the rest of the line would
       otherwise let a second writer's line land in the middle). Readers do not lock.
    5. If the file is non-empty and its last byte is not ``\\n``, an earlier writer was
       killed mid-line: start with ``\\n`` so its fragment stays alone on its line (read()
       skips it) instead of gluing onto this record and spoiling both.
    6. Write the whole line, looping on partial writes (``write()`` may write less than
       asked; the rest must follow before anyone else writes, hence the lock).
    7. ``fsync``: a killed *process* loses nothing that reached the page cache, but a crash
       of the machine would; after fsync the record is on disk. A new file also fsyncs its
       directory so the file itself survives a crash.
    8. Unlock and close (closing alone would release the lock too).

    Raises RecordsError (one line naming the file) on any OSError.
    """
    line = encode(record)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, created = _open_for_append(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line
                _write_all(fd, line)
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(path.parent)
    except OSError as exc:
        raise RecordsError("write", path, exc) from exc


def read(path: Path) -> Records:
    """Every record in the log at ``path``, in file order; a missing file is an empty log.

    Needs no lock: appends only ever add bytes at the end, so a reader sees a prefix of the
    log; at worst its last line is still being written and is reported in ``skipped``.
    Blank lines are ignored. Raises RecordsError if the file exists but cannot be read, or
    is a symbolic link (never followed, as in ``append``)."""
    entries: list[dict[str, Any]] = []
    skipped: list[int] = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\n")
                if not line.strip():
                    continue
                value = decode(line)
                if value is None:
                    skipped.append(number)
                else:
                    entries.append(value)
    except FileNotFoundError:
        return Records()
    except OSError as exc:
        raise RecordsError("read", path, exc) from exc
    return Records(entries, skipped)


def _open_for_append(path: Path) -> tuple[int, bool]:
    """(descriptor, whether this call created the file). Never through a symbolic link
    (``O_NOFOLLOW``: ELOOP): the log is not written wherever a link planted beside it
    points; the tool never makes links, so one found there is not the tool's."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(path, flags | os.O_EXCL, 0o644), True
    except FileExistsError:
        return os.open(path, flags, 0o644), False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def matches(
    record: Mapping[str, Any],
    plan: str | None,
    flag: str | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    """Whether ``record`` is one ``read`` asks for (plan or flag, and the time range)."""
    if (plan is not None or flag is not None) and not (
        (plan is not None and record.get("plan") == plan)
        or (flag is not None and record.get("flag") == flag)
    ):
        return False
    if since is None and until is None:
        return True
    from rolloutcli.support.timeutil import parse_timestamp

    at = parse_timestamp(record.get("time"))
    if at is None:
        return False
    return (since is None or at >= since) and (until is None or at <= until)
