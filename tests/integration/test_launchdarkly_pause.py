"""`rollout pause` / `resume` on LaunchDarkly: the adapter against the contract-checked fake.

A pause is the flag's custom property ``rolloutcli-paused-<env>`` (by and reason in its
values), added and removed with a commented semantic patch, so the audit log records it.
Every request and answer is held to LaunchDarkly's OpenAPI spec (``assert_clean``). The fake
runs on a hand-set clock, so every recorded time is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rolloutcli.judge.flagstate import ChangeRecord, FlagState, PauseMark, RolloutChange
from rolloutcli.judge.stagestart import stage_start
from rolloutcli.platforms.launchdarkly import API_VERSION, SEMANTIC_PATCH, LaunchDarklyPlatform
from rolloutcli.support.errors import ConflictError
from tests.integration.launchdarkly_fake import FakeLaunchDarkly

pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]

PROJECT = "default"
ENV = "production"
KEY = "rolloutcli-paused-production"
T0 = 1_790_000_000_000  # ms; the flag is created then
PAUSE_NOTE = (
    "rolloutcli plan=p stage=- pct=- action=pause · in production by alice: error budget burning"
)
RESUME_NOTE = "rolloutcli plan=p stage=- pct=- action=resume · in production by bob: fixed"


class Clock:
    """The fake's clock, in epoch milliseconds, moved by hand."""

    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ld(clock: Clock) -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly(now=clock) as fake:
        yield fake
        fake.assert_clean()  # every request and answer held to LaunchDarkly's spec


def platform(fake: FakeLaunchDarkly, flag: str, environment: str = ENV) -> LaunchDarklyPlatform:
    return LaunchDarklyPlatform(
        url=fake.url,
        token=fake.api_token,
        flag=flag,
        plan="p",
        project=PROJECT,
        environment=environment,
    )


def change(percent: float) -> RolloutChange:
    return RolloutChange(
        percent=percent,
        audience_keys=(),
        audience_segment=None,
        plan="p",
        stage=f"{percent:g}%",
        action="advance",
        comment="verdict go",
    )


def started(fake: FakeLaunchDarkly, clock: Clock, flag: str) -> LaunchDarklyPlatform:
    """A flag that is on, advanced to 10% at T0 + 1 s."""
    fake.add_flag(PROJECT, flag, [True, False], fallthrough_variation=1, on=True)
    adapter = platform(fake, flag)
    clock.ms = T0 + 1_000
    adapter.set_rollout(change(10), True, False, adapter.read_state(True, False))
    return adapter


def treatment_weight(fake: FakeLaunchDarkly, flag: str) -> int:
    rollout = fake.flag(PROJECT, flag)["environments"][ENV]["fallthrough"]["rollout"]
    return int(next(w["weight"] for w in rollout["variations"] if w["variation"] == 0))


def split_of(state: FlagState) -> tuple[Any, ...]:
    return (state.on, state.percent, state.recorded_stage, state.comment)


def stage_began(adapter: LaunchDarklyPlatform) -> datetime | None:
    """When the live stage began, by the one rule, from one read of state and history."""
    reading = adapter.read(True, False)
    return stage_start(reading.state, reading.history).stage


# ---------------------------------------------------------------------- pause and resume


def test_pause_is_kept_on_the_flag_and_in_the_audit_log(ld: FakeLaunchDarkly, clock: Clock) -> None:
    adapter = started(ld, clock, "pause-me")
    before = adapter.read_state(True, False)
    assert before.paused is None
    env_version = ld.flag(PROJECT, "pause-me")["environments"][ENV]["version"]

    clock.ms = T0 + 60_000
    assert adapter.set_paused(True, "p", "alice", "error budget burning") is True

    stored = ld.flag(PROJECT, "pause-me")
    assert stored["customProperties"] == {
        KEY: {
            "name": "rolloutcli: automatic advancing paused in production",
            "value": ["by=alice", "reason=error budget burning"],
        }
    }
    assert stored["environments"][ENV]["version"] == env_version  # targeting untouched
    sent = ld.requests("PATCH")[-1]
    assert sent.header("Content-Type") == SEMANTIC_PATCH
    assert sent.request_json() == {
        "instructions": [
            {
                "kind": "addCustomProperties",
                "key": KEY,
                "name": "rolloutcli: automatic advancing paused in production",
                "values": ["by=alice", "reason=error budget burning"],
            }
        ],
        "comment": PAUSE_NOTE,
    }
    entry = ld.audit_entries()[-1]
    assert (entry["date"], entry["comment"]) == (T0 + 60_000, PAUSE_NOTE)
    assert entry["accesses"] == [
        {"action": "updateFlagCustomProperties", "resource": "proj/default:env/*:flag/pause-me"}
    ]

    state = adapter.read_state(True, False)
    assert state.paused == PauseMark(at(T0 + 60_000), "alice", "error budget burning")
    assert split_of(state) == split_of(before)
    assert (stage_began(adapter), state.recorded_stage) == (at(T0 + 1_000), "10%")
    assert state.version != before.version
    # the record names the person who paused (as the mark does), not the API token's member
    assert adapter.history()[-1] == ChangeRecord(
        at(T0 + 60_000), "pause", None, None, None, "p", PAUSE_NOTE, "alice", "error budget burning"
    )

    patches = len(ld.requests("PATCH"))
    assert adapter.set_paused(True, "p", "carol", "again") is False
    assert len(ld.requests("PATCH")) == patches  # nothing written
    assert adapter.read_state(True, False).paused == state.paused


