"""Property-based fuzzing of metrics answers: whatever a backend (or a proxy in front of it)
answers, no traceback, and no `go` on an answer that cannot be true.

Three properties, each deterministic (``derandomize``), writing no example database:

* **Parsing** — any body (random JSON, mutated Prometheus and Datadog answers, raw bytes)
  read by each source for each kind of call ends in points, "no data", or a
  :class:`QueryFailure` (exit 3); the verbs read from those points end in numbers, None, or a
  :class:`DataProblem` (a hold).
* **Verdicts** — a plan with a ratio and a mean guardrail on Prometheus, every query
  answered with healthy data except one, whose answer is fuzzed. An independent oracle
  (written here, not shared with the code under test) classifies the fuzzed answer: when it
  is malformed or holds a value that cannot be true (not a number, infinite, beyond 1e15, a
  negative count), the check must not say `go`; whatever it is, the outcome is a verdict or
  a one-line error, never another exception.
* **Metrics files** — random rows and bytes in a CSV or JSON-lines file end in numbers or a
  :class:`BackendError` naming the file.

``ROLLOUT_FUZZ_EXAMPLES`` sets the cases per property (see tests/fuzzing.py; the nightly run
uses 10,000).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rolloutcli.app import evaluate as engine
from rolloutcli.judge.verdict import VerdictKind
from rolloutcli.metrics.base import Cohort, DataProblem, Need, QueryFailure, Window
from rolloutcli.metrics.datadog import DatadogSource
from rolloutcli.metrics.file import FileMetricsSource
from rolloutcli.metrics.pool import Call
from rolloutcli.metrics.prometheus import PrometheusSource
from rolloutcli.metrics.querying import NoData, Points, QueryingSource
from rolloutcli.plan.model import LoadedPlan, load_plan
from rolloutcli.support.errors import BackendError, RolloutError
from tests.fuzzing import FUZZ

pytestmark = pytest.mark.fuzz


START = datetime(2026, 11, 2, 10, tzinfo=UTC)
END = datetime(2026, 11, 2, 12, tzinfo=UTC)
WINDOW = Window(START, END)
MINUTE = timedelta(minutes=1)
T = Cohort("treatment", True)
C = Cohort("control", False)

PLAN = """\
flag: checkout-v2
platform: {kind: flagfile, path: flags.json}
variations: {treatment: true, control: false}
stages:
  - {percent: 10, min_duration: 30m, min_samples: 100}
  - {percent: 100, min_duration: 0}
metrics:
  source: {kind: SOURCE, url: "http://127.0.0.1:9"}
  exposures: requests
  queries:
    requests: 'sum(increase(http_requests_total{variant="{cohort}"}[{window}]))'
    errors: 'sum(increase(http_requests_total{variant="{cohort}",code="500"}[{window}]))'
    latency: {query: 'p99{variant="{cohort}"}', step: 5m}
guardrails:
  - {name: error_rate, kind: ratio, events: errors, trials: requests,
     thresholds: {pause: "+50%", rollback: "2x"}}
  - {name: latency, kind: mean, metric: latency, thresholds: {rollback: "+50%"}}
"""
FLAGS = {
    "flags": {
        "checkout-v2": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"fractional": [["on", 10_000], ["off", 90_000]]},
            "metadata": {
                "rolloutcli.changedAt": "2026-11-02T10:00:00Z",
                "rolloutcli.percent": 10,
            },
        }
    }
}


def loaded_plan(root: Path, kind: str) -> LoadedPlan:
    root.mkdir(parents=True, exist_ok=True)
    (root / "flags.json").write_text(json.dumps(FLAGS))
    (root / "plan.yaml").write_text(PLAN.replace("SOURCE", kind))
    return load_plan(root / "plan.yaml")


# --------------------------------------------------------------------------- generators

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e308", "-5", "0", "12.5", "", "x", "1_0", "0x1f"]),
    st.text(max_size=12),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
TIMES = st.one_of(
    st.integers(min_value=1793613600, max_value=1793620800),
    st.floats(min_value=1793613600, max_value=1793620800),
    LEAVES,
)


@st.composite
def prometheus_bodies(draw: st.DrawFn) -> Any:
    """Answers shaped like Prometheus's, with any part replaced by junk."""
    kind = draw(st.sampled_from(["vector", "matrix", "scalar", "string", "junk"]))
    sample = st.lists(st.one_of(TIMES, LEAVES), min_size=0, max_size=3)
    pair = st.tuples(TIMES, LEAVES).map(list) | sample
    if kind == "vector":
        item = st.fixed_dictionaries({"metric": st.just({}), "value": pair}) | JSON
        result: Any = draw(st.lists(item, max_size=3))
    elif kind == "matrix":
        values = st.lists(pair, max_size=8) | JSON
        item = st.fixed_dictionaries({"metric": st.just({}), "values": values}) | JSON
        result = draw(st.lists(item, max_size=3))
    elif kind == "scalar":
        result = draw(pair)
    else:
        result = draw(JSON)
    data = {"resultType": draw(st.sampled_from([kind, "vector", "matrix"]) | LEAVES)}
    data["result"] = result
    body: Any = {"status": draw(st.just("success") | LEAVES), "data": data}
    return draw(st.just(body) | JSON)


