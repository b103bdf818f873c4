"""One guardrail's finding: its values, its test, and the tier it reached (pure).

A tier is reached when the treatment crosses one of its thresholds; for a tier listed under
the guardrail's ``significant:``, the difference must also be significant at the plan's
alpha: for thresholds relative to control, the one-sided test that treatment is worse than
control; for absolute limits, the one-sided test that treatment is beyond the limit.
Tiers are checked from the most severe down, so a rollback breach that is not significant
can still be a pause or a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from rolloutcli.judge.dataquality import coverage_problem
from rolloutcli.judge.evidence import Assessment, bounds, guard_factor, guard_points
from rolloutcli.judge.multiplicity import GUARD
from rolloutcli.judge.observations import (
    CohortData,
    MeanData,
    Observation,
    RatioData,
    SeriesCoverage,
)
from rolloutcli.plan.fields import TIERS, Tier
from rolloutcli.plan.model import MeanGuardrail, RatioGuardrail, Statistics
from rolloutcli.plan.thresholds import Threshold, points_text
from rolloutcli.stats import fixed as stats
from rolloutcli.stats import unitratio
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.dispersion import Dispersion


class Status(StrEnum):
    """What a guardrail's finding says: healthy, a tier reached, or no data to judge."""

    OK = "ok"
    WARN = "warn"
    PAUSE = "pause"
    ROLLBACK = "rollback"
    NO_DATA = "no_data"
    BAD_DATA = "bad_data"

    @staticmethod
    def of(tier: Tier) -> Status:
        return Status(tier)


STATUS_OK = Status.OK
STATUS_NO_DATA = Status.NO_DATA
STATUS_BAD_DATA = Status.BAD_DATA
HOLDING = (Status.NO_DATA, Status.BAD_DATA)
"""Statuses that hold the rollout (when blocking): data missing, or data not to be trusted."""


@dataclass(frozen=True)
class Finding:
    name: str
    kind: str
    status: Status
    control: float | None
    treatment: float | None
    relative_change: float | None
    p_value: float | None
    test: str | None
    threshold: str | None  # as written: the threshold reached with its tier, or every tier's
    limit: float | None  # the value the reached threshold stands at
    control_size: float | None
    treatment_size: float | None
    note: str | None
    query: str
    blocking: bool = True  # no_data that does not hold the rollout (no control at 100%)
    # sequential method only:
    e_value: float | None = None  # largest evidence against the reached (or nearest) tier
    alpha: float | None = None  # the level that evidence was held to, after correction
    ci_low: float | None = None  # always-valid bounds on the effect at that level
    ci_high: float | None = None
    ci_relative: bool = True  # bounds are relative changes (else differences in metric units)
    ruled_out: bool | None = None  # the detect: regression is ruled out (None: no detect:)
    detect: str | None = None
    information: float | None = None
    information_needed: float | None = None
    dispersion: Dispersion | None = None  # ratio: how the split of events clusters
    reached: Threshold | None = None  # the threshold whose tier is the status, if one is
    points_change: float | None = None  # a guardrail in points (+2pp): treatment - control, pp
    per_point: float | None = None  # a guardrail in points: one point in the metric's units
    # segments: (judge.segments) one finding per segment, named by its label's value
    segments: tuple[Finding, ...] = ()
    segment_by: str | None = None  # the label the segments are grouped by
    segment: str | None = None  # the segment whose breach the status is (None: the total's)
    segment_alpha: float | None = None  # the level each segment's tested tiers are held to

    def change_text(self) -> str | None:
        """The change as shown: ``+2.3pp`` for a guardrail in percentage points, else
        ``+7.7%`` relative to control (None without both values)."""
        if self.points_change is not None:
            return points_text(self.points_change)
        if self.relative_change is not None:
            return f"{self.relative_change:+.1%}"
        return None

    def bound_text(self, value: float) -> str:
        """One always-valid bound as shown: ``+2.3pp``, ``+14.0%`` or ``+12.5`` (units)."""
        if self.ci_relative:
            return f"{value:+.1%}"
        if self.per_point is not None:
            return points_text(value / self.per_point)
        return f"{value:+.4g}"


