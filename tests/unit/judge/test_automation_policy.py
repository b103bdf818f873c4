"""`watch --auto` under the plan's policy windows, freezes and checklists: only advancing and
starting wait; pause and rollback always act."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rolloutcli.judge.automation import Act, Decision, decide_action
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import VerdictKind
from rolloutcli.plan.model import Plan
from tests.unit.judge.test_automation import make_plan, state

SUNDAY_EVENING = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)  # 19:00 in Berlin
MONDAY_MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
OFFICE = {"days": "mon-fri", "hours": "09:00-17:00", "timezone": "Europe/Berlin"}
FREEZE = {"from": "2026-12-06T00:00:00Z", "to": "2026-12-08T00:00:00Z", "reason": "release"}


def decide(plan: Plan, kind: VerdictKind, percent: float, now: datetime) -> Decision:
    s = state(percent)
    return decide_action(plan, "p", kind, s, locate(plan, s), None, now)


def test_go_outside_the_window_waits_with_the_reason() -> None:
    plan = make_plan(windows=[OFFICE])
    assert decide(plan, VerdictKind.GO, 10, SUNDAY_EVENING) == Decision(
        Act.NONE,
        "outside the automation window (mon-fri 09:00-17:00 Europe/Berlin); "
        "next opening Mon 09:00 (in 14h)",
        held=True,
    )
    assert decide(plan, VerdictKind.GO, 10, MONDAY_MORNING).action is Act.ADVANCE


def test_a_start_waits_for_the_window_too() -> None:
    plan = make_plan(windows=[OFFICE], start="auto")
    assert decide(plan, VerdictKind.GO, 0, SUNDAY_EVENING).held
    assert decide(plan, VerdictKind.GO, 0, MONDAY_MORNING).action is Act.ADVANCE


def test_rollback_and_pause_act_in_a_freeze_and_outside_windows() -> None:
    plan = make_plan(windows=[OFFICE], freeze=[FREEZE])
    assert decide(plan, VerdictKind.ROLLBACK, 10, SUNDAY_EVENING).action is Act.ROLLBACK
    assert decide(plan, VerdictKind.PAUSE, 10, SUNDAY_EVENING).action is Act.PAUSE
    assert decide(plan, VerdictKind.GO, 10, MONDAY_MORNING) == Decision(
        Act.NONE,
        "freeze until 2026-12-08T00:00:00Z: release; next opening Tue 09:00 (in 23h)",
        held=True,
    )


def test_without_a_moment_the_windows_are_not_consulted() -> None:
    plan = make_plan(windows=[OFFICE])
    s = state(10)
    assert decide_action(plan, "p", VerdictKind.GO, s, locate(plan, s)).action is Act.ADVANCE


def checklist_plan(**automation: Any) -> Plan:
    document = make_plan(**automation).model_dump(by_alias=True)
    document["stages"][2]["checklist"] = ["no unresolved incidents"]
    return Plan.model_validate(document)


def test_a_stage_with_a_checklist_waits_for_a_person() -> None:
    plan = checklist_plan()
    assert decide(plan, VerdictKind.GO, 10, MONDAY_MORNING) == Decision(
        Act.NONE, "stage 50% has a checklist: rollout advance p answers it", waiting=True
    )
    assert decide(plan, VerdictKind.GO, 1, MONDAY_MORNING).action is Act.ADVANCE  # into 10%
