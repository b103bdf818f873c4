"""``HttpBackend.request`` against a real HTTP server on 127.0.0.1: what is retried, what
is not, and how transport failures become a ``BackendError``.

The server is the standard library's ``ThreadingHTTPServer`` answering from a script (status,
body, delay per request) and recording every request it receives. Nothing in httpx is
mocked; only the backoff sleep is replaced by a recorder so the tests do not wait.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from rolloutcli.support.errors import BackendError
from rolloutcli.support.http import HttpBackend

BACKOFF = (0.01, 0.02, 0.03)
SHORT = httpx.Timeout(0.2)
SLOW = 2.0  # seconds a "slow" answer takes: well past SHORT


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next scripted reply (the last one repeats)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.replies: list[Reply] = [Reply()]
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def take(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out has closed its end: the late answer has nowhere to go


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.take(Seen(self.command, self.path, body, dict(self.headers)))
        if reply.delay:
            self.server.stopping.wait(reply.delay)
        data = reply.body.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def backend(sleeps: Sleeps) -> Iterator[Callable[..., HttpBackend]]:
    made: list[HttpBackend] = []

    def make(url: str, **options: Any) -> HttpBackend:
        options.setdefault("backoff", BACKOFF)
        client = HttpBackend("unleash", url, {"Authorization": "tok"}, sleep=sleeps, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def wait_for_requests(server: ScriptedServer, count: int, within: float = 2.0) -> None:
    """The server records a request on its own thread: give it a moment to arrive."""
    deadline = time.monotonic() + within
    while len(server.seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def methods(server: ScriptedServer) -> list[str]:
    return [s.method for s in server.seen]


# ---------------------------------------------------------------------- answers


def test_get_is_retried_after_503_until_200(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(503, "busy"), Reply(503, "busy"), Reply(200, "fine")]
    answer = backend(server.url).request("GET", "/thing")
    assert answer.response.status_code == 200
    assert answer.response.text == "fine"
    assert answer.attempts == 3
    assert sleeps.calls == [0.01, 0.02]
    assert methods(server) == ["GET", "GET", "GET"]


def test_get_returns_the_last_5xx_when_retries_run_out(
    server: ScriptedServer, backend, sleeps
) -> None:
    server.replies = [Reply(503, "busy")]
    answer = backend(server.url).request("GET", "/thing")
    assert answer.response.status_code == 503
    assert answer.attempts == 4
    assert sleeps.calls == [0.01, 0.02, 0.03]
    assert len(server.seen) == 4


def test_post_is_not_retried_on_503(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(503, "busy"), Reply(200, "fine")]
    answer = backend(server.url).request("POST", "/things", json={"a": 1})
    assert answer.response.status_code == 503
    assert answer.response.text == "busy"
    assert answer.attempts == 1
    assert sleeps.calls == []
    assert methods(server) == ["POST"]


def test_idempotent_post_is_retried_on_503(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(503, "busy"), Reply(201, "made")]
    answer = backend(server.url).request("POST", "/things", json={"a": 1}, idempotent=True)
    assert answer.response.status_code == 201
    assert answer.attempts == 2
    assert sleeps.calls == [0.01]
    assert methods(server) == ["POST", "POST"]


def test_get_marked_not_idempotent_is_not_retried(server: ScriptedServer, backend) -> None:
    server.replies = [Reply(503, "busy"), Reply(200, "fine")]
    answer = backend(server.url).request("GET", "/thing", idempotent=False)
    assert (answer.response.status_code, answer.attempts) == (503, 1)


def test_patch_is_not_idempotent_by_default(server: ScriptedServer, backend) -> None:
    server.replies = [Reply(503, "busy"), Reply(200, "fine")]
    answer = backend(server.url).request("PATCH", "/thing/1", json=[])
    assert (answer.response.status_code, answer.attempts) == (503, 1)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_and_delete_are_idempotent_by_default(
    server: ScriptedServer, backend, method: str
) -> None:
    server.replies = [Reply(502, "gateway"), Reply(200, "fine")]
    answer = backend(server.url).request(method, "/thing/1")
    assert (answer.response.status_code, answer.attempts) == (200, 2)
    assert methods(server) == [method, method]


def test_retry_status_false_stops_retries(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(500, "Test operation failed"), Reply(200, "fine")]
    looked_at: list[str] = []

    def retry(response: httpx.Response) -> bool:
        looked_at.append(response.text)
        return "test operation failed" not in response.text.lower()

    answer = backend(server.url).request(
        "PATCH", "/s/1", json=[], idempotent=True, retry_status=retry
    )
    assert answer.response.status_code == 500
    assert answer.response.text == "Test operation failed"
    assert answer.attempts == 1
    assert looked_at == ["Test operation failed"]
    assert sleeps.calls == []
    assert len(server.seen) == 1


def test_retry_status_true_keeps_retrying(server: ScriptedServer, backend) -> None:
    server.replies = [Reply(500, "boom"), Reply(200, "fine")]
    answer = backend(server.url).request(
        "PATCH", "/s/1", json=[], idempotent=True, retry_status=lambda r: True
    )
    assert (answer.response.status_code, answer.attempts) == (200, 2)


@pytest.mark.parametrize("status", [400, 401, 404, 409])
def test_4xx_is_never_retried(server: ScriptedServer, backend, sleeps, status: int) -> None:
    server.replies = [Reply(status, "no"), Reply(200, "fine")]
    answer = backend(server.url).request("GET", "/thing", idempotent=True)
    assert (answer.response.status_code, answer.attempts) == (status, 1)
    assert sleeps.calls == []
    assert len(server.seen) == 1


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_429_without_a_wait_is_retried_with_the_backoff_even_for_a_write(
    server: ScriptedServer, backend, sleeps, method: str
) -> None:
    """A 429 was not processed: any request may be sent again, the header or not."""
    server.replies = [Reply(429, "slow down"), Reply(429, "slow down"), Reply(200, "fine")]
    answer = backend(server.url).request(method, "/thing", json={"a": 1})
    assert (answer.response.status_code, answer.attempts) == (200, 3)
    assert sleeps.calls == [0.01, 0.02]
    assert methods(server) == [method] * 3


def test_429_is_returned_when_the_retries_run_out(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(429, "slow down")]
    answer = backend(server.url).request("POST", "/thing", json={})
    assert (answer.response.status_code, answer.attempts) == (429, 4)
    assert sleeps.calls == [0.01, 0.02, 0.03]


def test_request_sends_json_params_and_headers(server: ScriptedServer, backend) -> None:
    answer = backend(server.url + "/").request(
        "POST", "/api/things", json={"a": 1}, params={"q": "x y"}
    )
    assert answer.response.status_code == 200
    [seen] = server.seen
    assert seen.path == "/api/things?q=x+y"
    assert json.loads(seen.body) == {"a": 1}
    assert seen.headers["Authorization"] == "tok"


def test_base_url_loses_its_trailing_slash(server: ScriptedServer, backend) -> None:
    assert backend(server.url + "/").base_url == server.url


# ---------------------------------------------------------------------- unreachable


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A port bound but not listening: connecting to it is refused (and stays refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_refused_is_retried_then_raises(
    closed_url: str, backend, sleeps, method: str
) -> None:
    with pytest.raises(BackendError) as info:
        backend(closed_url).request(method, "/thing")
    error = info.value
    assert str(error).startswith(f"unleash: cannot reach {closed_url} (")
    assert str(error).endswith(") (hint: check the URL and that the server is up)")
    assert "refused" in str(error).lower()
    assert error.backend == "unleash"
    assert error.exit_code == 3
    assert sleeps.calls == [0.01, 0.02, 0.03]  # a refused request never left: always retried


def test_without_backoff_a_refused_connection_is_tried_once(
    closed_url: str, backend, sleeps
) -> None:
    with pytest.raises(BackendError, match="cannot reach"):
        backend(closed_url, backoff=()).request("GET", "/thing")
    assert sleeps.calls == []


# ---------------------------------------------------------------------- timeouts


def test_get_timeout_is_retried_then_raises(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(200, "late", delay=SLOW)]
    with pytest.raises(BackendError) as info:
        backend(server.url, timeout=SHORT, backoff=(0.01,)).request("GET", "/slow")
    assert str(info.value) == (
        f"unleash: GET /slow timed out at {server.url} "
        "(hint: the server is slow or unreachable; nothing was confirmed)"
    )
    assert info.value.exit_code == 3
    assert sleeps.calls == [0.01]
    wait_for_requests(server, 2)
    assert methods(server) == ["GET", "GET"]


def test_get_timeout_then_a_prompt_answer_succeeds(server: ScriptedServer, backend) -> None:
    server.replies = [Reply(200, "late", delay=SLOW), Reply(200, "prompt")]
    answer = backend(server.url, timeout=SHORT).request("GET", "/slow")
    assert answer.response.text == "prompt"
    assert answer.attempts == 2


def test_post_timeout_raises_at_once(server: ScriptedServer, backend, sleeps) -> None:
    server.replies = [Reply(201, "late", delay=SLOW), Reply(201, "prompt")]
    with pytest.raises(BackendError) as info:
        backend(server.url, timeout=SHORT).request("POST", "/things", json={"a": 1})
    assert str(info.value) == (
        f"unleash: POST /things timed out at {server.url} "
        "(hint: the server is slow or unreachable; nothing was confirmed)"
    )
    assert sleeps.calls == []
    wait_for_requests(server, 1)
    time.sleep(0.1)  # nothing more arrives
    assert methods(server) == ["POST"]
