"""Guardrail thresholds as plans write them, and what each one means.

Three forms, all read in the guardrail's "worse" direction:

* relative to control: ``+10%`` (higher is worse) or ``-5%`` (lower is worse) —
  breached when treatment is more than that far from control in the worse direction;
* a multiple of control: ``2x`` (higher is worse) or ``0.8x`` (lower is worse);
* a difference from control in percentage points: ``+2pp`` (higher is worse) or
  ``-1.5pp`` (lower is worse), for proportions only (a ratio guardrail, or a mean whose
  ``unit`` is ``ratio`` or ``percent``); breached when treatment - control is beyond it;
* absolute: ``< 300ms``, ``<= 2%``, ``> 0.92`` or a bare ``300ms`` — the limit the
  treatment must stay within; breached when treatment crosses it.

Units on absolute limits: ``ms`` and ``s`` convert to the metric's time unit, ``%`` is
a fraction for ratio metrics (``2%`` = 0.02).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from rolloutcli.stats.direction import Direction
from rolloutcli.support.quoting import quote


class ThresholdKind(StrEnum):
    RELATIVE = "relative"
    MULTIPLE = "multiple"
    POINTS = "points"
    ABSOLUTE = "absolute"


_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*%$")
_MULTIPLE = re.compile(r"^(\d+(?:\.\d+)?)\s*x$")
_POINTS = re.compile(r"^([+-])?\s*(\d+(?:\.\d+)?)\s*pp$")
_ABSOLUTE = re.compile(r"^(<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(ms|s|%)?$")
_TIME_UNITS = {"ms": 0.001, "s": 1.0}


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold. ``factor`` for relative/multiple, ``value`` for absolute, and
    for points the signed difference from control in the metric's units (``+2pp`` on a
    ratio is 0.02, on a ``unit: percent`` mean 2.0)."""

    raw: str
    kind: ThresholdKind
    factor: float = 1.0
    value: float = 0.0
    operator: str | None = None

    def limit(self, control: float | None) -> float | None:
        """The treatment value at which this threshold is crossed (None without a control)."""
        if self.kind is ThresholdKind.ABSOLUTE:
            return self.value
        if control is None:
            return None
        if self.kind is ThresholdKind.POINTS:
            return control + self.value
        return control * self.factor

    def crossed(self, treatment: float, control: float | None, direction: Direction) -> bool:
        limit = self.limit(control)
        if limit is None:
            return False
        # `< 300ms` must stay below 300: reaching it is a breach; `<= 300ms` and a bare
        # `300ms` may reach it. Relative and multiple thresholds breach past the limit.
        reaching_breaches = self.operator in ("<", ">")
        if direction is Direction.HIGHER_IS_WORSE:
            return treatment >= limit if reaching_breaches else treatment > limit
        return treatment <= limit if reaching_breaches else treatment < limit

    @property
    def needs_control(self) -> bool:
        return self.kind is not ThresholdKind.ABSOLUTE


def parse_threshold(text: str, direction: Direction, unit: str | None, is_ratio: bool) -> Threshold:
    """Parse one threshold for a guardrail; raises ValueError naming what to write instead."""
    raw = str(text).strip()
    worse_up = direction is Direction.HIGHER_IS_WORSE
    if m := _RELATIVE.match(raw):
        sign, amount = m.group(1), _finite(m.group(2), raw)
        if (sign == "+") != worse_up:
            want = "+" if worse_up else "-"
            raise ValueError(
                f"{quote(raw)} points the better way for a {direction.value} guardrail; "
                f"write {want}{m.group(2)}%"
            )
        factor = 1 + amount / 100 if worse_up else 1 - amount / 100
        if not worse_up and factor < 0:
            raise ValueError(f"{quote(raw)} is below -100%")
        return Threshold(raw, ThresholdKind.RELATIVE, factor=factor)
    if m := _MULTIPLE.match(raw.lower()):
        factor = _finite(m.group(1), raw)
        if worse_up and factor <= 1:
            raise ValueError(f"{quote(raw)}: a higher_is_worse multiple must be above 1x (e.g. 2x)")
        if not worse_up and not 0 <= factor < 1:
            raise ValueError(
                f"{quote(raw)}: a lower_is_worse multiple must be below 1x (e.g. 0.8x)"
            )
        return Threshold(raw, ThresholdKind.MULTIPLE, factor=factor)
    if m := _POINTS.match(raw.lower()):
        sign, amount = m.group(1), _finite(m.group(2), raw)
        if amount == 0:
            zero = "+0%" if worse_up else "-0%"
            raise ValueError(f"{quote(raw)}: for any significant change write {zero}")
        if amount >= 100:  # two shares differ by less than 100 points: it could never fire
            raise ValueError(f"{quote(raw)}: two shares differ by less than 100pp")
        if sign is not None and (sign == "+") != worse_up:
            want = "+" if worse_up else "-"
            raise ValueError(
                f"{quote(raw)} points the better way for a {direction.value} guardrail; "
                f"write {want}{m.group(2)}pp"
            )
        points = _points(amount, unit, is_ratio, raw)
        return Threshold(raw, ThresholdKind.POINTS, value=points if worse_up else -points)
    if m := _ABSOLUTE.match(raw):
        op, number, suffix = m.group(1), _finite(m.group(2), raw), m.group(3)
        if op and op.startswith("<") and not worse_up:
            raise ValueError(
                f"{quote(raw)} is a ceiling; a lower_is_worse guardrail needs a floor (>)"
            )
        if op and op.startswith(">") and worse_up:
            raise ValueError(
                f"{quote(raw)} is a floor; a higher_is_worse guardrail needs a ceiling (<)"
            )
        value = _convert(number, suffix, unit, is_ratio, raw)
        return Threshold(raw, ThresholdKind.ABSOLUTE, value=value, operator=op)
    raise ValueError(
        f"bad threshold {quote(raw)}: write +10% / -5% (relative to control), 2x (multiple of "
        f"control), +2pp (percentage points above control) or < 300ms / > 0.9 (absolute)"
    )


