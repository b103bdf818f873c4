"""One round of `rollout watch`: check every plan, and with ``--auto`` act on each verdict as
the plan's automation policy allows (at most one change per plan per round).

Stateless: every round starts from the platform's state, so a stopped and restarted watch,
or a scheduled ``watch --auto --once`` job on a fresh runner, continues where the rollout
stands. What a round did is in the decision records and the platform's history.

One actor per plan: with ``lock_for``, a plan is acted on only under its lock (journal/
planlock.py), taken when the round would act (``--auto`` and a decision other than none),
for that plan's action and its notification. Only actions notify, so a report-only round
needs no lock. A plan whose lock another watcher holds is skipped (``skipped="locked"``);
once locked, the flag is read again, and a flag that changed since the round read it (the
other watcher just acted) is skipped too (``skipped="moved"``): the next round decides
from where it stands now. Neither is an error.

One plan never stops the round: a plan that cannot be loaded, checked or acted on — a
``RolloutError``, or any exception nobody expected (reported with its type and message as
an ``InternalError``) — is that plan's error, and every other plan still gets its verdict
and its automatic action. ``run_round`` itself never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rolloutcli.app.apply import Journal, apply_recorded, pause_recorded
from rolloutcli.app.evaluate import Evaluation, advance_change, evaluate_many
from rolloutcli.app.knob import tune_recorded
from rolloutcli.app.reduce import reduce_change, reduce_recorded
from rolloutcli.app.standing import rollback_change
from rolloutcli.journal.planlock import Busy, Lease, PlanKey
from rolloutcli.judge.automation import (
    Act,
    Decision,
    decide_action,
    knob_response,
    last_rollout_change,
    reduce_target,
)
from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.messages import first_sentence
from rolloutcli.plan.locate import resolve_plan_path
from rolloutcli.plan.model import LoadedPlan, load_plan
from rolloutcli.support.errors import InternalError, PlanError, RolloutError

Describe = Callable[[Evaluation], dict[str, Any]]
"""What a decision record keeps of an evaluation's verdict."""
LockFor = Callable[[LoadedPlan, PlanKey], Lease | Busy]
"""The plan's lock, taken without waiting (journal/planlock.py's ``try_lock``)."""


@dataclass(frozen=True)
class PlanRound:
    """What one round found and did for one plan."""

    ref: str
    evaluation: Evaluation | None = None
    error: str | None = None
    exit_code: int = 0
    decision: Decision | None = None
    applied: str | None = None
    action_error: str | None = None
    action_exit_code: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    record_id: str | None = None
    """The id of the decision record the action wrote, when it wrote one."""
    skipped: str | None = None
    """Why the action was left to another watcher: ``locked`` (it holds the plan's lock) or
    ``moved`` (the flag changed since this round read it); ``skip_reason`` says it in words."""
    skip_reason: str | None = None


def run_round(
    refs: list[str],
    plans_dir: Path | None,
    now: datetime,
    *,
    auto: bool,
    journal_for: Callable[[LoadedPlan], Journal],
    describe: Describe,
    concurrency: int | None = None,
    lock_for: LockFor | None = None,
    loaded: list[LoadedPlan | RolloutError] | None = None,
) -> list[PlanRound]:
    """Evaluate ``refs`` together, then decide (and with ``auto`` act) plan by plan.
    ``describe`` turns an evaluation into what a decision record keeps of the verdict (the
    JSON contract, which lives with the renderers); ``lock_for``: each plan's lock, taken
    to act (None: act unlocked). ``loaded``: the plans of ``refs``, already loaded
    (``--all``); else they are loaded here."""
    if loaded is None:
        loaded = [_load(ref, plans_dir) for ref in refs]
    good = [item for item in loaded if isinstance(item, LoadedPlan)]
    evaluations = iter(_evaluate(good, now, concurrency))
    rounds: list[PlanRound] = []
    for ref, item in zip(refs, loaded, strict=True):
        outcome = item if isinstance(item, RolloutError) else next(evaluations)
        if isinstance(outcome, RolloutError):
            rounds.append(_failed(ref, outcome))
            continue
        try:
            rounds.append(_act(ref, outcome, now, auto, journal_for, describe, lock_for))
        except Exception as exc:  # deciding (not acting) failed: a bug, this plan's alone
            error = InternalError.of(exc, f"deciding for plan {ref}")
            rounds.append(PlanRound(ref, outcome, error=str(error), exit_code=error.exit_code))
    return rounds


