"""requires: and LaunchDarkly's own prerequisites (issue 21), on the contract-checked fake.

The plan's prerequisite is read from another flag of the project: while it serves its
variation to less than the plan needs, `check` holds and `advance` refuses. The flag's own
LaunchDarkly prerequisites (set here through the API, as a person would) are shown by
`status`; while one is unmet, LaunchDarkly's own SDK, polling the fake, serves the flag's
off variation, and `who` / `verify` (the SDK offline over the flags read back) say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ldclient import Context, LDClient
from ldclient.config import Config

from rolloutcli.platforms.launchdarkly import API_VERSION, SEMANTIC_PATCH
from tests.integration.cli_helpers import STAGES_NOW, fresh_metrics, invoke, write_plan
from tests.integration.launchdarkly_fake import FakeLaunchDarkly

PLATFORM = "{kind: launchdarkly, project: default, environment: production}"
PROJECT = "default"
ENV = "production"
CONTEXTS = tuple(f"user-{i}" for i in range(2_000))
pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        yield fake
        fake.assert_clean()  # every request and answer held to LaunchDarkly's spec


def patch(fake: FakeLaunchDarkly, flag: str, *instructions: dict[str, Any]) -> httpx.Response:
    """A semantic patch in production, sent to the fake's REST API as a person's tool would."""
    return httpx.patch(
        f"{fake.url}/api/v2/flags/{PROJECT}/{flag}",
        headers={
            "Authorization": fake.api_token,
            "LD-API-Version": API_VERSION,
            "Content-Type": SEMANTIC_PATCH,
        },
        json={"environmentKey": ENV, "instructions": list(instructions)},
    )


def variation_id(fake: FakeLaunchDarkly, flag: str, value: object) -> str:
    stored = fake.flag(PROJECT, flag)
    return str(next(v["_id"] for v in stored["variations"] if v["value"] is value))


def sdk_served(fake: FakeLaunchDarkly, flag: str, value: object) -> int:
    """How many contexts the real SDK, polling the fake, serves ``value``."""
    config = Config(
        fake.sdk_key, base_uri=fake.url, stream=False, send_events=False, diagnostic_opt_out=True
    )
    client = LDClient(config=config, start_wait=5)
    try:
        assert client.is_initialized()
        return sum(client.variation(flag, Context.create(k), None) is value for k in CONTEXTS)
    finally:
        client.close()


def test_a_plan_prerequisite_holds_until_its_flag_serves_the_share(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag(PROJECT, "payments-core", [True, False], on=True, fallthrough_variation=1)
    ld.add_flag(PROJECT, "checkout", [True, False], on=True, fallthrough_variation=1)
    plan = write_plan(
        workspace, "gated", "checkout", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    plan.write_text(plan.read_text() + "requires: [{flag: payments-core, at_least: 50%}]\n")

    checked = json.loads(invoke("check", "gated", "--json")[1])
    assert (checked["verdict"], checked["reason_codes"]) == (
        "hold",
        ["prerequisite_unmet", "not_started"],
    )
    assert checked["reasons"][0].startswith(
        "prerequisite payments-core is at 0%, needs at least 50%"
    )
    code, out = invoke("advance", "gated", "--yes")
    assert code == 1
    assert "waits for its prerequisite payments-core" in " ".join(out.split())

    core_true = variation_id(ld, "payments-core", True)
    core_false = variation_id(ld, "payments-core", False)
    weights = {core_true: 60_000, core_false: 40_000}
    rollout = {"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": weights}
    assert patch(ld, "payments-core", rollout).status_code == 200
    status = json.loads(invoke("status", "gated", "--json")[1])
    assert [(p["flag"], p["met"], p["state"]) for p in status["prerequisites"]] == [
        ("payments-core", True, "is at 60%")
    ]
    code, out = invoke("advance", "gated", "--yes")
    assert code == 0, out
    assert json.loads(invoke("status", "gated", "--json")[1])["percent"] == 10

    missing = plan.read_text().replace("payments-core, at_least: 50%", "payments-gone")
    plan.write_text(missing)
    fresh_metrics(workspace, "checkout", 10)
    checked = json.loads(invoke("check", "gated", "--json")[1])
    assert checked["reason_codes"] == ["prerequisite_unmet"]
    assert checked["prerequisites"][0]["problem"] == "no flag 'payments-gone' in project default"


def test_launchdarklys_own_prerequisite_is_shown_and_its_sdk_serves_the_off_variation(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag(PROJECT, "payments-core", [True, False], on=True, fallthrough_variation=0)
    ld.add_flag(PROJECT, "checkout", [True, False], on=True, fallthrough_variation=1)
    write_plan(
        workspace, "own", "checkout", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    fresh_metrics(workspace, "checkout", 0.02)
    for percent in (10, 25, 50):
        assert invoke("advance", "own", "--yes")[0] == 0
        fresh_metrics(workspace, "checkout", percent)
    prerequisite = {
        "kind": "addPrerequisite",
        "key": "payments-core",
        "variationId": variation_id(ld, "payments-core", True),
    }
    assert patch(ld, "checkout", prerequisite).status_code == 200
    assert ld.flag(PROJECT, "checkout")["environments"][ENV]["prerequisites"] == [
        {"key": "payments-core", "variation": 0}
    ]
    status = json.loads(invoke("status", "own", "--json")[1])
    assert [(p["flag"], p["variation"], p["met"]) for p in status["platform_prerequisites"]] == [
        ("payments-core", True, True)
    ]
    treated = sdk_served(ld, "checkout", True)
    assert 850 <= treated <= 1150  # 50% of 2,000, within LaunchDarkly's hashing

    assert patch(ld, "payments-core", {"kind": "turnFlagOff"}).status_code == 200
    status = json.loads(invoke("status", "own", "--json")[1])
    assert status["platform_prerequisites"][0]["state"] == (
        "payments-core must be on: it is off, so the platform serves this flag's off "
        "variation to everyone"
    )
    assert status["platform_prerequisites"][0]["met"] is False
    code, out = invoke("status", "own")
    assert "launchdarkly prerequisite" in out
    assert sdk_served(ld, "checkout", True) == 0  # the off variation, false, for everyone
    code, out = invoke("who", "own", "user-1")
    assert "prerequisite payments-core is unmet: the off variation" in " ".join(out.split())
    code, out = invoke("verify", "own")
    assert code == 1, out  # the split says 50%; LaunchDarkly serves it to nobody

    # LaunchDarkly's own rules for prerequisites, as the fake keeps them
    checkout_true = variation_id(ld, "checkout", True)
    itself = {"kind": "addPrerequisite", "key": "checkout", "variationId": checkout_true}
    assert patch(ld, "checkout", itself).status_code == 400
    assert patch(ld, "payments-core", itself).status_code == 400  # a cycle
    wrong = {**prerequisite, "key": "payments-core", "variationId": checkout_true}
    assert patch(ld, "checkout", {**wrong, "kind": "updatePrerequisite"}).status_code == 400
    assert patch(ld, "checkout", prerequisite).status_code == 400  # already one
    removed = {"kind": "removePrerequisite", "key": "payments-core"}
    assert patch(ld, "checkout", removed).status_code == 200
    assert sdk_served(ld, "checkout", True) == treated
