"""The fault table: bad metrics data never becomes a `go`.

Each row puts a fault between the tool and a real metrics backend (a real Prometheus 2.42 over
backfilled history, the Datadog API fake) or into a metrics file, on top of a true regression
the fault would hide if read naively (NaN or a missing series as zero errors, a negative
count, a latency series that keeps only its good points...). Every row states the verdict it
must give — a `hold` that names the problem, or exit 3 naming the metric — and then runs
`watch --once --auto` on the same moment, which would advance the rollout on a `go`: the flag
must stay where it was.

The rows without a fault prove the truth is visible: the same regression rolls back. The
rows that lose points run on healthy data: what is left looks fine, and the points that are
gone are where a regression (a treatment that crashed and stopped reporting) would show; a
regression still visible in the points that remain rolls back, gaps or not.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.timeutil import format_timestamp
from tests.integration.answer_proxy import Answer, AnswerProxy, Request, answer_proxy
from tests.integration.cli_helpers import invoke, start_stage, write_flag_file
from tests.integration.datadog_fake import DatadogFake
from tests.integration.prometheus_data import END, END_TIME, QUERIES

pytestmark = [pytest.mark.integration]

AT = format_timestamp(END_TIME)
STAGE_START = END_TIME - timedelta(hours=2)
GUARDRAILS = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds: {warn: "+20%", pause: "+50%", rollback: "2x"}
  - name: p99_latency
    kind: mean
    metric: latency_p99_ms
    unit: ms
    scale: log
    thresholds: {pause: "+25%", rollback: "+50%"}
"""
TREATMENT_PROM = 'variant="true"'
ERRORS_PROM = 'status="500"'
LATENCY_PROM = "histogram_quantile"
REQUESTS_PROM = "http_requests_total"

Json = Any
Fault = Callable[[Request, Json], Answer]


@dataclass(frozen=True)
class Row:
    name: str
    flag: str  # the truth: "regression" (treatment errors 3x) or "healthy"
    fault: Fault | None
    verdict: str  # "hold", "rollback", or "exit 3"
    says: str  # what the hold's reasons, or the exit-3 error, must contain
    slower: bool = False  # the latency truth: treatment p99 up 60%


def run_row(root: Path, row: Row, url: str, write_plan: Callable[[Path, str, str], Path]) -> None:
    """Check, then `watch --once --auto` at the same moment; the flag must not move."""
    plan = write_plan(root, row.flag, url)
    code, output = invoke("check", str(plan), "--at", AT, "--json")
    if row.verdict == "exit 3":
        assert code == 3, output
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and row.says in errors[0], output
    else:
        result = json.loads(output)
        assert result["verdict"] == row.verdict, result["reasons"]
        assert row.says in " ".join(result["reasons"]), result["reasons"]
    code, output = invoke("watch", str(plan), "--once", "--auto", "--at", AT)
    assert code in (0, 1, 3), output
    state = FlagFilePlatform(root / "flags" / "flags.json", row.flag).read_state(True, False)
    expected = 0.0 if row.verdict == "rollback" else 10.0
    assert state.percent == expected, output


def flag_at_ten_percent(root: Path, flag: str) -> None:
    flags = write_flag_file(root / "flags" / "flags.json", flag)
    (root / "plans").mkdir(exist_ok=True)
    start_stage(flags, flag, 10, STAGE_START, flag)


def plan_text(flag: str, metrics: dict[str, Any]) -> str:
    return f"""flag: {flag}
platform: {{kind: flagfile, path: ../flags/flags.json}}
variations: {{treatment: true, control: false}}
stages:
  - {{percent: 10, min_duration: 1h, min_samples: 5000}}
  - {{percent: 50, min_duration: 1h, min_samples: 20000}}
  - {{percent: 100, min_duration: 0}}
metrics: {json.dumps(metrics)}
{GUARDRAILS}"""


# ---------------------------------------------------------------------- Prometheus


def prometheus_plan(root: Path, flag: str, url: str) -> Path:
    flag_at_ten_percent(root, flag)
    queries: dict[str, Any] = {k: v for k, v in QUERIES.items() if k in ("requests", "errors")}
    queries["latency_p99_ms"] = {"query": QUERIES["latency_p99_ms"], "step": "5m"}
    metrics = {"source": {"kind": "prometheus", "url": url}, "exposures": "requests"}
    plan = root / "plans" / f"{flag}.yaml"
    plan.write_text(plan_text(flag, {**metrics, "queries": queries}))
    return plan


