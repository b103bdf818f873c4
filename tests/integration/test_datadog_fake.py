"""Tests of the Datadog metrics-query fake itself (not of an adapter using it)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.datadog_fake import DatadogFake, default_interval, parse_query

pytestmark = [pytest.mark.integration, pytest.mark.datadog]

T0 = 1704067200  # 2024-01-01T00:00:00Z, a multiple of every default interval
METRIC = "rollout.requests"


@functools.cache
def _http() -> httpx.Client:
    """One shared client: building an httpx client (its SSL context) costs ~50 ms each time."""
    return httpx.Client(timeout=10)


@pytest.fixture
def dd() -> Iterator[DatadogFake]:
    with DatadogFake() as fake:
        # counts per 15 s
        fake.add_points(
            METRIC,
            {"flag": "checkout", "variant": "on"},
            [(T0 - 15, 100), (T0, 1), (T0 + 15, 2), (T0 + 30, 3), (T0 + 45, 4)],
        )
        fake.add_points(
            METRIC,
            {"flag": "checkout", "variant": "on"},
            [(T0 + 60, 5), (T0 + 75, 6), (T0 + 90, 7), (T0 + 105, 8), (T0 + 130, 9)],
        )
        fake.add_points(
            METRIC,
            {"flag": "checkout", "variant": "off"},
            [(T0, 10), (T0 + 15, 20), (T0 + 60, 30)],
        )
        fake.add_points(METRIC, {"flag": "other", "variant": "on"}, [(T0 + 30, 1000)])
        yield fake


def query(
    fake: DatadogFake,
    q: str,
    start: Any = T0,
    end: Any = T0 + 120,
    *,
    headers: dict[str, str] | None = None,
    path: str = "/api/v1/query",
) -> httpx.Response:
    sent = (
        {"DD-API-KEY": fake.api_key, "DD-APPLICATION-KEY": fake.app_key}
        if headers is None
        else headers
    )
    params = {k: v for k, v in (("from", start), ("to", end), ("query", q)) if v is not None}
    return _http().get(f"{fake.url}{path}", params=params, headers=sent)


def points(resp: httpx.Response) -> dict[tuple[str, ...], list[list[float]]]:
    assert resp.status_code == 200, resp.text
    return {tuple(s["tag_set"]): s["pointlist"] for s in resp.json()["series"]}


def test_sum_rollup_gives_the_exact_documented_response(dd: DatadogFake) -> None:
    q = "sum:rollout.requests{flag:checkout,variant:on}.as_count().rollup(sum, 60)"
    resp = query(dd, q)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    # T0-15 is before the first bucket; T0+130 is after `to` but in the bucket starting at `to`.
    assert resp.json() == {
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": q,
        "message": "",
        "from_date": T0 * 1000,
        "to_date": (T0 + 120) * 1000,
        "group_by": [],
        "times": [],
        "values": [],
        "series": [
            {
                "metric": METRIC,
                "display_name": METRIC,
                "expression": (
                    "sum:rollout.requests{flag:checkout,variant:on}.as_count().rollup(sum, 60)"
                ),
                "scope": "flag:checkout,variant:on",
                "tag_set": [],
                "aggr": "sum",
                "query_index": 0,
                "start": T0 * 1000,
                "end": (T0 + 120 + 59) * 1000,
                "interval": 60,
                "length": 3,
                "attributes": {},
                "unit": None,
                "pointlist": [
                    [T0 * 1000.0, 10.0],
                    [(T0 + 60) * 1000.0, 26.0],
                    [(T0 + 120) * 1000.0, 9.0],
                ],
            }
        ],
    }
    [request] = dd.requests
    assert (request.method, request.path) == ("GET", "/api/v1/query")
    assert request.params == {"from": str(T0), "to": str(T0 + 120), "query": q}
    assert request.header("dd-api-key") == dd.api_key


def test_rollup_buckets_are_aligned_to_unix_time(dd: DatadogFake) -> None:
    resp = query(dd, f"sum:{METRIC}{{variant:off}}.rollup(sum, 60)", T0 + 1, T0 + 59)
    assert points(resp) == {}  # the only bucket start in [from, to] would be T0+60 > to
    resp = query(dd, f"sum:{METRIC}{{variant:off}}.rollup(sum, 60)", T0 + 1, T0 + 60)
    assert points(resp) == {(): [[(T0 + 60) * 1000.0, 30.0]]}


def test_scope_filters_must_all_match(dd: DatadogFake) -> None:
    by_flag = query(dd, f"sum:{METRIC}{{flag:checkout}}.rollup(sum, 60)")
    assert points(by_flag)[()] == [
        [T0 * 1000.0, 40.0],
        [(T0 + 60) * 1000.0, 56.0],
        [(T0 + 120) * 1000.0, 9.0],
    ]
    by_variant = query(dd, f"sum:{METRIC}{{variant:on}}.rollup(sum, 60)")
    assert points(by_variant)[()][0] == [T0 * 1000.0, 1010.0]
    everything = query(dd, f"sum:{METRIC}{{*}}.rollup(sum, 60)")
    assert points(everything)[()][0] == [T0 * 1000.0, 1040.0]
    assert everything.json()["series"][0]["scope"] == "*"


def test_space_aggregators_combine_the_rolled_up_series(dd: DatadogFake) -> None:
    base = f"{METRIC}{{flag:checkout}}.rollup(sum, 60)"
    assert points(query(dd, "max:" + base))[()][0] == [T0 * 1000.0, 30.0]
    assert points(query(dd, "min:" + base))[()][0] == [T0 * 1000.0, 10.0]
    assert points(query(dd, "avg:" + base))[()][0] == [T0 * 1000.0, 20.0]
    # bucket T0+120 only has the "on" series: series without points take no part
    assert points(query(dd, "avg:" + base))[()][2] == [(T0 + 120) * 1000.0, 9.0]
    assert points(query(dd, f"sum:{METRIC}{{variant:on}}.rollup(count, 60)"))[()][0] == [
        T0 * 1000.0,
        5.0,
    ]


def test_a_group_by_tag_a_series_lacks_is_n_a(dd: DatadogFake) -> None:
    resp = query(dd, f"sum:{METRIC}{{flag:checkout}} by {{variant,region}}.as_count()")
    body = resp.json()
    assert body["group_by"] == ["variant", "region"]
    assert [(s["tag_set"], s["scope"]) for s in body["series"]] == [
        (["variant:off", "region:N/A"], "flag:checkout,variant:off,region:N/A"),
        (["variant:on", "region:N/A"], "flag:checkout,variant:on,region:N/A"),
    ]


def test_by_clause_gives_one_series_per_group(dd: DatadogFake) -> None:
    resp = query(dd, f"sum:{METRIC}{{flag:checkout}} by {{variant}}.as_count().rollup(sum, 60)")
    body = resp.json()
    assert body["group_by"] == ["variant"]
    assert [(s["tag_set"], s["scope"]) for s in body["series"]] == [
        (["variant:off"], "flag:checkout,variant:off"),
        (["variant:on"], "flag:checkout,variant:on"),
    ]
    assert points(resp) == {
        ("variant:off",): [[T0 * 1000.0, 30.0], [(T0 + 60) * 1000.0, 30.0]],
        ("variant:on",): [
            [T0 * 1000.0, 10.0],
            [(T0 + 60) * 1000.0, 26.0],
            [(T0 + 120) * 1000.0, 9.0],
        ],
    }
    off = body["series"][0]
    assert (off["start"], off["end"], off["length"]) == (T0 * 1000, (T0 + 119) * 1000, 2)


def test_default_rollup_and_as_rate(dd: DatadogFake) -> None:
    assert default_interval(T0, T0 + 3600) == 60
    assert default_interval(T0 - 86400, T0) == 300  # 289 buckets, like the one-day cassette
    assert default_interval(T0, T0 + 7 * 86400) == 3600
    # no rollup: 60 s buckets, avg of the raw points
    assert points(query(dd, f"sum:{METRIC}{{flag:checkout,variant:on}}"))[()][:2] == [
        [T0 * 1000.0, 2.5],
        [(T0 + 60) * 1000.0, 6.5],
    ]
    # .as_count(): sum
    assert points(query(dd, f"sum:{METRIC}{{flag:checkout,variant:on}}.as_count()"))[()][0] == [
        T0 * 1000.0,
        10.0,
    ]
    # .as_rate(): per second
    rate = query(dd, f"sum:{METRIC}{{flag:checkout,variant:on}}.as_rate()")
    assert points(rate)[()][0] == [T0 * 1000.0, 10.0 / 60]
    # no space aggregator (as in the cassette): aggr null
    assert query(dd, f"{METRIC}{{*}}").json()["series"][0]["aggr"] is None


def test_no_matching_series_is_an_empty_list(dd: DatadogFake) -> None:
    for q in ("sum:no.such.metric{*}", f"sum:{METRIC}{{flag:nope}}", f"sum:{METRIC}{{*}} by {{x}}"):
        resp = query(dd, q, T0 + 3600, T0 + 7200)
        assert resp.status_code == 200
        assert resp.json()["series"] == []
    resp = query(dd, "sum:no.such.metric{*} by {variant}")
    assert resp.json()["series"] == []
    assert resp.json()["group_by"] == ["variant"]


def test_missing_or_wrong_keys_are_forbidden(dd: DatadogFake) -> None:
    for headers in (
        {},
        {"DD-API-KEY": dd.api_key},
        {"DD-API-KEY": dd.api_key, "DD-APPLICATION-KEY": "wrong"},
    ):
        resp = query(dd, f"sum:{METRIC}{{*}}", headers=headers)
        assert resp.status_code == 403
        assert resp.headers["content-type"] == "application/json"
        assert resp.json() == {"errors": ["Forbidden"]}


@pytest.mark.parametrize(
    "q",
    [
        "",
        "rollout.requests",
        "sum:rollout.requests{",
        "median:rollout.requests{*}",
        "sum:rollout.requests{!variant:on}",
        "sum:rollout.requests{variant:o*}",
        "sum:rollout.requests{*,variant:on}",
        "sum:rollout.requests{*}.rollup(p95, 60)",
        "sum:rollout.requests{*}.rollup(sum, 0)",
        "sum:rollout.requests{*}.as_count().as_rate()",
        "sum:rollout.requests{*}.fill(zero)",
        "sum:rollout.requests{*} + sum:rollout.requests{*}",
    ],
)
def test_unparseable_query_is_400(dd: DatadogFake, q: str) -> None:
    resp = query(dd, q)
    assert resp.status_code == 400
    if q:
        assert resp.json() == {"errors": ["The value provided for parameter 'query' is invalid"]}


@pytest.mark.parametrize(
    ("start", "end", "name"),
    [(None, T0, "from"), (T0, None, "to"), ("yesterday", T0, "from"), (T0, "1.5", "to")],
)
def test_bad_time_range_is_400_naming_the_parameter(
    dd: DatadogFake, start: Any, end: Any, name: str
) -> None:
    resp = query(dd, f"sum:{METRIC}{{*}}", start, end)
    assert resp.status_code == 400
    [message] = resp.json()["errors"]
    assert f"'{name}'" in message


def test_from_after_to_is_400_and_unknown_path_404(dd: DatadogFake) -> None:
    assert query(dd, f"sum:{METRIC}{{*}}", T0 + 1, T0).status_code == 400
    resp = query(dd, f"sum:{METRIC}{{*}}", path="/api/v2/nope")
    assert resp.status_code == 404
    assert resp.json() == {"errors": ["Not found"]}


def test_rate_limit_then_success(dd: DatadogFake) -> None:
    dd.rate_limit(2, reset=3)
    for _ in range(2):
        resp = query(dd, f"sum:{METRIC}{{*}}")
        assert resp.status_code == 429
        assert resp.json()["errors"][0].startswith("Rate limit of 500 requests in 10 seconds")
        assert {k: v for k, v in resp.headers.items() if k.startswith("x-ratelimit-")} == {
            "x-ratelimit-limit": "500",
            "x-ratelimit-period": "10",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "3",
            "x-ratelimit-name": "metrics_query",
        }
        assert "x-ratelimit-reset: 3" in _raw_header_lines(resp)
    assert query(dd, f"sum:{METRIC}{{*}}").status_code == 200
    assert len(dd.requests) == 3


def _raw_header_lines(resp: httpx.Response) -> list[str]:
    """Header lines as sent on the wire (to check the lowercase spelling)."""
    return [f"{k.decode()}: {v.decode()}" for k, v in resp.headers.raw]


def test_failure_injection(dd: DatadogFake) -> None:
    dd.fail(1)
    dd.fail(1, status=502)
    first = query(dd, f"sum:{METRIC}{{*}}")
    assert (first.status_code, first.json()) == (503, {"errors": ["Service Unavailable"]})
    assert query(dd, f"sum:{METRIC}{{*}}").status_code == 502
    assert query(dd, f"sum:{METRIC}{{*}}").status_code == 200


def test_delay_makes_clients_time_out(dd: DatadogFake) -> None:
    dd.delay(0.5)
    with httpx.Client(timeout=0.1) as slow, pytest.raises(httpx.ReadTimeout):
        slow.get(f"{dd.url}/api/v1/query")
    dd.delay(0)
    started = time.monotonic()
    assert query(dd, f"sum:{METRIC}{{*}}").status_code == 200
    assert time.monotonic() - started < 0.4


def test_parse_query_subset() -> None:
    q = parse_query("sum:a.b{x:1,y:z:2} by {y, x}.rollup(max).as_rate()")
    assert (q.space_agg, q.metric, q.filters, q.by) == (
        "sum",
        "a.b",
        (("x", "1"), ("y", "z:2")),
        ("y", "x"),
    )
    assert (q.as_rate, q.as_count, q.rollup_method, q.rollup_seconds) == (True, False, "max", None)


def test_concurrent_requests_are_served_in_parallel(dd: DatadogFake) -> None:
    dd.delay(0.2)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(pool.map(lambda _: query(dd, f"sum:{METRIC}{{*}}").status_code, range(5)))
    assert statuses == [200] * 5
    assert time.monotonic() - started < 0.8  # five 0.2 s answers overlapped
    assert len(dd.requests) == 5
