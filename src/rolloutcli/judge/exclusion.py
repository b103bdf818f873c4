"""The plan's exclusion (``exclude:``) against the platform's state (pure).

Every change the tool writes carries the exclusion, so it is missing only when someone
removed it on the platform by hand (or a platform dropped it): then the treatment may
reach users who must always get the control, and the verdict holds until it is back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rolloutcli.judge.flagstate import FlagState

if TYPE_CHECKING:  # `rollout kill` renders through here and must not load pydantic
    from rolloutcli.plan.model import Plan

SHOWN_KEYS = 3
"""Keys a one-line summary names before ``…``."""


def exclusion_text(keys: tuple[str, ...] | list[str], segment: str | None) -> str | None:
    """``3 keys (vip-1, vip-2, vip-3)``, ``5 keys (a, b, c, …)``, ``segment vip``; None
    for no exclusion."""
    if segment:
        return f"segment {segment}"
    if not keys:
        return None
    shown = ", ".join(keys[:SHOWN_KEYS]) + (", …" if len(keys) > SHOWN_KEYS else "")
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''} ({shown})"


def missing_exclusion(plan: Plan, state: FlagState) -> str | None:
    """What of the plan's exclusion the platform's state lacks (``keys vip-1, vip-2``,
    ``segment vip``), or None when it is all there (or the plan has none)."""
    ex = plan.exclude
    if ex is None:
        return None
    if ex.segment is not None:
        return None if state.excluded_segment == ex.segment else f"segment {ex.segment}"
    lacking = [k for k in ex.keys or () if k not in state.excluded_keys]
    if not lacking:
        return None
    shown = ", ".join(lacking[:SHOWN_KEYS]) + (", …" if len(lacking) > SHOWN_KEYS else "")
    return f"{len(lacking)} excluded key{'s' if len(lacking) != 1 else ''} ({shown})"