@st.composite
def datadog_bodies(draw: st.DrawFn) -> Any:
    point = st.tuples(st.one_of(st.integers(1793613600000, 1793620800000), LEAVES), LEAVES).map(
        list
    ) | st.lists(LEAVES, max_size=3)
    series = st.fixed_dictionaries({"pointlist": st.lists(point, max_size=8) | JSON}) | JSON
    body: Any = {"status": "ok", "series": draw(st.lists(series, max_size=2) | JSON)}
    return draw(st.just(body) | JSON)


def response(body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.Response(200, content=body)
    return httpx.Response(200, content=json.dumps(body).encode())


# --------------------------------------------------------------------------- parsing


def read_all(source: QueryingSource, call: Call, body: Any) -> None:
    """Parse ``body`` as the answer to ``call``; then read it through every verb."""
    try:
        answer = source.parse(call, response(body))
    except QueryFailure:
        return
    assert isinstance(answer, Points | NoData)
    needs = [
        Need("counter", "errors", T, WINDOW),
        Need("counter_series", "errors", T, WINDOW, MINUTE),
        Need("values", "latency", T, WINDOW),
        Need("moment_series", "latency", T, WINDOW, MINUTE),
        Need("moment_series", "latency", T, WINDOW, MINUTE, True),
    ]
    for need in needs:
        source._answers[source.fetch_for(need)] = answer
        try:
            if need.verb == "counter":
                total = source.counter(need.metric, T, WINDOW)
                assert total is None or (math.isfinite(total) and total >= 0)
            elif need.verb == "counter_series":
                series = source.counter_series(need.metric, T, WINDOW, MINUTE)
                assert series is None or series.shape == (120,)
            elif need.verb == "values":
                source.values(need.metric, T, WINDOW)
            else:
                source.moment_series(need.metric, T, WINDOW, MINUTE, need.log)
            source.coverage(need, WINDOW)
        except (DataProblem, QueryFailure):
            continue


@FUZZ
@given(body=prometheus_bodies() | JSON | st.binary(max_size=64))
def test_any_prometheus_answer_reads_or_fails_cleanly(
    prometheus: PrometheusSource, body: Any
) -> None:
    instant = {"query": "q", "time": "1793620800"}
    ranged = {"query": "q", "start": "1793613660", "end": "1793620800", "step": "60"}
    for path, params in (("/api/v1/query", instant), ("/api/v1/query_range", ranged)):
        read_all(prometheus, Call("prometheus", "http://127.0.0.1:9", path, params), body)


@FUZZ
@given(body=datadog_bodies() | JSON | st.binary(max_size=64))
def test_any_datadog_answer_reads_or_fails_cleanly(datadog: DatadogSource, body: Any) -> None:
    params = {"query": "q", "from": "1793613600", "to": "1793620800"}
    read_all(datadog, Call("datadog", "http://127.0.0.1:9", "/api/v1/query", params), body)


# --------------------------------------------------------------------------- verdicts


def oracle_bad(body: Any, path: str, counter: bool) -> bool:
    """Independently of the code under test: is this answer malformed, or does it hold a
    number that cannot be true? (NaN is missing data, not bad; an empty result is no data.)"""

    def real(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)

    def bad_value(raw: Any) -> bool:
        if raw is None:
            return False
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            return True
        try:
            value = float(raw)
        except (ValueError, OverflowError):
            return True
        if math.isnan(value):
            return False
        return math.isinf(value) or abs(value) > 1e15 or (counter and value < 0)

    def bad_pair(pair: Any) -> bool:
        return not (isinstance(pair, list) and len(pair) == 2 and real(pair[0])) or bad_value(
            pair[1]
        )

    if not isinstance(body, dict) or body.get("status") != "success":
        return True
    data = body.get("data")
    if not isinstance(data, dict):
        return True
    kind, result = data.get("resultType"), data.get("result")
    allowed = ("vector", "scalar") if path == "/api/v1/query" else ("matrix",)
    if kind not in allowed:
        return True
    if kind == "scalar":
        return bad_pair(result)
    if not isinstance(result, list) or any(not isinstance(item, dict) for item in result):
        return True
    if len(result) > 1:
        return True  # ambiguous: exit 3
    for item in result:
        if kind == "vector" and bad_pair(item.get("value")):
            return True
        if kind == "matrix":
            values = item.get("values")
            if not isinstance(values, list) or any(bad_pair(p) for p in values):
                return True
    return False


def healthy(source: PrometheusSource, need: Need) -> Points:
    """Healthy data for a need: 1% errors in both cohorts, a p99 of 250 ms."""
    fetch = source.fetch_for(need)
    share = 0.1 if need.cohort.role == "treatment" else 0.9
    per_minute = {"requests": 1000 * share, "errors": 10 * share, "latency": 250.0}[need.metric]
    if fetch.step is None:
        minutes = (fetch.end - fetch.start) / MINUTE
        return Points((fetch.end.timestamp(),), (per_minute * minutes,))
    step = fetch.step.total_seconds()
    count = int((fetch.end - fetch.start).total_seconds() // step)
    times = tuple(fetch.start.timestamp() + step * (k + 1) for k in range(count))
    scale = step / 60 if need.metric != "latency" else 1.0
    return Points(times, tuple(per_minute * scale for _ in times))


def test_the_healthy_answers_give_go(prometheus_plan: LoadedPlan) -> None:
    """Without a fault the check goes on, so "not go" below is the fault's doing."""
    prepared = engine.prepare(prometheus_plan, END)
    source = prepared.source
    assert isinstance(source, PrometheusSource)
    for need in prepared.needs:
        source._answers[source.fetch_for(need)] = healthy(source, need)
    verdict = engine.conclude(prepared).verdict
    assert verdict.kind is VerdictKind.GO, verdict.reasons
    assert len(prepared.needs) == 12  # 4 counters, 6 series, 2 value fetches


@FUZZ
@given(which=st.integers(min_value=0, max_value=100), body=prometheus_bodies())
def test_a_fuzzed_answer_never_gives_go_when_it_cannot_be_true(
    prometheus_plan: LoadedPlan, which: int, body: Any
) -> None:
    prepared = engine.prepare(prometheus_plan, END)
    source = prepared.source
    assert isinstance(source, PrometheusSource)
    needs = list(prepared.needs)
    target = needs[which % len(needs)]
    for need in needs:
        source._answers[source.fetch_for(need)] = healthy(source, need)
    fetch = source.fetch_for(target)
    path = "/api/v1/query" if fetch.step is None else "/api/v1/query_range"
    call = Call("prometheus", "http://127.0.0.1:9", path, {"query": "q"})
    try:
        source._answers[fetch] = source.parse(call, response(body))
    except QueryFailure as exc:
        source._answers[fetch] = exc
    try:
        verdict = engine.conclude(prepared).verdict
    except RolloutError as exc:
        assert "\n" not in str(exc)
        return
    if oracle_bad(body, path, counter=target.metric != "latency"):
        assert verdict.kind is not VerdictKind.GO, (target, body, verdict.reasons)


# --------------------------------------------------------------------------- files

CELLS = st.one_of(
    st.sampled_from(
        ["2026-11-02T10:05:00Z", "treatment", "control", "errors", "requests", "latency"]
    ),
    st.sampled_from(["-500", "1e308", "inf", "nan", "", "0", "12", "x", "1e400", "9" * 400]),
    st.text(max_size=10),
)
ROW = st.lists(CELLS, min_size=0, max_size=8).map(lambda cells: ",".join(cells))


@FUZZ
@given(
    rows=st.lists(ROW, max_size=12),
    junk=st.binary(max_size=32),
    suffix=st.sampled_from([".csv", ".jsonl"]),
)
def test_any_metrics_file_reads_or_fails_naming_the_file(
    root: Path, rows: list[str], junk: bytes, suffix: str
) -> None:
    path = root / f"m{suffix}"
    if suffix == ".csv":
        content = ("time,cohort,metric,value,count,sum,sum_sq\n" + "\n".join(rows)).encode()
    else:
        content = "\n".join(json.dumps(dict(enumerate(r.split(",")))) for r in rows).encode()
    path.write_bytes(content + junk)
    source = FileMetricsSource(path)
    for cohort in (T, C):
        for metric in ("errors", "requests", "latency"):
            try:
                source.counter(metric, cohort, WINDOW)
                source.values(metric, cohort, WINDOW)
                source.counter_series(metric, cohort, WINDOW, MINUTE)
                source.moment_series(metric, cohort, WINDOW, MINUTE, False)
                source.coverage(Need("counter_series", metric, cohort, WINDOW, MINUTE), WINDOW)
            except BackendError as exc:
                assert str(path) in str(exc) or isinstance(exc, DataProblem)
                assert "\n" not in str(exc)
                return


# --------------------------------------------------------------------------- set-up


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def prometheus_plan(root: Path) -> LoadedPlan:
    return loaded_plan(root / "prom", "prometheus")


@pytest.fixture(scope="module")
def prometheus(prometheus_plan: LoadedPlan) -> PrometheusSource:
    return PrometheusSource(prometheus_plan, "http://127.0.0.1:9", {})


@pytest.fixture(scope="module")
def datadog(root: Path) -> DatadogSource:
    headers = {"DD-API-KEY": "fuzz", "DD-APPLICATION-KEY": "fuzz"}
    return DatadogSource(loaded_plan(root / "dd", "datadog"), "http://127.0.0.1:9", headers, "x")
