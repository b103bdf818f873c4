"""The decision: (plan, rollout state, metric observations, now) → Verdict. Pure, no I/O.

The verdict is the first of :data:`RULES`, in order, that has something to say:

1. ``_stopped``: the lifecycle (:mod:`lifecycle`) is ``killed`` → ``hold`` (the flag is
   off: a person turns it back on, not the tool); ``rolled_back`` → ``hold``, saying when and
   why, until a person restarts it (``advance --restart`` decides with ``restart``);
2. ``_not_started``: 0%, no audience, not paused → ``go`` to the first stage (even on a flag
   that is off: starting turns it on), or ``hold`` while a ``requires:`` flag is unmet;
3. ``_rollback_tier``: a rollback tier breached → ``rollback`` (a pause mark never stops
   it);
4. ``_pause_tier``: a pause tier breached → ``pause`` (saying what a guardrail's knob
   action sets, :mod:`knobs`), or ``rollback`` when that knob is at the last value its
   action tries and its ``then`` is rollback;
5. ``_paused``: the pause mark is set (``rollout pause``, or an earlier pause verdict under
   ``watch --auto``) → ``hold`` with a ``paused`` reason: a person's hold on advancing is not
   a guardrail's pause tier, and it holds whatever the data says; ``_unexcluded``: the
   platform lacks the plan's ``exclude:`` (removed by hand) → ``hold`` with an
   ``exclusion_missing`` reason, since the treatment may reach users it must never reach;
   ``_prerequisites``: a ``requires:`` flag off, missing or below its share → ``hold`` with a
   ``prerequisite_unmet`` reason each (after the tiers: a rollback or pause never waits);
6. ``_untrusted``: sample-ratio mismatch, missing or untrustworthy data (impossible values,
   series with gaps: :mod:`dataquality`) or too few samples → ``hold`` (never ``go``);
7. ``_window``: the stage's minimum window not elapsed → ``hold``, saying when to look again;
8. ``_success_criteria`` not met → ``hold``;
9. ``_power_gate``: a power-gated stage whose guardrails cannot yet rule out their
   ``detect:`` regression → ``hold``, with the expected time at the observed traffic;
10. ``_advance``: otherwise ``go`` to the next stage, or ``done`` at the last one.

A warn-tier breach never blocks on its own: it is reported with the verdict.

The rules say why in typed :class:`~rolloutcli.judge.reasons.Reason` objects, not in words:
:mod:`~rolloutcli.judge.messages` holds the sentences.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from rolloutcli.judge import reasons as because
from rolloutcli.judge import segments
from rolloutcli.judge.evidence import assess, gate_wait
from rolloutcli.judge.exclusion import missing_exclusion
from rolloutcli.judge.findings import (
    STATUS_BAD_DATA,
    STATUS_NO_DATA,
    Finding,
    Status,
    coverage_gaps,
    doubted,
    evaluate_guardrail,
    tier_p_values,
)
from rolloutcli.judge.flagstate import FlagState, KnobReading
from rolloutcli.judge.knobs import respond
from rolloutcli.judge.lifecycle import Lifecycle, Phase, derive
from rolloutcli.judge.multiplicity import familywise_levels
from rolloutcli.judge.observations import Exposures, Observation
from rolloutcli.judge.position import Position
from rolloutcli.judge.prerequisites import PrerequisiteCheck, unmet
from rolloutcli.judge.reasons import Reason
from rolloutcli.plan.model import (
    MeanGuardrail,
    Plan,
    RatioGuardrail,
    Stage,
    Statistics,
    SuccessCriterion,
)
from rolloutcli.plan.thresholds import parse_bound
from rolloutcli.stats import fixed as stats
from rolloutcli.stats import sequential
from rolloutcli.stats.direction import Direction


class VerdictKind(StrEnum):
    GO = "go"
    HOLD = "hold"
    PAUSE = "pause"
    ROLLBACK = "rollback"
    DONE = "done"


@dataclass(frozen=True)
class SrmFinding:
    checked: bool
    treatment: float | None
    control: float | None
    expected_share: float | None
    observed_share: float | None
    p_value: float | None
    mismatch: bool
    note: str | None


@dataclass(frozen=True)
class CriterionFinding:
    metric: str
    requirement: str
    met: bool
    note: str | None


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    reasons: tuple[Reason, ...]  # worded by rolloutcli.judge.messages
    findings: tuple[Finding, ...]
    srm: SrmFinding
    success: tuple[CriterionFinding, ...]
    position: Position
    from_percent: float
    to_percent: float | None  # the split a `go` moves to
    look_again_at: datetime | None
    elapsed: timedelta | None


def decide(
    plan: Plan,
    state: FlagState,
    position: Position,
    observations: dict[str, Observation],
    exposures: Exposures | None,
    now: datetime,
    exposures_problem: str | None = None,
    explain: bool = True,
    *,
    lifecycle: Lifecycle | None = None,
    name: str | None = None,
    restart: bool = False,
    prerequisites: tuple[PrerequisiteCheck, ...] = (),
    knobs: Mapping[str, KnobReading] | None = None,
) -> Verdict:
    """The verdict: the first of :data:`RULES` that has something to say. ``explain=False``
    skips what only the display needs (the always-valid confidence bounds); the decision is
    the same. ``lifecycle`` is the rollout's (derived from ``state`` alone when not given:
    no history, so no rollback is seen); ``name`` the plan's, for the next command a reason
    names; ``restart`` a person restarting a rolled-back rollout (``advance --restart``);
    ``prerequisites`` the plan's ``requires:`` as judged against the flags read
    (:func:`~rolloutcli.judge.prerequisites.check_prerequisites`);
    ``knobs`` the live values of the plan's knobs, by name (a pause tier may tune one)."""
    stages = plan.stages
    control_expected = state.percent < 100
    split = None if state.audience_keys or state.audience_segment else state.percent / 100
    findings = _judge(plan, observations, control_expected, explain, split)
    facts = _Facts(
        plan=plan,
        state=state,
        position=position,
        observations=observations,
        exposures=exposures,
        exposures_problem=exposures_problem,
        now=now,
        findings=findings,
        srm=_srm(state, exposures, exposures_problem, plan.statistics),
        elapsed=position.stage_elapsed(now),
        stage=stages[position.index] if position.index is not None else None,
        next_percent=(
            stages[position.next_index].percent if position.next_index is not None else None
        ),
        control_expected=control_expected,
        lifecycle=lifecycle if lifecycle is not None else derive(plan, state, (), position),
        name=name,
        restart=restart,
        prerequisites=prerequisites,
        knobs=knobs or {},
    )
    outcome = next(found for rule in RULES if (found := rule(facts)) is not None)
    warnings = [
        because.warning(f) for f in findings if f.status is Status.WARN and f.reached is not None
    ]
    return Verdict(
        kind=outcome.kind,
        reasons=tuple(outcome.reasons + warnings),
        findings=findings,
        srm=facts.srm,
        success=outcome.success,
        position=position,
        from_percent=state.percent,
        to_percent=facts.next_percent if outcome.kind is VerdictKind.GO else None,
        look_again_at=outcome.look,
        elapsed=facts.elapsed,
    )


