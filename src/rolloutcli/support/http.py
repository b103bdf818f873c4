"""HTTP for the platform and metrics adapters: a total deadline on every call, retries with
backoff.

Only what is safe to repeat is retried: a request that never left (connection refused or
timed out while connecting) is always retried; a server error (5xx) or a timeout is
retried only for reads and idempotent writes, since a repeated non-idempotent write could
apply twice. What the answer means is the adapter's business: this module returns every
HTTP response, and turns only transport failures (unreachable, timed out, out of time)
into a ``BackendError`` naming the backend. A 429 (rate limited) was not processed, so any
request is sent again: after the wait the server asks for (``Retry-After`` or
``X-Ratelimit-Reset``), or after the backoff when it names none. A stated wait longer than
the time left stops at once, saying so.

Every call ends by its deadline (``ROLLOUT_HTTP_DEADLINE``, 20 s; see
:mod:`rolloutcli.support.deadlines`), whatever the server does: see :class:`HttpBackend`.
"""

from __future__ import annotations

import email.utils
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import httpcore
import httpx

from rolloutcli.support import deadlines
from rolloutcli.support.deadlines import ENV_DEADLINE, Attempt
from rolloutcli.support.errors import BackendError

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
BACKOFF = (0.25, 0.5, 1.0)  # seconds before each retry
MAX_RATE_LIMIT_WAIT = 30.0  # seconds; a longer rate-limit wait is reported, not slept
DEADLINE_SLACK = 0.05  # seconds: a failure this close to the end was the deadline's doing
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer body read (decoded, so a compressed bomb counts at its real size): a
flag's state, an audit page or a metrics series is far smaller; more is a runaway query or
a misbehaving server, refused before it fills the memory."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # reads: nothing to be unsure about

_TLS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_TLS_LOCK = threading.Lock()


def shared_tls() -> ssl.SSLContext:
    """One TLS context for every client of the process (per SSL_CERT_FILE / SSL_CERT_DIR,
    which it reads): loading the CA bundle costs 30-80 ms, which a check of 500 plans, each
    with its own platform client, would otherwise pay 500 times. A context is safe to share
    between threads."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _TLS_LOCK:
        if key not in _TLS:
            _TLS[key] = httpx.create_ssl_context()
        return _TLS[key]


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
    error or a 5xx only when ``safe`` (a read or an idempotent write); a 429 always (it was
    not processed): after the wait the server names if that is at most ``max_wait``, else
    after the backoff step when it names none. The deadline is the caller's business."""
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
        if wait is None:
            return pause
        if wait > max_wait:
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


def failure_text(exc: httpx.HTTPError) -> str:
    """How one attempt failed, in two or three words (for a list of attempts)."""
    kind = failure_kind(exc)
    if kind == "timeout" or isinstance(exc, httpx.ConnectTimeout):
        return "timed out"
    return "connection failed" if kind == "connect" else "transport error"


def transport_error(
    backend: str, base_url: str, method: str, path: str, exc: httpx.HTTPError
) -> BackendError:
    """The one-line error for a request that got no answer. Neither the URL's credentials
    nor a registered secret inside the exception's text (which may quote the URL) show."""
    from rolloutcli.support.redact import display_url, scrub

    base_url = display_url(base_url)
    if failure_kind(exc) == "timeout":
        return BackendError(
            backend,
            f"{method} {path} timed out at {base_url}",
            hint="the server is slow or unreachable; nothing was confirmed",
        )
    reason = scrub(str(exc)) or type(exc).__name__
    return BackendError(
        backend,
        f"cannot reach {base_url} ({reason})",
        hint="check the URL and that the server is up",
    )


def deadline_error(
    backend: str,
    base_url: str,
    method: str,
    path: str,
    seconds: float,
    outcomes: list[str],
    setting: str = ENV_DEADLINE,
    *,
    write: bool | None = None,
) -> BackendError:
    """The one-line error for a call that ran out of time. A write's result is unknown: the
    server may have applied it without our hearing back. ``write`` defaults to "not GET,
    HEAD or OPTIONS"."""
    if outcomes:
        tried = f"{len(outcomes)} attempt{'s' if len(outcomes) != 1 else ''}: "
        tried += ", ".join(outcomes)
    else:
        tried = "no time was left to send it"
    if not outcomes:
        hint = f"earlier calls used up the time; nothing was sent (allow longer with {setting})"
    elif not (write if write is not None else method not in SAFE_METHODS):
        hint = f"the server is slow or not answering; check it, or allow longer with {setting}"
    else:
        hint = (
            "the server is slow or not answering; the result is unknown: nothing was "
            "confirmed, so check the flag on the platform before trying again"
        )
    return BackendError(
        backend,
        f"{method} {path} got no complete answer from {base_url} within the "
        f"{seconds:g} s deadline ({tried})",
        hint=hint,
    )


