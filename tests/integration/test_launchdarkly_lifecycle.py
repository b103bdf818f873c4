"""Issue 17: a rollout walked through its life on the LaunchDarkly fake (see
lifecycle_walk.py). The pause mark keeps the person and the reason; the audit log names
the API token's member as the author of a rollback or a kill."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.launchdarkly_fake import FakeLaunchDarkly
from tests.integration.lifecycle_walk import Authors, walk

pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]

PLATFORM = "{kind: launchdarkly, project: default, environment: production}"
PROJECT = "default"
ENV = "production"
MEMBER = "rollout-bot@example.com"  # the fake's API token belongs to this member


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
        yield fake
        fake.assert_clean()  # every request and answer held to LaunchDarkly's spec


def test_walk_start_stage_pause_resume_rollback_restart_kill_unkill(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    flag = "lifecycle-walk"
    ld.add_flag(PROJECT, flag, [True, False], fallthrough_variation=1)
    walk(
        workspace,
        flag,
        PLATFORM,
        Authors(pause_by="ana", pause_reason="launch freeze", change_by=MEMBER),
    )

    stored = ld.flag(PROJECT, flag)
    assert stored["environments"][ENV]["on"] is True  # killed, then unkilled
    assert stored["customProperties"] == {}  # resumed
    comments = [e.get("comment", "") for e in ld.audit_entries()]
    assert sum("action=pause" in c for c in comments) == 1
    assert sum("action=unkill" in c for c in comments) == 1
    assert sum("action=restart" in c or "action=advance" in c for c in comments) >= 3
