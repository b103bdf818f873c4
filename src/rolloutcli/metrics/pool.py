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

import httpx

from ..errors import BackendError, InvalidInputError
from ..httpclient import BACKOFF, MAX_RATE_LIMIT_WAIT, failure_kind, retry_delay, transport_error

DEFAULT_LIMIT = 16
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
    _client: httpx.AsyncClient | None = None
    _gate: asyncio.Semaphore | None = None
    _down: dict[str, BackendError] = field(default_factory=dict)

    async def __aenter__(self) -> QueryPool:
        limits = httpx.Limits(max_connections=self.limit, max_keepalive_connections=self.limit)
        self._client = httpx.AsyncClient(limits=limits)
        self._gate = asyncio.Semaphore(self.limit)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, call: Call) -> httpx.Response:
        """The backend's answer (any status: its meaning is the source's business), after
        retrying what is safe to retry. Raises BackendError when no answer came."""
        assert self._client is not None and self._gate is not None, "use `async with`"
        down = self._down.get(call.base_url)
        if down is not None:
            raise down
        timeout = httpx.Timeout(call.timeout, connect=min(3.0, call.timeout))
        attempt = 0
        while True:
            attempt += 1
            async with self._gate:
                try:
                    self.sent += 1
                    response = await self._client.request(
                        call.method,
                        call.base_url.rstrip("/") + call.path,
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
            await asyncio.sleep(delay)
