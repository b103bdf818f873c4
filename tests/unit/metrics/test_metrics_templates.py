"""Query templates: only the four placeholders are replaced, and windows are written in each
backend's own duration syntax (Prometheus ``1h30m``, Datadog whole seconds)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rolloutcli.metrics.base import Cohort, variation_label
from rolloutcli.metrics.templates import datadog_seconds, prometheus_duration, render

TREATMENT = Cohort("treatment", True)
CONTROL = Cohort("control", False)


def test_render_replaces_cohort_and_window_inside_promql_braces() -> None:
    template = 'sum(increase(x{job="a",variant="{cohort}"}[{window}]))'
    assert (
        render(template, cohort=TREATMENT, flag="checkout-v2", window="2h")
        == 'sum(increase(x{job="a",variant="true"}[2h]))'
    )


def test_render_replaces_all_four_placeholders() -> None:
    template = "{flag}/{role}/{cohort}/{window}"
    assert (
        render(template, cohort=CONTROL, flag="checkout-v2", window="7200")
        == "checkout-v2/control/false/7200"
    )


def test_render_replaces_every_occurrence_of_a_placeholder() -> None:
    template = 'a{v="{cohort}"} / b{v="{cohort}"}'
    assert render(template, cohort=TREATMENT, flag="f", window="1m") == 'a{v="true"} / b{v="true"}'


def test_render_leaves_datadog_braces_alone() -> None:
    assert (
        render("sum:x{*}.as_count()", cohort=TREATMENT, flag="f", window="60")
        == "sum:x{*}.as_count()"
    )
    assert (
        render(
            "sum:x{flag:{flag},variant:{cohort}}.rollup(sum, {window})",
            cohort=Cohort("control", "v2.3"),
            flag="ranker",
            window="3600",
        )
        == "sum:x{flag:ranker,variant:v2.3}.rollup(sum, 3600)"
    )


def test_render_leaves_unknown_placeholders_as_written() -> None:
    template = 'x{env="{env}",variant="{cohort}"}{Cohort}{ cohort }'
    assert (
        render(template, cohort=TREATMENT, flag="f", window="1m")
        == 'x{env="{env}",variant="true"}{Cohort}{ cohort }'
    )


def test_render_does_not_touch_a_template_without_placeholders() -> None:
    template = 'rate(x{job="api"}[5m])'
    assert render(template, cohort=TREATMENT, flag="f", window="1h") == template


@pytest.mark.parametrize(
    ("variation", "label"),
    [(True, "true"), (False, "false"), ("v2.4", "v2.4"), (3, "3"), (2.5, "2.5")],
)
def test_cohort_label(variation: object, label: str) -> None:
    assert Cohort("treatment", variation).label == label
    assert variation_label(variation) == label


def test_render_writes_string_variation_as_is() -> None:
    cohort = Cohort("treatment", "v2.4")
    assert render('x{model="{cohort}"}', cohort=cohort, flag="f", window="1m") == 'x{model="v2.4"}'


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(hours=2), "2h"),
        (timedelta(seconds=5400), "1h30m"),
        (timedelta(minutes=59, seconds=59.5), "59m59s500ms"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(0), "0s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(days=8), "8d"),
        (timedelta(days=2, hours=3, minutes=4, seconds=5, milliseconds=6), "2d3h4m5s6ms"),
        (timedelta(seconds=-5), "0s"),
    ],
)
def test_prometheus_duration(length: timedelta, text: str) -> None:
    assert prometheus_duration(length) == text


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(seconds=7200), "7200"),
        (timedelta(seconds=0.4), "1"),
        (timedelta(0), "1"),
        (timedelta(minutes=1), "60"),
        (timedelta(seconds=90.6), "91"),
        (timedelta(days=1), "86400"),
    ],
)
def test_datadog_seconds(length: timedelta, text: str) -> None:
    assert datadog_seconds(length) == text
