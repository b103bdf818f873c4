"""Property-based fuzzing of what flag platforms answer: whatever JSON a server (or a proxy
or login page in front of it) sends, the Unleash and LaunchDarkly adapters end in a result or
a one-line :class:`RolloutError`, and a kill still sends its write.

A real HTTP server on 127.0.0.1 answers every read with the case's JSON (a mutated, valid
looking answer or junk) and every write with ``{}``. ``ROLLOUT_FUZZ_EXAMPLES`` sets the
cases (see tests/fuzzing.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rolloutcli.platforms.launchdarkly import LaunchDarklyPlatform
from rolloutcli.platforms.unleash import UnleashPlatform
from rolloutcli.support.errors import RolloutError
from tests.fuzzing import FUZZ

pytestmark = pytest.mark.fuzz

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(["production", "flexibleRollout", "50", "rolloutcli plan=p stage=10% pct=10"]),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "enabled", "strategies", "title", "parameters", "id", "on"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
STRATEGY = st.fixed_dictionaries(
    {
        "id": st.text(max_size=4) | LEAVES,
        "name": st.just("flexibleRollout") | LEAVES,
        "title": st.just("rolloutcli plan=p stage=10% pct=10 action=advance") | LEAVES,
        "parameters": st.fixed_dictionaries({"rollout": st.just("10") | LEAVES}) | JSON,
        "variants": st.just([]) | JSON,
        "constraints": st.just([]) | JSON,
        "segments": st.just([]) | JSON,
    }
)
UNLEASH_FEATURE = st.fixed_dictionaries(
    {
        "environments": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.just("production") | LEAVES,
                    "enabled": st.booleans() | LEAVES,
                    "strategies": st.lists(STRATEGY | JSON, max_size=3) | JSON,
                }
            )
            | JSON,
            max_size=3,
        )
        | JSON
    }
)
LD_ENVIRONMENT = st.fixed_dictionaries(
    {
        "on": st.booleans() | LEAVES,
        "version": st.integers(0, 100) | LEAVES,
        "fallthrough": JSON,
        "targets": JSON,
        "rules": JSON,
    }
)
LD_FLAG = st.fixed_dictionaries(
    {
        "variations": st.just([{"_id": "a", "value": True}, {"_id": "b", "value": False}]) | JSON,
        "environments": st.fixed_dictionaries({"production": LD_ENVIRONMENT | JSON}) | JSON,
        "customProperties": JSON,
    }
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    reads: dict[str, Any]
    writes: list[tuple[str, str]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        body = next((b for prefix, b in self.server.reads.items() if prefix in path), {})
        self._send(body)

    def _write(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.writes.append((self.command, self.path))
        self._send({})

    do_POST = do_PATCH = do_PUT = do_DELETE = _write

    def _send(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.reads, srv.writes = {}, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def exercise(platform: UnleashPlatform | LaunchDarklyPlatform, server: _Server) -> None:
    """Read, then kill; every failure is one line; a kill that says it worked wrote."""
    for call in (lambda: platform.read_state(True, False), platform.history):
        try:
            call()
        except RolloutError as exc:
            assert "\n" not in str(exc)
    server.writes.clear()
    try:
        changed = platform.turn_off("p", "fuzz")
    except RolloutError as exc:
        assert "\n" not in str(exc)
        return
    if changed:
        assert any(method in ("POST", "PATCH") for method, _ in server.writes)


@FUZZ
@given(feature=UNLEASH_FEATURE | JSON, events=JSON, tags=JSON)
def test_any_unleash_answer_reads_and_kills_or_fails_in_one_line(
    server: _Server, feature: Any, events: Any, tags: Any
) -> None:
    server.reads = {"/tags": tags, "/events/": events, "/features/": feature}
    platform = UnleashPlatform(
        url=url(server), token="t", flag="f", plan="p", environment="production"
    )
    exercise(platform, server)


@FUZZ
@given(flag=LD_FLAG | JSON, audit=JSON)
def test_any_launchdarkly_answer_reads_and_kills_or_fails_in_one_line(
    server: _Server, flag: Any, audit: Any
) -> None:
    server.reads = {"/auditlog": audit, "/flags/": flag}
    platform = LaunchDarklyPlatform(
        url=url(server), token="t", flag="f", plan="p", project="default", environment="production"
    )
    exercise(platform, server)
