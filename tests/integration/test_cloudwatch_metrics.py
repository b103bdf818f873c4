"""Verdicts from the cloudwatch source over moto's CloudWatch server (a real HTTP endpoint
speaking the GetMetricData API), seeded with known truth by PutMetricData.

CloudWatch keeps recent data, so the history is the two hours before the last whole minute
(END), at one datum per cohort and metric per minute; each check runs ``--at END``. Each
test's flag is a dimension of its own, so the tests share one server. moto's metric math
knows only an expression naming one metric (no arithmetic, no SEARCH): the math case here
is that one.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke, start_stage, write_flag_file

pytestmark = [pytest.mark.integration, pytest.mark.cloudwatch]

END = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
AT = format_timestamp(END)
STAGE_START = END - timedelta(hours=2)
NAMESPACE = "Checkout"
PER_MINUTE = {"treatment": 200, "control": 1800}
REGION = "eu-west-1"

GUARDRAILS = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
    detect: "+50%"
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds: {warn: "+10%", pause: "+25%", rollback: "+50%"}
"""

QUERIES: dict[str, Any] = {
    "requests": f"{NAMESPACE} Requests Sum Flag={{flag}} Variant={{cohort}}",
    "errors": (
        f"e = {NAMESPACE} Errors Sum Flag={{flag}} Variant={{cohort}}\ne"
    ),  # metric math: an expression over a named metric
    "latency_ms": {
        "query": f"{NAMESPACE} LatencyMs Average Flag={{flag}} Variant={{cohort}}",
        "step": "5m",
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def cloudwatch_url() -> Iterator[str]:
    """moto's server on 127.0.0.1, seeded once with every test's flags."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        seed(url)
        yield url
    finally:
        server.stop()


def error_rate(flag: str, role: str, minute: int) -> float:
    """The truth: 1% everywhere, 3% in the regression's treatment, 8% in both cohorts in
    the incident's second hour."""
    if flag == "regression" and role == "treatment":
        return 0.03
    if flag == "incident" and minute >= 60:
        return 0.08
    return 0.01


def seed(url: str) -> None:
    import boto3

    client = boto3.client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for flag in ("healthy", "regression", "incident"):
        data: list[dict[str, Any]] = []
        for role, label in (("treatment", "true"), ("control", "false")):
            dims = [{"Name": "Flag", "Value": flag}, {"Name": "Variant", "Value": label}]
            for minute in range(120):
                at = STAGE_START + timedelta(minutes=minute, seconds=30)
                requests = PER_MINUTE[role]
                errors = round(requests * error_rate(flag, role, minute))
                for name, value in (("Requests", requests), ("Errors", errors)):
                    data.append(
                        {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": value}
                    )
                latency = 120.0 + (minute % 7)
                data.append(
                    {
                        "MetricName": "LatencyMs",
                        "Dimensions": dims,
                        "Timestamp": at,
                        "Value": latency,
                    }
                )
        for i in range(0, len(data), 500):
            client.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 500])


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and region the AWS way, from the environment (moto takes any)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def setup(root: Path, flag: str, url: str, since: datetime = STAGE_START, **override: Any) -> Path:
    flags = write_flag_file(root / "flags" / "flags.json", flag)
    (root / "plans").mkdir(exist_ok=True)
    start_stage(flags, flag, 10, since, flag)
    metrics = {
        "source": {"kind": "cloudwatch", "endpoint_url": url},
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
  - {{percent: 50, min_duration: 1h, min_samples: 20000}}
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


def test_a_healthy_rollout_goes_on(tmp_path: Path, cloudwatch_url: str) -> None:
    plan = setup(tmp_path, "healthy", cloudwatch_url)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0, result
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # 2 h at 200 (treatment) and 1800 (control) requests a minute, exactly; 1% errors
    assert (errors["treatment_n"], errors["control_n"]) == (24_000, 216_000)
    assert (errors["treatment"], errors["control"]) == (0.01, 0.01)
    assert metric(result, "latency")["status"] == "ok"
    assert result["srm"]["checked"] and not result["srm"]["mismatch"]
    assert "Variant=true" in errors["query"]


def test_an_error_regression_in_the_treatment_only_rolls_back(
    tmp_path: Path, cloudwatch_url: str
) -> None:
    plan = setup(tmp_path, "regression", cloudwatch_url)
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert errors["status"] == "rollback"
    assert (errors["treatment"], errors["control"]) == (0.03, 0.01)


def test_a_global_incident_in_both_cohorts_is_not_a_rollback(
    tmp_path: Path, cloudwatch_url: str
) -> None:
    plan = setup(tmp_path, "incident", cloudwatch_url)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # both cohorts at 1% then 8%: 4.5% over the stage, the same on each side
    assert (errors["treatment"], errors["control"]) == (0.045, 0.045)
    assert errors["status"] == "ok"


def test_a_metric_with_no_data_holds_and_is_named(tmp_path: Path, cloudwatch_url: str) -> None:
    missing = {"query": f"{NAMESPACE} Abandoned Average Flag={{flag}} Variant={{cohort}}"}
    plan = setup(tmp_path, "healthy", cloudwatch_url, latency_ms=missing)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "hold"
    assert metric(result, "latency")["status"] == "no_data"
    assert any("no data" in r and "latency" in r for r in result["reasons"]), result
    assert metric(result, "error_rate")["status"] == "ok"


def test_a_bad_query_is_a_clear_error(tmp_path: Path, cloudwatch_url: str) -> None:
    # an empty dimension value: CloudWatch's API refuses it (boto3 checks it before sending)
    broken = f"{NAMESPACE} Errors Sum Flag={{flag}} Variant={{cohort}} Route=''"
    plan = setup(tmp_path, "healthy", cloudwatch_url, errors=broken)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "metric errors (treatment)" in output and "query rejected" in output, output
    assert "fix the query template" in output


def test_a_backend_that_is_down_exits_3_and_changes_nothing(tmp_path: Path) -> None:
    since = datetime.now(UTC) - timedelta(hours=2)  # advance evaluates now
    plan = setup(tmp_path, "healthy", f"http://127.0.0.1:{_free_port()}", since=since)
    flags = tmp_path / "flags" / "flags.json"
    before = flags.read_bytes()
    code, output = invoke("advance", str(plan), "--yes")
    assert code == 3, output
    assert "cannot reach CloudWatch" in output and "cloudwatch" in output
    assert flags.read_bytes() == before
    assert "testing-secret" not in output
    code, output = invoke("check", str(plan))
    assert code == 3 and "cannot reach CloudWatch" in output


def test_explain_prints_the_resolved_queries_without_running_them(tmp_path: Path) -> None:
    plan = setup(tmp_path, "healthy", f"http://127.0.0.1:{_free_port()}")
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0, output  # nothing was queried: the endpoint being down does not matter
    rows = json.loads(output)["queries"]
    totals = [r for r in rows if r["metric"] == "errors" and r["verb"] == "counter"]
    treatment = next(r for r in totals if r["cohort"] == "treatment")
    (request,) = treatment["requests"]
    assert request["query"] == f"e = {NAMESPACE} Errors Sum Flag=healthy Variant=true; e"
    assert request["params"] == {
        "start": format_timestamp(STAGE_START),
        "end": AT,
        "period": "7200",
        "region": REGION,
    }
    series = next(
        r
        for r in rows
        if r["metric"] == "errors" and r["verb"] == "counter_series" and r["cohort"] == "control"
    )
    (request,) = series["requests"]
    assert "Variant=false" in request["query"] and request["params"]["period"] == "60"
    code, text = invoke("check", str(plan), "--at", AT, "--explain")
    assert code == 0 and "Variant=true" in text


HISTORY_END = END.replace(minute=0)  # suggest reads whole hours
HISTORY_DAYS = 2


@pytest.fixture(scope="module")
def history(cloudwatch_url: str) -> str:
    """The server, with flag ``suggested``'s history seeded once for the suggest tests."""
    seed_history(cloudwatch_url)
    return cloudwatch_url


def seed_history(url: str) -> None:
    """Two days of 5-minute data for the control cohort of flag ``suggested``: requests
    Poisson around 5,000 (60,000/h), errors 1% of them, latency log-normal around 250 ms
    (sd 0.1 in ln)."""
    import boto3
    import numpy as np

    client = boto3.client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    rng = np.random.default_rng(20261206)
    dims = [{"Name": "Flag", "Value": "suggested"}, {"Name": "Variant", "Value": "false"}]
    data: list[dict[str, Any]] = []
    at = HISTORY_END - timedelta(days=HISTORY_DAYS)
    while at < HISTORY_END:
        requests = int(rng.poisson(5000))
        values = {
            "Requests": requests,
            "Errors": int(rng.binomial(requests, 0.01)),
            "LatencyMs": float(rng.lognormal(np.log(250.0), 0.1)),
        }
        for name, value in values.items():
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": dims,
                    "Timestamp": at + timedelta(seconds=10),
                    "Value": value,
                }
            )
        at += timedelta(minutes=5)
    for i in range(0, len(data), 500):
        client.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 500])


