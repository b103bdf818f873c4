"""The embedded platform: a flagd flag-definition JSON file (OpenFeature's flagd format).

The split is written with flagd's ``fractional`` operator, treatment first, weights in
thousandths of a percent (total 100,000). flagd buckets a key as
``hash * total_weight >> 32``, so with a constant total each key keeps its bucket and a key
inside at 10% is still inside at 25%: stages never reshuffle users. An audience (allowlist or
segment) is an ``if`` in front of the split.

Each change is recorded twice: in the flag's ``metadata`` (atomically with the change itself;
``status`` reads when the stage began from it) and as one JSON line appended to
``<file>.history.jsonl`` (the full history). Writes go to a temporary file in the same
folder, fsync'd, then renamed over the original: a crash never leaves a half-written file.
A lock file serialises writers; a write is refused (conflict) when the file changed since
it was read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackendError, ConflictError
from ..plan import PlatformSpec
from ..state import ChangeRecord, FlagState, PauseMark, RolloutChange
from ..timeutil import format_timestamp, parse_timestamp

TOTAL_WEIGHT = 100_000  # thousandths of a percent
META = "rolloutcli."
NAME = "flagfile"


def open_flagfile(
    spec: PlatformSpec, flag: str, base_dir: Path, plan: str | None = None
) -> FlagFilePlatform:
    assert spec.path is not None  # guaranteed by plan validation
    path = Path(os.path.expanduser(spec.path))
    return FlagFilePlatform(path if path.is_absolute() else base_dir / path, flag, spec.environment)


class FlagFilePlatform:
    name = NAME

    def __init__(self, path: Path, flag: str, environment: str = "local") -> None:
        self.path = path
        self.flag = flag
        self.environment = environment

    @property
    def history_path(self) -> Path:
        return self.path.with_name(self.path.name + ".history.jsonl")

    def describe(self) -> str:
        return os.path.normpath(self.path)

    # ------------------------------------------------------------------ reading

    def read_state(self, treatment: object, control: object) -> FlagState:
        raw = self._read_bytes()
        doc = self._parse(raw)
        flag = self._flag(doc)
        names = _variant_names(flag, treatment, control, self.path, self.flag)
        percent, keys, segment = _read_split(flag, names, self.path, self.flag)
        meta = flag.get("metadata") or {}
        changed_at, stage, comment, notes = None, None, None, []
        recorded = meta.get(META + "percent")
        if isinstance(recorded, int | float) and abs(float(recorded) - percent) < 1e-9:
            changed_at = parse_timestamp(meta.get(META + "changedAt"))
            stage = meta.get(META + "stage")
            comment = meta.get(META + "comment")
        if changed_at is None:
            changed_at = datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
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
            changed_at=changed_at,
            recorded_stage=stage if isinstance(stage, str) else None,
            comment=comment if isinstance(comment, str) else None,
            version=hashlib.sha256(raw).hexdigest(),
            notes=tuple(notes),
        )

    def history(self) -> list[ChangeRecord]:
        records: list[ChangeRecord] = []
        try:
            lines = self.history_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return records
        for line in lines:
            try:
                item = json.loads(line)
                at = parse_timestamp(item.get("at"))
            except (ValueError, AttributeError):
                continue  # a torn or foreign line: skip it, keep the rest
            if at is None or item.get("flag") != self.flag:
                continue
            records.append(
                ChangeRecord(
                    at=at,
                    action=str(item.get("action", "")),
                    percent_before=item.get("percent_before"),
                    percent_after=item.get("percent_after"),
                    stage=item.get("stage"),
                    plan=item.get("plan"),
                    comment=str(item.get("comment", "")),
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
        with self._locked():
            raw = self._read_bytes()
            if hashlib.sha256(raw).hexdigest() != expected.version:
                raise ConflictError(
                    f"{NAME}: {self.path} changed since it was read; nothing was written "
                    "(re-run to act on the current state)"
                )
            doc = self._parse(raw)
            flag = self._flag(doc)
            names = _variant_names(flag, treatment, control, self.path, self.flag)
            if change.audience_segment and change.audience_segment not in (
                doc.get("$evaluators") or {}
            ):
                raise BackendError(
                    NAME,
                    f"segment {change.audience_segment!r} is not defined in {self.path}",
                    hint='add it under "$evaluators" as a JSON-logic rule',
                )
            flag["targeting"] = _build_targeting(
                names,
                change.percent,
                change.audience_keys,
                change.audience_segment,
                _bucket_by(flag.get("targeting")),
            )
            flag["defaultVariant"] = names[1]
            if change.turn_on:
                flag["state"] = "ENABLED"
            _stamp(flag, change.percent, change.stage, change.plan, change.comment, when)
            self._write(doc)
        self._append_history(
            when,
            change.action,
            expected.percent,
            change.percent,
            change.stage,
            change.plan,
            change.comment,
        )
        return self.read_state(treatment, control)

    def turn_off(self, plan: str | None, comment: str, at: datetime | None = None) -> bool:
        when = at or datetime.now(UTC)
        with self._locked():
            doc = self._parse(self._read_bytes())
            flag = self._flag(doc)
            if flag.get("state") == "DISABLED":
                return False
            flag["state"] = "DISABLED"
            meta = flag.setdefault("metadata", {})
            meta[META + "killedAt"] = format_timestamp(when)
            meta[META + "comment"] = comment[:500]
            self._write(doc)
        self._append_history(when, "kill", None, None, None, plan, comment)
        return True

    def set_paused(
        self, paused: bool, plan: str | None, by: str, reason: str, at: datetime | None = None
    ) -> bool:
        when = at or datetime.now(UTC)
        with self._locked():
            doc = self._parse(self._read_bytes())
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
                    "reason": reason[:500],
                }
            else:
                del meta[META + "paused"]
            flag["metadata"] = meta
            self._write(doc)
        action = "pause" if paused else "resume"
        self._append_history(when, action, None, None, None, plan, f"{reason} (by {by})")
        return True

    # ------------------------------------------------------------------ file plumbing

    def _read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise BackendError(
                NAME, f"flag file {self.path} not found", hint="check platform.path in the plan"
            ) from None
        except OSError as exc:
            raise BackendError(NAME, f"cannot read {self.path}: {exc.strerror}") from None

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackendError(NAME, f"{self.path} is not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("flags"), dict):
            raise BackendError(NAME, f'{self.path} has no "flags" object (flagd format)')
        return doc

    def _flag(self, doc: dict[str, Any]) -> dict[str, Any]:
        flag = doc["flags"].get(self.flag)
        if not isinstance(flag, dict):
            raise BackendError(
                NAME,
                f"flag {self.flag!r} not found in {self.path}",
                hint="check the plan's flag: key against the file's flags",
            )
        return flag

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name("." + self.path.name + ".lock")
        try:
            handle = open(lock_path, "a+")  # noqa: SIM115 - held for the block's duration
        except OSError as exc:
            raise BackendError(NAME, f"cannot lock {lock_path}: {exc.strerror}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, doc: dict[str, Any]) -> None:
        data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        folder = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + self.path.name + ".", dir=folder)
        except OSError as exc:
            raise BackendError(NAME, f"cannot write in {folder}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, self.path.stat().st_mode & 0o777)
            os.replace(tmp, self.path)
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

    def _append_history(
        self,
        when: datetime,
        action: str,
        before: float | None,
        after: float | None,
        stage: str | None,
        plan: str | None,
        comment: str,
    ) -> None:
        line = json.dumps(
            {
                "at": format_timestamp(when),
                "flag": self.flag,
                "action": action,
                "percent_before": before,
                "percent_after": after,
                "stage": stage,
                "plan": plan,
                "comment": comment,
            },
            ensure_ascii=False,
        )
        # One write() of a whole line with O_APPEND: concurrent appends never interleave.
        fd = os.open(self.history_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)


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


def _read_split(
    flag: dict[str, Any], names: tuple[str, str], path: Path, key: str
) -> tuple[float, tuple[str, ...], str | None]:
    treatment, _ = names
    targeting = flag.get("targeting") or {}
    keys: tuple[str, ...] = ()
    segment: str | None = None
    if isinstance(targeting, dict) and "if" in targeting:
        args = targeting["if"]
        if not (isinstance(args, list) and len(args) == 3 and args[1] == treatment):
            raise _unrecognised(path, key)
        condition, rest = args[0], args[2]
        if isinstance(condition, dict) and "$ref" in condition:
            segment = str(condition["$ref"])
        elif (
            isinstance(condition, dict)
            and isinstance(condition.get("in"), list)
            and len(condition["in"]) == 2
            and condition["in"][0] == {"var": "targetingKey"}
            and isinstance(condition["in"][1], list)
        ):
            keys = tuple(str(k) for k in condition["in"][1])
        else:
            raise _unrecognised(path, key)
        targeting = rest
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
                weight = int(item[1]) if len(item) > 1 else 1
                total += max(0, weight)
                if item[0] == treatment:
                    mine += max(0, weight)
        if total <= 0:
            raise _unrecognised(path, key)
        return round(mine * 100 / total, 6), keys, segment
    raise _unrecognised(path, key)


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
    flag: dict[str, Any], percent: float, stage: str | None, plan: str, comment: str, when: datetime
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
    meta[META + "comment"] = comment[:500]
    flag["metadata"] = meta