@dataclass(frozen=True)
class _Facts:
    """Everything a rule may read: the inputs, and the findings and SRM judged from them."""

    plan: Plan
    state: FlagState
    position: Position
    observations: dict[str, Observation]
    exposures: Exposures | None
    exposures_problem: str | None
    now: datetime
    findings: tuple[Finding, ...]
    srm: SrmFinding
    elapsed: timedelta | None
    stage: Stage | None
    next_percent: float | None
    control_expected: bool
    lifecycle: Lifecycle
    name: str | None = None
    restart: bool = False
    prerequisites: tuple[PrerequisiteCheck, ...] = ()
    knobs: Mapping[str, KnobReading] = field(default_factory=dict)

    def unmet_prerequisites(self) -> list[Reason]:
        return [
            because.prerequisite_unmet(c.flag, c.state, c.needs) for c in unmet(self.prerequisites)
        ]

    def off_plan(self) -> list[Reason]:
        if not self.position.off_plan:
            return []
        return [because.off_plan(self.state.percent, self.next_percent)]

    @functools.cached_property
    def success(self) -> tuple[CriterionFinding, ...]:
        return tuple(
            _criterion(c, self.plan, self.observations, self.control_expected)
            for c in self.plan.success
        )


@dataclass(frozen=True)
class _Outcome:
    kind: VerdictKind
    reasons: list[Reason]
    look: datetime | None = None
    success: tuple[CriterionFinding, ...] = ()


