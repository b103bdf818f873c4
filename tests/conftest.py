"""Shared fixtures: a copy of the example workspace (plans, flagd file, metrics) per test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.app.demo import DEMO_NOW, write_workspace
from rolloutcli.support.timeutil import format_timestamp, parse_timestamp

# The environment that changes what a command does beyond its arguments: where records go,
# who acts, extra webhooks, and CI detection (a suite run on GitHub Actions must not have
# its commands write annotations and job summaries).
OUTSIDE_SETTINGS = (
    "ROLLOUT_RECORDS",
    "ROLLOUT_ACTOR",
    "ROLLOUT_WEBHOOK_URL",
    "ROLLOUT_SLACK_WEBHOOK_URL",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITLAB_CI",
)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OUTSIDE_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """The secrets registry (redact.py) is process-wide: a token one test registers (e.g.
    PROMETHEUS_USERNAME=alice) must not be scrubbed from the next test's output."""
    from rolloutcli.support import redact

    redact.reset()
    yield
    redact.reset()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped example workspace, copied; the current directory is its root."""
    root = write_workspace(tmp_path / "ws")
    monkeypatch.chdir(root)
    monkeypatch.delenv("ROLLOUT_PLANS_DIR", raising=False)
    return root


def read_flag(root: Path, flag: str) -> dict[str, Any]:
    doc = json.loads((root / "flags" / "flags.json").read_text())
    flag_doc: dict[str, Any] = doc["flags"][flag]
    return flag_doc


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def move_in_time(root: Path, delta: timedelta) -> None:
    """Shift every timestamp of a workspace's metrics and flag files by ``delta``: the
    rollout happened that much later (its data is exactly as fresh at the new moment)."""

    def shifted(match: re.Match[str]) -> str:
        at = parse_timestamp(match.group(0))
        assert at is not None
        return format_timestamp(at + delta)

    for path in [*root.glob("metrics/*"), *root.glob("flags/*")]:
        path.write_text(_STAMP.sub(shifted, path.read_text(encoding="utf-8")), encoding="utf-8")


@pytest.fixture
def live_workspace(workspace: Path) -> Path:
    """The example workspace moved in time so that its moment (DEMO_NOW, when the examples'
    data ends) is now: commands without --at (advance, rollback) see fresh data."""
    now = datetime.now(UTC).replace(microsecond=0)
    move_in_time(workspace, now - DEMO_NOW)
    return workspace


def moment() -> str:
    """Now, for ``--at``, taken between two steps of a walk: the clock is then moved past
    the second, as the flag file records changes to the second (so the next step lands
    after it on every platform)."""
    import time
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    time.sleep(1.05 - now.microsecond / 1e6)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