def prom_samples(body: Json, change: Callable[[int, int, float, str], str | None]) -> Json:
    """The answer with each sample's value changed (None: the sample is dropped); the
    callback gets the sample's index, the series' length, its time and its value."""
    out = copy.deepcopy(body)
    data = out["data"]
    for item in data["result"]:
        if data["resultType"] == "vector":
            at, raw = item["value"]
            item["value"] = [at, change(0, 1, at, raw)]
        elif data["resultType"] == "matrix":
            values = item["values"]
            kept = [(at, change(i, len(values), at, raw)) for i, (at, raw) in enumerate(values)]
            item["values"] = [[at, raw] for at, raw in kept if raw is not None]
    return out


def on(*fragments: str, path: str | None = None) -> Callable[[Fault], Fault]:
    """Apply a fault only to queries holding every fragment (and to one endpoint)."""

    def wrap(fault: Fault) -> Fault:
        def apply(request: Request, body: Json) -> Answer:
            if request.asks(*fragments) and (path is None or request.path.endswith(path)):
                return fault(request, body)
            return 200, body

        return apply

    return wrap


def value(raw: str) -> Fault:
    return lambda request, body: (200, prom_samples(body, lambda i, n, at, old: raw))


def keep(rule: Callable[[int, int], bool]) -> Fault:
    return lambda request, body: (
        200,
        prom_samples(body, lambda i, n, at, old: old if rule(i, n) else None),
    )


def empty_result(request: Request, body: Json) -> Answer:
    out = copy.deepcopy(body)
    out["data"]["result"] = []
    return 200, out


def as_type(kind: str) -> Fault:
    """The result relabelled as another type, its shape left as it was."""

    def apply(request: Request, body: Json) -> Answer:
        out = copy.deepcopy(body)
        out["data"]["resultType"] = kind
        return 200, out

    return apply


def scalar_answer(request: Request, body: Json) -> Answer:
    return 200, {"status": "success", "data": {"resultType": "scalar", "result": [END, "0"]}}


def vector_for_range(request: Request, body: Json) -> Answer:
    """A range query answered with one vector sample: what a misconfigured proxy that drops
    the range parameters returns."""
    return 200, {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [END, "0"]}]},
    }


def string_times(request: Request, body: Json) -> Answer:
    return 200, prom_samples_times(body, str)


def prom_samples_times(body: Json, change: Callable[[Any], Any]) -> Json:
    out = copy.deepcopy(body)
    data = out["data"]
    for item in data["result"]:
        if data["resultType"] == "vector":
            item["value"][0] = change(item["value"][0])
        else:
            item["values"] = [[change(at), raw] for at, raw in item["values"]]
    return out


def items_not_objects(request: Request, body: Json) -> Answer:
    out = copy.deepcopy(body)
    out["data"]["result"] = [["not", "an", "object"]]
    return 200, out


def no_data_object(request: Request, body: Json) -> Answer:
    return 200, {"status": "success"}


def not_json(request: Request, body: Json) -> Answer:
    return 200, b"<html>proxy error</html>"


def errors_as_three_times_requests(request: Request, body: Json) -> Answer:
    """Every errors answer swapped for three times the requests: an events query that
    counts something else (the whole error rate is 300%)."""
    return 200, prom_samples(body, lambda i, n, at, old: str(3 * 40 * 4 * 120))


def latency_up(request: Request, body: Json) -> Answer:
    """The latency truth: the treatment's p99 60% higher than the data's."""
    if request.asks(LATENCY_PROM, TREATMENT_PROM) and isinstance(body, dict):
        return 200, prom_samples(body, lambda i, n, at, old: str(float(old) * 1.6))
    return 200, body


def first_half(i: int, n: int) -> bool:
    return i < n // 2


def first_sixth(i: int, n: int) -> bool:
    return i < n // 6


def every_other(i: int, n: int) -> bool:
    return i % 2 == 0


TREATMENT_ERRORS = on(TREATMENT_PROM, ERRORS_PROM)
TREATMENT_LATENCY_RANGE = on(TREATMENT_PROM, LATENCY_PROM, path="query_range")
TREATMENT_REQUESTS_RANGE = on(TREATMENT_PROM, REQUESTS_PROM, path="query_range")
UNTRUSTWORTHY = "untrustworthy data for error_rate"

