"""The answer-size budget: a body past 64 MiB, counted after decoding (so a 64 KiB gzip bomb
counts at its 65 MiB), is refused in one line by both HTTP clients; a normal compressed
answer still reads as JSON. A real server on 127.0.0.1 sends the bytes."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rolloutcli.metrics.pool import Call, QueryPool
from rolloutcli.support.errors import BackendError
from rolloutcli.support.http import MAX_ANSWER_BYTES, HttpBackend

BOMB = gzip.compress(b"0" * (MAX_ANSWER_BYTES + 1024), compresslevel=9)
SMALL = gzip.compress(json.dumps({"status": "success", "data": [1, 2, 3]}).encode())


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = BOMB if self.path.startswith("/bomb") else SMALL
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}"
    server.shutdown()
    server.server_close()


def test_the_bomb_is_small_on_the_wire() -> None:
    assert len(BOMB) < 200_000


def test_a_compressed_answer_reads_as_its_json(url: str) -> None:
    answer = HttpBackend("test", url, {}).request("GET", "/small")
    assert answer.response.json() == {"status": "success", "data": [1, 2, 3]}
    assert "content-encoding" not in answer.response.headers


def test_a_gzip_bomb_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(BackendError) as info:
        HttpBackend("test", url, {}).request("GET", "/bomb")
    assert str(info.value) == (
        "test: GET /bomb: the answer is larger than 64 MiB (hint: a query that returns far "
        "too much (narrow it) or a misbehaving server)"
    )


def test_the_query_pool_refuses_the_bomb_and_reads_the_rest(url: str) -> None:
    async def both() -> tuple[Any, Any]:
        async with QueryPool(limit=2) as pool:
            bomb = pool.send(Call("test", url, "/bomb", {}))
            small = pool.send(Call("test", url, "/small", {}))
            return await asyncio.gather(bomb, small, return_exceptions=True)

    bomb, small = asyncio.run(both())
    assert isinstance(bomb, BackendError) and "larger than 64 MiB" in str(bomb)
    assert small.json() == {"status": "success", "data": [1, 2, 3]}
