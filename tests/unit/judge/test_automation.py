"""What `watch --auto` does with each verdict under a plan's automation policy (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rolloutcli.judge.automation import Act, Decision, decide_action, last_rollout_change, time_left
from rolloutcli.judge.flagstate import ChangeRecord, FlagState, PauseMark
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import VerdictKind
from rolloutcli.plan.model import Plan

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
GO, HOLD, PAUSE, ROLLBACK, DONE = (
    VerdictKind.GO,
    VerdictKind.HOLD,
    VerdictKind.PAUSE,
    VerdictKind.ROLLBACK,
    VerdictKind.DONE,
)


def make_plan(**automation: Any) -> Plan:
    return Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [
                {"name": "canary", "percent": 1, "min_duration": "30m"},
                {"percent": 10, "min_duration": "1h"},
                {"percent": 50, "min_duration": "1h"},
                {"percent": 100},
            ],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
            "automation": automation,
        }
    )


def state(percent: float, on: bool = True, paused: PauseMark | None = None) -> FlagState:
    return FlagState(
        flag="f",
        on=on,
        percent=percent,
        split_changed_at=NOW - timedelta(minutes=20),
        version="v",
        paused=paused,
    )


def decide(
    plan: Plan, kind: VerdictKind, s: FlagState, last: ChangeRecord | None = None
) -> Decision:
    return decide_action(plan, "p", kind, s, locate(plan, s), last)


MARK = PauseMark(at=NOW, by="alice", reason="checking a dashboard")


def change(action: str, minutes: int = 5) -> ChangeRecord:
    return ChangeRecord(NOW - timedelta(minutes=minutes), action, 10, 0, None, "p", "")


def test_go_advances_one_stage_by_default() -> None:
    assert decide(make_plan(), GO, state(10)) == Decision(
        Act.ADVANCE, "go; the policy advances to 50% automatically"
    )


def test_rollback_is_automatic_even_while_paused() -> None:
    expected = Decision(Act.ROLLBACK, "rollback verdict; the policy rolls back automatically")
    assert decide(make_plan(), ROLLBACK, state(10)) == expected
    assert decide(make_plan(), ROLLBACK, state(10, paused=MARK)) == expected


def test_manual_rollback_waits_for_a_person() -> None:
    assert decide(make_plan(rollback="manual"), ROLLBACK, state(10)) == Decision(
        Act.NONE,
        "rollback verdict; the policy leaves it to a person: rollout rollback p",
        waiting=True,
    )


def test_nothing_to_roll_back_at_zero() -> None:
    assert decide(make_plan(), ROLLBACK, state(0)).action is Act.NONE


def test_kill_always_wins() -> None:
    for kind in (GO, ROLLBACK, PAUSE):
        assert decide(make_plan(), kind, state(10, on=False)) == Decision(
            Act.NONE, "the flag is off (killed): a person turns it back on"
        )


def test_pause_verdict_marks_once() -> None:
    assert decide(make_plan(), PAUSE, state(10)).action is Act.PAUSE
    assert decide(make_plan(), PAUSE, state(10, paused=MARK)) == Decision(
        Act.NONE,
        "already paused by alice at 2026-11-02T12:00:00Z (checking a dashboard)",
        waiting=True,
    )
    assert decide(make_plan(pause="manual"), PAUSE, state(10)) == Decision(
        Act.NONE, "pause verdict; the policy only reports it", waiting=True
    )


def test_paused_rollout_does_not_advance() -> None:
    assert decide(make_plan(), GO, state(10, paused=MARK)) == Decision(
        Act.NONE,
        "paused by alice at 2026-11-02T12:00:00Z (checking a dashboard): "
        "rollout resume p lets it advance",
        waiting=True,
    )


@pytest.mark.parametrize(
    ("policy", "percent", "action"),
    [
        ({"advance_up_to": 50}, 10, Act.ADVANCE),  # into 50%: allowed
        ({"advance_up_to": 50}, 50, Act.NONE),  # into 100%: a person approves
        ({"approve": ["100%"]}, 50, Act.NONE),
        ({"approve": [100]}, 50, Act.NONE),
        ({"approve": ["canary"]}, 1, Act.ADVANCE),  # approval is for entering canary
        ({"approve": ["50%"]}, 10, Act.NONE),
        ({"advance": "manual"}, 10, Act.NONE),
    ],
)
def test_approvals(policy: dict[str, Any], percent: float, action: Act) -> None:
    assert decide(make_plan(**policy), GO, state(percent)).action is action


def test_approval_reason_names_the_stage_and_the_command() -> None:
    assert decide(make_plan(approve=["100%"]), GO, state(50)) == Decision(
        Act.NONE, "stage 100% needs approval: rollout advance p", waiting=True
    )


def test_start_is_manual_by_default_and_never_after_a_rollback() -> None:
    assert decide(make_plan(), GO, state(0)) == Decision(
        Act.NONE,
        "not started; the policy leaves the start to a person: rollout advance p",
        waiting=True,
    )
    auto = make_plan(start="auto")
    assert decide(auto, GO, state(0)).action is Act.ADVANCE
    assert decide(auto, GO, state(0), change("advance")).action is Act.ADVANCE
    for stop in ("rollback", "kill"):
        got = decide(auto, GO, state(0), change(stop))
        assert got.action is Act.NONE and got.waiting
        assert "a person restarts it with rollout advance p" in got.reason


def test_off_plan_is_left_to_a_person() -> None:
    got = decide(make_plan(), GO, state(7))
    assert got == Decision(
        Act.NONE, "7% was set by hand (off-plan): rollout advance p moves it on", waiting=True
    )


@pytest.mark.parametrize("kind", [HOLD, DONE])
def test_hold_and_done_do_nothing(kind: VerdictKind) -> None:
    assert decide(make_plan(), kind, state(10)) == Decision(
        Act.NONE, f"verdict {kind.value}: nothing to do"
    )


def test_last_rollout_change_ignores_pause_marks() -> None:
    history = [change("advance", 30), change("rollback", 20), change("pause", 10)]
    assert last_rollout_change(history) == history[1]
    assert last_rollout_change([]) is None


def test_time_left_in_the_stage() -> None:
    plan = make_plan()
    s = state(10)  # 20 minutes into a 1h stage
    assert time_left(plan, s, locate(plan, s), NOW) == timedelta(minutes=40)
    assert time_left(plan, s, locate(plan, s), NOW + timedelta(hours=1)) is None
