"""Total deadlines on HTTP calls, against real misbehaving servers on 127.0.0.1.

Each server is a :class:`tests.fault_http.FaultServer`: one that trickles its headers or its
body a byte a second, one that never answers, one that answers 429 with no ``Retry-After``
and then 200, one that answers 503 forever. Both clients are held to the same rules: the
sync ``HttpBackend`` (platforms) and the async ``QueryPool`` (metrics). Nothing is mocked;
the backoff is short but real. "Ends within the deadline" is asserted with a generous
margin (deadline 2 s → ends in under 6 s): the requirement is "no hang", not a speed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rolloutcli.metrics.pool import Call, QueryPool
from rolloutcli.support import deadlines
from rolloutcli.support.deadlines import Attempt, default_deadline, parse_deadline
from rolloutcli.support.errors import BackendError, InvalidInputError
from rolloutcli.support.http import HttpBackend
from tests.fault_http import Fault, FaultServer, fault_server

DEADLINE = 2.0
MARGIN = 4.0  # seconds past the deadline that would still count as "ended"
BACKOFF = (0.05, 0.1, 0.15)
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
READ_HINT = "(hint: the server is slow or not answering; check it, or allow longer with "
WRITE_HINT = (
    "(hint: the server is slow or not answering; the result is unknown: nothing was "
    "confirmed, so check the flag on the platform before trying again)"
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(deadlines.ENV_DEADLINE, raising=False)
    with fault_server() as srv:
        yield srv


@pytest.fixture
def backend() -> Iterator[Callable[..., HttpBackend]]:
    made: list[HttpBackend] = []

    def make(url: str, **options: Any) -> HttpBackend:
        options.setdefault("backoff", BACKOFF)
        options.setdefault("deadline", DEADLINE)
        client = HttpBackend("unleash", url, {"Authorization": "tok"}, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    began = time.monotonic()
    try:
        return action(), time.monotonic() - began
    except BackendError as exc:
        return exc, time.monotonic() - began


def forever(kind: str, **options: Any) -> Fault:
    return Fault(kind, times=10**9, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the sync client


@pytest.mark.parametrize("kind", ["trickle_headers", "trickle_body"])
def test_a_trickling_read_is_cut_off_at_the_deadline(
    server: FaultServer, backend, kind: str
) -> None:
    server.add(forever(kind))
    error, took = timed(lambda: backend(server.url).request("GET", "/slow"))
    assert isinstance(error, BackendError)
    assert str(error) == (
        f"unleash: GET /slow got no complete answer from {server.url} within the 2 s "
        f"deadline (1 attempt: cut off at the deadline) {READ_HINT}ROLLOUT_HTTP_DEADLINE)"
    )
    assert error.exit_code == 3
    assert DEADLINE - 0.1 <= took < DEADLINE + MARGIN, took
    assert server.requests() == [f"fault {kind}"]


def test_a_trickling_write_is_cut_off_and_says_nothing_was_confirmed(
    server: FaultServer, backend
) -> None:
    server.add(forever("trickle_body"))
    error, took = timed(
        lambda: backend(server.url).request("POST", "/off", json={}, idempotent=True)
    )
    assert isinstance(error, BackendError)
    assert str(error) == (
        f"unleash: POST /off got no complete answer from {server.url} within the 2 s "
        f"deadline (1 attempt: cut off at the deadline) {WRITE_HINT}"
    )
    assert took < DEADLINE + MARGIN, took
    assert server.requests() == ["fault trickle_body"]


def test_a_server_that_never_answers_costs_the_deadline(server: FaultServer, backend) -> None:
    server.add(forever("silent"))
    error, took = timed(lambda: backend(server.url).request("GET", "/never"))
    assert isinstance(error, BackendError)
    assert "within the 2 s deadline (1 attempt: cut off at the deadline)" in str(error)
    assert DEADLINE - 0.1 <= took < DEADLINE + MARGIN, took
    assert server.requests() == ["fault silent"]


def test_short_read_timeouts_are_retried_within_the_deadline(server: FaultServer, backend) -> None:
    """A read that times out (per read, 0.3 s) is retried; the deadline ends the series."""
    server.add(forever("silent"))
    client = backend(server.url, timeout=httpx.Timeout(0.3), backoff=(0.05,) * 50)
    error, took = timed(lambda: client.request("GET", "/never"))
    assert isinstance(error, BackendError)
    assert re.search(
        r"\((\d+) attempts: (timed out, )+(timed out|cut off at the deadline)\)", str(error)
    )
    assert took < DEADLINE + MARGIN, took
    assert len(server.requests()) >= 3


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_429_without_retry_after_twice_then_200(server: FaultServer, backend, method) -> None:
    server.add(Fault("status", status=429, body=b"slow down", times=2))
    answer, took = timed(lambda: backend(server.url).request(method, "/x", json={}))
    assert (answer.response.status_code, answer.response.text, answer.attempts) == (200, "ok", 3)
    assert server.requests() == ["fault 429", "fault 429", "200 ok"]
    assert took < DEADLINE + MARGIN


def test_503_forever_is_returned_after_the_last_backoff_step(server: FaultServer, backend) -> None:
    server.add(forever("status", status=503, body=b"busy"))
    answer, took = timed(lambda: backend(server.url).request("GET", "/x"))
    assert (answer.response.status_code, answer.attempts) == (503, 4)
    assert server.requests() == ["fault 503"] * 4
    assert took < DEADLINE + MARGIN


def test_a_stated_wait_longer_than_the_time_left_stops_at_once(
    server: FaultServer, backend
) -> None:
    server.add(forever("status", status=429, headers={"Retry-After": "5"}))
    error, took = timed(lambda: backend(server.url).request("POST", "/off", json={}))
    assert isinstance(error, BackendError)
    assert re.fullmatch(
        r"unleash: POST /off was rate limited \(HTTP 429\) and asked to wait 5 s, longer than "
        r"the (1\.9|2\.0) s left of the deadline; nothing was sent again "
        r"\(hint: try again in 5 s\)",
        str(error),
    ), str(error)
    assert error.exit_code == 3
    assert server.requests() == ["fault 429"]
    assert took < 1.0


def test_a_stated_wait_within_the_deadline_is_waited(server: FaultServer, backend) -> None:
    server.add(Fault("status", status=429, headers={"Retry-After": "1"}))
    answer, took = timed(lambda: backend(server.url).request("GET", "/x"))
    assert (answer.response.status_code, answer.attempts) == (200, 2)
    assert 1.0 <= took < DEADLINE + MARGIN


def test_a_cut_off_attempt_leaks_nothing_into_the_next_call(server: FaultServer, backend) -> None:
    server.add(Fault("trickle_body", interval=0.1), Fault("status", body=b"second"))
    client = backend(server.url, deadline=1.0)
    with pytest.raises(BackendError, match="cut off at the deadline"):
        client.request("GET", "/first")
    answer = client.request("GET", "/second")
    assert (answer.response.status_code, answer.response.text) == (200, "second")
    assert server.requests() == ["fault trickle_body", "fault 200"]


def test_a_budget_bounds_several_calls_and_records_their_attempts(
    server: FaultServer, backend
) -> None:
    server.add(Fault("status", status=503, path="^/read"), Fault("silent", path="^/write"))
    client = backend(server.url, deadline=30.0)
    began = time.monotonic()
    with deadlines.budget(1.5, backoff=(0.05,) * 10) as scope:
        assert client.request("GET", "/read").response.status_code == 200
        with pytest.raises(BackendError) as caught:
            client.request("POST", "/write", json={})
        with pytest.raises(BackendError) as late:
            client.request("POST", "/write", json={})
    assert time.monotonic() - began < 1.5 + MARGIN
    assert "within the 1.5 s deadline (1 attempt: cut off at the deadline)" in str(caught.value)
    assert str(late.value).startswith(
        f"unleash: POST /write got no complete answer from {server.url} within the 1.5 s "
        "deadline (no time was left to send it)"
    )
    assert scope.attempts == [
        Attempt("unleash", "GET", "/read", "HTTP 503"),
        Attempt("unleash", "GET", "/read", "HTTP 200"),
        Attempt("unleash", "POST", "/write", "cut off at the deadline"),
    ]
    assert [a.ok for a in scope.attempts] == [False, True, False]


def test_every_transport_is_bounded_even_behind_a_proxy(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole-attempt bound hooks into httpx's transports: it must reach all of them."""
    assert HttpBackend("x", server.url, {}).bounded
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert HttpBackend("x", "https://example.invalid", {}).bounded


