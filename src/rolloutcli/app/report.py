"""`rollout report` as a use case: the rollout evaluated at evenly spaced moments of its
span and just before each of its decisions, its decisions, the verdict now, and the
retrospective (``judge.retrospective``).

Each moment is judged as ``check --at`` judges it (the flag replayed from the platform's
history, the metrics windowed to that moment), so the report tells what the tool would have
said then. The decisions are ``history``'s merge of the decision records and the platform's
history (applied changes only), so a rollout that ran anywhere reads the same. A moment the
history cannot replay is left out and counted, never guessed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rolloutcli.app.evaluate import Evaluation, evaluate_many
from rolloutcli.journal.record import HistoryEntry, merge_history
from rolloutcli.journal.records import open_store, records_location
from rolloutcli.judge.findings import Finding
from rolloutcli.judge.retrospective import Decision, Look, Retrospective, retrospect
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.support.errors import InvalidInputError, RolloutError, one_line
from rolloutcli.support.quoting import label

LOOKS = 24
"""Moments evaluated across the span: enough for a readable line, few enough to be quick."""
IGNORED_EVENTS = frozenset({"notify", "check", "verdict"})
"""Records that are not a change to the rollout."""
FALLBACK_SPAN = timedelta(hours=2)
"""How far back a report looks when neither --since nor the history says when it began."""


@dataclass(frozen=True)
class Moment:
    """One look: the moment and what ``check --at`` says then."""

    at: datetime
    evaluation: Evaluation

    @property
    def findings(self) -> dict[str, Finding]:
        return {f.name: f for f in self.evaluation.verdict.findings}


@dataclass(frozen=True)
class Report:
    loaded: LoadedPlan
    since: datetime
    at: datetime
    moments: tuple[Moment, ...]
    skipped: tuple[tuple[datetime, str], ...]
    """Moments that could not be judged, and why (the history does not reach them)."""
    decisions: tuple[Decision, ...]
    """Applied changes in the span, oldest first."""
    current: Evaluation
    retrospective: Retrospective
    records_problem: str | None = None


def build_report(
    loaded: LoadedPlan,
    at: datetime,
    since: datetime | None,
    replay_now: bool,
    records_file: str | None = None,
    looks: int = LOOKS,
) -> Report:
    """The report of ``loaded``'s rollout from ``since`` (default: when it began) to
    ``at``. ``replay_now``: ``at`` is a past moment (``--at``), replayed as the moments are.
    Raises the current evaluation's error (exit 2, 3) when the moment itself cannot be
    judged."""
    current = _evaluate(loaded, at, replay_now)
    if isinstance(current, RolloutError):
        raise current
    decisions = read_decisions(loaded, current, records_file)
    start = since or _began(current, decisions, at)
    check_since(start, at)
    moments: list[Moment] = []
    skipped: list[tuple[datetime, str]] = []
    for moment in look_times(start, at, looks, decisions):
        found = _evaluate(loaded, moment, True)
        if isinstance(found, RolloutError):
            skipped.append((moment, str(found)))
        else:
            moments.append(Moment(moment, found))
    moments.append(Moment(at, current))
    shown = tuple(d for d in decisions if start <= d.at <= at)
    retro = retrospect(loaded.plan, shown, [look_of(m) for m in moments], at)
    return Report(loaded, start, at, tuple(moments), tuple(skipped), shown, current, retro)


def check_since(since: datetime | None, at: datetime) -> None:
    """InvalidInputError (exit 2) unless ``since`` is before the report's moment."""
    if since is not None and since >= at:
        raise InvalidInputError(
            f"--since is not before the report's moment ({at:%Y-%m-%dT%H:%MZ}): give an "
            "earlier --since"
        )


def spaced(start: datetime, end: datetime, count: int) -> list[datetime]:
    """``count`` moments from ``start`` to ``end`` inclusive, evenly spaced (to the second)."""
    step = (end - start) / max(count - 1, 1)
    return [(start + step * i).replace(microsecond=0) for i in range(count - 1)] + [end]


