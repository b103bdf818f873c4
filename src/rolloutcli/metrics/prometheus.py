"""Prometheus (and anything speaking its HTTP API v1: Thanos, Mimir, VictoriaMetrics, managed
Prometheus services) as a metrics source.

Queries are POSTed as forms (the API takes GET or POST on both endpoints).

* A total over the window is an instant query (``/api/v1/query``) evaluated at the window's
  end, with ``{window}`` = the window's length: ``sum(increase(x{...}[{window}]))``.
* One value per step is a range query (``/api/v1/query_range``) from start + step to the
  last whole step, with ``{window}`` = the step; long windows are split into requests of
  at most 10,000 points (Prometheus refuses more than 11,000).

Values arrive as strings (``"NaN"``, ``"+Inf"`` included); an empty result is no data, not
zero. Errors arrive as ``{"status": "error", "errorType": ..., "error": ...}``: 400
``bad_data`` and 422 ``execution`` are a rejected query, 503 ``timeout`` is retried.

Configuration: ``metrics.source.url`` or ``PROMETHEUS_URL``; for managed Prometheus a bearer
token in ``PROMETHEUS_TOKEN``, or basic auth in ``PROMETHEUS_USERNAME`` and
``PROMETHEUS_PASSWORD``; ``PROMETHEUS_ORG_ID`` sets ``X-Scope-OrgID`` (Mimir, Cortex).
"""

from __future__ import annotations

import base64
import functools
import math
import os
from datetime import timedelta
from typing import Any

import httpx

from rolloutcli.plan.model import LoadedPlan
from rolloutcli.plan.segments import OTHER
from rolloutcli.plan.source_specs import PrometheusSourceSpec
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import quote
from rolloutcli.support.redact import (
    clip,
    display_url,
    env_secret,
    register_basic_auth,
    register_url,
)
from rolloutcli.support.urlpolicy import check_url

from .base import QueryFailure
from .pool import Call
from .querying import (
    Fetch,
    Grouped,
    Malformed,
    NoData,
    Points,
    QueryingSource,
    range_times,
    read_strictly,
)
from .templates import prometheus_duration, prometheus_grouped, prometheus_grouped_values

NAME = "prometheus"
ENV_URL = "PROMETHEUS_URL"
ENV_TOKEN = "PROMETHEUS_TOKEN"
ENV_USER = "PROMETHEUS_USERNAME"
ENV_PASSWORD = "PROMETHEUS_PASSWORD"
ENV_ORG = "PROMETHEUS_ORG_ID"
MAX_POINTS = 10_000  # per range request; the server's own limit is 11,000


def open_prometheus(loaded: LoadedPlan) -> PrometheusSource:
    spec = loaded.plan.metrics.source
    assert isinstance(spec, PrometheusSourceSpec)  # the registry opens this adapter for this kind
    url = (spec.url or os.environ.get(ENV_URL, "")).strip()
    if not url:
        raise InvalidInputError(
            f"{loaded.path}: the prometheus source needs a URL: set metrics.source.url or {ENV_URL}"
        )
    register_url(url)  # a password in the URL is a secret
    url = check_url(url, f"prometheus: metrics.source.url / {ENV_URL}")
    return PrometheusSource(loaded, url.rstrip("/"), auth_headers())


def auth_headers() -> dict[str, str]:
    """The credentials from the environment, each registered as a secret as it is read."""
    headers: dict[str, str] = {}
    token = env_secret(ENV_TOKEN)
    user = os.environ.get(ENV_USER, "")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user:
        password = os.environ.get(ENV_PASSWORD, "")
        register_basic_auth(user, password)
        pair = f"{user}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    org = env_secret(ENV_ORG)
    if org:
        headers["X-Scope-OrgID"] = org
    return headers


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


