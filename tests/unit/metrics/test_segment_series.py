"""Counters grouped by segment (issue 22): the metrics file's label columns, and the PromQL
a guardrail's query becomes when grouped by a label."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rolloutcli.metrics.base import Cohort, Need, Window
from rolloutcli.metrics.file import FileMetricsSource
from rolloutcli.metrics.templates import prometheus_grouped, prometheus_grouped_values

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(minutes=3))
STEP = timedelta(minutes=1)
TREATMENT = Cohort("treatment", True)

CSV = """\
time,cohort,metric,value,region
2026-11-02T10:00:00Z,treatment,requests,100,eu
2026-11-02T10:00:30Z,treatment,requests,5,eu
2026-11-02T10:00:00Z,treatment,requests,300,us
2026-11-02T10:02:00Z,treatment,requests,310,us
2026-11-02T10:01:00Z,treatment,requests,7,
2026-11-02T10:01:00Z,control,requests,900,eu
2026-11-02T10:03:00Z,treatment,requests,999,eu
"""


def nan_list(values: object) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]  # type: ignore[attr-defined]


def test_the_file_groups_a_counter_by_a_label_column(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(CSV, encoding="utf-8")
    source = FileMetricsSource(path)
    found = source.segment_series("requests", TREATMENT, WINDOW, STEP, "region")
    assert found is not None
    assert {name: nan_list(series) for name, series in found.items()} == {
        "eu": [105.0, None, None],
        "us": [300.0, None, 310.0],
        "other": [None, 7.0, None],  # a row without a region
    }
    assert source.counter("requests", TREATMENT, WINDOW) == 722.0  # totals ignore labels


def test_a_label_no_row_carries_is_an_empty_grouping(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(CSV, encoding="utf-8")
    source = FileMetricsSource(path)
    assert source.segment_series("requests", TREATMENT, WINDOW, STEP, "zone") == {}
    assert source.segment_series("errors", TREATMENT, WINDOW, STEP, "region") is None


def test_json_lines_labels_are_text_or_integers(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rows = [
        {
            "time": "2026-11-02T10:00:00Z",
            "cohort": "treatment",
            "metric": "requests",
            "value": 4,
            "region": "eu",
            "shard": 3,
        },
        {
            "time": "2026-11-02T10:00:00Z",
            "cohort": "treatment",
            "metric": "requests",
            "value": 6,
            "region": "eu",
            "shard": 4,
            "tags": {"a": 1},
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    source = FileMetricsSource(path)
    found = source.segment_series("requests", TREATMENT, WINDOW, STEP, "shard")
    assert found is not None
    assert {k: nan_list(v) for k, v in found.items()} == {
        "3": [4.0, None, None],
        "4": [6.0, None, None],
    }


def test_the_file_source_explains_a_grouped_call(tmp_path: Path) -> None:
    source = FileMetricsSource(tmp_path / "m.csv")
    need = Need("segment_series", "errors", TREATMENT, WINDOW, STEP, by="region")
    (query,) = source.resolve(need)
    assert query.text == (
        "m.csv: metric=errors cohort in (treatment, true) time in "
        "[2026-11-02T10:00:00Z, 2026-11-02T10:03:00Z) grouped by region"
    )


@pytest.mark.parametrize(
    ("query", "grouped"),
    [
        (
            'sum(increase(http_requests_total{variant="{cohort}"}[5m]))',
            'sum by (region) (increase(http_requests_total{variant="{cohort}"}[5m]))',
        ),
        ("sum by (job) (rate(x[5m]))", "sum by (job, region) (rate(x[5m]))"),
        ("sum(rate(x[5m])) by (job)", "sum by (job, region) (rate(x[5m]))"),
        ("sum by (region) (x)", "sum by (region) (x)"),
        ('sum(x{a=")"})', 'sum by (region) (x{a=")"})'),
        ("increase(x[5m])", "sum by (region) (increase(x[5m]))"),
        ("sum(a) / sum(b)", "sum by (region) (sum(a) / sum(b))"),
        # an error counter's zero fallback would be a label-less segment of its own
        ("sum(increase(e[5m])) or vector(0)", "sum by (region) (increase(e[5m]))"),
        ("sum(rate(e[5m])) by (job) or vector( 0.0 )", "sum by (job, region) (rate(e[5m]))"),
    ],
)
def test_prometheus_queries_are_grouped_by_the_label(query: str, grouped: str) -> None:
    assert prometheus_grouped(query, "region") == grouped


@pytest.mark.parametrize(
    ("query", "grouped"),
    [
        # the p99 of a histogram: the label joins the buckets' aggregation
        (
            '1000 * histogram_quantile(0.99, sum by (le) (rate(h_bucket{v="{cohort}"}[5m])))',
            '1000 * histogram_quantile(0.99, sum by (le, region) (rate(h_bucket{v="{cohort}"}'
            "[5m])))",
        ),
        # a mean as a ratio of sums: both sides keep it, the division matches on it
        (
            "sum(rate(s[5m])) / sum(rate(c[5m]))",
            "sum by (region) (rate(s[5m])) / sum by (region) (rate(c[5m]))",
        ),
        ("avg(x) by (job) / 2", "avg by (job, region) (x) / 2"),
        ("max(avg by (le) (x))", "max by (region) (avg by (le, region) (x))"),
        # without (...) keeps the label already; a plain selector is averaged per segment
        ("avg(x) without (pod)", "avg by (region) (avg(x) without (pod))"),
        ('latency_ms{v="sum(x)"}', 'avg by (region) (latency_ms{v="sum(x)"})'),
        ("sum_over_time(x[5m])", "avg by (region) (sum_over_time(x[5m]))"),
    ],
)
def test_prometheus_value_queries_keep_the_label_through_every_aggregation(
    query: str, grouped: str
) -> None:
    assert prometheus_grouped_values(query, "region") == grouped
