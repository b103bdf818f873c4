"""Issue 21: the plan's policy windows and freezes on the real Unleash server. Outside
every window `watch --auto --once` changes nothing and says why; in a freeze a rollback
verdict is still applied (only advancing and starting wait for the policy)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from rolloutcli.plan.policy import DAYS
from tests.conftest import moment
from tests.integration.cli_helpers import STAGES_NOW, invoke, write_plan
from tests.integration.unleash_server import UnleashServer

pytestmark = [pytest.mark.integration, pytest.mark.unleash]

PLATFORM = "{kind: unleash, project: default, environment: production}"
FLAG = "policy-windows"
GUARDRAIL = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    direction: higher_is_worse
    thresholds: {warn: "+20%", pause: "+50%", rollback: "3x"}
"""


@pytest.fixture
def unleash_env(unleash_server: UnleashServer, monkeypatch: pytest.MonkeyPatch) -> UnleashServer:
    monkeypatch.setenv("UNLEASH_URL", unleash_server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", unleash_server.admin_token)
    monkeypatch.setenv("ROLLOUT_ACTOR", "ana")
    return unleash_server


def rollout_percent(server: UnleashServer) -> str:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": server.admin_token}, timeout=10.0
    ) as api:
        body = api.get(f"/api/admin/projects/default/features/{FLAG}").json()
    env = next(e for e in body["environments"] if e["name"] == "production")
    rollout: str = env["strategies"][0]["parameters"]["rollout"]
    return rollout


def write_metrics(root: Path, treatment_errors: int) -> None:
    """1,000 treatment and 9,000 control requests from the last instant; control fails
    1%, the treatment ``treatment_errors`` of its 1,000."""
    at = (datetime.now(UTC) - timedelta(milliseconds=50)).isoformat()
    (root / "metrics" / f"{FLAG}.csv").write_text(
        "time,cohort,metric,value\n"
        f"{at},treatment,requests,1000\n{at},treatment,errors,{treatment_errors}\n"
        f"{at},control,requests,9000\n{at},control,errors,90\n"
    )


def set_automation(plan: Path, automation: str) -> None:
    text = plan.read_text()
    text = text[: text.index("guardrails:")] if "guardrails:" in text else text
    plan.write_text(text + GUARDRAIL + "automation:\n" + automation)


def test_outside_a_window_nothing_moves_and_in_a_freeze_a_rollback_still_acts(
    unleash_env: UnleashServer, workspace: Path
) -> None:
    with httpx.Client(
        base_url=unleash_env.url, headers={"Authorization": unleash_env.admin_token}
    ) as api:
        r = api.post("/api/admin/projects/default/features", json={"name": FLAG, "type": "release"})
        assert r.status_code == 201, r.text
    plan = write_plan(
        workspace, FLAG, FLAG, PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    # a window on a day three days away, whole day: closed now, whatever the hour
    closed_day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    set_automation(plan, f"  start: auto\n  windows: [{{days: {closed_day}}}]\n")

    # a person starts it anyway, deliberately
    code, output = invoke("advance", FLAG, "--yes")
    assert code == 1 and "--yes needs --outside-window" in " ".join(output.split())
    code, output = invoke("advance", FLAG, "--yes", "--outside-window")
    assert code == 0, output
    assert rollout_percent(unleash_env) == "10"
    moment()  # the metrics below fall inside the new stage

    # healthy data, a go: outside the window the watcher only reports
    write_metrics(workspace, treatment_errors=10)
    checked = json.loads(invoke("check", FLAG, "--json")[1])
    assert checked["verdict"] == "go"
    assert checked["automation"]["window"]["state"] == "closed"
    code, output = invoke("watch", FLAG, "--auto", "--once")
    text = " ".join(output.split())
    assert code == 0, output
    assert f"… outside the automation window ({closed_day} 00:00-24:00 UTC)" in text
    assert rollout_percent(unleash_env) == "10"

    # a freeze over now, and the treatment failing: the rollback acts all the same
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(days=1)).isoformat()
    set_automation(plan, f"  freeze: [{{from: '{start}', to: '{end}', reason: release}}]\n")
    write_metrics(workspace, treatment_errors=300)
    code, output = invoke("watch", FLAG, "--auto", "--once")
    assert "rolled back 10% → 0%" in " ".join(output.split()), output
    assert rollout_percent(unleash_env) == "0"