# ---------------------------------------------------------------------- the setting


def test_the_deadline_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_deadline({}) == 20.0
    assert default_deadline({"ROLLOUT_HTTP_DEADLINE": " 2.5 "}) == 2.5
    assert default_deadline({"ROLLOUT_HTTP_DEADLINE": "500ms"}) == 0.5
    assert default_deadline({"ROLLOUT_HTTP_DEADLINE": "1m"}) == 60.0
    assert parse_deadline("20s", "--deadline") == 20.0
    for bad in ("abc", "0", "-1", "2h", "99999999999"):
        with pytest.raises(InvalidInputError) as caught:
            default_deadline({"ROLLOUT_HTTP_DEADLINE": bad})
        assert str(caught.value) == (
            f"ROLLOUT_HTTP_DEADLINE={bad!r}: give a number of seconds above 0 and at most "
            "3600, e.g. 20 or 20s"
        )
        assert caught.value.exit_code == 2
    monkeypatch.setenv("ROLLOUT_HTTP_DEADLINE", "7")
    assert HttpBackend("x", "http://127.0.0.1:9", {}).deadline == 7.0


# ---------------------------------------------------------------------- the async pool


def query(url: str) -> Call:
    return Call("prometheus", url, "/api/v1/query", {"query": "up"}, timeout=10.0)


