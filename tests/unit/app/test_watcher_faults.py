"""One plan that cannot be loaded, checked or acted on never stops a `watch` round: it is that
plan's error (an unexpected exception with its type and message), and the other plans still
get their verdicts and their automatic actions.

The round runs on the example workspace (flag file, metrics file). The faults are injected by
replacing one collaborator of watcher.py for one plan, the way a bug there would behave.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.app import watch as watcher
from rolloutcli.app.apply import Journal
from rolloutcli.judge.automation import Act, Decision
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.render.contract import decision_json
from rolloutcli.support.errors import EXIT_INTERNAL, BackendError

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
PLANS = ["checkout-v2", "search-ranking", "recommender-model"]


def journal_for(loaded: LoadedPlan) -> Journal:
    return Journal(path=loaded.base_dir / ".rollout" / "decisions.jsonl", who="t", command="w")


def run(auto: bool = False) -> list[watcher.PlanRound]:
    return watcher.run_round(
        PLANS,
        Path("plans"),
        NOW,
        auto=auto,
        journal_for=journal_for,
        describe=decision_json,
        concurrency=2,
    )


def test_a_plan_that_breaks_loading_is_its_own_error(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = watcher.load_plan

    def load(path: Path) -> LoadedPlan:
        if path.stem == "search-ranking":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path)

    monkeypatch.setattr(watcher, "load_plan", load)
    rounds = run()
    assert [r.ref for r in rounds] == PLANS
    broken = rounds[1]
    assert broken.evaluation is None and broken.exit_code == EXIT_INTERNAL
    assert broken.error is not None and broken.error.startswith(
        "internal error while loading plan search-ranking: RecursionError: maximum recursion "
        "depth exceeded"
    )
    assert all(r.evaluation is not None and r.error is None for r in (rounds[0], rounds[2]))


def test_a_batch_evaluation_that_blows_up_is_retried_plan_by_plan(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = watcher.evaluate_many
    calls: list[list[str]] = []

    def evaluate(plans: list[LoadedPlan], now: datetime, limit: int | None = None) -> Any:
        calls.append([p.name for p in plans])
        if len(plans) > 1:
            raise ValueError("cannot convert float NaN to integer")
        if plans[0].name == "checkout-v2":
            raise TypeError("unsupported format string passed to NoneType.__format__")
        if plans[0].name == "recommender-model":
            raise BackendError("prometheus", "cannot reach http://127.0.0.1:9")
        return real(plans, now, limit)

    monkeypatch.setattr(watcher, "evaluate_many", evaluate)
    rounds = run()
    assert calls == [PLANS, ["checkout-v2"], ["search-ranking"], ["recommender-model"]]
    assert rounds[0].exit_code == EXIT_INTERNAL and rounds[0].error == (
        "internal error while checking plan checkout-v2: TypeError: unsupported format "
        "string passed to NoneType.__format__ (a bug: please report it; ROLLOUT_DEBUG=1 "
        "shows the traceback)"
    )
    assert rounds[1].evaluation is not None and rounds[1].error is None
    assert rounds[2].exit_code == 3
    assert rounds[2].error == "prometheus: cannot reach http://127.0.0.1:9"


def test_one_plan_failing_to_act_never_stops_the_others_actions(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acted: list[str] = []

    def decide(plan: Any, name: str, *rest: Any) -> Decision:
        return Decision(Act.ROLLBACK, "test: act on every plan")

    def apply(
        journal: Journal, evaluation: Any, decision: Decision, now: datetime, document: Any
    ) -> str:
        name = evaluation.standing.loaded.name
        if name == "checkout-v2":
            raise KeyError("treatment")
        if name == "search-ranking":
            raise BackendError("flagfile", "flag file flags/flags.json not found")
        acted.append(name)
        return "rolled back 5% → 0%"

    monkeypatch.setattr(watcher, "decide_action", decide)
    monkeypatch.setattr(watcher, "_apply", apply)
    rounds = run(auto=True)
    first, second, third = rounds
    assert first.action_exit_code == EXIT_INTERNAL and first.action_error is not None
    assert first.action_error.startswith(
        "internal error while acting on checkout-v2: KeyError: 'treatment'"
    )
    assert (second.action_exit_code, second.action_error) == (
        3,
        "flagfile: flag file flags/flags.json not found",
    )
    assert (third.applied, third.action_error) == ("rolled back 5% → 0%", None)
    assert acted == ["recommender-model"]


def test_a_journal_that_cannot_be_made_is_that_plans_action_error(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decide(plan: Any, name: str, *rest: Any) -> Decision:
        return Decision(Act.PAUSE, "test")

    def broken_journal(loaded: LoadedPlan) -> Journal:
        raise OSError("No space left on device")

    monkeypatch.setattr(watcher, "decide_action", decide)
    rounds = watcher.run_round(
        PLANS[:1], Path("plans"), NOW, auto=True, journal_for=broken_journal, describe=decision_json
    )
    [only] = rounds
    assert only.evaluation is not None and only.action_exit_code == EXIT_INTERNAL
    assert only.action_error is not None and "OSError: No space left on device" in (
        only.action_error
    )
