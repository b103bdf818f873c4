"""A knob's value (issue 21): a number or a string, compared and shown the same way by
the plan, the judge and every platform adapter. No pydantic here: the adapters import it,
and reading a flag's address (``rollout kill``) must stay light."""

from __future__ import annotations

import math

from rolloutcli.support.quoting import label

Value = int | float | str
"""A knob's value as served: a number or a string (never a boolean)."""


def same_value(a: object, b: object) -> bool:
    """Whether two knob values are the same: numbers by value (0.8 is 0.80, 1 is 1.0),
    strings exactly; a number never equals a string ("0.8" is not 0.8)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-12)
    return isinstance(a, str) and isinstance(b, str) and a == b


def show_value(value: object) -> str:
    """A knob value as messages write it: numbers as ``0.8``, strings as they are when
    printable and short, else quoted (a value read from a platform may hold any bytes)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return label(value)
    return str(value)
