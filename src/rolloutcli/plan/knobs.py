"""Knobs (issue 21): companion flags whose value is a number or a string (a model's
confidence threshold, a model-version selector, a sampling rate), tuned during a rollout by
a guardrail's pause tier (``on_pause: {knob: ..., to: [...], then: ...}``) or by a person
(``rollout tune``). The plan's shape of them, and the checks only the whole plan can make.

What a knob action does at a given moment is :mod:`rolloutcli.judge.knobs`'s to say.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BeforeValidator, Discriminator, Field, StrictFloat, Tag

from rolloutcli.plan.fields import Count, Key, Name, PlanModel, Text
from rolloutcli.plan.knobvalues import same_value, show_value
from rolloutcli.support.quoting import quote

if TYPE_CHECKING:
    from rolloutcli.plan.yamlsource import KeyPath

__all__ = ["same_value", "show_value"]  # re-exported: where the plan's knobs are

MAX_KNOBS = 20
MAX_KNOB_VALUES = 100
MAX_KNOB_STEPS = 10


def _number_or_string(value: Any) -> Any:
    """One plain line for a value that is neither (pydantic would give one per type)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        shown = str(value).lower() if isinstance(value, bool) else type(value).__name__
        raise ValueError(f"a knob value is a number or a string, not {shown}")
    return value


KnobValue = Annotated[Count | StrictFloat | Key, BeforeValidator(_number_or_string)]
"""A knob's value: a number or a string (never a boolean: that is the plan's own flag)."""
Then = Literal["rollback", "pause", "reduce"]


def _as_list(value: Any) -> Any:
    """``to: 0.8`` is ``to: [0.8]``."""
    return value if isinstance(value, list) else [value]


class KnobRange(PlanModel):
    """The numbers a knob may take, both ends included."""

    min: Count | StrictFloat = Field(description="The lowest value.")
    max: Count | StrictFloat = Field(description="The highest value.")


class Knob(PlanModel):
    """A companion flag the rollout may tune: its value as served to everyone."""

    name: Name = Field(description="Unique name; guardrails and rollout tune use it.")
    flag: Key = Field(
        description="The companion flag's key, on the plan's platform and environment."
    )
    description: Text | None = None
    values: list[KnobValue] | None = Field(
        None,
        min_length=1,
        max_length=MAX_KNOB_VALUES,
        description=f"The values allowed (numbers or strings; at most {MAX_KNOB_VALUES}).",
    )
    range: KnobRange | None = Field(
        None, description="Or the numbers allowed: {min: 0.5, max: 0.95}."
    )

    def allows(self, value: object) -> bool:
        """Whether ``value`` is one of ``values`` or a number within ``range``."""
        if self.values is not None:
            return any(same_value(value, allowed) for allowed in self.values)
        if self.range is None or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.range.min - 1e-12 <= value <= self.range.max + 1e-12

    def allowed_text(self) -> str:
        """What the knob allows, for messages: ``0.7, 0.8, 0.9`` or ``0.5 to 0.95``."""
        if self.values is not None:
            return ", ".join(show_value(v) for v in self.values)
        assert self.range is not None  # validated: one of the two
        return f"{show_value(self.range.min)} to {show_value(self.range.max)}"

    def parse(self, text: str) -> KnobValue | None:
        """A value a person typed (``rollout tune``), as the knob holds it: the allowed
        value it names (``0.80`` is the allowed 0.8), or a number in the range; None when
        the knob does not allow it."""
        number: float | None
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and not math.isfinite(number):
            number = None
        if self.values is not None:
            for allowed in self.values:
                if isinstance(allowed, str) and allowed == text:
                    return allowed
                if number is not None and same_value(number, allowed):
                    return allowed
            return None
        if number is None or not self.allows(number):
            return None
        return int(number) if number.is_integer() and "." not in text else number


