"""Verdicts from Datadog's metrics query API (v1), served by a local fake of its documented
shapes: the same rollouts as the Prometheus tests, as Datadog would hold them (counts per
15 s, a p99 gauge per minute), checked as of END."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke, start_stage, write_flag_file
from tests.integration.datadog_fake import DatadogFake
from tests.integration.prometheus_data import END, END_TIME

pytestmark = [pytest.mark.integration, pytest.mark.datadog]

AT = format_timestamp(END_TIME)
QUERIES = {
    "requests": "sum:checkout.requests{flag:{flag},variant:{cohort}}.as_count()"
    ".rollup(sum, {window})",
    "errors": "sum:checkout.errors{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})",
    "latency_p99_ms": {
        "query": "avg:checkout.latency.p99{flag:{flag},variant:{cohort}}.rollup(avg, {window})",
        "step": "5m",
    },
}
GUARDRAILS = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
  - name: p99_latency
    kind: mean
    metric: latency_p99_ms
    unit: ms
    thresholds: {pause: "+25%", rollback: "+50%"}
"""


def _history(fake: DatadogFake) -> None:
    """4 h ending just before END: 400 requests per 15 s, 10% treatment; 1% errors, except
    the regression's treatment at 3% over the last 2 h; p99 around 250 ms each minute."""
    rng = np.random.default_rng(7)
    times = range(END - 4 * 3600, END, 15)
    for flag in ("healthy", "regression"):
        for variant, requests in (("true", 40), ("false", 360)):
            tags = {"flag": flag, "variant": variant}
            rate = [
                0.03 if flag == "regression" and variant == "true" and t >= END - 7200 else 0.01
                for t in times
            ]
            errors = [float(rng.binomial(requests, r)) for r in rate]
            fake.add_points("checkout.requests", tags, [(t, float(requests)) for t in times])
            for region in ("eu", "us"):
                fake.add_points(
                    "checkout.sessions", {**tags, "region": region}, [(t, 1.0) for t in times]
                )
            fake.add_points("checkout.errors", tags, list(zip(times, errors, strict=True)))
            fake.add_points(
                "checkout.latency.p99",
                tags,
                [(t, float(rng.normal(250, 10))) for t in times if t % 60 == 0],
            )


def _signup_history(fake: DatadogFake) -> None:
    """The shipped plans/signup-datadog.yaml's metrics: its flag at 5% for the last 2 h,
    the same 30% signups, 1% errors and p95 in both cohorts."""
    rng = np.random.default_rng(11)
    times = range(END - 7200, END, 15)
    for variant, visits in (("true", 10), ("false", 190)):
        tags = {"flag": "signup-v2", "variant": variant}
        fake.add_points("signup.visits", tags, [(t, float(visits)) for t in times])
        for name, rate in (("signup.completed", 0.3), ("signup.errors", 0.01)):
            fake.add_points(name, tags, [(t, float(rng.binomial(visits, rate))) for t in times])
        p95 = [(t, float(rng.normal(300, 15))) for t in times if t % 60 == 0]
        fake.add_points("signup.latency.p95", tags, p95)


@pytest.fixture(scope="module")
def datadog() -> Iterator[DatadogFake]:
    with DatadogFake() as fake:
        _history(fake)
        _signup_history(fake)
        yield fake