def look_times(
    start: datetime, at: datetime, looks: int, decisions: tuple[Decision, ...]
) -> list[datetime]:
    """The moments judged before ``at``: ``looks`` evenly spaced, and one second before
    each decision in the span, where the verdict that led to it is seen (a rollback's
    breach lasts until the rollback, which evenly spaced looks would often fall after)."""
    before = {d.at - timedelta(seconds=1) for d in decisions if start < d.at <= at}
    return sorted(set(spaced(start, at, looks)[:-1]) | {t for t in before if t >= start})


def look_of(moment: Moment) -> Look:
    verdict = moment.evaluation.verdict
    return Look(
        moment.at,
        verdict.kind.value,
        tuple(r.code.value for r in verdict.reasons),
        tuple((f.name, f.status.value) for f in verdict.findings),
    )


def read_decisions(
    loaded: LoadedPlan, current: Evaluation, records_file: str | None
) -> tuple[Decision, ...]:
    """The applied changes of the plan's flag, oldest first: its records paired with the
    platform's history (what ``rollout history`` shows)."""
    store = open_store(records_location(loaded.base_dir, records_file, os.environ), loaded.base_dir)
    stored = store.read(plan=loaded.name, flag=loaded.plan.flag)
    changes = list(current.standing.history)
    entries = merge_history(stored.entries, changes, loaded.name, loaded.plan.flag)
    return tuple(decision_of(e) for e in reversed(entries) if _is_change(e))


def decision_of(entry: HistoryEntry) -> Decision:
    """A history entry as a decision; its texts came from a record or a platform (anyone
    may have written them), so none carries a control character on to a page or a screen."""
    step = entry.lifecycle
    event = "restart" if step == "restarted" else entry.event
    causes, segments = recorded_breaches(entry.raw)
    return Decision(
        entry.at,
        one_line(event),
        None if entry.who is None else label(entry.who),
        one_line(entry.detail),
        None if entry.stage is None else label(entry.stage),
        entry.percent_after,
        step,
        tuple(label(name) for name in causes),
        tuple((label(name), label(segment)) for name, segment in segments),
    )


BREACHES = frozenset({"pause", "rollback"})


def recorded_breaches(
    raw: Mapping[str, Any] | None,
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """From a decision record's verdict (the JSON contract's ``metrics``): the guardrails
    at a pause or rollback tier, and (guardrail, segment) for each breached in a segment.
    A record is a file anyone may have edited: what is not as the contract writes it is
    left out."""
    verdict = raw.get("verdict") if raw is not None else None
    metrics = verdict.get("metrics") if isinstance(verdict, Mapping) else None
    if not isinstance(metrics, list):
        return (), ()
    causes: list[str] = []
    segments: list[tuple[str, str]] = []
    for metric in metrics:
        name = metric.get("name") if isinstance(metric, Mapping) else None
        if not isinstance(name, str):
            continue
        if metric.get("status") in BREACHES:
            causes.append(name)
        segment = metric.get("breached_segment")
        if isinstance(segment, str):
            segments.append((name, segment))
    return tuple(causes), tuple(segments)


def _is_change(entry: HistoryEntry) -> bool:
    if entry.event in IGNORED_EVENTS:
        return False
    return entry.result in (None, "applied")


def _began(current: Evaluation, decisions: tuple[Decision, ...], at: datetime) -> datetime:
    """When the rollout began: its position says (as of ``at``), else its first decision,
    else ``FALLBACK_SPAN`` before ``at``."""
    began = current.standing.position.rollout_began
    if began is None and decisions:
        began = decisions[0].at
    if began is None or began >= at:
        return at - FALLBACK_SPAN
    first = decisions[0].at if decisions else began
    return min(began, first)


def _evaluate(loaded: LoadedPlan, at: datetime, replay: bool) -> Evaluation | RolloutError:
    return evaluate_many([loaded], at, None, replay)[0]