def _stopped(f: _Facts) -> _Outcome | None:
    """Killed or rolled back: a person lifts it, never the verdict."""
    lc = f.lifecycle
    if lc.phase is Phase.KILLED:
        return _Outcome(VerdictKind.HOLD, [because.flag_off(lc.at, lc.by, f.name)])
    if lc.phase is Phase.ROLLED_BACK and not f.restart:
        reason = because.rolled_back(lc.at, lc.by, lc.from_stage, lc.from_percent, lc.why, f.name)
        return _Outcome(VerdictKind.HOLD, [reason])
    return None


def _not_started(f: _Facts) -> _Outcome | None:
    """Nobody is served the treatment, so starting is safe even on a flag that is off (a
    new Unleash flag is off in its environments): the change turns it on. Not while a
    pause mark holds it (``_paused`` says so)."""
    if not f.position.not_started or f.state.paused is not None:
        return None
    first = f.plan.stages[0].label
    if waiting := f.unmet_prerequisites():
        return _Outcome(VerdictKind.HOLD, [*waiting, because.not_started(first, f.state.on)])
    return _Outcome(VerdictKind.GO, [because.not_started(first, f.state.on)])


def _paused(f: _Facts) -> _Outcome | None:
    mark = f.state.paused
    if mark is None:
        return None
    reason = because.paused(mark.at, mark.by, mark.reason, f.name)
    return _Outcome(VerdictKind.HOLD, [reason, *f.off_plan()])


def _unexcluded(f: _Facts) -> _Outcome | None:
    what = missing_exclusion(f.plan, f.state)
    if what is None:
        return None
    return _Outcome(VerdictKind.HOLD, [because.exclusion_missing(what, f.name), *f.off_plan()])


def _prerequisites(f: _Facts) -> _Outcome | None:
    """At the last stage there is nothing left to advance: ``done`` stands."""
    if f.position.at_last_stage:
        return None
    waiting = f.unmet_prerequisites()
    return _Outcome(VerdictKind.HOLD, [*waiting, *f.off_plan()]) if waiting else None


def _rollback_tier(f: _Facts) -> _Outcome | None:
    return _tier_reached(f, Status.ROLLBACK, VerdictKind.ROLLBACK)


def _pause_tier(f: _Facts) -> _Outcome | None:
    """A pause tier reached: ``pause``, saying what the guardrails' knob actions set
    (:mod:`~rolloutcli.judge.knobs`); a knob at the last value its action tries, with
    ``then: rollback``, makes it ``rollback``."""
    found = [x for x in f.findings if x.status is Status.PAUSE]
    if not found:
        return None
    reasons = [because.breach(x) for x in found]
    response = respond(f.plan, found, f.knobs)
    used = response.rollback
    if used is not None:
        return _Outcome(VerdictKind.ROLLBACK, [*reasons, because.knob_used_up(used)])
    if response.step is not None:
        reasons.append(because.knob(response.step))
    reasons.extend(because.knob_used_up(u) for u in response.used_up)
    return _Outcome(VerdictKind.PAUSE, reasons)


def _tier_reached(f: _Facts, status: Status, kind: VerdictKind) -> _Outcome | None:
    found = [x for x in f.findings if x.status is status]
    return _Outcome(kind, [because.breach(x) for x in found]) if found else None


def _untrusted(f: _Facts) -> _Outcome | None:
    """Sample-ratio mismatch, missing or untrustworthy data, too few samples: hold."""
    holds: list[Reason] = []
    srm = f.srm
    if srm.mismatch:
        holds.append(
            because.sample_ratio_mismatch(srm.observed_share, srm.expected_share, srm.p_value)
        )
    for x in f.findings:
        if x.status == STATUS_NO_DATA and x.blocking:
            holds.append(because.no_data(x))
        elif x.status == STATUS_BAD_DATA:
            holds.append(because.bad_data(x))
    holds += _exposure_holds(f)
    return _Outcome(VerdictKind.HOLD, holds + f.off_plan()) if holds else None


def _exposure_holds(f: _Facts) -> list[Reason]:
    exposures = f.exposures
    holds: list[Reason] = []
    if f.exposures_problem:
        holds.append(because.exposures_unavailable(f.exposures_problem))
    elif exposures is not None:
        settings = f.plan.statistics
        gaps = coverage_gaps(exposures.coverage, settings.min_coverage, f.control_expected)
        if gaps:
            holds.append(because.exposures_untrusted(gaps))
    if exposures is None:
        return holds
    needed = f.stage.min_samples if f.stage else 0
    short = tuple(
        (name, size)
        for name, size in (("treatment", exposures.treatment), ("control", exposures.control))
        if needed and size < needed and not (name == "control" and not f.control_expected)
    )
    if short:
        holds.append(because.too_few_samples(short, needed))
    return holds


