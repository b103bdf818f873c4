"""The LaunchDarkly adapter against the contract-checked fake API and the real SDK.

LaunchDarkly is SaaS and unreachable here. ``FakeLaunchDarkly`` validates every request the
adapter sends and every answer it returns against LaunchDarkly's published OpenAPI spec
(a request the real API would reject is a violation and fails the test through
``assert_clean``), and serves the flag to the real ``launchdarkly-server-sdk`` in polling
mode, which measures what applications would be served.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from ldclient import Context, LDClient
from ldclient.config import Config

from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.platforms.launchdarkly import API_VERSION, LaunchDarklyPlatform
from rolloutcli.support.errors import BackendError, ConflictError
from rolloutcli.support.http import HttpBackend
from tests.integration.cli_helpers import STAGES_NOW, fresh_metrics, invoke, write_plan
from tests.integration.launchdarkly_fake import FakeLaunchDarkly

PLATFORM = "{kind: launchdarkly, project: default, environment: production}"
pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]

PROJECT = "default"
ENV = "production"
CONTEXTS = tuple(f"user-{i}" for i in range(10_000))
TOLERANCE = 1.5  # percentage points


# ---------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        yield fake
        fake.assert_clean()  # every request and answer held to LaunchDarkly's spec


def sdk_served(fake: FakeLaunchDarkly, flag: str, value: object) -> set[str]:
    """The contexts the real SDK, polling the fake, serves ``value``."""
    config = Config(
        fake.sdk_key, base_uri=fake.url, stream=False, send_events=False, diagnostic_opt_out=True
    )
    client = LDClient(config=config, start_wait=5)
    try:
        assert client.is_initialized()
        return {
            key for key in CONTEXTS if client.variation(flag, Context.create(key), None) == value
        }
    finally:
        client.close()


def env_of(fake: FakeLaunchDarkly, flag: str) -> dict[str, Any]:
    env: dict[str, Any] = fake.flag(PROJECT, flag)["environments"][ENV]
    return env


def weights(fake: FakeLaunchDarkly, flag: str) -> dict[object, int]:
    stored = fake.flag(PROJECT, flag)
    values = [v["value"] for v in stored["variations"]]
    rollout = stored["environments"][ENV]["fallthrough"]["rollout"]
    return {values[w["variation"]]: w["weight"] for w in rollout["variations"]}


def platform(fake: FakeLaunchDarkly, flag: str, **http: Any) -> LaunchDarklyPlatform:
    backend = None
    if http:
        backend = HttpBackend(
            "launchdarkly",
            fake.url,
            {"Authorization": fake.api_token, "LD-API-Version": API_VERSION},
            **http,
        )
    return LaunchDarklyPlatform(
        url=fake.url,
        token=fake.api_token,
        flag=flag,
        plan="p",
        project=PROJECT,
        environment=ENV,
        http=backend,
    )


def change(percent: float) -> RolloutChange:
    return RolloutChange(
        percent=percent,
        audience_keys=(),
        audience_segment=None,
        plan="p",
        stage=f"{percent:g}%",
        action="advance",
        comment="test",
    )


# ---------------------------------------------------------------------- the shipped plan


def test_shipped_plan_runs_every_command(ld: FakeLaunchDarkly, workspace: Path) -> None:
    """plans/ranker-launchdarkly.yaml (v2.4 against v2.3, v2.2 kept at zero)."""
    ld.add_flag(PROJECT, "ranker-model", ["v2.2", "v2.3", "v2.4"], fallthrough_variation=1)

    code, out = invoke("status", "ranker-launchdarkly", "--json")
    assert code == 0, out
    status = json.loads(out)
    assert (status["stage"], status["percent"], status["on"]) == (None, 0, False)
    assert json.loads(invoke("check", "ranker-launchdarkly", "--json")[1])["verdict"] == "go"

    code, out = invoke("advance", "ranker-launchdarkly", "--dry-run")
    assert code == 0 and "launchdarkly accepted the change" in out
    assert env_of(ld, "ranker-model")["on"] is False  # dryRun saved nothing
    assert ld.requests("PATCH")[-1].query == {"dryRun": "true"}

    code, out = invoke("advance", "ranker-launchdarkly", "--yes")
    assert code == 0, out
    assert "served:" in out  # the SDK's view of the flag just written
    env = env_of(ld, "ranker-model")
    assert env["on"] is True
    assert weights(ld, "ranker-model") == {"v2.2": 0, "v2.3": 99_000, "v2.4": 1_000}
    assert env["targets"] == [
        {"contextKind": "user", "values": ["staff-ana", "staff-ben"], "variation": 2}
    ]
    patch = ld.requests("PATCH")[-1].request_json()
    assert patch["comment"].startswith(
        "rolloutcli plan=ranker-launchdarkly stage=staff pct=1 action=advance"
    )

    status = json.loads(invoke("status", "ranker-launchdarkly", "--json")[1])
    assert (status["stage"]["name"], status["percent"]) == ("staff", 1)
    assert status["audience"]["keys"] == ["staff-ana", "staff-ben"]
    assert json.loads(invoke("check", "ranker-launchdarkly", "--json")[1])["verdict"] == "hold"

    code, out = invoke("who", "ranker-launchdarkly", "staff-ana")
    assert code == 0 and "'v2.4'" in out and "individually targeted" in out

    code, out = invoke("rollback", "ranker-launchdarkly", "--yes")
    assert code == 0, out
    assert weights(ld, "ranker-model") == {"v2.2": 0, "v2.3": 100_000, "v2.4": 0}
    assert env_of(ld, "ranker-model")["targets"] == []
    assert env_of(ld, "ranker-model")["on"] is True

    code, out = invoke("kill", "ranker-launchdarkly", "--yes")
    assert code == 0 and "is OFF" in out
    assert env_of(ld, "ranker-model")["on"] is False
    code, out = invoke("kill", "ranker-model", "--yes")  # by flag key
    assert code == 0 and "already off" in out

    comments = [e.get("comment", "") for e in ld.audit_entries()]
    assert any("stage=staff pct=1 action=advance" in c for c in comments)
    assert any("action=rollback" in c for c in comments)
    assert any("action=kill" in c for c in comments)


# ---------------------------------------------------------------------- what the SDK serves


def test_real_sdk_sees_each_stage_and_nobody_after_kill(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag(PROJECT, "checkout-ld", [True, False], fallthrough_variation=1)
    write_plan(
        workspace,
        "checkout-ld",
        "checkout-ld",
        PLATFORM,
        "{treatment: true, control: false}",
        STAGES_NOW,
    )
    previous: set[str] = set()
    current = 0
    for percent in (10, 25, 50):
        fresh_metrics(workspace, "checkout-ld", current)
        code, out = invoke("advance", "checkout-ld", "--yes")
        assert code == 0, out
        treated = sdk_served(ld, "checkout-ld", True)
        share = 100 * len(treated) / len(CONTEXTS)
        assert abs(share - percent) <= TOLERANCE, (percent, share)
        assert previous <= treated  # nobody treated at 10% loses it at 25%
        previous, current = treated, percent
        code, out = invoke("verify", "checkout-ld")
        assert code == 0 and f"(stage {percent}%" in out, out

    code, out = invoke("who", "checkout-ld", "user-1")
    assert code == 0 and "fallthrough rollout: bucket" in out

    code, out = invoke("kill", "checkout-ld", "--yes")
    assert code == 0, out
    assert sdk_served(ld, "checkout-ld", True) == set()
    code, out = invoke("who", "checkout-ld", "user-1")
    assert "the flag is off" in out


def test_segment_stage_is_a_rule_served_first(ld: FakeLaunchDarkly, workspace: Path) -> None:
    ld.add_segment(PROJECT, ENV, "beta-testers", ["user-7", "user-8"])
    ld.add_flag(PROJECT, "seg-flag", [True, False], fallthrough_variation=1)
    stages = """  - {name: beta, percent: 0, min_duration: 0, audience: {segment: beta-testers}}
  - {percent: 10, min_duration: 0}
  - {percent: 100, min_duration: 0}
