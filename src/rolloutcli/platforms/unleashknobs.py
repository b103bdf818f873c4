"""A knob on Unleash (issue 21): a toggle whose environment has one strategy serving
everyone (rollout 100, no constraints, no segments) with one strategy variant (weight
1000) whose payload carries the value: ``{type: number, value: "0.8"}`` or ``{type:
string, value: "v2.4"}``. The SDK's ``get_variant`` serves that payload to every user.

Unleash 7 refuses the older environment-level variants ("deprecated ... use strategy
variants"), so the value lives on the strategy, and a change is one JSON-Patch of it: a
``test`` of the variants as read (a conflict when someone changed them meanwhile), the new
variant, and the change note as the strategy's title (``action=knob record=<id>``).

Pure helpers over the Admin API's answers;
:class:`~rolloutcli.platforms.unleash.UnleashPlatform` makes the calls.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.plan.knobvalues import Value
from rolloutcli.support.timeutil import parse_timestamp

STRATEGY_EVENTS = ("feature-strategy-add", "feature-strategy-update")


def knob_strategy(env: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The one strategy serving everyone in the environment, or None and why not."""
    if not env.get("enabled"):
        return None, f"it is off in {env.get('name')}: Unleash serves no value"
    strategies = [
        s for s in env.get("strategies") or [] if isinstance(s, dict) and not s.get("disabled")
    ]
    if len(strategies) != 1:
        return None, f"it has {len(strategies)} strategies: give it one serving everyone"
    strategy = strategies[0]
    rollout = str((strategy.get("parameters") or {}).get("rollout", "100"))
    if rollout != "100" or strategy.get("constraints") or strategy.get("segments"):
        return None, "its strategy does not serve everyone (rollout 100, no constraints)"
    return strategy, None


def variant_value(strategy: dict[str, Any]) -> tuple[Value | None, str | None]:
    """The value the strategy's one variant carries (its payload; its name without one),
    or None and why not."""
    variants = strategy.get("variants") or []
    if len(variants) != 1:
        return None, f"its strategy has {len(variants)} variants: a knob has one"
    variant = variants[0]
    payload = variant.get("payload")
    if not isinstance(payload, dict):
        return str(variant.get("name")), None
    raw = str(payload.get("value"))
    if payload.get("type") == "number":
        try:
            number = float(raw)
        except ValueError:
            return None, f"its payload {raw!r} is not a number"
        if not math.isfinite(number):
            return None, f"its payload {raw!r} is not a number"
        return (int(number) if number.is_integer() and "." not in raw else number), None
    if payload.get("type") == "string":
        return raw, None
    return None, f"its payload is of type {payload.get('type')!r}, not number or string"


def payload_text(value: Value) -> str:
    """The payload's text for ``value``, exact (``repr`` of a float keeps every digit)."""
    return repr(value) if isinstance(value, float) else str(value)


def knob_variant(value: Value, stickiness: str) -> dict[str, Any]:
    """The one variant serving ``value`` to everyone."""
    kind = "string" if isinstance(value, str) else "number"
    text = payload_text(value)
    return {
        "name": text,
        "weight": 1000,
        "weightType": "variable",
        "stickiness": stickiness,
        "payload": {"type": kind, "value": text},
    }


def last_change(
    events: list[dict[str, Any]], environment: str, strategy_id: object
) -> tuple[datetime | None, str | None]:
    """When the strategy's variants last changed in the environment, and by whom (the
    event log, newest first or not); None when the log does not say."""
    found: tuple[datetime | None, str | None] = (None, None)
    for event in sorted(events, key=lambda e: e.get("id", 0)):
        if event.get("type") not in STRATEGY_EVENTS or event.get("environment") != environment:
            continue
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        pre = event.get("preData") if isinstance(event.get("preData"), dict) else {}
        assert isinstance(data, dict) and isinstance(pre, dict)
        if data.get("id") != strategy_id or data.get("variants") == pre.get("variants"):
            continue
        by = event.get("createdBy")
        found = (parse_timestamp(event.get("createdAt")), by if isinstance(by, str) else None)
    return found


def reading(
    flag: str, env: dict[str, Any], events: list[dict[str, Any]], environment: str
) -> KnobReading:
    """The knob as Unleash serves it in ``environment``."""
    strategy, why = knob_strategy(env)
    if strategy is None:
        return KnobReading(flag, None, note=why)
    value, why = variant_value(strategy)
    if value is None:
        return KnobReading(flag, None, note=why)
    since, by = last_change(events, environment, strategy.get("id"))
    note = None if since is not None else "Unleash's event log does not say when it was set"
    return KnobReading(flag, value, since, by, note)
