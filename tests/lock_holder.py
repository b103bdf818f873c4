"""Hold a plan's lock in a process of its own, as another watcher would, until told to let go.

Run as ``python -m tests.lock_holder <lock file>`` (file lock) or ``python -m tests.lock_holder
<records URL> <plans dir> <plan> <flag> <environment>`` (the plan's full lock, the store's
advisory lock included): it prints ``held`` once the lock is taken, then keeps it until its
standard input closes, and exits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rolloutcli.journal.planlock import Busy, PlanKey, file_lock, try_lock


def hold(args: list[str]) -> int:
    if len(args) == 1:
        lease = file_lock(Path(args[0]))
    else:
        records, plans, plan, flag, environment = args
        lease = try_lock(records, Path(plans), PlanKey(plan, flag, environment))
    if isinstance(lease, Busy) or lease.warning:
        print(f"not held: {lease}", flush=True)
        return 1
    with lease:
        print("held", flush=True)
        sys.stdin.read()
    return 0


def start(*args: str | Path) -> subprocess.Popen[str]:
    """A holder process that holds the lock by the time this returns."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.lock_holder", *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "held\n", line
    return process


def release(process: subprocess.Popen[str]) -> None:
    """Let go of the lock and wait until the holder is gone."""
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=30) == 0


if __name__ == "__main__":
    sys.exit(hold(sys.argv[1:]))
