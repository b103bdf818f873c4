"""Guardrails per segment against the Datadog fake (issue 22): the guardrail's query grouped
``by {region}``, one series per region named by its ``tag_set``, each region judged
treatment-vs-control.

The history is the Prometheus suite's regional one (:mod:`tests.integration.prometheus_data`)
as Datadog would hold it, counts per 15 s over the 4 h before END: ``region-regression``
triples the treatment's errors in eu-west (10% of the traffic) from END - 2h;
``region-healthy`` has 8 regions at 1% errors everywhere. ``checkout.latency`` (a mean
guardrail's values, one per 15 s per series) is normal around 420 ms (sd 25) everywhere but
in eu-west's treatment of ``region-regression``, 1.8x slower from END - 2h."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.cli_helpers import invoke, start_stage, write_flag_file
from tests.integration.datadog_fake import DatadogFake
from tests.integration.prometheus_data import (
    END,
    END_TIME,
    REGION_FLAGS,
    REGION_PER_STEP,
    TREATMENT_SHARE,
    region_error_rate,
)
from tests.integration.test_datadog_metrics import AT, check, metric

pytestmark = [pytest.mark.integration, pytest.mark.datadog]

QUERIES = {
    "requests": "sum:checkout.requests{flag:{flag},variant:{cohort}}.as_count()"
    ".rollup(sum, {window})",
    "errors": "sum:checkout.errors{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})",
}
GUARDRAIL = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
    segments: {by: region, require: [eu-west]}
"""


@pytest.fixture(scope="module")
def datadog() -> Iterator[DatadogFake]:
    with DatadogFake() as fake:
        rng = np.random.default_rng(20261207)
        times = range(END - 4 * 3600, END, 15)
        for flag, regions in REGION_FLAGS.items():
            for region, region_share in regions.items():
                for variant, share in (("true", TREATMENT_SHARE), ("false", 1 - TREATMENT_SHARE)):
                    requests = round(REGION_PER_STEP * region_share * share)
                    tags = {"flag": flag, "variant": variant, "region": region}
                    errors = [
                        (
                            t,
                            float(
                                rng.binomial(requests, region_error_rate(flag, region, variant, t))
                            ),
                        )
                        for t in times
                    ]
                    fake.add_points(
                        "checkout.requests", tags, [(t, float(requests)) for t in times]
                    )
                    fake.add_points("checkout.errors", tags, errors)
                    slower = flag == "region-regression" and region == "eu-west"
                    latency = [
                        (t, round(float(rng.normal(420, 25)) * _slower(slower, variant, t), 2))
                        for t in times
                    ]
                    fake.add_points("checkout.latency", tags, latency)
        yield fake


def _slower(region_regressed: bool, variant: str, t: int) -> float:
    return 1.8 if region_regressed and variant == "true" and t > END - 2 * 3600 else 1.0


