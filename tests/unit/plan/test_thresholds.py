"""Thresholds, success bounds and durations as plans write them, with exact expected values."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from rolloutcli.plan.thresholds import (
    Threshold,
    ThresholdKind,
    parse_bound,
    parse_threshold,
    severity_key,
)
from rolloutcli.stats.direction import Direction
from rolloutcli.support.durations import format_duration, parse_duration

UP = Direction.HIGHER_IS_WORSE
DOWN = Direction.LOWER_IS_WORSE
RELATIVE = ThresholdKind.RELATIVE
MULTIPLE = ThresholdKind.MULTIPLE
ABSOLUTE = ThresholdKind.ABSOLUTE


# --------------------------------------------------------------------------- parse_threshold


@pytest.mark.parametrize(
    ("text", "direction", "unit", "is_ratio", "kind", "factor"),
    [
        ("+10%", UP, None, True, RELATIVE, 1.1),
        ("+50%", UP, "ms", False, RELATIVE, 1.5),
        ("+0.5%", UP, None, True, RELATIVE, 1.005),
        ("+ 10 %", UP, None, True, RELATIVE, 1.1),
        ("-5%", DOWN, None, True, RELATIVE, 0.95),
        ("-100%", DOWN, None, True, RELATIVE, 0.0),
        ("2x", UP, None, True, MULTIPLE, 2.0),
        ("2X", UP, None, True, MULTIPLE, 2.0),
        ("1.5 x", UP, "ms", False, MULTIPLE, 1.5),
        ("0.8x", DOWN, None, True, MULTIPLE, 0.8),
    ],
)
def test_parse_threshold_relative_to_control(
    text: str,
    direction: Direction,
    unit: str | None,
    is_ratio: bool,
    kind: ThresholdKind,
    factor: float,
) -> None:
    threshold = parse_threshold(text, direction, unit, is_ratio)
    assert threshold.kind is kind
    assert threshold.factor == pytest.approx(factor, rel=1e-15, abs=1e-15)
    assert threshold.operator is None
    assert threshold.raw == text
    assert threshold.needs_control


def test_parse_threshold_exact_factors() -> None:
    assert parse_threshold("+10%", UP, None, True).factor == 1.1
    assert parse_threshold("-5%", DOWN, None, True).factor == 0.95
    assert parse_threshold("2x", UP, None, True).factor == 2.0
    assert parse_threshold("0.8x", DOWN, None, True).factor == 0.8


@pytest.mark.parametrize(
    ("text", "direction", "unit", "is_ratio", "value", "operator"),
    [
        ("< 300ms", UP, "ms", False, 300.0, "<"),
        ("< 300ms", UP, "s", False, 0.3, "<"),
        ("<300ms", UP, "ms", False, 300.0, "<"),
        ("< 0.5s", UP, "ms", False, 500.0, "<"),
        ("< 2s", UP, "s", False, 2.0, "<"),
        ("<= 2%", UP, None, True, 0.02, "<="),
        ("<= 2%", UP, "ratio", False, 0.02, "<="),
        ("<= 2%", UP, "percent", False, 2.0, "<="),
        ("> 0.92", DOWN, "ratio", False, 0.92, ">"),
        (">= 0.9", DOWN, None, False, 0.9, ">="),
        ("300ms", UP, "ms", False, 300.0, None),
        ("0.85", DOWN, "ratio", False, 0.85, None),
        ("1e-3", UP, None, True, 0.001, None),
        ("< 800ms", UP, "ms", False, 800.0, "<"),
    ],
)
def test_parse_threshold_absolute(
    text: str,
    direction: Direction,
    unit: str | None,
    is_ratio: bool,
    value: float,
    operator: str | None,
) -> None:
    threshold = parse_threshold(text, direction, unit, is_ratio)
    assert threshold.kind is ABSOLUTE
    assert threshold.value == pytest.approx(value, rel=1e-15)
    assert threshold.operator == operator
    assert not threshold.needs_control
    assert threshold.limit(None) == pytest.approx(value, rel=1e-15)


def test_parse_threshold_strips_surrounding_space() -> None:
    threshold = parse_threshold("  +10%  ", UP, None, True)
    assert threshold.raw == "+10%"
    assert threshold.factor == 1.1


@pytest.mark.parametrize(
    ("text", "direction", "unit", "is_ratio", "message"),
    [
        ("-10%", UP, None, True, "'-10%' points the better way for a higher_is_worse guardrail"),
        ("-10%", UP, None, True, "write +10%"),
        ("+5%", DOWN, None, True, "'+5%' points the better way for a lower_is_worse guardrail"),
        ("+5%", DOWN, None, True, "write -5%"),
        ("-150%", DOWN, None, True, "'-150%' is below -100%"),
        ("0.8x", UP, None, True, "a higher_is_worse multiple must be above 1x"),
        ("1x", UP, None, True, "a higher_is_worse multiple must be above 1x"),
        ("2x", DOWN, None, True, "a lower_is_worse multiple must be below 1x"),
        ("1x", DOWN, None, True, "a lower_is_worse multiple must be below 1x"),
        ("> 5", UP, None, True, "'> 5' is a floor; a higher_is_worse guardrail needs a ceiling"),
        (">= 0.9", UP, None, True, "is a floor"),
        ("< 300ms", DOWN, "ms", False, "is a ceiling; a lower_is_worse guardrail needs a floor"),
        ("<= 0.9", DOWN, None, True, "is a ceiling"),
        ("300ms", UP, "ratio", False, "'300ms' is a time but the metric's unit is ratio"),
        ("< 2s", UP, "percent", False, "is a time but the metric's unit is percent"),
        ("2%", UP, "ms", False, "'2%' is a percentage but the metric's unit is ms"),
        ("lots", UP, None, True, "bad threshold 'lots'"),
        ("", UP, None, True, "bad threshold ''"),
        ("++10%", UP, None, True, "bad threshold"),
        ("10%%", UP, None, True, "bad threshold"),
        ("x2", UP, None, True, "bad threshold"),
        ("=< 3", UP, None, True, "bad threshold"),
        ("< 300 minutes", UP, "ms", False, "bad threshold"),
    ],
)
def test_parse_threshold_errors(
    text: str, direction: Direction, unit: str | None, is_ratio: bool, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold(text, direction, unit, is_ratio)
    assert message in str(info.value)


def test_parse_threshold_time_on_a_ratio_guardrail_is_an_error() -> None:
    with pytest.raises(ValueError, match="is a time"):
        parse_threshold("< 5ms", UP, None, True)


# --------------------------------------------------------------------------- Threshold.crossed


def threshold(text: str, direction: Direction, unit: str | None = None) -> Threshold:
    return parse_threshold(text, direction, unit, unit is None)


@pytest.mark.parametrize(
    ("text", "direction", "treatment", "control", "crossed"),
    [
        # relative, higher is worse: +50% of control 2.0 → limit 3.0 (exact)
        ("+50%", UP, 2.9, 2.0, False),
        ("+50%", UP, 3.0, 2.0, False),  # "more than that far": the limit itself is not
        ("+50%", UP, 3.1, 2.0, True),
        ("+50%", UP, 1.0, 2.0, False),  # better than control
        # relative, lower is worse: -50% of control 2.0 → limit 1.0
        ("-50%", DOWN, 1.1, 2.0, False),
        ("-50%", DOWN, 1.0, 2.0, False),
        ("-50%", DOWN, 0.9, 2.0, True),
        ("-50%", DOWN, 3.0, 2.0, False),
        # multiples: 2x of 0.5 → 1.0; 0.5x of 2.0 → 1.0
        ("2x", UP, 1.0, 0.5, False),
        ("2x", UP, 1.01, 0.5, True),
        ("0.5x", DOWN, 1.0, 2.0, False),
        ("0.5x", DOWN, 0.99, 2.0, True),
        # a relative threshold without control data is never crossed
        ("+10%", UP, 1e9, None, False),
        ("-10%", DOWN, 0.0, None, False),
        ("2x", UP, 1e9, None, False),
        ("0.8x", DOWN, 0.0, None, False),
        # a bare absolute limit: beyond it is a breach, the limit itself is not
        ("300", UP, 299.0, None, False),
        ("300", UP, 300.0, None, False),
        ("300", UP, 301.0, None, True),
        ("0.9", DOWN, 0.91, None, False),
        ("0.9", DOWN, 0.9, None, False),
        ("0.9", DOWN, 0.89, None, True),
        # around (not at) the limit, every operator agrees
        ("< 300", UP, 299.0, None, False),
        ("< 300", UP, 301.0, None, True),
        ("<= 300", UP, 299.0, None, False),
        ("<= 300", UP, 301.0, None, True),
        ("> 0.9", DOWN, 0.91, None, False),
        ("> 0.9", DOWN, 0.89, None, True),
        (">= 0.9", DOWN, 0.91, None, False),
        (">= 0.9", DOWN, 0.89, None, True),
        # an absolute limit does not need (and ignores) the control
        ("< 300", UP, 301.0, 1000.0, True),
        ("> 0.9", DOWN, 0.95, 0.1, False),
    ],
)
def test_crossed(
    text: str, direction: Direction, treatment: float, control: float | None, crossed: bool
) -> None:
    assert threshold(text, direction).crossed(treatment, control, direction) is crossed


@pytest.mark.parametrize(
    ("text", "direction", "limit", "crossed"),
    [
        # the limit is outside "< 300" / "> 0.9": reaching it is a breach
        pytest.param("< 300", UP, 300.0, True),
        pytest.param("> 0.9", DOWN, 0.9, True),
        # the limit is inside "<= 300" / ">= 0.9": reaching it is fine
        pytest.param("<= 300", UP, 300.0, False),
        pytest.param(">= 0.9", DOWN, 0.9, False),
    ],
)
def test_crossed_exactly_at_an_absolute_limit(
    text: str, direction: Direction, limit: float, crossed: bool
) -> None:
    assert threshold(text, direction).crossed(limit, None, direction) is crossed


def test_crossed_converts_units_before_comparing() -> None:
    ceiling = parse_threshold("< 0.5s", UP, "ms", False)
    assert ceiling.limit(None) == 500.0
    assert not ceiling.crossed(499.0, None, UP)
    assert ceiling.crossed(501.0, None, UP)
    ratio = parse_threshold("<= 2%", UP, None, True)
    assert not ratio.crossed(0.019, None, UP)
    assert ratio.crossed(0.021, None, UP)


def test_limit() -> None:
    assert parse_threshold("+50%", UP, None, True).limit(2.0) == 3.0
    assert parse_threshold("-50%", DOWN, None, True).limit(2.0) == 1.0
    assert parse_threshold("2x", UP, None, True).limit(0.25) == 0.5
    assert parse_threshold("+50%", UP, None, True).limit(None) is None
    assert parse_threshold("< 300ms", UP, "ms", False).limit(None) == 300.0
    assert parse_threshold("< 300ms", UP, "ms", False).limit(7.0) == 300.0


# --------------------------------------------------------------------------- parse_bound


@pytest.mark.parametrize(
    ("text", "unit", "is_ratio", "kind", "factor", "value"),
    [
        ("-1%", None, True, RELATIVE, 0.99, 0.0),
        ("+2%", None, True, RELATIVE, 1.02, 0.0),
        ("-0.5%", "ratio", False, RELATIVE, 0.995, 0.0),
        ("+5%", "ms", False, RELATIVE, 1.05, 0.0),
        ("1.05x", None, True, MULTIPLE, 1.05, 0.0),
        ("0.9X", None, True, MULTIPLE, 0.9, 0.0),
        ("0.92", "ratio", False, ABSOLUTE, 1.0, 0.92),
        ("300ms", "ms", False, ABSOLUTE, 1.0, 300.0),
        ("0.3s", "ms", False, ABSOLUTE, 1.0, 300.0),
        ("300ms", "s", False, ABSOLUTE, 1.0, 0.3),
        ("2%", None, True, ABSOLUTE, 1.0, 0.02),
        ("2%", "percent", False, ABSOLUTE, 1.0, 2.0),
    ],
)
def test_parse_bound(
    text: str,
    unit: str | None,
    is_ratio: bool,
    kind: ThresholdKind,
    factor: float,
    value: float,
) -> None:
    bound = parse_bound(text, unit, is_ratio)
    assert bound.kind is kind
    assert bound.factor == pytest.approx(factor, rel=1e-15)
    assert bound.value == pytest.approx(value, rel=1e-15)
    assert bound.operator is None
    assert bound.raw == text


def test_parse_bound_limits() -> None:
    assert parse_bound("-1%", None, True).limit(0.5) == 0.495
    assert parse_bound("+2%", None, True).limit(None) is None
    assert parse_bound("0.92", "ratio", False).limit(None) == 0.92
    assert parse_bound("1.5x", None, True).limit(2.0) == 3.0


@pytest.mark.parametrize(
    ("text", "unit", "is_ratio", "message"),
    [
        ("< 0.9", None, True, "bad bound '< 0.9'"),
        (">= 1", None, True, "bad bound '>= 1'"),
        ("lots", None, True, "bad bound 'lots'"),
        ("", None, True, "bad bound ''"),
        ("300ms", "ratio", False, "'300ms' is a time but the metric's unit is ratio"),
        ("2%", "ms", False, "'2%' is a percentage but the metric's unit is ms"),
    ],
)
def test_parse_bound_errors(text: str, unit: str | None, is_ratio: bool, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_bound(text, unit, is_ratio)
    assert message in str(info.value)


# --------------------------------------------------------------------------- severity_key


def test_severity_key_values() -> None:
    assert severity_key(parse_threshold("+10%", UP, None, True), UP) == ("control", 1.1)
    assert severity_key(parse_threshold("2x", UP, None, True), UP) == ("control", 2.0)
    assert severity_key(parse_threshold("< 800ms", UP, "ms", False), UP) == ("absolute", 800.0)
    assert severity_key(parse_threshold("-5%", DOWN, None, True), DOWN) == ("control", -0.95)
    assert severity_key(parse_threshold("0.8x", DOWN, None, True), DOWN) == ("control", -0.8)
    assert severity_key(parse_threshold("> 0.85", DOWN, "ratio", False), DOWN) == (
        "absolute",
        -0.85,
    )


@pytest.mark.parametrize(
    ("direction", "tight_to_loose"),
    [
        (UP, ["+10%", "+25%", "+50%", "2x", "3x"]),
        (DOWN, ["-1%", "-5%", "0.8x", "-50%", "0.25x"]),
        (UP, ["< 100", "<= 250", "300", "< 800"]),
        (DOWN, ["> 0.95", ">= 0.9", "0.85", "> 0.5"]),
    ],
    ids=["relative-up", "relative-down", "absolute-up", "absolute-down"],
)
def test_severity_key_orders_tight_to_loose(
    direction: Direction, tight_to_loose: list[str]
) -> None:
    """Within one family a larger key is looser: it fires later, further from control."""
    parsed = [parse_threshold(t, direction, None, False) for t in tight_to_loose]
    keys = [severity_key(t, direction) for t in parsed]
    assert len({family for family, _ in keys}) == 1
    assert [t.raw for t in sorted(parsed, key=lambda t: severity_key(t, direction))] == (
        tight_to_loose
    )
    assert all(a[1] < b[1] for a, b in itertools.pairwise(keys))


def test_severity_key_separates_control_and_absolute_families() -> None:
    relative = severity_key(parse_threshold("+50%", UP, "ms", False), UP)
    absolute = severity_key(parse_threshold("< 800ms", UP, "ms", False), UP)
    assert relative[0] == "control"
    assert absolute[0] == "absolute"
    multiple = severity_key(parse_threshold("2x", UP, "ms", False), UP)
    assert multiple[0] == relative[0]  # relative and multiple compare with each other


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("3d", timedelta(days=3)),
        ("0", timedelta(0)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("1d12h", timedelta(hours=36)),
        ("0s", timedelta(0)),
        (" 2H ", timedelta(hours=2)),
        ("1h 30m", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_exact_seconds() -> None:
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("3d").total_seconds() == 259200
    assert parse_duration("2w").total_seconds() == 1209600
    assert parse_duration("0").total_seconds() == 0


@pytest.mark.parametrize(
    "text", ["30 minutes", "-5m", "", "   ", "5", "m", "1h30", "3x", "1.h", "30mins", "h1"]
)
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    message = str(info.value)
    assert f"bad duration {text!r}" in message
    assert "30m, 1h30m, 3d" in message


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=60), "1m"),
        (timedelta(seconds=90), "1m 30s"),
        (timedelta(minutes=4, seconds=10), "4m 10s"),
        (timedelta(hours=1, minutes=5), "1h 5m"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=2, hours=3), "2d 3h"),
        (timedelta(days=2, hours=3, minutes=4, seconds=5), "2d 3h"),  # two largest units
        (timedelta(weeks=2), "14d"),
        (timedelta(seconds=-30), "0s"),
        (timedelta(milliseconds=400), "0s"),
        (timedelta(seconds=59, milliseconds=600), "1m"),  # rounded to whole seconds
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize(("text", "shown"), [("30m", "30m"), ("1h30m", "1h 30m"), ("3d", "3d")])
def test_duration_round_trip(text: str, shown: str) -> None:
    assert format_duration(parse_duration(text)) == shown
