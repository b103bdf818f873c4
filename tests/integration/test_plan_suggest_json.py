"""`rollout plan suggest` reading its history through the json source: a local JSON API
(:mod:`tests.integration.json_api`) serving 3 days of 5-minute points with known parameters
(the control cohort only, as before a rollout): requests Poisson around 5,000 per 5 minutes
(60,000/h), errors 1% of them (binomial), and one latency value per 5 minutes, log-normal
around 250 ms (sd 0.1 in ln). The suggestion must read those parameters back and validate
as a plan."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke
from tests.integration.json_api import JsonApi, Series

pytestmark = [pytest.mark.integration, pytest.mark.json]

END = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 3
URL = "/api/v1/series?metric={metric}&flag={flag}&variant={cohort}&from={start}&to={end}"


def history() -> Series:
    rng = np.random.default_rng(20260101)
    out: Series = defaultdict(list)
    end = int(END.timestamp())
    for t in range(end - DAYS * 86_400, end, 300):
        requests = int(rng.poisson(5000))
        out["requests", "checkout", "false"].append((t, float(requests)))
        out["errors", "checkout", "false"].append((t, float(rng.binomial(requests, 0.01))))
        out["latency_ms", "checkout", "false"].append((t, float(rng.lognormal(np.log(250.0), 0.1))))
    return out


@pytest.fixture(scope="module")
def api() -> Iterator[JsonApi]:
    with JsonApi(token=None, data=history()) as server:
        yield server


def suggest(api: JsonApi, *extra: str) -> tuple[int, str]:
    url = api.url + URL + "&step={window}"
    args = ["plan", "suggest", "checkout", "--metrics-source", "json", "--url", url]
    args += ["--ratio", "error_rate=errors/requests", "--mean", "p99=latency_ms", "--log", "p99"]
    args += ["--lookback", f"{DAYS}d", "--at", format_timestamp(END)]
    args += ["--flag-file", "../flags/flags.json"]
    for metric in ("requests", "errors", "latency_ms"):
        args += ["--query", f"{metric}=data.series[].points"]
    return invoke(*args, *extra)


def test_a_suggestion_reads_the_history_back(tmp_path: Path, api: JsonApi) -> None:
    code, text = suggest(api)
    assert code == 0, text
    assert "kind: json" in text
    flat = " ".join(line.strip().lstrip("# ") for line in text.splitlines())
    found = re.search(r"errors ([\d.]+)% of requests, ([\d,]+) requests/h on average", flat)
    assert found, flat
    assert abs(float(found.group(1)) - 1.0) < 0.05
    assert abs(int(found.group(2).replace(",", "")) - 60_000) < 600
    assert f"over {DAYS * 24}h" in flat
    geometric = re.search(r"\(geometric mean ([\d.]+)\), sd ([\d.]+) \(ln\)", flat)
    assert geometric, flat
    assert (
        abs(float(geometric.group(1)) - 250.0) < 3 and abs(float(geometric.group(2)) - 0.1) < 0.01
    )
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "checkout.yaml").write_text(text)
    code, output = invoke("validate", str(plans / "checkout.yaml"))
    assert code == 0, output


def test_no_history_is_refused_naming_the_request(api: JsonApi) -> None:
    code, output = suggest(api, "--control", "off")
    assert code == 3, output
    assert "no data for requests" in output and "variant=off" in output


def test_a_header_from_the_environment_reaches_an_api_that_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--header NAME=VARIABLE: the history is read with the header's value from the
    environment, and the plan names the variable, never the value."""
    with JsonApi(data=history()) as guarded:
        assert guarded.token is not None
        code, output = suggest(guarded)
        assert code == 3 and "401" in output, output  # the API wants its token
        monkeypatch.setenv("METRICS_AUTH", f"Bearer {guarded.token}")
        code, text = suggest(guarded, "--header", "Authorization=METRICS_AUTH")
    assert code == 0, text
    assert "headers_env: {Authorization: METRICS_AUTH}" in text
    assert guarded.token not in text
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "checkout.yaml").write_text(text)
    code, output = invoke("validate", str(plans / "checkout.yaml"))
    assert code == 0, output
