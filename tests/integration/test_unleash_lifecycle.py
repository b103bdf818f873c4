"""Issue 17: a rollout walked through its life on the real Unleash server (see
lifecycle_walk.py). Unleash records the admin token's name as the author of every change,
the pause too; a pause is a tag, which keeps no reason."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.lifecycle_walk import Authors, walk
from tests.integration.unleash_server import UnleashServer

pytestmark = [pytest.mark.integration, pytest.mark.unleash]

PLATFORM = "{kind: unleash, project: default, environment: production}"
ENV = "production"
WHO = "rollout-admin"  # the admin token's name


@pytest.fixture
def unleash_env(unleash_server: UnleashServer, monkeypatch: pytest.MonkeyPatch) -> UnleashServer:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
    return unleash_server


def admin(server: UnleashServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": server.admin_token}, timeout=10.0
    )


def test_walk_start_stage_pause_resume_rollback_restart_kill_unkill(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    flag = "lifecycle-walk"
    with admin(unleash_env) as api:
        r = api.post("/api/admin/projects/default/features", json={"name": flag, "type": "release"})
        assert r.status_code == 201, r.text
    walk(workspace, flag, PLATFORM, Authors(pause_by=WHO, pause_reason=None, change_by=WHO))

    with admin(unleash_env) as api:
        body = api.get(f"/api/admin/projects/default/features/{flag}").json()
        log = api.get(f"/api/admin/events/{flag}").json()["events"]
    env = next(e for e in body["environments"] if e["name"] == ENV)
    assert env["enabled"] is True  # killed, then unkilled
    assert [s["parameters"]["rollout"] for s in env["strategies"]] == ["10"]  # restarted
    kinds = [e["type"] for e in sorted(log, key=lambda e: e["id"])]
    assert (kinds.count("feature-tagged"), kinds.count("feature-untagged")) == (1, 1)
    assert kinds.count("feature-environment-disabled") == 1
    assert kinds.count("feature-environment-enabled") == 2  # the start, the unkill
