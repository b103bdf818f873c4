"""A real local webhook receiver for tests: an HTTP server on 127.0.0.1 that records every
request and answers from a script.

API::

    with WebhookReceiver() as rx:           # start() on enter, stop() on exit
        rx.url                              # "http://127.0.0.1:<port>" (port chosen by the OS)
        rx.url_for("/slack")                # the same with a path
        rx.script(Reply(500), Reply(200))   # the next answers, in order, for any path
        rx.script(Reply(429, headers={"Retry-After": "1"}), path="/slack")  # for one path
        ... post to it ...
        rx.requests                         # list[Received], in arrival order
        rx.requests[0].json()               # the body parsed; .body is the raw bytes
        rx.requests[0].header("content-type")
        rx.wait_for(2, timeout=5)           # block until 2 requests have arrived

* :class:`Reply` is ``status`` (200), ``body`` (``"ok"``, as Slack answers), ``headers`` and
  ``delay``: seconds to hold the answer, to play a receiver that hangs. A held answer is
  released at once by :meth:`WebhookReceiver.stop`, so a test never waits for it.
* A request takes the next reply scripted for its path, else the next one scripted for any
  path, else the default :attr:`WebhookReceiver.default` (``Reply()``: 200 ``ok``).
* Every request is recorded when it arrives, before it is answered (a hung request too).
* :func:`refused_url` is the URL of a port on 127.0.0.1 where nothing listens (connection
  refused).

``start()`` / ``stop()`` may be called directly instead of using ``with``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() on arrival

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class WebhookReceiver:
    def __init__(self) -> None:
        self.default = Reply()
        self.requests: list[Received] = []
        self._any: deque[Reply] = deque()
        self._by_path: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> WebhookReceiver:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases held answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ use

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the receiver first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def script(self, *replies: Reply, path: str | None = None) -> None:
        with self._lock:
            queue = self._any if path is None else self._by_path.setdefault(path, deque())
            queue.extend(replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    # ------------------------------------------------------------------ server side

    def _record(self, received: Received) -> Reply:
        with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
            queue = self._by_path.get(received.path)
            if queue:
                return queue.popleft()
            if self._any:
                return self._any.popleft()
            return self.default

    def _hold(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: WebhookReceiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received = Received(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.monotonic(),
        )
        receiver = self.server.receiver
        reply = receiver._record(received)
        receiver._hold(reply.delay)
        data = reply.body.encode("utf-8")
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (a timeout test): nothing to answer
            self.close_connection = True

    do_POST = _handle
    do_GET = _handle
    do_PUT = _handle


def refused_url(path: str = "/hook") -> str:
    """A URL on 127.0.0.1 where nothing listens: the port was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
