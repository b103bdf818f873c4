"""Knobs on a real Unleash server (issue 21): the knob's toggle serves everyone one
strategy variant whose payload is the value; rolloutcli reads it, sets it conditionally
(with the change note naming the record), and Unleash's own Python SDK serves the new
value through ``get_variant``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.platforms.unleash import UnleashPlatform
from rolloutcli.support.errors import BackendError, ConflictError
from tests.integration.test_unleash_platform import (
    ENV,
    admin,
    create_flag,
    events,
    revision,
    sdk,
    wait_for_revision_after,
)
from tests.integration.unleash_server import UnleashServer

pytestmark = [pytest.mark.integration, pytest.mark.unleash]

USERS = tuple(f"user-{i}" for i in range(200))


def knob_toggle(server: UnleashServer, flag: str, value: str) -> None:
    """A toggle on in ``ENV`` with one strategy at 100% and one variant carrying ``value``
    as a number payload, as a person sets a knob up."""
    create_flag(server, flag)
    base = f"/api/admin/projects/default/features/{flag}/environments/{ENV}"
    variant = {
        "name": value,
        "weight": 1000,
        "weightType": "variable",
        "stickiness": "default",
        "payload": {"type": "number", "value": value},
    }
    strategy = {
        "name": "flexibleRollout",
        "constraints": [],
        "segments": [],
        "variants": [variant],
        "parameters": {"rollout": "100", "stickiness": "default", "groupId": flag},
    }
    with admin(server) as api:
        assert api.post(f"{base}/strategies", json=strategy).status_code == 200
        assert api.post(f"{base}/on").status_code == 200


def served(server: UnleashServer, flag: str) -> set[tuple[str, str]]:
    client = sdk(server)
    try:
        out = set()
        for user in USERS:
            variant: dict[str, Any] = client.get_variant(flag, {"userId": user})
            out.add((variant["payload"]["type"], variant["payload"]["value"]))
        return out
    finally:
        client.destroy()


def platform_for(server: UnleashServer) -> UnleashPlatform:
    return UnleashPlatform(
        url=server.url, token=server.admin_token, flag="fraud-model", plan="fraud", environment=ENV
    )


def test_read_and_set_a_knob_served_by_the_sdk(unleash_server: UnleashServer) -> None:
    knob_toggle(unleash_server, "knob-confidence", "0.7")
    platform = platform_for(unleash_server)
    before = platform.read_knob("knob-confidence")
    assert (before.flag, before.value, before.by) == ("knob-confidence", 0.7, "rollout-admin")
    assert before.since is not None
    assert served(unleash_server, "knob-confidence") == {("number", "0.7")}
    published = revision(unleash_server)
    after = platform.set_knob(
        "knob-confidence", 0.8, before, "fraud", "raise 0.7 -> 0.8", record="ab12cd34ef56"
    )
    assert after.value == 0.8 and after.since is not None and after.since > before.since
    wait_for_revision_after(unleash_server, published)
    assert served(unleash_server, "knob-confidence") == {("number", "0.8")}
    last = events(unleash_server, "knob-confidence")[-1]
    assert last["type"] == "feature-strategy-update"
    assert last["data"]["title"] == (
        "rolloutcli plan=fraud stage=- pct=- action=knob record=ab12cd34ef56 · raise 0.7 -> 0.8"
    )
    # a stale reading is a conflict, and nothing is written
    with pytest.raises(ConflictError, match=re.escape("serves 0.8 now, not the 0.7 read")):
        platform.set_knob("knob-confidence", 0.9, before, "fraud", "raise again")
    assert platform.read_knob("knob-confidence").value == 0.8


def test_a_string_knob_and_one_that_serves_no_single_value(
    unleash_server: UnleashServer,
) -> None:
    knob_toggle(unleash_server, "knob-model", "1")
    platform = platform_for(unleash_server)
    reading = platform.read_knob("knob-model")
    assert reading.value == 1
    published = revision(unleash_server)
    platform.set_knob("knob-model", "v2.4", reading, "fraud", "switch the model")
    wait_for_revision_after(unleash_server, published)
    assert served(unleash_server, "knob-model") == {("string", "v2.4")}
    assert platform.read_knob("knob-model").value == "v2.4"
    with admin(unleash_server) as api:
        path = f"/api/admin/projects/default/features/knob-model/environments/{ENV}/off"
        assert api.post(path).status_code == 200
    assert platform.read_knob("knob-model") == KnobReading(
        "knob-model", None, note=f"it is off in {ENV}: Unleash serves no value"
    )
    with pytest.raises(BackendError, match="knob flag 'knob-nope' not found in project default"):
        platform.read_knob("knob-nope")