class KnobAction(PlanModel):
    """A pause tier that tunes a knob instead of pausing: ``to`` the next of its values
    after the live one, at most ``len(to)`` times; then ``then``."""

    knob: Name = Field(description="The knob to tune (its name under knobs:).")
    to: Annotated[
        list[KnobValue],
        BeforeValidator(_as_list),
        Field(min_length=1, max_length=MAX_KNOB_STEPS),
    ] = Field(
        description="The values to set, in order, one per pause-tier breach (at most "
        f"{MAX_KNOB_STEPS}); each must be allowed by the knob.",
    )
    then: Then = Field(
        "rollback",
        description="What the pause tier does once the knob is at the last value of to: "
        "rollback (default), pause or reduce.",
    )


class _KnobPlan(Protocol):
    """What :func:`knob_problems` reads of a plan (the model imports this module)."""

    @property
    def flag(self) -> str: ...
    @property
    def knobs(self) -> Sequence[Knob]: ...
    @property
    def guardrails(self) -> Sequence[Any]: ...
    def knob(self, name: str) -> Knob | None: ...


def knob_problems(plan: _KnobPlan) -> list[tuple[KeyPath, str]]:
    """Knobs: unique names and flags (not the plan's own), exactly one of values/range, a
    range that is one; a guardrail's knob action names a knob, with values it allows."""
    problems: list[tuple[KeyPath, str]] = []
    names: dict[str, int] = {}
    flags: dict[str, int] = {}
    for i, knob in enumerate(plan.knobs):
        where: KeyPath = ("knobs", i)
        if names.setdefault(knob.name, i) != i:
            problems.append(((*where, "name"), f"duplicate knob name {quote(knob.name)}"))
        if knob.flag == plan.flag:
            problems.append(
                ((*where, "flag"), "a knob is a companion flag, not the plan's own flag")
            )
        elif flags.setdefault(knob.flag, i) != i:
            problems.append(((*where, "flag"), f"flag {quote(knob.flag)} is another knob's"))
        problems.extend(_shape_problems(knob, where))
    for i, guardrail in enumerate(plan.guardrails):
        if isinstance(guardrail.on_pause, KnobAction):
            where = ("guardrails", i, "on_pause")
            problems.extend(_action_problems(plan, guardrail.on_pause, where))
            if guardrail.thresholds.pause is None:
                problems.append((where, "a knob action acts on the pause tier: give pause:"))
    return problems


def _shape_problems(knob: Knob, where: KeyPath) -> list[tuple[KeyPath, str]]:
    if (knob.values is None) == (knob.range is None):
        return [(where, "give exactly one of values: or range:")]
    if knob.range is not None and knob.range.min >= knob.range.max:
        return [((*where, "range"), "min must be below max")]
    values = knob.values or []
    for j, value in enumerate(values):
        if any(same_value(value, v) for v in values[:j]):
            return [((*where, "values", j), f"{show_value(value)} is listed twice")]
    return []


def _action_problems(
    plan: _KnobPlan, action: KnobAction, where: KeyPath
) -> list[tuple[KeyPath, str]]:
    knob = plan.knob(action.knob)
    if knob is None:
        known = [k.name for k in plan.knobs]
        close = difflib.get_close_matches(action.knob, known, n=1)
        hint = f"; did you mean {quote(close[0])}?" if close else ""
        listed = f" (knobs: {', '.join(known)})" if known and not close else ""
        return [((*where, "knob"), f"no knob named {quote(action.knob)}{hint}{listed}")]
    problems: list[tuple[KeyPath, str]] = []
    for j, value in enumerate(action.to):
        at: KeyPath = (*where, "to", j)
        if not knob.allows(value):
            problems.append(
                (at, f"knob {knob.name} does not allow {show_value(value)} ({knob.allowed_text()})")
            )
        elif any(same_value(value, v) for v in action.to[:j]):
            problems.append((at, f"{show_value(value)} is listed twice"))
    return problems


def _pause_kind(value: Any) -> str:
    return "KnobAction" if isinstance(value, dict | KnobAction) else "str"


OnPause = Annotated[
    Annotated[Literal["pause", "reduce"], Tag("str")] | Annotated[KnobAction, Tag("KnobAction")],
    Discriminator(_pause_kind),
]
"""``on_pause``: a word, or a knob action (a mapping); each checked as what it is, so a
mistake in a knob action is reported as that, not as "not one of pause, reduce"."""
