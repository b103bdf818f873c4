"""The query sources (Prometheus, Datadog) without a network: the HTTP calls a need takes,
how each backend's answers are read, how points are bucketed into the verdict's intervals,
and where URLs and credentials come from.

Sources are opened from a real plan file through ``rolloutcli.metrics.open_source``. Answers
are ``httpx.Response`` objects built by hand in the shapes the real APIs send (see
/work/shared/reference/prometheus-datadog.md §4 and §7); bucketing is checked by seeding the
source's answer cache with points, exactly as ``prefetch`` leaves it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from rolloutcli.app.evaluate import _ratio, _values
from rolloutcli.metrics import open_source
from rolloutcli.metrics.base import Cohort, Need, QueryFailure, ResolvedQuery, Window
from rolloutcli.metrics.datadog import DatadogSource
from rolloutcli.metrics.pool import Call
from rolloutcli.metrics.prometheus import PrometheusSource
from rolloutcli.metrics.querying import Fetch, NoData, Points
from rolloutcli.plan.model import LoadedPlan, MeanGuardrail, RatioGuardrail, load_plan
from rolloutcli.support.errors import BackendError, InvalidInputError

T = Cohort("treatment", True)
C = Cohort("control", False)
START = datetime(2026, 11, 2, 10, tzinfo=UTC)  # epoch 1793613600
END = datetime(2026, 11, 2, 12, tzinfo=UTC)  # epoch 1793620800
S = 1793613600.0
WINDOW = Window(START, END)
MINUTE = timedelta(minutes=1)

PROM_URL = "http://127.0.0.1:9"
ERRORS_PROMQL = 'sum(increase(http_requests_total{variant="{cohort}",status="500"}[{window}]))'
REQUESTS_PROMQL = 'sum(increase(http_requests_total{variant="{cohort}"}[{window}]))'
LATENCY_PROMQL = (
    "histogram_quantile(0.99, sum by (le)"
    '(rate(http_request_duration_seconds_bucket{variant="{cohort}"}[{window}])))'
)

PLAN_HEAD = """\
flag: checkout-v2
platform:
  kind: flagfile
  path: flags.json
variations:
  treatment: true
  control: false
stages:
  - percent: 1
    min_duration: 30m
  - percent: 100
    min_duration: 0
"""

GUARDRAILS = """\
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds:
      pause: "+50%"
  - name: p99_latency
    kind: mean
    metric: latency
    unit: ms
    thresholds:
      pause: "+25%"
"""

PROMETHEUS_METRICS = f"""\
metrics:
  source:
    kind: prometheus
{{source_extra}}  queries:
    errors: '{ERRORS_PROMQL}'
    requests: '{REQUESTS_PROMQL}'
    latency:
      query: '{LATENCY_PROMQL}'
      step: 5m
"""

DATADOG_METRICS = """\
metrics:
  source:
    kind: datadog
{source_extra}  queries:
    errors: 'sum:http.errors{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})'
    requests: 'sum:http.requests{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})'
    latency: 'p99:http.latency{flag:{flag},variant:{cohort}}.rollup(max, {window})'
