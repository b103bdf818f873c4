"""One bounded pool of concurrent HTTP queries, shared by every plan of one invocation.

A CI job that checks 50 plans sends all their queries through one ``QueryPool``: at most
``limit`` in flight at once, over one connection pool, with the retry policy every HTTP call
of the tool follows (:func:`rolloutcli.httpclient.retry_delay`). Once a backend is found
unreachable, later queries to it fail at once instead of each waiting out its own retries.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlencode

import httpx

from ..errors import BackendError, InvalidInputError
from ..httpclient import BACKOFF, MAX_RATE_LIMIT_WAIT, failure_kind, retry_delay, transport_error

DEFAULT_LIMIT = 16
FORM = "application/x-www-form-urlencoded"
ENV_LIMIT = "ROLLOUT_QUERY_CONCURRENCY"


def default_limit() -> int:
    raw = os.environ.get(ENV_LIMIT, "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInputError(f"{ENV_LIMIT}={raw!r}: give a whole number of queries, 1 or more")
    return int(raw)


@dataclass(frozen=True)
class Call:
    """One HTTP request a query takes."""

    backend: str
    base_url: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    method: str = "GET"


@dataclass
class QueryPool:
    limit: int = DEFAULT_LIMIT
    backoff: tuple[float, ...] = BACKOFF
    max_wait: float = MAX_RATE_LIMIT_WAIT
    clock: Callable[[], float] = time.time
    sent: int = 0
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _idle: asyncio.Queue[httpx.AsyncClient] | None = None
    _down: dict[str, BackendError] = field(default_factory=dict)

    async def __aenter__(self) -> QueryPool:
        # ``limit`` clients of one connection each, lent out one query at a time: the bound
        # on concurrency, and (measured) half the CPU per query of one shared client with
        # ``limit`` connections, whose pool bookkeeping grows with its connections.
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        tls = httpx.create_ssl_context()  # loading the CA bundle costs 30 ms: do it once
        self._clients = [httpx.AsyncClient(limits=one, verify=tls) for _ in range(self.limit)]
        self._idle = asyncio.Queue()
        for client in self._clients:
            self._idle.put_nowait(client)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def send(self, call: Call) -> httpx.Response:
        """The backend's answer (any status: its meaning is the source's business), after
        retrying what is safe to retry. Raises BackendError when no answer came."""
        assert self._idle is not None, "use `async with`"
        timeout = httpx.Timeout(call.timeout, connect=min(3.0, call.timeout))
        attempt = 0
        while True:
            attempt += 1
            client = await self._idle.get()
            try:
                down = self._down.get(call.base_url)  # found down by another query meanwhile
                if down is not None:
                    raise down
                try:
                    self.sent += 1
                    url = call.base_url.rstrip("/") + call.path
                    if call.method == "POST":  # a form body: no URL quoting of long queries
                        body = urlencode(call.params).encode()
                        headers = {**call.headers, "Content-Type": FORM}
                        response = await client.request(
                            "POST", url, content=body, headers=headers, timeout=timeout
                        )
                    else:
                        response = await client.request(
                            call.method,
                            url,
                            params=call.params,
                            headers=call.headers,
                            timeout=timeout,
                        )
                except httpx.HTTPError as exc:
                    delay = retry_delay(
                        attempt,
                        self.backoff,
                        safe=True,
                        now=self.clock(),
                        max_wait=self.max_wait,
                        failure=failure_kind(exc),
                    )
                    if delay is None:
                        error = transport_error(
                            call.backend, call.base_url, call.method, call.path, exc
                        )
                        if failure_kind(exc) == "connect":
                            self._down[call.base_url] = error
                        raise error from None
                else:
                    delay = retry_delay(
                        attempt,
                        self.backoff,
                        safe=True,
                        now=self.clock(),
                        max_wait=self.max_wait,
                        response=response,
                    )
                    if delay is None:
                        return response
            finally:
                self._idle.put_nowait(client)
            await asyncio.sleep(delay)
