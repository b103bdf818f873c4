"""Why a verdict is what it is, as typed facts: a :class:`ReasonCode` and the values its
sentence needs (the finding, names, numbers, durations), never the sentence itself.

The rules in :mod:`~rolloutcli.judge.verdict` build these with the constructors below; the
words live in :mod:`~rolloutcli.judge.messages`, and every surface (the console, the JSON
contract, markdown, decision records, notifications) renders them from there. A script reads
the codes (``reason_codes`` in ``check --json``) and never parses the sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from rolloutcli.stats.direction import Direction

if TYPE_CHECKING:  # types only: the findings module imports the statistics
    from rolloutcli.judge.findings import Finding
    from rolloutcli.judge.knobs import KnobStep, UsedUp


class ReasonCode(StrEnum):
    """What a reason is about; its value is the stable name scripts branch on."""

    NOT_STARTED = "not_started"  # 0%: a go starts the first stage
    FLAG_OFF = "flag_off"  # the flag is off (killed)
    ROLLED_BACK = "rolled_back"  # a rollback stands: a person restarts it
    PAUSED = "paused"  # the pause mark is set: rollout resume lets it advance
    EXCLUSION_MISSING = "exclusion_missing"  # the platform lacks the plan's exclude:
    PREREQUISITE_UNMET = "prerequisite_unmet"  # a requires: flag is off, missing or below
    BREACH = "breach"  # a guardrail reached its pause or rollback tier
    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
    NO_DATA = "no_data"  # a guardrail has no data to judge
    BAD_DATA = "bad_data"  # a guardrail's data cannot be trusted
    EXPOSURES_UNAVAILABLE = "exposures_unavailable"  # exposure counts could not be read
    EXPOSURES_UNTRUSTED = "exposures_untrusted"  # exposure series with gaps
    TOO_FEW_SAMPLES = "too_few_samples"
    WINDOW = "window"  # the stage's minimum window has not elapsed
    SUCCESS_UNMET = "success_unmet"  # a success criterion not met
    POWER_PENDING = "power_pending"  # a guardrail's detect: regression not ruled out yet
    POWER_GATED = "power_gated"  # the stage holds until every such regression is ruled out
    COMPLETE = "complete"  # at the last stage and healthy
    ADVANCE = "advance"  # healthy: a go to the next stage
    OFF_PLAN = "off_plan"  # the live split is no stage's
    WARNING = "warning"  # a guardrail past its warn tier (never blocks on its own)
    KNOB = "knob"  # a pause tier tunes a knob: what it sets
    KNOB_USED_UP = "knob_used_up"  # a pause tier's knob is at its last value: then ...


@dataclass(frozen=True)
class Reason:
    """One reason of a verdict: its code and the facts its sentence is made of. Each code
    fills the fields its constructor below takes; the others keep their defaults."""

    code: ReasonCode
    finding: Finding | None = None  # breach, no_data, bad_data, power_pending, warning
    name: str | None = None  # a stage's label (not_started, complete), a criterion's metric
    detail: str | None = None  # words met elsewhere and quoted: a data problem, a note
    requirement: str | None = None  # success_unmet: "at least +1%"
    flag_on: bool = True  # not_started
    percent: float | None = None  # advance, off_plan: the live split
    next_percent: float | None = None  # advance, off_plan: the split a go moves to
    observed_share: float | None = None  # sample_ratio_mismatch
    expected_share: float | None = None
    p_value: float | None = None
    short: tuple[tuple[str, float], ...] = ()  # too_few_samples: (cohort, size) below needed
    needed: int = 0  # too_few_samples: per cohort
    elapsed: timedelta | None = None  # window
    window: timedelta | None = None
    wait: timedelta | None = None  # window: time left; power_pending: the expected wait
    confidence: float | None = None  # power_pending: the plan's power
    direction: Direction = Direction.HIGHER_IS_WORSE  # power_pending: the worse side
    at: datetime | None = None  # flag_off, rolled_back, paused: when it happened
    who: str | None = None  # flag_off, rolled_back, paused: who did it, where known
    plan: str | None = None  # flag_off, rolled_back, paused: the plan name the next command takes
    knob: KnobStep | UsedUp | None = None  # knob, knob_used_up


def not_started(first_stage: str, flag_on: bool) -> Reason:
    return Reason(ReasonCode.NOT_STARTED, name=first_stage, flag_on=flag_on)


def flag_off(at: datetime | None = None, who: str | None = None, plan: str | None = None) -> Reason:
    return Reason(ReasonCode.FLAG_OFF, at=at, who=who, plan=plan)


def rolled_back(
    at: datetime | None,
    who: str | None,
    stage: str | None,
    percent: float | None,
    why: str | None,
    plan: str | None,
) -> Reason:
    """A standing rollback: when, by whom, from which stage (``name``) and share, and why
    (``detail``)."""
    return Reason(
        ReasonCode.ROLLED_BACK,
        at=at,
        who=who,
        name=stage,
        percent=percent,
        detail=why,
        plan=plan,
    )


def paused(at: datetime | None, who: str | None, why: str | None, plan: str | None) -> Reason:
    return Reason(ReasonCode.PAUSED, at=at, who=who, detail=why, plan=plan)


def exclusion_missing(what: str, plan: str | None) -> Reason:
    return Reason(ReasonCode.EXCLUSION_MISSING, detail=what, plan=plan)


def prerequisite_unmet(flag: str, state: str, needs: str) -> Reason:
    """A ``requires:`` flag (``name``) as read (``detail``: ``is at 50%``) and what the plan
    needs of it (``requirement``: ``at least 100%``)."""
    return Reason(ReasonCode.PREREQUISITE_UNMET, name=flag, detail=state, requirement=needs)


def breach(finding: Finding) -> Reason:
    return Reason(ReasonCode.BREACH, finding=finding)


def sample_ratio_mismatch(
    observed_share: float | None, expected_share: float | None, p_value: float | None
) -> Reason:
    return Reason(
        ReasonCode.SAMPLE_RATIO_MISMATCH,
        observed_share=observed_share,
        expected_share=expected_share,
        p_value=p_value,
    )


def no_data(finding: Finding) -> Reason:
    return Reason(ReasonCode.NO_DATA, finding=finding)


def bad_data(finding: Finding) -> Reason:
    return Reason(ReasonCode.BAD_DATA, finding=finding)


def exposures_unavailable(problem: str) -> Reason:
    """The exposure counts could not be used; ``problem`` is the whole sentence of the code
    that met it (the evaluation that queried the counts)."""
    return Reason(ReasonCode.EXPOSURES_UNAVAILABLE, detail=problem)


def exposures_untrusted(gap: str) -> Reason:
    return Reason(ReasonCode.EXPOSURES_UNTRUSTED, detail=gap)


def too_few_samples(short: tuple[tuple[str, float], ...], needed: int) -> Reason:
    return Reason(ReasonCode.TOO_FEW_SAMPLES, short=short, needed=needed)


def window(elapsed: timedelta, window: timedelta) -> Reason:
    return Reason(ReasonCode.WINDOW, elapsed=elapsed, window=window, wait=window - elapsed)


def success_unmet(metric: str, requirement: str, note: str | None) -> Reason:
    return Reason(ReasonCode.SUCCESS_UNMET, name=metric, requirement=requirement, detail=note)


def power_pending(
    finding: Finding, confidence: float, direction: Direction, wait: timedelta | None
) -> Reason:
    return Reason(
        ReasonCode.POWER_PENDING,
        finding=finding,
        confidence=confidence,
        direction=direction,
        wait=wait,
    )


def power_gated() -> Reason:
    return Reason(ReasonCode.POWER_GATED)


def complete(last_stage: str) -> Reason:
    return Reason(ReasonCode.COMPLETE, name=last_stage)


def advance(percent: float, next_percent: float) -> Reason:
    return Reason(ReasonCode.ADVANCE, percent=percent, next_percent=next_percent)


def off_plan(percent: float, next_percent: float | None) -> Reason:
    return Reason(ReasonCode.OFF_PLAN, percent=percent, next_percent=next_percent)


def warning(finding: Finding) -> Reason:
    return Reason(ReasonCode.WARNING, finding=finding)


def knob(step: KnobStep) -> Reason:
    return Reason(ReasonCode.KNOB, knob=step)


def knob_used_up(used: UsedUp) -> Reason:
    return Reason(ReasonCode.KNOB_USED_UP, knob=used)