@pytest.fixture(autouse=True)
def keys(datadog: DatadogFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", datadog.api_key)
    monkeypatch.setenv("DD_APP_KEY", datadog.app_key)
    monkeypatch.delenv("DD_APPLICATION_KEY", raising=False)
    datadog.clear_requests()


def setup(
    root: Path,
    flag: str,
    url: str,
    queries: dict[str, Any] = QUERIES,
    guardrail: str = GUARDRAIL,
) -> Path:
    flags = write_flag_file(root / "flags" / "flags.json", flag)
    (root / "plans").mkdir(exist_ok=True)
    start_stage(flags, flag, 10, END_TIME - timedelta(hours=2), flag)
    metrics = {
        "source": {"kind": "datadog", "url": url},
        "exposures": "requests",
        "queries": queries,
    }
    plan = root / "plans" / f"{flag}.yaml"
    plan.write_text(
        f"""flag: {flag}
platform: {{kind: flagfile, path: ../flags/flags.json}}
variations: {{treatment: true, control: false}}
stages:
  - {{percent: 10, min_duration: 1h, min_samples: 5000}}
  - {{percent: 100, min_duration: 0}}
metrics: {json.dumps(metrics)}
{guardrail}"""
    )
    return plan


def test_a_regression_in_one_region_rolls_back_naming_it(
    tmp_path: Path, datadog: DatadogFake
) -> None:
    plan = setup(tmp_path, "region-regression", datadog.url)
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert (errors["segment_by"], errors["breached_segment"]) == ("region", "eu-west")
    assert errors["relative_change"] < 0.5  # over everyone: under the pause tier
    segments: dict[str, Any] = {s["name"]: s for s in errors["segments"]}
    assert sorted(segments) == ["ap-south", "eu-west", "sa-east", "us-east", "us-west"]
    # 2 h at 2,000 requests per 15 s, 10% treatment, eu-west 10% of it: exactly
    assert segments["eu-west"]["treatment_n"] == 9_600
    assert 2.4 < segments["eu-west"]["treatment"] / segments["eu-west"]["control"] < 3.6
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    (reason,) = [r for r in result["reasons"] if "eu-west" in r]
    assert "in region=eu-west" in reason
    grouped = [r.params["query"] for r in datadog.requests if "by {region}" in r.params["query"]]
    assert "sum:checkout.errors{flag:region-regression,variant:true} by {region}" in {
        q.split(".as_count")[0] for q in grouped
    }


def test_a_healthy_rollout_over_eight_regions_is_not_rolled_back(
    tmp_path: Path, datadog: DatadogFake
) -> None:
    plan = setup(tmp_path, "region-healthy", datadog.url)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    assert errors["status"] == "ok"
    assert len(errors["segments"]) == 8
    assert {s["status"] for s in errors["segments"]} == {"ok"}
    assert errors["segment_alpha"] == pytest.approx(0.05 / 9)


def test_explain_shows_the_query_grouped_by_region(tmp_path: Path, datadog: DatadogFake) -> None:
    plan = setup(tmp_path, "region-healthy", datadog.url)
    code, output = invoke("check", str(plan), "--at", AT, "--explain")
    assert code == 0, output
    assert "sum:checkout.errors{flag:region-healthy,variant:true} by {region}.as_count()" in output
    assert "per interval and segment (by region)" in output


def test_a_tag_no_series_carries_holds_naming_it(tmp_path: Path, datadog: DatadogFake) -> None:
    plan = setup(tmp_path, "region-healthy", datadog.url)
    plan.write_text(plan.read_text().replace("by: region, require: [eu-west]", "by: zone"))
    _, result = check(plan)
    assert result["verdict"] == "hold"
    assert metric(result, "error_rate")["note"] == (
        "requests (treatment) has no zone label or column, so it cannot be judged per zone "
        "(segments.by) · datadog: sum:checkout.requests{flag:region-healthy,variant:true}"
        ".as_count().rollup(sum, 60)"
    )


LATENCY_QUERIES = {
    **QUERIES,
    "latency_ms": {
        "query": "avg:checkout.latency{flag:{flag},variant:{cohort}}.rollup(avg, {window})",
        "step": "1m",
    },
}
LATENCY_GUARDRAIL = """guardrails:
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds: {warn: "+10%", pause: "+25%", rollback: "+50%"}
    segments: {by: region, require: [eu-west]}
"""


def test_a_slower_region_rolls_back_a_mean_guardrail_naming_it(
    tmp_path: Path, datadog: DatadogFake
) -> None:
    plan = setup(tmp_path, "region-regression", datadog.url, LATENCY_QUERIES, LATENCY_GUARDRAIL)
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    latency = metric(result, "latency")
    assert (latency["segment_by"], latency["breached_segment"]) == ("region", "eu-west")
    segments: dict[str, Any] = {s["name"]: s for s in latency["segments"]}
    assert sorted(segments) == ["ap-south", "eu-west", "sa-east", "us-east", "us-west"]
    eu = segments["eu-west"]
    assert eu["treatment_n"] == 120  # one value a minute for 2 h
    assert 1.7 < eu["treatment"] / eu["control"] < 1.9
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    assert latency["relative_change"] < 0.25  # a fifth of the regions: +16% over everyone
    (reason,) = [r for r in result["reasons"] if "eu-west" in r]
    assert "in region=eu-west" in reason
    grouped = {r.params["query"] for r in datadog.requests if "by {region}" in r.params["query"]}
    assert (
        "avg:checkout.latency{flag:region-regression,variant:true} by {region}.rollup(avg, 60)"
        in grouped
    )


def test_regions_alike_keep_a_mean_guardrail_going(tmp_path: Path, datadog: DatadogFake) -> None:
    plan = setup(tmp_path, "region-healthy", datadog.url, LATENCY_QUERIES, LATENCY_GUARDRAIL)
    code, result = check(plan, "--fail-on-breach")
    assert (code, result["verdict"]) == (0, "go"), result["reasons"]
    latency = metric(result, "latency")
    assert latency["status"] == "ok" and len(latency["segments"]) == 8
    assert {s["status"] for s in latency["segments"]} == {"ok"}
    assert latency["segment_alpha"] == pytest.approx(0.05 / 9)
