"""Shared fixtures: a copy of the example workspace (plans, flagd file, metrics) per test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.demo import write_workspace


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
