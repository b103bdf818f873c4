"""Many watchers, one actor per plan, against a real PostgreSQL 15 records store (the session's
``postgres_url`` server; each test a database of its own).

Two "machines": two workspaces whose plan ``healthy`` drives the same flag file, so their
lock files differ and only the store's advisory lock keeps them apart. A GO waits at
minute 0 (the healthy scenario's first stage, tests/watch_world.py). Every watcher is a
real ``rollout watch --auto --once`` process; the webhook receiver is a real HTTP server.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rolloutcli.journal.planlock import Busy, PlanKey, try_lock
from rolloutcli.journal.store import read
from rolloutcli.platforms.flagfile import FlagFilePlatform
from tests import lock_holder, watch_world
from tests.integration.cli_helpers import write_flag_file
from tests.integration.test_records_postgres import (
    create_database,
    finish,
    rollout,
    rows,
    server_and_admin,
    with_password,
)
from tests.integration.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AT = "2026-11-02T10:00:00Z"
KEY = PlanKey("healthy", "healthy", "production")


@pytest.fixture
def records_url(postgres_url: str) -> Iterator[str]:
    name = f"records_{uuid.uuid4().hex[:12]}"
    create_database(postgres_url, name)
    yield with_password(server_and_admin(postgres_url)[0], name)


class Fleet:
    """One flag file and one metrics file, and a workspace per machine whose plan drives
    them; every webhook goes to ``receiver``."""

    def __init__(self, root: Path, receiver: WebhookReceiver, machines: int = 2) -> None:
        self.flags = write_flag_file(root / "shared" / "flags.json", "healthy")
        self.platform = FlagFilePlatform(self.flags, "healthy")
        csv = root / "shared" / "healthy.csv"
        csv.write_text("time,cohort,metric,value\n")
        metrics = f"  source: {{kind: file, path: {csv}}}\n  exposures: requests"
        url = receiver.url_for("/events")
        hook = f"notifications:\n  webhooks:\n    - {{url: {url}, events: [advance]}}\n"
        self.machines: list[Path] = []
        for n in range(machines):
            plans = root / f"machine-{n}" / "plans"
            plans.mkdir(parents=True)
            text = watch_world.plan_text("healthy", str(self.flags), metrics, hook=hook)
            (plans / "healthy.yaml").write_text(text)
            self.machines.append(plans.parent)

    def percent(self) -> float:
        return self.platform.read_state(True, False).percent


def watch(machine: Path, records: str) -> Any:
    return rollout(
        machine,
        "watch",
        "plans/healthy.yaml",
        "--auto",
        "--once",
        "--output",
        "ndjson",
        "--at",
        AT,
        "--records",
        records,
    )


def event(done: tuple[int, str, str]) -> dict[str, Any]:
    code, out, err = done
    assert code == 0, err
    (line,) = out.splitlines()
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_a_plan_locked_on_another_machine_is_skipped_then_acted_on(
    records_url: str, tmp_path: Path
) -> None:
    with WebhookReceiver() as receiver:
        fleet = Fleet(tmp_path, receiver, machines=1)
        (machine,) = fleet.machines
        elsewhere = psycopg.connect(
            records_url, autocommit=True, application_name="rollout watch 4242@runner-7"
        )
        try:
            held = elsewhere.execute("SELECT pg_try_advisory_lock(%s)", (KEY.advisory_key,))
            assert held.fetchone() == (True,)
            skipped = event(finish(watch(machine, records_url)))
            assert skipped["skipped"] == "locked"
            assert skipped["skip_reason"].startswith(
                "skipped: another watcher holds plan healthy (pid 4242 on runner-7 since "
            )
            assert (skipped["applied"], skipped["record_id"], skipped["warnings"]) == (
                None,
                None,
                [],
            )
            assert fleet.percent() == 0
            assert receiver.requests == []
        finally:
            elsewhere.close()  # the session ends: its advisory lock goes with it
        acted = event(finish(watch(machine, records_url)))
        assert acted["skipped"] is None
        assert acted["applied"] == "advanced 0% → 5% (5%)"
        received = receiver.wait_for(1)
    assert fleet.percent() == 5
    assert rows(records_url) == [(acted["record_id"], "healthy", "advance", "applied")]
    assert [r.json()["kind"] for r in received] == ["advance"]


def test_a_watcher_killed_holding_the_lock_holds_nothing(records_url: str, tmp_path: Path) -> None:
    """PostgreSQL ends a dead client's session, and its advisory locks with it."""
    holder = lock_holder.start(records_url, tmp_path, *astuple(KEY))
    assert isinstance(try_lock(records_url, tmp_path / "elsewhere", KEY), Busy)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    deadline = time.monotonic() + 30  # until the server has seen the connection close
    while isinstance(lease := try_lock(records_url, tmp_path / "elsewhere", KEY), Busy):
        assert time.monotonic() < deadline, "the dead watcher's lock was never released"
        time.sleep(0.05)
    with lease:
        assert lease.warning is None


