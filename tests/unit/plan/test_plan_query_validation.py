"""Plan validation of query sources (prometheus, datadog): every metric read has a query,
each query names its cohort, and the source's keys fit its kind.

As in test_plan_validation.py, each test writes a plan as YAML text into ``tmp_path`` and
checks the whole problem line ``file:line: key.path: message``, the line computed from the
YAML text, never hard-coded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.plan.model import QuerySpec, load_plan
from rolloutcli.support.errors import PlanError

BASE_PLAN = """\
flag: demo
platform:
  kind: flagfile
  path: flags.json
variations:
  treatment: true
  control: false
stages:
  - percent: 1
    min_duration: 30m
  - percent: 100
    min_duration: 0
metrics:
  source:
    kind: prometheus
    url: http://127.0.0.1:9
  queries:
    errors: 'sum(increase(http_requests_total{variant="{cohort}",status="500"}[{window}]))'
    requests: 'sum(increase(http_requests_total{variant="{cohort}"}[{window}]))'
    latency:
      query: 'histogram_quantile(0.99, sum by (le)(rate(lat_bucket{variant="{cohort}"}[{window}])))'
      step: 5m
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds:
      pause: "+50%"
  - name: p99_latency
    kind: mean
    metric: latency
    unit: ms
    thresholds:
      pause: "+25%"
"""

ERRORS_LINE = (
    '    errors: \'sum(increase(http_requests_total{variant="{cohort}",status="500"}[{window}]))\''
)
REQUESTS_LINE = "    requests: 'sum(increase(http_requests_total{variant=\"{cohort}\"}[{window}]))'"
LATENCY_QUERY_LINE = (
    "      query: 'histogram_quantile(0.99, sum by (le)"
    '(rate(lat_bucket{variant="{cohort}"}[{window}])))\''
)

NO_COHORT = (
    "the query names no cohort: add {cohort} (the variation served) or {role} "
    "(treatment/control), or both cohorts get the same numbers"
)


# --------------------------------------------------------------------------- helpers


def replace_line(text: str, old: str, new: str) -> str:
    """Replace the one line equal to ``old`` (indentation included) by ``new`` (may be
    several lines, or empty to delete it)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if line == old]
    assert len(hits) == 1, f"{old!r} occurs {len(hits)} times in the plan text"
    i = hits[0]
    lines[i : i + 1] = new.splitlines()
    return "\n".join(lines) + "\n"


def line_of(text: str, line: str) -> int:
    """1-based number of the one line equal to ``line`` (indentation included)."""
    hits = [i + 1 for i, candidate in enumerate(text.splitlines()) if candidate == line]
    assert len(hits) == 1, f"{line!r} occurs {len(hits)} times in the plan text"
    return hits[0]


def write_plan(directory: Path, text: str) -> Path:
    path = directory / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def plan_problems(path: Path) -> list[str]:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value.problems


