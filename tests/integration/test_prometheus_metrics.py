"""Verdicts from a real Prometheus 2.42 over backfilled history with known truth.

Each test writes a plan whose flag sits in a flagd file at its 10% stage since END - 2h and
checks it as of END (``--at``), so every query is evaluated at fixed times.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke, start_stage, write_flag_file
from tests.integration.prometheus_data import END_TIME, QUERIES

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

AT = format_timestamp(END_TIME)
STAGE_START = END_TIME - timedelta(hours=2)

GUARDRAILS = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
    detect: "+50%"
  - name: p99_latency
    kind: mean
    metric: latency_p99_ms
    unit: ms
    scale: log
    thresholds: {warn: "+10%", pause: "+25%", rollback: ["+50%", "< 2000ms"]}
  - name: conversion
    kind: ratio
    events: orders
    trials: checkouts
    direction: lower_is_worse
    thresholds: {pause: "-8%", rollback: "-15%"}
    significant: [pause, rollback]
"""


def queries(**override: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in QUERIES.items() if k != "latency_mean_ms"}
    out["latency_p99_ms"] = {"query": QUERIES["latency_p99_ms"], "step": "5m"}
    out.update(override)
    return out


def setup(
    root: Path,
    flag: str,
    url: str,
    guardrails: str = GUARDRAILS,
    since: datetime = STAGE_START,
    **override: str,
) -> Path:
    """A workspace: a flagd file with ``flag`` at 10% since ``since`` (END - 2h), and a plan
    over it."""
    flags = write_flag_file(root / "flags" / "flags.json", flag)
    (root / "plans").mkdir(exist_ok=True)
    start_stage(flags, flag, 10, since, flag)
    metrics = {
        "source": {"kind": "prometheus", "url": url},
        "exposures": "requests",
        "queries": queries(**override),
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
{guardrails}"""
    )
    return plan


def check(plan: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, output = invoke("check", str(plan), "--at", AT, "--json", *extra)
    return code, json.loads(output)


def metric(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in result["metrics"] if m["name"] == name)
    return found


def test_a_healthy_rollout_goes_on(tmp_path: Path, prometheus_url: str) -> None:
    plan = setup(tmp_path, "healthy", prometheus_url)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0, result
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # 2 h at 40 (treatment) and 360 (control) requests per 15 s, exactly
    assert (errors["treatment_n"], errors["control_n"]) == (19_200, 172_800)
    assert abs(errors["treatment"] - 0.01) < 0.003 and abs(errors["control"] - 0.01) < 0.001
    assert metric(result, "p99_latency")["status"] == "ok"
    assert metric(result, "conversion")["status"] == "ok"
    assert result["srm"]["checked"] and not result["srm"]["mismatch"]
    assert 'variant="true"' in errors["query"] and "[2h]" in errors["query"]


def test_an_error_regression_in_the_treatment_only_rolls_back(
    tmp_path: Path, prometheus_url: str
) -> None:
    plan = setup(tmp_path, "regression", prometheus_url)
    code, result = check(plan, "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    errors = metric(result, "error_rate")
    assert errors["status"] == "rollback"
    assert 2.5 < errors["treatment"] / errors["control"] < 3.5
    assert metric(result, "conversion")["status"] == "ok"


def test_a_global_incident_in_both_cohorts_is_not_a_rollback(
    tmp_path: Path, prometheus_url: str
) -> None:
    plan = setup(tmp_path, "incident", prometheus_url)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    errors = metric(result, "error_rate")
    # both cohorts at 1% then 8%: 4.5% over the stage, the same on each side
    assert errors["control"] > 0.04 and errors["treatment"] > 0.04
    assert errors["status"] == "ok"


def test_a_metric_with_no_data_holds_and_is_named(tmp_path: Path, prometheus_url: str) -> None:
    missing = 'sum(increase(checkout_abandoned_total{flag="{flag}",variant="{cohort}"}[{window}]))'
    plan = setup(tmp_path, "healthy", prometheus_url, orders=missing)
    code, result = check(plan, "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "hold"
    conversion = metric(result, "conversion")
    assert conversion["status"] == "no_data"
    assert any("no data" in r and "conversion" in r for r in result["reasons"]), result
    # the other guardrails are still measured
    assert metric(result, "error_rate")["status"] == "ok"


def test_a_metric_with_no_data_for_the_trials_names_the_query(
    tmp_path: Path, prometheus_url: str
) -> None:
    missing = 'sum(increase(checkout_begun_total{flag="{flag}",variant="{cohort}"}[{window}]))'
    plan = setup(tmp_path, "healthy", prometheus_url, checkouts=missing)
    _, result = check(plan)
    assert result["verdict"] == "hold"
    note = metric(result, "conversion")["note"]
    assert "checkouts (treatment) has no data" in note and "checkout_begun_total" in note
    assert "prometheus" in note


def test_a_bad_query_is_a_clear_error(tmp_path: Path, prometheus_url: str) -> None:
    broken = 'sum(increase(http_requests_total{flag="{flag}",variant="{cohort}"}[{window}])'
    plan = setup(tmp_path, "healthy", prometheus_url, errors=broken)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3
    line = output.strip().splitlines()[-1] if output.strip() else ""
    assert "metric errors (treatment)" in output and "bad_data" in output, output
    assert "parse error" in output and "fix the query template" in output
    assert 'variant="true"' in output  # the resolved query, not the template
    assert line  # one line per error


def test_several_series_where_one_was_expected_is_refused(
    tmp_path: Path, prometheus_url: str
) -> None:
    grouped = 'sum by (status) (increase(http_requests_total{flag="{flag}",variant="{cohort}"}[{window}]))'  # noqa: E501
    plan = setup(tmp_path, "healthy", prometheus_url, requests=grouped)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3
    assert "2 series where one was expected" in output and 'status="500"' in output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_server_that_is_down_exits_3_and_changes_nothing(tmp_path: Path) -> None:
    since = datetime.now(UTC) - timedelta(hours=2)  # advance evaluates now
    plan = setup(tmp_path, "healthy", f"http://127.0.0.1:{_closed_port()}", since=since)
    flags = tmp_path / "flags" / "flags.json"
    before = flags.read_bytes()
    code, output = invoke("advance", str(plan), "--yes")
    assert code == 3
    assert "cannot reach" in output and "prometheus" in output
    assert flags.read_bytes() == before
    code, output = invoke("check", str(plan))
    assert code == 3 and "cannot reach" in output


def test_explain_prints_the_resolved_queries_without_running_them(tmp_path: Path) -> None:
    plan = setup(tmp_path, "healthy", f"http://127.0.0.1:{_closed_port()}")
    code, output = invoke("check", str(plan), "--at", AT, "--explain", "--json")
    assert code == 0, output  # nothing was queried: the server being down does not matter
    explained = json.loads(output)
    rows = explained["queries"]
    totals = [r for r in rows if r["metric"] == "errors" and r["verb"] == "counter"]
    assert {r["cohort"] for r in totals} == {"treatment", "control"}
    treatment = next(r for r in totals if r["cohort"] == "treatment")
    (request,) = treatment["requests"]
    assert request["query"] == (
        'sum(increase(http_requests_total{flag="healthy",variant="true",status="500"}[2h]))'
    )
    assert request["params"] == {"time": "1704067200"}
    series = next(
        r
        for r in rows
        if r["metric"] == "errors" and r["verb"] == "counter_series" and r["cohort"] == "control"
    )
    (request,) = series["requests"]
    assert "[1m]" in request["query"] and 'variant="false"' in request["query"]
    assert request["params"] == {"start": "1704060060", "end": "1704067200", "step": "60"}
    p99 = next(r for r in rows if r["metric"] == "latency_p99_ms" and r["verb"] == "values")
    assert "[5m]" in p99["requests"][0]["query"] and p99["requests"][0]["params"]["step"] == "300"
    code, text = invoke("check", str(plan), "--at", AT, "--explain")
    assert code == 0 and "histogram_quantile" in text and "per interval" in text


def test_several_plans_share_one_check(tmp_path: Path, prometheus_url: str) -> None:
    plans = [
        setup(tmp_path / name, name, prometheus_url)
        for name in ("healthy", "regression", "incident")
    ]
    code, output = invoke("check", *map(str, plans), "--at", AT, "--json", "--fail-on-breach")
    results = json.loads(output)
    assert [r["verdict"] for r in results] == ["go", "rollback", "go"]
    assert code == 1


def test_the_shipped_example_plan_runs_on_prometheus(
    workspace: Path, prometheus_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plans/payments-prometheus.yaml as shipped, its URL from PROMETHEUS_URL."""
    monkeypatch.setenv("PROMETHEUS_URL", prometheus_url)
    flags = workspace / "flags" / "flags.json"
    start_stage(flags, "payments-v2", 10, STAGE_START, "payments-prometheus")
    code, output = invoke("check", "payments-prometheus", "--at", AT, "--json")
    result = json.loads(output)
    assert code == 0 and result["verdict"] == "go", result["reasons"]
    assert {m["status"] for m in result["metrics"]} == {"ok"}
    code, output = invoke("check", "payments-prometheus", "--at", AT, "--explain")
    assert code == 0 and 'status=~"5.."' in output and "or vector(0)" in output
