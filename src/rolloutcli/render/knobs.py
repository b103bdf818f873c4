"""Knobs (issue 21) on every surface: their live values in ``status`` and ``check`` (text
and JSON), and what ``rollout tune`` sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from rolloutcli.plan.knobvalues import show_value
from rolloutcli.support.quoting import label
from rolloutcli.support.timeutil import format_timestamp

if TYPE_CHECKING:  # types only: `kill` renders through the contract without pydantic
    from rolloutcli.judge.flagstate import KnobReading
    from rolloutcli.judge.knobs import KnobStep
    from rolloutcli.plan.model import Plan


def knobs_json(plan: Plan, readings: Mapping[str, KnobReading]) -> list[dict[str, Any]]:
    """Each of the plan's knobs: its flag, what it allows, and its live value (null when
    it serves no single value, ``note`` saying why), since when and by whom."""
    out = []
    for knob in plan.knobs:
        reading = readings.get(knob.name)
        out.append(
            {
                "name": knob.name,
                "flag": knob.flag,
                "allowed": knob.allowed_text(),
                "value": reading.value if reading else None,
                "since": reading.since if reading else None,
                "by": reading.by if reading else None,
                "note": reading.note if reading else "not read",
            }
        )
    return out


def knob_line(name: str, reading: KnobReading | None) -> str:
    """``min_confidence = 0.8 (since 2026-11-02T10:50:00Z by ana)``, or why there is none."""
    if reading is None:
        return f"{name}: not read"
    if reading.value is None:
        return f"{name}: no value ({reading.note or 'unknown'})"
    parts = []
    if reading.since is not None:
        parts.append(f"since {format_timestamp(reading.since)}")
    if reading.by:
        parts.append(f"by {label(reading.by)}")
    if reading.note:
        parts.append(reading.note)
    tail = f" ({' '.join(parts)})" if parts else ""
    return f"{name} = {show_value(reading.value)}{tail}"


def print_knobs(console: Console, plan: Plan, readings: Mapping[str, KnobReading]) -> None:
    """The knobs' live values, one line each (nothing for a plan without knobs)."""
    for knob in plan.knobs:
        line = knob_line(knob.name, readings.get(knob.name))
        console.print(f"knob {escape(line)}", highlight=False)


def step_json(step: KnobStep) -> dict[str, Any]:
    """A knob change: the knob, its flag, from, to, and the guardrail that caused it."""
    return {
        "name": step.knob,
        "flag": step.flag,
        "from": step.before,
        "to": step.after,
        "guardrail": step.guardrail,
    }
