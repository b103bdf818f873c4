"""A misbehaving HTTP server on 127.0.0.1, alone or as a proxy in front of a real one.

``FaultServer`` answers each request with the first scripted :class:`Fault` that matches its
method and path (using one of its ``times``), else forwards it to ``upstream`` (a real
Unleash, the LaunchDarkly fake) or, with no upstream, answers ``200 ok``. Faults:

- ``status``: an answer with that status, headers and body (a 429 with no ``Retry-After``,
  a 503 ...);
- ``trickle_headers`` / ``trickle_body``: a 200 whose header block (or body) arrives one
  byte every ``interval`` seconds, for as long as the client listens;
- ``silent``: read the request, never answer, keep the connection open.

Every request is recorded in ``seen`` as (method, path, what it got). Used by
tests/unit/support/test_http_deadline.py and tests/integration/test_kill_duress.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx

Kind = Literal["status", "trickle_headers", "trickle_body", "silent"]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Fault:
    kind: Kind
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    method: str | None = None  # None: any method
    path: str | None = None  # a regular expression searched in the path; None: any path
    times: int = 1
    interval: float = 1.0  # seconds between two trickled bytes

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.search(self.path, path) is not None
        )


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream.rstrip("/") if upstream else None
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def note(self, method: str, path: str, what: str) -> None:
        with self.lock:
            self.seen.append((method, path, what))

    def requests(self, method: str | None = None, path: str | None = None) -> list[str]:
        """What each matching request got, in order."""
        with self.lock:
            return [
                what
                for m, p, what in self.seen
                if (method is None or m == method) and (path is None or re.search(path, p))
            ]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up has closed its end: nothing to report


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.server.take(self.command, self.path)
        if fault is None:
            self._forward(body)
        elif fault.kind == "status":
            self.server.note(self.command, self.path, f"fault {fault.status}")
            self._reply(fault.status, fault.headers, fault.body)
        elif fault.kind == "silent":
            self.server.note(self.command, self.path, "fault silent")
            self.server.stopping.wait()
        else:
            self.server.note(self.command, self.path, f"fault {fault.kind}")
            self._trickle(fault)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body: bytes) -> None:
        if self.server.upstream is None:
            self.server.note(self.command, self.path, "200 ok")
            self._reply(200, {"Content-Type": "text/plain"}, b"ok")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = httpx.request(
            self.command,
            self.server.upstream + self.path,
            headers=headers,
            content=body,
            timeout=30.0,
        )
        self.server.note(self.command, self.path, f"upstream {answer.status_code}")
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        kept.pop("content-encoding", None)  # httpx decoded the body
        self._reply(answer.status_code, kept, answer.content)

    def _trickle(self, fault: Fault) -> None:
        if fault.kind == "trickle_headers":
            head, drip = b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 10_000
        else:
            head, drip = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n", b"a" * 10_000
        try:
            self.wfile.write(head)
            for byte in drip:
                if self.server.stopping.wait(fault.interval):
                    return
                self.wfile.write(bytes([byte]))
        except OSError:
            return  # the client hung up: what a deadline does

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def fault_server(upstream: str | None = None) -> Iterator[FaultServer]:
    server = FaultServer(upstream)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
