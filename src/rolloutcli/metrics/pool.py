"""One bounded pool of concurrent HTTP queries, shared by every plan of one invocation.

A CI job that checks 50 plans sends all their queries through one ``QueryPool``: at most
``limit`` in flight at once, over one connection pool, with the retry policy every HTTP call
of the tool follows (:func:`rolloutcli.support.http.retry_delay`). Once a backend is found
unreachable, later queries to it fail at once instead of each waiting out its own retries.

Every query ends by its total deadline (``ROLLOUT_HTTP_DEADLINE``, 20 s), counted from when
it first gets a connection (waiting for a free one is the pool's doing, not the server's):
each attempt runs under ``asyncio.wait_for`` with the time left, which cancels it as a
whole, headers and body, however slowly the server drips them; httpx closes a cancelled
attempt's connection, so nothing of it reaches a later query.
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

from rolloutcli.support.deadlines import default_deadline
from rolloutcli.support.errors import BackendError, InvalidInputError
from rolloutcli.support.http import (
    BACKOFF,
    MAX_ANSWER_BYTES,
    MAX_RATE_LIMIT_WAIT,
    answer_too_large,
    deadline_error,
    failure_kind,
    failure_text,
    rate_limit_wait,
    rate_limited_error,
    retry_delay,
    shared_tls,
    transport_error,
    with_body,
)

DEFAULT_LIMIT = 16
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
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
    body: bytes | None = None
    """A JSON body (sent as is, with its content type); None: the params as a form (POST)."""


@dataclass
class QueryPool:
    limit: int = DEFAULT_LIMIT
    backoff: tuple[float, ...] = BACKOFF
    max_wait: float = MAX_RATE_LIMIT_WAIT
    clock: Callable[[], float] = time.time
    deadline: float | None = None
    """Seconds each query may take in all; None: ``ROLLOUT_HTTP_DEADLINE`` or 20 s."""
    sent: int = 0
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _idle: asyncio.Queue[httpx.AsyncClient] | None = None
    _down: dict[str, BackendError] = field(default_factory=dict)
    _urls: dict[tuple[str, str], httpx.URL] = field(default_factory=dict)

    async def __aenter__(self) -> QueryPool:
        if self.deadline is None:
            self.deadline = default_deadline()
        # ``limit`` clients of one connection each, lent out one query at a time: the bound
        # on concurrency, and (measured) half the CPU per query of one shared client with
        # ``limit`` connections, whose pool bookkeeping grows with its connections.
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        tls = shared_tls()  # loading the CA bundle costs 30 ms or more: once per process
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
        retrying what is safe to retry, within the deadline. Raises BackendError when no
        answer came in time."""
        assert self._idle is not None and self.deadline is not None, "use `async with`"
        timeout = httpx.Timeout(call.timeout, connect=min(3.0, call.timeout))
        end: float | None = None
        outcomes: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            client = await self._idle.get()
            try:
                down = self._down.get(call.base_url)  # found down by another query meanwhile
                if down is not None:
                    raise down
                if end is None:
                    end = time.monotonic() + self.deadline
                left = end - time.monotonic()
                if left <= 0:
                    raise self._out_of_time(call, outcomes)
                try:
                    self.sent += 1
                    response = await asyncio.wait_for(self._attempt(client, call, timeout), left)
                except TimeoutError:
                    outcomes.append("cut off at the deadline")
                    raise self._out_of_time(call, outcomes) from None
                except httpx.HTTPError as exc:
                    outcomes.append(failure_text(exc))
                    delay = retry_delay(
                        attempt,
                        self.backoff,
                        safe=True,
                        now=self.clock(),
                        max_wait=self.max_wait,
                        failure=failure_kind(exc),
                    )
                    never_left = all(outcome == "connection failed" for outcome in outcomes)
                    if delay is None or (never_left and time.monotonic() + delay >= end):
                        error = transport_error(
                            call.backend, call.base_url, call.method, call.path, exc
                        )
                        if failure_kind(exc) == "connect":
                            self._down[call.base_url] = error
                        raise error from None
                    if time.monotonic() + delay >= end:
                        raise self._out_of_time(call, outcomes) from None
                else:
                    outcomes.append(f"HTTP {response.status_code}")
                    self._check_rate_limit(call, response, end)
                    delay = retry_delay(
                        attempt,
                        self.backoff,
                        safe=True,
                        now=self.clock(),
                        max_wait=self.max_wait,
                        response=response,
                    )
                    if delay is None or time.monotonic() + delay >= end:
                        return response  # no retry fits: this answer stands
            finally:
                self._idle.put_nowait(client)
            await asyncio.sleep(delay)

    async def _attempt(
        self, client: httpx.AsyncClient, call: Call, timeout: httpx.Timeout
    ) -> httpx.Response:
        url = self._url(call)
        if call.body is not None:
            headers = {**call.headers, "Content-Type": JSON}
            request = client.build_request(
                call.method, url, content=call.body, headers=headers, timeout=timeout
            )
        elif call.method == "POST":  # a form body: no URL quoting of long queries
            body = urlencode(call.params).encode()
            headers = {**call.headers, "Content-Type": FORM}
            request = client.build_request(
                "POST", url, content=body, headers=headers, timeout=timeout
            )
        else:
            request = client.build_request(
                call.method,
                url,
                params=call.params or None,  # None: keep a query already in the path
                headers=call.headers,
                timeout=timeout,
            )
        response = await client.send(request, stream=True)
        try:
            answer = bytearray()
            async for chunk in response.aiter_bytes():
                answer += chunk
                if len(answer) > MAX_ANSWER_BYTES:
                    raise answer_too_large(call.backend, call.method, call.path)
        finally:
            await response.aclose()
        return with_body(response, bytes(answer))

    def _url(self, call: Call) -> httpx.URL:
        """The call's URL, parsed once per base URL and path: httpx's URL parser is a
        noticeable share of each request's CPU, and a fleet sends thousands to a few URLs."""
        key = (call.base_url, call.path)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = httpx.URL(call.base_url.rstrip("/") + call.path)
        return url

    def _check_rate_limit(self, call: Call, response: httpx.Response, end: float) -> None:
        """A 429 asking for a wait the query cannot afford stops here, saying so."""
        if response.status_code != 429:
            return
        asked = rate_limit_wait(response.headers, self.clock())
        left = end - time.monotonic()
        if asked is not None and (asked >= left or asked > self.max_wait):
            raise rate_limited_error(
                call.backend, call.method, call.path, asked, left, self.max_wait
            )

    def _out_of_time(self, call: Call, outcomes: list[str]) -> BackendError:
        assert self.deadline is not None
        return deadline_error(
            call.backend,
            call.base_url,
            call.method,
            call.path,
            self.deadline,
            outcomes,
            write=False,  # a query only reads, whatever its method
        )
