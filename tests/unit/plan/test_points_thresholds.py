"""Thresholds and success bounds in percentage points (issue 21), with exact expected values."""

from __future__ import annotations

import pytest

from rolloutcli.plan.thresholds import (
    ThresholdKind,
    parse_bound,
    parse_threshold,
    points_text,
    severity_key,
)
from rolloutcli.stats.direction import Direction

UP = Direction.HIGHER_IS_WORSE
DOWN = Direction.LOWER_IS_WORSE


@pytest.mark.parametrize(
    ("text", "direction", "unit", "is_ratio", "value"),
    [
        ("+2pp", UP, None, True, 0.02),
        ("2pp", UP, None, True, 0.02),
        ("+ 2 pp", UP, None, True, 0.02),
        ("+2PP", UP, None, True, 0.02),
        ("-1.5pp", DOWN, None, True, -0.015),
        ("1.5pp", DOWN, None, True, -0.015),
        ("-2pp", DOWN, "ratio", False, -0.02),
        ("+2pp", UP, "percent", False, 2.0),
    ],
)
def test_parse_threshold_points(
    text: str, direction: Direction, unit: str | None, is_ratio: bool, value: float
) -> None:
    threshold = parse_threshold(text, direction, unit, is_ratio)
    assert threshold.kind is ThresholdKind.POINTS
    assert threshold.value == value
    assert threshold.factor == 1.0
    assert threshold.raw == text
    assert threshold.needs_control


@pytest.mark.parametrize(
    ("text", "direction", "unit", "is_ratio", "message"),
    [
        (
            "-2pp",
            UP,
            None,
            True,
            "'-2pp' points the better way for a higher_is_worse guardrail; write +2pp",
        ),
        (
            "+1.5pp",
            DOWN,
            None,
            True,
            "'+1.5pp' points the better way for a lower_is_worse guardrail; write -1.5pp",
        ),
        (
            "+2pp",
            UP,
            "ms",
            False,
            "'+2pp' is in percentage points, for proportions only: a "
            "ratio guardrail or a mean with unit: ratio (values 0..1) or unit: percent (0..100)",
        ),
        ("+2pp", UP, None, False, "'+2pp' is in percentage points, for proportions only"),
        ("+0pp", UP, None, True, "'+0pp': for any significant change write +0%"),
        ("0pp", DOWN, None, True, "'0pp': for any significant change write -0%"),
        ("-0.0pp", UP, None, True, "'-0.0pp': for any significant change write +0%"),
        ("+100pp", UP, None, True, "'+100pp': two shares differ by less than 100pp"),
        ("-250pp", DOWN, "percent", False, "'-250pp': two shares differ by less than 100pp"),
        (
            "+2p",
            UP,
            None,
            True,
            "bad threshold '+2p': write +10% / -5% (relative to control), "
            "2x (multiple of control), +2pp (percentage points above control) or < 300ms / > 0.9 "
            "(absolute)",
        ),
    ],
)
def test_parse_threshold_points_errors(
    text: str, direction: Direction, unit: str | None, is_ratio: bool, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold(text, direction, unit, is_ratio)
    assert str(info.value).startswith(message)


def test_points_limit_and_crossing_are_differences_from_control() -> None:
    up = parse_threshold("+2pp", UP, None, True)
    assert up.limit(0.05) == pytest.approx(0.07, abs=1e-15)
    assert up.limit(None) is None
    assert up.crossed(0.0701, 0.05, UP)
    assert not up.crossed(0.0699, 0.05, UP)
    down = parse_threshold("-1.5pp", DOWN, None, True)
    assert down.limit(0.9) == pytest.approx(0.885, abs=1e-15)
    assert down.crossed(0.884, 0.9, DOWN)
    assert not down.crossed(0.886, 0.9, DOWN)
    percent = parse_threshold("-2pp", DOWN, "percent", False)
    assert percent.limit(91.0) == 89.0


def test_points_have_a_severity_family_of_their_own() -> None:
    assert severity_key(parse_threshold("+2pp", UP, None, True), UP) == ("points", 0.02)
    assert severity_key(parse_threshold("-1.5pp", DOWN, None, True), DOWN) == ("points", 0.015)
    tight, loose = parse_threshold("+1pp", UP, None, True), parse_threshold("+3pp", UP, None, True)
    assert severity_key(tight, UP) < severity_key(loose, UP)


@pytest.mark.parametrize(
    ("text", "unit", "is_ratio", "value", "limit"),
    [
        ("+2pp", "ratio", False, 0.02, 0.92),
        ("2pp", "ratio", False, 0.02, 0.92),
        ("-1pp", None, True, -0.01, 0.89),
        ("+2pp", "percent", False, 2.0, 92.0),
    ],
)
def test_parse_bound_points(
    text: str, unit: str | None, is_ratio: bool, value: float, limit: float
) -> None:
    bound = parse_bound(text, unit, is_ratio)
    assert bound.kind is ThresholdKind.POINTS
    assert bound.value == value
    control = 90.0 if unit == "percent" else 0.9
    assert bound.limit(control) == pytest.approx(limit, abs=1e-12)


def test_parse_bound_points_on_a_latency_is_an_error() -> None:
    with pytest.raises(ValueError) as info:
        parse_bound("+2pp", "ms", False)
    assert str(info.value).startswith("'+2pp' is in percentage points, for proportions only")


@pytest.mark.parametrize(
    ("points", "text"),
    [(2.34, "+2.3pp"), (-1.5, "-1.5pp"), (0.0, "+0.0pp"), (0.042, "+0.042pp"), (12.0, "+12.0pp")],
)
def test_points_text(points: float, text: str) -> None:
    assert points_text(points) == text