def _load(ref: str, plans_dir: Path | None) -> LoadedPlan | RolloutError:
    try:
        return load_plan(resolve_plan_path(ref, plans_dir))
    except RolloutError as exc:
        return exc
    except Exception as exc:
        return InternalError.of(exc, f"loading plan {ref}")


def _evaluate(
    plans: list[LoadedPlan], now: datetime, concurrency: int | None
) -> list[Evaluation | RolloutError]:
    """Every plan's evaluation together (one pool of queries); should that fail as a whole,
    each plan on its own, so one plan's failure stays that plan's."""
    try:
        results = evaluate_many(plans, now, concurrency)
        if len(results) == len(plans):
            return results
    except Exception:  # retried plan by plan below, where each failure is reported
        pass
    return [_evaluate_one(plan, now, concurrency) for plan in plans]


def _evaluate_one(
    plan: LoadedPlan, now: datetime, concurrency: int | None
) -> Evaluation | RolloutError:
    try:
        (result,) = evaluate_many([plan], now, concurrency)
        return result
    except RolloutError as exc:
        return exc
    except Exception as exc:
        return InternalError.of(exc, f"checking plan {plan.name}")


def _failed(ref: str, error: RolloutError) -> PlanRound:
    text = "; ".join(error.problems) if isinstance(error, PlanError) else str(error)
    return PlanRound(ref, error=text, exit_code=error.exit_code)


def _act(
    ref: str,
    evaluation: Evaluation,
    now: datetime,
    auto: bool,
    journal_for: Callable[[LoadedPlan], Journal],
    describe: Describe,
    lock_for: LockFor | None = None,
) -> PlanRound:
    standing, verdict = evaluation.standing, evaluation.verdict
    loaded = standing.loaded
    last = None
    if standing.position.not_started and verdict.kind.value == "go":
        last = last_rollout_change(standing.history)
    knobs = knob_response(loaded.plan, verdict, standing.knobs)
    decision = decide_action(
        loaded.plan,
        loaded.name,
        verdict.kind,
        standing.state,
        standing.position,
        last,
        now,
        reduce_target(loaded.plan, verdict, knobs.reducing),
        knobs.step,
    )
    if not auto or decision.action is Act.NONE:
        return PlanRound(ref, evaluation, decision=decision)
    if lock_for is None:
        return _carry_out(ref, evaluation, decision, now, journal_for, describe)
    lease = _lock(lock_for, loaded)
    if isinstance(lease, Busy):
        held = f" ({lease.holder})" if lease.holder else ""
        reason = f"skipped: another watcher holds plan {loaded.name}{held}"
        return PlanRound(ref, evaluation, decision=decision, skipped="locked", skip_reason=reason)
    lock_warnings = (lease.warning,) if lease.warning else ()
    with lease:
        try:
            moved = _moved(standing.state, _read_again(evaluation))
        except Exception as exc:
            return _action_failed(ref, evaluation, decision, exc, lock_warnings)
        if moved:
            reason = (
                f"skipped: plan {loaded.name}'s flag changed since this round read it "
                "(another watcher acted); the next round decides from there"
            )
            return PlanRound(
                ref,
                evaluation,
                decision=decision,
                skipped="moved",
                skip_reason=reason,
                warnings=lock_warnings,
            )
        done = _carry_out(ref, evaluation, decision, now, journal_for, describe)
    return replace(done, warnings=lock_warnings + done.warnings)


def _lock(lock_for: LockFor, loaded: LoadedPlan) -> Lease | Busy:
    """The plan's lock; a lock that fails unexpectedly never blocks the action (a rollback
    least of all): it goes ahead unlocked, with a warning."""
    plan = loaded.plan
    try:
        return lock_for(loaded, PlanKey(loaded.name, plan.flag, plan.platform.environment))
    except Exception as exc:
        what = str(exc) if isinstance(exc, RolloutError) else f"{type(exc).__name__}: {exc}"
        return Lease(warning=f"plan lock not taken ({' '.join(what.split())}): acting without it")


