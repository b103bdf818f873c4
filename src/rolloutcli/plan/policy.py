"""When automation may move a rollout (``automation.windows``, ``automation.freeze``) and
what a person confirms at a gate (``stages[].checklist``): the plan's shape of them.

What they mean at a given moment is :mod:`rolloutcli.judge.policywindow`'s.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from rolloutcli.plan.fields import Name, PlanModel, Short, Text

MAX_WINDOWS = 50
MAX_FREEZES = 100
MAX_CHECKLIST = 30

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as written in a plan, in ``datetime.weekday()`` order."""

_HOURS = re.compile(r"^\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*$")


def parse_days(value: str | list[str]) -> tuple[int, ...]:
    """``mon-fri``, ``sat,sun``, ``[mon, wed]`` → sorted weekday numbers (Monday 0); a range
    may wrap (``fri-mon``). Raises ValueError naming the day names."""
    parts = value if isinstance(value, list) else value.split(",")
    if not parts:
        raise ValueError("no days: name at least one (mon-fri, [sat, sun])")
    days: set[int] = set()
    for part in parts:
        ends = [d.strip().lower()[:3] for d in str(part).split("-")]
        if len(ends) > 2 or any(d not in DAYS for d in ends) or not part.strip():
            raise ValueError(
                f"{part!r} is not a day or day range: use {', '.join(DAYS)} or a range (mon-fri)"
            )
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return tuple(sorted(days))


def parse_hours(value: str) -> tuple[time, time | None]:
    """``09:00-17:00`` → (09:00, 17:00); the end ``24:00`` is None (midnight after). An end
    at or before the start means overnight (``22:00-06:00``). Raises ValueError."""
    match = _HOURS.match(value)
    bad = ValueError(f"{value!r} is not an hours range: HH:MM-HH:MM (09:00-17:00, 22:00-06:00)")
    if match is None:
        raise bad
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise bad
    start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
    if end == start:
        raise ValueError(f"{value!r} is empty: the start and the end are the same time")
    return start, end


class Window(PlanModel):
    """Days and hours, in a time zone, when ``watch --auto`` may advance or start."""

    days: Short | list[Short] = Field(
        "mon-sun", description="Days: mon-fri, 'sat,sun' or a list [mon, wed] (default every day)."
    )
    hours: Short = Field(
        "00:00-24:00",
        description="Hours HH:MM-HH:MM, local time; an end before the start runs overnight "
        "(22:00-06:00).",
    )
    timezone: Short = Field("UTC", description="An IANA time zone: Europe/Berlin, UTC.")

    @field_validator("days")
    @classmethod
    def _days_parse(cls, value: str | list[str]) -> str | list[str]:
        parse_days(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known time zone: use an IANA name (Europe/Berlin, UTC)"
            ) from None
        return value

    @property
    def weekdays(self) -> tuple[int, ...]:
        return parse_days(self.days)

    @property
    def span(self) -> tuple[time, time | None]:
        return parse_hours(self.hours)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def label(self) -> str:
        days = self.days if isinstance(self.days, str) else ",".join(self.days)
        return f"{days} {self.hours} {self.timezone}"


def _moment(value: Any) -> Any:
    """A freeze bound: an ISO date-time with its offset (YAML may have built it already)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date and time: 2026-12-24T00:00:00+01:00"
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError(f"{value} has no time: give one with its offset (T00:00:00+01:00)")
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no offset: add one (Z, +01:00)")
    return value


Moment = Annotated[datetime, BeforeValidator(_moment)]


class Freeze(PlanModel):
    """A period when ``watch --auto`` advances nothing (rollback and kill still act)."""

    starts: Moment = Field(alias="from", description="Start, with offset: 2026-12-20T00:00Z.")
    ends: Moment = Field(alias="to", description="End (exclusive), with offset.")
    reason: Text | None = Field(None, description="Why; shown while the freeze holds.")

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.ends <= self.starts:
            raise ValueError("'to' must be after 'from'")
        return self


def slug(text: str) -> str:
    """An id from a question: ``No unresolved incidents`` → ``no-unresolved-incidents``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "item"


class ChecklistItem(PlanModel):
    """A question a person answers before the rollout enters the stage."""

    id: Name | None = Field(None, description="How --checked names it (default: from ask).")
    ask: Text = Field(description="The question, answered yes or no.")

    @property
    def key(self) -> str:
        return self.id or slug(self.ask)


def checklist_items(raw: list[str | ChecklistItem]) -> list[ChecklistItem]:
    """A stage's checklist with every plain string made an item (its id a slug of it)."""
    return [ChecklistItem(ask=item) if isinstance(item, str) else item for item in raw]
