"""The retrospective of `rollout report` (issue 23): time per stage against its window, tiers
fired, hold causes, rollbacks and whether a restart advanced again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rolloutcli.judge.retrospective import (
    Decision,
    Look,
    Rollback,
    StageTime,
    hold_causes,
    retrospect,
    rollbacks,
    stage_times,
    tiers_fired,
)
from rolloutcli.plan.model import Plan

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def plan() -> Plan:
    return Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [
                {"name": "canary", "percent": 5, "min_duration": "30m"},
                {"percent": 25, "min_duration": "1h"},
                {"percent": 100},
            ],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
            "guardrails": [
                {
                    "name": name,
                    "kind": "ratio",
                    "events": name,
                    "trials": "requests",
                    "thresholds": {"warn": "+20%", "pause": "+50%", "rollback": "2x"},
                }
                for name in ("errors", "timeouts")
            ],
        }
    )


def decision(
    minute: int, event: str, stage: str | None = None, step: str | None = None
) -> Decision:
    percents = {"canary": 5.0, "25%": 25.0, "100%": 100.0}
    percent = 0.0 if event == "rollback" else percents.get(stage or "")
    return Decision(minutes(minute), event, "alice", f"why {event}", stage, percent, step)


def look(minute: int, verdict: str, reasons: tuple[str, ...] = (), **statuses: str) -> Look:
    return Look(minutes(minute), verdict, reasons, tuple(statuses.items()))


def test_each_stage_lasts_until_the_next_split_move_against_its_planned_window() -> None:
    decisions = [
        decision(0, "advance", "canary"),
        decision(20, "pause", "canary"),  # not a split move: the stage goes on
        decision(45, "advance", "25%"),
        decision(70, "rollback"),
        decision(100, "restart", "canary", step="restarted"),
    ]
    assert stage_times(plan(), decisions, minutes(130)) == (
        StageTime("canary", minutes(0), minutes(45), timedelta(minutes=45), timedelta(minutes=30)),
        StageTime("25%", minutes(45), minutes(70), timedelta(minutes=25), timedelta(hours=1)),
        StageTime("canary", minutes(100), None, timedelta(minutes=30), timedelta(minutes=30)),
    )
    short = [s.short for s in stage_times(plan(), decisions, minutes(130))]
    assert short == [False, True, False]  # the 25% stage was left (rolled back) early


def test_tiers_fired_count_looks_per_guardrail_with_zeros_kept() -> None:
    looks = [
        look(0, "go", errors="ok", timeouts="ok"),
        look(10, "go", errors="warn", timeouts="ok"),
        look(20, "pause", errors="pause", timeouts="warn"),
        look(30, "rollback", errors="rollback", timeouts="no_data"),
    ]
    assert tiers_fired(plan(), looks) == (
        ("errors", (("warn", 1), ("pause", 1), ("rollback", 1))),
        ("timeouts", (("warn", 1), ("pause", 0), ("rollback", 0))),
    )


def test_hold_causes_are_counted_per_look_most_frequent_first() -> None:
    looks = [
        look(0, "hold", ("window", "too_few_samples")),
        look(10, "hold", ("window",)),
        look(20, "hold", ("no_data", "no_data")),  # one look: counted once
        look(30, "go", ("advance",)),
        look(40, "hold", ("sample_ratio_mismatch",)),
    ]
    assert hold_causes(looks) == (
        ("window", 2),
        ("no_data", 1),
        ("sample_ratio_mismatch", 1),
        ("too_few_samples", 1),
    )


def test_a_rollback_recovers_when_a_restart_is_followed_by_an_advance() -> None:
    decisions = [
        decision(0, "advance", "canary"),
        decision(30, "rollback"),
        decision(60, "restart", "canary", step="restarted"),
        decision(90, "advance", "25%"),
        decision(120, "rollback"),
        decision(150, "restart", "canary", step="restarted"),
    ]
    assert rollbacks(decisions) == (
        Rollback(minutes(30), "alice", "why rollback", minutes(60), True),
        Rollback(minutes(120), "alice", "why rollback", minutes(150), False),
    )


def test_a_rollback_never_restarted_stands() -> None:
    decisions = [decision(0, "advance", "canary"), decision(30, "rollback")]
    assert rollbacks(decisions) == (Rollback(minutes(30), "alice", "why rollback", None, False),)


def test_retrospect_puts_it_together() -> None:
    decisions = [decision(0, "advance", "canary"), decision(10, "pause", "canary")]
    looks = [look(0, "hold", ("window",), errors="ok"), look(10, "pause", errors="pause")]
    retro = retrospect(plan(), decisions, looks, minutes(40))
    assert retro.looks == 2
    assert retro.pauses == 1
    assert retro.holds == (("window", 1),)
    assert retro.rollbacks == ()
    assert retro.stages == (
        StageTime("canary", minutes(0), None, timedelta(minutes=40), timedelta(minutes=30)),
    )


def test_caused_counts_the_decisions_whose_verdict_names_the_guardrail() -> None:
    def caused_by(minute: int, event: str, *causes: str, step: str | None = None) -> Decision:
        stage = None if event in ("rollback",) else "canary"
        return Decision(minutes(minute), event, "bot", "", stage, None, step, causes)

    decisions = [
        caused_by(0, "advance"),
        caused_by(10, "pause", "errors"),
        caused_by(20, "resume"),
        caused_by(30, "rollback", "errors", "timeouts"),
        caused_by(60, "restart", step="restarted"),
        caused_by(90, "advance"),
        caused_by(120, "rollback", "timeouts"),
    ]
    retro = retrospect(plan(), decisions, [], minutes(130))
    assert retro.caused == (("errors", 1, 1, 1), ("timeouts", 0, 2, 1))
