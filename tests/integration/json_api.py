"""A small JSON metrics API on 127.0.0.1, the json source's counterpart in the tests: a real
HTTP server (threaded ``http.server``) answering what a team's own metrics service might.

The history is the Prometheus tests' (:mod:`tests.integration.prometheus_data`): per flag,
every 15 s, 40 treatment (variant "true") and 360 control requests, errors drawn at that
module's ``error_rate``; and a p99 latency per minute around 250 ms. Each increment is
stamped with the start of the 15 s it covers.

``GET /api/v1/series?metric=&flag=&variant=&from=&to=&step=`` and ``POST /api/v1/query``
(the same fields as a JSON object) answer ``{"data": {"series": [{"labels": {...},
"points": [[bucket start, value], ...]}]}}``: the points in [from, to) summed (counters) or
averaged (gauges) per ``step`` seconds from ``from``. No variant: one series per variant.
Every request needs ``Authorization: Bearer <token>``; a wrong one gets a 401 that echoes
it (as careless servers do), to prove the tool scrubs it.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tests.integration.prometheus_data import END, error_rate

GAUGES = frozenset({"latency_p99_ms", "latency_ms"})
Series = dict[tuple[str, str, str], list[tuple[int, float]]]


def history(seed: int = 20240101) -> Series:
    """(metric, flag, variant) → [(time, value)] over the 4 h before END."""
    rng = np.random.default_rng(seed)
    out: Series = defaultdict(list)
    for flag in ("healthy", "regression", "incident"):
        for variant, requests in (("true", 40), ("false", 360)):
            for t in range(END - 4 * 3600, END, 15):
                # error_rate reads the end of the 15 s (Prometheus's stamp)
                errors = int(rng.binomial(requests, error_rate(flag, variant, t + 15)))
                out["requests", flag, variant].append((t, float(requests)))
                out["errors", flag, variant].append((t, float(errors)))
                if t % 60 == 0:
                    p99 = float(rng.normal(250, 10))
                    out["latency_p99_ms", flag, variant].append((t, p99))
    return out


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class JsonApi:
    token: str | None = "s3cret-token-for-the-json-api"
    """None: no credentials asked for."""
    data: Series = field(default_factory=history)
    seen: list[Seen] = field(default_factory=list)

    def __enter__(self) -> JsonApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(size))

            def _answer(self, body: bytes) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.seen.append(Seen(self.command, self.path, headers, body))
                status, answer = api.answer(self.command, self.path, headers, body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        given = headers.get("authorization", "")
        if self.token is not None and given != f"Bearer {self.token}":
            return 401, {"error": f"bad credentials: {given!r}"}
        parts = urlsplit(path)
        if method == "GET" and parts.path == "/api/v1/series":
            fields = {k: v[0] for k, v in parse_qs(parts.query).items()}
        elif method == "POST" and parts.path == "/api/v1/query":
            try:
                fields = {k: str(v) for k, v in json.loads(body).items()}
            except (ValueError, AttributeError):
                return 400, {"error": "the body is not a JSON object"}
        else:
            return 404, {"error": f"no such endpoint: {method} {parts.path}"}
        return self.series(fields)

    def series(self, fields: Mapping[str, str]) -> tuple[int, Any]:
        unknown = set(fields) - {"metric", "flag", "variant", "from", "to", "step"}
        if unknown:
            return 400, {"error": f"unknown parameter {sorted(unknown)[0]!r}"}
        try:
            start, end, step = (int(fields[k]) for k in ("from", "to", "step"))
            metric, flag = fields["metric"], fields["flag"]
        except (KeyError, ValueError) as exc:
            return 400, {"error": f"bad or missing parameter: {exc}"}
        variants = [fields["variant"]] if "variant" in fields else ["true", "false"]
        found = []
        for variant in variants:
            points = self.data.get((metric, flag, variant))
            if points is None:
                continue
            buckets: dict[int, list[float]] = defaultdict(list)
            for t, value in points:
                if start <= t < end:
                    buckets[start + (t - start) // step * step].append(value)
            agg = np.mean if metric in GAUGES else np.sum
            found.append(
                {
                    "labels": {"metric": metric, "flag": flag, "variant": variant},
                    "points": [[b, float(agg(v))] for b, v in sorted(buckets.items())],
                }
            )
        return 200, {"data": {"series": found}}