PROMETHEUS_ROWS = [
    Row("no fault: the error regression rolls back", "regression", None, "rollback", "2x"),
    Row(
        "no fault: the latency regression rolls back",
        "healthy",
        None,
        "rollback",
        "p99_latency breached rollback +50%",
        slower=True,
    ),
    Row(
        "treatment errors NaN",
        "regression",
        TREATMENT_ERRORS(value("NaN")),
        "hold",
        "errors (treatment) has no data in the window although about",
    ),
    Row(
        "treatment errors: no series",
        "regression",
        TREATMENT_ERRORS(empty_result),
        "hold",
        "errors (treatment) has no data in the window although about",
    ),
    Row(
        "treatment errors negative",
        "regression",
        TREATMENT_ERRORS(value("-500")),
        "hold",
        "errors (treatment) has a negative count (-500)",
    ),
    Row(
        "treatment errors 1e308",
        "regression",
        TREATMENT_ERRORS(value("1e308")),
        "hold",
        "errors (treatment) has a value of 1e+308",
    ),
    Row(
        "treatment errors +Inf",
        "regression",
        TREATMENT_ERRORS(value("+Inf")),
        "hold",
        "errors (treatment) has a value of +inf",
    ),
    Row(
        "errors outnumber requests in both cohorts",
        "regression",
        on(ERRORS_PROM, path="/query")(errors_as_three_times_requests),
        "hold",
        "more than its trials requests",
    ),
    Row(
        "treatment error series keeps every other point",
        "regression",
        on(TREATMENT_PROM, ERRORS_PROM, path="query_range")(keep(every_other)),
        "hold",
        "errors (treatment) has no data in 60 of 120 intervals that have trials",
    ),
    Row(
        "treatment request series keeps every other point",
        "healthy",
        TREATMENT_REQUESTS_RANGE(keep(every_other)),
        "hold",
        "requests (treatment) has data in only 60 of 120 1m steps (50%",
    ),
    Row(
        "treatment request series vanishes mid-stage",
        "healthy",
        TREATMENT_REQUESTS_RANGE(keep(first_half)),
        "hold",
        "requests (treatment) has no data for the last 1h",
    ),
    Row(
        "treatment p99 series vanishes mid-stage",
        "healthy",
        TREATMENT_LATENCY_RANGE(keep(first_half)),
        "hold",
        "latency_p99_ms (treatment) has no data for the last 1h",
    ),
    Row(
        "treatment p99 series keeps its first sixth",
        "healthy",
        TREATMENT_LATENCY_RANGE(keep(first_sixth)),
        "hold",
        "latency_p99_ms (treatment) has no data for the last 1h40m",
    ),
    Row(
        "treatment p99 series loses every other point",
        "healthy",
        TREATMENT_LATENCY_RANGE(keep(every_other)),
        "hold",
        "latency_p99_ms (treatment) has data in only 12 of 24 5m steps (50%",
    ),
    Row(
        "a regression still shows in the points a gappy series keeps",
        "healthy",
        TREATMENT_LATENCY_RANGE(keep(every_other)),
        "rollback",
        "p99_latency breached rollback +50%",
        slower=True,
    ),
    Row(
        "treatment p99 NaN throughout",
        "healthy",
        TREATMENT_LATENCY_RANGE(value("NaN")),
        "hold",
        "no data for p99_latency: latency_p99_ms (treatment) has no data",
        slower=True,
    ),
    Row(
        "treatment p99: no series",
        "healthy",
        TREATMENT_LATENCY_RANGE(empty_result),
        "hold",
        "no data for p99_latency: latency_p99_ms (treatment) has no data",
        slower=True,
    ),
    Row(
        "a vector where a range query was asked",
        "healthy",
        TREATMENT_LATENCY_RANGE(vector_for_range),
        "exit 3",
        "resultType 'vector' where a matrix was asked for",
        slower=True,
    ),
    Row(
        "a scalar where a range query was asked",
        "healthy",
        TREATMENT_LATENCY_RANGE(scalar_answer),
        "exit 3",
        "resultType 'scalar' where a matrix was asked for",
        slower=True,
    ),
    Row(
        "an instant answer labelled a matrix",
        "regression",
        on(TREATMENT_PROM, ERRORS_PROM, path="/query")(as_type("matrix")),
        "exit 3",
        "resultType 'matrix' where a vector or scalar was asked for",
    ),
    Row(
        "string timestamps",
        "regression",
        TREATMENT_ERRORS(string_times),
        "exit 3",
        "a timestamp '1704067200' that is not a number of seconds",
    ),
    Row(
        "result items that are not objects",
        "regression",
        TREATMENT_ERRORS(items_not_objects),
        "exit 3",
        "result whose items are not objects",
    ),
    Row(
        "success without a data object",
        "regression",
        TREATMENT_ERRORS(no_data_object),
        "exit 3",
        "malformed answer: no data object",
    ),
    Row(
        "a 200 that is not JSON",
        "regression",
        TREATMENT_ERRORS(not_json),
        "exit 3",
        "metric errors (treatment)",
    ),
]


