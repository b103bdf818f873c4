"""`rollout report --all` (issue 23): the retrospectives of several rollouts summed per
guardrail across plans, per hold cause, over rollbacks and stages: exact counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rolloutcli.judge.retrospective import Decision, Look, retrospect
from rolloutcli.judge.summary import GuardrailTally, PlanTally, summarise
from rolloutcli.plan.model import Plan

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def plan(*guardrails: str) -> Plan:
    return Plan.model_validate(
        {
            "flag": "f",
            "platform": {"kind": "flagfile", "path": "flags.json"},
            "variations": {"treatment": True, "control": False},
            "stages": [{"percent": 5, "min_duration": "30m"}, {"percent": 100}],
            "metrics": {"source": {"kind": "file", "path": "m.csv"}, "exposures": "requests"},
            "guardrails": [
                {
                    "name": name,
                    "kind": "ratio",
                    "events": name,
                    "trials": "requests",
                    "thresholds": {"warn": "+20%", "pause": "+50%", "rollback": "2x"},
                }
                for name in guardrails
            ],
        }
    )


def move(minute: int, event: str, stage: str | None, *causes: str, step: str | None = None):
    return Decision(minutes(minute), event, "alice", event, stage, None, step, causes)


def look(minute: int, verdict: str, reasons: tuple[str, ...] = (), **statuses: str) -> Look:
    return Look(minutes(minute), verdict, reasons, tuple(statuses.items()))


def tallies() -> list[PlanTally]:
    # a: errors cries wolf: rolled back, restarted, and the restart went on
    a = retrospect(
        plan("errors", "latency"),
        [
            move(0, "advance", "5%"),
            move(20, "rollback", None, "errors"),
            move(40, "restart", "5%", step="restarted"),
            move(80, "advance", "100%"),
        ],
        [
            look(0, "hold", ("window",), errors="ok", latency="ok"),
            look(20, "rollback", errors="rollback", latency="warn"),
            look(40, "hold", ("no_data",), errors="no_data", latency="no_data"),
            look(80, "go", errors="ok", latency="ok"),
        ],
        minutes(100),
    )
    # b: errors pauses it once; latency is not in this plan; conversion never fires
    b = retrospect(
        plan("errors", "conversion"),
        [move(0, "advance", "5%"), move(10, "pause", "5%", "errors")],
        [
            look(0, "hold", ("window",), errors="ok", conversion="ok"),
            look(10, "pause", errors="pause", conversion="ok"),
            look(20, "hold", ("paused", "window"), errors="warn", conversion="ok"),
        ],
        minutes(60),
    )
    return [PlanTally("a", "done", a), PlanTally("b", "hold", b)]


def test_guardrails_are_summed_by_name_across_the_plans_that_have_them() -> None:
    summary = summarise(tallies())
    assert summary.guardrails == (
        GuardrailTally(
            "errors",
            ("a", "b"),
            7,
            (("warn", 1), ("pause", 1), ("rollback", 1)),
            ("a", "b"),
            paused=1,
            rolled_back=1,
            recovered=1,
        ),
        GuardrailTally("latency", ("a",), 4, (("warn", 1), ("pause", 0), ("rollback", 0)), ("a",)),
        GuardrailTally("conversion", ("b",), 3, (("warn", 0), ("pause", 0), ("rollback", 0)), ()),
    )
    assert [g.never_fired for g in summary.guardrails] == [False, False, True]


def test_holds_rollbacks_and_stages_are_totalled() -> None:
    summary = summarise(tallies())
    assert summary.looks == 7
    assert summary.holds == (("window", 3), ("no_data", 1), ("paused", 1))
    assert (summary.pauses, summary.rollbacks, summary.restarted, summary.recovered) == (
        1,
        1,
        1,
        1,
    )
    # a: 5% (0-20, left early of 30m), 5% again (40-80, 40m: longer), 100% (ongoing);
    # b: 5% (ongoing)
    assert (summary.stages, summary.left_early, summary.overran) == (4, 1, 1)


def test_no_plans_sum_to_nothing() -> None:
    summary = summarise([])
    assert (summary.guardrails, summary.holds, summary.looks, summary.stages) == ((), (), 0, 0)
