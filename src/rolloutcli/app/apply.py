"""Every change the tool makes, with its decision record and its notifications.

The order is fixed and matters: mint the record's id, apply the change (its note on the
platform names that id), then write the record, then post the notifications. A record
that cannot be written or a webhook that does not answer is
reported as a warning; neither ever blocks, delays beyond its deadline, or undoes a change
(above all a rollback or a kill). A change that fails is recorded too, then re-raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutcli.journal import record as audit
from rolloutcli.journal.records import open_store
from rolloutcli.judge.flagstate import FlagState, PauseMark, RolloutChange
from rolloutcli.support.errors import RolloutError

if TYPE_CHECKING:
    from rolloutcli.app.standing import Standing
    from rolloutcli.journal.notify import Delivery
    from rolloutcli.plan.notifications import NotifyEvent, Webhook
    from rolloutcli.platforms.base import Platform


ENVIRONMENT_WEBHOOKS = ("ROLLOUT_WEBHOOK_URL", "ROLLOUT_SLACK_WEBHOOK_URL")
"""notify.ENV_JSON_WEBHOOK and ENV_SLACK_WEBHOOK, named here so a command with nothing to
notify never imports notify (and httpx)."""


@dataclass
class Journal:
    """Where one command leaves its traces: the decision log, the webhooks, and the
    warnings to show the person (never errors: the change is what matters). ``notes``:
    webhooks the plan names but this environment does not configure (their variable is
    unset), said quietly: not a failure, and not recorded."""

    path: Path | str
    """Where the records go: a file, or a ``postgresql://`` URL (see journal/records.py)."""
    who: str
    command: str
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    send: Callable[..., list[Delivery]] | None = None
    written: list[str] = field(default_factory=list)
    """The ids of the records written, in order (the first is the command's own)."""
    spool_dir: Path | None = None
    """Where a PostgreSQL store that is down leaves its records (the plans' directory)."""

    def write(self, item: Mapping[str, Any]) -> None:
        try:
            open_store(self.path, self.spool_dir).append(item)
        except RolloutError as exc:
            self.warnings.append(f"decision record not written: {exc}")
            if getattr(exc, "spooled", False) and item.get("id"):
                self.written.append(str(item["id"]))  # kept in the spool, sent later
            return
        if item.get("id"):
            self.written.append(str(item["id"]))

    @property
    def record_id(self) -> str | None:
        """The id of the command's decision record, when one was written."""
        return self.written[0] if self.written else None

    def notify(
        self,
        kind: NotifyEvent,
        subject: audit.Subject,
        hooks: Sequence[Webhook],
        at: datetime,
        **details: Any,
    ) -> None:
        """Post the event to the plan's and the environment's webhooks; a failed delivery is
        a warning and a decision record (event ``notify``), never an error. A plan webhook
        whose variable is not set here is only a note (:attr:`notes`)."""
        if not any(kind in hook.events for hook in hooks) and not any(
            self.environ.get(name) for name in ENVIRONMENT_WEBHOOKS
        ):
            return  # nobody to tell: keep `kill` from loading the HTTP client
        from rolloutcli.journal import notify

        targets = []
        for target in notify.targets(list(hooks), self.environ):
            if not target.unset:
                targets.append(target)
            elif kind in target.on:
                self.notes.append(f"{kind} not notified: {target.problem}")
        if not any(kind in t.on for t in targets):
            return
        event = notify.Event(
            kind=kind,
            plan=subject.plan or subject.flag,
            flag=subject.flag,
            environment=subject.environment,
            platform=subject.where,
            at=at,
            who=self.who,
            **details,
        )
        sent = (self.send or notify.send)(event, targets)
        self.deliveries.extend(sent)
        failed = [d for d in sent if not d.ok]
        for delivery in failed:
            self.warnings.append(f"notification not delivered: {delivery.describe()}")
        if failed:
            self.write(
                audit.record(
                    event="notify",
                    subject=subject,
                    who=self.who,
                    at=at,
                    command=self.command,
                    result="failed",
                    error="; ".join(d.describe() for d in failed),
                    extra={"notification": kind},
                )
            )