@pytest.fixture(scope="module")
def prometheus_proxy(prometheus_url: str) -> Iterator[AnswerProxy]:
    with answer_proxy(prometheus_url) as proxy:
        yield proxy


@pytest.mark.prometheus
@pytest.mark.parametrize("row", PROMETHEUS_ROWS, ids=lambda row: row.name)
def test_prometheus_fault(tmp_path: Path, prometheus_proxy: AnswerProxy, row: Row) -> None:
    fault = row.fault

    def rewrite(request: Request, status: int, body: Json) -> Answer:
        if row.slower:
            status, body = latency_up(request, body)
        if fault is None or status != 200:
            return status, body
        return fault(request, body)

    prometheus_proxy.rewrite = rewrite
    run_row(tmp_path, row, prometheus_proxy.url, prometheus_plan)


# ---------------------------------------------------------------------- Datadog

DD_QUERIES = {
    "requests": "sum:checkout.requests{flag:{flag},variant:{cohort}}.as_count()"
    ".rollup(sum, {window})",
    "errors": "sum:checkout.errors{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})",
    "latency_p99_ms": {
        "query": "avg:checkout.latency.p99{flag:{flag},variant:{cohort}}.rollup(avg, {window})",
        "step": "5m",
    },
}
TREATMENT_DD = "variant:true"


def datadog_history(fake: DatadogFake) -> None:
    """2 h before END: 400 requests per 15 s, 10% treatment, 1% errors (3% in the
    treatment of ``regression``), a p99 each minute around 250 ms."""
    rng = np.random.default_rng(14)
    times = range(END - 7200, END, 15)
    for flag in ("healthy", "regression"):
        for variant, requests in (("true", 40), ("false", 360)):
            tags = {"flag": flag, "variant": variant}
            rate = 0.03 if flag == "regression" and variant == "true" else 0.01
            fake.add_points("checkout.requests", tags, [(t, float(requests)) for t in times])
            errors = [(t, float(rng.binomial(requests, rate))) for t in times]
            fake.add_points("checkout.errors", tags, errors)
            p99 = [(t, float(rng.normal(250, 10))) for t in times if t % 60 == 0]
            fake.add_points("checkout.latency.p99", tags, p99)


def datadog_plan(root: Path, flag: str, url: str) -> Path:
    flag_at_ten_percent(root, flag)
    metrics = {
        "source": {"kind": "datadog", "url": url},
        "exposures": "requests",
        "queries": DD_QUERIES,
    }
    plan = root / "plans" / f"{flag}.yaml"
    plan.write_text(plan_text(flag, metrics))
    return plan


def dd_points(change: Callable[[list[Any]], Any]) -> Fault:
    """Each series' pointlist replaced by ``change(pointlist)``."""

    def apply(request: Request, body: Json) -> Answer:
        out = copy.deepcopy(body)
        for series in out["series"]:
            series["pointlist"] = change(series["pointlist"])
        return 200, out

    return apply


def dd_series(change: Callable[[list[Any]], Any]) -> Fault:
    def apply(request: Request, body: Json) -> Answer:
        out = copy.deepcopy(body)
        out["series"] = change(out["series"])
        return 200, out

    return apply


def dd_on(*fragments: str) -> Callable[[Fault], Fault]:
    return on(*fragments)


DD_TREATMENT_ERRORS = dd_on("checkout.errors", TREATMENT_DD)


def every_other_null(points: list[Any]) -> list[Any]:
    return [[at, None if i % 2 else v] for i, (at, v) in enumerate(points)]