Guardrail = RatioGuardrail | MeanGuardrail


def evaluate_guardrail(
    guardrail: Guardrail,
    obs: Observation,
    settings: Statistics,
    control_expected: bool,
    judge: bool = True,
) -> Finding:
    """Judge one guardrail with the fixed-horizon tests. ``control_expected`` is False at
    100%, where nobody is in control. With ``judge=False`` only the values and the no-data
    checks are filled in (the sequential path judges on its own)."""
    missing = _missing_data(guardrail, obs, control_expected)
    if missing is not None:
        return missing
    if not judge:
        return _finding(guardrail, obs, STATUS_OK, None)
    treat, ctrl = obs.treatment, obs.control
    assert treat is not None and treat.value is not None  # _missing_data
    t_val, c_val = treat.value, ctrl.value if ctrl is not None else None
    comparison = _compare(guardrail, treat, ctrl) if c_val is not None else None
    p_value = comparison.p_value if comparison else None
    test = comparison.method if comparison else None
    notes: list[str] = []
    for tier in reversed(TIERS):
        for threshold in guardrail.tiers.get(tier, []):
            if c_val is None and threshold.needs_control:
                continue
            if not threshold.crossed(t_val, c_val, guardrail.direction):
                continue
            limit = threshold.limit(c_val)
            p, shown_test = p_value, test
            if tier in guardrail.significant:
                if not threshold.needs_control:
                    p, shown_test = (
                        _absolute_p(guardrail, treat, limit),
                        _absolute_test_name(guardrail),
                    )
                if p is None or p >= settings.alpha:
                    notes.append(_not_significant(tier, threshold, p, settings.alpha))
                    continue
            return _finding(
                guardrail,
                obs,
                Status.of(tier),
                "; ".join(notes) or None,
                p_value=p,
                test=shown_test,
                threshold=f"{tier} {threshold.raw}",
                reached=threshold,
                limit=limit,
            )
    return _finding(guardrail, obs, STATUS_OK, "; ".join(notes) or None, p_value=p_value, test=test)


def _finding(
    guardrail: Guardrail, obs: Observation, status: Status, note: str | None, **extra: object
) -> Finding:
    """A finding with the observation's values; ``extra`` sets the rest."""
    treat, ctrl = obs.treatment, obs.control
    t_val = treat.value if treat is not None else None
    c_val = ctrl.value if ctrl is not None else None
    values: dict[str, object] = {
        "name": guardrail.name,
        "kind": guardrail.kind,
        "status": status,
        "control": c_val,
        "treatment": t_val,
        "relative_change": _relative(t_val, c_val),
        "points_change": _points(guardrail, t_val, c_val),
        "per_point": guardrail.per_point if guardrail.in_points else None,
        "p_value": None,
        "test": None,
        "threshold": " · ".join(
            f"{tier} {t.raw}" for tier, ts in guardrail.tiers.items() for t in ts
        ),
        "limit": None,
        "control_size": ctrl.size if ctrl is not None else None,
        "treatment_size": treat.size if treat is not None else None,
        "note": note,
        "query": obs.query,
    }
    values.update(extra)
    return Finding(**values)  # type: ignore[arg-type]


def _missing_data(guardrail: Guardrail, obs: Observation, control_expected: bool) -> Finding | None:
    """The finding when the data cannot be judged (none, untrustworthy, no control where
    one is needed); None when it can."""
    if obs.problem:
        status = STATUS_BAD_DATA if obs.untrustworthy else STATUS_NO_DATA
        return _finding(guardrail, obs, status, obs.problem)
    if obs.treatment is None or obs.treatment.value is None:
        return _finding(guardrail, obs, STATUS_NO_DATA, "no treatment data in the window")
    has_control = obs.control is not None and obs.control.value is not None
    if has_control or not guardrail.compares_to_control:
        return None
    if control_expected:
        return _finding(guardrail, obs, STATUS_NO_DATA, "no control data in the window")
    if _has_absolute(guardrail):
        return None
    note = "no control cohort at 100%: nothing to compare to"
    return _finding(guardrail, obs, STATUS_NO_DATA, note, blocking=False)


