"""`rollout wait --for`: the conditions parsed exactly, and matched against what a poll saw."""

from __future__ import annotations

from typing import Any

import pytest

from rolloutcli.judge.waitfor import Condition, Seen, holds, parse_condition
from rolloutcli.plan.model import Plan
from rolloutcli.support.errors import EXIT_INVALID, InvalidInputError


def make_plan() -> Plan:
    data: dict[str, Any] = {
        "flag": "f",
        "platform": {"kind": "flagfile", "path": "flags.json"},
        "variations": {"treatment": True, "control": False},
        "stages": [
            {"name": "canary", "percent": 1},
            {"percent": 10},
            {"percent": 25},
            {"percent": 100},
        ],
        "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
        "guardrails": [
            {
                "name": "error_rate",
                "kind": "ratio",
                "events": "errors",
                "trials": "requests",
                "thresholds": {"pause": "+50%", "rollback": "2x"},
            }
        ],
        "statistics": {"method": "fixed"},
    }
    return Plan.model_validate(data)


PLAN = make_plan()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stage=25", Condition("stage", "25", 2)),
        ("stage=25%", Condition("stage", "25%", 2)),
        ("stage=10.0", Condition("stage", "10.0", 1)),
        ("stage=canary", Condition("stage", "canary", 0)),
        (" Stage = 100 ", Condition("stage", "100", 3)),
        ("verdict=go", Condition("verdict", "go")),
        ("verdict=ROLLBACK", Condition("verdict", "rollback")),
        ("lifecycle=done", Condition("lifecycle", "done")),
        ("lifecycle=rolled_back", Condition("lifecycle", "rolled_back")),
    ],
)
def test_parse_condition(text: str, expected: Condition) -> None:
    assert parse_condition(text, PLAN) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "stage",
            "--for 'stage' is not a condition: use stage=NAME|PERCENT, "
            "verdict=go|hold|pause|rollback|done or lifecycle=PHASE",
        ),
        (
            "phase=done",
            "--for 'phase=done' is not a condition: use stage=NAME|PERCENT, "
            "verdict=go|hold|pause|rollback|done or lifecycle=PHASE",
        ),
        (
            "stage=",
            "--for 'stage=' is not a condition: use stage=NAME|PERCENT, "
            "verdict=go|hold|pause|rollback|done or lifecycle=PHASE",
        ),
        (
            "stage=50",
            "--for 'stage=50': the plan has no stage '50'; its stages: canary, 10%, 25%, 100%",
        ),
        ("verdict=yes", "--for 'verdict=yes': 'yes' is not one of go, hold, pause, rollback, done"),
        (
            "lifecycle=running",
            "--for 'lifecycle=running': 'running' is not one of not_started, in_stage, paused, "
            "rolled_back, killed, done, off_plan",
        ),
    ],
)
def test_bad_conditions_are_invalid_input(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_condition(text, PLAN)
    assert str(caught.value) == message
    assert caught.value.exit_code == EXIT_INVALID


def seen(index: int | None, phase: str = "in_stage", verdict: str | None = None) -> Seen:
    labels = ["canary", "10%", "25%", "100%"]
    percents = [1.0, 10.0, 25.0, 100.0]
    return Seen(
        stage_index=index,
        stage=labels[index] if index is not None else None,
        phase=phase,
        percent=percents[index] if index is not None else 0.0,
        verdict=verdict,
    )


def test_a_stage_holds_there_and_at_every_later_stage() -> None:
    at_25 = parse_condition("stage=25", PLAN)
    assert [holds(at_25, seen(i)) for i in (0, 1, 2, 3)] == [False, False, True, True]
    assert holds(at_25, seen(None, "not_started")) is False


def test_a_stopped_rollout_never_reaches_a_stage() -> None:
    at_10 = parse_condition("stage=10", PLAN)
    assert holds(at_10, seen(2, "killed")) is False
    assert holds(at_10, seen(None, "rolled_back")) is False
    assert holds(at_10, seen(2, "paused")) is True


def test_verdict_and_lifecycle_match_exactly() -> None:
    go = parse_condition("verdict=go", PLAN)
    assert go.needs_verdict is True
    assert holds(go, seen(1, verdict="go")) is True
    assert holds(go, seen(1, verdict="hold")) is False
    assert holds(go, seen(1)) is False
    done = parse_condition("lifecycle=done", PLAN)
    assert done.needs_verdict is False
    assert holds(done, seen(3, "done")) is True
    assert holds(done, seen(2, "in_stage")) is False


def test_what_a_poll_saw_in_words() -> None:
    assert str(seen(2)) == "stage 25% at 25%, lifecycle in_stage"
    assert str(seen(None, "not_started", "hold")) == (
        "no stage at 0%, lifecycle not_started, verdict hold"
    )
    assert str(parse_condition("stage=25%", PLAN)) == "stage=25%"