DATADOG_ROWS = [
    Row("no fault: the error regression rolls back", "regression", None, "rollback", "2x"),
    Row(
        "treatment errors all null",
        "regression",
        DD_TREATMENT_ERRORS(dd_points(lambda points: [[at, None] for at, _ in points])),
        "hold",
        "errors (treatment) has no data in the window although about",
    ),
    Row(
        "treatment errors: empty series list",
        "regression",
        DD_TREATMENT_ERRORS(dd_series(lambda series: [])),
        "hold",
        "errors (treatment) has no data in the window although about",
    ),
    Row(
        "treatment errors negative",
        "regression",
        DD_TREATMENT_ERRORS(dd_points(lambda points: [[at, -abs(v)] for at, v in points])),
        "hold",
        "errors (treatment) has a negative count",
    ),
    Row(
        "treatment error buckets: every other one null",
        "regression",
        dd_on("checkout.errors", TREATMENT_DD, "rollup(sum, 60)")(
            dd_points(
                lambda points: [[at, v if i % 2 else None] for i, (at, v) in enumerate(points)]
            )
        ),
        "hold",
        "errors (treatment) has no data in 59 of 119 intervals that have trials",
    ),
    Row(
        "string point times",
        "regression",
        DD_TREATMENT_ERRORS(dd_points(lambda points: [[str(at), v] for at, v in points])),
        "exit 3",
        "that is not a number of milliseconds",
    ),
    Row(
        "points that are not pairs",
        "regression",
        DD_TREATMENT_ERRORS(dd_points(lambda points: [{"t": at} for at, _ in points])),
        "exit 3",
        "that is not a [milliseconds, value] pair",
    ),
    Row(
        "point values as strings",
        "regression",
        DD_TREATMENT_ERRORS(dd_points(lambda points: [[at, str(v)] for at, v in points])),
        "exit 3",
        "a point value '",
    ),
    Row(
        "series that is not a list",
        "regression",
        DD_TREATMENT_ERRORS(dd_series(lambda series: {"0": series})),
        "exit 3",
        "malformed answer: no series list",
    ),
    Row(
        "series items that are not objects",
        "regression",
        DD_TREATMENT_ERRORS(dd_series(lambda series: [1, 2])),
        "exit 3",
        "series items that are not objects",
    ),
]


@pytest.fixture(scope="module")
def datadog_proxy() -> Iterator[AnswerProxy]:
    with DatadogFake() as fake:
        datadog_history(fake)
        with answer_proxy(fake.url) as proxy:
            proxy.fake = fake  # type: ignore[attr-defined]
            yield proxy


