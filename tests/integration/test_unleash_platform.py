"""The Unleash adapter against a real Unleash server, checked by Unleash's own Python SDK.

No mocks: every command talks to ``unleash-server`` 7.5.1 on a throwaway PostgreSQL (the
session fixture ``unleash_server``), and exposure is measured by ``UnleashClient``
evaluating 10,000 userIds, the way an application would see the flag.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from UnleashClient import UnleashClient
from UnleashClient.utils import InstanceAllowType

from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.plan.model import load_plan
from rolloutcli.platforms import open_platform
from rolloutcli.platforms.unleash import UnleashPlatform
from rolloutcli.support.errors import ConflictError
from tests.integration.cli_helpers import STAGES_NOW, fresh_metrics, invoke, write_plan
from tests.integration.unleash_server import UnleashServer

PLATFORM = "{kind: unleash, project: default, environment: production}"
pytestmark = [pytest.mark.integration, pytest.mark.unleash]

ENV = "production"
USERS = tuple(f"user-{i}" for i in range(10_000))
TOLERANCE = 2.0  # percentage points
STAFF = ("staff-1", "staff-2", "staff-3")


# ---------------------------------------------------------------------- helpers


def admin(server: UnleashServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": server.admin_token}, timeout=10.0
    )


def create_flag(server: UnleashServer, name: str) -> None:
    with admin(server) as api:
        r = api.post("/api/admin/projects/default/features", json={"name": name, "type": "release"})
        assert r.status_code == 201, r.text


def ensure_segment(server: UnleashServer, name: str, keys: tuple[str, ...]) -> None:
    with admin(server) as api:
        existing = api.get("/api/admin/segments").json()["segments"]
        if any(s["name"] == name for s in existing):
            return
        r = api.post(
            "/api/admin/segments",
            json={
                "name": name,
                "project": "default",
                "constraints": [{"contextName": "userId", "operator": "IN", "values": list(keys)}],
            },
        )
        assert r.status_code == 201, r.text


def environment(server: UnleashServer, flag: str) -> dict[str, Any]:
    with admin(server) as api:
        r = api.get(f"/api/admin/projects/default/features/{flag}")
        assert r.status_code == 200, r.text
    env: dict[str, Any] = next(e for e in r.json()["environments"] if e["name"] == ENV)
    return env


def events(server: UnleashServer, flag: str) -> list[dict[str, Any]]:
    with admin(server) as api:
        found: list[dict[str, Any]] = api.get(f"/api/admin/events/{flag}").json()["events"]
    return sorted(found, key=lambda e: e["id"])


def revision(server: UnleashServer) -> int:
    """The server's revision of what SDKs are served (from the client API's ETag)."""
    r = httpx.get(
        f"{server.url}/api/client/features",
        headers={"Authorization": server.client_tokens[ENV]},
        timeout=10.0,
    )
    match = re.search(r":(\d+):", r.headers.get("etag", ""))
    return int(match.group(1)) if match else -1


def wait_for_revision_after(server: UnleashServer, before: int) -> None:
    """SDKs see a write once the server's revision moves past ``before`` (refreshed ~1/s)."""
    deadline = time.monotonic() + 15
    while revision(server) <= before:
        assert time.monotonic() < deadline, "Unleash never published the change to SDKs"
        time.sleep(0.05)


