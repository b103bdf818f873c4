"""The rollout lifecycle (judge/lifecycle.py): each phase with its exact facts, their
precedence, and the verdict and its words on each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, PauseMark
from rolloutcli.judge.lifecycle import Lifecycle, Phase, derive, kill_reason, rollback_reason
from rolloutcli.judge.messages import (
    _LIFECYCLE,
    _STATE,
    codes,
    lifecycle_badge,
    lifecycle_next,
    lifecycle_state,
    lifecycle_text,
    sentences,
)
from rolloutcli.judge.position import locate
from rolloutcli.judge.verdict import VerdictKind, decide
from rolloutcli.plan.model import Plan

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)


def make_plan() -> Plan:
    data: dict[str, Any] = {
        "flag": "f",
        "platform": {"kind": "flagfile", "path": "flags.json"},
        "variations": {"treatment": True, "control": False},
        "stages": [
            {"percent": 1, "min_duration": "30m", "min_samples": 100},
            {"percent": 10, "min_duration": "1h", "min_samples": 1000},
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
PAUSE = PauseMark(at=T0 + timedelta(hours=3), by="ana", reason="launch freeze")


def state(percent: float, *, on: bool = True, paused: PauseMark | None = None) -> FlagState:
    return FlagState(
        flag="f", on=on, percent=percent, split_changed_at=T0 + timedelta(hours=1), paused=paused
    )


def event(
    hours: float, action: str, before: float | None, after: float | None, **kw: Any
) -> ChangeRecord:
    return ChangeRecord(
        at=T0 + timedelta(hours=hours),
        action=action,
        percent_before=before,
        percent_after=after,
        stage=kw.get("stage"),
        plan="co",
        comment=kw.get("comment", ""),
        who=kw.get("who"),
    )


ADVANCES = (event(0, "advance", 0, 1, stage="1%"), event(1, "advance", 1, 10, stage="10%"))
ROLLBACK = event(
    2,
    "rollback",
    10,
    0,
    comment="rolloutcli: plan co rolled back to 0%: p99 breached",
    who="bob",
)
KILL = event(4, "kill", None, None, comment="rolloutcli: plan co killed: pager", who="carol")


def test_not_started() -> None:
    assert derive(PLAN, state(0)) == Lifecycle(Phase.NOT_STARTED)


def test_in_stage_since_the_stage_began() -> None:
    assert derive(PLAN, state(10), ADVANCES) == Lifecycle(
        Phase.IN_STAGE, at=T0 + timedelta(hours=1), stage="10%", stage_index=1
    )


def test_done_at_the_last_stage() -> None:
    assert derive(PLAN, state(100)) == Lifecycle(
        Phase.DONE, at=T0 + timedelta(hours=1), stage="100%", stage_index=2
    )


def test_off_plan_share_set_by_hand() -> None:
    assert derive(PLAN, state(7)) == Lifecycle(Phase.OFF_PLAN, at=T0 + timedelta(hours=1))


def test_paused_names_who_when_and_why() -> None:
    assert derive(PLAN, state(10, paused=PAUSE), ADVANCES) == Lifecycle(
        Phase.PAUSED,
        at=PAUSE.at,
        by="ana",
        why="launch freeze",
        stage="10%",
        stage_index=1,
        pause=PAUSE,
    )


def test_rolled_back_from_which_stage_when_by_whom_and_why() -> None:
    assert derive(PLAN, state(0), (*ADVANCES, ROLLBACK)) == Lifecycle(
        Phase.ROLLED_BACK,
        at=T0 + timedelta(hours=2),
        by="bob",
        why="p99 breached",
        from_stage="10%",
        from_percent=10,
    )


def test_an_advance_after_the_rollback_restarts_it() -> None:
    restart = event(3, "advance", 0, 1, stage="1%")
    found = derive(PLAN, replace(state(1), split_changed_at=restart.at), (ROLLBACK, restart))
    assert found == Lifecycle(Phase.IN_STAGE, at=restart.at, stage="1%", stage_index=0)


def test_a_share_set_by_hand_after_a_rollback_is_what_the_platform_says() -> None:
    """The platform is the source of truth: a rollback in the history does not hide a
    share someone set since (the history may not show that edit)."""
    assert derive(PLAN, state(10), (*ADVANCES, ROLLBACK)).phase is Phase.IN_STAGE


def test_killed_mid_rollout_names_the_kill() -> None:
    assert derive(PLAN, state(10, on=False), (*ADVANCES, KILL)) == Lifecycle(
        Phase.KILLED,
        at=KILL.at,
        by="carol",
        why=KILL.comment,
        stage="10%",
        stage_index=1,
        from_stage="10%",
        from_percent=10,
    )


def test_a_kill_noted_by_a_platform_gives_the_same_reason_as_the_flag_file() -> None:
    """Unleash (strategy title) and LaunchDarkly (audit comment) keep the kill's why after
    the change note's head; the reason is the why alone, as the flag file keeps it."""
    for head in (
        "rolloutcli plan=co stage=10% pct=10 action=kill · ",  # Unleash
        "rolloutcli plan=co stage=- pct=- action=kill · ",  # LaunchDarkly
        "",  # the flag file
    ):
        kill = replace(KILL, comment=head + "rolloutcli kill: flag turned off by on-call")
        found = derive(PLAN, state(10, on=False), (*ADVANCES, kill))
        assert found.why == "rolloutcli kill: flag turned off by on-call", head
    assert kill_reason("rolloutcli plan=co stage=- pct=- action=kill") is None
    assert kill_reason("turned off by dana") == "turned off by dana"  # by hand, as kept


