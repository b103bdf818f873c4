"""Decision records: what goes in each line of the append-only log (``records.py`` stores it).

One record per action and per verdict that led to one: when, which tool version, who, which
plan (name, file and a hash of its content, so an auditor can tell which version of the plan
decided), where the flag lives, the stage, the verdict with every metric's queries, values,
test, p-value and threshold (the ``check --json`` document plus the resolved queries), the
change applied (before → after) and its result. Secrets never appear: tokens are never part
of a plan, a state or a verdict, and whatever a server echoed into an error message is
scrubbed of every registered secret when the record is encoded (``records.encode``). The
history read back from a platform is scrubbed the same way before it is shown.

Stdlib only at import: `rollout kill` writes a record too and must stay light.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rolloutcli import __version__
from rolloutcli.judge.flagstate import ChangeRecord, FlagState, RolloutChange
from rolloutcli.support.redact import scrub
from rolloutcli.support.timeutil import format_timestamp

SCHEMA = "rolloutcli.decision/v1"


def plan_digest(path: Path) -> str | None:
    """``sha256:<hex>`` of the plan file's bytes, or None when it cannot be read."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def new_record_id() -> str:
    """A decision record's id: unique, so a script can name the record a command wrote
    (``--json``'s ``record_id``) and find it in the log. A change mints it before it writes
    to the platform, so the note the platform keeps names the record (``changenote``)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Subject:
    """The rollout a record is about."""

    plan: str | None
    plan_file: Path | None
    flag: str
    platform: str
    where: str
    environment: str


def state_json(state: FlagState | None, stage: str | None = None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "on": state.on,
        "percent": state.percent,
        "stage": stage if stage is not None else state.recorded_stage,
        "audience_keys": len(state.audience_keys),
        "audience_segment": state.audience_segment,
        "paused": state.paused is not None,
    }


def change_json(change: RolloutChange) -> dict[str, Any]:
    return {
        "action": change.action,
        "percent": change.percent,
        "stage": change.stage,
        "audience_keys": len(change.audience_keys),
        "audience_segment": change.audience_segment,
        "turn_on": change.turn_on,
        "comment": change.comment,
    }


def record(
    *,
    event: str,
    subject: Subject,
    who: str,
    at: datetime,
    command: str,
    verdict: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
    change: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    result: str,
    error: str | None = None,
    extra: Mapping[str, Any] | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """One decision record.

    ``event``: advance, rollback, pause, resume, kill, notify, or ``verdict`` (a verdict that
    called for an action the policy left to a person). ``result``: applied, unchanged (already
    so), failed, refused, dry-run. ``record_id``: the id the change's platform note already
    names (else a new one)."""
    item: dict[str, Any] = {
        "schema": SCHEMA,
        "id": record_id or new_record_id(),
        "time": format_timestamp(at),
        "tool": f"rolloutcli {__version__}",
        "who": who,
        "command": command,
        "event": event,
        "plan": subject.plan,
        "plan_file": str(subject.plan_file) if subject.plan_file else None,
        "plan_sha256": plan_digest(subject.plan_file) if subject.plan_file else None,
        "flag": subject.flag,
        "platform": subject.platform,
        "where": subject.where,
        "environment": subject.environment,
        "verdict": dict(verdict) if verdict is not None else None,
        "decision": dict(decision) if decision is not None else None,
        "change": dict(change) if change is not None else None,
        "before": dict(before) if before is not None else None,
        "after": dict(after) if after is not None else None,
        "result": result,
        "error": error,
    }
    if extra:
        item.update(extra)
    return item


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `rollout history`: a decision record or a platform change, merged."""

    at: datetime
    source: str  # "record" or "platform"
    event: str
    who: str | None
    stage: str | None
    percent_before: float | None
    percent_after: float | None
    verdict: str | None
    result: str | None
    detail: str
    raw: Mapping[str, Any] | None = None
    lifecycle: str | None = None
    """The step in the rollout's lifecycle this entry is, when it is one (applied):
    ``paused``, ``resumed``, ``rolled_back``, ``restarted`` or ``killed``."""
    record_id: str | None = None
    """The decision record's id: the record's own, or the one the platform change names."""
    paired: str | None = None
    """How a ``record+platform`` entry's two halves were matched: ``id`` (the platform's
    note names the record) or ``time`` (same action and share, close in time: notes
    without an id)."""


LIFECYCLE_STEPS = {
    "pause": "paused",
    "resume": "resumed",
    "rollback": "rolled_back",
    "restart": "restarted",
    "kill": "killed",
    "off": "killed",
}
"""Events (a record's, or a platform's action) that move a rollout in its lifecycle, and the
step each is (``judge.lifecycle``'s phases, named here so ``kill`` stays light). A platform's
``on/off`` toggle does not say which way, so it is not one."""


def lifecycle_step(event: str, decision: Mapping[str, Any] | None = None) -> str | None:
    """The lifecycle step of an applied event: an advance that restarts a rolled-back
    rollout (``advance --restart``, its decision ``restart``) is ``restarted``."""
    if event == "advance" and decision is not None and decision.get("action") == "restart":
        return LIFECYCLE_STEPS["restart"]
    return LIFECYCLE_STEPS.get(event)


