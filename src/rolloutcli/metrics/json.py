"""Any HTTP API that answers JSON as a metrics source (the long tail, like Argo's ``web``).

The source holds one request template (:mod:`rolloutcli.plan.jsontemplate`): ``url``,
``method``, an optional JSON ``body`` and ``headers_env`` (header → environment variable,
registered as secrets, never printed). Each metric's query is a JMESPath expression over
the answer, which must give:

* a number: the metric over the whole window (a counter's total, or one value); or
* a list of ``[time, value]`` pairs, ``time`` the start of the interval the value covers
  (epoch seconds, or an RFC 3339 text), ``value`` a number or null (missing, never zero).

null or an empty list is no data (the verdict holds and names the metric); a list of such
lists (several series) or of bare numbers (values without times) is refused as ambiguous;
anything else is malformed. 400, 404 and 422 are a rejected query; 401 and 403 unauthorised;
429 and 5xx are retried by the query pool, then fail. Every failure exits 3.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jmespath
from jmespath.exceptions import JMESPathError

from rolloutcli.plan.jsontemplate import NAMES, render_body, render_url
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.plan.source_specs import JsonSourceSpec
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import quote
from rolloutcli.support.redact import clip, display_url, env_secret, scrub
from rolloutcli.support.timeutil import format_timestamp
from rolloutcli.support.urlpolicy import check_url

from .base import QueryFailure
from .pool import Call
from .querying import Fetch, Malformed, NoData, Points, QueryingSource, read_strictly

NAME = "json"
API = "the json source's answer shape"
SETTING = "metrics.source.url and the metric's expression"


def open_json(loaded: LoadedPlan) -> JsonSource:
    spec = loaded.plan.metrics.source
    assert isinstance(spec, JsonSourceSpec)  # the registry opens this adapter for this kind
    assert spec.url is not None  # plan validation requires it
    base, _ = render_url(spec.url, dict.fromkeys(NAMES, ""))
    check_url(base, "json: metrics.source.url")
    headers: dict[str, str] = {}
    missing = []
    for header, env in (spec.headers_env or {}).items():
        value = env_secret(env)
        if not value:
            missing.append(env)
        headers[header] = value
    if missing:
        raise InvalidInputError(
            f"json: set {' and '.join(missing)} in the environment "
            "(metrics.source.headers_env sends them as headers)"
        )
    return JsonSource(loaded, spec, headers)


@dataclass(frozen=True)
class JsonCall(Call):
    """A call that knows what it asked: the expression and the window (epoch seconds)."""

    expression: str = ""
    start: float = 0.0
    end: float = 0.0


class JsonSource(QueryingSource):
    name = NAME
    anchor = "start"

    def __init__(self, loaded: LoadedPlan, spec: JsonSourceSpec, headers: dict[str, str]) -> None:
        super().__init__(loaded)
        self.spec_ = spec
        self.headers = headers

    def window_text(self, length: timedelta) -> str:
        return str(max(1, round(length.total_seconds())))

    def grid_origin(self, fetch: Fetch) -> float:
        return fetch.start.timestamp()  # the API's steps run from the window's start

    def values_for(self, fetch: Fetch) -> dict[str, str]:
        start, end = math.floor(fetch.start.timestamp()), math.floor(fetch.end.timestamp())
        length = fetch.step if fetch.step is not None else fetch.end - fetch.start
        seconds = self.window_text(length)
        return {
            "metric": fetch.metric,
            "cohort": fetch.label,
            "role": fetch.role,
            "flag": self.flag,
            "start": str(start),
            "end": str(end),
            "start_iso": format_timestamp(_utc(start)),
            "end_iso": format_timestamp(_utc(end)),
            "window": seconds,
            "step": seconds,
        }

    def request(self, fetch: Fetch) -> tuple[str, str, bytes | None]:
        """The base URL, the path and query, and the body of ``fetch``'s request."""
        assert self.spec_.url is not None
        values = self.values_for(fetch)
        base, rest = render_url(self.spec_.url, values)
        body = None
        if self.spec_.body is not None:
            rendered = render_body(self.spec_.body, values)
            body = json.dumps(rendered, separators=(",", ":")).encode()
        return base, rest, body

    def rendered(self, fetch: Fetch) -> str:
        """The request and the expression, as shown in messages (no header values)."""
        base, rest, body = self.request(fetch)
        text = f"{self.spec_.method} {shown_url(base + rest)}"
        if body is not None:
            text += f" {body.decode()}"
        return f"{text} -> {self.spec(fetch.metric).query}"

    def calls(self, fetch: Fetch, query: str) -> list[Call]:
        if fetch.end <= fetch.start:
            return []
        base, rest, body = self.request(fetch)
        call = JsonCall(
            NAME,
            base,
            rest,
            {},
            self.headers,
            self.timeout,
            self.spec_.method,
            body,
            expression=self.spec(fetch.metric).query,
            start=fetch.start.timestamp(),
            end=fetch.end.timestamp(),
        )
        return [call]

    def describe_call(self, call: Call) -> dict[str, str]:
        shown = {"method": call.method, "url": shown_url(call.base_url + call.path)}
        if call.body is not None:
            shown["body"] = call.body.decode()
        for header, env in (self.spec_.headers_env or {}).items():
            shown[f"header {header}"] = f"${env}"  # where it comes from, never its value
        if isinstance(call, JsonCall):
            shown["expression"] = call.expression
        return shown

    def parse(self, call: Call, response: object) -> Points | NoData:
        assert isinstance(response, httpx.Response) and isinstance(call, JsonCall)
        status = response.status_code
        if 200 <= status < 300:
            return read_strictly(
                NAME, lambda: _read(call, response), (call.start, call.end), API, SETTING
            )
        text = f"HTTP {status}"
        said = clip(" ".join(response.text.split()), 300)
        if said:
            text += f": {said}"
        if status in (400, 404, 405, 422):
            raise QueryFailure(
                NAME, "rejected", f"request rejected ({text})", hint="fix metrics.source.url"
            )
        if status in (401, 403):
            names = ", ".join((self.spec_.headers_env or {}).values()) or "headers_env"
            raise QueryFailure(
                NAME,
                "unauthorized",
                f"not authorised ({text}) at {display_url(call.base_url)}",
                hint=f"check {names}",
            )
        if status == 429:
            raise QueryFailure(
                NAME,
                "rate_limited",
                f"rate limited ({text})",
                hint="lower ROLLOUT_QUERY_CONCURRENCY or check fewer plans at once",
            )
        raise QueryFailure(
            NAME,
            "unreachable",
            f"unexpected answer ({text}) from {display_url(call.base_url)}",
            hint="check metrics.source.url",
        )


