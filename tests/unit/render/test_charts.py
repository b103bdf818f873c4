"""A guardrail's chart as inline SVG (issue 23): the groups a reader or a test looks for
carry classes and tooltips, nothing from a record can break out of its attribute, and the
same data draws the same SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rolloutcli.render.charts import ChartData, Line, Mark, chart_svg

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def data(marks: tuple[Mark, ...]) -> ChartData:
    times = [T0 + timedelta(minutes=10 * i) for i in range(4)]
    return ChartData(
        name="error rate",
        unit="%",
        times=times,
        treatment=[None, 1.1, 1.2, 1.0],
        control=[None, 1.0, 1.0, 1.0],
        change=[None, 10.0, 20.0, 0.0],
        low=[None, -5.0, 2.0, -8.0],
        high=[None, 25.0, 38.0, 8.0],
        change_label="change vs control (%)",
        value_lines=[Line(5.0, "rollback", "< 5%")],
        change_lines=[Line(20.0, "warn", "+20%"), Line(50.0, "pause", "+50%")],
        marks=marks,
    )


def test_groups_carry_classes_and_tooltips_and_stay_escaped() -> None:
    marks = (
        Mark(T0 + timedelta(minutes=10), "stage-boundary", "stage 5% begins"),
        Mark(T0 + timedelta(minutes=10), "advance", "advance by alice <a@b> at 10:10"),
        Mark(T0 + timedelta(minutes=20), 'x" onload="alert(1)', "a hostile event"),
    )
    svg = chart_svg(data(marks))
    assert svg.startswith('<svg class="chart" data-guardrail="error rate" ')
    groups = re.findall(r'<g id="error-rate-rc\d+" class="([^"]*)"><title>([^<]*)</title>', svg)
    assert groups == [
        ("series treatment", "treatment (%)"),
        ("series control", "control (%)"),
        ("threshold rollback", "rollback at &lt; 5%"),
        ("stage-boundary", "stage 5% begins"),
        ("decision advance", "advance by alice &lt;a@b&gt; at 10:10"),
        ("decision x--onload--alert-1-", "a hostile event"),
        ("interval", "always-valid interval of the change"),
        ("series change", "change vs control (%)"),
        ("threshold warn", "warn at +20%"),
        ("threshold pause", "pause at +50%"),
    ]
    assert "onload=" not in svg
    assert "<metadata" not in svg and "<?xml" not in svg


def test_the_same_data_draws_the_same_svg() -> None:
    marks = (Mark(T0 + timedelta(minutes=20), "pause", "pause by bob"),)
    assert chart_svg(data(marks)) == chart_svg(data(marks))


def test_exposure_chart_tags_each_checked_look_with_its_srm_verdict() -> None:
    from rolloutcli.render.charts import ExposureData, exposure_svg

    times = [T0 + timedelta(minutes=10 * i) for i in range(4)]
    svg = exposure_svg(
        ExposureData(
            times=times,
            observed=[None, 5.0, 7.5, 5.1],
            expected=[None, 5.0, 5.0, 5.0],
            verdicts=["unchecked", "ok", "mismatch", "ok"],
            titles=["not checked", "ok <1>", "MISMATCH", "ok"],
            marks=(Mark(times[1], "advance", "advance by alice"),),
        )
    )
    assert svg.startswith('<svg class="exposure" ')
    groups = re.findall(r'<g id="exposure-rc\d+" class="([^"]*)"><title>([^<]*)</title>', svg)
    assert groups == [
        ("series observed", "treatment's share of exposures (%)"),
        ("series expected", "the share the split expects (%)"),
        ("srm ok", "ok &lt;1&gt;"),
        ("srm mismatch", "MISMATCH"),
        ("srm ok", "ok"),
    ]  # the decision's line is drawn, untagged: it is tagged on the guardrails' charts


def test_segment_breaches_are_triangles_on_the_change_panel() -> None:
    from dataclasses import replace

    breach = Mark(T0 + timedelta(minutes=20), "rollback", "error rate reached rollback in eu")
    svg = chart_svg(replace(data(()), breaches=(breach,)))
    groups = re.findall(r'class="(segment-breach [a-z]+)"><title>([^<]*)</title>', svg)
    assert groups == [("segment-breach rollback", "error rate reached rollback in eu")]
