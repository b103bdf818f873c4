"""Datadog's metrics query API (v1, ``GET /api/v1/query``) as a metrics source.

Each query runs over [from, to] in whole seconds. ``{window}`` renders as seconds, for
rollups: a counter's total is the sum of the points of e.g.
``sum:checkout.requests{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})``;
one value per step is the same template with ``{window}`` = the step. Datadog stamps each
rollup bucket with its start and aligns buckets to UNIX time, so a bucket that straddles
the window's start counts in the first interval.

``series: []`` is no data; more than one series (a ``by {...}`` left in the query) is
refused. A guardrail with ``segments: {by: region}`` runs its queries grouped
``by {region}`` (the tag added to each ``metric{scope}``, or to its own ``by {...}``):
one series per region, named by the ``region:`` tag of its ``tag_set`` (or its ``scope``);
a series whose tag is missing (``region:N/A``) goes to the pooled segment ``other``.

Errors arrive as ``{"errors": [...]}``; a 429 carries ``X-RateLimit-Reset`` (seconds),
which the query pool waits out (up to 30 s).

Configuration: ``DD_API_KEY`` and ``DD_APP_KEY`` (or ``DD_APPLICATION_KEY``) from the
environment, never the plan; the site from ``metrics.source.site`` or ``DD_SITE``
(default ``datadoghq.com``); ``metrics.source.url`` overrides the whole base URL (a proxy).
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from typing import Any

import httpx

from rolloutcli.plan.model import LoadedPlan
from rolloutcli.plan.segments import OTHER
from rolloutcli.plan.source_specs import DatadogSourceSpec
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import quote
from rolloutcli.support.redact import clip, display_url, env_secret, register_url
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
    read_strictly,
)
from .templates import datadog_grouped, datadog_seconds

NAME = "datadog"
ENV_API_KEY = "DD_API_KEY"
ENV_APP_KEYS = ("DD_APP_KEY", "DD_APPLICATION_KEY")
ENV_SITE = "DD_SITE"
DEFAULT_SITE = "datadoghq.com"
MISSING_TAG = "N/A"
"""The value Datadog shows for a group whose series lack the tag grouped by."""


def open_datadog(loaded: LoadedPlan) -> DatadogSource:
    spec = loaded.plan.metrics.source
    assert isinstance(spec, DatadogSourceSpec)  # the registry opens this adapter for this kind
    site = (spec.site or os.environ.get(ENV_SITE, "")).strip() or DEFAULT_SITE
    url = (spec.url or f"https://api.{site}").rstrip("/")
    register_url(url)  # a password in the URL is a secret
    url = check_url(url, "datadog: metrics.source.url / metrics.source.site")
    api_key = env_secret(ENV_API_KEY)
    app_keys = [env_secret(name) for name in ENV_APP_KEYS]  # both registered, first one used
    app_key = next((key for key in app_keys if key), "")
    if not api_key or not app_key:
        missing = " and ".join(
            name
            for name, value in ((ENV_API_KEY, api_key), (ENV_APP_KEYS[0], app_key))
            if not value
        )
        raise InvalidInputError(
            f"datadog: set {missing} in the environment (an API key and an application "
            "key with the timeseries_query permission)"
        )
    headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key}
    return DatadogSource(loaded, url, headers, site)


class DatadogSource(QueryingSource):
    name = NAME
    anchor = "start"

    def __init__(self, loaded: LoadedPlan, url: str, headers: dict[str, str], site: str) -> None:
        super().__init__(loaded)
        self.url = url
        self.headers = headers
        self.site = site

    def window_text(self, length: timedelta) -> str:
        return datadog_seconds(length)

    def calls(self, fetch: Fetch, query: str) -> list[Call]:
        start, end = math.floor(fetch.start.timestamp()), math.floor(fetch.end.timestamp())
        if end <= start:
            return []
        params = {"from": str(start), "to": str(end), "query": query}
        return [Call(NAME, self.url, "/api/v1/query", params, self.headers, self.timeout)]

    def grouped(self, query: str, by: str) -> str:
        return datadog_grouped(query, by)

    def parse(self, call: Call, response: object) -> Points | NoData:
        body = self._body(response)
        return _points(body, call)

    def parse_grouped(self, call: Call, response: object, by: str) -> Grouped | NoData:
        """A grouped query's series, one per value of the tag ``by`` (series with the same
        value, grouped by other tags too, are merged; one without it goes to ``other``).
        ``Grouped({})`` when no series carries the tag at all."""
        body = self._body(response)
        series = body.get("series")
        if not isinstance(series, list) or not all(isinstance(s, dict) for s in series):
            raise QueryFailure(
                NAME,
                "malformed",
                "malformed answer: no list of series objects",
                hint="the server does not answer as Datadog's metrics query API v1 does; "
                "check the site or metrics.source.url",
            )
        if not series:
            return NoData("the query matched no series")
        named = [_tag_value(item, by) for item in series]
        if all(value is None for value in named):
            return Grouped({})
        merged: dict[str, list[Points]] = {}
        for item, value in zip(series, named, strict=True):
            found = _points({"series": [item]}, call)
            if isinstance(found, Points):
                merged.setdefault(value or OTHER, []).append(found)
        return Grouped(
            {
                name: Points(
                    tuple(t for p in parts for t in p.times),
                    tuple(v for p in parts for v in p.values),
                )
                for name, parts in merged.items()
            }
        )

    def _body(self, response: object) -> dict[str, Any]:
        """A successful answer's body; raises the failure any other answer is."""
        assert isinstance(response, httpx.Response)
        status = response.status_code
        body = _json(response)
        if status == 200 and isinstance(body, dict):
            if body.get("status") == "error":
                raise QueryFailure(
                    NAME,
                    "rejected",
                    f"query rejected: {clip(str(body.get('error') or 'status error'), 300)}",
                    hint="fix the query template in metrics.queries",
                )
            return body
        listed = body.get("errors") if isinstance(body, dict) else None
        errors = (
            "; ".join(str(e) for e in listed) if isinstance(listed, list) else str(listed or "")
        )
        errors = clip(errors, 300)  # server text: scrubbed, then cut
        text = f"{status}" + (f": {errors}" if errors else "")
        if status == 400:
            raise QueryFailure(
                NAME,
                "rejected",
                f"query rejected ({text})",
                hint="fix the query template in metrics.queries",
            )
        if status in (401, 403):
            raise QueryFailure(
                NAME,
                "unauthorized",
                f"not authorised ({text}) at {display_url(self.url)}",
                hint=f"check {ENV_API_KEY} and {ENV_APP_KEYS[0]} (timeseries_query "
                f"permission) and the site ({self.site})",
            )
        if status == 429:
            reset = clip(response.headers.get("x-ratelimit-reset", "?"), 20)
            raise QueryFailure(
                NAME,
                "rate_limited",
                f"rate limited ({text}); resets in {reset} s",
                hint="lower ROLLOUT_QUERY_CONCURRENCY or check fewer plans at once",
            )
        raise QueryFailure(
            NAME,
            "unreachable",
            f"unexpected answer ({text}) from {display_url(self.url)}",
            hint="check the site or metrics.source.url",
        )


