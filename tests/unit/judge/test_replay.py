"""The flag at an earlier time, replayed from the platform's history (judge/replay.py):
each kind of change undone with exact expected states, the lifecycle the replay derives, and
every refusal where the history cannot say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, PauseMark
from rolloutcli.judge.lifecycle import Phase, derive
from rolloutcli.judge.position import locate
from rolloutcli.judge.replay import Replayed, Unreplayable, replay
from rolloutcli.plan.model import Plan

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def make_plan() -> Plan:
    data: dict[str, Any] = {
        "flag": "f",
        "platform": {"kind": "flagfile", "path": "flags.json"},
        "variations": {"treatment": True, "control": False},
        "stages": [
            {"name": "internal", "percent": 0, "audience": {"keys": ["qa-1", "qa-2"]}},
            {"percent": 5},
            {"percent": 10},
            {"percent": 100},
        ],
        "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
        "guardrails": [],
    }
    return Plan.model_validate(data)


PLAN = make_plan()


def advance(at: datetime, before: float, after: float, stage: str) -> ChangeRecord:
    return ChangeRecord(at, "advance", before, after, stage, "co", f"to {stage}", "ci")


def event(at: datetime, action: str, who: str = "ana", reason: str | None = None) -> ChangeRecord:
    return ChangeRecord(at, action, None, None, None, "co", f"{action} note", who, reason)


# A walk: internal (audience) at 0h, 5% at 1h, 10% at 2h, paused at 3h, resumed at 4h,
# rolled back at 5h, restarted to 5% at 6h, killed at 7h, unkilled at 8h.
WALK = (
    advance(h(0), 0.0, 0.0, "internal"),
    advance(h(1), 0.0, 5.0, "5%"),
    advance(h(2), 5.0, 10.0, "10%"),
    event(h(3), "pause", reason="launch freeze"),
    event(h(4), "resume"),
    ChangeRecord(h(5), "rollback", 10.0, 0.0, None, "co", "rolled back to 0%: errors", "bot"),
    advance(h(6), 0.0, 5.0, "5%"),
    event(h(7), "kill", who="oncall"),
    event(h(8), "unkill"),
)
NOW_STATE = FlagState(
    flag="f",
    on=True,
    percent=5.0,
    audience_keys=("qa-1", "qa-2"),
    split_changed_at=h(6),
    recorded_stage="5%",
    comment="to 5%",
    version="v9",
    notes=("a live note",),
)


def at(hours: float) -> Replayed:
    found = replay(PLAN, NOW_STATE, WALK, h(hours))
    assert isinstance(found, Replayed), found
    return found


def phase_at(hours: float) -> Phase:
    found = at(hours)
    return derive(PLAN, found.state, found.history).phase


def test_after_the_last_change_the_state_is_the_live_one() -> None:
    found = at(9)
    assert found.state == NOW_STATE
    assert found.history == WALK
    assert found.undone == 0


def test_a_moment_equal_to_a_change_includes_it() -> None:
    found = at(8)
    assert found.undone == 0
    assert found.state.on is True


@pytest.mark.parametrize(
    ("hours", "on", "percent", "keys", "stage"),
    [
        (0.5, True, 0.0, ("qa-1", "qa-2"), "internal"),
        (1.5, True, 5.0, ("qa-1", "qa-2"), "5%"),
        (2.5, True, 10.0, ("qa-1", "qa-2"), "10%"),
        (5.5, True, 0.0, (), None),
        (6.5, True, 5.0, ("qa-1", "qa-2"), "5%"),
        (7.5, False, 5.0, ("qa-1", "qa-2"), "5%"),
    ],
)
def test_the_split_and_on_off_at_each_step(
    hours: float, on: bool, percent: float, keys: tuple[str, ...], stage: str | None
) -> None:
    state = at(hours).state
    assert (state.on, state.percent, state.audience_keys, state.recorded_stage) == (
        on,
        percent,
        keys,
        stage,
    )


def test_a_replayed_split_is_dated_by_the_history_at_that_time() -> None:
    found = at(2.5)
    assert found.state.split_changed_at is None
    assert found.state.notes == ()
    assert found.state.comment == "to 10%"
    assert found.undone == 6
    assert found.history == WALK[:3]
    position = locate(PLAN, found.state, found.history)
    assert (position.index, position.stage_began, position.rollout_began) == (2, h(2), h(0))


@pytest.mark.parametrize(
    ("hours", "phase"),
    [
        (-0.5, Phase.NOT_STARTED),
        (0.5, Phase.IN_STAGE),
        (2.5, Phase.IN_STAGE),
        (3.5, Phase.PAUSED),
        (4.5, Phase.IN_STAGE),
        (5.5, Phase.ROLLED_BACK),
        (6.5, Phase.IN_STAGE),
        (7.5, Phase.KILLED),
        (8.5, Phase.IN_STAGE),
    ],
)
def test_the_lifecycle_at_each_step(hours: float, phase: Phase) -> None:
    assert phase_at(hours) == phase


def test_the_pause_mark_at_a_moment_is_the_pause_then() -> None:
    paused = at(3.5).state.paused
    assert paused == PauseMark(at=h(3), by="ana", reason="launch freeze")
    assert at(4.5).state.paused is None
    assert at(2.5).state.paused is None


def test_a_live_pause_set_after_the_moment_is_not_there_then() -> None:
    live = PauseMark(at=h(9), by="ana", reason="freeze")
    state = FlagState(flag="f", on=True, percent=5.0, paused=live, split_changed_at=h(6))
    history = (*WALK, event(h(9), "pause", reason="freeze"))
    found = replay(PLAN, state, history, h(8.5))
    assert isinstance(found, Replayed)
    assert found.state.paused is None
    later = replay(PLAN, state, history, h(9.5))
    assert isinstance(later, Replayed)
    assert later.state.paused is live  # the live mark, with every field the platform keeps


def test_a_live_pause_the_history_does_not_hold_is_kept_when_it_began_before() -> None:
    live = PauseMark(at=h(1), by="ana", reason="freeze")
    state = FlagState(flag="f", on=True, percent=10.0, paused=live)
    history = (advance(h(0), 0.0, 5.0, "5%"), advance(h(2), 5.0, 10.0, "10%"))
    found = replay(PLAN, state, history, h(1.5))
    assert isinstance(found, Replayed)
    assert (found.state.paused, found.state.percent) == (live, 5.0)


def test_a_launchdarkly_toggle_flips_on_off() -> None:
    state = FlagState(flag="f", on=False, percent=10.0)
    history = (advance(h(0), 0.0, 10.0, "10%"), event(h(1), "on/off"))
    found = replay(PLAN, state, history, h(0.5))
    assert isinstance(found, Replayed)
    assert found.state.on is True


def test_unleash_off_and_on_events() -> None:
    state = FlagState(flag="f", on=True, percent=10.0)
    history = (advance(h(0), 0.0, 10.0, "10%"), event(h(1), "off"), event(h(2), "on"))
    on_at = {hours: replay(PLAN, state, history, h(hours)) for hours in (0.5, 1.5, 2.5)}
    assert {k: v.state.on for k, v in on_at.items() if isinstance(v, Replayed)} == {
        0.5: True,
        1.5: False,
        2.5: True,
    }


def test_a_hand_edit_with_its_share_is_undone_and_leaves_no_stage() -> None:
    state = FlagState(flag="f", on=True, percent=30.0)
    edit = ChangeRecord(h(2), "edit", 10.0, 30.0, None, None, "by hand", "bo")
    history = (advance(h(1), 5.0, 10.0, "10%"), edit)
    found = replay(PLAN, state, history, h(1.5))
    assert isinstance(found, Replayed)
    assert (found.state.percent, found.state.recorded_stage) == (10.0, "10%")


def test_a_moment_older_than_the_history_reaches_is_refused() -> None:
    found = replay(PLAN, NOW_STATE, WALK, h(-1), reaches_back_to=h(0))
    assert found == Unreplayable(
        h(-1), "its change history reaches back only to 2026-11-02T10:00:00Z"
    )
    assert isinstance(replay(PLAN, NOW_STATE, WALK, h(0), reaches_back_to=h(0)), Replayed)


def test_a_change_that_does_not_say_what_it_replaced_is_refused() -> None:
    state = FlagState(flag="f", on=True, percent=25.0)
    edit = ChangeRecord(h(2), "edit", None, None, None, None, "fallthrough changed", "bo")
    found = replay(PLAN, state, (advance(h(1), 5.0, 10.0, "10%"), edit), h(1.5))
    assert found == Unreplayable(
        h(1.5),
        "its history does not say what the split was before the edit at 2026-11-02T12:00:00Z",
    )


def test_an_unrecorded_split_change_after_the_moment_is_refused() -> None:
    state = FlagState(flag="f", on=True, percent=25.0, split_changed_at=h(3))
    found = replay(PLAN, state, (advance(h(1), 5.0, 10.0, "10%"),), h(2))
    assert isinstance(found, Unreplayable)
    assert found.why.startswith("its live split was set at 2026-11-02T13:00:00Z by a change")
    # after the unrecorded change the live state is what it was
    later = replay(PLAN, state, (advance(h(1), 5.0, 10.0, "10%"),), h(3.5))
    assert isinstance(later, Replayed) and later.state == state


def test_history_order_does_not_matter() -> None:
    found = replay(PLAN, NOW_STATE, tuple(reversed(WALK)), h(2.5))
    assert isinstance(found, Replayed)
    assert found.state == at(2.5).state
    assert found.history == WALK[:3]
