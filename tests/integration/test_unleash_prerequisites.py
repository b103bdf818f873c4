"""requires: and Unleash's own feature dependencies (issue 21), on a real Unleash 7.5.1.

The plan's prerequisite is another feature of the project, read as the share it is enabled
for in the environment: while it is off or below the plan's share, `check` holds and
`advance` refuses. The flag's own dependencies (``POST .../dependencies``, as a person
would add one) are read back from the feature and shown by `status`; while the parent is
off, Unleash's SDK does not enable the child for anyone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli_helpers import STAGES_NOW, invoke, write_plan
from tests.integration.test_unleash_platform import (
    admin,
    create_flag,
    enabled_users,
    revision,
    unleash_env,
    wait_for_revision_after,
)
from tests.integration.unleash_server import UnleashServer

PLATFORM = "{kind: unleash, project: default, environment: production}"
FEATURES = "/api/admin/projects/default/features"
pytestmark = [pytest.mark.integration, pytest.mark.unleash]
__all__ = ["unleash_env"]  # the fixture, used by name


def gradual(server: UnleashServer, flag: str, percent: int) -> None:
    """A hand-made gradual rollout on ``flag`` in production, turned on."""
    with admin(server) as api:
        body = {
            "name": "flexibleRollout",
            "parameters": {"rollout": str(percent), "stickiness": "default", "groupId": flag},
        }
        r = api.post(f"{FEATURES}/{flag}/environments/production/strategies", json=body)
        assert r.status_code == 200, r.text
        r = api.post(f"{FEATURES}/{flag}/environments/production/on")
        assert r.status_code == 200, r.text


def switch(server: UnleashServer, flag: str, on: bool) -> None:
    with admin(server) as api:
        r = api.post(f"{FEATURES}/{flag}/environments/production/{'on' if on else 'off'}")
        assert r.status_code == 200, r.text


def test_a_plan_prerequisite_holds_until_the_feature_is_enabled_for_its_share(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    create_flag(unleash_env, "core-req")
    create_flag(unleash_env, "child-req")
    plan = write_plan(
        workspace, "gated", "child-req", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    plan.write_text(plan.read_text() + "requires: [{flag: core-req, at_least: 50%}]\n")

    checked = json.loads(invoke("check", "gated", "--json")[1])
    assert (checked["verdict"], checked["reason_codes"]) == (
        "hold",
        ["prerequisite_unmet", "not_started"],
    )
    assert checked["prerequisites"][0]["state"] == "is off"
    code, out = invoke("advance", "gated", "--yes")
    assert code == 1
    assert "waits for its prerequisite core-req: core-req is off" in " ".join(out.split())

    gradual(unleash_env, "core-req", 60)
    status = json.loads(invoke("status", "gated", "--json")[1])
    assert [(p["met"], p["state"], p["percent"]) for p in status["prerequisites"]] == [
        (True, "is at 60%", 60.0)
    ]
    code, out = invoke("advance", "gated", "--yes")
    assert code == 0, out
    assert json.loads(invoke("status", "gated", "--json")[1])["percent"] == 10

    plan.write_text(plan.read_text().replace("core-req, at_least: 50%", "core-missing"))
    checked = json.loads(invoke("check", "gated", "--json")[1])
    assert checked["reason_codes"][0] == "prerequisite_unmet"
    assert checked["prerequisites"][0]["problem"] == "no feature 'core-missing' in project default"


def test_unleashs_own_dependency_is_shown_and_its_sdk_enables_nobody_while_the_parent_is_off(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    create_flag(unleash_env, "core-dep")
    create_flag(unleash_env, "child-dep")
    write_plan(
        workspace, "own", "child-dep", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    gradual(unleash_env, "core-dep", 100)
    assert invoke("advance", "own", "--yes")[0] == 0  # 10%
    with admin(unleash_env) as api:
        r = api.post(f"{FEATURES}/child-dep/dependencies", json={"feature": "core-dep"})
        assert r.status_code == 200, r.text
    status = json.loads(invoke("status", "own", "--json")[1])
    assert status["platform_prerequisites"] == [
        {
            "flag": "core-dep",
            "variation": True,
            "variants": [],
            "met": True,
            "state": "core-dep must be on: it does for 100%",
            "found": True,
            "on": True,
            "percent": 100.0,
            "problem": None,
        }
    ]
    assert 800 <= len(enabled_users(unleash_env, "child-dep")) <= 1200  # 10% of 10,000
    before = revision(unleash_env)
    switch(unleash_env, "core-dep", False)
    wait_for_revision_after(unleash_env, before)
    status = json.loads(invoke("status", "own", "--json")[1])
    assert (status["platform_prerequisites"][0]["met"], status["percent"]) == (False, 10)
    assert status["platform_prerequisites"][0]["state"] == (
        "core-dep must be on: it is off, so the platform serves this flag's off variation to "
        "everyone"
    )
    code, out = invoke("status", "own")
    assert code == 0 and "unleash prerequisite" in out
    assert enabled_users(unleash_env, "child-dep") == set()  # the SDK checks the parent
