"""Amazon CloudWatch (``GetMetricData``, through boto3) as a metrics source.

Each metric's query is a metric stat or metric math (:mod:`rolloutcli.plan.cloudwatchquery`),
its cohort and flag placed in dimension values by ``{cohort}``, ``{role}`` and ``{flag}``;
``{window}`` renders as the period in seconds (for ``SEARCH``). A counter's total is one
period spanning the window; a series is one period per step.

Periods follow CloudWatch's rules: whole minutes (60 s at least), five minutes for data
older than 15 days, an hour beyond 63 days; a step that does not fit is rounded up. The
window's start is rounded up and its end down to that grain, so no point of the previous
stage is counted and the minute still being written is left for the next check. A point
is stamped with its period's start (periods run from the query's start).

Answers are paged (``NextToken``) and merged; ``Throttling``/``TooManyRequests`` is retried
with backoff, then reported as rate limited. No data points is no data; several series (a
``SEARCH`` matching more than one) is ambiguous; a status other than ``Complete`` once every
page is read, or a refused request, is a failure (exit 3).

Configuration the AWS way: credentials from boto3's default chain (``AWS_ACCESS_KEY_ID``
..., ``AWS_PROFILE``, an instance role), the region from ``metrics.source.region``, else
``AWS_REGION``/``AWS_DEFAULT_REGION``; ``metrics.source.endpoint_url``, else
``AWS_ENDPOINT_URL_CLOUDWATCH``/``AWS_ENDPOINT_URL``, for another endpoint.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rolloutcli.plan.cloudwatchquery import (
    RESULT_ID,
    CloudWatchQuery,
    MetricStat,
    one_line,
    parse_query,
)
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.plan.source_specs import CloudWatchSourceSpec
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.http import BACKOFF
from rolloutcli.support.redact import clip, display_url, register_url
from rolloutcli.support.timeutil import format_timestamp

from .base import Cohort, QueryFailure
from .pool import Call, QueryPool
from .querying import Fetch, Malformed, NoData, Points, QueryingSource, read_strictly
from .templates import render

NAME = "cloudwatch"
MAX_PAGES = 100
THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
)
UNAUTHORIZED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
    }
)
CREDENTIALS_HINT = (
    "give credentials the AWS way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "or a role) with cloudwatch:GetMetricData"
)
QUERY_HINT = "fix the query template in metrics.queries"
Api = Callable[..., dict[str, Any]]


def open_cloudwatch(loaded: LoadedPlan) -> CloudWatchSource:
    spec = loaded.plan.metrics.source
    assert isinstance(spec, CloudWatchSourceSpec)  # the registry opens this adapter for this kind
    region = (
        spec.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    ).strip()
    if not region:
        raise InvalidInputError(
            f"{loaded.path}: the cloudwatch source needs a region: set metrics.source.region "
            "or AWS_REGION"
        )
    endpoint = spec.endpoint_url
    if endpoint:
        register_url(endpoint)  # a password in the URL is a secret
    return CloudWatchSource(loaded, region, endpoint)


def grain(start: datetime, now: datetime) -> int:
    """The seconds CloudWatch keeps data at for points as old as ``start``: 60 for the last
    15 days, 300 up to 63 days, 3600 beyond."""
    age = now - start
    if age > timedelta(days=63):
        return 3600
    if age > timedelta(days=15):
        return 300
    return 60


def aligned(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime, int]:
    """[start, end) rounded inwards to CloudWatch's grain for its age, and the grain."""
    size = grain(start, now)
    first = math.ceil(start.timestamp() / size) * size
    last = math.floor(end.timestamp() / size) * size
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC), size


def period_for(length: timedelta, size: int) -> int:
    """``length`` as a period CloudWatch takes: whole multiples of ``size`` (at least one)."""
    return max(1, math.ceil(length.total_seconds() / size - 1e-9)) * size


def metric_queries(query: CloudWatchQuery, period: int) -> list[dict[str, Any]]:
    """The ``MetricDataQueries`` of one query: its named metrics (not returned) and the
    returned metric or expression, with id ``result``."""
    out = [
        {"Id": ident, "MetricStat": _stat(stat, period), "ReturnData": False}
        for ident, stat in query.named
    ]
    if isinstance(query.returned, MetricStat):
        out.append({"Id": RESULT_ID, "MetricStat": _stat(query.returned, period)})
    else:
        out.append({"Id": RESULT_ID, "Expression": query.returned, "Period": period})
    return out


