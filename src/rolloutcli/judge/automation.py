"""What `rollout watch --auto` does with a verdict, under the plan's automation policy. Pure.

The verdict says what the data supports; this says what the tool may do about it on its
own. Rules, in order:

1. the flag is off (killed) → nothing: a person turns it back on, and kill always wins;
2. ``rollback`` → roll back (policy ``rollback: auto``), unless nothing is served to roll
   back; a pause mark never stops a rollback;
3. ``pause`` → mark the rollout paused on the platform (policy ``pause: auto``), once; when
   a guardrail whose pause tier it reached says ``on_pause: reduce``
   (:func:`reduce_target`), first step back to the previous stage (or its ``reduce_to``)
   and pause there (policy ``reduce: auto``); when it says ``on_pause: {knob: ...}``
   (:func:`knob_response`), set the knob to its next value instead (policy ``knob:
   auto``): the stage's evidence starts again from the change; already paused → nothing;
4. ``go`` →
   - paused (by a person or an earlier pause verdict) → nothing until ``rollout resume``;
   - off-plan (a percentage set by hand) → nothing: a person decides;
   - not started → nothing if the last change was a rollback or kill (a person restarts
     it), else enter the first stage only with ``start: auto``;
   - the next stage needs approval (``advance: manual``, above ``advance_up_to``, or in
     ``approve``) or has a ``checklist`` → nothing, waiting for ``rollout advance``;
   - outside every ``automation.windows`` or in a ``freeze`` → nothing until the next
     opening (:mod:`rolloutcli.judge.policywindow`; pause and rollback never wait for it);
   - else advance one stage (never more: the next check starts the new stage's window);
5. ``hold`` and ``done`` → nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, KnobReading
from rolloutcli.judge.knobs import NO_RESPONSE, KnobResponse, KnobStep, respond
from rolloutcli.judge.policywindow import allowed
from rolloutcli.judge.position import Position
from rolloutcli.judge.verdict import Verdict, VerdictKind
from rolloutcli.plan.knobvalues import show_value
from rolloutcli.plan.model import Plan
from rolloutcli.support.timeutil import format_timestamp


class Act(StrEnum):
    NONE = "none"
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    PAUSE = "pause"
    REDUCE = "reduce"
    KNOB = "knob"


@dataclass(frozen=True)
class Decision:
    """The action to take, and why; ``waiting`` when a person must act for it to go on,
    ``held`` when the policy's windows or freezes hold a go until a later moment."""

    action: Act
    reason: str
    waiting: bool = False
    held: bool = False


# The platform changes after which a rollout at 0% is stopped, not merely unstarted.
STOPPING_ACTIONS = frozenset({"rollback", "kill"})


def decide_action(
    plan: Plan,
    name: str,
    kind: VerdictKind,
    state: FlagState,
    position: Position,
    last_change: ChangeRecord | None = None,
    now: datetime | None = None,
    reduce_to: int | None = None,
    knob: KnobStep | None = None,
) -> Decision:
    """The action `watch --auto` takes for this verdict. ``last_change`` is the latest
    rollout change (advance, rollback or kill) in the platform's history, needed only to
    tell a rolled-back rollout from one that never started. ``now``: the moment the
    policy's windows and freezes are read at (None: they are not consulted).
    ``reduce_to``: the stage a pause verdict steps back to (:func:`reduce_target`);
    ``knob``: the knob a pause verdict tunes (:func:`knob_response`), before any reduce."""
    policy = plan.automation
    if not state.on:
        return Decision(Act.NONE, "the flag is off (killed): a person turns it back on")
    if kind is VerdictKind.ROLLBACK:
        if state.percent == 0 and not state.audience_keys and not state.audience_segment:
            return Decision(Act.NONE, "nothing is served to the treatment: nothing to roll back")
        if policy.rollback == "auto":
            return Decision(Act.ROLLBACK, "rollback verdict; the policy rolls back automatically")
        return Decision(
            Act.NONE,
            f"rollback verdict; the policy leaves it to a person: rollout rollback {name}",
            waiting=True,
        )
    if kind is VerdictKind.PAUSE:
        if state.paused is not None:
            return Decision(Act.NONE, f"already paused{_since(state)}", waiting=True)
        if knob is not None:
            return _knob(plan, name, knob)
        if reduce_to is not None:
            return _reduce(plan, name, reduce_to)
        if policy.pause == "auto":
            return Decision(Act.PAUSE, "pause verdict; automatic advancing stops until resumed")
        return Decision(Act.NONE, "pause verdict; the policy only reports it", waiting=True)
    if kind is not VerdictKind.GO:
        return Decision(Act.NONE, f"verdict {kind.value}: nothing to do")
    if state.paused is not None:
        return Decision(
            Act.NONE,
            f"paused{_since(state)}: rollout resume {name} lets it advance",
            waiting=True,
        )
    return _advance(plan, name, state, position, last_change, now)


