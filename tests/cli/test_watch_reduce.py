"""`rollout watch --auto --once` on a guardrail whose pause tier reduces (issue 21): the
rollout steps back a stage and pauses there until `rollout resume`. On the embedded
default (flag file + metrics file), with the scripted world of tests/watch_world.py."""

from __future__ import annotations

import json
from pathlib import Path

from rolloutcli.journal.store import read
from tests.cli.test_watch_auto import FileWorld, changes, run
from tests.integration.cli_helpers import invoke
from tests.integration.webhook_receiver import WebhookReceiver

THRESHOLDS = '    thresholds: {warn: "+20%", pause: "+50%", rollback: "3x"}\n'


def reducing_world(
    tmp_path: Path, extra: str = "    on_pause: reduce\n", hook: str = ""
) -> FileWorld:
    """The ``pause`` scenario (2.2% errors from +40m, in the 25% stage), its pause tier
    reducing."""
    world = FileWorld(tmp_path, "pause", hook=hook)
    text = world.plan.read_text()
    assert text.count(THRESHOLDS) == 1
    world.plan.write_text(text.replace(THRESHOLDS, THRESHOLDS + extra))
    return world


def test_a_reduce_tier_steps_back_and_pauses_until_resumed(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        hook = f"notifications:\n  webhooks:\n    - {{url: {receiver.url_for('/events')}}}\n"
        world = reducing_world(tmp_path, hook=hook)
        timeline = run(world, 50)
        [received] = receiver.wait_for(1)
    event = received.json()
    assert (event["kind"], event["percent_before"], event["percent_after"]) == ("reduce", 25, 5)
    assert (event["phase_before"], event["phase_after"]) == ("in_stage", "paused")
    # 5% at +0, 25% at +30, the breach at +50 steps back to 5% and pauses
    assert changes(timeline) == [(0, 5), (30, 25), (50, 5)]
    assert timeline[-1] == (50, 5, True, 0)
    state = world.platform.read_state(True, False)
    assert state.paused is not None and state.paused.reason is not None
    assert state.paused.reason.startswith("reduced 25% → 5%: pause verdict: error_rate breached")
    assert [h.action for h in world.platform.history()] == ["advance", "advance", "reduce", "pause"]
    log = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl").entries
    reduce, pause = log[-2], log[-1]
    assert (reduce["event"], reduce["result"]) == ("reduce", "applied")
    assert (reduce["before"]["percent"], reduce["after"]["percent"]) == (25, 5)
    assert reduce["after"]["phase"] == "paused"
    assert reduce["decision"]["action"] == "reduce"
    assert reduce["verdict"]["verdict"] == "pause"
    assert (pause["event"], pause["result"]) == ("pause", "applied")
    # the treatment is healthy from here on; paused, the rollout stays at 5%
    world.scenario = "healthy"
    for minute in (60, 70, 80):
        code, output = world.round(minute)
        assert code == 0, output
        assert world.percent() == 5
    assert "paused" in output
    status = invoke("status", str(world.plan), "--json")
    assert status[0] == 0
    lifecycle = json.loads(status[1])["lifecycle"]
    assert (lifecycle["phase"], lifecycle["stage"]) == ("paused", "5%")
    assert lifecycle["reason"].startswith("reduced 25% → 5%: pause verdict")
    code, output = invoke("resume", str(world.plan), "--yes")
    assert code == 0, output
    code, output = world.round(90)
    assert code == 0, output
    assert world.percent() == 25  # the 5% stage's window (from the reduce) has elapsed


def test_reduce_to_a_named_stage_and_a_manual_policy(tmp_path: Path) -> None:
    world = reducing_world(tmp_path, "    on_pause: reduce\n    reduce_to: 5%\n")
    text = world.plan.read_text().replace("  start: auto\n", "  start: auto\n  reduce: manual\n")
    world.plan.write_text(text)
    timeline = run(world, 50)
    # manual: the verdict is reported, nothing is changed
    assert changes(timeline) == [(0, 5), (30, 25)]
    code, output = world.round(60)
    assert code == 0, output
    assert "the policy leaves it to a person: rollout reduce pause --to 5%" in " ".join(
        output.split()
    )
    assert world.percent() == 25 and world.platform.read_state(True, False).paused is None
