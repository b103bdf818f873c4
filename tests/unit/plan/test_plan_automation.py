"""Plan validation of automation: and notifications:, each problem as ``file:line: key``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import PlanError

BASE = """\
flag: demo
platform: {kind: flagfile, path: flags.json}
variations: {treatment: true, control: false}
stages:
  - {name: canary, percent: 1, min_duration: 30m}
  - {percent: 50, min_duration: 1h}
  - {percent: 100}
metrics:
  source: {kind: file, path: m.csv}
  exposures: requests
"""


def problems(tmp_path: Path, extra: str) -> list[str]:
    path = tmp_path / "demo.yaml"
    path.write_text(BASE + extra)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    return caught.value.problems


def line_of(extra: str, needle: str) -> int:
    return (BASE + extra).splitlines().index(
        next(line for line in (BASE + extra).splitlines() if needle in line)
    ) + 1


def test_defaults_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(BASE)
    plan = load_plan(path).plan
    policy = plan.automation
    assert (policy.advance, policy.rollback, policy.pause, policy.start) == (
        "auto",
        "auto",
        "auto",
        "manual",
    )
    assert policy.advance_up_to == 100 and policy.approve == []
    assert plan.notifications.webhooks == []


def test_a_full_policy_and_webhooks_load(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(
        BASE
        + "automation: {advance_up_to: 50%, approve: [canary, 100%], start: auto}\n"
        + "notifications:\n  webhooks:\n    - {format: slack, url_env: SLACK_URL}\n"
        + "    - {url: 'http://127.0.0.1:9/hook', events: [rollback, kill]}\n"
    )
    plan = load_plan(path).plan
    assert plan.automation.advance_up_to == 50
    assert [plan.automation.needs_approval(s) for s in plan.stages] == [True, False, True]
    hooks = plan.notifications.webhooks
    assert [(h.format, h.url_env, h.events) for h in hooks] == [
        ("slack", "SLACK_URL", ["pause", "rollback", "kill", "done", "unkill", "reduce", "knob"]),
        ("json", None, ["rollback", "kill"]),
    ]


def test_approve_must_name_a_stage(tmp_path: Path) -> None:
    extra = "automation:\n  approve: [canary, 25%]\n"
    assert problems(tmp_path, extra) == [
        f"{tmp_path / 'demo.yaml'}:{line_of(extra, 'approve')}: automation.approve[1]: "
        "'25%' names no stage (stages: canary, 50%, 100%)"
    ]


def test_a_webhook_needs_exactly_one_url(tmp_path: Path) -> None:
    extra = "notifications:\n  webhooks:\n    - {format: slack}\n"
    assert problems(tmp_path, extra) == [
        f"{tmp_path / 'demo.yaml'}:{line_of(extra, 'format: slack')}: "
        "notifications.webhooks[0]: give exactly one of url_env: or url:"
    ]


def test_unknown_policy_values_are_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, "automation: {rollback: sometimes}\n")
    assert len(found) == 1
    assert found[0].endswith("automation.rollback: 'sometimes' is not one of auto, manual")