def rate_limited_error(
    backend: str, method: str, path: str, asked: float, left: float, max_wait: float
) -> BackendError:
    """A 429 whose stated wait is longer than the call may still wait."""
    limit = (
        f"the {max(left, 0.0):.1f} s left of the deadline"
        if left <= max_wait
        else f"the {max_wait:g} s the tool waits at most"
    )
    return BackendError(
        backend,
        f"{method} {path} was rate limited (HTTP 429) and asked to wait {asked:g} s, longer "
        f"than {limit}; nothing was sent again",
        hint=f"try again in {asked:.0f} s",
    )


@dataclass(frozen=True)
class Answer:
    """A response, and how many attempts it took (a write retried after a lost answer may
    find its own first attempt already applied)."""

    response: httpx.Response
    attempts: int


class _AttemptEnd(threading.local):
    """When the attempt this thread is making must end (time.monotonic), or None."""

    end: float | None = None

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` shortened to the time left; ``error`` when there is none."""
        if self.end is None:
            return timeout
        left = self.end - time.monotonic()
        if left <= 0.001:  # 0 would make the socket non-blocking, not time out
            raise error("the call's deadline passed")
        return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake waits at most until the
    current attempt's end, however the server drips its bytes."""

    def __init__(self, inner: httpcore.NetworkStream, clock: _AttemptEnd) -> None:
        self._inner = inner
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._clock.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._clock.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._clock.left(timeout, httpcore.ConnectTimeout)
        inner = self._inner.start_tls(ssl_context, server_hostname, wait)
        return _BoundedStream(inner, self._clock)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedNetwork(httpcore.NetworkBackend):
    """httpcore's socket layer, with every connection bounded by the attempt's end."""

    def __init__(self, inner: httpcore.NetworkBackend, clock: _AttemptEnd) -> None:
        self._inner = inner
        self._clock = clock

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._clock.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, wait, local_address, socket_options)
        return _BoundedStream(stream, self._clock)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._clock.left(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(
            self._inner.connect_unix_socket(path, wait, socket_options), self._clock
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_connections(client: httpx.Client, clock: _AttemptEnd) -> bool:
    """Put :class:`_BoundedNetwork` under every transport of ``client`` (the direct one and
    any proxy mounts from the environment). True when every one took it.

    httpx has no public hook for httpcore's network backend, so this reaches into
    ``Client._transport`` / ``_mounts`` and the pool's ``_network_backend`` (stable since
    httpx 0.18 / httpcore 0.16). Should a release rename them, calls keep their per-read
    timeouts and the deadline between attempts, and tests/unit/support/test_http_deadline.py fails
    on ``HttpBackend.bounded``."""
    transports: list[Any] = [getattr(client, "_transport", None)]
    transports += list((getattr(client, "_mounts", None) or {}).values())
    complete = True
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if pool is not None and isinstance(inner, httpcore.NetworkBackend):
            pool._network_backend = _BoundedNetwork(inner, clock)
        else:
            complete = False
    return complete


class HttpBackend:
    """One platform's HTTP client: every :meth:`request` ends by its total deadline.

    How an attempt is bounded as a whole, not per read
    --------------------------------------------------
    httpx's timeouts apply to each socket operation, so a server that trickles its
    headers or body one byte a second never trips them. Two ways out were weighed:

    - run each attempt in a worker thread and stop waiting at the deadline. The caller is
      free on time, but the abandoned attempt keeps its thread, its connection and the
      server's attention until the server lets go (a trickle can last forever): threads
      pile up in a long `watch`, and its late response must be kept from every later call;
    - bound the socket operations themselves: every connect, TLS handshake, read and write
      of the attempt waits at most until the attempt's end (``_BoundedNetwork`` under
      httpx's connection pool). The header phase and the body are cut off at the deadline,
      in the caller's own thread; httpx closes the connection on that timeout, as on any
      other, so no half-read response can reach a later call, and nothing outlives the
      call.

    The second is what this class does. Backoff sleeps are shortened to the time left (a
    retry that cannot start before the deadline is not waited for). Name resolution is the
    one step no socket timeout covers; the platforms' addresses resolve locally or fast.
    """

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
        deadline: float | None = None,
    ) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.deadline = deadline if deadline is not None else deadlines.default_deadline()
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, verify=shared_tls()
        )
        self._attempt_end = _AttemptEnd()
        self.bounded = _bound_connections(self._client, self._attempt_end)
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
        """Send one request, retrying what is safe to retry, all within the deadline.

        ``idempotent`` defaults to True for GET, HEAD, PUT and DELETE. ``retry_status``
        decides whether a 5xx answer is worth retrying (default: every 5xx). Inside a
        :func:`rolloutcli.support.deadlines.budget`, the budget's end and backoff apply too.
        """
        safe = idempotent if idempotent is not None else method in {"GET", "HEAD", "PUT", "DELETE"}
        scope = deadlines.current()
        started = time.monotonic()
        end = deadlines.end_of_call(self.deadline, read=method in SAFE_METHODS)
        by_scope = end < started + self.deadline - 0.001  # the budget's end, not our own
        backoff = scope.backoff if scope is not None and scope.backoff else self._backoff
        outcomes: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            if end - time.monotonic() <= 0:
                raise self._out_of_time(method, path, by_scope, outcomes)
            try:
                response = self._send(end, method, path, json=json, params=params, headers=headers)
            except httpx.HTTPError as exc:
                if time.monotonic() >= end - DEADLINE_SLACK:
                    self._note(method, path, outcomes, "cut off at the deadline")
                    raise self._out_of_time(method, path, by_scope, outcomes) from None
                self._note(method, path, outcomes, failure_text(exc))
                delay = retry_delay(
                    attempt,
                    backoff,
                    safe=safe,
                    now=self._clock(),
                    max_wait=self._max_wait,
                    failure=failure_kind(exc),
                )
                never_left = all(outcome == "connection failed" for outcome in outcomes)
                if delay is None or (never_left and time.monotonic() + delay >= end):
                    raise transport_error(self.backend, self.base_url, method, path, exc) from None
                if time.monotonic() + delay >= end:
                    raise self._out_of_time(method, path, by_scope, outcomes) from None
            else:
                self._note(method, path, outcomes, f"HTTP {response.status_code}")
                self._check_rate_limit(response, method, path, end)
                delay = retry_delay(
                    attempt,
                    backoff,
                    safe=safe,
                    now=self._clock(),
                    max_wait=self._max_wait,
                    response=response,
                    worth_5xx=retry_status is None
                    or response.status_code < 500
                    or retry_status(response),
                )
                if delay is None or time.monotonic() + delay >= end:
                    return Answer(response, attempt)  # no retry fits: this answer stands
            self._sleep(delay)

    def _send(self, end: float, method: str, path: str, **options: Any) -> httpx.Response:
        self._attempt_end.end = end
        try:
            request = self._client.build_request(method, path, **options)
            response = self._client.send(request, stream=True)
            try:
                body = read_capped(response.iter_bytes(), self.backend, method, path)
            finally:
                response.close()
            return with_body(response, body)
        finally:
            self._attempt_end.end = None

    def _check_rate_limit(
        self, response: httpx.Response, method: str, path: str, end: float
    ) -> None:
        """A 429 asking for a wait the call cannot afford stops here, saying so."""
        if response.status_code != 429:
            return
        asked = rate_limit_wait(response.headers, self._clock())
        left = end - time.monotonic()
        if asked is not None and (asked >= left or asked > self._max_wait):
            raise rate_limited_error(self.backend, method, path, asked, left, self._max_wait)

    def _note(self, method: str, path: str, outcomes: list[str], outcome: str) -> None:
        outcomes.append(outcome)
        deadlines.record(Attempt(self.backend, method, path, outcome))

    def _out_of_time(
        self, method: str, path: str, by_scope: bool, outcomes: list[str]
    ) -> BackendError:
        scope = deadlines.current()
        if by_scope and scope is not None:
            seconds, setting = scope.seconds, "--deadline"
        else:
            seconds, setting = self.deadline, ENV_DEADLINE
        return deadline_error(self.backend, self.base_url, method, path, seconds, outcomes, setting)


def read_capped(chunks: Iterable[bytes], backend: str, method: str, path: str) -> bytes:
    """An answer's decoded body, refused past :data:`MAX_ANSWER_BYTES`."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise answer_too_large(backend, method, path)
    return bytes(body)


def answer_too_large(backend: str, method: str, path: str) -> BackendError:
    return BackendError(
        backend,
        f"{method} {path}: the answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB",
        hint="a query that returns far too much (narrow it) or a misbehaving server",
    )


def with_body(response: httpx.Response, body: bytes) -> httpx.Response:
    """``response`` again with its body read: the decoded bytes, without the headers that
    described the encoded ones (so nothing decodes them twice)."""
    skip = {"content-encoding", "content-length", "transfer-encoding"}
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )
