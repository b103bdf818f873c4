"""`verify --json` and `who --json` on a LaunchDarkly plan: the fake API (held to
LaunchDarkly's published spec) and the real SDK, as in test_launchdarkly_platform."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from tests.integration.cli_helpers import STAGES_NOW, invoke, write_plan
from tests.integration.launchdarkly_fake import FakeLaunchDarkly

pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]

PLATFORM = "{kind: launchdarkly, project: default, environment: production}"
WHERE = {"plan": "checkout-ld", "flag": "checkout-ld", "platform": "launchdarkly"}
runner = CliRunner()
BUCKET = re.compile(r"fallthrough rollout: bucket (0\.\d{4}) lies in \[(.+)\), the share of (\w+)")


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> Iterator[FakeLaunchDarkly]:
    """A LaunchDarkly flag at its first stage (10%), planned as checkout-ld."""
    with FakeLaunchDarkly() as fake:
        monkeypatch.setenv("LD_API_TOKEN", fake.api_token)
        monkeypatch.setenv("LD_BASE_URL", fake.url)
        fake.add_flag("default", "checkout-ld", [True, False], fallthrough_variation=1)
        write_plan(
            workspace,
            "checkout-ld",
            "checkout-ld",
            PLATFORM,
            "{treatment: true, control: false}",
            STAGES_NOW,
        )
        assert invoke("advance", "checkout-ld", "--yes")[0] == 0
        yield fake
        fake.assert_clean()


def run_json(*args: str) -> tuple[int, Any, str]:
    """(exit code, stdout as JSON, stderr)."""
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_verify_json(ld: FakeLaunchDarkly) -> None:
    code, document, errors = run_json("verify", "checkout-ld", "--json")
    assert (code, errors) == (0, "")
    served = document.pop("served")  # the fake salts each flag anew: the share varies a little
    assert abs(served - 1000) <= 130  # within the tolerance: 4 standard errors + 0.1 points
    assert document == {
        **WHERE,
        "environment": "production",
        "total": 10_000,
        "percent": served / 100,
        "expected_percent": 10.0,
        "tolerance": 1.3,
        "ok": True,
    }


def test_who_json(ld: FakeLaunchDarkly) -> None:
    code, document, errors = run_json("who", "checkout-ld", "user-1", "--json")
    assert (code, errors) == (0, "")
    why = document.pop("why")
    found = BUCKET.fullmatch(why)
    assert found is not None, why
    bucket, share, variation = float(found[1]), found[2], found[3]
    treated = bucket < 0.1
    assert share == ("0.0000, 0.1000" if treated else "0.1000, 1.0000")
    assert variation == str(treated)
    assert document == {**WHERE, "environment": "production", "key": "user-1", "value": treated}


def test_who_json_after_a_kill(ld: FakeLaunchDarkly) -> None:
    assert invoke("kill", "checkout-ld", "--yes")[0] == 0
    code, document, _ = run_json("who", "checkout-ld", "user-1", "--json")
    assert code == 0
    assert (document["value"], document["why"]) == (
        False,
        "the flag is off in production: the off variation",
    )


def test_verify_json_mismatch_is_exit_1(ld: FakeLaunchDarkly, workspace: Path) -> None:
    """A hand-made rule serves the treatment to every context verify evaluates: the split
    reads 10%, the SDK serves 100%."""
    everyone = {
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
    ld.add_flag("default", "hijacked", [True, False], fallthrough_variation=1, rules=[everyone])
    write_plan(
        workspace, "hijacked", "hijacked", PLATFORM, "{treatment: true, control: false}", STAGES_NOW
    )
    assert invoke("advance", "hijacked", "--yes")[0] == 0
    code, document, errors = run_json("verify", "hijacked", "--json")
    assert (code, errors) == (1, "")
    assert (document["served"], document["percent"], document["ok"]) == (10_000, 100.0, False)
    assert (document["plan"], document["expected_percent"]) == ("hijacked", 10.0)