class PrometheusSource(QueryingSource):
    name = NAME
    anchor = "end"

    def __init__(self, loaded: LoadedPlan, url: str, headers: dict[str, str]) -> None:
        super().__init__(loaded)
        self.url = url
        self.headers = headers

    def window_text(self, length: timedelta) -> str:
        return prometheus_duration(length)

    def calls(self, fetch: Fetch, query: str) -> list[Call]:
        if fetch.step is None:
            if (fetch.end - fetch.start).total_seconds() < 0.001:
                return []
            params = {"query": query, "time": _seconds(fetch.end.timestamp())}
            return [self._call("/api/v1/query", params)]
        first, count = range_times(fetch.start, fetch.end, fetch.step)
        step = fetch.step.total_seconds()
        out: list[Call] = []
        for offset in range(0, count, MAX_POINTS):
            points = min(MAX_POINTS, count - offset)
            start = first + offset * step
            params = {
                "query": query,
                "start": _seconds(start),
                "end": _seconds(start + (points - 1) * step),
                "step": _seconds(step),
            }
            out.append(self._call("/api/v1/query_range", params))
        return out

    def grouped(self, query: str, by: str) -> str:
        return prometheus_grouped(query, by)

    def grouped_values(self, query: str, by: str) -> str:
        return prometheus_grouped_values(query, by)

    def parse_grouped(self, call: Call, response: object, by: str) -> Grouped | NoData:
        """A grouped range query's matrix: one series per value of ``by`` (series with the
        same value, grouped by other labels too, are merged; a series without it goes to
        ``other``). ``Grouped({})`` when no series carries the label at all."""
        assert isinstance(response, httpx.Response)
        body = _json(response)
        if not (
            response.status_code == 200
            and isinstance(body, dict)
            and body.get("status") == "success"
        ):
            return self._ungrouped(call, response)
        data = body.get("data")
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            return self._ungrouped(call, response)
        if not isinstance(result, list) or not all(isinstance(i, dict) for i in result):
            return self._ungrouped(call, response)
        if not result:
            return NoData("the query matched no series")
        asked = _asked(call)
        merged: dict[str, list[Points]] = {}
        labelled = False
        for item in result:
            metric = item.get("metric")
            value = metric.get(by) if isinstance(metric, dict) else None
            labelled = labelled or (isinstance(value, str) and value != "")
            pairs = item.get("values")
            name = value if isinstance(value, str) and value else OTHER
            found = read_strictly(
                NAME,
                functools.partial(_series_points, pairs),
                asked,
                "Prometheus's HTTP API v1",
                "metrics.source.url",
            )
            if isinstance(found, Points):
                merged.setdefault(name, []).append(found)
        if not labelled:
            return Grouped({})
        return Grouped(
            {
                name: Points(
                    tuple(t for p in parts for t in p.times),
                    tuple(v for p in parts for v in p.values),
                )
                for name, parts in merged.items()
            }
        )

    def _ungrouped(self, call: Call, response: httpx.Response) -> NoData:
        """An answer a grouped query cannot use: read as an ungrouped one, which raises
        the failure it is (rejected, malformed, unreachable) or says there is no data."""
        found = self.parse(call, response)
        if isinstance(found, NoData):
            return found
        raise QueryFailure(
            NAME, "malformed", "malformed answer: a grouped query's answer is not a matrix"
        )

    def _call(self, path: str, params: dict[str, str]) -> Call:
        # POST with a form body, as the HTTP API allows for both endpoints: long queries
        # never meet URL length limits, and the client skips quoting them into the URL
        return Call(NAME, self.url, path, params, self.headers, self.timeout, method="POST")

    def parse(self, call: Call, response: object) -> Points | NoData:
        assert isinstance(response, httpx.Response)
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, dict) and body.get("status") == "success":
            return _points(body.get("data"), call)
        if isinstance(body, dict) and body.get("status") == "error":
            kind = clip(str(body.get("errorType", "error")), 40)  # server text: scrub, then cut
            # VictoriaMetrics puts the HTTP status itself in errorType ("422"): say it once
            head = str(status) if kind == str(status) else f"{status} {kind}"
            text = f"{head}: {clip(str(body.get('error', '')), 300)}".strip()
            if status in (400, 422):
                raise QueryFailure(
                    NAME,
                    "rejected",
                    f"query rejected ({text})",
                    hint="fix the query template in metrics.queries",
                )
            raise QueryFailure(
                NAME,
                "unreachable",
                f"query failed ({text})",
                hint="the server could not answer; try again later",
            )
        if status in (401, 403):
            raise QueryFailure(
                NAME,
                "unauthorized",
                f"{status} from {display_url(self.url)}: not authorised to query",
                hint=f"set {ENV_TOKEN}, or {ENV_USER} and {ENV_PASSWORD}, for this server",
            )
        if status == 404:
            raise QueryFailure(
                NAME,
                "unreachable",
                f"404 from {display_url(self.url)}{call.path}: not a Prometheus HTTP API",
                hint="metrics.source.url is the server's base URL, without /api/v1",
            )
        if status == 429:
            raise QueryFailure(
                NAME,
                "rate_limited",
                f"429 from {display_url(self.url)}: rate limited",
                hint="lower ROLLOUT_QUERY_CONCURRENCY or try again later",
            )
        raise QueryFailure(
            NAME,
            "unreachable",
            f"unexpected {status} answer from {display_url(self.url)}{call.path}",
            hint="check metrics.source.url",
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _number(raw: Any) -> float:
    """A sample value: the API sends a string ("1.5", "NaN", "+Inf"); a bare number is
    taken too. null is missing (NaN); anything else is malformed."""
    if raw is None:
        return math.nan
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise Malformed(f"a value {quote(raw)} that is not a number")
    try:
        return float(raw)
    except (ValueError, OverflowError):
        raise Malformed(f"a value {quote(raw)} that is not a number") from None


def _time(raw: Any) -> float:
    """A sample time: epoch seconds as a JSON number (never a string, never infinite)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Malformed(f"a timestamp {quote(raw)} that is not a number of seconds")
    value = float(raw)
    if not math.isfinite(value):
        raise Malformed(f"a timestamp {quote(raw)} that is not finite")
    return value


def _pair(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise Malformed(f"a sample {quote(raw)} that is not a [time, value] pair")
    return _time(raw[0]), _number(raw[1])


EXPECTED_TYPES = {"/api/v1/query": ("vector", "scalar"), "/api/v1/query_range": ("matrix",)}


def _points(data: Any, call: Call) -> Points | NoData:
    """Read a successful answer's ``data``, strictly: the result type must be the one the
    call asks for (an instant query gives a vector or a scalar, a range query a matrix),
    every sample a [number, "number"] pair stamped inside the time or range asked for."""
    return read_strictly(
        NAME,
        lambda: _read(data, call),
        _asked(call),
        "Prometheus's HTTP API v1",
        "metrics.source.url",
    )


def _asked(call: Call) -> tuple[float, float] | None:
    """The time (instant query) or range (range query) a call asks for, in epoch seconds."""
    params = call.params
    try:
        start = float(params.get("start", params.get("time", "nan")))
        end = float(params.get("end", params.get("time", "nan")))
    except ValueError:
        return None
    return None if math.isnan(start) or math.isnan(end) else (start, end)


def _read(data: Any, call: Call) -> Points | NoData:
    if not isinstance(data, dict):
        raise Malformed("no data object")
    kind, result = data.get("resultType"), data.get("result")
    expected = EXPECTED_TYPES.get(call.path, ("vector", "scalar", "matrix"))
    if kind not in expected:
        wanted = " or ".join(expected)
        raise Malformed(f"resultType {quote(kind)} where a {wanted} was asked for")
    if kind == "scalar":
        at, value = _pair(result)
        if math.isnan(value):
            return NoData("the query gave NaN")
        return Points((at,), (value,))
    if not isinstance(result, list):
        raise Malformed(f"a {kind} result that is not a list")
    if not all(isinstance(item, dict) for item in result):
        raise Malformed(f"a {kind} result whose items are not objects")
    if not result:
        return NoData("the query matched no series")
    if len(result) > 1:
        labels = "; ".join(_labels(item.get("metric")) for item in result[:3])
        more = f" and {len(result) - 3} more" if len(result) > 3 else ""
        raise QueryFailure(
            NAME,
            "ambiguous",
            f"the query gave {len(result)} series where one was expected ({labels}{more})",
            hint="aggregate it, e.g. sum(...), or select one series per cohort",
        )
    item = result[0]
    if kind == "vector":
        at, value = _pair(item.get("value"))
        if math.isnan(value):
            return NoData(f"the query gave {item['value'][1]}")
        return Points((at,), (value,))
    pairs = item.get("values")
    if not isinstance(pairs, list):
        raise Malformed("a matrix series without a list of values")
    return _matrix_points(pairs)


def _series_points(pairs: Any) -> Points:
    if not isinstance(pairs, list):
        raise Malformed("a matrix series without a list of values")
    return _matrix_points(pairs)


TIME_TYPES = (int, float)  # exactly these: a bool is an int to isinstance, not to type()


def _matrix_points(pairs: list[Any]) -> Points:
    """A matrix series' ``[time, "value"]`` pairs, as strictly as :func:`_pair` reads each.
    The shape every server sends (a number and a string) is read in one pass, without a
    call per sample: a fleet's answers hold hundreds of thousands of samples. Anything else
    (or a value that is not a number) is read again pair by pair, for the same message."""
    if all(
        type(pair) is list
        and len(pair) == 2
        and type(pair[0]) in TIME_TYPES
        and type(pair[1]) is str
        for pair in pairs
    ):
        try:
            times = tuple([float(pair[0]) for pair in pairs])
            values = tuple([float(pair[1]) for pair in pairs])
        except (ValueError, OverflowError):
            pass
        else:
            if all(map(math.isfinite, times)):
                return Points(times, values)
    read = [_pair(pair) for pair in pairs]
    return Points(tuple(at for at, _ in read), tuple(value for _, value in read))


def _labels(metric: Any) -> str:
    if not isinstance(metric, dict) or not metric:
        return "{}"
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"
