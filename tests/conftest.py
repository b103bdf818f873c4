"""Shared fixtures: a copy of the example workspace (plans, flagd file, metrics) per test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.demo import write_workspace

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
