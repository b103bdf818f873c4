"""The plan's ``requires:`` against the prerequisite flags as read (pure).

A prerequisite is met when its flag exists, is on, and serves its variation to at least
``at_least`` of traffic. An unmet one holds advancing and the first start, never a
rollback, a reduce, a pause or a kill: those protect, and must not wait for another flag.
The platform's own prerequisites (LaunchDarkly's, Unleash's dependencies) are only shown:
the platform enforces them itself, by serving the off variation while they are unmet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rolloutcli.judge.flagstate import FlagShare, PlatformPrerequisite

if TYPE_CHECKING:  # types only: `kill` loads no pydantic
    from rolloutcli.plan.model import Plan

TOLERANCE = 1e-9


@dataclass(frozen=True)
class PrerequisiteCheck:
    """One ``requires:`` item, its flag as read, and whether it is met."""

    flag: str
    variation: object
    at_least: float
    share: FlagShare
    met: bool

    @property
    def state(self) -> str:
        """``is at 50%``, ``is off``, ``cannot be read (...)``: the flag as read."""
        return share_text(self.share)

    @property
    def needs(self) -> str:
        """``at least 100%`` (``at least 50% serving 'v2'`` for another variation)."""
        return f"at least {self.at_least:g}%{_serving(self.variation)}"


def share_text(share: FlagShare) -> str:
    """The flag as read, after its key: ``is at 50%``, ``is off``, ``cannot be read
    (no flag 'x' in flags.json)``; ``serves 'v2' to 50%`` for a variation other than
    true."""
    if share.problem is not None or not share.found:
        return f"cannot be read ({share.problem or 'not found'})"
    if not share.on:
        return "is off"
    if share.variation is True:
        return f"is at {share.percent:g}%"
    return f"serves {share.variation!r} to {share.percent:g}%"


def _serving(variation: object) -> str:
    return "" if variation is True else f" serving {variation!r}"


def is_met(share: FlagShare, at_least: float) -> bool:
    return (
        share.found and share.problem is None and share.on and share.percent >= at_least - TOLERANCE
    )


def check_prerequisites(
    plan: Plan, shares: Mapping[str, FlagShare]
) -> tuple[PrerequisiteCheck, ...]:
    """Each ``requires:`` item against its flag as read; a flag missing from ``shares``
    (not read) is unmet."""
    checks = []
    for item in plan.requires:
        share = shares.get(item.flag) or FlagShare(
            item.flag, item.variation, found=False, problem="not read"
        )
        checks.append(
            PrerequisiteCheck(
                item.flag, item.variation, item.at_least, share, is_met(share, item.at_least)
            )
        )
    return tuple(checks)


def unmet(checks: tuple[PrerequisiteCheck, ...]) -> tuple[PrerequisiteCheck, ...]:
    return tuple(c for c in checks if not c.met)


def platform_prerequisite_text(item: PlatformPrerequisite) -> tuple[bool, str]:
    """Whether the platform's own prerequisite is met for everyone, and what that means:
    ``payments-core must serve true: it is off, so the platform serves this flag's off
    variation to everyone``."""
    share = item.share
    want = _wanted(item)
    if share.problem is not None or not share.found:
        return False, f"{item.flag} must {want}: it {share_text(share)}"
    if item.variation is False:
        met = not share.on or share.percent <= TOLERANCE
        if met:
            return True, f"{item.flag} must {want}: it {'is off' if not share.on else 'is at 0%'}"
        return False, (
            f"{item.flag} must {want}: it is at {share.percent:g}%, so the platform serves "
            "those users this flag's off variation"
        )
    if not share.on:
        return False, (
            f"{item.flag} must {want}: it is off, so the platform serves this flag's off "
            "variation to everyone"
        )
    if share.percent < 100 - TOLERANCE:
        return False, (
            f"{item.flag} must {want}: it does for {share.percent:g}%, so the platform serves "
            "the rest this flag's off variation"
        )
    return True, f"{item.flag} must {want}: it does for 100%"


def _wanted(item: PlatformPrerequisite) -> str:
    if item.variation is False:
        return "be disabled"
    if item.variants:
        return f"be enabled with variant {' or '.join(item.variants)}"
    return f"serve {item.variation!r}" if item.variation is not True else "be on"
