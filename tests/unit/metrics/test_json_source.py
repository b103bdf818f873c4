"""The json source's pure parts: request templates, their checks, and reading what a
metric's expression selected."""

from __future__ import annotations

import math

import pytest

from rolloutcli.metrics.base import QueryFailure
from rolloutcli.metrics.json import read_found
from rolloutcli.metrics.querying import Malformed, NoData, Points
from rolloutcli.plan.jsontemplate import (
    expression_problem,
    render_body,
    render_url,
    request_problems,
    url_value,
)

VALUES = {
    "metric": "errors",
    "cohort": "v2/../admin?x=1&y#z",
    "role": "treatment",
    "flag": "checkout v2",
    "start": "1704060000",
    "end": "1704067200",
    "start_iso": "2024-01-01T00:00:00Z",
    "end_iso": "2024-01-01T02:00:00Z",
    "window": "300",
    "step": "300",
}


def test_values_are_encoded_whole_and_never_reach_the_host() -> None:
    base, rest = render_url(
        "https://api.example.com:8443/v1/{metric}?variant={cohort}&flag={flag}&at={start_iso}",
        VALUES,
    )
    assert base == "https://api.example.com:8443"
    assert rest == (
        "/v1/errors?variant=v2%2F..%2Fadmin%3Fx%3D1%26y%23z&flag=checkout%20v2"
        "&at=2024-01-01T00%3A00%3A00Z"
    )


@pytest.mark.parametrize(("value", "encoded"), [(".", "%2E"), ("..", "%2E%2E"), ("a.b", "a.b")])
def test_a_value_of_only_dots_cannot_climb_the_path(value: str, encoded: str) -> None:
    assert url_value(value) == encoded


def test_the_body_gets_strings_and_numbers() -> None:
    body = {"q": "rate({metric}) by {role}", "from": "{start}", "tags": ["{cohort}"], "n": 3}
    assert render_body(body, VALUES) == {
        "q": "rate(errors) by treatment",
        "from": 1704060000,
        "tags": ["v2/../admin?x=1&y#z"],
        "n": 3,
    }


def test_a_good_request_has_no_problems() -> None:
    url = "https://m.example.com/q?c={cohort}"
    assert request_problems(url, "GET", None, {"Authorization": "METRICS_AUTH"}) == []


def test_request_problems_are_named() -> None:
    problems = request_problems(
        "https://{flag}.example.com/q?x={metrc}", "GET", {"a": 1}, {"Bad Header": "1X"}
    )
    assert problems == [
        ("url", "placeholders may only follow the host, never form it"),
        (
            "url",
            "unknown placeholder {metrc} (known: {metric}, {cohort}, {role}, {flag}, {start}, "
            "{end}, {start_iso}, {end_iso}, {window}, {step})",
        ),
        (
            "url",
            "the request names no cohort: add {cohort} or {role} to the URL or the body, "
            "or both cohorts get the same numbers",
        ),
        ("body", "a body is sent with method: POST only"),
        ("headers_env", "'Bad Header' is not an HTTP header name"),
        ("headers_env", "'1X' is not an environment variable name"),
    ]


def test_credentials_in_the_url_and_other_schemes_are_refused() -> None:
    assert request_problems("ftp://u:p@h/x?c={cohort}", "GET", None, None) == [
        ("url", "must start with http:// or https:// and name a host"),
        ("url", "no credentials in the URL: send them with headers_env"),
    ]
    assert request_problems(None, "GET", None, None) == [
        ("url", "a json source needs url: (the request's URL template)")
    ]


def test_expressions_are_compiled() -> None:
    assert expression_problem("data.series[0].points") is None
    problem = expression_problem("data.series[.points")
    assert problem is not None and problem.startswith("not a JMESPath expression: ")


def test_a_number_is_the_whole_window() -> None:
    assert read_found(42, 1000.0) == Points((1000.0,), (42.0,))


def test_pairs_are_points_and_null_is_missing() -> None:
    found = read_found([[1000, 1.5], ["2024-01-01T00:00:00Z", None]], 0.0)
    assert isinstance(found, Points)
    assert found.times == (1000.0, 1704067200.0)
    assert found.values[0] == 1.5 and math.isnan(found.values[1])


def test_one_series_in_a_list_is_that_series() -> None:
    assert read_found([[[1000, 2]]], 0.0) == Points((1000.0,), (2.0,))


@pytest.mark.parametrize("found", [None, [], [[]]])
def test_nothing_selected_is_no_data(found: object) -> None:
    assert read_found(found, 0.0) == NoData("the expression selected nothing")


def test_several_series_are_ambiguous() -> None:
    with pytest.raises(QueryFailure) as caught:
        read_found([[[1, 2]], [[1, 3]]], 0.0)
    assert caught.value.kind == "ambiguous"
    assert caught.value.detail == "the expression gave 2 series where one was expected"


def test_values_without_times_are_ambiguous() -> None:
    with pytest.raises(QueryFailure) as caught:
        read_found([1, 2, 3], 0.0)
    assert caught.value.kind == "ambiguous"
    assert caught.value.detail == (
        "the expression gave 3 values without times where one was expected"
    )


@pytest.mark.parametrize(
    ("found", "message"),
    [
        ({"a": 1}, "the expression gave an object, not a number or [time, value] pairs"),
        ("12", "the expression gave a text, not a number or [time, value] pairs"),
        ([[1, 2, 3]], "an item [1, 2, 3] that is not a [time, value] pair"),
        ([[1, "2"]], "a value '2' that is not a number"),
        (
            [["yesterday", 2]],
            "a time 'yesterday' that is neither epoch seconds nor an RFC 3339 time with its zone",
        ),
    ],
)
def test_other_shapes_are_malformed(found: object, message: str) -> None:
    with pytest.raises(Malformed) as caught:
        read_found(found, 0.0)
    assert str(caught.value) == message
