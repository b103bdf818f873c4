"""What `rollout report` marks on its charts (issue 23): every decision, a knob change
among them, with who, why and the segment its recorded verdict found breached."""

from __future__ import annotations

from datetime import UTC, datetime

from rolloutcli.judge.retrospective import Decision
from rolloutcli.render.charts import DECISION_COLORS, Mark
from rolloutcli.render.reportview import decision_marks

AT = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)


def test_a_knob_change_and_a_segment_rollback_are_marked_with_who_and_why() -> None:
    knob = Decision(AT, "knob", "watch", "confidence_threshold 0.8 -> 0.9", "25%", 25.0)
    back = Decision(
        AT.replace(minute=50),
        "rollback",
        "watch",
        "error_rate breached rollback 2x",
        "25%",
        0.0,
        "rolled_back",
        ("error_rate",),
        (("error_rate", "eu-west"),),
    )
    assert decision_marks((knob, back)) == [
        Mark(AT, "knob", "knob by watch at 2026-11-02T10:30:00Z (at 25%): "
             "confidence_threshold 0.8 -> 0.9"),
        Mark(
            AT.replace(minute=50),
            "rollback",
            "rollback by watch at 2026-11-02T10:50:00Z (at 25%): error_rate breached "
            "rollback 2x · error_rate breached in segment eu-west",
        ),
    ]  # fmt: skip
    assert DECISION_COLORS["knob"] != DECISION_COLORS["advance"]
