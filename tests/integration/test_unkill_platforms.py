"""`rollout unkill`'s platform verb, ``turn_on`` (and ``is_on``, what ``kill --dry-run``
reads), against the real unleash-server and the contract-checked LaunchDarkly fake: a
killed flag turned back on serves its split again, the stage keeps its start, the
platform's history says ``unkill``, and the lifecycle is no longer ``killed`` (a standing
rollback under the kill stays ``rolled_back``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from rolloutcli.judge.lifecycle import Phase, derive
from rolloutcli.platforms.base import Platform
from tests.integration import test_launchdarkly_pause as ldp
from tests.integration import test_unleash_pause as unp
from tests.integration.launchdarkly_fake import FakeLaunchDarkly
from tests.integration.unleash_server import UnleashServer
from tests.unit.judge.test_lifecycle import make_plan

PLAN = make_plan()
clock = ldp.clock
ld = ldp.ld


def phase(platform: Platform) -> Phase:
    reading = platform.read(True, False)
    return derive(PLAN, reading.state, reading.history).phase


def kill_and_unkill(platform: Platform, tick: Callable[[], None] = lambda: None) -> None:
    """The walk both platforms share: on at 10%, kill, unkill; the split and its start kept.
    ``tick`` moves the platform's clock on between the kill and the unkill."""
    before = platform.read_state(True, False)
    assert (before.on, before.percent, phase(platform)) == (True, 10, Phase.IN_STAGE)
    assert platform.turn_on("p", "not killed") is False  # on: nothing changes
    assert platform.is_on() is True  # what kill --dry-run reads
    assert platform.turn_off("p", "incident") is True
    assert platform.is_on() is False
    assert phase(platform) is Phase.KILLED
    tick()
    assert platform.turn_on("p", "fix deployed", by="ana") is True
    assert platform.turn_on("p", "fix deployed", by="ana") is False
    after = platform.read_state(True, False)
    assert (after.on, after.percent) == (True, 10)
    assert phase(platform) is Phase.IN_STAGE
    assert "unkill" in [r.action for r in platform.history()]


def rolled_back_then_unkilled(platform: Platform) -> None:
    state = platform.read_state(True, False)
    back = replace(ldp.change(0), action="rollback", stage=None, comment="rolled back to 0%: p99")
    platform.set_rollout(back, True, False, state)
    assert phase(platform) is Phase.ROLLED_BACK
    platform.turn_off("p", "incident")
    assert phase(platform) is Phase.KILLED
    assert platform.turn_on("p", "fix deployed") is True
    state = platform.read_state(True, False)
    assert (state.on, state.percent) == (True, 0)
    assert phase(platform) is Phase.ROLLED_BACK  # the rollout stays rolled back


@pytest.mark.unleash
@pytest.mark.integration
def test_unleash_unkill_turns_the_environment_on_and_notes_it(
    unleash_server: UnleashServer,
) -> None:
    flag = "unkill-unleash"
    platform = unp.started(unleash_server, flag)
    began = unp.stage_began(platform)
    kill_and_unkill(platform)
    assert unp.stage_began(platform) == began  # a kill and an unkill move no split
    kinds = [e["type"] for e in unp.events(unleash_server, flag)]
    disabled = kinds.index("feature-environment-disabled")
    assert "feature-environment-enabled" in kinds[disabled:]
    with unp.admin(unleash_server) as api:
        body = api.get(f"/api/admin/projects/default/features/{flag}").json()
    env = next(e for e in body["environments"] if e["name"] == unp.ENV)
    assert env["enabled"] is True
    assert "action=unkill · fix deployed" in env["strategies"][0]["title"]
    unkill = next(r for r in platform.history() if r.action == "unkill")
    assert unkill.who == unp.WHO and unkill.percent_after == 10


@pytest.mark.unleash
@pytest.mark.integration
def test_unleash_unkill_after_a_rollback_stays_rolled_back(
    unleash_server: UnleashServer,
) -> None:
    rolled_back_then_unkilled(unp.started(unleash_server, "unkill-unleash-rolled-back"))


@pytest.mark.launchdarkly
@pytest.mark.integration
def test_launchdarkly_unkill_is_turn_flag_on_with_a_comment(
    ld: FakeLaunchDarkly, clock: ldp.Clock
) -> None:
    adapter = ldp.started(ld, clock, "unkill-ld")
    began = ldp.stage_began(adapter)
    clock.ms = ldp.T0 + 60_000

    def tick() -> None:
        clock.ms += 60_000

    kill_and_unkill(adapter, tick)
    assert ldp.stage_began(adapter) == began
    assert ld.flag(ldp.PROJECT, "unkill-ld")["environments"][ldp.ENV]["on"] is True
    assert ldp.treatment_weight(ld, "unkill-ld") == 10_000
    last = adapter.history()[-1]
    assert last.action == "unkill"
    assert last.comment == "rolloutcli plan=p stage=- pct=- action=unkill · fix deployed"


@pytest.mark.launchdarkly
@pytest.mark.integration
def test_launchdarkly_unkill_after_a_rollback_stays_rolled_back(
    ld: FakeLaunchDarkly, clock: ldp.Clock
) -> None:
    adapter = ldp.started(ld, clock, "unkill-ld-rolled-back")
    clock.ms = ldp.T0 + 60_000
    rolled_back_then_unkilled(adapter)
