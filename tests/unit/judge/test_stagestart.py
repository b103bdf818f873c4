"""The one stage-start rule: state + change events → when the stage and the rollout began."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from rolloutcli.judge.flagstate import ChangeRecord, FlagState
from rolloutcli.judge.position import locate
from rolloutcli.judge.stagestart import StageStart, moves_split, split_moved_at, stage_start
from rolloutcli.plan.model import Plan


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, tzinfo=UTC)


def ev(
    hour: int, action: str, before: float | None = None, after: float | None = None
) -> ChangeRecord:
    return ChangeRecord(at(hour), action, before, after, None, "p", "", None)


def state(split_changed_at: datetime | None = None, percent: float = 10) -> FlagState:
    return FlagState(flag="f", on=True, percent=percent, split_changed_at=split_changed_at)


ROLLOUT = [ev(8, "advance", 0, 1), ev(9, "advance", 1, 5), ev(10, "advance", 5, 10)]


# ---------------------------------------------------------------------- the stage


def test_the_stage_began_with_the_last_advance_and_the_rollout_with_the_first() -> None:
    assert stage_start(state(), ROLLOUT) == StageStart(stage=at(10), rollout=at(8))


def test_events_in_any_order_give_the_same_times() -> None:
    shuffled = [*ROLLOUT, ev(7, "on"), ev(7, "pause")]
    for seed in range(6):
        random.Random(seed).shuffle(shuffled)
        assert stage_start(state(), shuffled) == StageStart(stage=at(10), rollout=at(8))


def test_a_pause_and_a_resume_do_not_restart_the_stage() -> None:
    history = [*ROLLOUT, ev(11, "pause"), ev(12, "resume")]
    assert stage_start(state(), history).stage == at(10)


def test_a_pause_does_not_break_the_run_of_advances() -> None:
    """A pause moves no split and stops nobody's treatment: the rollout's pooled evidence
    (scope: rollout) still reaches back to its first advance, before and after a resume."""
    history = [*ROLLOUT, ev(11, "pause"), ev(12, "resume")]
    assert stage_start(state(), history) == StageStart(stage=at(10), rollout=at(8))
    after = [*history, ev(13, "advance", 10, 25)]
    assert stage_start(state(), after) == StageStart(stage=at(13), rollout=at(8))
    assert stage_start(state(), [*ROLLOUT, ev(11, "pause")]).rollout == at(8)


def test_turning_the_flag_on_as_the_rollout_starts_does_not_break_the_run() -> None:
    """Unleash logs the start of a rollout on a flag that was off as advance, then on."""
    history = [ev(8, "advance", 0, 1), ev(8, "on"), ev(9, "advance", 1, 5)]
    assert stage_start(state(), history) == StageStart(stage=at(9), rollout=at(8))


def test_a_rollback_sets_the_split_and_breaks_the_run() -> None:
    history = [*ROLLOUT, ev(11, "rollback", 10, 0), ev(12, "advance", 0, 1)]
    assert stage_start(state(), history) == StageStart(stage=at(12), rollout=at(12))
    assert stage_start(state(), history[:4]) == StageStart(stage=at(11), rollout=at(11))


def test_a_kill_keeps_the_stage_start_but_breaks_the_run() -> None:
    unleash = [*ROLLOUT, ev(11, "off"), ev(11, "kill", 10, 10)]
    launchdarkly = [*ROLLOUT, ev(11, "kill", 10, None)]
    flagfile = [*ROLLOUT, ev(11, "kill")]
    for history in (unleash, launchdarkly, flagfile):
        assert stage_start(state(), history) == StageStart(stage=at(10), rollout=at(10))


def test_a_hand_edit_restarts_the_stage_and_the_rollout() -> None:
    unleash = [*ROLLOUT, ev(11, "edit", 10, 40)]  # the event log names the new share
    launchdarkly = [*ROLLOUT, ev(11, "edit", 10, None)]  # the audit log does not
    for history in (unleash, launchdarkly):
        assert stage_start(state(), history) == StageStart(stage=at(11), rollout=at(11))


def test_a_removed_strategy_sets_the_split() -> None:
    history = [*ROLLOUT, ev(11, "remove", 10, 0)]
    assert stage_start(state(), history) == StageStart(stage=at(11), rollout=at(11))


def test_an_advance_onto_a_zero_percent_audience_stage_dates_the_stage() -> None:
    history = [ev(9, "advance", 0, 0)]
    assert stage_start(state(), history) == StageStart(stage=at(9), rollout=at(9))


def test_events_that_set_no_split() -> None:
    assert not moves_split(ev(9, "kill", 25, 25))
    assert not moves_split(ev(9, "pause"))
    assert not moves_split(ev(9, "on/off"))
    assert moves_split(ev(9, "remove", 5, 0))
    assert not moves_split(ev(9, "remove", 0, 0))
    assert split_moved_at([ev(9, "on"), ev(10, "kill", 5, 5), ev(11, "resume")]) is None


# ---------------------------------------------------------------------- the state's record


def test_the_states_own_record_dates_the_split_when_the_history_does_not_reach_back() -> None:
    paging_ended = [ev(11, "pause"), ev(12, "resume")]
    assert stage_start(state(at(7)), paging_ended) == StageStart(stage=at(7), rollout=at(7))
    assert stage_start(state(at(7)), []) == StageStart(stage=at(7), rollout=at(7))


def test_unknown_when_neither_the_state_nor_the_history_says() -> None:
    found = stage_start(state(), [ev(11, "pause"), ev(12, "resume")])
    assert found == StageStart(stage=None, rollout=None)
    assert found.elapsed(at(13)) is None
    assert stage_start(state(), []) == StageStart(stage=None, rollout=None)


def test_the_states_record_wins_over_later_events() -> None:
    """A flag file restored from a copy: its metadata dates the live split, whatever the
    history file says happened after; a rollout run never begins after the stage."""
    history = [ev(11, "advance", 0, 10)]
    assert stage_start(state(at(10)), history) == StageStart(stage=at(10), rollout=at(10))


def test_a_hand_edited_file_is_dated_by_the_state_the_run_by_the_history() -> None:
    """The flag file's modification time dates a split edited by hand (the history file
    has no line for it); the run of advances before it is kept, as before."""
    assert stage_start(state(at(12)), ROLLOUT) == StageStart(stage=at(12), rollout=at(8))


# ---------------------------------------------------------------------- elapsed, position


def test_elapsed_is_measured_from_the_stage_start() -> None:
    found = stage_start(state(), ROLLOUT)
    assert found.elapsed(at(12, 30)) == timedelta(hours=2, minutes=30)


def test_locate_carries_the_times_on_the_position() -> None:
    plan = Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [{"percent": 1}, {"percent": 5}, {"percent": 10}, {"percent": 100}],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
        }
    )
    position = locate(plan, state(), ROLLOUT)
    assert (position.index, position.stage_began, position.rollout_began) == (2, at(10), at(8))
    assert position.stage_elapsed(at(11)) == timedelta(hours=1)
    unknown = locate(plan, state())
    assert (unknown.stage_began, unknown.rollout_began, unknown.stage_elapsed(at(11))) == (
        None,
        None,
        None,
    )