def _not_significant(tier: Tier, threshold: Threshold, p: float | None, alpha: float) -> str:
    shown = "n/a" if p is None else f"{p:.3g}"
    return (
        f"past the {tier} threshold {threshold.raw} but not significant "
        f"(p = {shown}, alpha {alpha:g})"
    )


MIN_EVENTS = 5
"""A tier judged on its point estimate needs this many treatment events expected at the
threshold's rate for a ratio, ..."""
MIN_VALUES = 30
"""... and this many treatment values for a mean."""


def tier_p_values(guardrail: Guardrail, assessment: Assessment | None) -> dict[str, float]:
    """Per significant tier, the guardrail's always-valid p-value (Bonferroni over several
    thresholds in one tier); under :data:`GUARD`, the p-value of the guard that tiers
    acting on their point estimate must pass (:func:`evidence.guard_factor`)."""
    out: dict[str, float] = {}
    if assessment is None:
        return out
    if assessment.guard is not None:
        out[GUARD] = assessment.guard.p_value
    for tier in guardrail.significant:
        ps = [t.evidence.p_value for t in assessment.thresholds if t.tier == tier]
        if ps:
            out[tier] = min(1.0, len(ps) * min(ps))
    return out


def evaluate_sequential(
    guardrail: Guardrail,
    obs: Observation,
    settings: Statistics,
    control_expected: bool,
    assessment: Assessment | None,
    levels: Mapping[str, tuple[float, bool]],
    explain: bool = True,
) -> Finding:
    """Judge one guardrail with always-valid tests. ``levels`` gives, per significant tier
    (and :data:`GUARD`), the level after the correction and whether this guardrail's
    evidence reached it (:func:`multiplicity.familywise_levels`). A tier not tested for
    significance acts on its point estimate, with enough data, and for a threshold relative
    to control only once the treatment is shown worse than control by half the least
    severe such threshold (:func:`evidence.guard_factor`)."""
    base = evaluate_guardrail(guardrail, obs, settings, control_expected, judge=False)
    if base.status in HOLDING:
        return base
    if assessment is None:
        return replace(
            base,
            status=STATUS_NO_DATA,
            note="no per-interval data for the sequential test (the metrics source gave none)",
        )
    extra = _sequential_values(guardrail, obs, settings, assessment, levels, explain)
    notes: list[str] = []
    for tier in reversed(TIERS):
        for threshold in guardrail.tiers.get(tier, []):
            if tier in guardrail.significant:
                found = _tested_tier(base, tier, threshold, assessment, levels, settings, extra)
            else:
                found = _point_estimate(
                    base,
                    guardrail,
                    obs,
                    tier,
                    threshold,
                    assessment,
                    levels,
                    settings,
                    extra,
                    notes,
                )
            if found is not None:
                return found
    return replace(base, status=STATUS_OK, note="; ".join(notes) or None, **extra)  # type: ignore[arg-type]


def _sequential_values(
    guardrail: Guardrail,
    obs: Observation,
    settings: Statistics,
    assessment: Assessment,
    levels: Mapping[str, tuple[float, bool]],
    explain: bool,
) -> dict[str, object]:
    """What a sequential finding shows whatever it concludes: the information, the power
    gate's answer, the strongest evidence and (with ``explain``) the always-valid bounds."""
    extra: dict[str, object] = {
        "information": assessment.information,
        "information_needed": assessment.information_needed,
        "dispersion": assessment.dispersion,
        "detect": guardrail.detect,
        "ruled_out": (
            assessment.ruled_out.rejects(1 - settings.power)
            if assessment.ruled_out is not None
            else None
        ),
    }
    best = max(assessment.thresholds, key=lambda t: t.evidence.max_e_value, default=None)
    level = _level_of(levels, best.tier if best else None, settings.alpha)
    if best is not None:
        extra.update(
            e_value=best.evidence.max_e_value,
            p_value=best.evidence.p_value,
            test=best.evidence.method,
            alpha=level,
        )
    if explain and obs.series is not None:
        found = bounds(guardrail, obs, level)
        if found is not None:
            extra.update(ci_low=found.low, ci_high=found.high, ci_relative=found.relative)
    return extra


