"""One round of `rollout watch`: check every plan, and with ``--auto`` act on each verdict as
the plan's automation policy allows (at most one change per plan per round).

Stateless: every round starts from the platform's state, so a stopped and restarted watch,
or a scheduled ``watch --auto --once`` job on a fresh runner, continues where the rollout
stands. What a round did is in the decision records and the platform's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .actions import Journal, apply_recorded, pause_recorded
from .automation import Act, Decision, decide_action, last_rollout_change
from .engine import Evaluation, advance_change, evaluate_many, rollback_change
from .errors import PlanError, RolloutError
from .plan import LoadedPlan, load_plan, resolve_plan_path
from .render import decision_json


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


def run_round(
    refs: list[str],
    plans_dir: Path | None,
    now: datetime,
    *,
    auto: bool,
    journal_for: Callable[[LoadedPlan], Journal],
    concurrency: int | None = None,
) -> list[PlanRound]:
    loaded: list[LoadedPlan | RolloutError] = []
    for ref in refs:
        try:
            loaded.append(load_plan(resolve_plan_path(ref, plans_dir)))
        except RolloutError as exc:
            loaded.append(exc)
    good = [item for item in loaded if isinstance(item, LoadedPlan)]
    evaluations = iter(evaluate_many(good, now, concurrency))
    rounds: list[PlanRound] = []
    for ref, item in zip(refs, loaded, strict=True):
        outcome = item if isinstance(item, RolloutError) else next(evaluations)
        if isinstance(outcome, RolloutError):
            text = "; ".join(outcome.problems) if isinstance(outcome, PlanError) else str(outcome)
            rounds.append(PlanRound(ref, error=text, exit_code=outcome.exit_code))
            continue
        rounds.append(_act(ref, outcome, now, auto, journal_for))
    return rounds


def _act(
    ref: str,
    evaluation: Evaluation,
    now: datetime,
    auto: bool,
    journal_for: Callable[[LoadedPlan], Journal],
) -> PlanRound:
    standing, verdict = evaluation.standing, evaluation.verdict
    loaded = standing.loaded
    last = None
    if standing.position.not_started and verdict.kind.value == "go":
        try:
            last = last_rollout_change(standing.platform.history())
        except RolloutError as exc:
            return PlanRound(ref, evaluation, error=str(exc), exit_code=exc.exit_code)
    decision = decide_action(
        loaded.plan, loaded.name, verdict.kind, standing.state, standing.position, last
    )
    if not auto or decision.action is Act.NONE:
        return PlanRound(ref, evaluation, decision=decision)
    journal = journal_for(loaded)
    document = decision_json(evaluation)
    chosen = {"action": decision.action.value, "reason": decision.reason, "policy": "auto"}
    applied: str | None = None
    try:
        if decision.action is Act.ADVANCE:
            change = advance_change(evaluation)
            after = apply_recorded(
                journal, standing, change, now, verdict=document, decision=chosen
            )
            applied = f"advanced {standing.state.percent:g}% → {after.percent:g}% ({change.stage})"
        elif decision.action is Act.ROLLBACK:
            change = rollback_change(standing, f"verdict rollback: {_first(verdict.reasons)}")
            after = apply_recorded(
                journal, standing, change, now, verdict=document, decision=chosen
            )
            applied = f"rolled back {standing.state.percent:g}% → {after.percent:g}%"
        elif decision.action is Act.PAUSE:
            reason = f"pause verdict: {_first(verdict.reasons)}"
            pause_recorded(journal, standing, True, reason, now, verdict=document, decision=chosen)
            applied = "paused: automatic advancing stops until rollout resume"
    except RolloutError as exc:
        return PlanRound(
            ref,
            evaluation,
            decision=decision,
            action_error=str(exc),
            action_exit_code=exc.exit_code,
            warnings=tuple(journal.warnings),
        )
    return PlanRound(
        ref, evaluation, decision=decision, applied=applied, warnings=tuple(journal.warnings)
    )


def _first(reasons: tuple[str, ...]) -> str:
    return reasons[0] if reasons else "no reason given"