def test_two_watchers_at_once_act_once(records_url: str, tmp_path: Path) -> None:
    """Both read the same GO; whichever locks second finds the lock held, or the flag
    moved, or (reading after the change) nothing to do yet. Never two actions."""
    with WebhookReceiver() as receiver:
        fleet = Fleet(tmp_path, receiver)
        started = [watch(machine, records_url) for machine in fleet.machines]
        events = [event(finish(process)) for process in started]
        receiver.wait_for(1)
    acted = [e for e in events if e["applied"] is not None]
    others = [e for e in events if e["applied"] is None]
    assert len(acted) == 1 and len(others) == 1, events
    assert acted[0]["applied"] == "advanced 0% → 5% (5%)"
    other = others[0]
    assert other["error"] is None and other["exit_code"] == 0
    assert other["skipped"] in ("locked", "moved") or other["decision"]["action"] == "none"
    assert fleet.percent() == 5
    assert [h.action for h in fleet.platform.history()] == ["advance"]
    assert rows(records_url) == [(acted[0]["record_id"], "healthy", "advance", "applied")]
    assert [r.json()["kind"] for r in receiver.requests] == ["advance"]


def test_a_store_that_is_down_never_blocks_the_watcher(postgres_url: str, tmp_path: Path) -> None:
    """No store: the action is applied under this machine's lock, the warning says the
    lock is weaker and the record waits in the spool; the next write sends it."""
    name = f"records_{uuid.uuid4().hex[:12]}"
    url = with_password(server_and_admin(postgres_url)[0], name)  # no such database yet
    with WebhookReceiver() as receiver:
        fleet = Fleet(tmp_path, receiver, machines=1)
        (machine,) = fleet.machines
        acted = event(finish(watch(machine, url)))
        assert [r.json()["kind"] for r in receiver.wait_for(1)] == ["advance"]
    assert acted["applied"] == "advanced 0% → 5% (5%)"
    assert fleet.percent() == 5
    lock_warning, record_warning = acted["warnings"]
    assert lock_warning.startswith("plan lock not taken in the records store (decision records at")
    assert lock_warning.endswith("watchers elsewhere are not kept out this round")
    assert record_warning.startswith("decision record not written: decision records at ")
    assert f"record {acted['record_id']} kept in " in record_warning
    spool = machine / "plans" / ".rollout" / "records-spool.jsonl"
    assert [r["id"] for r in read(spool).entries] == [acted["record_id"]]

    create_database(postgres_url, name)  # the store is back: the next write sends the spool
    code, out, err = finish(
        rollout(machine, "pause", "plans/healthy.yaml", "--yes", "--json", "--records", url)
    )
    assert code == 0 and err == "", err
    assert [row[0] for row in rows(url)] == [acted["record_id"], json.loads(out)["record_id"]]
    assert read(spool).entries == []
