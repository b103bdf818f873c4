"""A local fake of Datadog's v1 metrics query API (``GET /api/v1/query``).

Datadog is SaaS and cannot be reached from the tests. :class:`DatadogFake` is a real HTTP server
on 127.0.0.1 (a port chosen by the OS) that keeps raw points in memory and answers the v1 query
endpoint in the response shape recorded from the real service (see
``shared/reference/prometheus-datadog.md`` §7)::

    with DatadogFake() as dd:
        dd.add_points("checkout.requests", {"flag": "new-checkout", "variant": "on"},
                      [(1704067200, 3.0), (1704067215, 4.0)])
        httpx.get(f"{dd.url}/api/v1/query",
                  params={"from": 1704067200, "to": 1704070800,
                          "query": "sum:checkout.requests{flag:new-checkout} by {variant}"
                                   ".as_count().rollup(sum, 60)"},
                  headers={"DD-API-KEY": dd.api_key, "DD-APPLICATION-KEY": dd.app_key})

Query language subset
---------------------
::

    [<space_agg>:]<metric>{<scope>}[ by {<tag>,...}][<modifier>...]

* ``space_agg`` is ``sum``, ``avg``, ``min`` or ``max``. It may be left out, as in the recorded
  cassette (``system.cpu.idle{*}``): the series then says ``"aggr": null`` and series are
  averaged (Datadog's default space aggregation).
* ``metric`` starts with a letter and holds letters, digits, ``_`` and ``.``.
* ``scope`` is ``*`` or comma-separated ``tag:value`` filters, all of which must match a series'
  tags exactly (the value is everything after the first ``:``). Negation (``!tag:v``), wildcards
  (``tag:v*``), bare tags, ``AND``/``OR``/``IN`` are not supported and answer 400.
* ``by {tag,...}`` groups the matching series; a series lacking one of the tags is grouped under
  ``tag:N/A``.
* modifiers, each at most once and in any order: ``.as_count()``, ``.as_rate()`` (not both) and
  ``.rollup(<method>[, <seconds>])`` with method ``sum|avg|min|max|count`` and seconds an integer
  > 0. Anything else (functions, arithmetic, several queries, ``.fill()``...) answers 400.

Evaluation
----------
* The rollup interval is ``seconds`` when given; otherwise the smallest of 60, 300, 3600, 14400,
  86400 seconds giving at most 300 buckets in ``[from, to]`` (86400 if none does). This matches
  the cassette (a one-day range came back with ``interval`` 300 and 288 points).
* The rollup method is the one in ``.rollup()`` when given; otherwise ``sum`` with
  ``.as_count()`` / ``.as_rate()`` and ``avg`` without.
* Buckets are ``[b, b + interval)`` with ``b`` a multiple of the interval in UNIX time, for every
  ``b`` in ``[from, to]``; so the first bucket starts at or after ``from`` (points before it are
  not counted) and the last one may hold points after ``to`` (as in the cassette, where ``end``
  is past ``to_date``).
* Per bucket: every series matching the scope rolls up its points in the bucket with the rollup
  method (``count`` = number of points); with ``.as_rate()`` and method ``sum`` that value is then
  divided by the interval (a per-second rate). The series that have points in the bucket are then
  combined with the space aggregator, per ``by`` group. Series without points in a bucket take no
  part in it.
* Buckets with no points at all are **omitted** from ``pointlist`` (never ``null``); a group with
  no points in the range is left out of ``series``. No matching data gives ``"series": []``.

Response (200, ``application/json``), field order as in the cassette: ``status``, ``res_type``,
``resp_version``, ``query`` (echoed verbatim), ``message``, ``from_date`` / ``to_date`` (request
seconds x 1000), ``group_by``, ``times``, ``values``, ``series``. Each series has ``metric``,
``display_name`` (the metric name), ``expression`` (see :func:`_expression`), ``scope`` (the
filters in query order, then the group's tags, comma-joined; ``*`` if neither), ``tag_set`` (the
group's tags, or ``[]``), ``aggr``, ``query_index`` 0, ``start`` (first point, ms), ``end`` (last
bucket's start + interval - 1 s, in ms — the cassette's ``end`` is 1641430499000 for a last point
1641430200000 and interval 300), ``interval`` (seconds, as in the cassette), ``length``,
``attributes`` ``{}``, ``unit`` ``null`` and ``pointlist`` ``[[ms as float, value], ...]``.
Series are sorted by ``tag_set``.

Errors are ``{"errors": [...]}`` (Datadog's APIErrorResponse), ``application/json``:

* 403 ``Forbidden`` unless ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` equal :attr:`api_key` /
  :attr:`app_key` (checked before the path, so an unknown path without keys is 403 too);
* 404 ``Not found`` for other paths, 405 ``Method Not Allowed`` for non-GET on the query path;
* 400 for a missing/invalid ``from``, ``to`` (integers, UNIX seconds) or ``query``, and for
  ``from`` > ``to``. Only the bad-``query`` message is a real Datadog message; the others are
  worded by the fake and name the parameter.

Failure injection (:meth:`DatadogFake.rate_limit`, :meth:`DatadogFake.fail`) answers the next
requests, whatever they are, before authentication; queued injections are used in the order
they were added. :meth:`DatadogFake.delay` holds every answer (injected ones too). Successful
answers carry no ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

Json = Any

QUERY_PATH = "/api/v1/query"
DEFAULT_INTERVALS = (60, 300, 3600, 14400, 86400)
"""Candidate automatic rollup intervals (seconds), smallest first."""
MAX_DEFAULT_POINTS = 300
RATE_LIMIT_MESSAGE = "Rate limit of 500 requests in 10 seconds reached. Please try again later."
BAD_QUERY_MESSAGE = "The value provided for parameter 'query' is invalid"
MISSING_TAG_VALUE = "N/A"

SPACE_AGGREGATORS = ("sum", "avg", "min", "max")
ROLLUP_METHODS = ("sum", "avg", "min", "max", "count")

_TAG_KEY = r"[A-Za-z][A-Za-z0-9_.\-/]*"
_QUERY_RE = re.compile(
    r"^\s*(?:(?P<agg>[a-z]+):)?"
    r"(?P<metric>[A-Za-z][A-Za-z0-9_.]*)"
    r"\{(?P<scope>[^{}]*)\}"
    r"(?:\s*by\s*\{(?P<by>[^{}]*)\})?"
    r"(?P<mods>(?:\s*\.\s*[a-z_]+\s*\([^()]*\))*)\s*$"
)
_MOD_RE = re.compile(r"\s*\.\s*(?P<name>[a-z_]+)\s*\((?P<args>[^()]*)\)")
_FILTER_RE = re.compile(rf"^(?P<key>{_TAG_KEY}):(?P<value>[A-Za-z0-9_.:/\-]+)$")
_BY_TAG_RE = re.compile(rf"^{_TAG_KEY}$")
_ROLLUP_ARGS_RE = re.compile(r"^\s*(?P<method>[a-z]+)\s*(?:,\s*(?P<seconds>[0-9]+)\s*)?$")


class QueryError(ValueError):
    """The query does not parse (answered 400 with Datadog's invalid-query message)."""


@dataclass(frozen=True)
class ParsedQuery:
    """A query of the supported subset (see the module docstring)."""

    space_agg: str | None
    metric: str
    filters: tuple[tuple[str, str], ...]
    by: tuple[str, ...]
    as_count: bool = False
    as_rate: bool = False
    rollup_method: str | None = None
    rollup_seconds: int | None = None


def parse_query(query: str) -> ParsedQuery:
    """Parse ``query``; raise :class:`QueryError` if it is outside the supported subset."""
    match = _QUERY_RE.match(query)
    if match is None:
        raise QueryError(f"does not parse: {query!r}")
    agg = match["agg"]
    if agg is not None and agg not in SPACE_AGGREGATORS:
        raise QueryError(f"unsupported space aggregator {agg!r}")

    scope = match["scope"].strip()
    filters: list[tuple[str, str]] = []
    if scope != "*":
        for item in scope.split(","):
            fm = _FILTER_RE.match(item.strip())
            if fm is None:
                raise QueryError(f"unsupported scope item {item!r}")
            filters.append((fm["key"], fm["value"]))

    by: list[str] = []
    if match["by"] is not None:
        for item in match["by"].split(","):
            tag = item.strip()
            if not _BY_TAG_RE.match(tag):
                raise QueryError(f"bad group-by tag {item!r}")
            if tag not in by:
                by.append(tag)

    seen: set[str] = set()
    fields: dict[str, Any] = {}
    for mod in _MOD_RE.finditer(match["mods"]):
        name, args = mod["name"], mod["args"]
        if name in seen:
            raise QueryError(f"modifier .{name}() given twice")
        seen.add(name)
        if name in ("as_count", "as_rate"):
            if args.strip():
                raise QueryError(f".{name}() takes no arguments")
            fields[name] = True
        elif name == "rollup":
            rm = _ROLLUP_ARGS_RE.match(args)
            if rm is None or rm["method"] not in ROLLUP_METHODS:
                raise QueryError(f"bad rollup arguments {args!r}")
            fields["rollup_method"] = rm["method"]
            if rm["seconds"] is not None:
                seconds = int(rm["seconds"])
                if seconds <= 0:
                    raise QueryError("rollup interval must be > 0")
                fields["rollup_seconds"] = seconds
        else:
            raise QueryError(f"unsupported function .{name}()")
    if fields.get("as_count") and fields.get("as_rate"):
        raise QueryError(".as_count() and .as_rate() together")
    return ParsedQuery(agg, match["metric"], tuple(filters), tuple(by), **fields)


def default_interval(from_s: int, to_s: int) -> int:
    """The automatic rollup interval for ``[from_s, to_s]`` (see the module docstring)."""
    for interval in DEFAULT_INTERVALS:
        if _bucket_count(from_s, to_s, interval) <= MAX_DEFAULT_POINTS:
            return interval
    return DEFAULT_INTERVALS[-1]


def _bucket_count(from_s: int, to_s: int, interval: int) -> int:
    first = -(-from_s // interval) * interval
    last = (to_s // interval) * interval
    return max(0, (last - first) // interval + 1)


def _rollup(method: str, values: list[float]) -> float:
    if method == "sum":
        return math.fsum(values)
    if method == "avg":
        return math.fsum(values) / len(values)
    if method == "min":
        return min(values)
    if method == "max":
        return max(values)
    return float(len(values))  # count


def _space(agg: str | None, values: list[float]) -> float:
    return _rollup(agg or "avg", values)


def _expression(q: ParsedQuery, scope: str, interval: int, method: str) -> str:
    """``[agg:]metric{scope}`` plus the query's modifiers in a canonical form.

    The cassette only shows ``system.cpu.idle{*}`` for a query without aggregator or modifiers;
    how Datadog spells modifiers in ``expression`` is a guess.
    """
    text = f"{q.space_agg}:" if q.space_agg else ""
    text += f"{q.metric}{{{scope}}}"
    if q.as_count:
        text += ".as_count()"
    if q.as_rate:
        text += ".as_rate()"
    if q.rollup_method is not None:
        text += f".rollup({method}, {interval})" if q.rollup_seconds else f".rollup({method})"
    return text


class RecordedRequest(NamedTuple):
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        return _header(self.headers, name)


@dataclass(frozen=True)
class _Canned:
    status: int
    headers: dict[str, str]
    body: Json


class DatadogFake:
    """An in-memory Datadog v1 metrics query API on 127.0.0.1 (see the module docstring).

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self, *, api_key: str = "fake-dd-api-key", app_key: str = "fake-dd-application-key"
    ) -> None:
        self.api_key = api_key
        self.app_key = app_key
        self.url = ""
        self._series: dict[str, dict[frozenset[tuple[str, str]], list[tuple[float, float]]]] = {}
        self._requests: list[RecordedRequest] = []
        self._canned: deque[_Canned] = deque()
        self._delay = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> DatadogFake:
        """Start serving on a free port of 127.0.0.1 (sets :attr:`url`)."""
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name=f"fake-datadog-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); answers held by :meth:`delay` are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DatadogFake:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- data, inspection, failure injection --------------------------------------------------

    def add_points(
        self, metric: str, tags: Mapping[str, str], points: Iterable[tuple[float, float]]
    ) -> None:
        """Store raw ``(timestamp seconds, value)`` points for the series ``metric`` + ``tags``.

        Calls for the same metric and tag set add to the same series.
        """
        key = frozenset((str(k), str(v)) for k, v in tags.items())
        new = [(float(ts), float(value)) for ts, value in points]
        with self._lock:
            self._series.setdefault(metric, {}).setdefault(key, []).extend(new)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def rate_limit(self, times: int, reset: int = 1) -> None:
        """Answer the next ``times`` requests 429 with Datadog's ``x-ratelimit-*`` headers."""
        headers = {
            "x-ratelimit-limit": "500",
            "x-ratelimit-period": "10",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-name": "metrics_query",
        }
        self._queue(times, _Canned(429, headers, {"errors": [RATE_LIMIT_MESSAGE]}))

    def fail(self, times: int, status: int = 503) -> None:
        """Answer the next ``times`` requests ``status`` with ``{"errors": [<reason phrase>]}``."""
        self._queue(times, _Canned(status, {}, {"errors": [HTTPStatus(status).phrase]}))

    def delay(self, seconds: float) -> None:
        """Hold every following answer ``seconds`` before sending it (0 turns it off)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            self._delay = float(seconds)

    def _queue(self, times: int, canned: _Canned) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._canned.extend([canned] * times)

    # ---- request handling ----------------------------------------------------------------------

    def _handle(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Json]:
        parts = urlsplit(target)
        path = parts.path
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self._requests.append(RecordedRequest(method, path, params, dict(headers)))
            canned = self._canned.popleft() if self._canned else None
        if canned is not None:
            return canned.status, dict(canned.headers), canned.body
        if _header(headers, "dd-api-key") != self.api_key or (
            _header(headers, "dd-application-key") != self.app_key
        ):
            return 403, {}, {"errors": ["Forbidden"]}
        if path.rstrip("/") != QUERY_PATH:
            return 404, {}, {"errors": ["Not found"]}
        if method != "GET":
            return 405, {"Allow": "GET"}, {"errors": ["Method Not Allowed"]}
        return self._query(params)

    def _query(self, params: dict[str, str]) -> tuple[int, dict[str, str], Json]:
        bounds: dict[str, int] = {}
        for name in ("from", "to"):
            raw = params.get(name)
            if raw is None or raw.strip() == "":
                return _bad(f"Missing required parameter '{name}'")
            try:
                bounds[name] = int(raw.strip())
            except ValueError:
                return _bad(
                    f"The value provided for parameter '{name}' is invalid: "
                    "expected an integer (UNIX seconds)"
                )
        from_s, to_s = bounds["from"], bounds["to"]
        if from_s > to_s:
            return _bad("The value provided for parameter 'from' must not be after 'to'")
        query = params.get("query")
        if query is None or query.strip() == "":
            return _bad("Missing required parameter 'query'")
        try:
            q = parse_query(query)
        except QueryError:
            return _bad(BAD_QUERY_MESSAGE)
        return 200, {}, self._evaluate(q, query, from_s, to_s)

    def _evaluate(self, q: ParsedQuery, query: str, from_s: int, to_s: int) -> Json:
        interval = q.rollup_seconds or default_interval(from_s, to_s)
        method = q.rollup_method or ("sum" if (q.as_count or q.as_rate) else "avg")
        first_bucket = -(-from_s // interval) * interval
        last_bucket = (to_s // interval) * interval
        wanted = dict(q.filters)

        # group key -> bucket start -> one rolled-up value per series with points there
        groups: dict[tuple[str, ...], dict[int, list[float]]] = {}
        with self._lock:
            series = [(dict(k), list(v)) for k, v in self._series.get(q.metric, {}).items()]
        for tags, points in series:
            if any(tags.get(k) != v for k, v in wanted.items()):
                continue
            buckets: dict[int, list[float]] = {}
            for ts, value in points:
                bucket = math.floor(ts / interval) * interval
                if first_bucket <= bucket <= last_bucket:
                    buckets.setdefault(bucket, []).append(value)
            if not buckets:
                continue
            group = tuple(f"{tag}:{tags.get(tag, MISSING_TAG_VALUE)}" for tag in q.by)
            per_bucket = groups.setdefault(group, {})
            for bucket, values in buckets.items():
                rolled = _rollup(method, values)
                if q.as_rate and method == "sum":
                    rolled /= interval
                per_bucket.setdefault(bucket, []).append(rolled)

        filters = [f"{k}:{v}" for k, v in q.filters]
        out_series: list[Json] = []
        for group in sorted(groups):
            per_bucket = groups[group]
            starts = sorted(per_bucket)
            scope = ",".join(dict.fromkeys([*filters, *group])) or "*"
            out_series.append(
                {
                    "metric": q.metric,
                    "display_name": q.metric,
                    "expression": _expression(q, scope, interval, method),
                    "scope": scope,
                    "tag_set": list(group),
                    "aggr": q.space_agg,
                    "query_index": 0,
                    "start": starts[0] * 1000,
                    "end": (starts[-1] + interval - 1) * 1000,
                    "interval": interval,
                    "length": len(starts),
                    "attributes": {},
                    "unit": None,
                    "pointlist": [
                        [float(b * 1000), _space(q.space_agg, per_bucket[b])] for b in starts
                    ],
                }
            )
        return {
            "status": "ok",
            "res_type": "time_series",
            "resp_version": 1,
            "query": query,
            "message": "",
            "from_date": from_s * 1000,
            "to_date": to_s * 1000,
            "group_by": list(q.by),
            "times": [],
            "values": [],
            "series": out_series,
        }

    def _wait_delay(self) -> None:
        with self._lock:
            seconds = self._delay
        if seconds > 0:
            self._stopping.wait(seconds)


def _bad(message: str) -> tuple[int, dict[str, str], Json]:
    return 400, {}, {"errors": [message]}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into :meth:`DatadogFake._handle` calls."""

    fake: DatadogFake
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK adds
    # ~40 ms to every keep-alive exchange.
    disable_nagle_algorithm = True
    timeout = 30  # idle keep-alive connections close after this many seconds
    server_version = "FakeDatadog/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain the body; the query API takes none
        headers = {k: v for k, v in self.headers.items()}
        try:
            status, resp_headers, payload = self.fake._handle(self.command, self.path, headers)
        except Exception as exc:  # a bug in the fake: make it loud, never a silent hang
            status, resp_headers, payload = 500, {}, {"errors": [f"fake crashed: {exc!r}"]}
        out = json.dumps(payload).encode()
        self.fake._wait_delay()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in resp_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a timeout test); nothing to answer

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""
