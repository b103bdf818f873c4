"""A knob in a flagd flag file (issue 21): a flag with ``variants`` and a
``defaultVariant``; its value is ``variants[defaultVariant]``, served to everyone while the
flag is enabled and has no targeting. Setting it selects the variant with that value, and
adds one named after the value when the flag has none.

Pure helpers over the parsed flag; :class:`~rolloutcli.platforms.flagfile.FlagFilePlatform`
reads, locks and writes the file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rolloutcli.judge.flagstate import KnobReading
from rolloutcli.plan.knobvalues import Value as KnobValue
from rolloutcli.plan.knobvalues import same_value, show_value
from rolloutcli.support.timeutil import format_timestamp, parse_timestamp

META = "rolloutcli."


def knob_reading(key: str, flag: dict[str, Any]) -> KnobReading:
    """The value the flag serves everyone, and since when (its metadata, while it records
    the live value: a hand edit since leaves ``since`` unknown)."""
    variants = flag.get("variants")
    default = flag.get("defaultVariant")
    if not isinstance(variants, dict) or default not in variants:
        return KnobReading(key, None, note="it has no defaultVariant among its variants")
    if flag.get("state") != "ENABLED":
        return KnobReading(key, None, note="it is disabled: flagd serves no value")
    if flag.get("targeting"):
        return KnobReading(key, None, note="it has targeting rules: no single value for all")
    value = variants[default]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return KnobReading(key, None, note=f"its value {value!r} is not a number or a string")
    meta = flag.get("metadata") if isinstance(flag.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    if META + "value" in meta and same_value(meta[META + "value"], value):
        by = meta.get(META + "by")
        since = parse_timestamp(meta.get(META + "changedAt"))
        return KnobReading(key, value, since, by if isinstance(by, str) else None)
    return KnobReading(key, value, note="set by hand: when is not recorded")


def select_value(flag: dict[str, Any], value: KnobValue) -> str:
    """Make ``value`` the flag's default variant, adding a variant named after it when no
    variant serves it; returns the variant's name."""
    variants = flag.get("variants")
    if not isinstance(variants, dict):
        variants = {}
        flag["variants"] = variants
    for name, served in variants.items():
        if not isinstance(served, bool) and same_value(served, value):
            flag["defaultVariant"] = name
            return str(name)
    base = show_value(value)
    name, n = base, 2
    while name in variants:
        name, n = f"{base}-{n}", n + 1
    variants[name] = value
    flag["defaultVariant"] = name
    return name


def stamp_knob(
    flag: dict[str, Any],
    value: KnobValue,
    plan: str,
    note: str,
    when: datetime,
    by: str | None,
) -> None:
    """Record the change in the flag's metadata, as the rollout's own changes are."""
    meta = flag.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    for name in [n for n in meta if n.startswith(META)]:
        del meta[name]
    meta[META + "changedAt"] = format_timestamp(when)
    meta[META + "value"] = value
    meta[META + "plan"] = plan
    meta[META + "comment"] = note
    if by:
        meta[META + "by"] = by
    flag["metadata"] = meta
