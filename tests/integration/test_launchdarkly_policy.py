"""Issue 21: the plan's policy windows, freezes and checklists on the LaunchDarkly fake (see
policy_walk.py), the share read back as the fake holds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.launchdarkly_fake import FakeLaunchDarkly
from tests.integration.policy_walk import policy_walk

pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]

PLATFORM = "{kind: launchdarkly, project: default, environment: production}"
FLAG = "policy-windows"


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
        yield fake
        fake.assert_clean()  # every request and answer held to LaunchDarkly's spec


def test_outside_a_window_nothing_moves_and_in_a_freeze_a_rollback_still_acts(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag("default", FLAG, [True, False], fallthrough_variation=1)

    def percent() -> float:
        fallthrough = ld.flag("default", FLAG)["environments"]["production"]["fallthrough"]
        if "rollout" not in fallthrough:  # one variation to everyone
            return 100.0 if fallthrough["variation"] == 0 else 0.0
        weights = fallthrough["rollout"]["variations"]
        return next(w["weight"] for w in weights if w["variation"] == 0) / 1000

    policy_walk(workspace, FLAG, PLATFORM, percent)