def test_an_advance_keeps_the_pause_and_resume_clears_it(
    ld: FakeLaunchDarkly, clock: Clock
) -> None:
    adapter = started(ld, clock, "keep-pause")
    clock.ms = T0 + 60_000
    adapter.set_paused(True, "p", "alice", "error budget burning")

    clock.ms = T0 + 120_000  # a person advances while it is paused
    after = adapter.set_rollout(change(25), True, False, adapter.read_state(True, False))
    assert treatment_weight(ld, "keep-pause") == 25_000
    assert after.paused == PauseMark(at(T0 + 60_000), "alice", "error budget burning")
    assert (stage_began(adapter), after.recorded_stage) == (at(T0 + 120_000), "25%")

    clock.ms = T0 + 180_000
    assert adapter.set_paused(False, "p", "bob", "fixed") is True
    assert ld.flag(PROJECT, "keep-pause")["customProperties"] == {}
    assert ld.requests("PATCH")[-1].request_json()["instructions"] == [
        {
            "kind": "removeCustomProperties",
            "key": KEY,
            "values": ["by=alice", "reason=error budget burning"],
        }
    ]
    resumed = adapter.read_state(True, False)
    assert resumed.paused is None
    assert split_of(resumed) == split_of(after)
    assert stage_began(adapter) == at(T0 + 120_000)  # a resume does not restart the stage
    assert [(r.at, r.action) for r in adapter.history()] == [
        (at(T0 + 1_000), "advance"),
        (at(T0 + 60_000), "pause"),
        (at(T0 + 120_000), "advance"),
        (at(T0 + 180_000), "resume"),
    ]
    assert adapter.history()[-1].comment == RESUME_NOTE
    assert adapter.set_paused(False, "p", "bob", "fixed") is False


def test_kill_while_paused_turns_the_flag_off(ld: FakeLaunchDarkly, clock: Clock) -> None:
    adapter = started(ld, clock, "kill-paused")
    adapter.set_paused(True, "p", "alice", "error budget burning")
    assert adapter.turn_off("p", "incident") is True
    state = adapter.read_state(True, False)
    assert state.on is False
    assert state.paused is not None and state.paused.by == "alice"


def test_pause_is_per_environment(ld: FakeLaunchDarkly, clock: Clock) -> None:
    ld.add_flag(PROJECT, "two-envs", [True, False], fallthrough_variation=1, on=True)
    production, test = platform(ld, "two-envs"), platform(ld, "two-envs", "test")
    clock.ms = T0 + 1_000
    production.set_paused(True, "p", "alice", "error budget burning")
    assert test.read_state(True, False).paused is None
    assert test.history() == []  # the flag-wide entry names production
    clock.ms = T0 + 2_000
    assert test.set_paused(True, "p", "carol", "soak") is True
    assert set(ld.flag(PROJECT, "two-envs")["customProperties"]) == {
        KEY,
        "rolloutcli-paused-test",
    }
    production.set_paused(False, "p", "bob", "fixed")
    assert production.read_state(True, False).paused is None
    assert test.read_state(True, False).paused == PauseMark(at(T0 + 2_000), "carol", "soak")
    assert [r.action for r in production.history()] == ["pause", "resume"]
    assert [r.action for r in test.history()] == ["pause"]


