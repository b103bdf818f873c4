"""A pause tier that reduces (issue 21): which stage a pause verdict steps back to, and
what `watch --auto` does with it under the automation policy (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rolloutcli.judge.automation import Act, Decision, decide_action, reduce_target
from rolloutcli.judge.flagstate import PauseMark
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import Verdict, VerdictKind
from rolloutcli.plan.model import Plan, _semantic_problems
from tests.unit.judge.test_sequential_verdict import (
    ERROR_RATE,
    NOW,
    exposures_of,
    make_plan,
    rate_series,
    ratio_observation,
    run,
    state,
)

STAGES = [
    {"name": "canary", "percent": 1, "min_duration": "30m"},
    {"percent": 5, "min_duration": "30m"},
    {"percent": 10, "min_duration": "1h"},
    {"percent": 25, "min_duration": "1h"},
    {"percent": 100},
]


def reducing_plan(*extra: dict[str, Any], **automation: Any) -> Plan:
    guardrails = [{**ERROR_RATE, "on_pause": "reduce"}, *extra]
    return make_plan(stages=STAGES, guardrails=guardrails, automation=automation)


def paused_verdict(plan: Plan, percent: float) -> Verdict:
    """error_rate 1% → 1.7% (+70%): past the pause tier (+50%), short of rollback (2x)."""
    series = rate_series(21, 120, 20_000, percent / 100, 0.017, 0.01)
    obs = {g.name: ratio_observation(g.name, series) for g in plan.guardrails}
    found = run(plan, state(percent), obs, exposures_of(series))
    assert found.kind is VerdictKind.PAUSE
    assert {f.name: f.status.value for f in found.findings}["error_rate"] == "pause"
    return found


def decide(plan: Plan, verdict: Verdict, paused: PauseMark | None = None) -> Decision:
    s = replace(state(plan.stages[verdict.position.index or 0].percent), paused=paused)
    target = reduce_target(plan, verdict)
    return decide_action(plan, "p", verdict.kind, s, locate(plan, s), None, NOW, target)


def test_a_reduce_tier_steps_back_to_the_previous_stage() -> None:
    plan = reducing_plan()
    verdict = paused_verdict(plan, 25)
    assert reduce_target(plan, verdict) == 2  # 25% -> 10%
    assert decide(plan, verdict) == Decision(
        Act.REDUCE, "pause verdict on a reduce tier; the policy steps back to 10% and pauses"
    )


def test_reduce_to_names_the_stage() -> None:
    plan = make_plan(
        stages=STAGES,
        guardrails=[{**ERROR_RATE, "on_pause": "reduce", "reduce_to": "canary"}],
    )
    assert reduce_target(plan, paused_verdict(plan, 25)) == 0


def test_reduce_to_at_or_above_the_current_stage_steps_back_one() -> None:
    plan = make_plan(
        stages=STAGES, guardrails=[{**ERROR_RATE, "on_pause": "reduce", "reduce_to": "10%"}]
    )
    assert reduce_target(plan, paused_verdict(plan, 10)) == 1  # 10% -> 5%


def test_the_lowest_target_of_the_guardrails_wins() -> None:
    other = {**ERROR_RATE, "name": "errors_again", "on_pause": "reduce", "reduce_to": "1%"}
    plan = reducing_plan(other)
    assert reduce_target(plan, paused_verdict(plan, 25)) == 0


def test_a_plain_pause_guardrail_does_not_reduce() -> None:
    plan = make_plan(stages=STAGES, guardrails=[ERROR_RATE])
    verdict = paused_verdict(plan, 25)
    assert reduce_target(plan, verdict) is None
    assert decide(plan, verdict).action is Act.PAUSE


def test_at_the_first_stage_a_reduce_tier_only_pauses() -> None:
    plan = reducing_plan()
    verdict = paused_verdict(plan, 1)
    assert reduce_target(plan, verdict) is None
    assert decide(plan, verdict).action is Act.PAUSE


def test_manual_reduce_waits_for_a_person() -> None:
    plan = reducing_plan(reduce="manual")
    assert decide(plan, paused_verdict(plan, 25)) == Decision(
        Act.NONE,
        "pause verdict on a reduce tier; the policy leaves it to a person: "
        "rollout reduce p --to 10%",
        waiting=True,
    )


def test_already_paused_is_not_reduced_again() -> None:
    plan = reducing_plan()
    mark = PauseMark(at=NOW, by="watch", reason="reduced 25% → 10%: pause verdict")
    found = decide(plan, paused_verdict(plan, 10), paused=mark)
    assert found.action is Act.NONE and found.waiting
    assert found.reason.startswith("already paused by watch")


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ({"reduce_to": "5%"}, "reduce_to", "reduce_to needs on_pause: reduce"),
        ({"on_pause": "reduce", "reduce_to": "7%"}, "reduce_to", "'7%' names no stage"),
        (
            {"on_pause": "reduce", "thresholds": {"rollback": "2x"}},
            "on_pause",
            "reduce acts on the pause tier: give pause:",
        ),
    ],
)
def test_reduce_plan_problems(extra: dict[str, Any], key: str, message: str) -> None:
    plan = make_plan(stages=STAGES, guardrails=[{**ERROR_RATE, **extra}])
    problems = [(path[-1], text) for path, text in _semantic_problems(plan)]
    assert any(k == key and text.startswith(message) for k, text in problems), problems