def _reduce(plan: Plan, name: str, index: int) -> Decision:
    label = plan.stages[index].label
    if plan.automation.reduce == "auto":
        return Decision(
            Act.REDUCE,
            f"pause verdict on a reduce tier; the policy steps back to {label} and pauses",
        )
    return Decision(
        Act.NONE,
        f"pause verdict on a reduce tier; the policy leaves it to a person: "
        f"rollout reduce {name} --to {label}",
        waiting=True,
    )


def _knob(plan: Plan, name: str, step: KnobStep) -> Decision:
    what = step.describe()
    if plan.automation.knob == "auto":
        return Decision(Act.KNOB, f"pause verdict on a knob tier; the policy will {what}")
    return Decision(
        Act.NONE,
        f"pause verdict on a knob tier ({what}); the policy leaves it to a person: "
        f"rollout tune {name} {step.knob} {show_value(step.after)}",
        waiting=True,
    )


def knob_response(
    plan: Plan, verdict: Verdict, readings: Mapping[str, KnobReading]
) -> KnobResponse:
    """What a pause verdict's knob tiers call for (:func:`~rolloutcli.judge.knobs.respond`);
    nothing for any other verdict."""
    if verdict.kind is not VerdictKind.PAUSE:
        return NO_RESPONSE
    return respond(plan, verdict.findings, readings)


def reduce_target(
    plan: Plan, verdict: Verdict, reducing: Collection[str] = frozenset()
) -> int | None:
    """The stage a pause verdict steps back to, when a guardrail at its pause tier says
    ``on_pause: reduce``: its ``reduce_to`` when that lies below the current stage, else
    the previous stage; the lowest such stage over the guardrails. None when no such
    guardrail paused, or the rollout is at its first stage (or off-plan): nothing to step
    back to, so the verdict is a plain pause. ``reducing``: guardrails whose knob is used up
    with ``then: reduce`` (:attr:`~rolloutcli.judge.knobs.KnobResponse.reducing`)."""
    if verdict.kind is not VerdictKind.PAUSE:
        return None
    current = verdict.position.index
    if current is None or current == 0 or verdict.position.off_plan:
        return None
    targets = []
    for finding in verdict.findings:
        guardrail = plan.guardrail(finding.name)
        if finding.status != "pause" or guardrail is None:
            continue
        if guardrail.on_pause != "reduce" and guardrail.name not in reducing:
            continue
        named = None if guardrail.reduce_to is None else plan.stage_index(guardrail.reduce_to)
        targets.append(named if named is not None and named < current else current - 1)
    return min(targets, default=None)


def _advance(
    plan: Plan,
    name: str,
    state: FlagState,
    position: Position,
    last_change: ChangeRecord | None,
    now: datetime | None,
) -> Decision:
    policy = plan.automation
    if position.off_plan:
        return Decision(
            Act.NONE,
            f"{state.percent:g}% was set by hand (off-plan): rollout advance {name} moves it on",
            waiting=True,
        )
    if position.next_index is None:
        return Decision(Act.NONE, "at the last stage")
    target = plan.stages[position.next_index]
    if position.not_started:
        if last_change is not None and last_change.action in STOPPING_ACTIONS:
            return Decision(
                Act.NONE,
                f"{_past(last_change.action)} at {format_timestamp(last_change.at)}: "
                f"a person restarts it with rollout advance {name}",
                waiting=True,
            )
        if policy.start != "auto":
            return Decision(
                Act.NONE,
                f"not started; the policy leaves the start to a person: rollout advance {name}",
                waiting=True,
            )
    if policy.needs_approval(target):
        return Decision(
            Act.NONE,
            f"stage {target.label} needs approval: rollout advance {name}",
            waiting=True,
        )
    if target.checklist:
        return Decision(
            Act.NONE,
            f"stage {target.label} has a checklist: rollout advance {name} answers it",
            waiting=True,
        )
    if now is not None and not (window := allowed(policy, now)).ok:
        return Decision(Act.NONE, window.reason, held=True)
    return Decision(Act.ADVANCE, f"go; the policy advances to {target.label} automatically")


def _since(state: FlagState) -> str:
    mark = state.paused
    if mark is None:
        return ""
    parts = []
    if mark.by:
        parts.append(f"by {mark.by}")
    if mark.at:
        parts.append(f"at {format_timestamp(mark.at)}")
    text = (" " + " ".join(parts)) if parts else ""
    return text + (f" ({mark.reason})" if mark.reason else "")


def _past(action: str) -> str:
    return {"rollback": "rolled back", "kill": "killed"}.get(action, action)


def last_rollout_change(history: Iterable[ChangeRecord]) -> ChangeRecord | None:
    """The latest change that moved the rollout (not a pause or resume mark)."""
    moves = [r for r in history if r.action not in ("pause", "resume")]
    return max(moves, key=lambda r: r.at) if moves else None


def time_left(plan: Plan, state: FlagState, position: Position, now: datetime) -> timedelta | None:
    """What remains of the stage's minimum window, or None when elapsed or unknown."""
    elapsed = position.stage_elapsed(now)
    if position.index is None or elapsed is None:
        return None
    left = plan.stages[position.index].window - elapsed
    return left if left.total_seconds() > 0 else None