def _finite(number: str, raw: str) -> float:
    """The number in a threshold; ``1e999`` (infinite as a float) is a plan error."""
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{quote(raw)}: the number is too large")
    return value


def _points(amount: float, unit: str | None, is_ratio: bool, raw: str) -> float:
    """Percentage points in the metric's units: a fraction for ratio guardrails and
    ``unit: ratio`` means (2pp = 0.02), as written for ``unit: percent`` means. Points
    are a difference of proportions, so any other metric is a plan error."""
    if is_ratio or unit == "ratio":
        return amount / 100
    if unit == "percent":
        return amount
    raise ValueError(
        f"{quote(raw)} is in percentage points, for proportions only: a ratio guardrail or "
        "a mean with unit: ratio (values 0..1) or unit: percent (0..100)"
    )


def _convert(
    number: float, suffix: str | None, unit: str | None, is_ratio: bool, raw: str
) -> float:
    if suffix is None:
        return number
    if suffix == "%":
        if is_ratio or unit in (None, "ratio"):
            return number / 100
        if unit == "percent":
            return number
        raise ValueError(f"{quote(raw)} is a percentage but the metric's unit is {unit}")
    if is_ratio:
        raise ValueError(f"{quote(raw)} is a time but a ratio metric's values are fractions (2%)")
    if unit in _TIME_UNITS:
        return number * _TIME_UNITS[suffix] / _TIME_UNITS[unit]
    if unit is None:
        return number
    raise ValueError(f"{quote(raw)} is a time but the metric's unit is {unit}")


def severity_key(threshold: Threshold, direction: Direction) -> tuple[str, float]:
    """A comparable (family, distance) pair: within one family, a larger distance is reached
    later (further out in the worse direction)."""
    sign = 1.0 if direction is Direction.HIGHER_IS_WORSE else -1.0
    if threshold.kind is ThresholdKind.ABSOLUTE:
        return ("absolute", sign * threshold.value)
    if threshold.kind is ThresholdKind.POINTS:
        return ("points", sign * threshold.value)
    return ("control", sign * threshold.factor)


def parse_bound(text: str, unit: str | None, is_ratio: bool) -> Threshold:
    """A success bound (`at_least`/`at_most`): `-1%` / `+2%` relative to control, `1.02x`,
    `+2pp` / `-1pp` (percentage points from control, proportions only), or an absolute
    value such as `0.92` or `300ms`. Comparison operators are not allowed here."""
    raw = str(text).strip()
    if m := _RELATIVE.match(raw):
        pct = _finite(m.group(2), raw) * (1 if m.group(1) == "+" else -1)
        return Threshold(raw, ThresholdKind.RELATIVE, factor=1 + pct / 100)
    if m := _MULTIPLE.match(raw.lower()):
        return Threshold(raw, ThresholdKind.MULTIPLE, factor=_finite(m.group(1), raw))
    if m := _POINTS.match(raw.lower()):
        points = _points(_finite(m.group(2), raw), unit, is_ratio, raw)
        return Threshold(raw, ThresholdKind.POINTS, value=-points if m.group(1) == "-" else points)
    if (m := _ABSOLUTE.match(raw)) and m.group(1) is None:
        value = _convert(_finite(m.group(2), raw), m.group(3), unit, is_ratio, raw)
        return Threshold(raw, ThresholdKind.ABSOLUTE, value=value)
    raise ValueError(
        f"bad bound {quote(raw)}: write -1% / +2% (relative to control), 1.05x, +2pp "
        "(percentage points from control) or a value like 0.92"
    )


def points_text(points: float) -> str:
    """A change in percentage points as shown: ``+2.3pp``; under a tenth of a point, two
    significant digits (``+0.042pp``)."""
    if points != 0 and abs(points) < 0.05:
        return f"{points:+.2g}pp"
    return f"{points:+.1f}pp"
