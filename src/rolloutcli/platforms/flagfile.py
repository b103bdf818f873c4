"""The embedded platform: a flagd flag-definition JSON file (OpenFeature's flagd format).

The split is written with flagd's ``fractional`` operator, treatment first, weights in
thousandths of a percent (total 100,000). flagd buckets a key as
``hash * total_weight >> 32``, so with a constant total each key keeps its bucket and a key
inside at 10% is still inside at 25%: stages never reshuffle users. An audience (allowlist or
segment) is an ``if`` in front of the split. The plan's exclusion (``exclude:``, keys or a
``$evaluators`` segment) is one more ``if``, outermost, serving the control: flagd looks at it
before the audience and the split, at every stage, 100% included.

Each change is recorded twice: in the flag's ``metadata`` (atomically with the change itself;
``status`` reads when the stage began from it) and as one JSON line appended to
``<file>.history.jsonl`` (the full history). Both comments end with ``(record <id>)``, the
decision record written with the change, and the history line has it as ``record`` too
(``rollout history`` pairs them by it). Writes go to a temporary file in the same
folder, fsync'd, then renamed over the original: a crash never leaves a half-written file.
A lock file serialises writers; a write is refused (conflict) when the file changed since
it was read.

A flag file that is a symbolic link (flagd serving ``/etc/flagd/flags.json``, linked into
the repository) is written *through*: each operation resolves the real file once, and its
lock, temporary file, rename and history all live beside the real file, so the link stays
a link and every writer, by whichever name, takes the same lock. A writer killed between
creating its temporary file and renaming it leaves that file behind; since temporary
files exist only while their writer holds the lock, whoever holds the lock next removes
any it finds. The history file is appended to, never through a symbolic link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutcli.judge.flagstate import (
    ChangeRecord,
    FlagReading,
    FlagShare,
    FlagState,
    KnobReading,
    PauseMark,
    RolloutChange,
)
from rolloutcli.plan.knobvalues import same_value
from rolloutcli.support import deadlines
from rolloutcli.support.errors import BackendError, ConflictError, InvalidInputError
from rolloutcli.support.paths import shown_path
from rolloutcli.support.timeutil import format_timestamp, parse_timestamp

from .base import answers_checked
from .changenote import note_text, split_record, with_record
from .flagknobs import knob_reading, select_value, stamp_knob

if TYPE_CHECKING:
    from rolloutcli.plan.platform_specs import FlagfileSpec

TOTAL_WEIGHT = 100_000  # thousandths of a percent
META = "rolloutcli."
NAME = "flagfile"
TEMP_TAG = ".tmp-"  # temporary files are .<name>.tmp-XXXXXXXX beside the real file
_OLD_TEMP = re.compile(r"[a-z0-9_]{8}")  # before TEMP_TAG: .<name>.XXXXXXXX (mkstemp's)
LOCK_POLL = 0.02  # seconds between two tries of a lock another writer holds


def open_flagfile(
    spec: FlagfileSpec, flag: str, base_dir: Path, plan: str | None = None
) -> FlagFilePlatform:
    assert spec.path is not None  # guaranteed by plan validation
    path = Path(os.path.expanduser(spec.path))
    return FlagFilePlatform(path if path.is_absolute() else base_dir / path, flag, spec.environment)


def _flags_text(flags: dict[str, Any], most: int = 10) -> str:
    """``flags a, b and c`` (the first ``most``, sorted), or ``no flags``."""
    keys = sorted(str(key) for key in flags)
    if not keys:
        return "no flags"
    shown = ", ".join(keys[:most])
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return f"flag{'s' if len(keys) != 1 else ''} {shown}{more}"


@answers_checked
class FlagFilePlatform:
    name = NAME
    shape_hint = "the flag file does not follow flagd's flag-definition format there; fix it"

    def __init__(
        self, path: Path, flag: str, environment: str = "local", *, plan_less: bool = False
    ) -> None:
        self.path = path
        self.flag = flag
        self.environment = environment
        self.plan_less = plan_less
        """The flag was named on the command line (``kill --flag-file``), not by a plan: a
        key the file lacks is then bad input (exit 2), and no plan's key is to blame."""

    @property
    def real_path(self) -> Path:
        """The file itself, through any symbolic links (resolved anew on each call)."""
        return Path(os.path.realpath(self.path))

    @property
    def history_path(self) -> Path:
        return _history_of(self.real_path)

    @property
    def shown(self) -> str:
        """The file as messages name it (:func:`~rolloutcli.support.paths.shown_path`)."""
        return shown_path(self.path)

    def describe(self) -> str:
        return shown_path(self.path)

    # ------------------------------------------------------------------ reading

    def read(self, treatment: object, control: object) -> FlagReading:
        return FlagReading(self.read_state(treatment, control), tuple(self.history()))

    def read_state(self, treatment: object, control: object) -> FlagState:
        """The split as the file serves it. When it was set is in the flag's metadata,
        which records the split the tool last wrote: it dates the live split only while
        the two agree; after a hand edit the file's modification time does."""
        real = self.real_path
        raw = self._read_bytes(real)
        doc = self._parse(raw)
        flag = self._flag(doc)
        names = _variant_names(flag, treatment, control, self.path, self.flag)
        excluded, rest = _peel_exclusion(flag.get("targeting"), names, self.path, self.flag)
        percent, keys, segment = _read_split(flag, rest, names, self.path, self.flag)
        meta = flag.get("metadata")
        if not isinstance(meta, dict):  # hand-edited into something else: nothing recorded
            meta = {}
        split_at, stage, comment, notes = None, None, None, []
        recorded = meta.get(META + "percent")
        if isinstance(recorded, int | float) and abs(float(recorded) - percent) < 1e-9:
            split_at = parse_timestamp(meta.get(META + "changedAt"))
            stage = meta.get(META + "stage")
            comment = meta.get(META + "comment")
        if split_at is None:
            split_at = datetime.fromtimestamp(real.stat().st_mtime, UTC)
            notes.append(
                "the live split was not set by rolloutcli (or was edited since): the stage "
                "start is taken from the file's modification time"
            )
        return FlagState(
            paused=_pause_mark(meta.get(META + "paused")),
            flag=self.flag,
            on=flag.get("state") == "ENABLED",
            percent=percent,
            audience_keys=keys,
            audience_segment=segment,
            excluded_keys=excluded[0],
            excluded_segment=excluded[1],
            split_changed_at=split_at,
            recorded_stage=stage if isinstance(stage, str) else None,
            comment=comment if isinstance(comment, str) else None,
            version=hashlib.sha256(raw).hexdigest(),
            notes=tuple(notes),
        )

    def read_share(self, flag: str, variation: object) -> FlagShare:
        """Another flag of the same file, for a prerequisite: whether it is enabled, and the
        share its split serves ``variation`` to (an audience ``if`` in front of the split,
        or an exclusion around it, serves a few keys and is not counted)."""
        doc = self._parse(self._read_bytes(self.real_path))
        item = doc["flags"].get(flag)
        if not isinstance(item, dict):
            return FlagShare(flag, variation, False, problem=f"no flag {flag!r} in {self.shown}")
        variants = item.get("variants")
        name = next(
            (
                str(k)
                for k, v in (variants.items() if isinstance(variants, dict) else ())
                if v == variation and type(v) is type(variation)
            ),
            None,
        )
        if name is None:
            problem = f"flag {flag!r} in {self.shown} has no variant serving {variation!r}"
            return FlagShare(flag, variation, True, problem=problem)
        targeting = item.get("targeting")
        if isinstance(targeting, dict) and isinstance(targeting.get("if"), list):
            args = targeting["if"]
            if len(args) == 3 and args[1] != name:  # an exclusion: keys that get another
                targeting = args[2]
        try:
            percent, _, _ = _read_split(item, targeting, (name, name), self.path, flag)
        except BackendError:
            problem = (
                f"the targeting of flag {flag!r} in {self.shown} is not a split rolloutcli reads"
            )
            return FlagShare(flag, variation, True, problem=problem)
        return FlagShare(flag, variation, True, on=item.get("state") == "ENABLED", percent=percent)

    def history(self) -> list[ChangeRecord]:
        records: list[ChangeRecord] = []
        lines = self._read_history().splitlines()
        for line in lines:
            try:
                item = json.loads(line)
                at = parse_timestamp(item.get("at"))
            except (ValueError, AttributeError):
                continue  # a torn or foreign line: skip it, keep the rest
            if at is None or item.get("flag") != self.flag:
                continue
            comment, named = split_record(str(item.get("comment", "")))
            record = item.get("record")
            records.append(
                ChangeRecord(
                    at=at,
                    action=str(item.get("action", "")),
                    percent_before=_share(item.get("percent_before")),
                    percent_after=_share(item.get("percent_after")),
                    stage=item.get("stage"),
                    plan=item.get("plan"),
                    comment=comment,
                    who=item["by"] if isinstance(item.get("by"), str) else None,
                    reason=_pause_reason(item, comment),
                    record=record if isinstance(record, str) and record else named,
                )
            )
        return records

    # ------------------------------------------------------------------ writing

    def set_rollout(
        self,
        change: RolloutChange,
        treatment: object,
        control: object,
        expected: FlagState,
        at: datetime | None = None,
    ) -> FlagState:
        when = at or datetime.now(UTC)
        real = self.real_path
        with self._locked(real):
            _refuse_linked_history(real)
            raw = self._read_bytes(real)
            if hashlib.sha256(raw).hexdigest() != expected.version:
                raise ConflictError(
                    f"{NAME}: {self.shown} changed since it was read; nothing was written "
                    "(re-run to act on the current state)"
                )
            doc = self._parse(raw)
            flag = self._flag(doc)
            names = _variant_names(flag, treatment, control, self.path, self.flag)
            for segment in (change.audience_segment, change.excluded_segment):
                if segment and segment not in (doc.get("$evaluators") or {}):
                    raise BackendError(
                        NAME,
                        f"segment {segment!r} is not defined in {self.shown}",
                        hint='add it under "$evaluators" as a JSON-logic rule',
                    )
            flag["targeting"] = _excluding(
                _build_targeting(
                    names,
                    change.percent,
                    change.audience_keys,
                    change.audience_segment,
                    _bucket_by(flag.get("targeting")),
                ),
                names[1],
                change.excluded_keys,
                change.excluded_segment,
            )
            flag["defaultVariant"] = names[1]
            if change.turn_on:
                flag["state"] = "ENABLED"
            note = with_record(change.comment, change.record)
            _stamp(flag, change.percent, change.stage, change.plan, note, when)
            self._write(real, doc)
            self._append_history(
                real,
                when,
                change.action,
                expected.percent,
                change.percent,
                change.stage,
                change.plan,
                change.comment,
                record=change.record,
            )
        return self.read_state(treatment, control)

    def is_on(self) -> bool:
        return self._flag(self._parse(self._read_bytes(self.real_path))).get("state") != "DISABLED"

    def turn_off(
        self, plan: str | None, comment: str, at: datetime | None = None, record: str | None = None
    ) -> bool:
        when = at or datetime.now(UTC)
        real = self.real_path
        with self._locked(real):
            doc = self._parse(self._read_bytes(real))
            flag = self._flag(doc)
            if flag.get("state") == "DISABLED":
                return False
            flag["state"] = "DISABLED"
            meta = flag.get("metadata")
            if not isinstance(meta, dict):  # a hand-edited file: the kill must still land
                meta = {}
            meta[META + "killedAt"] = format_timestamp(when)
            meta[META + "comment"] = with_record(comment, record)
            flag["metadata"] = meta
            self._write(real, doc)
            # The flag is off: a history line that cannot be written (a linked or
            # unwritable history file) must not turn the kill into a failure.
            with contextlib.suppress(BackendError):
                self._append_history(
                    real, when, "kill", None, None, None, plan, comment, record=record
                )
        return True

    def turn_on(
        self,
        plan: str | None,
        comment: str,
        at: datetime | None = None,
        by: str | None = None,
        record: str | None = None,
    ) -> bool:
        """``state: ENABLED`` again, the split and its start as they were; the kill's mark
        in the metadata gives way to the unkill's, and the history says who and why."""
        when = at or datetime.now(UTC)
        real = self.real_path
        with self._locked(real):
            _refuse_linked_history(real)
            doc = self._parse(self._read_bytes(real))
            flag = self._flag(doc)
            if flag.get("state") == "ENABLED":
                return False
            flag["state"] = "ENABLED"
            meta = flag.get("metadata")
            if not isinstance(meta, dict):
                meta = {}
            meta.pop(META + "killedAt", None)
            meta[META + "unkilledAt"] = format_timestamp(when)
            meta[META + "comment"] = with_record(comment, record)
            flag["metadata"] = meta
            self._write(real, doc)
            self._append_history(
                real, when, "unkill", None, None, None, plan, comment, by=by, record=record
            )
        return True

    def set_paused(
        self,
        paused: bool,
        plan: str | None,
        by: str,
        reason: str,
        at: datetime | None = None,
        record: str | None = None,
    ) -> bool:
        when = at or datetime.now(UTC)
        real = self.real_path
        with self._locked(real):
            _refuse_linked_history(real)
            doc = self._parse(self._read_bytes(real))
            flag = self._flag(doc)
            meta = flag.get("metadata")
            if not isinstance(meta, dict):
                meta = {}
            if (META + "paused" in meta) == paused:
                return False
            if paused:
                meta[META + "paused"] = {
                    "at": format_timestamp(when),
                    "by": by,
                    "reason": note_text(reason),
                }
            else:
                del meta[META + "paused"]
            flag["metadata"] = meta
            self._write(real, doc)
            action = "pause" if paused else "resume"
            comment = f"{reason} (by {by})"
            self._append_history(
                real, when, action, None, None, None, plan, comment, by=by, record=record
            )
        return True

    # ------------------------------------------------------------------ knobs

    def read_knob(self, flag: str) -> KnobReading:
        doc = self._parse(self._read_bytes(self.real_path))
        return knob_reading(flag, self._knob_flag(doc, flag))

    def set_knob(
        self,
        flag: str,
        value: object,
        expected: KnobReading,
        plan: str,
        comment: str,
        at: datetime | None = None,
        record: str | None = None,
        by: str | None = None,
    ) -> KnobReading:
        """Select the variant serving ``value`` (added when absent), only if the flag
        still serves ``expected.value``; recorded in the metadata and the history
        (action ``knob``) like the rollout's changes."""
        assert isinstance(value, int | float | str) and not isinstance(value, bool)
        when = at or datetime.now(UTC)
        real = self.real_path
        with self._locked(real):
            _refuse_linked_history(real)
            doc = self._parse(self._read_bytes(real))
            knob = self._knob_flag(doc, flag)
            live = knob_reading(flag, knob).value
            if not same_value(live, expected.value):
                raise ConflictError(
                    f"{NAME}: knob flag {flag!r} in {self.shown} serves {live!r} now, not the "
                    f"{expected.value!r} read; nothing was written (re-run to act on it)"
                )
            select_value(knob, value)
            stamp_knob(knob, value, plan, with_record(comment, record), when, by)
            self._write(real, doc)
            extra = {"value_before": live, "value_after": value}
            self._append_history(
                real,
                when,
                "knob",
                None,
                None,
                None,
                plan,
                comment,
                by=by,
                record=record,
                flag=flag,
                extra=extra,
            )
        return self.read_knob(flag)

    def _knob_flag(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        flag = doc["flags"].get(key)
        if not isinstance(flag, dict):
            raise BackendError(
                NAME,
                f"knob flag {key!r} not found in {self.shown}",
                hint=f"check the knob's flag: in the plan against the file's "
                f"{_flags_text(doc['flags'])}",
            )
        return flag

    # ------------------------------------------------------------------ file plumbing

    def _read_bytes(self, real: Path) -> bytes:
        try:
            return real.read_bytes()
        except FileNotFoundError:
            shown = shown_path(self.path)
            where = shown if real == Path(os.path.abspath(self.path)) else f"{shown} → {real}"
            raise BackendError(
                NAME, f"flag file {where} not found", hint="check platform.path in the plan"
            ) from None
        except OSError as exc:
            raise BackendError(NAME, f"cannot read {self.shown}: {exc.strerror}") from None

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackendError(NAME, f"{self.shown} is not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("flags"), dict):
            raise BackendError(NAME, f'{self.shown} has no "flags" object (flagd format)')
        return doc

    def _flag(self, doc: dict[str, Any]) -> dict[str, Any]:
        flag = doc["flags"].get(self.flag)
        if not isinstance(flag, dict):
            has = _flags_text(doc["flags"])
            if self.plan_less:
                raise InvalidInputError(
                    f"flag {self.flag!r} not found in {self.shown}: it has {has}"
                )
            raise BackendError(
                NAME,
                f"flag {self.flag!r} not found in {self.shown}",
                hint=f"check the plan's flag: key against the file's flags: {has}",
            )
        return flag

    @contextlib.contextmanager
    def _locked(self, real: Path) -> Iterator[None]:
        """Hold the lock beside the real file; sweep dead writers' temporary files.

        Waits for another writer at most as long as the current deadline (``rollout kill``'s
        ``--deadline``, else ``ROLLOUT_HTTP_DEADLINE``, 20 s): a writer stopped while
        holding it (SIGSTOP, a hung disk) must not hang a kill forever. A writer killed
        outright releases its lock with its last descriptor."""
        lock_path = real.with_name("." + real.name + ".lock")
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(lock_path, flags, 0o644)
        except OSError as exc:
            raise BackendError(NAME, f"cannot lock {lock_path}: {exc.strerror}") from None
        try:
            self._acquire(fd, lock_path)
            try:
                _sweep_temporaries(real)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int, lock_path: Path) -> None:
        scope = deadlines.current()
        end = deadlines.end_of_call(
            scope.seconds if scope is not None else deadlines.default_deadline()
        )
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise BackendError(
                        NAME,
                        f"{lock_path} stayed locked by another writer past the deadline; "
                        "nothing was written",
                        hint="find the process holding it (fuser / lsof on the lock file)",
                    ) from None
                time.sleep(LOCK_POLL)

    def _write(self, real: Path, doc: dict[str, Any]) -> None:
        data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        folder = real.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + real.name + TEMP_TAG, dir=folder)
        except OSError as exc:
            raise BackendError(NAME, f"cannot write in {folder}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, real.stat().st_mode & 0o777)
            os.replace(tmp, real)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _read_history(self) -> str:
        """The history file's text ("" when there is none); never through a symlink."""
        path = self.history_path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise _history_error(path, "read", exc) from None
        with os.fdopen(fd, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")

    def _append_history(
        self,
        real: Path,
        when: datetime,
        action: str,
        before: float | None,
        after: float | None,
        stage: str | None,
        plan: str | None,
        comment: str,
        by: str | None = None,
        record: str | None = None,
        flag: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One history line; ``record`` (the decision record's id) both as its own field
        and at the end of the comment, as every platform's note carries it. ``flag``:
        another flag's line (a knob's), ``extra``: more fields (a knob's values)."""
        entry: dict[str, Any] = {
            "at": format_timestamp(when),
            "flag": flag or self.flag,
            "action": action,
            "percent_before": before,
            "percent_after": after,
            "stage": stage,
            "plan": plan,
            "comment": with_record(comment, record, None),
        }
        if by is not None:
            entry["by"] = note_text(by, None)
        if record:
            entry["record"] = record
        entry.update(extra or {})
        line = json.dumps(entry, ensure_ascii=False)
        # Called with the lock held, so no other writer appends meanwhile (see _mend_tail).
        path = _history_of(real)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise _history_error(path, "write", exc) from None
        try:
            data = _mend_tail(fd) + (line + "\n").encode("utf-8")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            raise _history_error(path, "write", exc) from None
        finally:
            os.close(fd)


def _mend_tail(fd: int) -> bytes:
    """Make the history end on a line boundary before a line is appended; what to write
    first. A last line without its newline was cut off by a killed writer (every writer
    holds the lock, so none is mid-write now): a fragment that is not a whole JSON object
    is dropped (it never was a record, and would spoil the line glued onto it); a whole
    record missing only its newline (a hand edit) is kept and ended."""
    size = os.fstat(fd).st_size
    if not size or os.pread(fd, 1, size - 1) == b"\n":
        return b""
    start = size
    while start > 0:  # back to the byte after the last newline
        block = os.pread(fd, min(start, 65536), max(0, start - 65536))
        cut = block.rfind(b"\n")
        if cut >= 0:
            start = start - len(block) + cut + 1
            break
        start -= len(block)
    try:
        whole = isinstance(json.loads(os.pread(fd, size - start, start)), dict)
    except (ValueError, RecursionError):  # also a cut multi-byte character
        whole = False
    if whole:
        return b"\n"
    os.ftruncate(fd, start)
    return b""


def _history_of(real: Path) -> Path:
    return real.with_name(real.name + ".history.jsonl")


def _refuse_linked_history(real: Path) -> None:
    """A change is refused before it is made when its history line could not follow."""
    path = _history_of(real)
    if path.is_symlink():
        raise _history_error(path, "write", OSError(errno.ELOOP, "symbolic link"))


def _history_error(path: Path, action: str, exc: OSError) -> BackendError:
    if exc.errno == errno.ELOOP:
        return BackendError(
            NAME,
            f"history file {path} is a symbolic link: refusing to {action} through it",
            hint="replace the link by the file itself (or remove it)",
        )
    return BackendError(NAME, f"cannot {action} history file {path}: {exc.strerror}")


def _sweep_temporaries(real: Path) -> None:
    """Remove the temporary files dead writers left beside ``real`` (the lock is held, so
    no live writer has one): ``.<name>.tmp-*``, and the older ``.<name>.XXXXXXXX``."""
    prefix = "." + real.name + "."
    try:
        names = os.listdir(real.parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        if rest.startswith(TEMP_TAG[1:]) or _OLD_TEMP.fullmatch(rest):
            if rest == "lock":  # never the lock (not 8 characters, but said plainly)
                continue
            with contextlib.suppress(OSError):
                os.unlink(real.parent / name)


# ---------------------------------------------------------------------- pure helpers


def _variant_names(
    flag: dict[str, Any], treatment: object, control: object, path: Path, key: str
) -> tuple[str, str]:
    variants = flag.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise BackendError(NAME, f"flag {key!r} in {path} has no variants")

    def find(value: object, role: str) -> str:
        for name, served in variants.items():
            if served == value and type(served) is type(value):
                return str(name)
        if isinstance(value, str) and value in variants:
            return value
        raise BackendError(
            NAME,
            f"flag {key!r} in {path} has no variant serving the {role} {value!r} "
            f"(variants: {json.dumps(variants)})",
            hint=f"fix variations.{role} in the plan or add the variant to the file",
        )

    return find(treatment, "treatment"), find(control, "control")


def _peel_exclusion(
    targeting: Any, names: tuple[str, str], path: Path, key: str
) -> tuple[tuple[tuple[str, ...], str | None], Any]:
    """The exclusion (keys, segment) an outermost ``if`` serving the control holds, and
    the targeting inside it (the whole targeting when there is none)."""
    if not (isinstance(targeting, dict) and isinstance(targeting.get("if"), list)):
        return ((), None), targeting
    args = targeting["if"]
    if len(args) != 3 or args[1] != names[1]:
        return ((), None), targeting
    return _condition(args[0], path, key), args[2]


def _condition(condition: Any, path: Path, key: str) -> tuple[tuple[str, ...], str | None]:
    """The keys (``targetingKey in [...]``) or segment (``$ref``) an ``if`` tests."""
    if isinstance(condition, dict) and "$ref" in condition:
        return (), str(condition["$ref"])
    if (
        isinstance(condition, dict)
        and isinstance(condition.get("in"), list)
        and len(condition["in"]) == 2
        and condition["in"][0] == {"var": "targetingKey"}
        and isinstance(condition["in"][1], list)
    ):
        return tuple(str(k) for k in condition["in"][1]), None
    raise _unrecognised(path, key)


def _read_split(
    flag: dict[str, Any], targeting: Any, names: tuple[str, str], path: Path, key: str
) -> tuple[float, tuple[str, ...], str | None]:
    """The split ``targeting`` (the flag's, inside any exclusion) serves."""
    treatment, _ = names
    targeting = targeting or {}
    keys: tuple[str, ...] = ()
    segment: str | None = None
    if isinstance(targeting, dict) and "if" in targeting:
        args = targeting["if"]
        if not (isinstance(args, list) and len(args) == 3 and args[1] == treatment):
            raise _unrecognised(path, key)
        keys, segment = _condition(args[0], path, key)
        targeting = args[2]
    if isinstance(targeting, str):
        return (100.0 if targeting == treatment else 0.0), keys, segment
    if not targeting:
        default = flag.get("defaultVariant")
        return (100.0 if default == treatment else 0.0), keys, segment
    if isinstance(targeting, dict) and isinstance(targeting.get("fractional"), list):
        total = 0
        mine = 0
        for item in targeting["fractional"]:
            if isinstance(item, list) and item:
                weight = _weight(item[1]) if len(item) > 1 else 1
                if weight is None:
                    raise _unrecognised(path, key)
                total += max(0, weight)
                if item[0] == treatment:
                    mine += max(0, weight)
        if total <= 0:
            raise _unrecognised(path, key)
        return round(mine * 100 / total, 6), keys, segment
    raise _unrecognised(path, key)


def _weight(raw: object) -> int | None:
    """A fractional weight: a whole number (flagd's are integers); None for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
        return None
    return int(raw)


def _unrecognised(path: Path, key: str) -> BackendError:
    return BackendError(
        NAME,
        f"the targeting of flag {key!r} in {path} is not a split rolloutcli manages",
        hint="rolloutcli manages a 'fractional' split, optionally behind an allowlist or "
        "$ref segment 'if'; move other rules to another flag or set the split with rolloutcli",
    )


def _bucket_by(targeting: Any) -> Any | None:
    """The file's own bucketing expression, or None for flagd's default (the shorthand form).

    Keep whatever the file has: an explicit ``{"cat": [flagKey, targetingKey]}`` and the
    shorthand hash differently in flagd, so switching forms would reshuffle every user.
    """
    node = targeting
    for _ in range(2):  # inside the exclusion, then the audience
        if isinstance(node, dict) and isinstance(node.get("if"), list) and len(node["if"]) == 3:
            node = node["if"][2]
    if isinstance(node, dict) and isinstance(node.get("fractional"), list):
        first = node["fractional"][0] if node["fractional"] else None
        if first is not None and not isinstance(first, list):
            return first
    return None


def _build_targeting(
    names: tuple[str, str],
    percent: float,
    keys: tuple[str, ...],
    segment: str | None,
    bucket_by: Any | None,
) -> dict[str, Any]:
    treatment, control = names
    weight = round(percent * TOTAL_WEIGHT / 100)
    pairs: list[Any] = [[treatment, weight], [control, TOTAL_WEIGHT - weight]]
    split: dict[str, Any] = {"fractional": pairs if bucket_by is None else [bucket_by, *pairs]}
    if segment:
        return {"if": [{"$ref": segment}, treatment, split]}
    if keys:
        return {"if": [{"in": [{"var": "targetingKey"}, list(keys)]}, treatment, split]}
    return split


def _excluding(
    targeting: dict[str, Any], control: str, keys: tuple[str, ...], segment: str | None
) -> dict[str, Any]:
    """``targeting`` behind the plan's exclusion: an outermost ``if`` serving the control."""
    if segment:
        return {"if": [{"$ref": segment}, control, targeting]}
    if keys:
        return {"if": [{"in": [{"var": "targetingKey"}, list(keys)]}, control, targeting]}
    return targeting


def _share(value: object) -> float | None:
    """A history line's share: a number 0-100, else None (the line does not say; a
    hand-edited ``"10"``, ``NaN`` or ``1e9`` is not a share to replay)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    share = float(value)
    return share if math.isfinite(share) and 0 <= share <= 100 else None


def _pause_reason(item: dict[str, Any], comment: str) -> str | None:
    """A pause's reason from its history line, whose comment (without its record id) is
    ``<reason> (by <who>)``."""
    if item.get("action") != "pause":
        return None
    by = item.get("by")
    suffix = f" (by {by})"
    if isinstance(by, str) and comment.endswith(suffix):
        comment = comment[: -len(suffix)]
    return comment.strip() or None


def _pause_mark(raw: Any) -> PauseMark | None:
    if not isinstance(raw, dict):
        return None
    by, reason = raw.get("by"), raw.get("reason")
    return PauseMark(
        at=parse_timestamp(raw.get("at")),
        by=by if isinstance(by, str) else None,
        reason=reason if isinstance(reason, str) else None,
    )


def _stamp(
    flag: dict[str, Any], percent: float, stage: str | None, plan: str, note: str, when: datetime
) -> None:
    meta = flag.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    for name in list(meta):
        if name.startswith(META) and name != META + "paused":
            del meta[name]
    meta[META + "changedAt"] = format_timestamp(when)
    meta[META + "percent"] = percent
    meta[META + "plan"] = plan
    if stage:
        meta[META + "stage"] = stage
    meta[META + "comment"] = note  # as with_record made it: scrubbed, cut, the id whole
    flag["metadata"] = meta
