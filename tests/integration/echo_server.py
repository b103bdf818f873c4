"""A misbehaving server for the secrets test: every answer echoes the request in full.

It stands in for a proxy or a broken backend in front of any of the tool's HTTP peers
(Unleash, LaunchDarkly, Prometheus, Datadog, webhook receivers): whatever it is asked, it
answers with the request's method, path, query, every header (``Authorization`` and the API
key headers first) and body, in the response body *and* in response headers. The first path
segment picks the answer, so one server serves every failure at once:

========  ==================================================================================
``401``   401, a JSON error whose every message field (``message``, ``details[].message``,
``403``   ``error``, ``errors[]``, ``code``, ``errorType``) is the echo; 403, 404, 429 (no
``404``   ``Retry-After``, an echoing ``X-RateLimit-Reset``) and 500 alike
``429``
``500``
``502``   502 with an HTML page (``<pre>`` echo)
``junk``  200 with a body that is not JSON (the echo as plain text)
``json``  200 with JSON whose fields a client reads as data (``resultType``, ``series``,
          ``environments[].name``, ``items``) hold the echo
========  ==================================================================================

Echoes are padded so that the first credential in them straddles character 200 or 300 (the
usual truncation points of error messages): a client that cuts before it scrubs leaks half a
token. Requests are kept in ``requests`` so a test can check the secrets were really sent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

MODES = ("401", "403", "404", "429", "500", "502", "junk", "json")
CUT = {"401": 200, "403": 300, "404": 0, "429": 200, "500": 300, "502": 200, "junk": 200}
SECRET_HEADERS = ("authorization", "dd-api-key", "dd-application-key", "x-scope-orgid")


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: str

    @property
    def text(self) -> str:
        """Everything about the request, as one string (what a test greps for secrets)."""
        lines = [f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers)]
        return "\n".join([*lines, self.body])


class EchoServer:
    """``with EchoServer() as echo: echo.url("401")`` → ``http://127.0.0.1:PORT/401``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                headers = sorted(
                    ((k, v) for k, v in self.headers.items()),
                    key=lambda kv: (kv[0].lower() not in SECRET_HEADERS, kv[0].lower()),
                )
                seen = Seen(self.command, self.path, tuple(headers), body)
                with server._lock:
                    server.requests.append(seen)
                status, content_type, payload, extra = respond(seen)
                data = payload.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, mode: str, userinfo: str = "") -> str:
        """The base URL answering in ``mode``, with ``user:pass@`` when given."""
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.port}/{mode}"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def modes_seen(self) -> set[str]:
        with self._lock:
            return {seen.path.split("/")[1] for seen in self.requests}


def echo_text(seen: Seen) -> str:
    """The request as one line: method, path, each header, body."""
    parts = [f"{seen.method} {seen.path}", *(f"{k}: {v}" for k, v in seen.headers)]
    return " | ".join([*parts, f"body: {seen.body}"])


def padded(text: str, seen: Seen, cut: int) -> str:
    """``text`` with dots in front so that the first credential in it starts 8 characters
    before ``cut`` (and so straddles it)."""
    if not cut:
        return text
    first = next(
        (v for k, v in seen.headers if k.lower() in SECRET_HEADERS and v in text),
        seen.path.rsplit("/", 1)[-1],
    )
    at = text.find(first)
    # "Bearer " / "Basic " prefixes: aim at the credential itself, after the scheme word
    at += len(first) - len(first.split(" ")[-1]) if at >= 0 else 0
    return "." * max(0, cut - 8 - at) + text if at >= 0 else text


def respond(seen: Seen) -> tuple[int, str, str, list[tuple[str, str]]]:
    """(status, content type, body, extra headers) for ``seen``, by the path's mode."""
    mode = seen.path.split("/")[1] if seen.path.count("/") >= 1 else ""
    echo = echo_text(seen)
    header_echo = "".join(c for c in echo if " " <= c <= "~")[:4000]
    extra = [("X-Echo-Request", header_echo)]
    if mode == "502":
        page = f"<html><body><h1>502 Bad Gateway</h1><pre>{padded(echo, seen, 200)}</pre>"
        return 502, "text/html", page + "</body></html>", extra
    if mode == "junk":
        return 200, "text/plain", padded(echo, seen, 200), extra
    if mode == "json":
        return 200, "application/json", json.dumps(_data_echo(echo)), extra
    status = int(mode) if mode.isdigit() else 500
    cut = CUT.get(mode, 300)
    first, second = padded(echo, seen, cut), padded(echo, seen, 300 if cut != 300 else 200)
    if status == 429:
        extra.append(("X-RateLimit-Reset", header_echo[:200]))
    document = {
        "status": "error",
        "errorType": first,
        "error": first,
        "errors": [first],
        "message": first,
        "code": second,
        "details": [{"message": second}],
    }
    return status, "application/json", json.dumps(document), extra


def _data_echo(echo: str) -> dict[str, object]:
    """A 200 answer whose data fields hold the echo where numbers or names are expected."""
    return {
        "status": "success",
        "data": {"resultType": echo, "result": [{"metric": {"echo": echo}, "value": [1, echo]}]},
        "series": [{"scope": echo, "pointlist": [[echo, echo]]}],
        "message": echo,
        "environments": [{"name": echo, "enabled": echo, "strategies": echo}],
        "items": [{"title": echo, "comment": echo}],
        "events": [{"type": echo, "data": echo}],
    }