def _tag_value(series: dict[str, Any], by: str) -> str | None:
    """A grouped series' value of the tag ``by``: from its ``tag_set``
    (``["region:eu-west"]``), else its ``scope`` (``flag:f,region:eu-west``); None when it
    has none (``region:N/A``: the series lack the tag)."""
    tags = series.get("tag_set")
    if not isinstance(tags, list) or not tags:
        scope = series.get("scope")
        tags = scope.split(",") if isinstance(scope, str) else []
    for tag in tags:
        if isinstance(tag, str):
            key, sep, value = tag.strip().partition(":")
            if sep and key == by and value and value != MISSING_TAG:
                return value
    return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _points(body: dict[str, Any], call: Call) -> Points | NoData:
    """Read a successful answer strictly: ``series`` a list of objects, each ``pointlist`` a
    list of ``[milliseconds, value or null]`` pairs stamped inside the range asked for.
    null is missing (NaN), never zero."""
    params = call.params
    asked = (float(params["from"]), float(params["to"])) if {"from", "to"} <= set(params) else None
    return read_strictly(
        NAME,
        lambda: _read(body),
        asked,
        "Datadog's metrics query API v1",
        "the site or metrics.source.url",
    )


def _read(body: dict[str, Any]) -> Points | NoData:
    series = body.get("series")
    if not isinstance(series, list):
        raise Malformed("no series list")
    if not all(isinstance(s, dict) for s in series):
        raise Malformed("series items that are not objects")
    if not series:
        return NoData("the query matched no series")
    if len(series) > 1:
        scopes = "; ".join(clip(str(s.get("scope", "?")), 60) for s in series[:3])
        more = f" and {len(series) - 3} more" if len(series) > 3 else ""
        raise QueryFailure(
            NAME,
            "ambiguous",
            f"the query gave {len(series)} series where one was expected ({scopes}{more})",
            hint="drop the by {...} grouping, or filter to one series per cohort",
        )
    pointlist = series[0].get("pointlist")
    if pointlist is None:
        pointlist = []
    if not isinstance(pointlist, list):
        raise Malformed("a pointlist that is not a list")
    read = [_point(p) for p in pointlist]
    return Points(tuple(at for at, _ in read), tuple(value for _, value in read))


def _point(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise Malformed(f"a point {quote(raw)} that is not a [milliseconds, value] pair")
    at, value = raw
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise Malformed(f"a point time {quote(at)} that is not a number of milliseconds")
    if value is None:
        return float(at) / 1000.0, math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"a point value {quote(value)} that is not a number")
    return float(at) / 1000.0, float(value)