def merge_history(
    records: Sequence[Mapping[str, Any]],
    platform: Sequence[ChangeRecord],
    plan: str | None,
    flag: str,
) -> list[HistoryEntry]:
    """The plan's decision records and the flag's platform history, newest first. Records
    are matched by plan name (or, for a kill by flag key, by flag).

    A platform change whose note names a record id is paired with that record exactly,
    whatever the times and contents say; one naming a record this store does not hold says
    so. A change that names none (a note older than ids, a hand edit, a pause on Unleash,
    whose tag keeps no text) is paired as before: same action and share, close in time
    (:func:`_same`), with a record no platform change names."""
    from rolloutcli.support.timeutil import parse_timestamp

    entries: list[HistoryEntry] = []
    for item in records:
        at = parse_timestamp(item.get("time"))
        if at is None:
            continue
        mine = (plan is not None and item.get("plan") == plan) or (
            item.get("plan") is None and item.get("flag") == flag
        )
        if not mine:
            continue
        entries.append(_from_record(item, at))
    named = {change.record for change in platform if change.record}
    by_id = {e.record_id: i for i, e in enumerate(entries) if e.record_id}
    for change in platform:
        index = by_id.get(change.record) if change.record else None
        if index is None and not change.record:
            index = next(
                (
                    i
                    for i, e in enumerate(entries)
                    if e.source == "record" and e.record_id not in named and _same(e, change)
                ),
                None,
            )
        if index is not None and entries[index].source == "record":
            # the platform's own entry for a change the tool recorded: one line, both sources
            how = "id" if change.record else "time"
            entries[index] = replace(entries[index], source="record+platform", paired=how)
            continue
        entries.append(_from_platform(change, change.record is not None and index is None))
    # newest first; within one second (records are stamped to the second), the later
    # written first: the log's and the platform's order
    order = {id(e): i for i, e in enumerate(entries)}
    entries.sort(key=lambda e: (e.at, e.source != "platform", order[id(e)]), reverse=True)
    return entries


def _from_platform(change: ChangeRecord, elsewhere: bool) -> HistoryEntry:
    """A platform change no record describes; ``elsewhere``: it names a record this store
    does not hold (a watcher whose records went to a file on a runner now gone)."""
    detail = scrub(change.comment)
    if elsewhere:
        detail = f"record {change.record} is not in this store · {detail}"
    return HistoryEntry(
        at=change.at,
        source="platform",
        event=change.action,
        who=None,
        stage=change.stage,
        percent_before=change.percent_before,
        percent_after=change.percent_after,
        verdict=None,
        result=None,
        detail=detail,
        lifecycle=lifecycle_step(change.action),
        record_id=change.record,
    )


PAIRING = timedelta(minutes=2)
"""How far apart the tool's clock and the platform's may stamp the same change (pairing
by time, for a change whose note names no record)."""


def _same(entry: HistoryEntry, change: ChangeRecord) -> bool:
    """Whether a platform change is the one a record describes: same action, applied,
    the same resulting share (when both say), stamped within ``PAIRING``."""
    if entry.event != change.action or entry.result != "applied":
        return False
    if abs(entry.at - change.at) > PAIRING:
        return False
    if entry.percent_after is not None and change.percent_after is not None:
        return abs(entry.percent_after - change.percent_after) < 1e-9
    return True


def _from_record(item: Mapping[str, Any], at: datetime) -> HistoryEntry:
    verdict = item.get("verdict") if isinstance(item.get("verdict"), Mapping) else None
    before = item.get("before") if isinstance(item.get("before"), Mapping) else None
    after = item.get("after") if isinstance(item.get("after"), Mapping) else None
    change = item.get("change") if isinstance(item.get("change"), Mapping) else None
    decision = item.get("decision") if isinstance(item.get("decision"), Mapping) else None
    reasons = verdict.get("reasons") if verdict else None
    detail_parts: list[str] = []
    if decision and decision.get("reason"):
        detail_parts.append(str(decision["reason"]))
    if isinstance(reasons, list) and reasons:
        detail_parts.append(str(reasons[0]))
    if item.get("error"):
        detail_parts.append(f"error: {item['error']}")
    if item.get("reason"):
        detail_parts.append(str(item["reason"]))
    if not detail_parts and change and change.get("comment"):
        detail_parts.append(str(change["comment"]))
    stage = None
    if change and change.get("stage"):
        stage = str(change["stage"])
    elif verdict and isinstance(verdict.get("stage"), Mapping):
        stage = str(verdict["stage"].get("name"))
    return HistoryEntry(
        at=at,
        source="record",
        event=str(item.get("event", "")),
        who=str(item["who"]) if item.get("who") else None,
        stage=stage,
        percent_before=_number(before.get("percent")) if before else None,
        percent_after=_number(after.get("percent"))
        if after
        else (_number(change.get("percent")) if change else None),
        verdict=str(verdict["verdict"]) if verdict and verdict.get("verdict") else None,
        result=str(item["result"]) if item.get("result") else None,
        detail=scrub(" · ".join(detail_parts)),
        raw=item,
        lifecycle=lifecycle_step(str(item.get("event", "")), decision)
        if item.get("result") == "applied"
        else None,
        record_id=str(item["id"]) if item.get("id") else None,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
