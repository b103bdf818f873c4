"""The verdict's reasons: typed codes and facts, worded in one place (judge/messages.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rolloutcli.judge import reasons as because
from rolloutcli.judge.findings import Finding, Status
from rolloutcli.judge.knobs import KnobStep, UsedUp
from rolloutcli.judge.messages import MESSAGES, codes, first_sentence, sentences, text
from rolloutcli.judge.reasons import Reason, ReasonCode
from rolloutcli.stats.direction import Direction

FINDING = Finding(
    name="error_rate",
    kind="ratio",
    status=Status.ROLLBACK,
    control=0.01,
    treatment=0.025,
    relative_change=1.5,
    p_value=0.000123,
    test="sequential",
    threshold="rollback 2x",
    limit=0.02,
    control_size=180_000,
    treatment_size=20_000,
    note="no rows in the window",
    query="errors / requests",
    detect="+50%",
    ci_low=-0.2,
    ci_high=0.7,
)

EXAMPLES: dict[ReasonCode, Reason] = {
    ReasonCode.NOT_STARTED: because.not_started("1%", flag_on=False),
    ReasonCode.FLAG_OFF: because.flag_off(plan="co"),
    ReasonCode.ROLLED_BACK: because.rolled_back(
        datetime(2026, 11, 2, 12, 30, tzinfo=UTC), "ana", "10%", 10.0, "p99 breached", "co"
    ),
    ReasonCode.PAUSED: because.paused(None, "ana", "waiting for the launch", "co"),
    ReasonCode.EXCLUSION_MISSING: because.exclusion_missing("2 excluded keys (vip-1, vip-2)", "co"),
    ReasonCode.PREREQUISITE_UNMET: because.prerequisite_unmet(
        "payments-core", "is at 50%", "at least 100%"
    ),
    ReasonCode.BREACH: because.breach(FINDING),
    ReasonCode.SAMPLE_RATIO_MISMATCH: because.sample_ratio_mismatch(0.0512, 0.1, 1.2e-9),
    ReasonCode.NO_DATA: because.no_data(FINDING),
    ReasonCode.BAD_DATA: because.bad_data(FINDING),
    ReasonCode.EXPOSURES_UNAVAILABLE: because.exposures_unavailable(
        "no exposure counts: the plan names no exposures counter"
    ),
    ReasonCode.EXPOSURES_UNTRUSTED: because.exposures_untrusted("requests (control) has gaps"),
    ReasonCode.TOO_FEW_SAMPLES: because.too_few_samples(
        (("treatment", 500.0), ("control", 812.4)), 1000
    ),
    ReasonCode.WINDOW: because.window(timedelta(minutes=40), timedelta(hours=1)),
    ReasonCode.SUCCESS_UNMET: because.success_unmet(
        "latency", "at most -5%", "treatment 200, bound 190"
    ),
    ReasonCode.POWER_PENDING: because.power_pending(
        FINDING, 0.8, Direction.HIGHER_IS_WORSE, timedelta(hours=2)
    ),
    ReasonCode.POWER_GATED: because.power_gated(),
    ReasonCode.COMPLETE: because.complete("100%"),
    ReasonCode.ADVANCE: because.advance(10, 25),
    ReasonCode.OFF_PLAN: because.off_plan(7, 10),
    ReasonCode.WARNING: because.warning(replace(FINDING, status=Status.WARN)),
    ReasonCode.KNOB: because.knob(
        KnobStep("min_confidence", "min-confidence", 0.7, 0.8, "fpr", "pause +50%")
    ),
    ReasonCode.KNOB_USED_UP: because.knob_used_up(
        UsedUp("min_confidence", 0.9, "fpr", "pause +50%", "rollback")
    ),
}


def test_every_code_has_a_message() -> None:
    assert set(MESSAGES) == set(ReasonCode)
    for code in ReasonCode:
        reason = EXAMPLES[code]
        assert reason.code is code
        sentence = text(reason)
        assert sentence and sentence == sentence.strip() and "\n" not in sentence


def test_codes_are_stable_snake_case_names() -> None:
    for code in ReasonCode:
        assert code.value == code.name.lower()


@pytest.mark.parametrize(
    ("code", "sentence"),
    [
        (
            ReasonCode.NOT_STARTED,
            "rollout not started: the first stage is 1% (the flag is off: starting turns it on)",
        ),
        (
            ReasonCode.FLAG_OFF,
            "the flag is off (killed): nothing to advance; turn it back on deliberately: "
            "rollout unkill co",
        ),
        (
            ReasonCode.ROLLED_BACK,
            "rolled back from 10% at 2026-11-02T12:30:00Z by ana: p99 breached; nothing "
            "advances until a person restarts it: rollout advance co --restart",
        ),
        (
            ReasonCode.PAUSED,
            "paused by ana (waiting for the launch): nothing advances until rollout resume co",
        ),
        (
            ReasonCode.EXCLUSION_MISSING,
            "the flag lacks the plan's exclusion (2 excluded keys (vip-1, vip-2) no longer get "
            "the control): the treatment may reach them; put it back on the platform, or "
            "rollout rollback co (every change rolloutcli writes carries it)",
        ),
        (
            ReasonCode.PREREQUISITE_UNMET,
            "prerequisite payments-core is at 50%, needs at least 100%: nothing advances "
            "until it does (rollback, reduce, pause and kill still act)",
        ),
        (
            ReasonCode.BREACH,
            "error_rate breached rollback 2x: treatment 0.025 vs control 0.01 (+150.0%), "
            "p = 0.000123",
        ),
        (
            ReasonCode.SAMPLE_RATIO_MISMATCH,
            "sample-ratio mismatch: treatment has 5.120% of exposures, planned 10.000% "
            "(p = 1.2e-09); the split or the metrics are broken, so the comparison cannot "
            "be trusted",
        ),
        (ReasonCode.NO_DATA, "no data for error_rate: no rows in the window"),
        (
            ReasonCode.TOO_FEW_SAMPLES,
            "too few samples: treatment 500, control 812 of 1,000 needed per cohort",
        ),
        (ReasonCode.WINDOW, "observation window: 40m of 1h elapsed; look again in 20m"),
        (
            ReasonCode.SUCCESS_UNMET,
            "success criterion not met: latency at most -5% (treatment 200, bound 190)",
        ),
        (
            ReasonCode.POWER_PENDING,
            "error_rate: a +50% regression is not ruled out yet at 80% confidence "
            "(upper bound +70.0%); about 2h more at this traffic",
        ),
        (ReasonCode.COMPLETE, "at the last stage (100%) and healthy: the rollout is complete"),
        (
            ReasonCode.ADVANCE,
            "all guardrails within thresholds; window and samples met: advance 10% → 25%",
        ),
        (
            ReasonCode.OFF_PLAN,
            "7% is off-plan (set by hand?): no stage has it; a go moves to 10%",
        ),
    ],
)
def test_exact_sentences(code: ReasonCode, sentence: str) -> None:
    assert text(EXAMPLES[code]) == sentence


def test_power_pending_quotes_the_lower_bound_when_lower_is_worse() -> None:
    reason = because.power_pending(FINDING, 0.9, Direction.LOWER_IS_WORSE, None)
    assert text(reason).endswith("at 90% confidence (lower bound -20.0%)")


def test_sentences_and_codes_keep_the_order() -> None:
    reasons = (EXAMPLES[ReasonCode.WINDOW], EXAMPLES[ReasonCode.OFF_PLAN])
    assert codes(reasons) == ("window", "off_plan")
    assert sentences(reasons) == tuple(text(r) for r in reasons)
    assert first_sentence(reasons) == text(EXAMPLES[ReasonCode.WINDOW])
    assert first_sentence(()) == "no reason given"


def test_a_reason_holds_facts_not_prose() -> None:
    reason = EXAMPLES[ReasonCode.WINDOW]
    assert (reason.elapsed, reason.window, reason.wait) == (
        timedelta(minutes=40),
        timedelta(hours=1),
        timedelta(minutes=20),
    )
    assert reason.detail is None