def pooled(url: str, deadline: float = DEADLINE) -> tuple[httpx.Response | BackendError, float]:
    async def run() -> httpx.Response:
        async with QueryPool(limit=2, backoff=BACKOFF, deadline=deadline) as pool:
            return await pool.send(query(url))

    return timed(lambda: asyncio.run(run()))


@pytest.mark.parametrize("kind", ["trickle_headers", "trickle_body", "silent"])
def test_pool_cuts_off_a_query_at_the_deadline(server: FaultServer, kind: str) -> None:
    server.add(forever(kind))
    error, took = pooled(server.url)
    assert isinstance(error, BackendError)
    assert str(error) == (
        f"prometheus: GET /api/v1/query got no complete answer from {server.url} within the "
        f"2 s deadline (1 attempt: cut off at the deadline) {READ_HINT}ROLLOUT_HTTP_DEADLINE)"
    )
    assert error.exit_code == 3
    assert DEADLINE - 0.1 <= took < DEADLINE + MARGIN, took
    assert len(server.requests()) == 1


def test_pool_retries_429_without_a_header_then_200(server: FaultServer) -> None:
    server.add(Fault("status", status=429, times=3))
    response, took = pooled(server.url)
    assert isinstance(response, httpx.Response)
    assert (response.status_code, response.text) == (200, "ok")
    assert server.requests() == ["fault 429"] * 3 + ["200 ok"]
    assert took < DEADLINE + MARGIN


def test_pool_returns_503_forever_after_the_last_backoff_step(server: FaultServer) -> None:
    server.add(forever("status", status=503))
    response, took = pooled(server.url)
    assert isinstance(response, httpx.Response) and response.status_code == 503
    assert server.requests() == ["fault 503"] * 4
    assert took < DEADLINE + MARGIN


def test_pool_stops_when_no_retry_fits_in_the_deadline(server: FaultServer) -> None:
    """A read timing out per read keeps retrying only while a retry still fits."""
    server.add(forever("silent"))

    async def run() -> httpx.Response:
        call = Call("prometheus", server.url, "/q", {}, timeout=0.3)
        async with QueryPool(limit=1, backoff=(0.05,) * 50, deadline=1.5) as pool:
            return await pool.send(call)

    error, took = timed(lambda: asyncio.run(run()))
    assert isinstance(error, BackendError)
    assert "got no complete answer" in str(error) and "within the 1.5 s deadline" in str(error)
    assert took < 1.5 + MARGIN
    assert len(server.requests()) >= 3


def test_pool_cut_off_query_leaks_nothing_into_the_next(server: FaultServer) -> None:
    """One client (limit=1): the cancelled attempt's connection is gone, the next query
    gets its own answer."""
    server.add(Fault("trickle_body", interval=0.1), Fault("status", body=b"second"))

    async def run() -> tuple[BackendError, httpx.Response]:
        async with QueryPool(limit=1, backoff=BACKOFF, deadline=1.0) as pool:
            with pytest.raises(BackendError) as first:
                await pool.send(query(server.url))
            return first.value, await pool.send(query(server.url))

    error, second = asyncio.run(run())
    assert "cut off at the deadline" in str(error)
    assert (second.status_code, second.text) == (200, "second")
    assert server.requests() == ["fault trickle_body", "fault 200"]


def test_a_read_in_a_budget_leaves_the_write_its_share(server: FaultServer, backend) -> None:
    """A kill reads the flag, then writes: a read that never ends takes only its share of
    the time left, and the write is still sent (and here, answered)."""
    server.add(forever("silent", method="GET"))
    client = backend(server.url, deadline=30.0)
    with deadlines.budget(2.0, backoff=(0.05,) * 10, read_share=0.5) as scope:
        began = time.monotonic()
        with pytest.raises(BackendError) as read:
            client.request("GET", "/flag")
        read_took = time.monotonic() - began
        answer = client.request("POST", "/off", json={})
    assert 0.9 <= read_took < 1.0 + MARGIN, read_took
    assert "within the 2 s deadline (1 attempt: cut off at the deadline)" in str(read.value)
    assert answer.response.status_code == 200
    assert [(a.method, a.outcome) for a in scope.attempts] == [
        ("GET", "cut off at the deadline"),
        ("POST", "HTTP 200"),
    ]