"""
    write_plan(workspace, "seg", "seg-flag", PLATFORM, "{treatment: true, control: false}", stages)
    code, out = invoke("advance", "seg", "--yes")
    assert code == 0, out
    assert sdk_served(ld, "seg-flag", True) == {"user-7", "user-8"}
    rule = env_of(ld, "seg-flag")["rules"][0]
    assert rule["clauses"][0]["op"] == "segmentMatch" and rule["variation"] == 0
    code, out = invoke("who", "seg", "user-7")
    assert "the audience segment 'beta-testers'" in out
    status = json.loads(invoke("status", "seg", "--json")[1])
    assert (status["stage"]["name"], status["audience"]["segment"]) == ("beta", "beta-testers")

    fresh_metrics(workspace, "seg-flag", 0.02)
    code, out = invoke("advance", "seg", "--yes")
    assert code == 0, out
    treated = sdk_served(ld, "seg-flag", True)
    assert {"user-7", "user-8"} <= treated  # the audience keeps the feature
    assert abs(100 * len(treated) / len(CONTEXTS) - 10) <= TOLERANCE

    assert invoke("rollback", "seg", "--yes")[0] == 0
    assert env_of(ld, "seg-flag")["rules"] == []
    assert sdk_served(ld, "seg-flag", True) == set()


def test_excluded_keys_and_segment_get_the_control_at_every_stage_100_included(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    """issue 21: exclude: keys are targets on the control, an excluded segment a rule
    serving the control placed first; LaunchDarkly's own SDK never serves them the
    treatment, through the audience stage up to 100%."""
    ld.add_segment(PROJECT, ENV, "beta-testers", ["user-7", "user-8"])
    ld.add_segment(PROJECT, ENV, "vip", ["user-3", "user-4"])
    stages = """  - {name: beta, percent: 0, min_duration: 0, audience: {segment: beta-testers}}
  - {percent: 10, min_duration: 0}
  - {percent: 100, min_duration: 0}
