"""HTTP for the platform and metrics adapters: timeouts on every call, retries with backoff.

Only what is safe to repeat is retried: a request that never left (connection refused or
timed out while connecting) is always retried; a server error (5xx) or a timeout is
retried only for reads and idempotent writes, since a repeated non-idempotent write could
apply twice. What the answer means is
the adapter's business: this module returns every HTTP response, and turns only transport
failures (unreachable, timed out) into a ``BackendError`` naming the backend. A 429 (rate
limited) was not processed, so any request waits as the server asks (``Retry-After`` or
``X-Ratelimit-Reset``) and is sent again, unless the wait is longer than ``max_wait``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from .errors import BackendError

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
BACKOFF = (0.25, 0.5, 1.0)  # seconds before each retry
MAX_RATE_LIMIT_WAIT = 30.0  # seconds; a longer rate-limit wait is reported, not slept


def rate_limit_wait(headers: httpx.Headers, now: float) -> float | None:
    """Seconds a 429 asks us to wait: ``Retry-After`` (seconds, or an HTTP date), else
    ``X-Ratelimit-Reset``: epoch milliseconds when it is that large (LaunchDarkly's), else
    seconds until the reset (Datadog's). A reset in the past (clock skew) means "now".
    None when neither header says."""
    retry_after = headers.get("retry-after")
    if retry_after:
        text = retry_after.strip()
        if text.isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - now)
    reset = headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        value = int(reset.strip())
        if value >= EPOCH_MS_THRESHOLD:
            return max(0.0, value / 1000.0 - now)
        return float(value)
    return None


EPOCH_MS_THRESHOLD = 10**11  # an X-Ratelimit-Reset this large is an epoch in ms, not seconds

Failure = Literal["connect", "timeout", "transport"]


def retry_delay(
    attempt: int,
    backoff: tuple[float, ...],
    *,
    safe: bool,
    now: float,
    max_wait: float,
    failure: Failure | None = None,
    response: httpx.Response | None = None,
    worth_5xx: bool = True,
) -> float | None:
    """Seconds to wait before sending attempt ``attempt + 1`` again, or None: stop here.

    The retry policy of every HTTP call the tool makes (sync and async), in one place:
    a request that never reached the server is always repeated; a timeout, a transport
    error or a 5xx only when ``safe`` (a read or an idempotent write); a 429 whenever the
    server says how long to wait and that is at most ``max_wait``."""
    if attempt > len(backoff):
        return None
    pause = backoff[attempt - 1]
    if failure == "connect":
        return pause
    if failure is not None:
        return pause if safe else None
    assert response is not None
    if response.status_code == 429:
        wait = rate_limit_wait(response.headers, now)
        if wait is None or wait > max_wait:
            return None
        return max(wait, pause)
    if response.status_code >= 500 and worth_5xx and safe:
        return pause
    return None


def failure_kind(exc: httpx.HTTPError) -> Failure:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "transport"


def transport_error(
    backend: str, base_url: str, method: str, path: str, exc: httpx.HTTPError
) -> BackendError:
    """The one-line error for a request that got no answer."""
    if failure_kind(exc) == "timeout":
        return BackendError(
            backend,
            f"{method} {path} timed out at {base_url}",
            hint="the server is slow or unreachable; nothing was confirmed",
        )
    reason = str(exc) or type(exc).__name__
    return BackendError(
        backend,
        f"cannot reach {base_url} ({reason})",
        hint="check the URL and that the server is up",
    )


@dataclass(frozen=True)
class Answer:
    """A response, and how many attempts it took (a write retried after a lost answer may
    find its own first attempt already applied)."""

    response: httpx.Response
    attempts: int


class HttpBackend:
    def __init__(
        self,
        backend: str,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        backoff: tuple[float, ...] = BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = MAX_RATE_LIMIT_WAIT,
    ) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._max_wait = max_wait

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        retry_status: Callable[[httpx.Response], bool] | None = None,
    ) -> Answer:
        """Send one request, retrying what is safe to retry.

        ``idempotent`` defaults to True for GET, HEAD, PUT and DELETE. ``retry_status``
        decides whether a 5xx answer is worth retrying (default: every 5xx).
        """
        safe = idempotent if idempotent is not None else method in {"GET", "HEAD", "PUT", "DELETE"}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.HTTPError as exc:
                delay = retry_delay(
                    attempt,
                    self._backoff,
                    safe=safe,
                    now=self._clock(),
                    max_wait=self._max_wait,
                    failure=failure_kind(exc),
                )
                if delay is None:
                    raise transport_error(self.backend, self.base_url, method, path, exc) from None
            else:
                delay = retry_delay(
                    attempt,
                    self._backoff,
                    safe=safe,
                    now=self._clock(),
                    max_wait=self._max_wait,
                    response=response,
                    worth_5xx=retry_status is None
                    or response.status_code < 500
                    or retry_status(response),
                )
                if delay is None:
                    return Answer(response, attempt)
            self._sleep(delay)
