"""Datadog and the sql source grouped by segment (issue 22): the Datadog query a guardrail's
becomes grouped by a tag, and the sql source's rows grouped by their label column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from rolloutcli.metrics.base import QueryFailure
from rolloutcli.metrics.querying import Fetch
from rolloutcli.metrics.sql import NoRows, Segmented, read_segments
from rolloutcli.metrics.sqldrivers import Table
from rolloutcli.metrics.templates import datadog_grouped

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
FETCH = Fetch(
    "requests", "treatment", "true", T0, T0 + timedelta(minutes=3), timedelta(minutes=1), "region"
)


@pytest.mark.parametrize(
    ("query", "grouped"),
    [
        (
            "sum:checkout.errors{flag:f,variant:true}.as_count().rollup(sum, 60)",
            "sum:checkout.errors{flag:f,variant:true} by {region}.as_count().rollup(sum, 60)",
        ),
        ("sum:x{*} by {variant}.as_count()", "sum:x{*} by {variant,region}.as_count()"),
        ("sum:x{*} by { region }", "sum:x{*} by {region}"),
        (
            "sum:a{env:prod} / sum:b{env:prod}",
            "sum:a{env:prod} by {region} / sum:b{env:prod} by {region}",
        ),
    ],
)
def test_datadog_queries_are_grouped_by_the_tag(query: str, grouped: str) -> None:
    assert datadog_grouped(query, "region") == grouped


def at(minutes: float) -> datetime:
    return (T0 + timedelta(minutes=minutes)).replace(tzinfo=None)


def test_sql_rows_are_grouped_by_their_label_column() -> None:
    table = Table(
        ("time", "region", "value"),
        [
            (at(0), "eu", 100),
            (at(0.5), "eu", 5),
            (at(0), "us", 300),
            (at(2), "us", 310),
            (at(1), None, 7),
            (at(1), "", 3),
            (at(1), 42, 1),
        ],
    )
    found = read_segments(table, FETCH)
    assert isinstance(found, Segmented)
    assert {name: rows.total.tolist() for name, rows in found.rows.items()} == {
        "eu": [100.0, 5.0],
        "us": [300.0, 310.0],
        "other": [7.0, 3.0],  # NULL and empty: the pooled segment
        "42": [1.0],
    }
    assert np.array_equal(found.rows["us"].times, [T0.timestamp(), T0.timestamp() + 120])


def test_sql_rows_without_the_column_are_an_empty_grouping() -> None:
    table = Table(("time", "value"), [(at(0), 100)])
    assert read_segments(table, FETCH) == Segmented({})
    assert read_segments(Table(("time", "value", "region"), []), FETCH) == NoRows()


def test_a_sql_label_that_is_not_text_is_malformed() -> None:
    table = Table(("time", "region", "value"), [(at(0), 1.5, 100)])
    with pytest.raises(QueryFailure) as caught:
        read_segments(table, FETCH)
    assert caught.value.kind == "malformed"
    assert caught.value.detail == (
        "a region value 1.5 that is not text (segments.by names this column)"
    )
