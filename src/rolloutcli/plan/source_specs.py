"""Where a plan's numbers come from: one spec class per metrics kind, each with its checks.

Adding a metrics backend is one adapter file in ``rolloutcli/metrics/``, one spec class
here (its fields, its ``adapter`` and its ``problems``) and one name in
:data:`AnySourceSpec`. Validation, the plan schema, ``plan suggest`` and the CLI's help
read the kinds from that union. Credentials never live in a plan: each adapter reads them
from the environment. Plain frozen dataclasses like the platform specs (see there why);
the plan model validates them with pydantic.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from rolloutcli.plan.platform_specs import Bounds, Doc, Key, PathText, Url, kind_of
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import choices, quote

if TYPE_CHECKING:
    from rolloutcli.plan.yamlsource import KeyPath

PLACEHOLDER = re.compile(r"\{(cohort|role|flag|window)\}")


class Template(Protocol):
    """One metric's query template, as the plan gives it (``model.QuerySpec``)."""

    @property
    def query(self) -> str: ...

    @property
    def step(self) -> str | None: ...


Queries = Mapping[str, Template]
"""The plan's query templates by metric name."""
Reads = Mapping[str, str]
"""Every metric name the plan reads, and what reads it (``guardrail errors (events)``)."""


@dataclass(frozen=True, kw_only=True)
class BaseSourceSpec:
    """What every metrics source has: its kind and how long one query may take."""

    __pydantic_config__: ClassVar[dict[str, object]] = {
        "extra": "forbid",
        "allow_inf_nan": False,
    }

    adapter: ClassVar[str]
    """``module:factory`` of the adapter that opens this source (imported when used)."""
    summary: ClassVar[str]
    """A few words for help texts: what the kind is."""
    reads_queries: ClassVar[bool] = False
    """Whether the plan's ``metrics.queries`` are this source's way of naming metrics."""

    kind: str
    timeout: Annotated[
        float, Bounds(gt=0, le=300), Doc("Seconds each query may take before it is retried.")
    ] = 10.0

    def problems(self, queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
        """What only the whole plan can tell about this source (e.g. a query per metric)."""
        return []


@dataclass(frozen=True, kw_only=True)
class FileSourceSpec(BaseSourceSpec):
    """The embedded default: a local CSV or JSON-lines file, metrics read by name."""

    adapter: ClassVar[str] = "rolloutcli.metrics.file:open_file_source"
    summary: ClassVar[str] = "local CSV or JSON lines"

    kind: Annotated[Literal["file"], Doc("A local CSV or JSON-lines file.")]
    path: Annotated[
        PathText | None, Doc("Path of the metrics file, relative to the plan file.")
    ] = None

    def problems(self, queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
        problems: list[tuple[KeyPath, str]] = []
        if not self.path:
            problems.append((("metrics", "source", "kind"), "a file source needs path:"))
        if queries:
            problems.append(
                (
                    ("metrics", "queries"),
                    f"queries are for {query_kinds_text('and')} sources; the file source "
                    "reads metrics by name",
                )
            )
        return problems


@dataclass(frozen=True, kw_only=True)
class QuerySourceSpec(BaseSourceSpec):
    """A monitoring API the plan's query templates run against, one per metric."""

    reads_queries: ClassVar[bool] = True

    def problems(self, queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
        """A template for every metric the plan reads, each naming its cohort."""
        problems = _missing_queries(queries, reads)
        for name, spec in queries.items():
            problems.extend(_template_problems(spec.query, spec.step, ("metrics", "queries", name)))
        return problems


def _missing_queries(queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
    """A query for every metric the plan reads."""
    problems: list[tuple[KeyPath, str]] = []
    for name, used_by in reads.items():
        if name not in queries:
            close = difflib.get_close_matches(name, list(queries), n=1)
            hint = f"; did you mean {quote(close[0])}?" if close else ""
            problems.append(
                (
                    ("metrics", "queries"),
                    f"no query for {quote(name)} (read by {used_by}){hint}",
                )
            )
    return problems


def _template_problems(
    template: str, step: str | None, where: KeyPath
) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    if not set(PLACEHOLDER.findall(template)) & {"cohort", "role"}:
        problems.append(
            (
                where,
                "the query names no cohort: add {cohort} (the variation served) or "
                "{role} (treatment/control), or both cohorts get the same numbers",
            )
        )
    return problems + _step_problems(step, where)


def _step_problems(step: str | None, where: KeyPath) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    if step is not None:
        try:
            ok = parse_duration(step).total_seconds() > 0
        except ValueError as exc:
            problems.append(((*where, "step"), str(exc)))
        else:
            if not ok:
                problems.append(((*where, "step"), "step must be positive (e.g. 5m)"))
    return problems


@dataclass(frozen=True, kw_only=True)
class PrometheusSourceSpec(QuerySourceSpec):
    """Prometheus's HTTP API v1 (or anything that speaks it). Credentials from
    PROMETHEUS_TOKEN, or PROMETHEUS_USERNAME and PROMETHEUS_PASSWORD."""

    adapter: ClassVar[str] = "rolloutcli.metrics.prometheus:open_prometheus"
    summary: ClassVar[str] = "HTTP API v1"

    kind: Annotated[Literal["prometheus"], Doc("Prometheus's HTTP API v1.")]
    url: Annotated[
        Url | None, Doc("The server's base URL (default: the PROMETHEUS_URL environment variable).")
    ] = None


@dataclass(frozen=True, kw_only=True)
class DatadogSourceSpec(QuerySourceSpec):
    """Datadog's metrics query API v1. Keys from DD_API_KEY and DD_APP_KEY."""

    adapter: ClassVar[str] = "rolloutcli.metrics.datadog:open_datadog"
    summary: ClassVar[str] = "metrics query API v1"

    kind: Annotated[Literal["datadog"], Doc("Datadog's metrics query API v1.")]
    url: Annotated[
        Url | None, Doc("The API's base URL (default: https://api.{site}), e.g. a proxy.")
    ] = None
    site: Annotated[
        Key | None,
        Doc(
            "The Datadog site (default: DD_SITE, else datadoghq.com; e.g. datadoghq.eu, "
            "us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, ddog-gov.com)."
        ),
    ] = None


@dataclass(frozen=True, kw_only=True)
class SqlSourceSpec(QuerySourceSpec):
    """SQL over the team's own tables: PostgreSQL (psycopg), DuckDB (embedded, over a
    database file or CSV and Parquet exports) or any DB-API 2.0 module named by URL
    (``dbapi+MODULE:``; sqlite3 in the standard library). Each metric is one query, its
    cohort, flag and window bound as parameters, under a statement timeout; read-only
    except through a generic DB-API module, where the database account must ensure it."""

    adapter: ClassVar[str] = "rolloutcli.metrics.sql:open_sql"
    summary: ClassVar[str] = "PostgreSQL, DuckDB or any DB-API module"

    kind: Annotated[Literal["sql"], Doc("SQL over PostgreSQL, DuckDB or any DB-API 2.0 module.")]
    url: Annotated[
        Url | None,
        Doc(
            "postgresql://user@host/db (password from PGPASSWORD or ~/.pgpass, never here), "
            "duckdb:path/to.duckdb (relative to the plan file), or duckdb: (in memory, for "
            "queries over CSV or Parquet files), or any DB-API 2.0 module: "
            "dbapi+sqlite3:path/to.sqlite (relative to the plan file), "
            "dbapi+MODULE:PATH?NAME=VALUE (MODULE.connect(PATH, NAME=VALUE)) or "
            "dbapi+MODULE://user@host:port/database?NAME=VALUE (keyword arguments). "
            "Default: the variable url_env names."
        ),
    ] = None
    url_env: Annotated[
        Key | None,
        Doc("The environment variable holding the URL when url: is not given (ROLLOUT_SQL_URL)."),
    ] = None

    def problems(self, queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
        from .sqltext import query_problems, url_problem

        problems = super().problems(queries, reads)
        if self.url is not None:
            problem = url_problem(self.url)
            if problem:
                problems.append((("metrics", "source", "url"), problem))
        for name, spec in queries.items():
            problems.extend(
                (("metrics", "queries", name), text) for text in query_problems(spec.query)
            )
        return problems


@dataclass(frozen=True, kw_only=True)
class JsonSourceSpec(QuerySourceSpec):
    """Any HTTP API that answers JSON (the long tail): one request template for every
    metric, and per metric a JMESPath expression (its query) that picks the numbers out of
    the answer. Header values from environment variables, never the plan."""

    adapter: ClassVar[str] = "rolloutcli.metrics.json:open_json"
    summary: ClassVar[str] = "any HTTP API answering JSON"

    kind: Annotated[Literal["json"], Doc("Any HTTP API that answers JSON.")]
    url: Annotated[
        Url | None,
        Doc(
            "The request's URL template, e.g. https://metrics.example.com/api/{metric}"
            "?cohort={cohort}&from={start}&to={end}&step={window}. Placeholders only after "
            "the host; their values are percent-encoded."
        ),
    ] = None
    method: Annotated[Literal["GET", "POST"], Doc("GET (default) or POST.")] = "GET"
    body: Annotated[
        dict[str, Any] | None,
        Doc("For POST: a JSON body template (placeholders inside its strings)."),
    ] = None
    headers_env: Annotated[
        dict[Key, Key] | None,
        Doc(
            "Headers whose values come from environment variables (header: VARIABLE), "
            "e.g. {Authorization: METRICS_AUTH}; the values are secrets, never printed."
        ),
    ] = None

    def problems(self, queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
        from .jsontemplate import expression_problem, request_problems

        problems = _missing_queries(queries, reads)
        for field_name, text in request_problems(
            self.url, self.method, self.body, self.headers_env
        ):
            problems.append((("metrics", "source", field_name), text))
        for name, spec in queries.items():
            where: KeyPath = ("metrics", "queries", name)
            problem = expression_problem(spec.query)
            if problem:
                problems.append((where, problem))
            problems.extend(_step_problems(spec.step, where))
        return problems


@dataclass(frozen=True, kw_only=True)
class CloudWatchSourceSpec(QuerySourceSpec):
    """Amazon CloudWatch's GetMetricData. Each query is a metric stat (``Namespace
    MetricName Stat Dimension=Value ...``) or metric math over named ones; credentials and
    region the AWS way (environment, profile, instance role)."""

    adapter: ClassVar[str] = "rolloutcli.metrics.cloudwatch:open_cloudwatch"
    summary: ClassVar[str] = "GetMetricData"

    kind: Annotated[Literal["cloudwatch"], Doc("Amazon CloudWatch's GetMetricData.")]
    region: Annotated[
        Key | None, Doc("The AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION).")
    ] = None
    endpoint_url: Annotated[
        Url | None,
        Doc(
            "Another endpoint (a VPC endpoint, a local emulator); default: AWS's, or "
            "AWS_ENDPOINT_URL_CLOUDWATCH / AWS_ENDPOINT_URL."
        ),
    ] = None

    def problems(self, queries: Queries, reads: Reads) -> list[tuple[KeyPath, str]]:
        from .cloudwatchquery import query_problem

        problems = super().problems(queries, reads)
        for name, spec in queries.items():
            problem = query_problem(spec.query)
            if problem:
                problems.append((("metrics", "queries", name), problem))
        return problems


# The registry: one name per metrics kind.
AnySourceSpec = (
    FileSourceSpec
    | PrometheusSourceSpec
    | DatadogSourceSpec
    | SqlSourceSpec
    | CloudWatchSourceSpec
    | JsonSourceSpec
)

SOURCE_SPECS: dict[str, type[AnySourceSpec]] = {
    kind_of(cls): cls for cls in typing.get_args(AnySourceSpec)
}
"""kind → spec class, in the union's order."""


def source_kinds_text(conjunction: str = "or") -> str:
    """``file, prometheus or datadog``: the kinds, for messages and help."""
    return choices(list(SOURCE_SPECS), conjunction)


def query_kinds_text(conjunction: str = "or") -> str:
    """The kinds that read ``metrics.queries``: ``prometheus and datadog``."""
    return choices([k for k, cls in SOURCE_SPECS.items() if cls.reads_queries], conjunction)


def source_spec(given: Mapping[str, object]) -> AnySourceSpec:
    """A spec from command-line options (``plan suggest``): options left out (None) take
    the plan's defaults; a bad one is an InvalidInputError naming it (``--url``)."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(AnySourceSpec).validate_python(
            {k: v for k, v in given.items() if v is not None}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][-1]).replace("_", "-")
        message = first["ctx"]["error"] if first["type"] == "value_error" else first["msg"]
        raise InvalidInputError(f"{option}: {message}") from None