"""
    for name, exclude, vips in (
        ("keys", "{keys: [user-1, user-2]}", {"user-1", "user-2"}),
        ("vip", "{segment: vip}", {"user-3", "user-4"}),
    ):
        ld.add_flag(PROJECT, f"{name}-flag", [True, False], fallthrough_variation=1)
        variations = "{treatment: true, control: false}"
        plan = write_plan(workspace, name, f"{name}-flag", PLATFORM, variations, stages)
        plan.write_text(plan.read_text() + f"exclude: {exclude}\n")
        for percent in (0, 10, 100):
            fresh_metrics(workspace, f"{name}-flag", max(percent, 0.02))
            code, out = invoke("advance", name, "--yes")
            assert code == 0, out
            treated = sdk_served(ld, f"{name}-flag", True)
            assert not treated & vips, f"{name}: excluded contexts treated at {percent}%"
            assert {"user-7", "user-8"} <= treated
        assert treated == set(CONTEXTS) - vips
        status = json.loads(invoke("status", name, "--json")[1])
        assert status["exclusion_missing"] is None
    assert env_of(ld, "vip-flag")["rules"][0]["variation"] == 1  # the exclusion, first
    assert status["excluded"] == {"keys": [], "segment": "vip"}
    code, out = invoke("who", "vip", "user-3")
    assert "rolloutcli exclude" in out


def test_verify_reports_a_mismatch_with_exit_1(ld: FakeLaunchDarkly, workspace: Path) -> None:
    """Someone adds a rule serving the treatment to everyone: the split reads 10%, but the
    SDK serves it to all; verify says so."""
    ld.add_flag(
        PROJECT,
        "hijacked",
        [True, False],
        fallthrough_variation=1,
        rules=[
            {
                "clauses": [
                    {
                        "contextKind": "user",
                        "attribute": "key",
                        "op": "startsWith",
                        "values": ["rolloutcli-verify-"],
                        "negate": False,
                    }
                ],
                "variation": 0,
                "trackEvents": False,
                "description": "hand-made",
            }
        ],
    )
    write_plan(
        workspace, "hijacked", "hijacked", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    assert invoke("advance", "hijacked", "--yes")[0] == 0
    code, out = invoke("verify", "hijacked")
    assert code == 1 and "does not match the stage" in out


# ---------------------------------------------------------------------- safety


def test_refuses_a_flag_under_a_launchdarkly_guarded_rollout(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag(PROJECT, "guarded", [True, False], fallthrough_variation=1)
    stored = ld._stored(PROJECT, "guarded")
    stored["environments"][ENV]["fallthrough"] = {
        "rollout": {
            "variations": [
                {"variation": 0, "weight": 10_000},
                {"variation": 1, "weight": 10_000},
                {"variation": 1, "weight": 80_000, "_untracked": True},
            ],
            "experimentAllocation": {"defaultVariation": 1, "canReshuffle": False},
        }
    }
    write_plan(
        workspace, "guarded", "guarded", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    code, out = invoke("status", "guarded")
    assert code == 1 and "guarded or progressive rollout" in out
    assert not ld.requests("PATCH")


def test_two_advances_at_the_same_moment_move_one_stage(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag(PROJECT, "race", [True, False], fallthrough_variation=1)
    stages = """  - {percent: 10, min_duration: 10s}
  - {percent: 25, min_duration: 10s}
  - {percent: 100, min_duration: 0}
