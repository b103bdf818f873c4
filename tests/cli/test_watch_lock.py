"""One actor per plan on one machine: `watch --auto --once` acts on a plan only under the
plan's lock file (`.rollout/locks/<plan>.lock` beside the plans). A lock that another
process holds skips the plan, says who holds it, and changes nothing (exit 0); once it is
released, the next round acts. A flag that moved between the round's reading and the lock
is left alone (the other watcher acted). Runs on the flag file and a metrics file; a GO
waits at minute 0 (the healthy scenario's first stage, see tests/watch_world.py)."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

from rolloutcli.app import watch as watcher
from rolloutcli.app.apply import Journal
from rolloutcli.journal.planlock import Busy, Lease, PlanKey
from rolloutcli.journal.store import read
from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.render.contract import decision_json
from tests import lock_holder
from tests.cli.test_watch_auto import T0, FileWorld
from tests.integration.cli_helpers import invoke
from tests.integration.webhook_receiver import WebhookReceiver


def hooked_world(root: Path, receiver: WebhookReceiver) -> FileWorld:
    url = receiver.url_for("/e")
    hook = f"notifications:\n  webhooks:\n    - {{url: {url}, events: [advance]}}\n"
    world = FileWorld(root, "healthy", hook=hook)
    world.advance_to(0)
    return world


def watch_ndjson(world: FileWorld) -> tuple[int, dict[str, object]]:
    code, output = invoke(
        "watch",
        str(world.plan),
        "--auto",
        "--once",
        "--output",
        "ndjson",
        "--at",
        "2026-11-02T10:00Z",
    )
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert len(lines) == 1, output
    return code, json.loads(lines[0])


def records(world: FileWorld) -> list[dict[str, object]]:
    return read(world.root / "plans" / ".rollout" / "decisions.jsonl").entries


def test_a_plan_locked_by_another_watcher_is_skipped_then_acted_on(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        world = hooked_world(tmp_path, receiver)
        lock = world.root / "plans" / ".rollout" / "locks" / "healthy.lock"
        holder = lock_holder.start(lock)
        try:
            code, event = watch_ndjson(world)
            assert code == 0
            assert event["skipped"] == "locked"
            assert event["skip_reason"] == (
                f"skipped: another watcher holds plan healthy (pid {holder.pid} on "
                f"{socket.gethostname()} since " + str(event["skip_reason"]).split(" since ")[1]
            )
            assert event["applied"] is None and event["record_id"] is None
            assert event["error"] is None and event["exit_code"] == 0
            assert event["decision"]["action"] == "advance"  # type: ignore[index]
            # the text view says so too
            code, output = invoke(
                "watch", str(world.plan), "--auto", "--once", "--at", "2026-11-02T10:00Z"
            )
            assert code == 0
            assert "skipped: another watcher holds plan healthy (pid" in output
            assert world.percent() == 0
            assert records(world) == []
            assert receiver.requests == []
        finally:
            lock_holder.release(holder)
        code, event = watch_ndjson(world)
        assert code == 0
        assert event["skipped"] is None and event["skip_reason"] is None
        assert event["applied"] == "advanced 0% → 5% (5%)"
        received = receiver.wait_for(1)
    assert world.percent() == 5
    assert [(r["event"], r["result"], r["id"]) for r in records(world)] == [
        ("advance", "applied", event["record_id"])
    ]
    assert [r.json()["kind"] for r in received] == ["advance"]


def test_a_flag_that_moved_before_the_lock_is_left_alone(tmp_path: Path) -> None:
    """Between this round's reading and its lock, another watcher advanced the flag and
    let go: this round does nothing (no conflict, no record, no notification)."""
    with WebhookReceiver() as receiver:
        world = hooked_world(tmp_path, receiver)
        taken: list[PlanKey] = []

        def lock_for(loaded: LoadedPlan, key: PlanKey) -> Lease | Busy:
            taken.append(key)
            other = RolloutChange(5.0, (), None, "healthy", "5%", "advance", "other watcher")
            state = world.platform.read_state(True, False)
            world.platform.set_rollout(other, True, False, state, at=T0)
            return Lease()

        journals: list[Journal] = []

        def journal_for(loaded: LoadedPlan) -> Journal:
            journals.append(Journal(path=tmp_path / "decisions.jsonl", who="t", command="w"))
            return journals[-1]

        (done,) = watcher.run_round(
            [str(world.plan)],
            None,
            T0 + timedelta(seconds=1),
            auto=True,
            journal_for=journal_for,
            describe=decision_json,
            lock_for=lock_for,
        )
        assert receiver.requests == []
    assert taken == [PlanKey("healthy", "healthy", "production")]
    assert done.skipped == "moved"
    assert done.skip_reason == (
        "skipped: plan healthy's flag changed since this round read it (another watcher "
        "acted); the next round decides from there"
    )
    assert (done.applied, done.action_error, done.action_exit_code) == (None, None, 0)
    assert journals == []
    assert world.percent() == 5
    assert [h.comment for h in world.platform.history()] == ["other watcher"]


def test_a_report_only_round_takes_no_lock(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        world = hooked_world(tmp_path, receiver)
    lock = world.root / "plans" / ".rollout" / "locks" / "healthy.lock"
    holder = lock_holder.start(lock)
    try:
        code, output = invoke(
            "watch", str(world.plan), "--once", "--output", "ndjson", "--at", "2026-11-02T10:00Z"
        )
    finally:
        lock_holder.release(holder)
    assert code == 0
    event = json.loads(output.splitlines()[0])
    assert (event["mode"], event["skipped"], event["decision"]["action"]) == (
        "report",
        None,
        "advance",
    )


def test_a_lock_that_fails_does_not_block_the_action(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        world = hooked_world(tmp_path, receiver)

        def lock_for(loaded: LoadedPlan, key: PlanKey) -> Lease | Busy:
            raise OSError(28, "No space left on device")

        (done,) = watcher.run_round(
            [str(world.plan)],
            None,
            T0 + timedelta(seconds=1),
            auto=True,
            journal_for=lambda loaded: Journal(
                path=tmp_path / "decisions.jsonl", who="t", command="w"
            ),
            describe=decision_json,
            lock_for=lock_for,
        )
        assert [r.json()["kind"] for r in receiver.wait_for(1)] == ["advance"]
    assert done.applied == "advanced 0% → 5% (5%)"
    assert done.warnings == (
        "plan lock not taken (OSError: [Errno 28] No space left on device): acting without it",
    )
    assert world.percent() == 5
