"""The decision: (plan, rollout state, metric observations, now) → Verdict. Pure, no I/O.

Rules, in order:
1. the flag is off → ``hold`` (a killed rollout is resumed by a person, not by the tool);
2. not started (0%, no audience) → ``go`` to the first stage;
3. a rollback tier breached → ``rollback``;
4. a pause tier breached → ``pause``;
5. sample-ratio mismatch, missing or untrustworthy data (impossible values, series with
   gaps: :mod:`dataquality`) or too few samples → ``hold`` (never ``go``);
6. the stage's minimum window not elapsed → ``hold``, saying when to look again;
7. success criteria not met → ``hold``;
8. a power-gated stage whose guardrails cannot yet rule out their ``detect:`` regression →
   ``hold``, with the expected time at the observed traffic;
9. otherwise ``go`` to the next stage, or ``done`` at the last one.
A warn-tier breach never blocks on its own: it is reported with the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rolloutcli.judge.evidence import assess, gate_wait
from rolloutcli.judge.findings import (
    STATUS_BAD_DATA,
    STATUS_NO_DATA,
    Finding,
    Status,
    coverage_gaps,
    doubted,
    evaluate_guardrail,
    evaluate_sequential,
    tier_p_values,
)
from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.multiplicity import familywise_levels
from rolloutcli.judge.observations import Exposures, Observation
from rolloutcli.judge.position import Position
from rolloutcli.plan.model import Plan, Statistics, SuccessCriterion
from rolloutcli.plan.thresholds import parse_bound
from rolloutcli.stats import fixed as stats
from rolloutcli.stats import sequential
from rolloutcli.stats.direction import Direction
from rolloutcli.support.durations import format_duration


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
    reasons: tuple[str, ...]
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
) -> Verdict:
    """The verdict. ``explain=False`` skips what only the display needs (the always-valid
    confidence bounds); the decision is the same."""
    stages = plan.stages
    elapsed = now - state.changed_at if state.changed_at else None
    next_percent = stages[position.next_index].percent if position.next_index is not None else None
    stage = stages[position.index] if position.index is not None else None
    control_expected = state.percent < 100

    findings = _judge(plan, observations, control_expected, explain)
    srm = _srm(state, exposures, exposures_problem, plan.statistics)

    def verdict(
        kind: VerdictKind,
        reasons: list[str],
        look: datetime | None = None,
        success: tuple[CriterionFinding, ...] = (),
    ) -> Verdict:
        warnings = [
            f"warning: {f.name} {_describe(f)} is past warn {f.reached.raw}"
            for f in findings
            if f.status is Status.WARN and f.reached is not None
        ]
        return Verdict(
            kind=kind,
            reasons=tuple(reasons + warnings),
            findings=findings,
            srm=srm,
            success=success,
            position=position,
            from_percent=state.percent,
            to_percent=next_percent if kind is VerdictKind.GO else None,
            look_again_at=look,
            elapsed=elapsed,
        )

    if position.not_started:
        # Nobody is served the treatment, so starting is safe even on a flag that is off
        # (a new Unleash flag is off in its environments): the change turns it on.
        return verdict(
            VerdictKind.GO,
            [
                f"rollout not started: the first stage is {stages[0].label}"
                + ("" if state.on else " (the flag is off: starting turns it on)")
            ],
        )
    if not state.on:
        return verdict(
            VerdictKind.HOLD,
            ["the flag is off (killed): nothing to advance; turn it back on deliberately"],
        )

    breached = {tier: [f for f in findings if f.status == tier] for tier in ("rollback", "pause")}
    if breached["rollback"]:
        return verdict(VerdictKind.ROLLBACK, [_breach_reason(f) for f in breached["rollback"]])
    if breached["pause"]:
        return verdict(VerdictKind.PAUSE, [_breach_reason(f) for f in breached["pause"]])

    off_plan: list[str] = []
    if position.off_plan:
        off_plan.append(
            f"{state.percent:g}% is off-plan (set by hand?): no stage has it"
            + (f"; a go moves to {next_percent:g}%" if next_percent is not None else "")
        )
    holds: list[str] = []
    if srm.mismatch:
        holds.append(
            f"sample-ratio mismatch: treatment has {srm.observed_share:.3%} of exposures, "
            f"planned {srm.expected_share:.3%} (p = {srm.p_value:.2g}); the split or the "
            "metrics are broken, so the comparison cannot be trusted"
        )
    for f in findings:
        if f.status == STATUS_NO_DATA and f.blocking:
            holds.append(f"no data for {f.name}: {f.note}")
        elif f.status == STATUS_BAD_DATA:
            holds.append(f"untrustworthy data for {f.name}: {f.note}")
    if exposures_problem:
        holds.append(exposures_problem)
    elif exposures is not None:
        gaps = coverage_gaps(exposures.coverage, plan.statistics.min_coverage, control_expected)
        if gaps:
            holds.append(f"exposure counts cannot be trusted: {gaps}")
    min_samples = stage.min_samples if stage else 0
    if exposures is not None and min_samples:
        short = [
            (name, size)
            for name, size in (("treatment", exposures.treatment), ("control", exposures.control))
            if size < min_samples and not (name == "control" and not control_expected)
        ]
        if short:
            listing = ", ".join(f"{name} {size:,.0f}" for name, size in short)
            holds.append(f"too few samples: {listing} of {min_samples:,} needed per cohort")
    if holds:
        return verdict(VerdictKind.HOLD, holds + off_plan)

    window = stage.window if stage else timedelta(0)
    if elapsed is not None and elapsed < window:
        left = window - elapsed
        look = now + left
        return verdict(
            VerdictKind.HOLD,
            [
                f"observation window: {format_duration(elapsed)} of {format_duration(window)} "
                f"elapsed; look again in {format_duration(left)}"
            ],
            look,
        )

    success = tuple(_criterion(c, plan, observations, control_expected) for c in plan.success)
    unmet = [c for c in success if not c.met]
    if unmet:
        return verdict(
            VerdictKind.HOLD,
            [f"success criterion not met: {c.metric} {c.requirement} ({c.note})" for c in unmet],
            success=success,
        )

    if position.index is not None and plan.power_gated(position.index) and control_expected:
        pending = [
            (f, _eta(plan, f, observations, elapsed)) for f in findings if f.ruled_out is False
        ]
        if pending:
            reasons = [
                f"{f.name}: a {f.detect} regression is not ruled out yet at "
                f"{plan.statistics.power:.0%} confidence"
                + _worse_bound(f, plan)
                + (f"; about {format_duration(eta)} more at this traffic" if eta else "")
                for f, eta in pending
            ]
            etas = [eta for _, eta in pending if eta is not None]
            gate_look = now + max(etas) if etas and len(etas) == len(pending) else None
            reasons.append(
                "this stage is power-gated: the rollout moves on once it could have "
                "detected each guardrail's detect: regression"
            )
            return verdict(VerdictKind.HOLD, reasons, gate_look, success=success)

    if position.at_last_stage:
        return verdict(
            VerdictKind.DONE,
            [
                f"at the last stage ({stage.label if stage else ''}) "
                "and healthy: the rollout is complete"
            ],
            success=success,
        )
    assert next_percent is not None
    reasons = [
        f"all guardrails within thresholds; window and samples met: advance "
        f"{state.percent:g}% → {next_percent:g}%"
    ]
    return verdict(VerdictKind.GO, reasons + off_plan, success=success)


def _judge(
    plan: Plan, observations: dict[str, Observation], control_expected: bool, explain: bool
) -> tuple[Finding, ...]:
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
    levels = familywise_levels(
        {g.name: tier_p_values(g, assessments[g.name]) for g in plan.guardrails},
        settings.alpha,
        settings.correction,
    )
    return tuple(
        doubted(
            evaluate_sequential(
                g,
                obs_of(g.name),
                settings,
                control_expected,
                assessments[g.name],
                levels.get(g.name, {}),
                explain,
            ),
            obs_of(g.name),
            settings,
            control_expected,
        )
        for g in plan.guardrails
    )


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
    if wait is None:
        return None
    return timedelta(seconds=math.ceil(wait) * step.total_seconds()) or step


def _worse_bound(f: Finding, plan: Plan) -> str:
    """The always-valid bound on the worse side (upper for higher_is_worse), if shown."""
    guardrail = plan.guardrail(f.name)
    worse_up = guardrail is None or guardrail.direction is Direction.HIGHER_IS_WORSE
    value = f.ci_high if worse_up else f.ci_low
    if value is None:
        return ""
    shown = f"{value:+.1%}" if f.ci_relative else f"{value:+.4g}"
    return f" ({'upper' if worse_up else 'lower'} bound {shown})"


def _describe(f: Finding) -> str:
    if f.relative_change is not None:
        return f"{f.relative_change:+.1%} vs control"
    return f"at {f.treatment:.4g}" if f.treatment is not None else ""


def _breach_reason(f: Finding) -> str:
    values = f"treatment {_fmt(f.treatment)} vs control {_fmt(f.control)}"
    change = f" ({f.relative_change:+.1%})" if f.relative_change is not None else ""
    p = f", p = {f.p_value:.3g}" if f.p_value is not None else ""
    return f"{f.name} breached {f.threshold}: {values}{change}{p}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


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