def test_many_pauses_keep_the_stage_start(ld: FakeLaunchDarkly, clock: Clock) -> None:
    """More pause/resume entries than one audit-log page: the advance that set the split is
    still found (a pause does not end the run of changes the adapter pages through)."""
    adapter = started(ld, clock, "busy")
    for i in range(13):  # 26 entries after the advance; a page holds 20
        clock.ms = T0 + 10_000 * (i + 1)
        adapter.set_paused(True, "p", "alice", f"look {i}")
        clock.ms += 5_000
        adapter.set_paused(False, "p", "alice", f"done {i}")
    clock.ms = T0 + 500_000
    adapter.set_paused(True, "p", "alice", "last")
    state = adapter.read_state(True, False)
    assert (stage_began(adapter), state.recorded_stage, state.percent) == (
        at(T0 + 1_000),
        "10%",
        10.0,
    )
    assert state.paused == PauseMark(at(T0 + 500_000), "alice", "last")


def test_a_pause_set_by_hand_is_read_and_resumed(ld: FakeLaunchDarkly, clock: Clock) -> None:
    adapter = started(ld, clock, "by-hand")
    with httpx.Client(
        base_url=ld.url,
        headers={"Authorization": ld.api_token, "LD-API-Version": API_VERSION},
    ) as api:
        r = api.patch(
            f"/api/v2/flags/{PROJECT}/by-hand",
            json={
                "instructions": [
                    {"kind": "addCustomProperties", "key": KEY, "name": "hold", "values": ["INC-7"]}
                ]
            },
            headers={"Content-Type": SEMANTIC_PATCH},
        )
        assert r.status_code == 200, r.text
    state = adapter.read_state(True, False)
    assert state.paused == PauseMark(None, None, None)  # no rolloutcli note says when or why
    assert adapter.set_paused(False, "p", "bob", "not needed") is True
    assert ld.flag(PROJECT, "by-hand")["customProperties"] == {}


# ---------------------------------------------------------------------- conflicts


def test_an_advance_from_a_state_read_before_a_pause_is_a_conflict(
    ld: FakeLaunchDarkly, clock: Clock
) -> None:
    adapter = started(ld, clock, "stale-pause")
    watch = adapter.read_state(True, False)
    platform(ld, "stale-pause").set_paused(True, "p", "alice", "hold it")  # a person
    with pytest.raises(ConflictError) as caught:
        adapter.set_rollout(change(25), True, False, watch)
    assert caught.value.exit_code == 4
    assert treatment_weight(ld, "stale-pause") == 10_000

    paused = adapter.read_state(True, False)
    adapter.set_paused(False, "p", "bob", "go on")
    with pytest.raises(ConflictError):
        adapter.set_rollout(change(25), True, False, paused)  # read while paused
    assert treatment_weight(ld, "stale-pause") == 10_000


def test_an_advance_from_a_state_read_before_a_kill_is_a_conflict(
    ld: FakeLaunchDarkly, clock: Clock
) -> None:
    adapter = started(ld, clock, "stale-kill")
    watch = adapter.read_state(True, False)
    platform(ld, "stale-kill").turn_off("p", "incident")
    with pytest.raises(ConflictError) as caught:
        adapter.set_rollout(change(25), True, False, watch)
    assert caught.value.exit_code == 4
    assert treatment_weight(ld, "stale-kill") == 10_000
    assert ld.flag(PROJECT, "stale-kill")["environments"][ENV]["on"] is False


def test_a_pause_that_lands_during_the_write_is_reported(
    ld: FakeLaunchDarkly, clock: Clock
) -> None:
    """The pause arrives after the pre-write check but before the advance lands: the
    advance's answer shows the pause, and the advance is reported as a conflict."""
    adapter = started(ld, clock, "racing")
    watch = adapter.read_state(True, False)
    held = ld.inject("PATCH", r"/flags/default/racing$", delay=1.0)
    outcome: list[BaseException | FlagState] = []

    def advance() -> None:
        try:
            outcome.append(adapter.set_rollout(change(25), True, False, watch))
        except ConflictError as exc:
            outcome.append(exc)

    writer = threading.Thread(target=advance)
    writer.start()
    deadline = time.monotonic() + 10
    while held.hits == 0:  # the advance passed its check and is on its way
        assert time.monotonic() < deadline
        time.sleep(0.01)
    platform(ld, "racing").set_paused(True, "p", "alice", "hold it")
    writer.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome
    assert "changed by someone else while we wrote" in str(outcome[0])