def test_killed_then_rolled_back_still_names_what_it_stopped() -> None:
    """A rollback on a killed flag leaves it at 0%: the kill still stopped stage 10%."""
    rollback = replace(ROLLBACK, at=KILL.at + timedelta(minutes=5))
    found = derive(PLAN, state(0, on=False), (*ADVANCES, KILL, rollback))
    assert (found.phase, found.from_stage, found.from_percent, found.by) == (
        Phase.KILLED,
        "10%",
        10,
        "carol",
    )
    found = derive(PLAN, state(0, on=False), (*ADVANCES, ROLLBACK, KILL))  # the other order
    assert (found.phase, found.from_stage, found.from_percent) == (Phase.KILLED, "10%", 10)


def test_killed_without_history_still_killed() -> None:
    found = derive(PLAN, state(10, on=False))
    assert (found.phase, found.at, found.by, found.stopped) == (Phase.KILLED, None, None, True)


def test_a_flag_off_at_zero_with_nothing_to_stop_is_not_started() -> None:
    """A new flag (Unleash creates them off): starting turns it on."""
    assert derive(PLAN, state(0, on=False), (KILL,)).phase is Phase.NOT_STARTED


@pytest.mark.parametrize(
    ("st", "history", "phase"),
    [
        # killed beats rolled back beats paused beats everything else
        (state(0, on=False, paused=PAUSE), (*ADVANCES, ROLLBACK, KILL), Phase.KILLED),
        (state(10, on=False, paused=PAUSE), ADVANCES, Phase.KILLED),
        (state(0, paused=PAUSE), (*ADVANCES, ROLLBACK), Phase.ROLLED_BACK),
        (state(100, paused=PAUSE), (), Phase.PAUSED),
        (state(7, paused=PAUSE), (), Phase.PAUSED),
        (state(0, paused=PAUSE), (), Phase.PAUSED),
    ],
)
def test_precedence(st: FlagState, history: tuple[ChangeRecord, ...], phase: Phase) -> None:
    found = derive(PLAN, st, history)
    assert found.phase is phase
    assert found.pause == st.paused  # the mark is kept whatever the phase


def test_rollback_reason_reads_the_tool_comment_and_keeps_a_foreign_one() -> None:
    assert rollback_reason("rolloutcli: plan co rolled back to 0%: a: b") == "a: b"
    assert rollback_reason("set to 0 by hand") == "set to 0 by hand"
    assert rollback_reason("") is None