def shown_url(url: str) -> str:
    """A request's URL as shown: scrubbed, but its query kept (``display_url`` would take
    its values for secrets; here they come from the plan, which holds none)."""
    return scrub(url)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _read(call: JsonCall, response: httpx.Response) -> Points | NoData:
    try:
        answer = json.loads(response.content)
    except ValueError:
        raise Malformed("an answer that is not JSON") from None
    try:
        found = jmespath.search(call.expression, answer)
    except JMESPathError as exc:
        raise QueryFailure(
            NAME,
            "rejected",
            f"the expression fails on the answer: {' '.join(str(exc).split())}",
            hint="fix the metric's expression in metrics.queries",
        ) from None
    return read_found(found, call.start)


def read_found(found: Any, start: float) -> Points | NoData:
    """What an expression selected, as points (a lone number is stamped at ``start``)."""
    if found is None or found == []:
        return NoData("the expression selected nothing")
    if _number(found):
        return Points((start,), (float(found),))
    if not isinstance(found, list):
        raise Malformed(f"the expression gave {_kind(found)}, not a number or [time, value] pairs")
    series = [_is_series(item) for item in found]
    if all(series) and len(found) == 1:
        return read_found(found[0], start)  # one series, as data.series[].points gives it
    if all(series):
        raise QueryFailure(
            NAME,
            "ambiguous",
            f"the expression gave {len(found)} series where one was expected",
            hint="filter the expression to one series per cohort",
        )
    if all(_number(item) or item is None for item in found):
        raise QueryFailure(
            NAME,
            "ambiguous",
            f"the expression gave {len(found)} values without times where one was expected",
            hint="select one number, or [time, value] pairs",
        )
    read = [_point(p) for p in found]
    return Points(tuple(at for at, _ in read), tuple(value for _, value in read))


def _is_series(value: Any) -> bool:
    """A list of lists (of [time, value] pairs), or an empty list."""
    return isinstance(value, list) and all(isinstance(item, list) for item in value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return {dict: "an object", str: "a text", bool: "a boolean"}.get(type(value), "a value")


def _point(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise Malformed(f"an item {clip(json.dumps(raw), 80)} that is not a [time, value] pair")
    at, value = raw
    when = _time(at)
    if value is None:
        return when, math.nan
    if not _number(value):
        raise Malformed(f"a value {quote(value)} that is not a number")
    return when, float(value)


def _time(at: Any) -> float:
    if _number(at) and math.isfinite(at):
        return float(at)
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.timestamp()
    raise Malformed(
        f"a time {quote(at)} that is neither epoch seconds nor an RFC 3339 time with its zone"
    )