def problems_of(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = write_plan(tmp_path, text)
    return path, plan_problems(path)


def at(path: Path, text: str, line: str) -> str:
    return f"{path}:{line_of(text, line)}: "


# --------------------------------------------------------------------------- valid plans


def test_valid_prometheus_plan_validates(tmp_path: Path) -> None:
    loaded = load_plan(write_plan(tmp_path, BASE_PLAN))
    metrics = loaded.plan.metrics
    assert metrics.source.kind == "prometheus"
    assert metrics.source.url == "http://127.0.0.1:9"
    assert metrics.source.timeout == 10.0
    assert metrics.query("requests") == QuerySpec(
        query='sum(increase(http_requests_total{variant="{cohort}"}[{window}]))'
    )
    latency = metrics.query("latency")
    assert latency is not None and latency.step == "5m"
    assert metrics.query("nothing") is None
    assert loaded.plan.metric_names() == {
        "errors": "guardrail error_rate (events)",
        "requests": "guardrail error_rate (trials)",
        "latency": "guardrail p99_latency",
    }


def test_valid_datadog_plan_validates(tmp_path: Path) -> None:
    text = replace_line(
        BASE_PLAN, "    kind: prometheus", "    kind: datadog\n    site: datadoghq.eu"
    )
    text = replace_line(text, "    url: http://127.0.0.1:9", "")
    text = replace_line(
        text, ERRORS_LINE, "    errors: 'sum:http.errors{variant:{cohort}}.as_count()'"
    )
    text = replace_line(
        text, REQUESTS_LINE, "    requests: 'sum:http.requests{flag:{flag},role:{role}}'"
    )
    loaded = load_plan(write_plan(tmp_path, text))
    assert loaded.plan.metrics.source.kind == "datadog"
    assert loaded.plan.metrics.source.site == "datadoghq.eu"


def test_a_query_naming_only_the_role_is_accepted(tmp_path: Path) -> None:
    text = replace_line(
        BASE_PLAN, ERRORS_LINE, "    errors: 'sum(increase(errors_total{role=\"{role}\"}[1h]))'"
    )
    assert load_plan(write_plan(tmp_path, text)).plan.metrics.source.kind == "prometheus"


def test_step_without_a_unit_is_refused(tmp_path: Path) -> None:
    # `step: 5` is not a duration (no unit): refused, with the duration message
    text = replace_line(BASE_PLAN, "      step: 5m", "      step: 5")
    path, problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(
        at(path, text, "      step: 5") + "metrics.queries.latency.step: bad duration '5'"
    )


# --------------------------------------------------------------------------- missing queries


def test_missing_trials_query_names_the_metric_and_its_reader_with_a_suggestion(
    tmp_path: Path,
) -> None:
    misspelt = REQUESTS_LINE.replace("    requests:", "    request:")
    text = replace_line(BASE_PLAN, REQUESTS_LINE, misspelt)
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "  queries:") + "metrics.queries: no query for 'requests' (read by "
        "guardrail error_rate (trials)); did you mean 'request'?"
    ]


def test_missing_query_without_a_close_name_has_no_suggestion(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, REQUESTS_LINE, "")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "  queries:") + "metrics.queries: no query for 'requests' (read by "
        "guardrail error_rate (trials))"
    ]


def test_missing_events_query_names_the_events(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, ERRORS_LINE, "")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "  queries:") + "metrics.queries: no query for 'errors' (read by "
        "guardrail error_rate (events))"
    ]


def test_missing_value_query_names_the_mean_guardrail(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "    latency:", "    latncy:")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "  queries:") + "metrics.queries: no query for 'latency' (read by "
        "guardrail p99_latency); did you mean 'latncy'?"
    ]


def test_missing_exposures_query_names_the_exposures(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "  queries:", "  exposures: sessions\n  queries:")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "  queries:") + "metrics.queries: no query for 'sessions' (read by "
        "exposures)"
    ]


def test_a_plan_without_queries_lists_every_missing_one(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "  queries:", "")
    for line in (ERRORS_LINE, REQUESTS_LINE, "    latency:", LATENCY_QUERY_LINE, "      step: 5m"):
        text = replace_line(text, line, "")
    path, problems = problems_of(tmp_path, text)
    where = at(path, text, "metrics:")
    assert problems == [
        where + "metrics.queries: no query for 'errors' (read by guardrail error_rate (events))",
        where + "metrics.queries: no query for 'requests' (read by guardrail error_rate (trials))",
        where + "metrics.queries: no query for 'latency' (read by guardrail p99_latency)",
    ]


# --------------------------------------------------------------------------- cohorts


def test_a_query_without_cohort_or_role_is_refused(tmp_path: Path) -> None:
    line = "    errors: 'sum(increase(http_requests_total{status=\"500\"}[{window}]))'"
    text = replace_line(BASE_PLAN, ERRORS_LINE, line)
    path, problems = problems_of(tmp_path, text)
    assert problems == [at(path, text, line) + "metrics.queries.errors: " + NO_COHORT]


def test_a_query_with_only_flag_and_window_is_refused(tmp_path: Path) -> None:
    line = "    errors: 'sum(increase(errors_total{flag=\"{flag}\"}[{window}]))'"
    text = replace_line(BASE_PLAN, ERRORS_LINE, line)
    path, problems = problems_of(tmp_path, text)
    assert problems == [at(path, text, line) + "metrics.queries.errors: " + NO_COHORT]