def _tested_tier(
    base: Finding,
    tier: Tier,
    threshold: Threshold,
    assessment: Assessment,
    levels: Mapping[str, tuple[float, bool]],
    settings: Statistics,
    extra: dict[str, object],
) -> Finding | None:
    """A tier listed in ``significant:`` is reached when its evidence passed its level;
    the finding names the threshold whose evidence is strongest in the tier."""
    if not any(t.threshold is threshold for t in assessment.thresholds):
        return None
    level_tier, rejected = levels.get(tier, (settings.alpha, False))
    if not rejected:
        return None
    tested = max(
        (t for t in assessment.thresholds if t.tier == tier),
        key=lambda t: t.evidence.max_e_value,
    )
    return replace(
        base,
        status=Status.of(tier),
        threshold=f"{tier} {tested.threshold.raw}",
        reached=tested.threshold,
        limit=tested.threshold.limit(base.control),
        **{
            **extra,
            "e_value": tested.evidence.max_e_value,
            "p_value": tested.evidence.p_value,
            "test": tested.evidence.method,
            "alpha": level_tier,
        },  # type: ignore[arg-type]
    )


def _point_estimate(
    base: Finding,
    guardrail: Guardrail,
    obs: Observation,
    tier: Tier,
    threshold: Threshold,
    assessment: Assessment,
    levels: Mapping[str, tuple[float, bool]],
    settings: Statistics,
    extra: dict[str, object],
    notes: list[str],
) -> Finding | None:
    """A tier not tested for significance acts on its point estimate, with enough data, and
    (relative to control) once the guard shows the treatment worse; why it did not is
    added to ``notes``."""
    t_val, c_val = base.treatment, base.control
    if t_val is None or (c_val is None and threshold.needs_control):
        return None
    if not threshold.crossed(t_val, c_val, guardrail.direction):
        return None
    if not _enough_for_point_estimate(obs, threshold.limit(c_val)):
        notes.append(f"past the {tier} threshold {threshold.raw} on too few samples to act on")
        return None
    shown = dict(extra)
    if threshold.needs_control:
        level_guard, passed = levels.get(GUARD, (settings.alpha, False))
        evidence = assessment.guard
        if evidence is None or not passed:
            p = "n/a" if evidence is None else format(evidence.p_value, ".3g")
            notes.append(
                f"past the {tier} threshold {threshold.raw} but not yet shown "
                f"{_guard_text(guardrail)} (p = {p}, alpha {level_guard:.3g})"
            )
            return None
        shown.update(
            e_value=evidence.max_e_value,
            p_value=evidence.p_value,
            test=evidence.method,
            alpha=level_guard,
        )
    return replace(
        base,
        status=Status.of(tier),
        threshold=f"{tier} {threshold.raw}",
        reached=threshold,
        limit=threshold.limit(c_val),
        note="; ".join(notes) or None,
        **shown,  # type: ignore[arg-type]
    )


def doubted(
    finding: Finding, obs: Observation, settings: Statistics, control_expected: bool
) -> Finding:
    """A finding whose series has too many gaps to vouch for it (see
    :func:`coverage_gaps`) is ``bad_data`` instead of ``ok`` or ``warn``: the points it has
    do not show the whole stage, so it cannot let the rollout go. A pause or rollback it
    reached stands: the evidence in the points it has is real."""
    if finding.status not in (Status.OK, Status.WARN):
        return finding
    gaps = coverage_gaps(obs.coverage, settings.min_coverage, control_expected)
    if gaps is None:
        return finding
    return replace(finding, status=Status.BAD_DATA, note=gaps, reached=None)


def coverage_gaps(
    items: Iterable[SeriesCoverage], min_share: float, control_expected: bool
) -> str | None:
    """The first cohort series too incomplete to judge (the control only while there is
    one), named with its metric and query."""
    for item in items:
        if item.role == "control" and not control_expected:
            continue
        problem = coverage_problem(item.coverage, min_share)
        if problem is not None:
            return f"{item.metric} ({item.role}) has {problem} · {item.query}"
    return None