@pytest.mark.datadog
@pytest.mark.parametrize("row", DATADOG_ROWS, ids=lambda row: row.name)
def test_datadog_fault(
    tmp_path: Path, datadog_proxy: AnswerProxy, row: Row, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake: DatadogFake = datadog_proxy.fake  # type: ignore[attr-defined]
    monkeypatch.setenv("DD_API_KEY", fake.api_key)
    monkeypatch.setenv("DD_APP_KEY", fake.app_key)
    fault = row.fault

    def rewrite(request: Request, status: int, body: Json) -> Answer:
        if fault is None or status != 200:
            return status, body
        return fault(request, body)

    datadog_proxy.rewrite = rewrite
    run_row(tmp_path, row, datadog_proxy.url, datadog_plan)


# ---------------------------------------------------------------------- metrics file


def file_rows(flag: str) -> list[str]:
    """2 h of one row per minute and metric: 100 requests a minute to the treatment, 900 to
    control; errors 1% (3% in the treatment of ``regression``), a p99 around 250 ms."""
    rng = np.random.default_rng(21)
    rows = ["time,cohort,metric,value"]
    for minute in range(120):
        at = format_timestamp(STAGE_START + timedelta(minutes=minute))
        for cohort, requests in (("treatment", 100), ("control", 900)):
            rate = 0.03 if flag == "regression" and cohort == "treatment" else 0.01
            rows.append(f"{at},{cohort},requests,{requests}")
            rows.append(f"{at},{cohort},errors,{rng.binomial(requests, rate)}")
            rows.append(f"{at},{cohort},latency_p99_ms,{rng.normal(250, 10):.1f}")
    return rows


def file_plan_with(rows: Callable[[list[str]], list[str] | bytes]) -> Callable[..., Path]:
    def write(root: Path, flag: str, url: str) -> Path:
        flag_at_ten_percent(root, flag)
        (root / "metrics").mkdir(exist_ok=True)
        content = rows(file_rows(flag))
        path = root / "metrics" / "m.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text("\n".join(content) + "\n")
        metrics = {"source": {"kind": "file", "path": url or "../metrics/m.csv"}}
        plan = root / "plans" / f"{flag}.yaml"
        plan.write_text(plan_text(flag, {**metrics, "exposures": "requests"}))
        return plan

    return write


def with_row(extra: str) -> Callable[[list[str]], list[str]]:
    return lambda rows: [*rows, extra]


def without(rule: Callable[[int, str], bool]) -> Callable[[list[str]], list[str]]:
    """Drop the data rows for which ``rule(minute, row)`` is true (the header stays)."""
    return lambda rows: [rows[0]] + [row for i, row in enumerate(rows[1:]) if not rule(i // 6, row)]


LAST = format_timestamp(END_TIME - timedelta(minutes=1))
FILE_ROWS: list[tuple[Row, Callable[[list[str]], list[str] | bytes], str]] = [
    (Row("no fault: the regression rolls back", "regression", None, "rollback", "2x"), list, ""),
    (
        Row(
            "one negative error row turns the regression into a healthy rate",
            "regression",
            None,
            "hold",
            "errors (treatment) has a negative count (-500)",
        ),
        with_row(f"{LAST},treatment,errors,-500"),
        "",
    ),
    (
        Row(
            "errors outnumber requests",
            "regression",
            None,
            "hold",
            "more than its trials requests",
        ),
        with_row(f"{LAST},control,errors,900000"),
        "",
    ),
    (
        Row("a value of 1e308", "healthy", None, "hold", "has a value of 1e+308"),
        with_row(f"{LAST},treatment,latency_p99_ms,1e308"),
        "",
    ),
    (
        Row("an infinite value", "healthy", None, "hold", "has a value of +inf"),
        with_row(f"{LAST},treatment,latency_p99_ms,inf"),
        "",
    ),
    (
        Row(
            "treatment rows vanish mid-stage",
            "healthy",
            None,
            "hold",
            "requests (treatment) has no data for the last 1h",
        ),
        without(lambda minute, row: minute >= 60 and ",treatment," in row),
        "",
    ),
    (
        Row(
            "treatment error rows: every other minute lost",
            "regression",
            None,
            "hold",
            "errors (treatment) has no data in 60 of 120 intervals that have trials",
        ),
        without(lambda minute, row: minute % 2 == 1 and ",treatment,errors," in row),
        "",
    ),
    (
        Row("a CSV field over 128 KiB", "regression", None, "exit 3", "m.csv:722: a field longer"),
        with_row(f'{LAST},treatment,errors,"{"9" * 2_000_000}"'),
        "",
    ),
    (
        Row("invalid UTF-8", "regression", None, "exit 3", "not UTF-8 (byte 0xff"),
        lambda rows: ("\n".join(rows) + "\n").encode() + b"\xff\xfe,treatment,errors,1\n",
        "",
    ),
    (
        Row("/dev/zero as the metrics file", "regression", None, "exit 3", "not a regular file"),
        list,
        "/dev/zero",
    ),
]


@pytest.mark.parametrize(
    ("row", "rows", "path"), FILE_ROWS, ids=lambda item: getattr(item, "name", "")
)
def test_metrics_file_fault(
    tmp_path: Path, row: Row, rows: Callable[[list[str]], list[str] | bytes], path: str
) -> None:
    run_row(tmp_path, row, path, file_plan_with(rows))


def test_watch_goes_on_with_other_plans_when_one_answer_is_malformed(
    tmp_path: Path, prometheus_proxy: AnswerProxy
) -> None:
    """`watch --auto` meets a malformed answer for one plan and a real regression in
    another: the first is reported (exit 3), the second still rolls back."""
    malformed = on("healthy", TREATMENT_PROM, ERRORS_PROM)(items_not_objects)

    def rewrite(request: Request, status: int, body: Json) -> Answer:
        return malformed(request, body) if status == 200 else (status, body)

    prometheus_proxy.rewrite = rewrite
    healthy = prometheus_plan(tmp_path, "healthy", prometheus_proxy.url)
    flags = tmp_path / "flags" / "flags.json"
    doc = json.loads(flags.read_text())
    regression = prometheus_plan(tmp_path / "other", "regression", prometheus_proxy.url)
    code, output = invoke("watch", str(healthy), str(regression), "--once", "--auto", "--at", AT)
    assert code == 3, output
    assert "result whose items are not objects" in output
    rolled = FlagFilePlatform(tmp_path / "other" / "flags" / "flags.json", "regression")
    assert rolled.read_state(True, False).percent == 0.0, output
    assert json.loads(flags.read_text()) == doc  # the malformed plan's flag is untouched