def suggest_args(flag: str) -> list[str]:
    args = ["plan", "suggest", flag, "--metrics-source", "cloudwatch"]
    args += ["--ratio", "error_rate=errors/requests", "--mean", "p99=latency_ms", "--log", "p99"]
    args += ["--lookback", f"{HISTORY_DAYS}d", "--at", format_timestamp(HISTORY_END)]
    args += ["--flag-file", "../flags/flags.json"]
    for metric, name in (
        ("requests", "Requests"),
        ("errors", "Errors"),
        ("latency_ms", "LatencyMs"),
    ):
        stat = "Average" if metric == "latency_ms" else "Sum"
        args += ["--query", f"{metric}={NAMESPACE} {name} {stat} Flag={{flag}} Variant={{cohort}}"]
    return args


def test_plan_suggest_reads_the_history_back(
    tmp_path: Path, history: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", history)
    code, text = invoke(*suggest_args("suggested"))
    assert code == 0, text
    assert "kind: cloudwatch" in text
    flat = " ".join(line.strip().lstrip("# ") for line in text.splitlines())
    found = re.search(r"errors ([\d.]+)% of requests, ([\d,]+) requests/h on average", flat)
    assert found, flat
    assert abs(float(found.group(1)) - 1.0) < 0.05
    assert abs(int(found.group(2).replace(",", "")) - 60_000) < 600
    geometric = re.search(r"\(geometric mean ([\d.]+)\), sd ([\d.]+) \(ln\)", flat)
    assert geometric, flat
    assert abs(float(geometric.group(1)) - 250.0) < 3
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "suggested.yaml").write_text(text)
    code, output = invoke("validate", str(plans / "suggested.yaml"))
    assert code == 0, output


def test_plan_suggest_takes_the_region_and_endpoint_as_options(
    tmp_path: Path, history: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--region and --endpoint-url instead of the environment: the history is read there,
    and the plan keeps both."""
    import re

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_CLOUDWATCH"):
        monkeypatch.delenv(name, raising=False)
    code, text = invoke(*suggest_args("suggested"), "--region", REGION, "--endpoint-url", history)
    assert code == 0, text
    assert f"region: {REGION}" in text and f"endpoint_url: {history}" in text
    flat = " ".join(line.strip().lstrip("# ") for line in text.splitlines())
    found = re.search(r"([\d,]+) requests/h on average", flat)
    assert found, flat
    assert abs(int(found.group(1).replace(",", "")) - 60_000) < 600
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "suggested.yaml").write_text(text)
    code, output = invoke("validate", str(plans / "suggested.yaml"))
    assert code == 0, output