def _level_of(levels: Mapping[str, tuple[float, bool]], tier: Tier | None, alpha: float) -> float:
    if tier is not None and tier in levels:
        return levels[tier][0]
    return alpha


def _enough_for_point_estimate(obs: Observation, limit: float | None) -> bool:
    """Enough data for a point estimate to mean something. For a ratio, the events the
    treatment would have *at the threshold* (its trials times the rate the threshold
    stands at): counting the events observed would let the very noise this guards against
    meet the guard."""
    t = obs.treatment
    if isinstance(t, RatioData):
        return limit is not None and t.trials * limit >= MIN_EVENTS
    if isinstance(t, MeanData):
        return t.n >= MIN_VALUES
    return False


def _guard_text(guardrail: Guardrail) -> str:
    """The guard in words: "worse than control by +25%"."""
    half, points = guard_factor(guardrail), guard_points(guardrail)
    by = []
    if half is not None:
        by.append(f"{(half - 1) * 100:+.3g}%")
    if points is not None:
        by.append(points_text(points / guardrail.per_point))
    return f"worse than control by {' and '.join(by)}" if by else "worse than control"


def _points(guardrail: Guardrail, treatment: float | None, control: float | None) -> float | None:
    """treatment - control in percentage points, for a guardrail with a points tier."""
    if not guardrail.in_points or treatment is None or control is None:
        return None
    return (treatment - control) / guardrail.per_point


def _relative(treatment: float | None, control: float | None) -> float | None:
    if treatment is None or control is None or control == 0:
        return None
    return treatment / control - 1


def _has_absolute(guardrail: Guardrail) -> bool:
    return any(not t.needs_control for ts in guardrail.tiers.values() for t in ts)


def _alternative(direction: Direction) -> stats.Alternative:
    return "greater" if direction is Direction.HIGHER_IS_WORSE else "less"


def _compare(
    guardrail: Guardrail, treat: CohortData | None, ctrl: CohortData | None
) -> stats.TestResult | None:
    """The one-sided test that treatment is worse than control (None when it can't run)."""
    alternative = _alternative(guardrail.direction)
    if isinstance(treat, RatioData) and isinstance(ctrl, RatioData):
        if treat.trials <= 0 or ctrl.trials <= 0:
            return None
        if treat.units is not None and ctrl.units is not None:
            return unitratio.two_ratio_test(treat.units, ctrl.units, alternative)
        return stats.two_proportion_test(
            int(treat.events), int(treat.trials), int(ctrl.events), int(ctrl.trials), alternative
        )
    if isinstance(treat, MeanData) and isinstance(ctrl, MeanData):
        assert isinstance(guardrail, MeanGuardrail)
        use_mw = guardrail.test == "mann_whitney" or (
            guardrail.test == "auto" and treat.samples is not None and ctrl.samples is not None
        )
        if use_mw and treat.samples and ctrl.samples:
            return stats.mann_whitney_u(treat.samples, ctrl.samples, alternative)
        if treat.n >= 2 and ctrl.n >= 2:
            return stats.welch_t_test(
                treat.mean, treat.sd, treat.n, ctrl.mean, ctrl.sd, ctrl.n, alternative
            )
    return None


def _absolute_p(
    guardrail: Guardrail, treat: CohortData | None, limit: float | None
) -> float | None:
    """One-sided p-value that the treatment is beyond an absolute limit."""
    if treat is None or limit is None:
        return None
    alternative = _alternative(guardrail.direction)
    if isinstance(treat, RatioData):
        if treat.trials <= 0 or not 0 < limit < 1:
            return None
        if treat.units is not None:
            found = unitratio.one_sample_ratio_test(treat.units, limit, alternative)
            return found.p_value if found is not None else None
        return stats.one_sample_proportion_test(
            int(treat.events), int(treat.trials), limit, alternative
        ).p_value
    if treat.n < 2:
        return None
    return stats.one_sample_t_test(treat.mean, treat.sd, treat.n, limit, alternative).p_value


def _absolute_test_name(guardrail: Guardrail) -> str:
    if isinstance(guardrail, RatioGuardrail) and guardrail.per_unit:
        return unitratio.METHOD
    return "binomial-exact" if guardrail.is_ratio else "one-sample-t"
