"""`rollout pause` / `resume` on Unleash: the adapter against the real unleash-server.

A pause is the flag tag ``rolloutcli: paused-<environment>``; Unleash's event log records
who tagged it and when (``feature-tagged`` / ``feature-untagged``). A tag holds no free text,
so Unleash keeps no reason. Unleash stamps its own times, so they are checked against the
wall clock around each call; the author is the admin token's name, ``rollout-admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rolloutcli.judge.flagstate import FlagState, RolloutChange
from rolloutcli.judge.stagestart import stage_start
from rolloutcli.platforms.unleash import TAG_TYPE, UnleashPlatform, pause_tag
from rolloutcli.support.errors import ConflictError
from rolloutcli.support.timeutil import parse_timestamp
from tests.integration.unleash_server import UnleashServer

pytestmark = [pytest.mark.integration, pytest.mark.unleash]

ENV = "production"
WHO = "rollout-admin"  # the admin token's name: Unleash records it as the author
SLACK = timedelta(seconds=1)  # the server's clock against ours (same machine)


def admin(server: UnleashServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": server.admin_token}, timeout=10.0
    )


def create_flag(server: UnleashServer, name: str) -> None:
    with admin(server) as api:
        r = api.post("/api/admin/projects/default/features", json={"name": name, "type": "release"})
        assert r.status_code == 201, r.text


def adapter(server: UnleashServer, flag: str, environment: str = ENV) -> UnleashPlatform:
    return UnleashPlatform(
        url=server.url, token=server.admin_token, flag=flag, plan="p", environment=environment
    )


def change(percent: float, turn_on: bool = False) -> RolloutChange:
    return RolloutChange(
        percent=percent,
        audience_keys=(),
        audience_segment=None,
        plan="p",
        stage=f"{percent:g}%",
        action="advance",
        comment="verdict go",
        turn_on=turn_on,
    )


def started(server: UnleashServer, flag: str) -> UnleashPlatform:
    """A flag turned on and advanced to 10% by the tool."""
    create_flag(server, flag)
    platform = adapter(server, flag)
    platform.set_rollout(change(10, turn_on=True), True, False, platform.read_state(True, False))
    return platform


def tags(server: UnleashServer, flag: str) -> list[dict[str, Any]]:
    with admin(server) as api:
        found: list[dict[str, Any]] = api.get(f"/api/admin/features/{flag}/tags").json()["tags"]
    return [{"type": t["type"], "value": t["value"]} for t in found]


def events(server: UnleashServer, flag: str) -> list[dict[str, Any]]:
    with admin(server) as api:
        found: list[dict[str, Any]] = api.get(f"/api/admin/events/{flag}").json()["events"]
    return sorted(found, key=lambda e: e["id"])


def rollout(server: UnleashServer, flag: str) -> str:
    with admin(server) as api:
        body = api.get(f"/api/admin/projects/default/features/{flag}").json()
    env = next(e for e in body["environments"] if e["name"] == ENV)
    return str(env["strategies"][0]["parameters"]["rollout"])


def split_of(state: FlagState) -> tuple[Any, ...]:
    return (state.on, state.percent, state.recorded_stage, state.comment)


def stage_began(platform: UnleashPlatform) -> datetime | None:
    """When the live stage began, by the one rule, from one read of state and history."""
    reading = platform.read(True, False)
    return stage_start(reading.state, reading.history).stage


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------- pure part


def test_pause_tag_fits_unleash_and_is_deterministic() -> None:
    assert pause_tag("production") == "paused-production"
    assert pause_tag("e" * 43) == "paused-" + "e" * 43  # exactly 50 characters
    long = "customer-facing-europe-west-production-blue-green"  # 49 characters
    # the first 30 characters, "~" and the first 12 hex digits of sha256(long)
    assert pause_tag(long) == "paused-customer-facing-europe-west-pr~2f0a51ab6420"
    assert len(pause_tag(long)) == 50
    assert pause_tag(long + "-2") != pause_tag(long)
    assert ":" not in pause_tag(long)


# ---------------------------------------------------------------------- pause and resume


def test_pause_is_a_tag_and_an_event(unleash_server: UnleashServer) -> None:
    flag = "pause-tagged"
    platform = started(unleash_server, flag)
    before = platform.read_state(True, False)
    assert before.paused is None
    began = stage_began(platform)
    assert began is not None

    t0 = now()
    assert platform.set_paused(True, "p", "alice", "error budget burning") is True
    t1 = now()
    assert tags(unleash_server, flag) == [{"type": TAG_TYPE, "value": "paused-production"}]

    state = platform.read_state(True, False)
    assert state.paused is not None
    assert state.paused.by == WHO
    assert state.paused.reason is None  # a tag holds no free text
    assert state.paused.at is not None and t0 - SLACK <= state.paused.at <= t1 + SLACK
    assert split_of(state) == split_of(before)  # split, on/off, stage start untouched
    assert stage_began(platform) == began
    assert state.recorded_stage == "10%"
    assert state.version != before.version

    record = platform.history()[-1]
    assert (record.at, record.action, record.percent_before, record.percent_after) == (
        state.paused.at,
        "pause",
        None,
        None,
    )
    assert record.comment == (
        "automatic advancing paused in production by rollout-admin (Unleash keeps no reason)"
    )

    count = len(events(unleash_server, flag))
    assert platform.set_paused(True, "p", "carol", "again") is False
    assert len(events(unleash_server, flag)) == count  # nothing written


def test_an_advance_keeps_the_pause_and_resume_clears_it(unleash_server: UnleashServer) -> None:
    flag = "pause-kept"
    platform = started(unleash_server, flag)
    platform.set_paused(True, "p", "alice", "error budget burning")
    mark = platform.read_state(True, False).paused

    after = platform.set_rollout(change(25), True, False, platform.read_state(True, False))
    assert rollout(unleash_server, flag) == "25"
    advanced = stage_began(platform)
    assert advanced is not None and advanced == platform.history()[-1].at
    assert after.paused == mark
    assert after.recorded_stage == "25%"

    assert platform.set_paused(False, "p", "bob", "fixed") is True
    assert tags(unleash_server, flag) == []
    resumed = platform.read_state(True, False)
    assert resumed.paused is None
    assert split_of(resumed) == split_of(after)
    assert stage_began(platform) == advanced  # a resume does not restart the stage
    history = platform.history()
    assert [r.action for r in history] == ["advance", "on", "pause", "advance", "resume"]
    assert history[-1].comment == (
        "automatic advancing resumed in production by rollout-admin (Unleash keeps no reason)"
    )
    assert platform.set_paused(False, "p", "bob", "fixed") is False


def test_kill_while_paused_turns_the_flag_off(unleash_server: UnleashServer) -> None:
    platform = started(unleash_server, "pause-killed")
    platform.set_paused(True, "p", "alice", "error budget burning")
    assert platform.turn_off("p", "incident") is True
    state = platform.read_state(True, False)
    assert state.on is False
    assert state.paused is not None and state.paused.by == WHO


def test_pause_is_per_environment(unleash_server: UnleashServer) -> None:
    flag = "pause-two-envs"
    production = started(unleash_server, flag)
    development = adapter(unleash_server, flag, "development")
    production.set_paused(True, "p", "alice", "hold")
    assert development.read_state(True, False).paused is None
    assert development.set_paused(True, "p", "carol", "soak") is True
    production.set_paused(False, "p", "bob", "go")
    assert tags(unleash_server, flag) == [{"type": TAG_TYPE, "value": "paused-development"}]
    assert production.read_state(True, False).paused is None
    assert development.read_state(True, False).paused is not None
    assert [r.action for r in development.history() if r.action in ("pause", "resume")] == ["pause"]


def test_repeated_tag_events_are_one_pause(unleash_server: UnleashServer) -> None:
    """Unleash writes an event for every tag call, even one that changes nothing (two
    people pausing at once): the history shows one pause."""
    flag = "pause-twice"
    platform = started(unleash_server, flag)
    platform.set_paused(True, "p", "alice", "hold")
    with admin(unleash_server) as api:
        r = api.post(
            f"/api/admin/features/{flag}/tags",
            json={"type": TAG_TYPE, "value": "paused-production"},
        )
        assert r.status_code == 201, r.text
    tagged = [e for e in events(unleash_server, flag) if e["type"] == "feature-tagged"]
    assert len(tagged) == 2
    assert [r.action for r in platform.history()].count("pause") == 1
    mark = platform.read_state(True, False).paused
    assert mark is not None and mark.at == parse_timestamp(tagged[0]["createdAt"])  # the first
    platform.set_paused(False, "p", "bob", "go")
    assert [r.action for r in platform.history()][-2:] == ["pause", "resume"]


# ---------------------------------------------------------------------- conflicts


def test_an_advance_from_a_state_read_before_a_pause_is_a_conflict(
    unleash_server: UnleashServer,
) -> None:
    flag = "pause-stale"
    platform = started(unleash_server, flag)
    watch = platform.read_state(True, False)
    adapter(unleash_server, flag).set_paused(True, "p", "alice", "hold it")  # a person
    with pytest.raises(ConflictError) as caught:
        platform.set_rollout(change(25), True, False, watch)
    assert caught.value.exit_code == 4
    assert rollout(unleash_server, flag) == "10"

    paused = platform.read_state(True, False)
    platform.set_paused(False, "p", "bob", "go on")
    with pytest.raises(ConflictError):
        platform.set_rollout(change(25), True, False, paused)  # read while paused
    assert rollout(unleash_server, flag) == "10"


def test_an_advance_from_a_state_read_before_a_kill_is_a_conflict(
    unleash_server: UnleashServer,
) -> None:
    flag = "kill-stale"
    platform = started(unleash_server, flag)
    watch = platform.read_state(True, False)
    adapter(unleash_server, flag).turn_off("p", "incident")  # on-call, by hand
    with pytest.raises(ConflictError) as caught:
        platform.set_rollout(change(25), True, False, watch)
    assert caught.value.exit_code == 4
    assert rollout(unleash_server, flag) == "10"
    assert platform.read_state(True, False).on is False
