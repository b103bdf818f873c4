"""The plan lock (journal/planlock.py): a stable key, a per-plan lock file that another
process's hold turns away without waiting, and a store that cannot be reached never keeping
a watcher from acting."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from rolloutcli.journal.planlock import Busy, Lease, PlanKey, file_lock, try_lock
from tests import lock_holder

KEY = PlanKey("checkout-v2", "checkout-v2", "production")


def test_the_advisory_key_is_the_documented_digest() -> None:
    # sha256("rolloutcli:checkout-v2\ncheckout-v2\nproduction")[:8], signed big-endian
    assert KEY.advisory_key == -7069477334237121929
    assert PlanKey("checkout-v2", "checkout-v2", "staging").advisory_key != KEY.advisory_key


def test_the_lock_file_is_named_after_the_plan() -> None:
    assert KEY.file_name == "checkout-v2.lock"
    assert PlanKey("a/b c", "f", "e").file_name == "a_b_c.lock"


def test_a_lock_held_by_another_process_is_busy_until_released(tmp_path: Path) -> None:
    path = tmp_path / ".rollout" / "locks" / "checkout-v2.lock"
    holder = lock_holder.start(path)
    try:
        busy = file_lock(path)
        assert isinstance(busy, Busy)
        assert busy.holder is not None
        assert busy.holder.startswith(f"pid {holder.pid} on {socket.gethostname()} since ")
    finally:
        lock_holder.release(holder)
    lease = file_lock(path)
    assert isinstance(lease, Lease) and lease.warning is None
    with lease:
        assert isinstance(file_lock(path), Busy)  # a second open file is turned away too
    assert isinstance(file_lock(path), Lease)


def test_a_lock_file_that_cannot_be_made_does_not_block(tmp_path: Path) -> None:
    (tmp_path / ".rollout").write_text("a file where the folder should be")
    lease = try_lock(tmp_path / "decisions.jsonl", tmp_path, KEY)
    assert isinstance(lease, Lease)
    assert lease.warning is not None
    assert lease.warning.startswith(
        f"plan lock file {tmp_path}/.rollout/locks/checkout-v2.lock cannot be used ("
    )
    assert lease.warning.endswith("): not locked")


def test_a_store_that_cannot_be_reached_leaves_the_file_lock(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://watcher:secret-pw@127.0.0.1:{port}/records"
    lease = try_lock(url, tmp_path, KEY)
    assert isinstance(lease, Lease)
    assert lease.warning is not None
    assert lease.warning.startswith(
        f"plan lock not taken in the records store (decision records at "
        f"postgresql://127.0.0.1:{port}/records: cannot connect: "
    )
    assert lease.warning.endswith(
        "); acting under this machine's lock only, watchers elsewhere are not kept out this round"
    )
    assert "secret-pw" not in lease.warning
    with lease:  # the file lock is held all the same
        assert isinstance(file_lock(tmp_path / ".rollout/locks/checkout-v2.lock"), Busy)
    assert os.path.exists(tmp_path / ".rollout/locks/checkout-v2.lock")


def test_a_holder_killed_with_sigkill_holds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plan.lock"
    holder = lock_holder.start(path)
    assert isinstance(file_lock(path), Busy)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    with file_lock(path) as lease:  # the kernel dropped the dead process's lock
        assert isinstance(lease, Lease) and lease.warning is None


def test_a_holder_read_back_is_shown_plain_only_when_it_looks_plain() -> None:
    from rolloutcli.journal.lease import describe_holder

    assert describe_holder(42, "runner-7.ci.internal", "2026-12-06T23:00:00Z") == (
        "pid 42 on runner-7.ci.internal since 2026-12-06T23:00:00Z"
    )
    assert describe_holder(42, "evil\x1b[2Jhost", "\x07") == (
        "pid 42 on 'evil\\x1b[2Jhost' since '\\x07'"
    )