def test_every_phase_has_a_line() -> None:
    assert set(_LIFECYCLE) == {p.value for p in Phase}
    rolled = derive(PLAN, state(0), (*ADVANCES, ROLLBACK))
    assert lifecycle_text(rolled, "co") == (
        "rolled back from 10% at 2026-11-02T12:00:00Z by bob: p99 breached; "
        "restart: rollout advance co --restart"
    )
    paused = derive(PLAN, state(10, paused=PAUSE), ADVANCES)
    assert lifecycle_text(paused, "co") == (
        "paused at stage 10% at 2026-11-02T13:00:00Z by ana (launch freeze); "
        "rollout resume co lets it advance"
    )


# ---------------------------------------------------------------------- the verdict


def verdict(st: FlagState, history: tuple[ChangeRecord, ...], restart: bool = False) -> Any:
    position = locate(PLAN, st, history)
    lifecycle = derive(PLAN, st, history, position)
    return decide(
        PLAN, st, position, {}, None, NOW, lifecycle=lifecycle, name="co", restart=restart
    )


def test_a_rolled_back_rollout_holds_until_restarted() -> None:
    held = verdict(state(0), (*ADVANCES, ROLLBACK))
    assert (held.kind, codes(held.reasons)) == (VerdictKind.HOLD, ("rolled_back",))
    assert sentences(held.reasons) == (
        "rolled back from 10% at 2026-11-02T12:00:00Z by bob: p99 breached; nothing "
        "advances until a person restarts it: rollout advance co --restart",
    )
    restarted = verdict(state(0), (*ADVANCES, ROLLBACK), restart=True)
    assert (restarted.kind, restarted.to_percent) == (VerdictKind.GO, 1)


def test_a_paused_rollout_holds_with_a_paused_reason() -> None:
    held = verdict(state(0, paused=PAUSE), ())
    assert (held.kind, codes(held.reasons)) == (VerdictKind.HOLD, ("paused",))
    assert sentences(held.reasons) == (
        "paused at 2026-11-02T13:00:00Z by ana (launch freeze): nothing advances until "
        "rollout resume co",
    )


def test_a_killed_rollout_holds_and_says_when() -> None:
    held = verdict(state(10, on=False), (*ADVANCES, KILL))
    assert (held.kind, codes(held.reasons)) == (VerdictKind.HOLD, ("flag_off",))
    assert sentences(held.reasons)[0].startswith(
        "the flag is off (killed at 2026-11-02T14:00:00Z by carol): nothing to advance"
    )
    restart = verdict(state(0, on=False), (*ADVANCES, ROLLBACK, KILL), restart=True)
    assert restart.kind is VerdictKind.HOLD  # --restart never turns a killed flag on


def test_state_and_next_say_what_the_line_says_apart() -> None:
    assert set(_STATE) == {p.value for p in Phase}
    rolled = derive(PLAN, state(0), (*ADVANCES, ROLLBACK))
    assert (
        lifecycle_state(rolled)
        == "rolled back from 10% at 2026-11-02T12:00:00Z by bob: p99 breached"
    )
    assert lifecycle_next(rolled, "co") == ("restart with", "rollout advance co --restart")
    assert lifecycle_badge(rolled) == "ROLLED BACK"
    paused = derive(PLAN, state(10, paused=PAUSE), ADVANCES)
    assert lifecycle_next(paused, "co") == ("resume with", "rollout resume co")
    assert lifecycle_badge(paused) == "PAUSED"
    assert lifecycle_badge(Lifecycle(Phase.KILLED)) == "KILLED"
    assert lifecycle_next(Lifecycle(Phase.KILLED), "co") == (
        "turn it back on with",
        "rollout unkill co",
    )
    assert lifecycle_state(Lifecycle(Phase.KILLED)) == "killed: the flag is off"
    assert lifecycle_next(Lifecycle(Phase.NOT_STARTED), "co") == (
        "start with",
        "rollout advance co",
    )
    in_stage = derive(PLAN, state(10), ADVANCES)
    assert (lifecycle_badge(in_stage), lifecycle_next(in_stage, "co")) == (None, None)
    assert lifecycle_state(in_stage) == lifecycle_text(in_stage, "co")