"""

ENVIRONMENT = (
    "PROMETHEUS_URL",
    "PROMETHEUS_TOKEN",
    "PROMETHEUS_USERNAME",
    "PROMETHEUS_PASSWORD",
    "PROMETHEUS_ORG_ID",
    "DD_API_KEY",
    "DD_APP_KEY",
    "DD_APPLICATION_KEY",
    "DD_SITE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def write_loaded(tmp_path: Path, metrics: str, source_extra: str) -> LoadedPlan:
    text = PLAN_HEAD + metrics.replace("{source_extra}", source_extra) + GUARDRAILS
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return load_plan(path)


def prometheus_plan(tmp_path: Path, url: str | None = PROM_URL) -> LoadedPlan:
    extra = f"    url: {url}\n" if url else ""
    return write_loaded(tmp_path, PROMETHEUS_METRICS, extra)


def datadog_plan(tmp_path: Path, source_extra: str = "    url: https://dd.example\n") -> LoadedPlan:
    return write_loaded(tmp_path, DATADOG_METRICS, source_extra)


@pytest.fixture
def prometheus(tmp_path: Path) -> PrometheusSource:
    source = open_source(prometheus_plan(tmp_path))
    assert isinstance(source, PrometheusSource)
    return source


@pytest.fixture
def datadog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatadogSource:
    monkeypatch.setenv("DD_API_KEY", "api-key")
    monkeypatch.setenv("DD_APP_KEY", "app-key")
    source = open_source(datadog_plan(tmp_path))
    assert isinstance(source, DatadogSource)
    return source


def prom_call(path: str = "/api/v1/query") -> Call:
    return Call("prometheus", PROM_URL, path, {"query": "q"})


def dd_call() -> Call:
    return Call("datadog", "https://dd.example", "/api/v1/query", {"query": "q"})


def prom_error(status: int, error_type: str, error: str) -> httpx.Response:
    return httpx.Response(status, json={"status": "error", "errorType": error_type, "error": error})


def prom_success(result_type: str, result: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": result_type, "result": result}}
    )


def failure(source: Any, call: Call, response: httpx.Response) -> QueryFailure:
    with pytest.raises(QueryFailure) as info:
        source.parse(call, response)
    return info.value


def same(actual: np.ndarray, expected: list[float]) -> bool:
    """Equal element by element, NaN where NaN is expected."""
    return np.array_equal(actual, np.array(expected), equal_nan=True)


# ---------------------------------------------------------------- Prometheus: calls


def test_prometheus_total_is_one_instant_query_at_the_window_end(
    prometheus: PrometheusSource,
) -> None:
    need = Need("counter", "errors", T, WINDOW)
    assert prometheus.resolve(need) == [
        ResolvedQuery(
            "prometheus",
            'sum(increase(http_requests_total{variant="true",status="500"}[2h]))',
            {"time": "1793620800"},
        )
    ]
    fetch = prometheus.fetch_for(need)
    assert fetch == Fetch("errors", "treatment", "true", START, END, None)
    [call] = prometheus.calls(fetch, prometheus.rendered(fetch))
    assert call.base_url == PROM_URL
    assert call.path == "/api/v1/query"
    assert call.method == "POST"  # a form body: long queries never meet URL limits
    assert call.params == {
        "query": 'sum(increase(http_requests_total{variant="true",status="500"}[2h]))',
        "time": "1793620800",
    }
    assert call.timeout == 10.0


def test_prometheus_total_window_renders_odd_lengths_to_the_millisecond(
    prometheus: PrometheusSource,
) -> None:
    window = Window(START, START + timedelta(minutes=59, seconds=59.5))
    [resolved] = prometheus.resolve(Need("counter", "requests", C, window))
    assert resolved.text == 'sum(increase(http_requests_total{variant="false"}[59m59s500ms]))'
    assert resolved.params == {"time": "1793617199.5"}


def test_prometheus_empty_window_takes_no_call(prometheus: PrometheusSource) -> None:
    assert prometheus.resolve(Need("counter", "requests", T, Window(START, START))) == []


def test_prometheus_series_is_a_range_query_over_whole_steps(
    prometheus: PrometheusSource,
) -> None:
    # 2 h 30 s: 120 whole minutes; the partial last one is left for the next check
    window = Window(START, END + timedelta(seconds=30))
    need = Need("counter_series", "requests", T, window, MINUTE)
    assert prometheus.resolve(need) == [
        ResolvedQuery(
            "prometheus",
            'sum(increase(http_requests_total{variant="true"}[1m]))',
            {"start": "1793613660", "end": "1793620800", "step": "60"},
        )
    ]
    fetch = prometheus.fetch_for(need)
    [call] = prometheus.calls(fetch, prometheus.rendered(fetch))
    assert call.path == "/api/v1/query_range"


def test_prometheus_values_use_the_query_step_not_the_interval(
    prometheus: PrometheusSource,
) -> None:
    need = Need("moment_series", "latency", T, WINDOW, MINUTE)
    assert prometheus.fetch_for(need).step == timedelta(minutes=5)
    [resolved] = prometheus.resolve(need)
    assert resolved.text == (
        "histogram_quantile(0.99, sum by (le)"
        '(rate(http_request_duration_seconds_bucket{variant="true"}[5m])))'
    )
    assert resolved.params == {"start": "1793613900", "end": "1793620800", "step": "300"}
    # values() reads the same per-step fetch
    assert prometheus.fetch_for(Need("values", "latency", T, WINDOW)) == prometheus.fetch_for(need)


def test_prometheus_long_range_is_split_into_requests_of_at_most_10000_points(
    prometheus: PrometheusSource,
) -> None:
    window = Window(START, START + timedelta(days=8))  # 11,520 minutes
    resolved = prometheus.resolve(Need("counter_series", "requests", T, window, MINUTE))
    spans = [
        (float(r.params["start"]), float(r.params["end"]), float(r.params["step"]))
        for r in resolved
    ]
    assert spans == [
        (S + 60, S + 10_000 * 60, 60.0),
        (S + 10_001 * 60, S + 11_520 * 60, 60.0),
    ]
    points = [round((end - start) / step) + 1 for start, end, step in spans]
    assert points == [10_000, 1_520]
    # tiled exactly: each request starts one step after the previous one ends
    assert spans[1][0] == spans[0][1] + 60
    assert spans[-1][1] == window.end.timestamp()
    assert {r.text for r in resolved} == {'sum(increase(http_requests_total{variant="true"}[1m]))'}


def test_prometheus_range_of_exactly_10000_points_is_one_request(
    prometheus: PrometheusSource,
) -> None:
    window = Window(START, START + 10_000 * MINUTE)
    resolved = prometheus.resolve(Need("counter_series", "requests", T, window, MINUTE))
    assert [r.params for r in resolved] == [
        {"start": "1793613660", "end": str(int(S) + 600_000), "step": "60"}
    ]


def test_prometheus_range_shorter_than_one_step_takes_no_call(
    prometheus: PrometheusSource,
) -> None:
    window = Window(START, START + timedelta(seconds=59))
    assert prometheus.resolve(Need("counter_series", "requests", T, window, MINUTE)) == []


def test_prometheus_describe_names_the_backend_and_the_query(
    prometheus: PrometheusSource,
) -> None:
    assert prometheus.describe("errors", C, WINDOW) == (
        'prometheus: sum(increase(http_requests_total{variant="false",status="500"}[2h]))'
    )


# ---------------------------------------------------------------- Prometheus: answers


def test_prometheus_vector_value_is_a_point(prometheus: PrometheusSource) -> None:
    response = prom_success("vector", [{"metric": {}, "value": [1704067200, "3600"]}])
    assert prometheus.parse(prom_call(), response) == Points((1704067200.0,), (3600.0,))


def test_prometheus_vector_fractional_value(prometheus: PrometheusSource) -> None:
    response = prom_success(
        "vector", [{"metric": {}, "value": [1704067200.5, "2515.481171548117"]}]
    )
    assert prometheus.parse(prom_call(), response) == Points((1704067200.5,), (2515.481171548117,))


def test_prometheus_nan_value_is_no_data(prometheus: PrometheusSource) -> None:
    response = prom_success("vector", [{"metric": {}, "value": [1704067200, "NaN"]}])
    assert prometheus.parse(prom_call(), response) == NoData("the query gave NaN")


@pytest.mark.parametrize("raw", ["+Inf", "-Inf"])
def test_prometheus_infinite_value_is_a_point_the_verbs_refuse(
    prometheus: PrometheusSource, raw: str
) -> None:
    """Infinity is not missing data: it is a number the backend made up (a quantile past
    the last bucket), passed on so the verbs can hold on it by name."""
    response = prom_success("vector", [{"metric": {}, "value": [1704067200, raw]}])
    assert prometheus.parse(prom_call(), response) == Points((1704067200.0,), (float(raw),))


def test_prometheus_empty_result_is_no_data(prometheus: PrometheusSource) -> None:
    answer = prometheus.parse(prom_call(), prom_success("vector", []))
    assert answer == NoData("the query matched no series")


def test_prometheus_two_series_are_ambiguous_and_named_by_their_labels(
    prometheus: PrometheusSource,
) -> None:
    response = prom_success(
        "vector",
        [
            {"metric": {"variant": "control"}, "value": [1704067200, "0.01"]},
            {"metric": {"variant": "treatment"}, "value": [1704067200, "0.05"]},
        ],
    )
    error = failure(prometheus, prom_call(), response)
    assert error.kind == "ambiguous"
    assert error.backend == "prometheus"
    assert error.detail == (
        "the query gave 2 series where one was expected "
        '({variant="control"}; {variant="treatment"})'
    )
    assert error.hint is not None and "sum(" in error.hint


def test_prometheus_many_series_name_three_and_count_the_rest(
    prometheus: PrometheusSource,
) -> None:
    result = [
        {"metric": {"variant": str(i), "job": "api"}, "value": [1704067200, "1"]} for i in range(5)
    ]
    error = failure(prometheus, prom_call(), prom_success("vector", result))
    assert error.detail == (
        "the query gave 5 series where one was expected "
        '({job="api", variant="0"}; {job="api", variant="1"}; {job="api", variant="2"} '
        "and 2 more)"
    )


def test_prometheus_matrix_values_are_points(prometheus: PrometheusSource) -> None:
    response = prom_success(
        "matrix",
        [
            {
                "metric": {},
                "values": [[1704052800, "0.01"], [1704056400, "NaN"], [1704060000, "0.05"]],
            }
        ],
    )
    answer = prometheus.parse(prom_call("/api/v1/query_range"), response)
    assert isinstance(answer, Points)
    assert answer.times == (1704052800.0, 1704056400.0, 1704060000.0)
    assert answer.values[0] == 0.01 and answer.values[2] == 0.05
    assert math.isnan(answer.values[1])


def test_prometheus_matrix_of_a_thousand_points_reads_every_value(
    prometheus: PrometheusSource,
) -> None:
    pairs: list[list[Any]] = [[1704052800 + 60 * i, str(i / 4)] for i in range(1000)]
    pairs[10] = [1704053400.5, "+Inf"]
    response = prom_success("matrix", [{"metric": {}, "values": pairs}])
    answer = prometheus.parse(prom_call("/api/v1/query_range"), response)
    assert isinstance(answer, Points)
    assert answer.times[:3] == (1704052800.0, 1704052860.0, 1704052920.0)
    assert answer.times[10] == 1704053400.5 and answer.values[10] == math.inf
    assert answer.values[999] == 249.75 and len(answer.values) == 1000


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ([True, "1"], "a timestamp True that is not a number of seconds"),
        (["1704052800", "1"], "a timestamp '1704052800' that is not a number of seconds"),
        ([1704052800, "x"], "a value 'x' that is not a number"),
        ([1704052800, False], "a value False that is not a number"),
        ([1704052800], "a sample a list that is not a [time, value] pair"),
        ([1704052800, "1", "2"], "a sample a list that is not a [time, value] pair"),
        ("1704052800", "a sample '1704052800' that is not a [time, value] pair"),
    ],
)
def test_prometheus_matrix_with_one_bad_sample_is_malformed_naming_it(
    prometheus: PrometheusSource, pair: Any, message: str
) -> None:
    pairs = [[1704052800, "0.5"], pair, [1704052920, "0.7"]]
    response = prom_success("matrix", [{"metric": {}, "values": pairs}])
    error = failure(prometheus, prom_call("/api/v1/query_range"), response)
    assert error.kind == "malformed"
    assert error.detail == f"malformed answer: {message}"


def test_prometheus_matrix_number_values_are_taken_like_strings(
    prometheus: PrometheusSource,
) -> None:
    pairs = [[1704052800, 0.5], [1704052860.25, "2"], [1704052920, None]]
    response = prom_success("matrix", [{"metric": {}, "values": pairs}])
    answer = prometheus.parse(prom_call("/api/v1/query_range"), response)
    assert isinstance(answer, Points)
    assert answer.times == (1704052800.0, 1704052860.25, 1704052920.0)
    assert answer.values[:2] == (0.5, 2.0) and math.isnan(answer.values[2])


def test_prometheus_scalar_is_a_point(prometheus: PrometheusSource) -> None:
    response = prom_success("scalar", [1704067200, "4320"])
    assert prometheus.parse(prom_call(), response) == Points((1704067200.0,), (4320.0,))


def test_prometheus_scalar_nan_is_no_data(prometheus: PrometheusSource) -> None:
    response = prom_success("scalar", [1704067200, "NaN"])
    assert prometheus.parse(prom_call(), response) == NoData("the query gave NaN")


def test_prometheus_400_bad_data_is_rejected_with_the_servers_message(
    prometheus: PrometheusSource,
) -> None:
    message = 'invalid parameter "query": 1:34: parse error: unclosed left parenthesis'
    error = failure(prometheus, prom_call(), prom_error(400, "bad_data", message))
    assert error.kind == "rejected"
    assert error.detail == f"query rejected (400 bad_data: {message})"
    assert error.hint == "fix the query template in metrics.queries"
    assert str(error) == (
        f"prometheus: query rejected (400 bad_data: {message}) "
        "(hint: fix the query template in metrics.queries)"
    )


def test_victoriametrics_422_with_the_status_as_error_type_says_it_once(
    prometheus: PrometheusSource,
) -> None:
    """VictoriaMetrics answers a parse error with HTTP 422 and ``errorType: "422"``."""
    message = 'argList: unexpected token ""; want ",", ")"; unparsed data: ""'
    error = failure(prometheus, prom_call(), prom_error(422, "422", message))
    assert error.kind == "rejected"
    assert error.detail == f"query rejected (422: {message})"


def test_prometheus_422_execution_is_rejected(prometheus: PrometheusSource) -> None:
    message = 'found duplicate series for the match group {variant="control"}'
    error = failure(prometheus, prom_call(), prom_error(422, "execution", message))
    assert error.kind == "rejected"
    assert error.detail == f"query rejected (422 execution: {message})"


def test_prometheus_503_timeout_is_unreachable(prometheus: PrometheusSource) -> None:
    message = "query timed out in expression evaluation"
    error = failure(prometheus, prom_call(), prom_error(503, "timeout", message))
    assert error.kind == "unreachable"
    assert error.detail == f"query failed (503 timeout: {message})"


@pytest.mark.parametrize("status", [401, 403])
def test_prometheus_401_is_unauthorized_and_names_the_token_variable(
    prometheus: PrometheusSource, status: int
) -> None:
    response = httpx.Response(status, text="Unauthorized")
    error = failure(prometheus, prom_call(), response)
    assert error.kind == "unauthorized"
    assert error.detail == f"{status} from {PROM_URL}: not authorised to query"
    assert error.hint is not None
    assert "PROMETHEUS_TOKEN" in error.hint
    assert "PROMETHEUS_USERNAME" in error.hint and "PROMETHEUS_PASSWORD" in error.hint


def test_prometheus_404_text_plain_says_it_is_not_a_prometheus_api(
    prometheus: PrometheusSource,
) -> None:
    response = httpx.Response(
        404, text="404 page not found", headers={"Content-Type": "text/plain"}
    )
    error = failure(prometheus, prom_call(), response)
    assert error.kind == "unreachable"
    assert error.detail == f"404 from {PROM_URL}/api/v1/query: not a Prometheus HTTP API"
    assert error.hint == "metrics.source.url is the server's base URL, without /api/v1"


def test_prometheus_429_is_rate_limited(prometheus: PrometheusSource) -> None:
    error = failure(prometheus, prom_call(), httpx.Response(429, text="slow down"))
    assert error.kind == "rate_limited"


def test_prometheus_unexpected_html_answer_is_unreachable(prometheus: PrometheusSource) -> None:
    response = httpx.Response(502, text="<html>Bad gateway</html>")
    error = failure(prometheus, prom_call(), response)
    assert error.kind == "unreachable"
    assert error.detail == f"unexpected 502 answer from {PROM_URL}/api/v1/query"


# ---------------------------------------------------------------- Datadog: answers


def dd_body(series: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": "q",
        "message": "",
        "group_by": [],
        "series": series,
    }


def dd_series(scope: str, pointlist: list[list[Any]]) -> dict[str, Any]:
    return {
        "metric": "http.requests",
        "scope": scope,
        "expression": "sum:http.requests{" + scope + "}",
        "interval": 60,
        "length": len(pointlist),
        "pointlist": pointlist,
    }


def test_datadog_pointlist_is_points_in_seconds_with_nan_for_null(datadog: DatadogSource) -> None:
    response = httpx.Response(
        200,
        json=dd_body(
            [dd_series("variant:true", [[1641344100000.0, 91.5], [1641344160000.0, None]])]
        ),
    )
    answer = datadog.parse(dd_call(), response)
    assert isinstance(answer, Points)
    assert answer.times == (1641344100.0, 1641344160.0)
    assert answer.values[0] == 91.5
    assert math.isnan(answer.values[1])


def test_datadog_no_series_is_no_data(datadog: DatadogSource) -> None:
    answer = datadog.parse(dd_call(), httpx.Response(200, json=dd_body([])))
    assert answer == NoData("the query matched no series")


def test_datadog_two_series_are_ambiguous_and_named_by_scope(datadog: DatadogSource) -> None:
    response = httpx.Response(
        200,
        json=dd_body(
            [
                dd_series("variant:true,region:eu", [[1641344100000.0, 1.0]]),
                dd_series("variant:true,region:us", [[1641344100000.0, 2.0]]),
            ]
        ),
    )
    error = failure(datadog, dd_call(), response)
    assert error.kind == "ambiguous"
    assert error.detail == (
        "the query gave 2 series where one was expected "
        "(variant:true,region:eu; variant:true,region:us)"
    )
    assert error.hint is not None and "by {...}" in error.hint


def test_datadog_400_is_rejected_with_the_message(datadog: DatadogSource) -> None:
    response = httpx.Response(
        400, json={"errors": ["The value provided for parameter 'query' is invalid"]}
    )
    error = failure(datadog, dd_call(), response)
    assert error.kind == "rejected"
    assert error.detail == (
        "query rejected (400: The value provided for parameter 'query' is invalid)"
    )


@pytest.mark.parametrize("status", [401, 403])
def test_datadog_403_is_unauthorized_and_names_the_key_variables(
    datadog: DatadogSource, status: int
) -> None:
    response = httpx.Response(status, json={"errors": ["Forbidden"]})
    error = failure(datadog, dd_call(), response)
    assert error.kind == "unauthorized"
    assert error.detail == f"not authorised ({status}: Forbidden) at https://dd.example"
    assert error.hint is not None
    assert "DD_API_KEY" in error.hint and "DD_APP_KEY" in error.hint
    assert "timeseries_query" in error.hint


def test_datadog_200_with_status_error_is_rejected(datadog: DatadogSource) -> None:
    response = httpx.Response(
        200, json={"status": "error", "error": "Error parsing query", "series": []}
    )
    error = failure(datadog, dd_call(), response)
    assert error.kind == "rejected"
    assert error.detail == "query rejected: Error parsing query"


def test_datadog_429_is_rate_limited_and_says_when_it_resets(datadog: DatadogSource) -> None:
    response = httpx.Response(
        429, json={"errors": ["Too many requests"]}, headers={"x-ratelimit-reset": "7"}
    )
    error = failure(datadog, dd_call(), response)
    assert error.kind == "rate_limited"
    assert error.detail == "rate limited (429: Too many requests); resets in 7 s"


def test_datadog_calls_span_the_window_in_whole_seconds(datadog: DatadogSource) -> None:
    window = Window(START + timedelta(seconds=0.5), END + timedelta(seconds=0.9))
    assert datadog.resolve(Need("counter", "requests", T, window)) == [
        ResolvedQuery(
            "datadog",
            "sum:http.requests{flag:checkout-v2,variant:true}.as_count().rollup(sum, 7200)",
            {"from": "1793613600", "to": "1793620800"},
        )
    ]
    series = datadog.resolve(Need("counter_series", "requests", C, WINDOW, MINUTE))
    assert series == [
        ResolvedQuery(
            "datadog",
            "sum:http.requests{flag:checkout-v2,variant:false}.as_count().rollup(sum, 60)",
            {"from": "1793613600", "to": "1793620800"},
        )
    ]
    fetch = datadog.fetch_for(Need("counter", "requests", T, WINDOW))
    [call] = datadog.calls(fetch, datadog.rendered(fetch))
    assert call.base_url == "https://dd.example"
    assert call.path == "/api/v1/query"
    assert call.headers == {"DD-API-KEY": "api-key", "DD-APPLICATION-KEY": "app-key"}


def test_datadog_values_without_a_step_use_the_plan_interval(datadog: DatadogSource) -> None:
    fetch = datadog.fetch_for(Need("values", "latency", T, WINDOW))
    assert fetch.step == MINUTE
    assert datadog.rendered(fetch) == (
        "p99:http.latency{flag:checkout-v2,variant:true}.rollup(max, 60)"
    )


# ---------------------------------------------------------------- bucketing


def seed(source: Any, need: Need, answer: Any) -> Fetch:
    fetch: Fetch = source.fetch_for(need)
    source._answers[fetch] = answer
    return fetch


FIVE = Window(START, START + timedelta(minutes=5))


def test_prometheus_points_are_bucketed_by_the_end_of_what_they_cover(
    prometheus: PrometheusSource,
) -> None:
    need = Need("counter_series", "requests", T, FIVE, MINUTE)
    seed(
        prometheus,
        need,
        Points(
            (S + 60, S + 120, S + 180, S + 300),
            (10.0, 20.0, math.nan, 50.0),
        ),
    )
    series = prometheus.counter_series("requests", T, FIVE, MINUTE)
    assert series is not None
    # S+60 covers (S, S+60]: interval 0; NaN stays missing; S+300 is the last interval
    assert same(series, [10.0, 20.0, math.nan, math.nan, 50.0])
    assert prometheus.misses == 0


def test_a_released_source_keeps_no_answers_and_still_resolves_its_calls(
    prometheus: PrometheusSource,
) -> None:
    need = Need("counter_series", "requests", T, FIVE, MINUTE)
    seed(prometheus, need, Points((S + 60,), (10.0,)))
    before = prometheus.resolve(need)
    prometheus.release()
    assert prometheus._answers == {}
    assert prometheus.resolve(need) == before
    with pytest.raises(AssertionError, match="answers read after release"):
        prometheus.counter_series("requests", T, FIVE, MINUTE)  # never fetched again
    assert prometheus.misses == 0


def test_prometheus_point_at_window_start_is_clamped_into_interval_0(
    prometheus: PrometheusSource,
) -> None:
    seed(
        prometheus,
        Need("counter_series", "requests", T, FIVE, MINUTE),
        Points((S, S + 60.5, S + 61), (1.0, 2.0, 4.0)),
    )
    series = prometheus.counter_series("requests", T, FIVE, MINUTE)
    assert series is not None
    assert same(series, [1.0, 6.0, math.nan, math.nan, math.nan])


def test_datadog_points_are_bucketed_by_their_start(datadog: DatadogSource) -> None:
    seed(
        datadog,
        Need("counter_series", "requests", T, FIVE, MINUTE),
        Points(
            (S - 30, S, S + 60, S + 119, S + 240),
            (1.0, 2.0, 3.0, 4.0, 5.0),
        ),
    )
    series = datadog.counter_series("requests", T, FIVE, MINUTE)
    assert series is not None
    # S-30 straddles the window's start: clamped into interval 0, with the point at S
    assert same(series, [3.0, 7.0, math.nan, math.nan, 5.0])


def test_datadog_point_at_window_end_is_clamped_into_the_last_interval(
    datadog: DatadogSource,
) -> None:
    seed(
        datadog,
        Need("counter_series", "requests", T, FIVE, MINUTE),
        Points((S + 300,), (9.0,)),
    )
    series = datadog.counter_series("requests", T, FIVE, MINUTE)
    assert series is not None
    assert same(series, [math.nan, math.nan, math.nan, math.nan, 9.0])


def test_partial_last_interval_counts_as_an_interval(prometheus: PrometheusSource) -> None:
    window = Window(START, START + timedelta(minutes=2, seconds=30))
    seed(
        prometheus,
        Need("counter_series", "requests", T, window, MINUTE),
        Points((S + 60, S + 120), (1.0, 2.0)),
    )
    series = prometheus.counter_series("requests", T, window, MINUTE)
    assert series is not None
    assert same(series, [1.0, 2.0, math.nan])


def test_counter_series_of_no_data_is_none(prometheus: PrometheusSource) -> None:
    seed(prometheus, Need("counter_series", "requests", T, FIVE, MINUTE), NoData("nothing"))
    assert prometheus.counter_series("requests", T, FIVE, MINUTE) is None


def test_counter_sums_finite_values_and_is_none_without_any(
    prometheus: PrometheusSource,
) -> None:
    seed(prometheus, Need("counter", "requests", T, WINDOW), Points((S, S + 1), (3600.0, 1.5)))
    assert prometheus.counter("requests", T, WINDOW) == 3601.5
    seed(prometheus, Need("counter", "requests", C, WINDOW), Points((S,), (math.nan,)))
    assert prometheus.counter("requests", C, WINDOW) is None
    seed(prometheus, Need("counter", "errors", T, WINDOW), NoData("the query matched no series"))
    assert prometheus.counter("errors", T, WINDOW) is None


def test_values_summarise_finite_points_and_keep_them_as_samples(
    prometheus: PrometheusSource,
) -> None:
    seed(
        prometheus,
        Need("values", "latency", T, WINDOW),
        Points((S + 300, S + 600, S + 900), (1.0, math.nan, 3.0)),
    )
    data = prometheus.values("latency", T, WINDOW)
    assert data is not None
    assert (data.n, data.mean, data.samples) == (2, 2.0, (1.0, 3.0))
    assert data.sd == pytest.approx(math.sqrt(2))


def test_values_of_only_nan_points_is_none(prometheus: PrometheusSource) -> None:
    seed(prometheus, Need("values", "latency", T, WINDOW), Points((S + 300,), (math.nan,)))
    assert prometheus.values("latency", T, WINDOW) is None


def test_moment_series_with_log_sums_count_log_and_log_squared(
    prometheus: PrometheusSource,
) -> None:
    need = Need("moment_series", "latency", T, FIVE, MINUTE, True)
    # the latency query steps by 5m; these points fall in intervals 0, 0 and 3
    seed(prometheus, need, Points((S + 30, S + 60, S + 240), (2.0, 8.0, 0.5)))
    series = prometheus.moment_series("latency", T, FIVE, MINUTE, True)
    assert series is not None
    a, b, c = math.log(2.0), math.log(8.0), math.log(0.5)
    assert same(series.n, [2.0, math.nan, math.nan, 1.0, math.nan])
    assert same(series.total, [a + b, math.nan, math.nan, c, math.nan])
    assert same(series.total_sq, [a * a + b * b, math.nan, math.nan, c * c, math.nan])


def test_moment_series_linear_uses_the_values_themselves(datadog: DatadogSource) -> None:
    need = Need("moment_series", "latency", T, FIVE, MINUTE, False)
    seed(datadog, need, Points((S, S + 30, S + 60), (2.0, 3.0, 4.0)))
    series = datadog.moment_series("latency", T, FIVE, MINUTE, False)
    assert series is not None
    assert same(series.n, [2.0, 1.0, math.nan, math.nan, math.nan])
    assert same(series.total, [5.0, 4.0, math.nan, math.nan, math.nan])
    assert same(series.total_sq, [13.0, 16.0, math.nan, math.nan, math.nan])


@pytest.mark.parametrize("bad", [0.0, -1.5])
def test_moment_series_with_log_refuses_a_value_not_above_zero(
    prometheus: PrometheusSource, bad: float
) -> None:
    need = Need("moment_series", "latency", T, FIVE, MINUTE, True)
    seed(prometheus, need, Points((S + 60, S + 120), (2.0, bad)))
    with pytest.raises(QueryFailure) as info:
        prometheus.moment_series("latency", T, FIVE, MINUTE, True)
    assert info.value.kind == "rejected"
    assert info.value.detail.startswith(
        f"metric latency (treatment) has a value {bad:g} <= 0, which scale: log cannot take; "
        "query: histogram_quantile("
    )
    assert 'variant="true"}[5m]' in info.value.detail


def test_moment_series_of_only_nan_is_none(prometheus: PrometheusSource) -> None:
    need = Need("moment_series", "latency", T, FIVE, MINUTE, False)
    seed(prometheus, need, Points((S + 60,), (math.nan,)))
    assert prometheus.moment_series("latency", T, FIVE, MINUTE, False) is None


def test_cached_query_failure_is_raised_naming_metric_cohort_and_query(
    prometheus: PrometheusSource,
) -> None:
    seed(
        prometheus,
        Need("counter", "errors", C, WINDOW),
        QueryFailure(
            "prometheus",
            "rejected",
            "query rejected (400 bad_data: parse error)",
            hint="fix the query template in metrics.queries",
        ),
    )
    with pytest.raises(QueryFailure) as info:
        prometheus.counter("errors", C, WINDOW)
    error = info.value
    assert error.kind == "rejected"
    assert error.backend == "prometheus"
    assert error.detail == (
        "metric errors (control): query rejected (400 bad_data: parse error); query: "
        'sum(increase(http_requests_total{variant="false",status="500"}[2h]))'
    )
    assert error.hint == "fix the query template in metrics.queries"
    assert str(error) == (
        "prometheus: " + error.detail + " (hint: fix the query template in metrics.queries)"
    )


def test_cached_transport_error_is_raised_as_unreachable_with_context(
    prometheus: PrometheusSource,
) -> None:
    seed(
        prometheus,
        Need("counter_series", "requests", T, FIVE, MINUTE),
        BackendError(
            "prometheus",
            f"cannot reach {PROM_URL} (connection refused)",
            hint="check the URL and that the server is up",
        ),
    )
    with pytest.raises(QueryFailure) as info:
        prometheus.counter_series("requests", T, FIVE, MINUTE)
    assert info.value.kind == "unreachable"
    assert info.value.detail == (
        f"metric requests (treatment): cannot reach {PROM_URL} (connection refused); "
        'query: sum(increase(http_requests_total{variant="true"}[1m]))'
    )
    assert info.value.hint == "check the URL and that the server is up"


# ---------------------------------------------------------------- configuration


def test_prometheus_has_no_auth_headers_by_default(prometheus: PrometheusSource) -> None:
    assert prometheus.headers == {}
    assert prometheus.url == PROM_URL


def test_prometheus_token_is_a_bearer_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_TOKEN", "glc_abc123")
    monkeypatch.setenv("PROMETHEUS_USERNAME", "ignored-when-a-token-is-set")
    source = open_source(prometheus_plan(tmp_path))
    assert isinstance(source, PrometheusSource)
    assert source.headers == {"Authorization": "Bearer glc_abc123"}


def test_prometheus_username_and_password_are_basic_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_USERNAME", "alice")
    monkeypatch.setenv("PROMETHEUS_PASSWORD", "s3cret")
    source = open_source(prometheus_plan(tmp_path))
    assert isinstance(source, PrometheusSource)
    assert source.headers == {"Authorization": "Basic YWxpY2U6czNjcmV0"}  # alice:s3cret


def test_prometheus_org_id_sets_x_scope_orgid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_ORG_ID", "tenant-1")
    monkeypatch.setenv("PROMETHEUS_TOKEN", "t")
    source = open_source(prometheus_plan(tmp_path))
    assert isinstance(source, PrometheusSource)
    assert source.headers == {"Authorization": "Bearer t", "X-Scope-OrgID": "tenant-1"}
    fetch = source.fetch_for(Need("counter", "requests", T, WINDOW))
    [call] = source.calls(fetch, source.rendered(fetch))
    assert call.headers == {"Authorization": "Bearer t", "X-Scope-OrgID": "tenant-1"}


def test_prometheus_without_a_url_names_prometheus_url(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        open_source(prometheus_plan(tmp_path, url=None))
    assert "PROMETHEUS_URL" in str(info.value)
    assert "metrics.source.url" in str(info.value)


def test_prometheus_url_from_the_environment_loses_its_trailing_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_URL", "http://prom.internal:9090/")
    source = open_source(prometheus_plan(tmp_path, url=None))
    assert isinstance(source, PrometheusSource)
    assert source.url == "http://prom.internal:9090"


def test_prometheus_url_without_a_scheme_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_URL", "prom.internal:9090")
    with pytest.raises(InvalidInputError) as info:
        open_source(prometheus_plan(tmp_path, url=None))
    assert "must start with http:// or https://" in str(info.value)


def test_datadog_site_from_the_environment_sets_the_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_API_KEY", "a")
    monkeypatch.setenv("DD_APP_KEY", "b")
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")
    source = open_source(datadog_plan(tmp_path, source_extra=""))
    assert isinstance(source, DatadogSource)
    assert source.url == "https://api.datadoghq.eu"
    assert source.site == "datadoghq.eu"


def test_datadog_defaults_to_the_us1_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", "a")
    monkeypatch.setenv("DD_APP_KEY", "b")
    source = open_source(datadog_plan(tmp_path, source_extra=""))
    assert isinstance(source, DatadogSource)
    assert source.url == "https://api.datadoghq.com"


def test_datadog_site_in_the_plan_wins_over_dd_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_API_KEY", "a")
    monkeypatch.setenv("DD_APP_KEY", "b")
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")
    source = open_source(datadog_plan(tmp_path, source_extra="    site: us5.datadoghq.com\n"))
    assert isinstance(source, DatadogSource)
    assert source.url == "https://api.us5.datadoghq.com"


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({"DD_APP_KEY": "b"}, "set DD_API_KEY in the environment"),
        ({"DD_API_KEY": "a"}, "set DD_APP_KEY in the environment"),
        ({}, "set DD_API_KEY and DD_APP_KEY in the environment"),
        ({"DD_API_KEY": "  ", "DD_APP_KEY": "b"}, "set DD_API_KEY in the environment"),
    ],
)
def test_datadog_missing_keys_name_the_missing_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInputError) as info:
        open_source(datadog_plan(tmp_path))
    assert missing in str(info.value)


def test_datadog_application_key_variable_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_API_KEY", "api")
    monkeypatch.setenv("DD_APPLICATION_KEY", "app")
    source = open_source(datadog_plan(tmp_path))
    assert isinstance(source, DatadogSource)
    assert source.headers == {"DD-API-KEY": "api", "DD-APPLICATION-KEY": "app"}


def test_datadog_blank_dd_site_falls_back_to_the_default_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_API_KEY", "a")
    monkeypatch.setenv("DD_APP_KEY", "b")
    monkeypatch.setenv("DD_SITE", " ")
    source = open_source(datadog_plan(tmp_path, source_extra=""))
    assert isinstance(source, DatadogSource)
    assert source.url == "https://api.datadoghq.com"


# ---------------------------------------------------------------- what users are shown


def test_no_data_message_of_a_counter_shows_the_query_as_run(tmp_path: Path) -> None:
    loaded = prometheus_plan(tmp_path)
    source = open_source(loaded)
    assert isinstance(source, PrometheusSource)
    for metric in ("errors", "requests"):
        for cohort in (T, C):
            seed(source, Need("counter", metric, cohort, WINDOW), NoData("no series"))
    guardrail = loaded.plan.guardrails[0]
    assert isinstance(guardrail, RatioGuardrail)
    obs = _ratio(guardrail, source, T, C, WINDOW)
    [run] = source.resolve(Need("counter", "requests", T, WINDOW))
    assert obs.problem == f"requests (treatment) has no data in the window · prometheus: {run.text}"


def test_no_data_message_of_a_value_metric_shows_the_query_as_run(tmp_path: Path) -> None:
    loaded = prometheus_plan(tmp_path)
    source = open_source(loaded)
    assert isinstance(source, PrometheusSource)
    for cohort in (T, C):
        seed(source, Need("values", "latency", cohort, WINDOW), NoData("no series"))
    guardrail = loaded.plan.guardrails[1]
    assert isinstance(guardrail, MeanGuardrail)
    obs = _values(guardrail, source, T, C, WINDOW)
    [run] = source.resolve(Need("values", "latency", T, WINDOW))
    assert run.text.endswith("[5m])))")
    assert obs.problem == f"latency (treatment) has no data in the window · prometheus: {run.text}"
