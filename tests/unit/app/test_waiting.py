"""`rollout wait`'s loop on the example workspace, on a clock it is given: how many polls, when
it stops, and that the last poll is never past the timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rolloutcli.app.waiting import wait_duration, wait_for
from rolloutcli.judge.waitfor import parse_condition
from rolloutcli.plan.model import LoadedPlan, load_plan
from rolloutcli.support.errors import InvalidInputError

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


class FakeTime:
    """A clock that moves only when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def plan(root: Path) -> LoadedPlan:
    return load_plan(root / "plans" / "checkout-v2.yaml")


def test_a_condition_that_holds_takes_one_poll_and_no_sleep(workspace: Path) -> None:
    loaded, time = plan(workspace), FakeTime()
    waited = wait_for(
        loaded,
        parse_condition("stage=5", loaded.plan),
        timedelta(seconds=10),
        timedelta(seconds=3),
        time.clock,
        time.sleep,
    )
    assert (waited.met, waited.polls, time.slept, waited.waited) == (True, 1, [], timedelta(0))
    assert waited.last.seen.stage == "5%"


def test_a_condition_that_never_holds_polls_until_the_timeout(workspace: Path) -> None:
    loaded, time = plan(workspace), FakeTime()
    waited = wait_for(
        loaded,
        parse_condition("lifecycle=done", loaded.plan),
        timedelta(seconds=10),
        timedelta(seconds=3),
        time.clock,
        time.sleep,
    )
    assert waited.met is False
    assert time.slept == [3.0, 3.0, 3.0, 1.0]  # the last sleep cut to the timeout
    assert waited.polls == 5
    assert waited.waited == timedelta(seconds=10)
    assert waited.last.seen.phase == "in_stage"
    assert waited.last.evaluation is None  # no verdict asked: the metrics are not read


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0s", "--timeout must be positive, e.g. 30s"),
        ("later", "--timeout: bad duration"),
    ],
)
def test_durations_must_be_positive(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        wait_duration(text, "--timeout")
    assert str(caught.value).startswith(message)


def test_durations_parse() -> None:
    assert wait_duration("0.2s", "--interval") == timedelta(seconds=0.2)
    assert wait_duration("2h", "--timeout") == timedelta(hours=2)