def subject_of(standing: Standing) -> audit.Subject:
    loaded = standing.loaded
    return audit.Subject(
        plan=loaded.name,
        plan_file=loaded.path,
        flag=loaded.plan.flag,
        platform=loaded.plan.platform.kind,
        where=standing.platform.describe(),
        environment=loaded.plan.platform.environment,
    )


def _stage_label(standing: Standing) -> str | None:
    index = standing.position.index
    return standing.loaded.plan.stages[index].label if index is not None else None


def _with_phase(state: dict[str, Any] | None, standing: Standing) -> dict[str, Any] | None:
    """A record's ``before``, with the rollout's lifecycle phase as the tool read it."""
    return None if state is None else {**state, "phase": standing.lifecycle.phase.value}


def _phase_after(
    standing: Standing, after: FlagState, action: str, at: datetime, comment: str = ""
) -> str:
    """The lifecycle phase once the change is applied (``app.standing.lifecycle_after``)."""
    from rolloutcli.app.standing import lifecycle_after

    return lifecycle_after(standing, after, action, at, comment).phase.value


def apply_recorded(
    journal: Journal,
    standing: Standing,
    change: RolloutChange,
    at: datetime,
    *,
    verdict: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
) -> FlagState:
    """Apply an advance, a rollback or a reduce, record it (or its failure), and notify."""
    from rolloutcli.app.standing import apply_change

    change = replace(change, record=audit.new_record_id())
    subject = subject_of(standing)
    before = _with_phase(audit.state_json(standing.state, _stage_label(standing)), standing)
    common: dict[str, Any] = {
        "subject": subject,
        "who": journal.who,
        "at": at,
        "command": journal.command,
        "verdict": verdict,
        "decision": decision,
        "change": audit.change_json(change),
        "before": before,
        "record_id": change.record,
    }
    try:
        after = apply_change(standing, change, at)
    except RolloutError as exc:
        journal.write(audit.record(event=change.action, result="failed", error=str(exc), **common))
        raise
    # a reduce pauses the rollout where it lands (app/reduce.py): its phase after is paused
    marked = replace(after, paused=PauseMark(at, journal.who, change.comment))
    shown = marked if change.action == "reduce" else after
    phase_after = _phase_after(standing, shown, change.action, at, change.comment)
    after_json = audit.state_json(after, change.stage)
    journal.write(
        audit.record(
            event=change.action,
            result="applied",
            after=None if after_json is None else {**after_json, "phase": phase_after},
            **common,
        )
    )
    plan = standing.loaded.plan
    reasons = tuple(verdict.get("reasons") or ()) if verdict else ()
    kind: NotifyEvent | None = None
    if change.action in ("rollback", "reduce"):
        kind = "reduce" if change.action == "reduce" else "rollback"
    elif change.action == "advance":
        last = plan.stages[-1]
        kind = "done" if abs(change.percent - last.percent) < 1e-9 else "advance"
    if kind is not None:
        journal.notify(
            kind,
            subject,
            plan.notifications.webhooks,
            at,
            stage_before=_stage_label(standing),
            stage_after=change.stage,
            percent_before=standing.state.percent,
            percent_after=after.percent,
            verdict=verdict.get("verdict") if verdict else None,
            reasons=reasons,
            phase_before=standing.lifecycle.phase.value,
            phase_after=phase_after,
        )
    return after


def pause_recorded(
    journal: Journal,
    standing: Standing,
    paused: bool,
    reason: str,
    at: datetime,
    *,
    verdict: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
    notify: bool = True,
) -> bool:
    """Set or clear the pause mark on the platform, record it and notify (unless
    ``notify`` is False: a reduce has told of it already). Returns False when it already
    was so (recorded as ``unchanged``, not notified)."""
    subject = subject_of(standing)
    event: NotifyEvent = "pause" if paused else "resume"
    record_id = audit.new_record_id()
    common: dict[str, Any] = {
        "subject": subject,
        "who": journal.who,
        "at": at,
        "command": journal.command,
        "verdict": verdict,
        "decision": decision,
        "before": _with_phase(audit.state_json(standing.state, _stage_label(standing)), standing),
        "extra": {"reason": reason},
        "record_id": record_id,
    }
    try:
        changed = standing.platform.set_paused(
            paused, standing.loaded.name, journal.who, reason, at, record=record_id
        )
    except RolloutError as exc:
        journal.write(audit.record(event=event, result="failed", error=str(exc), **common))
        raise
    journal.write(audit.record(event=event, result="applied" if changed else "unchanged", **common))
    if changed and notify:
        mark = PauseMark(at, journal.who, reason) if paused else None
        phase = _phase_after(standing, replace(standing.state, paused=mark), event, at)
        notify_split_kept(journal, standing, event, subject, at, verdict, (reason,), phase)
    return changed


