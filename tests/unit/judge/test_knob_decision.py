"""Knob tiers (issue 21): the next value a pause tier sets, what it does once the knob is
used up, what `watch --auto` does with it under the policy, and how a knob change
restarts the stage's evidence (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rolloutcli.judge import messages
from rolloutcli.judge.automation import Act, decide_action, knob_response, reduce_target
from rolloutcli.judge.flagstate import KnobReading, PauseMark
from rolloutcli.judge.knobs import KnobStep, next_value, respond, restart_at_knob_changes
from rolloutcli.judge.position import locate
from rolloutcli.judge.stagestart import StageStart
from rolloutcli.judge.verdict import Verdict, VerdictKind, decide
from rolloutcli.plan.model import Plan
from tests.unit.judge.test_sequential_verdict import (
    ERROR_RATE,
    NOW,
    exposures_of,
    make_plan,
    rate_series,
    ratio_observation,
    state,
)

STAGES = [
    {"percent": 5, "min_duration": "30m"},
    {"percent": 25, "min_duration": "1h"},
    {"percent": 100},
]
KNOB = {"name": "min_confidence", "flag": "min-confidence", "values": [0.7, 0.8, 0.9]}


def knob_plan(then: str = "rollback", to: Any = (0.8, 0.9), **automation: Any) -> Plan:
    action = {"knob": "min_confidence", "to": list(to), "then": then}
    guardrails = [{**ERROR_RATE, "on_pause": action}]
    return make_plan(stages=STAGES, guardrails=guardrails, knobs=[KNOB], automation=automation)


def reading(value: Any, since: datetime | None = None) -> dict[str, KnobReading]:
    return {"min_confidence": KnobReading("min-confidence", value, since)}


def verdict_at(plan: Plan, value: Any) -> Verdict:
    """error_rate 1% -> 1.7% (+70%) at 25%: past the pause tier (+50%), short of 2x."""
    series = rate_series(21, 120, 20_000, 0.25, 0.017, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    st = state(25)
    return decide(plan, st, locate(plan, st), obs, exposures_of(series), NOW, knobs=reading(value))


@pytest.mark.parametrize(
    ("live", "expected"),
    [(0.7, 0.8), (0.8, 0.9), (0.9, None), (0.5, 0.8), ("0.8", 0.8), (0.80000, 0.9)],
)
def test_next_value_is_the_one_after_the_live_value(live: Any, expected: Any) -> None:
    assert next_value([0.8, 0.9], live) == expected


def test_a_pause_tier_with_a_knob_says_what_it_sets() -> None:
    plan = knob_plan()
    verdict = verdict_at(plan, 0.7)
    assert verdict.kind is VerdictKind.PAUSE
    assert [r.code.value for r in verdict.reasons] == ["breach", "knob"]
    assert messages.text(verdict.reasons[1]) == (
        "raise min_confidence 0.7 -> 0.8 (error_rate breached pause +50%)"
    )
    response = knob_response(plan, verdict, reading(0.7))
    assert response.step == KnobStep(
        "min_confidence", "min-confidence", 0.7, 0.8, "error_rate", "pause +50%"
    )
    assert response.used_up == ()


def test_the_second_breach_sets_the_next_value() -> None:
    plan = knob_plan()
    response = knob_response(plan, verdict_at(plan, 0.8), reading(0.8))
    assert response.step is not None and (response.step.before, response.step.after) == (0.8, 0.9)


def test_a_used_up_knob_rolls_back_by_default() -> None:
    plan = knob_plan()
    verdict = verdict_at(plan, 0.9)
    assert verdict.kind is VerdictKind.ROLLBACK
    assert [r.code.value for r in verdict.reasons] == ["breach", "knob_used_up"]
    assert messages.text(verdict.reasons[1]) == (
        "min_confidence is at 0.9, the last value its on_pause tries: roll back "
        "(error_rate breached pause +50%)"
    )


def test_a_used_up_knob_then_pause_is_a_plain_pause() -> None:
    plan = knob_plan(then="pause")
    verdict = verdict_at(plan, 0.9)
    assert verdict.kind is VerdictKind.PAUSE
    assert [r.code.value for r in verdict.reasons] == ["breach", "knob_used_up"]
    response = knob_response(plan, verdict, reading(0.9))
    assert response.step is None and response.rollback is None
    s = state(25)
    decision = decide_action(plan, "p", verdict.kind, s, locate(plan, s), None, NOW, None, None)
    assert decision.action is Act.PAUSE


def test_a_used_up_knob_then_reduce_steps_back() -> None:
    plan = knob_plan(then="reduce")
    verdict = verdict_at(plan, 0.9)
    response = knob_response(plan, verdict, reading(0.9))
    assert response.reducing == frozenset({"error_rate"})
    assert reduce_target(plan, verdict) is None
    assert reduce_target(plan, verdict, response.reducing) == 0  # 25% -> 5%


def test_an_unread_knob_is_a_plain_pause() -> None:
    plan = knob_plan()
    verdict = verdict_at(plan, None)
    assert verdict.kind is VerdictKind.PAUSE
    assert [r.code.value for r in verdict.reasons] == ["breach"]
    assert respond(plan, verdict.findings, {}).step is None


@pytest.mark.parametrize(
    ("policy", "paused", "action", "reason"),
    [
        (
            "auto",
            False,
            Act.KNOB,
            "pause verdict on a knob tier; the policy will raise min_confidence 0.7 -> 0.8",
        ),
        (
            "manual",
            False,
            Act.NONE,
            "pause verdict on a knob tier (raise min_confidence 0.7 "
            "-> 0.8); the policy leaves it to a person: rollout tune p min_confidence 0.8",
        ),
        ("auto", True, Act.NONE, "already paused by ana"),
    ],
)
def test_watch_tunes_per_the_knob_policy(
    policy: str, paused: bool, action: Act, reason: str
) -> None:
    plan = knob_plan(knob=policy)
    verdict = verdict_at(plan, 0.7)
    step = knob_response(plan, verdict, reading(0.7)).step
    s = replace(state(25), paused=PauseMark(None, "ana", None) if paused else None)
    decision = decide_action(plan, "p", verdict.kind, s, locate(plan, s), None, NOW, None, step)
    assert (decision.action, decision.reason) == (action, reason)


T = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stage", "changed", "expected"),
    [
        (T, T + timedelta(minutes=20), T + timedelta(minutes=20)),  # later: restarts
        (T, T - timedelta(minutes=20), T),  # before the stage: no effect
        (T, None, T),  # never changed (or not known)
        (None, T, None),  # no stage: nothing to restart
    ],
)
def test_a_knob_change_restarts_the_stage(
    stage: datetime | None, changed: datetime | None, expected: datetime | None
) -> None:
    begun = StageStart(stage=stage, rollout=stage and stage - timedelta(hours=1))
    knobs = [KnobReading("a", 0.8, changed), KnobReading("b", "v2", None)]
    after = restart_at_knob_changes(begun, knobs)
    assert (after.stage, after.rollout) == (expected, begun.rollout)


def test_locate_takes_the_knob_change_as_the_stage_start() -> None:
    plan = knob_plan()
    st = replace(state(25), split_changed_at=T)
    changed = T + timedelta(minutes=45)
    position = locate(plan, st, (), [KnobReading("min-confidence", 0.8, changed)])
    assert (position.stage_began, position.knob_changed) == (T, changed)
    assert position.evidence_began == changed
    assert position.stage_elapsed(changed + timedelta(minutes=10)) == timedelta(minutes=10)
