"""Every change the tool makes on Unleash (the real server) and LaunchDarkly (the
contract-checked fake) names its decision record in the note the platform keeps, and
`rollout history` pairs the two by that id (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from rolloutcli.plan.model import load_plan
from rolloutcli.platforms import open_platform
from rolloutcli.platforms.base import Platform
from tests.integration.cli_helpers import STAGES_NOW, invoke, write_plan
from tests.integration.launchdarkly_fake import FakeLaunchDarkly
from tests.integration.unleash_server import UnleashServer

pytestmark = pytest.mark.integration
BOOLEAN = "{treatment: true, control: false}"


def platform_of(plan: Path) -> Platform:
    loaded = load_plan(plan)
    return open_platform(loaded.plan.platform, loaded.plan.flag, loaded.base_dir, loaded.name)


def written(*args: str) -> str:
    """Run a writing command with --json; the id of the record it wrote."""
    code, out = invoke(*args, "--yes", "--json")
    assert code == 0, out
    rid: str = json.loads(out)["record_id"]
    assert len(rid) == 32
    return rid


def paired_by_id(plan: str) -> list[tuple[str, str]]:
    code, out = invoke("history", plan, "--json")
    assert code == 0, out
    return [(e["event"], e["record_id"]) for e in json.loads(out) if e["paired"] == "id"]


@pytest.mark.unleash
def test_unleash_strategy_titles_name_the_records(
    unleash_server: UnleashServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    flag = "notes-flag"
    with httpx.Client(
        base_url=unleash_server.url, headers={"Authorization": unleash_server.admin_token}
    ) as api:
        created = api.post(
            "/api/admin/projects/default/features", json={"name": flag, "type": "release"}
        )
        assert created.status_code == 201, created.text
    platform = "{kind: unleash, project: default, environment: production}"
    plan = write_plan(workspace, "notes", flag, platform, BOOLEAN, STAGES_NOW)

    advance = written("advance", "notes")
    rollback = written("rollback", "notes", "-m", "errors")
    kill = written("kill", "notes")

    with httpx.Client(
        base_url=unleash_server.url, headers={"Authorization": unleash_server.admin_token}
    ) as api:
        log: list[dict[str, Any]] = api.get(f"/api/admin/events/{flag}").json()["events"]
    titles = [
        str((e.get("data") or {}).get("title"))
        for e in log
        if e["type"] in ("feature-strategy-add", "feature-strategy-update")
    ]
    for rid in (advance, rollback, kill):
        assert sum(f" record={rid} " in title for title in titles) == 1, (rid, titles)

    named = [(c.action, c.record) for c in platform_of(plan).history() if c.record]
    assert named == [("advance", advance), ("rollback", rollback), ("kill", kill)]
    assert paired_by_id("notes") == [("kill", kill), ("rollback", rollback), ("advance", advance)]


@pytest.mark.launchdarkly
def test_launchdarkly_audit_comments_name_the_records(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        fake.add_flag("default", "notes-ld", [True, False], fallthrough_variation=1)
        platform = "{kind: launchdarkly, project: default, environment: production}"
        plan = write_plan(workspace, "notes-ld", "notes-ld", platform, BOOLEAN, STAGES_NOW)

        advance = written("advance", "notes-ld")
        pause = written("pause", "notes-ld", "-m", "dashboards")
        resume = written("resume", "notes-ld", "-m", "fine")
        kill = written("kill", "notes-ld")
        unkill = written("unkill", "notes-ld", "-m", "fixed")

        comments = [str(entry.get("comment")) for entry in fake.audit_entries()]
        for rid in (advance, pause, resume, kill, unkill):
            assert sum(f" record={rid} " in c for c in comments) == 1, (rid, comments)
        expected = [
            ("advance", advance),
            ("pause", pause),
            ("resume", resume),
            ("kill", kill),
            ("unkill", unkill),
        ]
        history = platform_of(plan).history()
        assert [(c.action, c.record) for c in history if c.record] == expected
        assert paired_by_id("notes-ld") == expected[::-1]
        fake.assert_clean()
