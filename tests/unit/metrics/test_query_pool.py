"""``QueryPool.send`` against a real HTTP server on 127.0.0.1: the concurrency limit, what is
retried, rate-limit waits, and the circuit breaker for an unreachable backend. Also the
rate-limit arithmetic of :func:`rolloutcli.support.http.rate_limit_wait` and ``retry_delay``.

The server is the standard library's ``ThreadingHTTPServer`` answering from a script (status,
headers, delay per request), recording every request and the most requests it ever had in
flight at once. Nothing in httpx is mocked.
"""

from __future__ import annotations

import asyncio
import email.utils
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from rolloutcli.metrics.pool import Call, QueryPool
from rolloutcli.support.errors import BackendError
from rolloutcli.support.http import rate_limit_wait, retry_delay

FAST = (0.01, 0.01, 0.01)
NOW = 1_700_000_000.0


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = '{"status":"success"}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class CountingServer(ThreadingHTTPServer):
    """Answers each request with the next scripted reply (the last one repeats), and counts
    how many requests it is answering at the same time."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.replies: list[Reply] = [Reply()]
        self.paths: list[str] = []
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def enter(self, path: str) -> Reply:
        with self.lock:
            self.paths.append(path)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Handler(BaseHTTPRequestHandler):
    server: CountingServer

    def do_GET(self) -> None:
        reply = self.server.enter(self.path)
        try:
            if reply.delay:
                self.server.stopping.wait(reply.delay)
            data = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        finally:
            self.server.leave()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    srv = CountingServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def call(base_url: str, path: str = "/api/v1/query", **params: str) -> Call:
    return Call("prometheus", base_url, path, dict(params) or {"query": "up"}, timeout=5.0)


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------------- the pool


def test_never_more_than_limit_requests_in_flight(server: CountingServer) -> None:
    server.replies = [Reply(delay=0.05)]

    async def run() -> list[httpx.Response]:
        async with QueryPool(limit=3, backoff=FAST) as pool:
            return await asyncio.gather(
                *(pool.send(call(server.url, query=f"q{i}")) for i in range(12))
            )

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 12
    assert len(server.paths) == 12
    assert server.most_in_flight == 3  # the limit, and reached: the requests did overlap


def test_query_parameters_and_path_reach_the_server(server: CountingServer) -> None:
    async def run() -> httpx.Response:
        async with QueryPool(limit=1, backoff=FAST) as pool:
            return await pool.send(
                call(server.url + "/", "/api/v1/query_range", query="up", start="1", end="2")
            )

    response = asyncio.run(run())
    assert response.status_code == 200
    assert server.paths == ["/api/v1/query_range?query=up&start=1&end=2"]


def test_503_then_200_is_retried_and_returns_the_200(server: CountingServer) -> None:
    server.replies = [Reply(503, '{"status":"error","errorType":"timeout"}'), Reply(200, "{}")]

    async def run() -> tuple[httpx.Response, int]:
        async with QueryPool(limit=2, backoff=FAST) as pool:
            response = await pool.send(call(server.url))
            return response, pool.sent

    response, sent = asyncio.run(run())
    assert response.status_code == 200
    assert response.text == "{}"
    assert sent == 2
    assert len(server.paths) == 2


def test_5xx_is_returned_when_the_retries_run_out(server: CountingServer) -> None:
    server.replies = [Reply(503, "busy")]

    async def run() -> httpx.Response:
        async with QueryPool(limit=2, backoff=FAST) as pool:
            return await pool.send(call(server.url))

    response = asyncio.run(run())
    assert response.status_code == 503
    assert len(server.paths) == 4  # the first attempt and one per backoff step


def test_400_is_returned_at_once(server: CountingServer) -> None:
    server.replies = [Reply(400, '{"status":"error","errorType":"bad_data"}'), Reply(200)]

    async def run() -> httpx.Response:
        async with QueryPool(limit=2, backoff=FAST) as pool:
            return await pool.send(call(server.url))

    assert asyncio.run(run()).status_code == 400
    assert len(server.paths) == 1


def test_429_with_ratelimit_reset_in_seconds_waits_then_retries(server: CountingServer) -> None:
    server.replies = [
        Reply(429, '{"errors":["Too many requests"]}', headers={"x-ratelimit-reset": "1"}),
        Reply(200, '{"series":[]}'),
    ]

    async def run() -> httpx.Response:
        async with QueryPool(limit=2, backoff=FAST) as pool:
            return await pool.send(call(server.url))

    began = time.monotonic()
    response = asyncio.run(run())
    elapsed = time.monotonic() - began
    assert response.status_code == 200
    assert len(server.paths) == 2
    gap = server.arrivals[1] - server.arrivals[0]
    assert 0.95 <= gap < 1.5, gap  # waited the second Datadog asked for, not the 0.01 backoff
    assert elapsed < 2.0


def test_429_asking_for_longer_than_max_wait_stops_at_once(server: CountingServer) -> None:
    server.replies = [Reply(429, "{}", headers={"x-ratelimit-reset": "60"}), Reply(200)]

    async def run() -> None:
        async with QueryPool(limit=2, backoff=FAST, max_wait=30.0, deadline=90.0) as pool:
            await pool.send(call(server.url))

    with pytest.raises(BackendError) as caught:
        asyncio.run(run())
    assert str(caught.value) == (
        "prometheus: GET /api/v1/query was rate limited (HTTP 429) and asked to wait 60 s, "
        "longer than the 30 s the tool waits at most; nothing was sent again "
        "(hint: try again in 60 s)"
    )
    assert caught.value.exit_code == 3
    assert len(server.paths) == 1


def test_429_without_a_header_is_retried_with_the_backoff(server: CountingServer) -> None:
    server.replies = [Reply(429, "{}"), Reply(429, "{}"), Reply(200, '{"ok":1}')]

    async def run() -> tuple[httpx.Response, int]:
        async with QueryPool(limit=2, backoff=FAST) as pool:
            return await pool.send(call(server.url)), pool.sent

    response, sent = asyncio.run(run())
    assert (response.status_code, response.text, sent) == (200, '{"ok":1}', 3)
    assert len(server.paths) == 3


def test_connection_refused_is_cannot_reach_and_later_calls_fail_at_once() -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    async def run() -> tuple[BackendError, float, BackendError, float, int]:
        async with QueryPool(limit=2, backoff=(0.2, 0.2, 0.2)) as pool:
            began = time.monotonic()
            with pytest.raises(BackendError) as first:
                await pool.send(call(url))
            first_took = time.monotonic() - began
            began = time.monotonic()
            with pytest.raises(BackendError) as second:
                await pool.send(call(url, "/api/v1/query_range"))
            second_took = time.monotonic() - began
            return first.value, first_took, second.value, second_took, pool.sent

    first, first_took, second, second_took, sent = asyncio.run(run())
    assert first.backend == "prometheus"
    assert str(first).startswith(f"prometheus: cannot reach {url} (")
    assert first.hint == "check the URL and that the server is up"
    assert first_took >= 0.6  # three backoff steps of 0.2 s
    assert sent == 4  # the first call's attempts; the second sent nothing
    assert second is first
    assert second_took < 0.1


def test_an_unreachable_backend_does_not_stop_another(server: CountingServer) -> None:
    down = f"http://127.0.0.1:{closed_port()}"

    async def run() -> httpx.Response:
        async with QueryPool(limit=2, backoff=FAST) as pool:
            with pytest.raises(BackendError):
                await pool.send(call(down))
            return await pool.send(call(server.url))

    assert asyncio.run(run()).status_code == 200


# ---------------------------------------------------------------------- rate_limit_wait


def headers(**values: str) -> httpx.Headers:
    return httpx.Headers({k.replace("_", "-"): v for k, v in values.items()})


def test_ratelimit_reset_in_seconds() -> None:
    assert rate_limit_wait(headers(x_ratelimit_reset="1"), NOW) == 1.0
    assert rate_limit_wait(headers(x_ratelimit_reset=" 10 "), NOW) == 10.0


def test_ratelimit_reset_as_epoch_milliseconds_is_the_time_left() -> None:
    reset_ms = str(int(NOW * 1000) + 2500)
    assert rate_limit_wait(headers(x_ratelimit_reset=reset_ms), NOW) == 2.5


def test_ratelimit_reset_in_the_past_means_now() -> None:
    reset_ms = str(int(NOW * 1000) - 5000)
    assert rate_limit_wait(headers(x_ratelimit_reset=reset_ms), NOW) == 0.0


def test_retry_after_seconds_wins_over_ratelimit_reset() -> None:
    both = headers(retry_after="7", x_ratelimit_reset="1")
    assert rate_limit_wait(both, NOW) == 7.0
    epoch = headers(retry_after="3", x_ratelimit_reset=str(int(NOW * 1000) + 60_000))
    assert rate_limit_wait(epoch, NOW) == 3.0


def test_retry_after_http_date_is_the_time_left() -> None:
    date = email.utils.formatdate(NOW + 12, usegmt=True)
    assert rate_limit_wait(headers(retry_after=date, x_ratelimit_reset="1"), NOW) == 12.0


def test_no_rate_limit_header_is_none() -> None:
    assert rate_limit_wait(headers(), NOW) is None
    assert rate_limit_wait(headers(x_ratelimit_reset="soon"), NOW) is None


def test_retry_delay_for_429_is_the_wait_but_never_less_than_the_backoff() -> None:
    response = httpx.Response(429, headers={"x-ratelimit-reset": "1"})
    assert retry_delay(1, (0.25, 0.5), safe=True, now=NOW, max_wait=30, response=response) == 1.0
    quick = httpx.Response(429, headers={"x-ratelimit-reset": "0"})
    assert retry_delay(2, (0.25, 0.5), safe=True, now=NOW, max_wait=30, response=quick) == 0.5


def test_retry_delay_for_429_over_max_wait_stops() -> None:
    long = httpx.Response(429, headers={"retry-after": "31"})
    assert retry_delay(1, (0.25,), safe=True, now=NOW, max_wait=30, response=long) is None


def test_retry_delay_for_429_without_a_header_is_the_backoff_even_when_unsafe() -> None:
    silent = httpx.Response(429)
    assert retry_delay(1, (0.25,), safe=False, now=NOW, max_wait=30, response=silent) == 0.25
    assert retry_delay(2, (0.25,), safe=False, now=NOW, max_wait=30, response=silent) is None


def test_retry_delay_stops_after_the_last_backoff_step() -> None:
    busy = httpx.Response(503)
    assert retry_delay(3, (0.1, 0.2, 0.3), safe=True, now=NOW, max_wait=30, response=busy) == 0.3
    assert retry_delay(4, (0.1, 0.2, 0.3), safe=True, now=NOW, max_wait=30, response=busy) is None
    assert retry_delay(1, (0.1,), safe=True, now=NOW, max_wait=30, failure="connect") == 0.1
    assert retry_delay(1, (0.1,), safe=False, now=NOW, max_wait=30, failure="timeout") is None