def notify_split_kept(
    journal: Journal,
    standing: Standing,
    event: NotifyEvent,
    subject: audit.Subject,
    at: datetime,
    verdict: Mapping[str, Any] | None,
    reasons: tuple[str, ...],
    phase_after: str | None = None,
) -> None:
    """Notify a change that leaves the split as it was (a pause, a resume, a knob): the
    share before and after is the one read; the phase after is ``phase_after``, else
    unchanged."""
    phase = standing.lifecycle.phase.value
    journal.notify(
        event,
        subject,
        standing.loaded.plan.notifications.webhooks,
        at,
        stage_before=_stage_label(standing),
        percent_before=standing.state.percent,
        percent_after=standing.state.percent,
        verdict=verdict.get("verdict") if verdict else None,
        reasons=reasons,
        phase_before=phase,
        phase_after=phase_after or phase,
    )


def kill_recorded(
    journal: Journal,
    platform: Platform,
    plan: str | None,
    plan_file: Path | None,
    flag: str,
    kind: str,
    hooks: Sequence[Webhook],
    comment: str,
    at: datetime,
    *,
    environment: str | None = None,
    turned_off: Callable[[bool], None] | None = None,
) -> bool:
    """Turn the flag off first; then record and notify (both best effort).

    ``environment`` names where, for the record and the notifications, when the platform's
    own is not the one to show (a flag file has none). ``turned_off(changed)`` runs as soon
    as the platform confirmed, before the record and the notifications: on-call hears
    "OFF" without waiting for a slow webhook. The record's id is minted first and named in
    the platform's note even when the record then cannot be written."""
    subject = audit.Subject(
        plan=plan,
        plan_file=plan_file,
        flag=flag,
        platform=kind,
        where=platform.describe(),
        environment=environment if environment is not None else platform.environment,
    )
    record_id = audit.new_record_id()
    common: dict[str, Any] = {
        "subject": subject,
        "who": journal.who,
        "at": at,
        "command": journal.command,
        "extra": {"reason": comment},
        "record_id": record_id,
    }
    try:
        changed = platform.turn_off(plan, comment, at, record=record_id)
    except RolloutError as exc:
        journal.write(audit.record(event="kill", result="failed", error=str(exc), **common))
        raise
    try:
        if turned_off is not None:
            turned_off(changed)
    finally:  # telling on-call may fail (stdout's reader gone): the flag is off all the same
        journal.write(
            audit.record(event="kill", result="applied" if changed else "unchanged", **common)
        )
        if changed:
            journal.notify("kill", subject, hooks, at, reasons=(comment,), percent_after=None)
    return changed


def lenient_hooks(path: Path | None) -> list[Webhook]:
    """The plan's webhooks read on their own, for kill on a plan that may not validate: a
    broken notifications section gives none (the environment's webhooks still fire)."""
    if path is None:
        return []
    try:
        from rolloutcli.plan import yamlsource

        text, _ = yamlsource.decode_lenient(yamlsource.read_plan_bytes(path))
        block = yamlsource.keep_top_level(text, ("notifications",))
        data = yamlsource.parse_yaml(path, block).data if block is not None else None
        section = data.get("notifications") if isinstance(data, dict) else None
        if not isinstance(section, dict) or not section.get("webhooks"):
            return []  # nothing to read: no need for the plan model (and pydantic)
        from rolloutcli.plan.notifications import Notifications

        return list(Notifications.model_validate(section).webhooks)
    except Exception:  # on-call's kill must not fail on a broken section
        return []
