"""A knob on LaunchDarkly (issue 21): a multivariate flag whose value is its fallthrough
variation's, served to everyone while the flag is on in the environment and has no
targets or rules. Setting it is the semantic patch ``updateFallthroughVariationOrRollout``
with the ``variationId`` of the variation serving the value; a value the flag has no
variation for is refused (one line naming the values it has).

Pure helpers over the REST API's answers;
:class:`~rolloutcli.platforms.launchdarkly.LaunchDarklyPlatform` makes the calls.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.plan.knobvalues import Value, same_value, show_value
from rolloutcli.support.errors import InvalidInputError


def fallthrough_value(
    flag: dict[str, Any], env: dict[str, Any], environment: str
) -> tuple[Value | None, str | None]:
    """The value everyone is served, or None and why not."""
    if not env.get("on"):
        return None, f"it is off in {environment}: LaunchDarkly serves its off variation"
    if env.get("rules") or any(t.get("values") for t in env.get("targets") or []):
        return None, "it has targets or rules: no single value for all"
    if any(t.get("values") for t in env.get("contextTargets") or []):
        return None, "it has targets or rules: no single value for all"
    index = (env.get("fallthrough") or {}).get("variation")
    variations = flag.get("variations") or []
    if not isinstance(index, int) or not 0 <= index < len(variations):
        return None, "its default rule serves a percentage rollout, not one variation"
    value = variations[index].get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, f"its variation {value!r} is not a number or a string"
    return value, None


def variation_id(flag: dict[str, Any], key: str, value: object) -> str:
    """The ``_id`` of the variation serving ``value``; InvalidInputError naming the flag's
    values when it has none."""
    variations = flag.get("variations") or []
    for variation in variations:
        served = variation.get("value")
        if not isinstance(served, bool) and same_value(served, value):
            return str(variation["_id"])
    values = ", ".join(show_value(v.get("value")) for v in variations)
    raise InvalidInputError(
        f"LaunchDarkly flag {key!r} has no variation {show_value(value)} (it has {values}): "
        "add it to the flag, or tune to one of its values"
    )


def last_change(entries: list[dict[str, Any]], member: Any) -> tuple[datetime | None, str | None]:
    """When the flag last changed in the environment, and by whom: the newest audit entry
    (an upper bound of when the value was set: LaunchDarkly logs every change of the flag)."""
    if not entries:
        return None, None
    newest = max(entries, key=lambda e: int(e.get("date") or 0))
    at = datetime.fromtimestamp(int(newest.get("date") or 0) / 1000, UTC)
    return at, member(newest)


def reading(
    key: str,
    flag: dict[str, Any],
    env: dict[str, Any],
    environment: str,
    changed: tuple[datetime | None, str | None],
) -> KnobReading:
    value, why = fallthrough_value(flag, env, environment)
    if value is None:
        return KnobReading(key, None, note=why)
    return KnobReading(key, value, changed[0], changed[1])
