"""Issue 21's reduce on the real Unleash server and the LaunchDarkly fake (see
reduce_walk.py): the split stepped back, the pause mark set, both kept by the platform,
and each reduce paired with its decision record in `history`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_helpers import invoke
from tests.integration.launchdarkly_fake import FakeLaunchDarkly
from tests.integration.reduce_walk import PLAN, reduce_walk
from tests.integration.unleash_server import UnleashServer

pytestmark = pytest.mark.integration


@pytest.mark.unleash
def test_reduce_on_unleash_lowers_the_strategy_and_tags_the_pause(
    unleash_server: UnleashServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
    flag = "reduce-walk"
    with httpx.Client(
        base_url=unleash_server.url,
        headers={"Authorization": unleash_server.admin_token},
        timeout=10.0,
    ) as api:
        created = api.post(
            "/api/admin/projects/default/features", json={"name": flag, "type": "release"}
        )
        assert created.status_code == 201, created.text
        reduce_walk(workspace, flag, "{kind: unleash, project: default, environment: production}")
        body = api.get(f"/api/admin/projects/default/features/{flag}").json()
        tags = api.get(f"/api/admin/features/{flag}/tags").json()["tags"]
    env = next(e for e in body["environments"] if e["name"] == "production")
    assert [s["parameters"]["rollout"] for s in env["strategies"]] == ["25"]
    assert tags == []  # resumed: the pause tag is gone


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
        yield fake
        fake.assert_clean()  # every request and answer held to LaunchDarkly's spec


@pytest.mark.launchdarkly
def test_reduce_on_launchdarkly_lowers_the_rollout_and_the_sdk_serves_it(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    flag = "reduce-walk"
    ld.add_flag("default", flag, [True, False], fallthrough_variation=1)
    reduce_walk(workspace, flag, "{kind: launchdarkly, project: default, environment: production}")
    comments = [e.get("comment", "") for e in ld.audit_entries()]
    assert sum("action=reduce" in c for c in comments) == 2
    code, output = invoke("verify", PLAN)
    assert code == 0, output  # the SDK, on the flag as the fake holds it, serves about 25%
