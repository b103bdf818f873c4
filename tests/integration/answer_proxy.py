"""A proxy on 127.0.0.1 that passes requests to a real metrics backend and rewrites its
answers: the misbehaving Thanos, sidecar or corporate proxy a metrics query meets in the
wild. Used by the fault table (tests/integration/test_metrics_faults.py).

A :data:`Rewrite` gets the request (method, path, its query or form parameters) and the
upstream's answer (status and parsed JSON, or None when the body is not JSON), and returns
the answer to send: a status and either JSON-able data or raw bytes. :func:`untouched`
passes everything through.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]

    @property
    def query(self) -> str:
        return self.params.get("query", "")

    def asks(self, *fragments: str) -> bool:
        """Whether the query text holds every fragment (``variant="true"``, ``status="500"``)."""
        return all(fragment in self.query for fragment in fragments)


Answer = tuple[int, Any]  # status, and JSON-able data or bytes
Rewrite = Callable[[Request, int, Any], Answer]


def untouched(request: Request, status: int, body: Any) -> Answer:
    return status, body


class AnswerProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream.rstrip("/")
        self.rewrite: Rewrite = untouched
        self.client = httpx.Client(timeout=30)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: AnswerProxy

    def do_GET(self) -> None:
        self._relay(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._relay(self.rfile.read(length))

    def _relay(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query))
        if self.command == "POST":
            params.update(parse_qsl(body.decode("utf-8")))
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        upstream = self.server.client.request(
            self.command, self.server.upstream + self.path, content=body, headers=headers
        )
        try:
            parsed: Any = upstream.json()
        except ValueError:
            parsed = None
        request = Request(self.command, parts.path, params)
        status, answer = self.server.rewrite(request, upstream.status_code, parsed)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def answer_proxy(upstream: str) -> Iterator[AnswerProxy]:
    proxy = AnswerProxy(upstream)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        proxy.client.close()