def _stat(stat: MetricStat, period: int) -> dict[str, Any]:
    metric: dict[str, Any] = {"Namespace": stat.namespace, "MetricName": stat.name}
    if stat.dimensions:
        metric["Dimensions"] = [{"Name": k, "Value": v} for k, v in stat.dimensions]
    return {"Metric": metric, "Period": period, "Stat": stat.stat}


def merge_pages(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every page's ``MetricDataResults`` merged by id: points appended, the last status and
    every message kept."""
    merged: dict[str, dict[str, Any]] = {}
    for page in pages:
        for result in page.get("MetricDataResults") or []:
            key = str(result.get("Id"))
            into = merged.setdefault(
                key,
                {"Id": key, "Label": result.get("Label"), "Timestamps": [], "Values": []},
            )
            into["Timestamps"].extend(result.get("Timestamps") or [])
            into["Values"].extend(result.get("Values") or [])
            into["StatusCode"] = result.get("StatusCode")
            into.setdefault("Messages", []).extend(result.get("Messages") or [])
    return list(merged.values())


def read_results(results: list[dict[str, Any]]) -> Points | NoData:
    """The one returned series as points (epoch seconds); typed failures otherwise."""
    if not results:
        return NoData("the query returned no series")
    if len(results) > 1:
        labels = "; ".join(clip(str(r.get("Label") or r.get("Id")), 60) for r in results[:3])
        more = f" and {len(results) - 3} more" if len(results) > 3 else ""
        raise QueryFailure(
            NAME,
            "ambiguous",
            f"the query gave {len(results)} series where one was expected ({labels}{more})",
            hint="narrow the SEARCH, or aggregate it (SUM(SEARCH(...)))",
        )
    result = results[0]
    status = result.get("StatusCode")
    messages = "; ".join(
        clip(f"{m.get('Code', '?')}: {m.get('Value', '')}", 120)
        for m in result.get("Messages") or []
        if isinstance(m, dict)
    )
    said = f" ({messages})" if messages else ""
    if status == "Forbidden":
        raise QueryFailure(NAME, "unauthorized", f"forbidden{said}", hint=CREDENTIALS_HINT)
    if status == "InternalError":
        raise QueryFailure(NAME, "unreachable", f"CloudWatch's internal error{said}")
    if status != "Complete":
        raise QueryFailure(
            NAME,
            "rejected",
            f"the data is incomplete (status {clip(str(status), 30)}){said}",
            hint="use a longer step, or a shorter window",
        )
    times, values = result.get("Timestamps"), result.get("Values")
    if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values):
        raise Malformed("timestamps and values that do not pair up")
    if not times:
        return NoData(f"the query matched no data points{said}")
    read = sorted((_time(t), _value(v)) for t, v in zip(times, values, strict=True))
    return Points(tuple(t for t, _ in read), tuple(v for _, v in read))


def _time(raw: Any) -> float:
    if isinstance(raw, datetime):
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).timestamp()
    raise Malformed(f"a timestamp {clip(repr(raw), 40)} that is not a time")


def _value(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Malformed(f"a value {clip(repr(raw), 40)} that is not a number")
    return float(raw)


def fetch_pages(
    api: Api,
    request: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    backoff: tuple[float, ...] = BACKOFF,
) -> list[dict[str, Any]]:
    """Every page of one GetMetricData request, throttled calls retried after ``backoff``."""
    pages: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = _with_retries(
            api, {**request, "NextToken": token} if token else request, sleep, backoff
        )
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages
    raise QueryFailure(
        NAME, "rejected", f"more than {MAX_PAGES} pages of data", hint="use a longer step"
    )


def _with_retries(
    api: Api, request: dict[str, Any], sleep: Callable[[float], None], backoff: tuple[float, ...]
) -> dict[str, Any]:
    for delay in (*backoff, None):
        try:
            return api(**request)
        except Exception as exc:
            if error_code(exc) not in THROTTLED or delay is None:
                raise
            sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None


def failure(exc: Exception, where: str) -> QueryFailure:
    """A boto3 error as the typed failure it is."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        ParamValidationError,
    )

    if isinstance(exc, ParamValidationError):  # refused before it was sent
        return QueryFailure(NAME, "rejected", f"query rejected ({clip(str(exc), 300)})", QUERY_HINT)
    if isinstance(exc, NoCredentialsError):
        return QueryFailure(NAME, "unauthorized", "no AWS credentials found", CREDENTIALS_HINT)
    if isinstance(exc, ClientError):
        code = error_code(exc) or "?"
        text = clip(f"{code}: {exc.response.get('Error', {}).get('Message', '')}", 300)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLED:
            return QueryFailure(
                NAME,
                "rate_limited",
                f"throttled ({text}) after {len(BACKOFF)} retries",
                hint="lower ROLLOUT_QUERY_CONCURRENCY or check fewer plans at once",
            )
        if code in UNAUTHORIZED or status in (401, 403):
            return QueryFailure(NAME, "unauthorized", f"not authorised ({text})", CREDENTIALS_HINT)
        if 400 <= status < 500:
            return QueryFailure(NAME, "rejected", f"query rejected ({text})", QUERY_HINT)
        return QueryFailure(NAME, "unreachable", f"unexpected answer ({text}) from {where}")
    if isinstance(exc, BotoCoreError):
        return QueryFailure(
            NAME,
            "unreachable",
            f"cannot reach CloudWatch at {where}: {clip(str(exc), 200)}",
            hint="check metrics.source.region and endpoint_url, and the network",
        )
    raise exc