def _window(f: _Facts) -> _Outcome | None:
    window = f.stage.window if f.stage else timedelta(0)
    if f.elapsed is None or f.elapsed >= window:
        return None
    left = window - f.elapsed
    return _Outcome(VerdictKind.HOLD, [because.window(f.elapsed, window)], f.now + left)


def _success_criteria(f: _Facts) -> _Outcome | None:
    success = f.success
    unmet = [c for c in success if not c.met]
    if not unmet:
        return None
    reasons = [because.success_unmet(c.metric, c.requirement, c.note) for c in unmet]
    return _Outcome(VerdictKind.HOLD, reasons, success=success)


def _power_gate(f: _Facts) -> _Outcome | None:
    """The last stage with a control holds until every detect: regression is ruled out."""
    plan, index = f.plan, f.position.index
    if index is None or not plan.power_gated(index) or not f.control_expected:
        return None
    pending = [
        (x, _eta(plan, x, f.observations, f.elapsed)) for x in f.findings if x.ruled_out is False
    ]
    if not pending:
        return None
    reasons = [
        because.power_pending(x, plan.statistics.power, _worse_side(x, plan), eta)
        for x, eta in pending
    ]
    etas = [eta for _, eta in pending if eta is not None]
    look = f.now + max(etas) if etas and len(etas) == len(pending) else None
    reasons.append(because.power_gated())
    return _Outcome(VerdictKind.HOLD, reasons, look, success=f.success)


def _advance(f: _Facts) -> _Outcome | None:
    if f.position.at_last_stage:
        label = f.stage.label if f.stage else ""
        return _Outcome(VerdictKind.DONE, [because.complete(label)], success=f.success)
    assert f.next_percent is not None
    reason = because.advance(f.state.percent, f.next_percent)
    return _Outcome(VerdictKind.GO, [reason, *f.off_plan()], success=f.success)


Rule = Callable[[_Facts], "_Outcome | None"]

RULES: tuple[Rule, ...] = (
    _stopped,
    _not_started,
    _rollback_tier,
    _pause_tier,
    _paused,
    _unexcluded,
    _prerequisites,
    _untrusted,
    _window,
    _success_criteria,
    _power_gate,
    _advance,
)
"""The verdict's rules, in order (the module notes say each in words); the last always
answers."""


def _judge(
    plan: Plan,
    observations: dict[str, Observation],
    control_expected: bool,
    explain: bool,
    split: float | None = None,
) -> tuple[Finding, ...]:
    """Every guardrail's finding; ``split`` is the planned treatment share (None on an
    audience stage), for the sample-ratio check of each segment."""
    settings = plan.statistics

    def obs_of(name: str) -> Observation:
        return observations.get(name) or Observation(name, None, None, problem="not queried")

    if settings.method == "fixed":
        return tuple(
            evaluate_guardrail(g, obs_of(g.name), settings, control_expected)
            for g in plan.guardrails
        )
    beta = 1 - settings.power
    assessments = {
        g.name: None
        if obs_of(g.name).problem
        else assess(g, obs_of(g.name), beta, control_expected)
        for g in plan.guardrails
    }
    parts = {
        g.name: segments.prepare(
            g, obs_of(g.name), beta, control_expected, _split_check(plan, g, split)
        )
        for g in plan.guardrails
    }
    levels = familywise_levels(
        {
            g.name: segments.family(g, tier_p_values(g, assessments[g.name]), parts[g.name])
            for g in plan.guardrails
        },
        settings.alpha,
        settings.correction,
    )
    return tuple(
        doubted(
            segments.judged(
                g,
                obs_of(g.name),
                settings,
                control_expected,
                assessments[g.name],
                levels.get(g.name, {}),
                parts[g.name],
                explain,
            ),
            obs_of(g.name),
            settings,
            control_expected,
        )
        for g in plan.guardrails
    )


