"""Verdicts from the json source against a real HTTP server on 127.0.0.1 answering JSON
(:mod:`tests.integration.json_api`): the Prometheus suite's cases, over the same history,
checked as of END."""

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
from tests.integration.json_api import JsonApi
from tests.integration.prometheus_data import END, END_TIME

pytestmark = [pytest.mark.integration, pytest.mark.json]

AT = format_timestamp(END_TIME)
STAGE_START = END_TIME - timedelta(hours=2)
SERIES = "/api/v1/series?metric={metric}&flag={flag}&variant={cohort}&from={start}&to={end}"
POINTS = "data.series[].points"
QUERIES: dict[str, Any] = {
    "requests": POINTS,
    "errors": POINTS,
    "latency_p99_ms": {"query": POINTS, "step": "5m"},
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


@pytest.fixture(scope="module")
def api() -> Iterator[JsonApi]:
    with JsonApi() as server:
        yield server


@pytest.fixture(autouse=True)
def token(api: JsonApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_AUTH", f"Bearer {api.token}")
    api.seen.clear()


def setup(
    root: Path,
    flag: str,
    base: str,
    *,
    source: dict[str, Any] | None = None,
    since: datetime = STAGE_START,
    **override: Any,
) -> Path:
    flags = write_flag_file(root / "flags" / "flags.json", flag)
    (root / "plans").mkdir(exist_ok=True)
    start_stage(flags, flag, 10, since, flag)
    metrics = {
        "source": source
        or {
            "kind": "json",
            "url": base + SERIES + "&step={window}",
            "headers_env": {"Authorization": "METRICS_AUTH"},
        },
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


def check(plan: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, output = invoke("check", str(plan), "--at", AT, "--json", *extra)
    return code, json.loads(output), output


def metric(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in result["metrics"] if m["name"] == name)
    return found


def test_a_healthy_rollout_goes_on(tmp_path: Path, api: JsonApi) -> None:
    code, result, output = check(setup(tmp_path, "healthy", api.url), "--fail-on-breach")
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # 2 h at 40 (treatment) and 360 (control) requests per 15 s, exactly
    assert (errors["treatment_n"], errors["control_n"]) == (19_200, 172_800)
    assert abs(errors["treatment"] - 0.01) < 0.003 and abs(errors["control"] - 0.01) < 0.001
    assert metric(result, "p99_latency")["treatment_n"] == 24  # one p99 per 5 minutes
    assert all(s.headers["authorization"] == f"Bearer {api.token}" for s in api.seen)
    totals = [s for s in api.seen if "metric=requests" in s.path and "step=7200" in s.path]
    assert totals and all(f"from={END - 7200}&to={END}" in s.path for s in totals)
    assert api.token not in output


def test_a_post_with_a_json_body_goes_on(tmp_path: Path, api: JsonApi) -> None:
    source = {
        "kind": "json",
        "url": api.url + "/api/v1/query",
        "method": "POST",
        "body": {
            "metric": "{metric}",
            "flag": "{flag}",
            "variant": "{cohort}",
            "from": "{start}",
            "to": "{end}",
            "step": "{window}",
        },
        "headers_env": {"Authorization": "METRICS_AUTH"},
    }
    code, result, _ = check(setup(tmp_path, "healthy", api.url, source=source))
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    assert (metric(result, "error_rate")["treatment_n"]) == 19_200
    sent = [json.loads(s.body) for s in api.seen]
    total = {
        "metric": "requests",
        "flag": "healthy",
        "variant": "true",
        "from": END - 7200,
        "to": END,
        "step": 7200,
    }
    assert total in sent  # numbers where the template's string was only a numeric placeholder
    assert all(
        s.method == "POST" and s.headers["content-type"] == "application/json" for s in api.seen
    )


def test_an_error_regression_in_the_treatment_only_rolls_back(tmp_path: Path, api: JsonApi) -> None:
    code, result, _ = check(setup(tmp_path, "regression", api.url), "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert errors["status"] == "rollback"
    assert 2.5 < errors["treatment"] / errors["control"] < 3.5


def test_a_global_incident_in_both_cohorts_is_not_a_rollback(tmp_path: Path, api: JsonApi) -> None:
    code, result, _ = check(setup(tmp_path, "incident", api.url), "--fail-on-breach")
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # both cohorts at 1% then 8%: 4.5% over the stage, the same on each side
    assert errors["control"] > 0.04 and errors["treatment"] > 0.04
    assert errors["status"] == "ok"


def test_a_metric_with_no_data_holds_and_is_named(tmp_path: Path, api: JsonApi) -> None:
    missing = {"query": "data.series[?labels.metric=='latency_p95_ms'].points", "step": "5m"}
    code, result, _ = check(setup(tmp_path, "healthy", api.url, latency_p99_ms=missing))
    assert code == 0 and result["verdict"] == "hold"
    note = metric(result, "p99_latency")["note"]
    assert "latency_p99_ms (treatment) has no data" in note and "latency_p95_ms" in note


def test_a_request_the_api_rejects_exits_3_with_its_message(tmp_path: Path, api: JsonApi) -> None:
    source = {
        "kind": "json",
        "url": api.url + SERIES + "&step={window}&agg=p99",
        "headers_env": {"Authorization": "METRICS_AUTH"},
    }
    code, output = invoke(
        "check", str(setup(tmp_path, "healthy", api.url, source=source)), "--at", AT
    )
    assert code == 3
    assert "json: metric errors (treatment): request rejected (HTTP 400" in output
    assert "unknown parameter 'agg'" in output and len(output.strip().splitlines()) == 1


def test_a_bad_expression_is_a_one_line_plan_error(tmp_path: Path, api: JsonApi) -> None:
    plan = setup(tmp_path, "healthy", api.url, errors="data.series[.points")
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 2 and "metrics.queries.errors" in output
    assert "not a JMESPath expression" in output and not api.seen


def test_an_expression_that_fails_on_the_answer_exits_3(tmp_path: Path, api: JsonApi) -> None:
    plan = setup(tmp_path, "healthy", api.url, errors="sum(data)")
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3 and "the expression fails on the answer" in output
    assert "metric errors (treatment)" in output


def test_several_series_where_one_was_expected_are_refused(tmp_path: Path, api: JsonApi) -> None:
    twice = "[data.series[0].points, data.series[0].points]"
    code, output = invoke(
        "check", str(setup(tmp_path, "healthy", api.url, errors=twice)), "--at", AT
    )
    assert code == 3 and "metric errors (treatment): the expression gave 2 series" in output


def test_the_backend_down_exits_3_and_changes_nothing(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    since = datetime.now(UTC) - timedelta(hours=2)  # advance evaluates now
    plan = setup(tmp_path, "healthy", f"http://127.0.0.1:{port}", since=since)
    flags = tmp_path / "flags" / "flags.json"
    before = flags.read_bytes()
    code, output = invoke("advance", str(plan), "--yes")
    assert code == 3 and "cannot reach" in output and "json" in output
    assert flags.read_bytes() == before


def test_a_wrong_token_exits_3_and_is_never_printed(
    tmp_path: Path, api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_AUTH", "Bearer wrong-token-that-must-stay-hidden")
    code, output = invoke("check", str(setup(tmp_path, "healthy", api.url)), "--at", AT)
    assert code == 3 and "not authorised (HTTP 401" in output and "METRICS_AUTH" in output
    assert "bad credentials" in output  # the server's echo, scrubbed
    assert "wrong-token-that-must-stay-hidden" not in output


def test_a_missing_header_variable_is_named(
    tmp_path: Path, api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METRICS_AUTH")
    code, output = invoke("check", str(setup(tmp_path, "healthy", api.url)), "--at", AT)
    assert code == 2 and "set METRICS_AUTH in the environment" in output and not api.seen


def test_explain_prints_the_requests_without_secrets(tmp_path: Path, api: JsonApi) -> None:
    plan = setup(tmp_path, "healthy", api.url)
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0 and not api.seen
    assert api.token not in output
    rows = json.loads(output)["queries"]
    total = next(r for r in rows if r["metric"] == "requests" and r["verb"] == "counter")
    (request,) = total["requests"]
    url = (
        f"{api.url}/api/v1/series?metric=requests&flag=healthy&variant=true"
        f"&from={END - 7200}&to={END}&step=7200"
    )
    assert request["query"] == f"GET {url} -> {POINTS}"
    assert request["params"] == {
        "method": "GET",
        "url": url,
        "header Authorization": "$METRICS_AUTH",
        "expression": POINTS,
    }
    code, text = invoke("check", str(plan), "--at", AT, "--explain")
    assert code == 0 and "$METRICS_AUTH" in text and api.token not in text
