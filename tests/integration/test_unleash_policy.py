"""Issue 21: the plan's policy windows, freezes and checklists on the real Unleash server
(see policy_walk.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.policy_walk import policy_walk
from tests.integration.unleash_server import UnleashServer

pytestmark = [pytest.mark.integration, pytest.mark.unleash]

PLATFORM = "{kind: unleash, project: default, environment: production}"
FLAG = "policy-windows"


@pytest.fixture
def unleash_env(unleash_server: UnleashServer, monkeypatch: pytest.MonkeyPatch) -> UnleashServer:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
    return unleash_server


def test_outside_a_window_nothing_moves_and_in_a_freeze_a_rollback_still_acts(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    api = httpx.Client(
        base_url=unleash_env.url, headers={"Authorization": unleash_env.admin_token}, timeout=10.0
    )

    def percent() -> float:
        body = api.get(f"/api/admin/projects/default/features/{FLAG}").json()
        env = next(e for e in body["environments"] if e["name"] == "production")
        if not env["enabled"] or not env["strategies"]:
            return 0
        return float(env["strategies"][0]["parameters"]["rollout"])

    with api:
        r = api.post("/api/admin/projects/default/features", json={"name": FLAG, "type": "release"})
        assert r.status_code == 201, r.text
        policy_walk(workspace, FLAG, PLATFORM, percent)