class CloudWatchSource(QueryingSource):
    name = NAME
    anchor = "start"

    def __init__(self, loaded: LoadedPlan, region: str, endpoint: str | None) -> None:
        super().__init__(loaded)
        self.region = region
        self.endpoint = endpoint
        self.where = display_url(endpoint) if endpoint else f"region {region}"
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._client: Any = None

    def client(self) -> Any:
        """boto3's client, made once (credentials are looked up when it first calls)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"total_max_attempts": 1},  # throttling is retried here, others fail
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
            )
            self._client = boto3.session.Session().client(
                "cloudwatch", region_name=self.region, endpoint_url=self.endpoint, config=config
            )
        return self._client

    def window_text(self, length: timedelta) -> str:
        return str(period_for(length, 60))

    def rendered(self, fetch: Fetch) -> str:
        """The query on one line, ``{window}`` the period the call asks for."""
        start, end, size = aligned(fetch.start, fetch.end, self.now())
        length = fetch.step if fetch.step is not None else end - start
        cohort = Cohort(fetch.role, fetch.label)  # type: ignore[arg-type]
        window = str(period_for(length, size))
        text = render(self.spec(fetch.metric).query, cohort=cohort, flag=self.flag, window=window)
        return one_line(text)

    def grid_origin(self, fetch: Fetch) -> float:
        return aligned(fetch.start, fetch.end, self.now())[0].timestamp()

    def calls(self, fetch: Fetch, query: str) -> list[Call]:
        start, end, size = aligned(fetch.start, fetch.end, self.now())
        if end <= start:
            return []
        length = fetch.step if fetch.step is not None else end - start
        params = {
            "query": query,
            "start": format_timestamp(start),
            "end": format_timestamp(end),
            "period": str(period_for(length, size)),
            "region": self.region,
        }
        return [Call(NAME, self.endpoint or "", "GetMetricData", params, timeout=self.timeout)]

    def request(self, call: Call) -> dict[str, Any]:
        """The GetMetricData arguments of one call."""
        params = call.params
        return {
            "MetricDataQueries": metric_queries(
                parse_query(params["query"]), int(params["period"])
            ),
            "StartTime": datetime.fromisoformat(params["start"]),
            "EndTime": datetime.fromisoformat(params["end"]),
            "ScanBy": "TimestampAscending",
        }

    async def _one(self, call: Call, pool: QueryPool) -> Points | NoData:
        try:
            request = self.request(call)
        except ValueError as exc:  # a query a placeholder made unreadable
            raise QueryFailure(NAME, "rejected", str(exc), QUERY_HINT) from None
        try:
            pages = await asyncio.to_thread(fetch_pages, self.client().get_metric_data, request)
        except Exception as exc:
            raise failure(exc, self.where) from None
        return self.parse(call, merge_pages(pages))

    def parse(self, call: Call, response: object) -> Points | NoData:
        assert isinstance(response, list)
        asked = (
            datetime.fromisoformat(call.params["start"]).timestamp(),
            datetime.fromisoformat(call.params["end"]).timestamp(),
        )
        return read_strictly(
            NAME,
            lambda: read_results(response),
            asked,
            "CloudWatch's GetMetricData",
            "metrics.source.endpoint_url",
        )
