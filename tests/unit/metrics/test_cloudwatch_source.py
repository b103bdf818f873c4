"""The cloudwatch source's pure parts: periods, requests, pages, answers, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from rolloutcli.metrics.base import Cohort, Need, QueryFailure, Window
from rolloutcli.metrics.cloudwatch import (
    CloudWatchSource,
    aligned,
    failure,
    fetch_pages,
    grain,
    merge_pages,
    metric_queries,
    open_cloudwatch,
    period_for,
    read_results,
)
from rolloutcli.metrics.querying import Malformed, NoData, Points
from rolloutcli.plan.cloudwatchquery import (
    CloudWatchQuery,
    MetricStat,
    one_line,
    parse_query,
    query_problem,
)
from rolloutcli.support.errors import InvalidInputError
from tests.unit.metrics.test_metrics_query_sources import write_loaded

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
T0 = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- query text


def test_one_metric_stat_with_dimensions() -> None:
    query = parse_query('Checkout Errors Sum Flag=x "Route=/a b"')
    assert query == CloudWatchQuery(
        (), MetricStat("Checkout", "Errors", "Sum", (("Flag", "x"), ("Route", "/a b")))
    )


def test_metric_math_over_named_metrics() -> None:
    query = parse_query("e4 = AWS/ELB E4 Sum LB=a\ne5 = AWS/ELB E5 Sum LB=a\ne4 + e5")
    assert query.returned == "e4 + e5"
    assert [ident for ident, _ in query.named] == ["e4", "e5"]
    assert query.named[1][1] == MetricStat("AWS/ELB", "E5", "Sum", (("LB", "a"),))
    assert parse_query("a = N M Sum; a * 2") == CloudWatchQuery(
        (("a", MetricStat("N", "M", "Sum", ())),), "a * 2"
    )


def test_an_expression_on_its_own_starts_with_equals() -> None:
    query = parse_query("=SUM(SEARCH('{Checkout,Variant} Variant=\"{cohort}\"', 'Sum', 60))")
    assert query.returned == "SUM(SEARCH('{Checkout,Variant} Variant=\"{cohort}\"', 'Sum', 60))"


def test_one_line_joins_the_lines() -> None:
    assert one_line("e = N M Sum\n\n  e  \n") == "e = N M Sum; e"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Checkout Errors", "a metric is Namespace MetricName Stat"),
        ("Checkout Errors Total", "'Total' is not a CloudWatch statistic"),
        ("Checkout Errors Sum Variant", "'Variant': a dimension is Name=Value"),
        ("a = N M Sum\nb = N M Sum", "this one has 0 unnamed lines"),
        ("N M Sum\nN M Sum", "this one has 2 unnamed lines"),
        ("result = N M Sum\nresult", "the id 'result' is taken"),
        ("a = N M Sum\na = N M Sum\na", "the id 'a' is named twice"),
        ("Checkout 'Errors Sum", "cannot read"),
    ],
)
def test_query_problems_name_what_is_wrong(text: str, problem: str) -> None:
    found = query_problem(text)
    assert found is not None and problem in found, found


@pytest.mark.parametrize("stat", ["Sum", "Average", "SampleCount", "p99", "p99.9", "tm90", "IQM"])
def test_statistics_are_known(stat: str) -> None:
    assert query_problem(f"N M {stat}") is None


# ---------------------------------------------------------------- periods


def test_the_grain_coarsens_with_the_data_s_age() -> None:
    assert grain(NOW - timedelta(days=15), NOW) == 60
    assert grain(NOW - timedelta(days=15, seconds=1), NOW) == 300
    assert grain(NOW - timedelta(days=63), NOW) == 300
    assert grain(NOW - timedelta(days=63, seconds=1), NOW) == 3600


def test_a_window_is_rounded_inwards_to_the_grain() -> None:
    start, end, size = aligned(
        T0 + timedelta(seconds=10), T0 + timedelta(minutes=30, seconds=59), NOW
    )
    assert (start, end, size) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=30), 60)
    old = NOW - timedelta(days=20)
    start, end, size = aligned(old + timedelta(minutes=1), old + timedelta(hours=1), NOW)
    assert (start, end, size) == (old + timedelta(minutes=5), old + timedelta(hours=1), 300)


def test_periods_are_whole_multiples_of_the_grain() -> None:
    assert period_for(timedelta(seconds=30), 60) == 60
    assert period_for(timedelta(minutes=1), 60) == 60
    assert period_for(timedelta(seconds=61), 60) == 120
    assert period_for(timedelta(hours=2), 60) == 7200
    assert period_for(timedelta(minutes=1), 300) == 300
    assert period_for(timedelta(minutes=7), 300) == 600


# ---------------------------------------------------------------- requests


def test_a_metric_stat_is_one_returned_query() -> None:
    assert metric_queries(parse_query("Checkout Errors Sum Variant=true"), 60) == [
        {
            "Id": "result",
            "MetricStat": {
                "Metric": {
                    "Namespace": "Checkout",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "Variant", "Value": "true"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        }
    ]


def test_metric_math_hides_its_named_metrics() -> None:
    queries = metric_queries(parse_query("a = N A Sum\nb = N B p99\na / b"), 300)
    assert queries == [
        {
            "Id": "a",
            "MetricStat": {
                "Metric": {"Namespace": "N", "MetricName": "A"},
                "Period": 300,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {
            "Id": "b",
            "MetricStat": {
                "Metric": {"Namespace": "N", "MetricName": "B"},
                "Period": 300,
                "Stat": "p99",
            },
            "ReturnData": False,
        },
        {"Id": "result", "Expression": "a / b", "Period": 300},
    ]


# ---------------------------------------------------------------- pages and answers


def result(
    times: list[datetime], values: list[Any], status: str = "Complete", **more: Any
) -> dict[str, Any]:
    return {
        "Id": "result",
        "Label": "Errors",
        "Timestamps": times,
        "Values": values,
        "StatusCode": status,
        **more,
    }


def test_pages_are_followed_and_merged() -> None:
    t1, t2 = T0, T0 + timedelta(minutes=1)
    pages = {
        None: {"MetricDataResults": [result([t1], [3.0], "PartialData")], "NextToken": "n1"},
        "n1": {"MetricDataResults": [result([t2], [4.0])]},
    }
    asked: list[Any] = []

    def api(**request: Any) -> dict[str, Any]:
        asked.append(request.get("NextToken"))
        return pages[request.get("NextToken")]

    merged = merge_pages(fetch_pages(api, {"MetricDataQueries": []}))
    assert asked == [None, "n1"]
    assert read_results(merged) == Points((t1.timestamp(), t2.timestamp()), (3.0, 4.0))


def throttled(code: str = "Throttling") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "GetMetricData",
    )


def test_throttling_is_retried_after_the_backoff() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def api(**request: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) < 3:
            raise throttled("TooManyRequestsException")
        return {"MetricDataResults": []}

    pages = fetch_pages(api, {}, sleep=slept.append, backoff=(0.25, 0.5, 1.0))
    assert pages == [{"MetricDataResults": []}] and slept == [0.25, 0.5]


def test_throttling_past_the_retries_is_rate_limited() -> None:
    slept: list[float] = []

    def api(**request: Any) -> dict[str, Any]:
        raise throttled()

    with pytest.raises(ClientError) as raised:
        fetch_pages(api, {}, sleep=slept.append, backoff=(0.25, 0.5))
    assert slept == [0.25, 0.5]
    found = failure(raised.value, "region eu-west-1")
    assert found.kind == "rate_limited" and "Throttling: Rate exceeded" in found.detail


def test_no_points_is_no_data_and_no_series_too() -> None:
    assert read_results([result([], [])]) == NoData("the query matched no data points")
    assert read_results([]) == NoData("the query returned no series")


def test_several_series_are_ambiguous() -> None:
    two = [result([T0], [1.0], Label="a"), result([T0], [2.0], Label="b")]
    with pytest.raises(QueryFailure) as raised:
        read_results(two)
    assert raised.value.kind == "ambiguous"
    assert raised.value.detail == "the query gave 2 series where one was expected (a; b)"


def test_partial_data_left_after_the_last_page_is_refused() -> None:
    with pytest.raises(QueryFailure) as raised:
        read_results([result([T0], [1.0], "PartialData")])
    assert raised.value.kind == "rejected"
    assert raised.value.detail == "the data is incomplete (status PartialData)"


def test_forbidden_and_internal_error_statuses() -> None:
    messages = [{"Code": "Forbidden", "Value": "no access"}]
    with pytest.raises(QueryFailure) as raised:
        read_results([result([], [], "Forbidden", Messages=messages)])
    assert (
        raised.value.kind == "unauthorized"
        and raised.value.detail == "forbidden (Forbidden: no access)"
    )
    with pytest.raises(QueryFailure) as raised:
        read_results([result([], [], "InternalError")])
    assert raised.value.kind == "unreachable"


def test_values_that_are_not_numbers_are_malformed() -> None:
    with pytest.raises(Malformed):
        read_results([result([T0], [None])])
    with pytest.raises(Malformed):
        read_results([result([T0, T0], [1.0])])


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ValidationError", 400, "rejected"),
        ("InvalidParameterValue", 400, "rejected"),
        ("AccessDenied", 403, "unauthorized"),
        ("UnrecognizedClientException", 400, "unauthorized"),
        ("InternalFailure", 500, "unreachable"),
    ],
)
def test_client_errors_are_typed(code: str, status: int, kind: str) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetMetricData",
    )
    assert failure(error, "region eu-west-1").kind == kind


def test_no_credentials_and_no_connection() -> None:
    assert failure(NoCredentialsError(), "x").kind == "unauthorized"
    down = failure(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "http://127.0.0.1:9")
    assert down.kind == "unreachable" and down.detail.startswith("cannot reach CloudWatch at")


# ---------------------------------------------------------------- the source


CLOUDWATCH_METRICS = """\
metrics:
  source:
    kind: cloudwatch
{source_extra}  queries:
    errors: "App Errors Sum Flag={flag} Variant={cohort}"
    requests: "=SUM(SEARCH('{App,Variant} Requests Variant={cohort}', 'Sum', {window}))"
    latency:
      query: "App Latency p99 Variant={cohort}"
      step: 5m
