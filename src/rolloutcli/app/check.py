"""`rollout check` as a use case: evaluate the plans :mod:`rolloutcli.app.fleet` loaded,
together (one pool of metrics queries), and keep each plan's error as that plan's alone; then the
exit code: a plan's error wins, else ``--fail-on``'s tier.

``check --explain`` stops before any query: :func:`explain_plans` resolves them only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rolloutcli.app.evaluate import Evaluation, Explained, evaluate_many, explain_queries
from rolloutcli.plan.fields import TIERS
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.support.errors import EXIT_BREACH, RolloutError

FAIL_TIERS = ("warn", "pause", "rollback")
_AT_A_TIER = frozenset(TIERS)  # finding statuses that reached a tier (warn or worse)
_FAILING_VERDICTS = {
    "rollback": frozenset({"rollback"}),
    "pause": frozenset({"pause", "rollback"}),
    "warn": frozenset({"pause", "rollback"}),
}
_FAILING_PHASES = {
    "rollback": frozenset({"rolled_back", "killed"}),
    "pause": frozenset({"paused", "rolled_back", "killed"}),
    "warn": frozenset({"paused", "rolled_back", "killed"}),
}
"""Lifecycle phases (``judge.lifecycle``) that fail a tier whatever the verdict: a rollout
that stands rolled back or killed keeps a CI gate red until a person acts; a paused one too
under ``--fail-on pause`` (or warn)."""


@dataclass(frozen=True)
class Checked:
    """One plan named on the command line: the plan (None when it did not load) and its
    evaluation, or the error that stopped it."""

    ref: str
    plan: LoadedPlan | None
    outcome: Evaluation | RolloutError


def check_plans(
    refs: list[str],
    loaded: list[LoadedPlan | RolloutError],
    now: datetime,
    concurrency: int | None,
    replay: bool = False,
) -> list[Checked]:
    """Evaluate the plans that loaded, together, and pair each ref with its outcome.
    ``replay``: ``now`` is ``--at``, and each flag is replayed to it."""
    good = [item for item in loaded if not isinstance(item, RolloutError)]
    evaluations = iter(evaluate_many(good, now, concurrency, replay))
    checked: list[Checked] = []
    for ref, item in zip(refs, loaded, strict=True):
        if isinstance(item, RolloutError):
            checked.append(Checked(ref, None, item))
        else:
            checked.append(Checked(ref, item, next(evaluations)))
    return checked


def explain_plans(
    loaded: list[LoadedPlan | RolloutError], now: datetime, replay: bool = False
) -> list[Explained | RolloutError]:
    """Each plan's metrics queries as they would be sent, or the error that stops them."""
    explained: list[Explained | RolloutError] = []
    for item in loaded:
        if isinstance(item, RolloutError):
            explained.append(item)
            continue
        try:
            explained.append(explain_queries(item, now, replay))
        except RolloutError as exc:
            explained.append(exc)
    return explained


def worst_error(outcomes: Iterable[object]) -> int:
    """The highest exit code among the errors in ``outcomes`` (0 when there is none)."""
    return max((o.exit_code for o in outcomes if isinstance(o, RolloutError)), default=0)


def fails(evaluations: Iterable[Evaluation], tier: str) -> bool:
    """Whether ``--fail-on tier`` fails: ``rollback`` on any rollback verdict or a rollout
    that stands rolled back or killed; ``pause`` on those, a pause verdict or a paused
    rollout; ``warn`` on those or on any guardrail at warn or worse."""
    if tier not in _FAILING_VERDICTS:
        raise ValueError(f"unknown tier {tier!r}: one of {', '.join(FAIL_TIERS)}")
    for evaluation in evaluations:
        verdict = evaluation.verdict
        if verdict.kind.value in _FAILING_VERDICTS[tier]:
            return True
        if evaluation.standing.lifecycle.phase.value in _FAILING_PHASES[tier]:
            return True
        if tier == "warn" and any(f.status in _AT_A_TIER for f in verdict.findings):
            return True
    return False


def exit_code(checked: list[Checked], fail_on: str | None, fail_on_breach: bool) -> int:
    """A plan's error keeps its own code (2, 3; the worst of them); else 1 when a tier that
    ``--fail-on`` (or ``--fail-on-breach``: rollback) names was reached; else 0."""
    worst = worst_error(c.outcome for c in checked)
    if worst:
        return worst
    tiers = [fail_on] if fail_on else []
    if fail_on_breach:
        tiers.append("rollback")
    evaluations = [c.outcome for c in checked if not isinstance(c.outcome, RolloutError)]
    return EXIT_BREACH if any(fails(evaluations, tier) for tier in tiers) else 0