@pytest.fixture(autouse=True)
def keys(datadog: DatadogFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", datadog.api_key)
    monkeypatch.setenv("DD_APP_KEY", datadog.app_key)
    monkeypatch.delenv("DD_APPLICATION_KEY", raising=False)
    datadog.clear_requests()


def setup(root: Path, flag: str, url: str, **override: Any) -> Path:
    flags = write_flag_file(root / "flags" / "flags.json", flag)
    (root / "plans").mkdir(exist_ok=True)
    at = END_TIME - timedelta(hours=2)
    start_stage(flags, flag, 10, at, flag)
    metrics = {
        "source": {"kind": "datadog", "url": url},
        "exposures": "requests",
        "queries": {**QUERIES, **override},
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
{GUARDRAILS}"""
    )
    return plan


def check(plan: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, output = invoke("check", str(plan), "--at", AT, "--json", *extra)
    return code, json.loads(output)


def metric(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in result["metrics"] if m["name"] == name)
    return found


def test_a_healthy_rollout_goes_on(tmp_path: Path, datadog: DatadogFake) -> None:
    code, result = check(setup(tmp_path, "healthy", datadog.url), "--fail-on-breach")
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    assert (errors["treatment_n"], errors["control_n"]) == (19_200, 172_800)
    assert metric(result, "p99_latency")["treatment_n"] == 24  # one p99 per 5 minutes
    sent = datadog.requests
    assert all(r.header("DD-API-KEY") == datadog.api_key for r in sent)
    assert all(r.header("DD-APPLICATION-KEY") == datadog.app_key for r in sent)
    totals = [r for r in sent if "rollup(sum, 7200)" in r.params["query"]]
    assert totals and all(
        (r.params["from"], r.params["to"]) == (str(END - 7200), str(END)) for r in totals
    )


def test_a_treatment_regression_rolls_back(tmp_path: Path, datadog: DatadogFake) -> None:
    code, result = check(setup(tmp_path, "regression", datadog.url), "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    assert metric(result, "error_rate")["status"] == "rollback"


def test_no_data_holds_and_names_the_metric(tmp_path: Path, datadog: DatadogFake) -> None:
    missing = {
        "query": "avg:checkout.latency.p95{flag:{flag},variant:{cohort}}.rollup(avg, {window})"
    }
    _, result = check(setup(tmp_path, "healthy", datadog.url, latency_p99_ms=missing))
    assert result["verdict"] == "hold"
    note = metric(result, "p99_latency")["note"]
    assert "latency_p99_ms (treatment) has no data" in note and "checkout.latency.p95" in note


def test_a_bad_query_exits_3_with_datadogs_message(tmp_path: Path, datadog: DatadogFake) -> None:
    plan = setup(
        tmp_path, "healthy", datadog.url, errors="sum:checkout.errors{flag:{flag},variant:{cohort}"
    )
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3
    assert "datadog" in output and "metric errors (treatment)" in output
    assert "The value provided for parameter 'query' is invalid" in output


def test_a_grouped_query_is_refused(tmp_path: Path, datadog: DatadogFake) -> None:
    grouped = (
        "sum:checkout.sessions{flag:{flag},variant:{cohort}} by {region}.as_count()"
        ".rollup(sum, {window})"
    )
    code, output = invoke(
        "check", str(setup(tmp_path, "healthy", datadog.url, requests=grouped)), "--at", AT
    )
    assert code == 3 and "2 series where one was expected" in output and "region:eu" in output


def test_rate_limits_are_waited_out(tmp_path: Path, datadog: DatadogFake) -> None:
    datadog.rate_limit(3, reset=1)
    code, result = check(setup(tmp_path, "healthy", datadog.url))
    assert code == 0 and result["verdict"] == "go"
    assert sum(1 for r in datadog.requests) > 3  # the 429s were retried


def test_wrong_keys_exit_3_with_a_hint(
    tmp_path: Path, datadog: DatadogFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_API_KEY", "not-the-key")
    code, output = invoke("check", str(setup(tmp_path, "healthy", datadog.url)), "--at", AT)
    assert code == 3 and "403" in output and "DD_API_KEY" in output
    assert "not-the-key" not in output


def test_missing_keys_are_named(
    tmp_path: Path, datadog: DatadogFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DD_APP_KEY")
    code, output = invoke("check", str(setup(tmp_path, "healthy", datadog.url)), "--at", AT)
    assert code == 2 and "DD_APP_KEY" in output
    assert not datadog.requests


def test_a_server_that_is_down_exits_3(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, output = invoke(
        "check", str(setup(tmp_path, "healthy", f"http://127.0.0.1:{port}")), "--at", AT
    )
    assert code == 3 and "cannot reach" in output


def test_explain_shows_the_window_in_seconds(tmp_path: Path, datadog: DatadogFake) -> None:
    plan = setup(tmp_path, "healthy", datadog.url)
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0 and not datadog.requests
    rows = json.loads(output)["queries"]
    total = next(r for r in rows if r["metric"] == "requests" and r["verb"] == "counter")
    (request,) = total["requests"]
    assert request["query"] == (
        "sum:checkout.requests{flag:healthy,variant:true}.as_count().rollup(sum, 7200)"
    )
    assert request["params"] == {"from": str(END - 7200), "to": str(END)}


def test_the_shipped_example_plan_runs_on_datadog(workspace: Path, datadog: DatadogFake) -> None:
    """plans/signup-datadog.yaml as shipped, pointed at the fake instead of its site."""
    plan = workspace / "plans" / "signup-datadog.yaml"
    text = plan.read_text()
    assert "site: datadoghq.eu" in text
    plan.write_text(text.replace("site: datadoghq.eu", f"url: {datadog.url}"))
    at = END_TIME - timedelta(hours=2)
    start_stage(workspace / "flags" / "flags.json", "signup-v2", 5, at, "signup-datadog")
    code, output = invoke("check", "signup-datadog", "--at", AT, "--json")
    result = json.loads(output)
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    assert {m["status"] for m in result["metrics"]} <= {"ok", "warn"}  # warn: point estimates
    assert result["srm"]["checked"] and not result["srm"]["mismatch"]