"""


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CloudWatchSource:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    loaded = write_loaded(tmp_path, CLOUDWATCH_METRICS, "    region: eu-west-1\n")
    found = open_cloudwatch(loaded)
    found.now = lambda: NOW
    return found


def test_a_total_is_one_period_over_the_window_rounded_inwards(source: CloudWatchSource) -> None:
    window = Window(T0 + timedelta(seconds=5), T0 + timedelta(hours=1, seconds=30))
    need = Need("counter", "errors", Cohort("treatment", True), window)
    (resolved,) = source.resolve(need)
    assert resolved.text == "App Errors Sum Flag=checkout-v2 Variant=true"
    assert resolved.params == {
        "start": "2026-12-06T10:01:00Z",
        "end": "2026-12-06T11:00:00Z",
        "period": "3540",
        "region": "eu-west-1",
    }


def test_a_series_is_one_period_per_step_and_window_is_that_period(
    source: CloudWatchSource,
) -> None:
    window = Window(T0, T0 + timedelta(hours=1))
    need = Need(
        "counter_series", "requests", Cohort("control", False), window, timedelta(minutes=2)
    )
    (resolved,) = source.resolve(need)
    assert resolved.text == "=SUM(SEARCH('{App,Variant} Requests Variant=false', 'Sum', 120))"
    assert resolved.params["period"] == "120"


def test_old_data_takes_the_coarser_grain_in_the_period_and_the_window(
    source: CloudWatchSource,
) -> None:
    old = NOW - timedelta(days=20, minutes=2)
    window = Window(old, old + timedelta(hours=1))
    need = Need(
        "counter_series", "requests", Cohort("control", False), window, timedelta(minutes=1)
    )
    (resolved,) = source.resolve(need)
    assert resolved.params["period"] == "300" and "'Sum', 300))" in resolved.text


def test_an_empty_window_takes_no_call(source: CloudWatchSource) -> None:
    window = Window(T0 + timedelta(seconds=5), T0 + timedelta(seconds=50))
    assert source.resolve(Need("counter", "errors", Cohort("treatment", True), window)) == []


def test_a_region_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    loaded = write_loaded(tmp_path, CLOUDWATCH_METRICS, "")
    with pytest.raises(InvalidInputError) as raised:
        open_cloudwatch(loaded)
    assert "set metrics.source.region or AWS_REGION" in str(raised.value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    assert open_cloudwatch(loaded).region == "us-east-2"
