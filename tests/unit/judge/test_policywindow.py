"""When the plan's policy lets automation advance: windows (days, hours, time zone, DST),
freezes (which win over windows) and the next opening, with exact values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rolloutcli.judge.policywindow import Allowed, allowed, in_window, next_opening
from rolloutcli.plan.model import Automation
from rolloutcli.plan.policy import Window, parse_days, parse_hours, slug


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def policy(**fields: Any) -> Automation:
    return Automation.model_validate(fields)


BERLIN_OFFICE = {"days": "mon-fri", "hours": "09:00-17:00", "timezone": "Europe/Berlin"}


def test_days_and_hours_parse() -> None:
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("fri-mon") == (0, 4, 5, 6)
    assert parse_days(["sat", "Sunday"]) == (5, 6)
    assert parse_days("mon,wed") == (0, 2)
    assert parse_hours("22:00-06:00")[0].hour == 22
    assert parse_hours("00:00-24:00")[1] is None
    for bad in ("9-17", "25:00-26:00", "09:00-09:00", "09:60-10:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)
    with pytest.raises(ValueError, match="not a day"):
        parse_days("mon-xyz")


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        ("2026-12-07T07:59:59", False),  # Mon 08:59:59 in Berlin (CET, UTC+1)
        ("2026-12-07T08:00:00", True),  # Mon 09:00 opens
        ("2026-12-07T15:59:59", True),
        ("2026-12-07T16:00:00", False),  # 17:00 closes (the end is exclusive)
        ("2026-12-05T10:00:00", False),  # Saturday
        ("2026-07-06T07:00:00", True),  # Mon 09:00 in summer (CEST, UTC+2)
        ("2026-07-06T15:00:00", False),  # 17:00 CEST
    ],
)
def test_weekday_and_hour_boundaries(moment: str, open_: bool) -> None:
    assert in_window(Window.model_validate(BERLIN_OFFICE), utc(moment)) is open_


def test_an_overnight_range_belongs_to_the_day_it_starts_on() -> None:
    night = Window.model_validate({"days": "fri", "hours": "22:00-06:00"})
    assert in_window(night, utc("2026-12-04T22:00:00"))  # Fri 22:00
    assert in_window(night, utc("2026-12-05T05:59:00"))  # Sat 05:59, still Friday's night
    assert not in_window(night, utc("2026-12-05T06:00:00"))
    assert not in_window(night, utc("2026-12-05T22:30:00"))  # Saturday's own night: no
    assert not in_window(night, utc("2026-12-04T05:00:00"))  # Fri morning is Thursday's


def test_outside_names_the_window_and_the_next_opening() -> None:
    result = allowed(policy(windows=[BERLIN_OFFICE]), utc("2026-12-06T18:00:00"))  # Sun 19:00
    assert result == Allowed(
        False,
        "outside the automation window (mon-fri 09:00-17:00 Europe/Berlin); "
        "next opening Mon 09:00 (in 14h)",
        utc("2026-12-07T08:00:00"),
    )
    assert result.kind == "closed"


def test_inside_and_no_windows_are_open() -> None:
    inside = allowed(policy(windows=[BERLIN_OFFICE]), utc("2026-12-07T10:00:00"))
    assert inside == Allowed(
        True, "inside the automation window (mon-fri 09:00-17:00 Europe/Berlin)"
    )
    assert allowed(policy(), utc("2026-12-06T03:00:00")) == Allowed(
        True, "no automation windows: any time"
    )


def test_a_freeze_wins_over_a_window_and_the_opening_follows_it() -> None:
    rules = policy(
        windows=[BERLIN_OFFICE],
        freeze=[
            {"from": "2026-12-24T00:00:00+01:00", "to": "2026-12-27T00:00:00+01:00",
             "reason": "holiday freeze"},
        ],
    )  # fmt: skip
    result = allowed(rules, utc("2026-12-24T10:00:00"))  # Thursday, inside office hours
    assert result.kind == "freeze" and result.freeze is not None
    assert result.reason == (
        "freeze until 2026-12-26T23:00:00Z: holiday freeze; next opening Mon 09:00 (in 3d 22h)"
    )
    assert result.next_opening == utc("2026-12-28T08:00:00")
    # without windows, the freeze's end is the opening
    alone = policy(freeze=[{"from": "2026-12-24T00:00:00Z", "to": "2026-12-27T00:00:00Z"}])
    assert allowed(alone, utc("2026-12-26T12:00:00")).reason == (
        "freeze until 2026-12-27T00:00:00Z; next opening Sun 00:00 UTC (in 12h)"
    )
    assert allowed(alone, utc("2026-12-27T00:00:00")).ok  # the end is exclusive


def test_chained_freezes_are_crossed() -> None:
    rules = policy(
        freeze=[
            {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"},
            {"from": "2026-12-02T00:00:00Z", "to": "2026-12-03T06:00:00Z"},
        ]
    )
    assert next_opening(rules, utc("2026-12-01T12:00:00")) == utc("2026-12-03T06:00:00")


def test_dst_spring_forward_in_berlin_keeps_the_wall_clock() -> None:
    early = {"days": "sun", "hours": "02:30-04:00", "timezone": "Europe/Berlin"}
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist, the window opens
    # at the instant after the gap (01:00Z = 03:00 CEST) and runs to 04:00 CEST (02:00Z)
    assert next_opening(policy(windows=[early]), utc("2026-03-28T12:00:00")) == utc(
        "2026-03-29T01:30:00"
    )
    assert in_window(Window.model_validate(early), utc("2026-03-29T01:45:00"))
    assert not in_window(Window.model_validate(early), utc("2026-03-29T02:00:00"))


def test_dst_fall_back_in_new_york() -> None:
    office = {"days": "mon-fri", "hours": "09:00-17:00", "timezone": "America/New_York"}
    # Friday 2026-10-30 09:00 EDT is 13:00Z; Monday 2026-11-02 09:00 EST is 14:00Z
    assert next_opening(policy(windows=[office]), utc("2026-10-30T12:00:00")) == utc(
        "2026-10-30T13:00:00"
    )
    assert next_opening(policy(windows=[office]), utc("2026-10-31T12:00:00")) == utc(
        "2026-11-02T14:00:00"
    )
    assert not in_window(Window.model_validate(office), utc("2026-11-02T13:30:00"))


def test_a_long_freeze_opens_at_its_end() -> None:
    rules = policy(freeze=[{"from": "2026-12-01T00:00:00Z", "to": "2027-01-31T00:00:00Z"}])
    result = allowed(rules, utc("2026-12-10T00:00:00"))
    assert result.next_opening == utc("2027-01-31T00:00:00")
    assert result.reason == (
        "freeze until 2027-01-31T00:00:00Z; next opening Sun 2027-01-31 00:00 UTC (in 52d)"
    )


def test_no_opening_within_fourteen_days_of_the_freeze_end() -> None:
    rules = policy(
        freeze=[
            {"from": "2026-12-01T00:00:00Z", "to": "2026-12-20T00:00:00Z"},
            {"from": "2026-12-20T00:00:00Z", "to": "2027-01-31T00:00:00Z"},
        ]
    )
    result = allowed(rules, utc("2026-12-10T00:00:00"))
    assert result.next_opening is None
    assert result.reason == "freeze until 2026-12-20T00:00:00Z; no opening within 14 days"


def test_several_windows_open_at_the_first_of_them() -> None:
    rules = policy(
        windows=[BERLIN_OFFICE, {"days": "sat", "hours": "10:00-12:00", "timezone": "UTC"}]
    )
    result = allowed(rules, utc("2026-12-04T20:00:00"))  # Friday evening
    assert result.next_opening == utc("2026-12-05T10:00:00")
    assert result.reason.endswith("; next opening Sat 10:00 (in 14h)")


def test_checklist_ids_are_slugs() -> None:
    assert slug("No unresolved incidents!") == "no-unresolved-incidents"
    assert slug("???") == "item"