def _split_check(
    plan: Plan, g: RatioGuardrail | MeanGuardrail, split: float | None
) -> tuple[float, float] | None:
    """(planned share, level) for the per-segment sample-ratio check: only where the
    guardrail's trials are the plan's exposures (so they are counted per segment)."""
    if split is None or not 0 < split < 1 or not isinstance(g, RatioGuardrail):
        return None
    if g.trials != plan.exposure_metric:
        return None
    return split, plan.statistics.srm_alpha


def _eta(
    plan: Plan, f: Finding, observations: dict[str, Observation], elapsed: timedelta | None
) -> timedelta | None:
    """Median time until ``f``'s detect: regression is ruled out with no true effect, at the
    traffic of the current stage (:func:`evidence.gate_wait`)."""
    guardrail, obs = plan.guardrail(f.name), observations.get(f.name)
    step = plan.statistics.step
    if guardrail is None or obs is None:
        return None
    recent = max(1, math.ceil(elapsed / step)) if elapsed is not None else 10**9
    wait = gate_wait(guardrail, obs, 1 - plan.statistics.power, recent)
    if wait is None or not math.isfinite(wait):
        return None
    seconds = math.ceil(wait) * step.total_seconds()
    if seconds > LONGEST_ETA.total_seconds():
        return None  # a trickle of traffic: no time worth showing (nor a timedelta overflow)
    return timedelta(seconds=seconds) or step


LONGEST_ETA = timedelta(days=3650)
"""Beyond this the power gate's hold shows no ETA: it is not a time anyone will wait."""


def _worse_side(f: Finding, plan: Plan) -> Direction:
    """Which way ``f``'s guardrail gets worse (higher, when the plan no longer names it):
    the side whose always-valid bound a power-gate hold shows."""
    guardrail = plan.guardrail(f.name)
    return Direction.HIGHER_IS_WORSE if guardrail is None else guardrail.direction


def _srm(
    state: FlagState, exposures: Exposures | None, problem: str | None, settings: Statistics
) -> SrmFinding:
    share = state.percent / 100
    if state.audience_keys or state.audience_segment:
        return SrmFinding(
            False,
            None,
            None,
            None,
            None,
            None,
            False,
            "not checked: an audience stage has no fixed planned split",
        )
    if exposures is None:
        return SrmFinding(
            False, None, None, share, None, None, False, problem or "no exposure counts"
        )
    if not 0 < share < 1:
        return SrmFinding(
            False,
            exposures.treatment,
            exposures.control,
            share,
            None,
            None,
            False,
            "not checked: one cohort is planned empty",
        )
    if settings.method == "sequential" and len(exposures.treatment_series):
        ev = sequential.split_evidence(exposures.treatment_series, exposures.control_series, share)
        t_all, c_all = exposures.treatment, exposures.control
        return SrmFinding(
            True,
            t_all,
            c_all,
            share,
            t_all / (t_all + c_all) if t_all + c_all > 0 else None,
            ev.p_value,
            ev.rejects(settings.srm_alpha),
            None,
        )
    result = stats.sample_ratio_mismatch(
        round(exposures.treatment), round(exposures.control), share
    )
    return SrmFinding(
        True,
        exposures.treatment,
        exposures.control,
        share,
        result.observed_share,
        result.p_value,
        result.mismatch,
        None,
    )


def _criterion(
    c: SuccessCriterion, plan: Plan, observations: dict[str, Observation], control_expected: bool
) -> CriterionFinding:
    guardrail = plan.guardrail(c.metric)
    assert guardrail is not None  # validated
    at_least = c.at_least is not None
    text = str(c.at_least if at_least else c.at_most)
    requirement = f"{'at least' if at_least else 'at most'} {text}"
    bound = parse_bound(text, guardrail.unit, guardrail.is_ratio)
    obs = observations.get(c.metric)
    t = obs.treatment.value if obs and obs.treatment else None
    ctrl = obs.control.value if obs and obs.control else None
    if t is None:
        return CriterionFinding(c.metric, requirement, False, "no treatment data")
    if bound.needs_control and ctrl is None:
        if not control_expected:
            return CriterionFinding(c.metric, requirement, True, "no control at 100%: not judged")
        return CriterionFinding(c.metric, requirement, False, "no control data")
    limit = bound.limit(ctrl)
    assert limit is not None
    met = t >= limit if at_least else t <= limit
    return CriterionFinding(c.metric, requirement, met, f"treatment {t:.4g}, bound {limit:.4g}")
