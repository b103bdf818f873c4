"""How the LaunchDarkly adapter reads its own audit-log notes back: a reduce, like an advance
or a rollback, names the share it set, so the recorded stage survives it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rolloutcli.platforms.changenote import format_title
from rolloutcli.platforms.launchdarkly import _record

AT_MS = 1_793_620_800_000  # 2026-11-02T12:00:00Z


def entry(action: str, percent: float, stage: str) -> dict[str, object]:
    note = format_title("checkout-v2", stage, percent, action, "why")
    return {"date": AT_MS, "comment": note, "accesses": [{"action": "updateFallthrough"}]}


@pytest.mark.parametrize(
    ("action", "percent", "stage"),
    [("advance", 25.0, "25%"), ("rollback", 0.0, "0%"), ("reduce", 10.0, "10%")],
)
def test_a_split_note_names_the_share_it_set(action: str, percent: float, stage: str) -> None:
    record = _record(entry(action, percent, stage), "checkout-v2", "production", 50.0)
    assert record is not None
    assert (record.at, record.action, record.percent_after, record.stage) == (
        datetime(2026, 11, 2, 12, tzinfo=UTC),
        action,
        percent,
        stage,
    )


def test_another_note_sets_no_share() -> None:
    record = _record(entry("kill", 0.0, "0%"), "checkout-v2", "production", 50.0)
    assert record is not None
    assert (record.action, record.percent_after) == ("kill", None)
