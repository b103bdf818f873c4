"""`rollout report` reads which guardrails caused a decision from the decision record's
verdict (issue 23); a record is a file anyone may edit, so what is not as the JSON contract
writes it is left out, never an error."""

from __future__ import annotations

from typing import Any

import pytest

from rolloutcli.app.report import recorded_breaches


def test_breached_guardrails_and_segments_are_read_from_the_verdict() -> None:
    raw = {
        "verdict": {
            "metrics": [
                {"name": "error_rate", "status": "rollback", "breached_segment": "eu-west"},
                {"name": "latency", "status": "pause", "breached_segment": None},
                {"name": "conversion", "status": "warn"},
                {"name": "checkout", "status": "ok"},
            ]
        }
    }
    assert recorded_breaches(raw) == (("error_rate", "latency"), (("error_rate", "eu-west"),))


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {},
        {"verdict": None},
        {"verdict": "rollback"},
        {"verdict": {"metrics": {"name": "x"}}},
        {"verdict": {"metrics": ["x", 3, None, {"status": "rollback"}, {"name": 7}]}},
    ],
)
def test_a_record_not_as_the_contract_writes_it_names_no_cause(raw: Any) -> None:
    assert recorded_breaches(raw) == ((), ())


def test_a_decision_carries_no_control_character_from_its_record() -> None:
    from datetime import UTC, datetime

    from rolloutcli.app.report import decision_of
    from rolloutcli.journal.record import HistoryEntry

    entry = HistoryEntry(
        at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        source="record",
        event="pause",
        who="mallory\x1b[2J",
        stage="25%",
        percent_before=25.0,
        percent_after=25.0,
        verdict=None,
        result="applied",
        detail="errors up\nforged: line",
    )
    decision = decision_of(entry)
    assert decision.who == "'mallory\\x1b[2J'"
    assert decision.why == "errors up\\nforged: line"
    assert (decision.event, decision.stage) == ("pause", "25%")


def test_looks_are_evenly_spaced_and_one_second_before_each_decision() -> None:
    """A rollback's breach lasts until the rollback: a look just before it sees the tier
    that fired, which evenly spaced looks often step over. A decision at the span's start
    (nothing before it to see) or after the report's moment adds no look."""
    from datetime import UTC, datetime

    from rolloutcli.app.report import look_times
    from rolloutcli.judge.retrospective import Decision

    def at(minute: int, second: int = 0) -> datetime:
        return datetime(2026, 11, 2, 10, minute, second, tzinfo=UTC)

    decisions = tuple(
        Decision(when, "rollback", None, "", None, 0.0) for when in (at(0), at(7, 30), at(30))
    )
    assert look_times(at(0), at(20), 5, decisions) == [
        at(0),
        at(5),
        at(7, 29),
        at(10),
        at(15),
    ]
