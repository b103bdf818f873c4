"""Whether the plan's policy lets automation advance or start at a moment. Pure.

``automation.windows`` say when (days and hours in a time zone; none: any time) and
``automation.freeze`` when not (a freeze wins over a window). Only advancing and starting
wait for them: a pause or a rollback protects, so it always acts, and a kill always wins.
Days name the day a window starts on: ``fri 22:00-06:00`` runs into Saturday morning.
Local times are the zone's wall clock, so a window keeps its hours across a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rolloutcli.plan.model import Automation
from rolloutcli.plan.policy import Freeze, Window
from rolloutcli.support.durations import format_duration
from rolloutcli.support.timeutil import format_timestamp

HORIZON = timedelta(days=14)
"""How far ahead the next opening is looked for."""


@dataclass(frozen=True)
class Allowed:
    """Whether automation may advance now; why not, and when it next may (None: not
    within :data:`HORIZON`, or already open)."""

    ok: bool
    reason: str
    next_opening: datetime | None = None
    freeze: Freeze | None = None

    @property
    def kind(self) -> str:
        """``open``, ``freeze`` or ``closed`` (outside every window)."""
        return "open" if self.ok else ("freeze" if self.freeze is not None else "closed")


def allowed(automation: Automation, now: datetime) -> Allowed:
    """What the windows and freezes say about ``now`` (an aware datetime)."""
    frozen = freeze_at(automation.freeze, now)
    if frozen is not None:
        opening = next_opening(automation, frozen.ends)
        why = f": {frozen.reason}" if frozen.reason else ""
        return Allowed(
            False,
            f"freeze until {format_timestamp(frozen.ends)}{why}{_when(opening, now, automation)}",
            opening,
            frozen,
        )
    if not automation.windows:
        return Allowed(True, "no automation windows: any time")
    inside = next((w for w in automation.windows if in_window(w, now)), None)
    if inside is not None:
        return Allowed(True, f"inside the automation window ({inside.label})")
    opening = next_opening(automation, now)
    labels = "; ".join(w.label for w in automation.windows)
    return Allowed(
        False,
        f"outside the automation window ({labels}){_when(opening, now, automation)}",
        opening,
    )


def freeze_at(freezes: list[Freeze], now: datetime) -> Freeze | None:
    """The freeze holding at ``now`` (the one ending last, when several overlap)."""
    holding = [f for f in freezes if f.starts <= now < f.ends]
    return max(holding, key=lambda f: f.ends) if holding else None


def in_window(window: Window, now: datetime) -> bool:
    local = now.astimezone(window.zone)
    start, end = window.span
    clock, day = local.time().replace(tzinfo=None), local.weekday()
    if end is None or end > start:  # within one day
        return day in window.weekdays and start <= clock and (end is None or clock < end)
    return (day in window.weekdays and clock >= start) or (
        (day - 1) % 7 in window.weekdays and clock < end
    )


def window_opening(window: Window, after: datetime) -> datetime | None:
    """The first start of ``window`` after ``after`` within :data:`HORIZON` (UTC)."""
    zone, (start, _) = window.zone, window.span
    first = after.astimezone(zone).date()
    for offset in range(HORIZON.days + 2):
        day = first + timedelta(days=offset)
        if day.weekday() not in window.weekdays:
            continue
        # a start in a DST gap (02:30 on the spring-forward day) is the instant after it
        opening = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        if after < opening <= after + HORIZON:
            return opening
    return None


def next_opening(automation: Automation, after: datetime) -> datetime | None:
    """The first moment at or after ``after`` when automation may advance, within
    :data:`HORIZON` of it: out of every freeze, inside a window (if there are any)."""
    moment, limit = after, after + HORIZON
    while moment <= limit:
        frozen = freeze_at(automation.freeze, moment)
        if frozen is not None:
            moment = frozen.ends
            continue
        if not automation.windows or any(in_window(w, moment) for w in automation.windows):
            return moment
        openings = [o for w in automation.windows if (o := window_opening(w, moment))]
        if not openings:
            return None
        moment = min(openings)
    return None


def _when(opening: datetime | None, now: datetime, automation: Automation) -> str:
    """``; next opening Mon 09:00 (in 14h 3m)``, in the opening window's zone (UTC when
    only a freeze ends)."""
    if opening is None:
        return f"; no opening within {HORIZON.days} days"
    window = next((w for w in automation.windows if in_window(w, opening)), None)
    local = opening.astimezone(window.zone if window is not None else UTC)
    shape = "%a %H:%M" if opening - now < timedelta(days=6) else "%a %Y-%m-%d %H:%M"
    stamp = local.strftime(shape) + ("" if window is not None else " UTC")
    return f"; next opening {stamp} (in {format_duration(opening - now)})"
