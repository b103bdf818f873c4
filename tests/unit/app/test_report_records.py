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
