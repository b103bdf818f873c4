"""Guardrails per segment against a real Prometheus 2.42 (issue 22): the guardrail's query
grouped ``by (region)``, each region judged treatment-vs-control.

The history (:mod:`tests.integration.prometheus_data`): ``region-regression`` triples the
treatment's errors in eu-west (10% of the traffic) from END - 2h, +20% over everyone;
``region-healthy`` has 8 regions at 1% errors everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_helpers import invoke
from tests.integration.test_prometheus_metrics import AT, check, metric, setup

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

GUARDRAIL = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
    segments: {by: region, require: [eu-west]}
"""


def test_a_regression_in_one_region_rolls_back_naming_it(
    tmp_path: Path, prometheus_url: str
) -> None:
    plan = setup(tmp_path, "region-regression", prometheus_url, guardrails=GUARDRAIL)
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert (errors["segment_by"], errors["breached_segment"]) == ("region", "eu-west")
    assert errors["relative_change"] < 0.5  # over everyone: under the pause tier
    segments = {s["name"]: s for s in errors["segments"]}
    assert list(segments) == ["us-east", "us-west", "ap-south", "eu-west", "sa-east"]
    # 2 h at 2,000 requests per 15 s, 10% treatment, eu-west 10% of it: exactly
    assert segments["eu-west"]["treatment_n"] == 9_600
    assert 2.4 < segments["eu-west"]["treatment"] / segments["eu-west"]["control"] < 3.6
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    (reason,) = [r for r in result["reasons"] if "eu-west" in r]
    assert "in region=eu-west" in reason and "overall" in reason


def test_a_healthy_rollout_with_eight_regions_is_not_rolled_back(
    tmp_path: Path, prometheus_url: str
) -> None:
    plan = setup(tmp_path, "region-healthy", prometheus_url, guardrails=GUARDRAIL)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    assert errors["status"] == "ok"
    assert len(errors["segments"]) == 8
    assert {s["status"] for s in errors["segments"]} == {"ok"}
    assert errors["segment_alpha"] == pytest.approx(0.05 / 9)


def test_explain_shows_the_query_grouped_by_region(tmp_path: Path, prometheus_url: str) -> None:
    plan = setup(tmp_path, "region-healthy", prometheus_url, guardrails=GUARDRAIL)
    code, output = invoke("check", str(plan), "--at", AT, "--explain")
    assert code == 0, output
    assert (
        'sum by (region) (increase(http_requests_total{flag="region-healthy",variant="true",'
        'status="500"}[1m]))' in output
    )
    assert "per interval and segment (by region)" in output


def test_a_required_region_absent_from_prometheus_holds(
    tmp_path: Path, prometheus_url: str
) -> None:
    required = GUARDRAIL.replace("require: [eu-west]", "require: [eu-west, me-central]")
    plan = setup(tmp_path, "region-healthy", prometheus_url, guardrails=required)
    _, result = check(plan)
    assert result["verdict"] == "hold"
    assert metric(result, "error_rate")["note"] == (
        "region=me-central has no traffic in the stage, and segments.require names it"
    )