def sdk(server: UnleashServer) -> UnleashClient:
    client = UnleashClient(
        url=f"{server.url}/api",
        app_name="rolloutcli-tests",
        environment=ENV,
        custom_headers={"Authorization": server.client_tokens[ENV]},
        refresh_interval=60,
        disable_metrics=True,
        disable_registration=True,
        cache_directory=tempfile.mkdtemp(prefix="unleash-sdk-"),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client()
    return client


def enabled_users(server: UnleashServer, flag: str) -> set[str]:
    client = sdk(server)
    try:
        return {u for u in USERS if client.is_enabled(flag, {"userId": u})}
    finally:
        client.destroy()


def variant_users(server: UnleashServer, flag: str, name: str) -> set[str]:
    client = sdk(server)
    try:
        return {u for u in USERS if client.get_variant(flag, {"userId": u})["name"] == name}
    finally:
        client.destroy()


@pytest.fixture
def unleash_env(unleash_server: UnleashServer, monkeypatch: pytest.MonkeyPatch) -> UnleashServer:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    return unleash_server


# ---------------------------------------------------------------------- the shipped plan


def test_shipped_plan_runs_every_command(unleash_env: UnleashServer, workspace: Path) -> None:
    """plans/onboarding-unleash.yaml: status, check, advance, rollback and kill, for real."""
    create_flag(unleash_env, "new-onboarding")
    ensure_segment(unleash_env, "internal-staff", STAFF)

    code, out = invoke("status", "onboarding-unleash", "--json")
    assert code == 0, out
    status = json.loads(out)
    assert (status["stage"], status["percent"], status["on"]) == (None, 0, False)

    code, out = invoke("check", "onboarding-unleash", "--json")
    assert code == 0, out
    assert json.loads(out)["verdict"] == "go"

    code, out = invoke("advance", "onboarding-unleash", "--yes")
    assert code == 0, out
    assert "turns the flag ON" in out
    env = environment(unleash_env, "new-onboarding")
    assert env["enabled"] is True
    titles = sorted(s["title"] for s in env["strategies"])
    assert titles[0].startswith("rolloutcli plan=onboarding-unleash audience")
    assert titles[1].startswith(
        "rolloutcli plan=onboarding-unleash stage=internal pct=1 action=advance"
    )
    audience = next(s for s in env["strategies"] if "audience" in s["title"])
    assert len(audience["segments"]) == 1

    code, out = invoke("status", "onboarding-unleash", "--json")
    status = json.loads(out)
    assert status["stage"]["index"] == 0
    assert status["percent"] == 1
    assert status["audience"]["segment"] == "internal-staff"

    code, out = invoke("check", "onboarding-unleash", "--json")
    assert code == 0, out
    checked = json.loads(out)
    assert checked["verdict"] == "hold"  # the 30-minute window has just begun

    code, out = invoke("rollback", "onboarding-unleash", "--yes")
    assert code == 0, out
    env = environment(unleash_env, "new-onboarding")
    assert env["enabled"] is True  # rollback serves control; it does not kill
    assert [s["parameters"]["rollout"] for s in env["strategies"]] == ["0"]

    code, out = invoke("kill", "onboarding-unleash", "--yes")
    assert code == 0, out
    assert "is OFF" in out
    assert environment(unleash_env, "new-onboarding")["enabled"] is False
    code, out = invoke("kill", "new-onboarding", "--yes")  # by flag key; already off
    assert code == 0 and "already off" in out

    log = [e for e in events(unleash_env, "new-onboarding") if e.get("environment") == ENV]
    kinds = [e["type"] for e in log]
    assert kinds.count("feature-environment-disabled") == 1
    named = [
        (e["data"] or e["preData"]).get("title", "")
        for e in log
        if e["type"].startswith("feature-strategy")
    ]
    assert any("stage=internal pct=1 action=advance" in t for t in named)
    assert any("action=rollback" in t for t in named)
    assert any("action=kill" in t for t in named)
    assert all("plan=onboarding-unleash" in t for t in named)


# ---------------------------------------------------------------------- what SDKs serve


def test_sdk_sees_each_stage_and_nobody_after_kill(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    flag = "exposure-bool"
    create_flag(unleash_env, flag)
    write_plan(
        workspace, "exposure", flag, PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    previous: set[str] = set()
    current = 0
    for percent in (10, 25, 50):
        fresh_metrics(workspace, flag, current)
        before = revision(unleash_env)
        code, out = invoke("advance", "exposure", "--yes")
        assert code == 0, out
        wait_for_revision_after(unleash_env, before)
        treated = enabled_users(unleash_env, flag)
        share = 100 * len(treated) / len(USERS)
        assert abs(share - percent) <= TOLERANCE, (percent, share)
        assert previous <= treated  # nobody treated at a lower stage loses the feature
        previous, current = treated, percent

    before = revision(unleash_env)
    code, out = invoke("kill", "exposure", "--yes")
    assert code == 0, out
    wait_for_revision_after(unleash_env, before)
    assert enabled_users(unleash_env, flag) == set()

    # The event log names the plan and the stage of every change the tool made.
    platform = open_platform(
        load_plan(workspace / "plans" / "exposure.yaml").plan.platform,
        flag,
        workspace / "plans",
        "exposure",
    )
    history = platform.history()
    advances = [
        (r.action, r.percent_before, r.percent_after, r.stage)
        for r in history
        if r.action == "advance"
    ]
    assert advances == [
        ("advance", 0.0, 10.0, "10%"),
        ("advance", 10.0, 25.0, "25%"),
        ("advance", 25.0, 50.0, "50%"),
    ]
    assert [r.action for r in history][-2:] == ["off", "kill"]
    assert all(r.plan == "exposure" for r in history if r.action in ("advance", "kill"))


def test_allowlist_stage_serves_exactly_the_keys_first(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    flag = "allowlist-flag"
    create_flag(unleash_env, flag)
    stages = f"""  - {{name: staff, percent: 0, min_duration: 0, audience: {{keys: {list(STAFF)}}}}}
  - {{percent: 10, min_duration: 0}}
  - {{percent: 100, min_duration: 0}}
"""
    write_plan(workspace, "allow", flag, PLATFORM, "{treatment: true, control: false}", stages)
    before = revision(unleash_env)
    code, out = invoke("advance", "allow", "--yes")
    assert code == 0, out
    wait_for_revision_after(unleash_env, before)
    client = sdk(unleash_env)
    try:
        assert {k for k in (*STAFF, *USERS) if client.is_enabled(flag, {"userId": k})} == set(STAFF)
    finally:
        client.destroy()
    status = json.loads(invoke("status", "allow", "--json")[1])
    assert (status["stage"]["name"], status["audience"]["keys"]) == ("staff", list(STAFF))

    fresh_metrics(workspace, flag, 0.1)
    before = revision(unleash_env)
    code, out = invoke("advance", "allow", "--yes")
    assert code == 0, out
    wait_for_revision_after(unleash_env, before)
    client = sdk(unleash_env)
    try:
        assert all(client.is_enabled(flag, {"userId": k}) for k in STAFF)  # staff keep it
        share = 100 * sum(client.is_enabled(flag, {"userId": u}) for u in USERS) / len(USERS)
        assert abs(share - 10) <= TOLERANCE
    finally:
        client.destroy()


def test_excluded_users_are_never_enabled_at_any_stage_100_included(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    """issue 21: exclude: keys are a userId NOT_IN on every strategy the plan owns, so
    Unleash's own SDK never enables them, through the allowlist stage up to 100%."""
    flag = "excluded-flag"
    vips = ("vip-1", "vip-2")
    users = USERS[:1000]
    create_flag(unleash_env, flag)
    stages = f"""  - {{name: staff, percent: 0, min_duration: 0, audience: {{keys: {list(STAFF)}}}}}
  - {{percent: 10, min_duration: 0}}
  - {{percent: 100, min_duration: 0}}
"""
    plan = write_plan(workspace, "vip", flag, PLATFORM, "{treatment: true, control: false}", stages)
    plan.write_text(plan.read_text() + f"exclude: {{keys: {list(vips)}}}\n")
    for percent in (0, 10, 100):
        fresh_metrics(workspace, flag, max(percent, 0.1))
        before = revision(unleash_env)
        code, out = invoke("advance", "vip", "--yes")
        assert code == 0, out
        wait_for_revision_after(unleash_env, before)
        client = sdk(unleash_env)
        try:
            enabled = {k for k in (*vips, *STAFF, *users) if client.is_enabled(flag, {"userId": k})}
        finally:
            client.destroy()
        assert not enabled & set(vips), f"excluded users enabled at {percent}%"
        assert set(STAFF) <= enabled
        if percent == 100:
            assert enabled == {*STAFF, *users}
    status = json.loads(invoke("status", "vip", "--json")[1])
    assert (status["percent"], status["excluded"], status["exclusion_missing"]) == (
        100,
        {"keys": list(vips), "segment": None},
        None,
    )


def test_variant_split_v24_against_v23(unleash_env: UnleashServer, workspace: Path) -> None:
    flag = "model-version"
    create_flag(unleash_env, flag)
    write_plan(workspace, "model", flag, PLATFORM, "{treatment: v2.4, control: v2.3}", STAGES_NOW)
    previous: set[str] = set()
    for percent in (10, 25):
        fresh_metrics(workspace, flag, 10)
        before = revision(unleash_env)
        code, out = invoke("advance", "model", "--yes")
        assert code == 0, out
        wait_for_revision_after(unleash_env, before)
        treated = variant_users(unleash_env, flag, "v2.4")
        share = 100 * len(treated) / len(USERS)
        assert abs(share - percent) <= TOLERANCE, (percent, share)
        assert previous <= treated
        previous = treated
    strategy = environment(unleash_env, flag)["strategies"][0]
    assert strategy["parameters"]["rollout"] == "100"
    weights = {v["name"]: (v["weight"], v["weightType"]) for v in strategy["variants"]}
    assert weights == {"v2.4": (250, "fix"), "v2.3": (750, "variable")}

    before = revision(unleash_env)
    code, out = invoke("rollback", "model", "--yes")
    assert code == 0, out
    wait_for_revision_after(unleash_env, before)
    assert variant_users(unleash_env, flag, "v2.3") == set(USERS)


# ---------------------------------------------------------------------- safety


def test_two_advances_at_the_same_moment_move_one_stage(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    flag = "race-flag"
    create_flag(unleash_env, flag)
    stages = """  - {percent: 10, min_duration: 15s}
  - {percent: 25, min_duration: 15s}
  - {percent: 50, min_duration: 15s}
  - {percent: 100, min_duration: 0}
"""
    plan = write_plan(
        workspace, "race", flag, PLATFORM, "{treatment: true, control: false}", stages
    )
    rollout = Path(sys.executable).with_name("rollout")
    env = {
        **os.environ,
        "UNLEASH_URL": unleash_env.url,
        "UNLEASH_API_TOKEN": unleash_env.admin_token,
    }

    def both() -> list[subprocess.CompletedProcess[str]]:
        def one(_: int) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(rollout), "advance", str(plan), "--yes"],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )

        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(one, range(2)))

    # Two starts at once: one strategy, one stage.
    results = both()
    assert all(r.returncode in (0, 4) for r in results), [r.stdout + r.stderr for r in results]
    strategies = environment(unleash_env, flag)["strategies"]
    assert [s["parameters"]["rollout"] for s in strategies] == ["10"]

    time.sleep(16)  # the 10% stage's window passes: both runs see `go`
    fresh_metrics(workspace, flag, 10)
    results = both()
    assert all(r.returncode in (0, 4) for r in results), [r.stdout + r.stderr for r in results]
    assert any(r.returncode == 0 for r in results), [r.stdout + r.stderr for r in results]
    strategies = environment(unleash_env, flag)["strategies"]
    assert [s["parameters"]["rollout"] for s in strategies] == ["25"], [r.stdout for r in results]


def test_stale_write_is_refused_by_the_server(unleash_env: UnleashServer) -> None:
    """Someone moves the rollout between our read and our write: the JSON-Patch `test`
    makes Unleash refuse the write, and the tool reports a conflict (exit 4)."""
    flag = "stale-flag"
    create_flag(unleash_env, flag)
    platform = UnleashPlatform(
        url=unleash_env.url, token=unleash_env.admin_token, flag=flag, plan="stale", environment=ENV
    )
    start = platform.read_state(True, False)
    state = platform.set_rollout(_change(10, "advance"), True, False, start)
    strategy = environment(unleash_env, flag)["strategies"][0]
    with admin(unleash_env) as api:
        path = f"/api/admin/projects/default/features/{flag}/environments/{ENV}/strategies/"
        r = api.patch(
            path + strategy["id"],
            json=[{"op": "replace", "path": "/parameters/rollout", "value": "30"}],
        )
        assert r.status_code == 200, r.text
    # the early check catches it ...
    with pytest.raises(ConflictError) as caught:
        platform.set_rollout(_change(25, "advance"), True, False, state)
    assert caught.value.exit_code == 4
    # ... and so does the server, when the write races past the early check
    with pytest.raises(ConflictError):
        platform._move_main(
            strategy,
            "rolloutcli plan=stale stage=25% pct=25 action=advance",
            25,
            True,
            False,
            False,
        )
    assert environment(unleash_env, flag)["strategies"][0]["parameters"]["rollout"] == "30"


def test_hand_made_constraints_and_variants_survive(unleash_env: UnleashServer) -> None:
    flag = "keep-flag"
    create_flag(unleash_env, flag)
    platform = UnleashPlatform(
        url=unleash_env.url, token=unleash_env.admin_token, flag=flag, plan="keep", environment=ENV
    )
    state = platform.set_rollout(
        _change(10, "advance"), True, False, platform.read_state(True, False)
    )
    strategy = environment(unleash_env, flag)["strategies"][0]
    tenant = {
        "contextName": "tenant",
        "operator": "IN",
        "values": ["acme"],
        "caseInsensitive": False,
        "inverted": False,
    }
    with admin(unleash_env) as api:
        path = f"/api/admin/projects/default/features/{flag}/environments/{ENV}/strategies/"
        r = api.patch(
            path + strategy["id"], json=[{"op": "add", "path": "/constraints/-", "value": tenant}]
        )
        assert r.status_code == 200, r.text
    state = platform.read_state(True, False)
    after = platform.set_rollout(_change(25, "advance"), True, False, state)
    assert after.percent == 25
    kept = environment(unleash_env, flag)["strategies"][0]
    assert [c["contextName"] for c in kept["constraints"]] == ["tenant"]
    assert kept["parameters"]["groupId"] == flag and kept["parameters"]["stickiness"] == "default"


def test_invalid_rollout_stored_by_hand_is_reported_and_fixed(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    flag = "bad-rollout"
    create_flag(unleash_env, flag)
    write_plan(workspace, "bad", flag, PLATFORM, "{treatment: true, control: false}", STAGES_NOW)
    assert invoke("advance", "bad", "--yes")[0] == 0
    strategy = environment(unleash_env, flag)["strategies"][0]
    with admin(unleash_env) as api:
        path = f"/api/admin/projects/default/features/{flag}/environments/{ENV}/strategies/"
        r = api.patch(
            path + strategy["id"],
            json=[{"op": "replace", "path": "/parameters/rollout", "value": "abc"}],
        )
        assert r.status_code == 200  # Unleash stores it; its SDKs then serve nobody
    code, out = invoke("status", "bad", "--json")
    status = json.loads(out)
    assert status["percent"] == 0
    assert any("'abc'" in note for note in status["notes"])
    assert invoke("rollback", "bad", "--yes")[0] == 0  # nothing to roll back: already 0
    code, out = invoke("advance", "bad", "--yes")
    assert code == 0, out
    assert environment(unleash_env, flag)["strategies"][0]["parameters"]["rollout"] == "10"


def test_errors_are_one_line_with_exit_3(
    unleash_server: UnleashServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", "*:*.wrong-token")
    code, out = invoke("status", "onboarding-unleash")
    assert code == 3
    assert "HTTP 401" in out and "UNLEASH_API_TOKEN" in out and "wrong-token" not in out

    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.client_tokens[ENV])
    code, out = invoke("status", "onboarding-unleash")
    assert code == 3 and "HTTP 403" in out

    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    write_plan(
        workspace,
        "ghost",
        "no-such-flag",
        PLATFORM,
        "{treatment: true, control: false}",
        STAGES_NOW,
    )
    code, out = invoke("status", "ghost")
    assert code == 3 and "HTTP 404" in out and "no-such-flag" in out

    monkeypatch.setenv("UNLEASH_URL", "http://127.0.0.1:9")  # nothing listens there
    code, out = invoke("kill", "onboarding-unleash", "--yes")
    assert code == 3 and "cannot reach" in out

    monkeypatch.delenv("UNLEASH_API_TOKEN")
    code, out = invoke("status", "onboarding-unleash")
    assert code == 2 and "UNLEASH_API_TOKEN" in out


def _change(percent: float, action: str) -> RolloutChange:
    return RolloutChange(
        percent=percent,
        audience_keys=(),
        audience_segment=None,
        plan="p",
        stage=f"{percent:g}%",
        action=action,
        comment="test",
    )