"""
    plan = write_plan(
        workspace, "race", "race", PLATFORM, "{treatment: true, control: false}", stages
    )
    rollout = Path(sys.executable).with_name("rollout")

    def both() -> list[subprocess.CompletedProcess[str]]:
        def one(_: int) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(rollout), "advance", str(plan), "--yes"],
                capture_output=True,
                text=True,
                env=dict(os.environ),
                timeout=120,
            )

        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(one, range(2)))

    for expected in (10_000, 25_000):
        if expected == 25_000:
            time.sleep(11)
            fresh_metrics(workspace, "race", 10)
        results = both()
        outputs = [r.stdout + r.stderr for r in results]
        assert all(r.returncode in (0, 4) for r in results), outputs
        assert any(r.returncode == 0 for r in results), outputs
        assert weights(ld, "race")[True] == expected, outputs


def test_a_stale_write_is_refused(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "stale", [True, False], fallthrough_variation=1, on=True)
    adapter = platform(ld, "stale")
    state = adapter.read_state(True, False)
    adapter.set_rollout(change(10), True, False, state)  # fine: nothing changed in between
    with pytest.raises(ConflictError) as caught:
        adapter.set_rollout(change(25), True, False, state)  # the version moved since
    assert caught.value.exit_code == 4
    assert weights(ld, "stale")[True] == 10_000


# ---------------------------------------------------------------------- faults


def test_rate_limit_is_honoured_then_the_read_succeeds(
    ld: FakeLaunchDarkly, workspace: Path
) -> None:
    ld.add_flag(PROJECT, "ranker-model", ["v2.2", "v2.3", "v2.4"], fallthrough_variation=1)
    ld.inject("GET", r"/api/v2/flags/", status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    code, out = invoke("status", "ranker-launchdarkly")
    assert code == 0, out
    assert time.monotonic() - started >= 1.0
    reset = str(int((time.time() + 1.2) * 1000))
    ld.inject("GET", r"/api/v2/flags/", status=429, headers={"X-Ratelimit-Reset": reset})
    started = time.monotonic()
    assert invoke("status", "ranker-launchdarkly")[0] == 0
    assert time.monotonic() - started >= 1.0


def test_server_errors_are_retried(ld: FakeLaunchDarkly, workspace: Path) -> None:
    ld.add_flag(PROJECT, "ranker-model", ["v2.2", "v2.3", "v2.4"], fallthrough_variation=1)
    ld.inject("GET", r"/api/v2/flags/", status=503, times=2)
    code, out = invoke("status", "ranker-launchdarkly")
    assert code == 0, out
    assert len(ld.requests("GET", r"/api/v2/flags/")) == 3


def test_a_timeout_is_exit_3(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "slow", [True, False], fallthrough_variation=1)
    ld.inject("GET", r"/api/v2/flags/", delay=1.0, times=10)
    adapter = platform(ld, "slow", timeout=httpx.Timeout(0.2), backoff=(0.0, 0.0))
    with pytest.raises(BackendError) as caught:
        adapter.read_state(True, False)
    assert caught.value.exit_code == 3 and "timed out" in str(caught.value)
    ld.clear_injections()
    time.sleep(1.1)  # let the delayed answers drain before the contract check


@pytest.mark.parametrize(
    ("status", "exit_code", "words"),
    [
        (401, 3, "LD_API_TOKEN"),
        (404, 3, "platform.project"),
        (405, 1, "requires approval"),
        (409, 4, "conflict"),
    ],
)
def test_refusals_map_to_exit_codes(
    ld: FakeLaunchDarkly, workspace: Path, status: int, exit_code: int, words: str
) -> None:
    ld.add_flag(PROJECT, "ranker-model", ["v2.2", "v2.3", "v2.4"], fallthrough_variation=1)
    ld.inject("PATCH", r"/api/v2/flags/", status=status)
    code, out = invoke("advance", "ranker-launchdarkly", "--yes")
    assert code == exit_code, out
    assert words in out
    assert ld.api_token not in out
    assert env_of(ld, "ranker-model")["on"] is False


def test_unknown_flag_and_missing_token(
    ld: FakeLaunchDarkly, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = invoke("status", "ranker-launchdarkly")
    assert code == 3 and "HTTP 404" in out
    monkeypatch.delenv("LD_API_TOKEN")
    code, out = invoke("status", "ranker-launchdarkly")
    assert code == 2 and "LD_API_TOKEN" in out


def test_kill_does_not_import_the_sdk_or_scipy(ld: FakeLaunchDarkly, workspace: Path) -> None:
    ld.add_flag(PROJECT, "ranker-model", ["v2.2", "v2.3", "v2.4"], on=True)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rolloutcli.cli.main import app\n"
        "result = CliRunner().invoke(app, ['kill', 'ranker-launchdarkly', '--yes'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'ldclient'))\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workspace, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
    assert env_of(ld, "ranker-model")["on"] is False