def _carry_out(
    ref: str,
    evaluation: Evaluation,
    decision: Decision,
    now: datetime,
    journal_for: Callable[[LoadedPlan], Journal],
    describe: Describe,
) -> PlanRound:
    """Act on ``decision``; its record's id, or the failure, as this plan's round."""
    journal: Journal | None = None
    try:
        journal = journal_for(evaluation.standing.loaded)
        known = len(journal.written)
        applied = _apply(journal, evaluation, decision, now, describe(evaluation))
    except Exception as exc:
        warnings = tuple(journal.warnings) if journal is not None else ()
        return _action_failed(ref, evaluation, decision, exc, warnings)
    written = journal.written[known:]
    return PlanRound(
        ref,
        evaluation,
        decision=decision,
        applied=applied,
        warnings=tuple(journal.warnings),
        record_id=written[0] if written else None,
    )


def _action_failed(
    ref: str,
    evaluation: Evaluation,
    decision: Decision,
    exc: Exception,
    warnings: tuple[str, ...],
) -> PlanRound:
    error = exc if isinstance(exc, RolloutError) else InternalError.of(exc, f"acting on {ref}")
    return PlanRound(
        ref,
        evaluation,
        decision=decision,
        action_error=str(error),
        action_exit_code=error.exit_code,
        warnings=warnings,
    )


def _read_again(evaluation: Evaluation) -> FlagState:
    """The flag as it is now (one read of the state, not of the history)."""
    standing = evaluation.standing
    variations = standing.loaded.plan.variations
    return standing.platform.read_state(variations.treatment, variations.control)


def _moved(before: FlagState, now: FlagState) -> bool:
    """Whether the flag changed between two readings: the platform's version token (what
    its conditional write compares), else the split, on/off and pause."""
    if before.version or now.version:
        return before.version != now.version
    return (before.on, before.percent, before.paused) != (now.on, now.percent, now.paused)


def _apply(
    journal: Journal,
    evaluation: Evaluation,
    decision: Decision,
    now: datetime,
    document: dict[str, Any],
) -> str:
    """Carry out ``decision`` (never NONE); what was done, in a few words."""
    standing, verdict = evaluation.standing, evaluation.verdict
    chosen = {"action": decision.action.value, "reason": decision.reason, "policy": "auto"}
    if decision.action is Act.ADVANCE:
        change = advance_change(evaluation)
        after = apply_recorded(journal, standing, change, now, verdict=document, decision=chosen)
        return f"advanced {standing.state.percent:g}% → {after.percent:g}% ({change.stage})"
    if decision.action is Act.ROLLBACK:
        change = rollback_change(standing, f"verdict rollback: {first_sentence(verdict.reasons)}")
        after = apply_recorded(journal, standing, change, now, verdict=document, decision=chosen)
        return f"rolled back {standing.state.percent:g}% → {after.percent:g}%"
    plan = standing.loaded.plan
    knobs = knob_response(plan, verdict, standing.knobs)
    if decision.action is Act.KNOB:
        step = knobs.step
        assert step is not None  # decided on it
        why = f"pause verdict: {first_sentence(verdict.reasons)}"
        expected = standing.knobs[step.knob]
        tune_recorded(
            journal, standing, step, expected, why, now, verdict=document, decision=chosen
        )
        return f"{step.describe()}: the stage's evidence starts again from now"
    if decision.action is Act.REDUCE:
        index = reduce_target(plan, verdict, knobs.reducing)
        assert index is not None  # decided on it
        why = f"pause verdict: {first_sentence(verdict.reasons)}"
        change = reduce_change(standing, index, why)
        after = reduce_recorded(
            journal, standing, change, why, now, verdict=document, decision=chosen
        )
        return (
            f"reduced {standing.state.percent:g}% → {after.percent:g}% ({change.stage}) and "
            "paused: automatic advancing stops until rollout resume"
        )
    reason = f"pause verdict: {first_sentence(verdict.reasons)}"
    pause_recorded(journal, standing, True, reason, now, verdict=document, decision=chosen)
    return "paused: automatic advancing stops until rollout resume"