def test_a_misspelt_placeholder_does_not_count_as_the_cohort(tmp_path: Path) -> None:
    line = "    errors: 'sum(increase(errors_total{variant=\"{cohorts}\"}[{window}]))'"
    text = replace_line(BASE_PLAN, ERRORS_LINE, line)
    path, problems = problems_of(tmp_path, text)
    assert problems == [at(path, text, line) + "metrics.queries.errors: " + NO_COHORT]


def test_a_query_with_step_without_cohort_is_refused_at_its_key(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, LATENCY_QUERY_LINE, "      query: 'lat_p99[{window}]'")
    path, problems = problems_of(tmp_path, text)
    assert problems == [at(path, text, "    latency:") + "metrics.queries.latency: " + NO_COHORT]


# --------------------------------------------------------------------------- source keys


def test_a_file_source_with_queries_is_refused(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "    kind: prometheus", "    kind: file\n    path: m.csv")
    text = replace_line(text, "    url: http://127.0.0.1:9", "")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "  queries:") + "metrics.queries: queries are for prometheus, "
        "datadog, sql, cloudwatch and json sources; the file source reads metrics by name"
    ]


def test_a_prometheus_source_with_a_path_is_refused(tmp_path: Path) -> None:
    text = replace_line(
        BASE_PLAN, "    url: http://127.0.0.1:9", "    url: http://127.0.0.1:9\n    path: m.csv"
    )
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "    path: m.csv") + "metrics.source.path: is for file, not prometheus"
    ]


def test_a_datadog_source_with_a_path_is_refused(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "    kind: prometheus", "    kind: datadog\n    path: m.csv")
    text = replace_line(text, "    url: http://127.0.0.1:9", "")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "    path: m.csv") + "metrics.source.path: is for file, not datadog"
    ]


def test_an_unknown_source_kind_is_refused(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "    kind: prometheus", "    kind: influxdb")
    path, problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(at(path, text, "    kind: influxdb") + "metrics.source.kind: ")
    assert problems[0].endswith(
        "'influxdb' is not a metrics source kind: use file (local CSV or JSON lines), "
        "prometheus (HTTP API v1), datadog (metrics query API v1), "
        "sql (PostgreSQL, DuckDB or any DB-API module), "
        "cloudwatch (GetMetricData) or json (any HTTP API answering JSON)"
    )


@pytest.mark.parametrize("timeout", ["0", "-1", "301"])
def test_a_timeout_out_of_range_is_refused(tmp_path: Path, timeout: str) -> None:
    line = f"    timeout: {timeout}"
    text = replace_line(
        BASE_PLAN, "    url: http://127.0.0.1:9", f"    url: http://127.0.0.1:9\n{line}"
    )
    path, problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(at(path, text, line) + "metrics.source.timeout: ")


# --------------------------------------------------------------------------- step


def test_step_zero_is_refused(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "      step: 5m", "      step: 0")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        at(path, text, "      step: 0") + "metrics.queries.latency.step: step must be positive "
        "(e.g. 5m)"
    ]


def test_step_without_a_unit_word_is_refused(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "      step: 5m", "      step: 5 minutes")
    path, problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(
        at(path, text, "      step: 5 minutes")
        + "metrics.queries.latency.step: bad duration '5 minutes'"
    )


# --------------------------------------------------------------------------- the CLI


def test_validate_reports_query_problems_with_exit_code_2(tmp_path: Path) -> None:
    misspelt = REQUESTS_LINE.replace("    requests:", "    request:")
    text = replace_line(BASE_PLAN, REQUESTS_LINE, misspelt)
    path = write_plan(tmp_path, text)
    result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert (
        at(path, text, "  queries:") + "metrics.queries: no query for 'requests' (read by "
        "guardrail error_rate (trials)); did you mean 'request'?"
    ) in result.output


def test_a_per_unit_ratio_needs_the_sql_source(tmp_path: Path) -> None:
    """events: and trials: naming one query is a per-unit ratio (one row per unit), which
    only SQL can return."""
    text = replace_line(BASE_PLAN, "    events: errors", "    events: requests")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{at(path, text, '    events: requests')}guardrails[0].events: events and trials "
        "both name 'requests': a per-unit ratio (one row per unit with time, events and "
        "trials) needs the sql source"
    ]
