"""A guardrail judged per segment as well as over everyone (``segments: {by: region}``).

Pure. Each segment is judged treatment-vs-control with the same always-valid tests as the
total (:func:`evidence.assess`, :func:`findings.evaluate_sequential`); segments under
``min_share`` of the traffic are pooled into ``other`` first (:func:`pooled`). A ratio's
segments carry events and trials, a mean's the moments of its values (its share of the
traffic is its share of the values); both are judged the same way.

The multiplicity rule. With ``act_on: any`` a guardrail makes m = k + 1 comparisons (the
total and its k segments after pooling), and they share the guardrail's alpha equally,
Bonferroni-style: each tier's p-value for the guardrail is ``min(1, m * min_j p_j)``, which
is a valid p-value for "the total and every segment are within the threshold". That
p-value enters the plan-wide procedure (:mod:`multiplicity`) as the guardrail's, so the
plan's alpha still bounds the chance that any tier of any guardrail fires on healthy data,
at every look; a comparison acts when ``m * p_j`` is at most the guardrail's level, i.e.
each is held to level/m. With ``act_on: total`` the total keeps the guardrail's level and
acts alone; the segments are shown, each at level/k, and never act.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rolloutcli.judge.evidence import Assessment, assess
from rolloutcli.judge.findings import (
    HOLDING,
    Finding,
    Status,
    evaluate_sequential,
    tier_p_values,
)
from rolloutcli.judge.observations import (
    CohortData,
    MeanData,
    MeanSeries,
    Observation,
    RatioData,
    RatioSeries,
    SegmentData,
)
from rolloutcli.plan.model import MeanGuardrail, RatioGuardrail, Statistics
from rolloutcli.plan.segments import OTHER, Segments
from rolloutcli.stats import sequential
from rolloutcli.stats.moments import Array, MomentSeries

Guardrail = RatioGuardrail | MeanGuardrail
Levels = Mapping[str, tuple[float, bool]]

SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.PAUSE: 2, Status.ROLLBACK: 3}


@dataclass(frozen=True)
class SegmentPart:
    """A guardrail's segments, ready to be judged: one observation and one assessment
    each (pooled), and the required segments that are missing."""

    observations: tuple[Observation, ...]
    assessments: tuple[Assessment | None, ...]
    missing: tuple[str, ...]
    mismatched: tuple[str, ...] = ()
    """Segments whose split between the cohorts is not the planned one (SRM)."""


def pooled(segments: Sequence[SegmentData], spec: Segments) -> tuple[SegmentData, ...]:
    """The segments with at least ``min_share`` of the trials (both cohorts), and the
    required ones, largest first; the rest (and any ``other`` the source gave) pooled
    into one ``other``, last."""
    total = sum(s.trials for s in segments)
    kept: list[SegmentData] = []
    small: list[SegmentData] = []
    for s in segments:
        big = total > 0 and s.trials / total >= spec.min_fraction
        if s.name != OTHER and (s.name in spec.require or big):
            kept.append(s)
        else:
            small.append(s)
    kept.sort(key=lambda s: (-s.trials, s.name))
    if small:
        kept.append(_merged(small))
    return tuple(kept)


def missing(segments: Sequence[SegmentData], spec: Segments) -> tuple[str, ...]:
    """The required segments with no treatment traffic in the stage."""
    present = {s.name for s in segments if s.treatment is not None and s.treatment.size > 0}
    return tuple(name for name in spec.require if name not in present)


def prepare(
    guardrail: Guardrail,
    obs: Observation,
    beta: float,
    control_expected: bool,
    split: tuple[float, float] | None = None,
) -> SegmentPart | None:
    """The pooled segments' observations and assessments, and with ``split`` (the planned
    treatment share and the SRM level) the segments whose split is off; None without
    segments."""
    spec = guardrail.segments
    if spec is None or obs.segments is None or obs.problem:
        return None
    found = pooled(obs.segments, spec)
    observations = tuple(
        Observation(s.name, s.treatment, s.control, obs.query, series=s.series) for s in found
    )
    return SegmentPart(
        observations,
        tuple(assess(guardrail, o, beta, control_expected) for o in observations),
        missing(obs.segments, spec),
        mismatched(found, *split) if split is not None else (),
    )


def mismatched(found: Sequence[SegmentData], share: float, level: float) -> tuple[str, ...]:
    """The segments whose trials over the stage split between the cohorts unlike the plan
    (the sequential SRM test of the exposures, each at ``level`` / k: a sample-ratio
    mismatch confined to one segment breaks its comparison, and the total may hide it)."""
    k = max(1, len(found))
    out = []
    for s in found:
        if not isinstance(s.series, RatioSeries):
            continue  # a mean's values are not the exposures
        t = s.series.treatment_trials[s.first :]
        c = s.series.control_trials[s.first :]
        if sequential.split_evidence(t, c, share).rejects(level / k):
            out.append(s.name)
    return tuple(out)


def comparisons(guardrail: Guardrail, part: SegmentPart) -> int:
    """How many comparisons share the guardrail's alpha: the total and each segment
    (``act_on: any``), or the total alone (``act_on: total``)."""
    assert guardrail.segments is not None
    if guardrail.segments.act_on == "total":
        return 1
    return 1 + len(part.observations)


def family_p_values(
    total: Mapping[str, float], each: Sequence[Mapping[str, float]], m: int
) -> dict[str, float]:
    """Per tested tier, the guardrail's p-value over its m comparisons: Bonferroni's
    ``min(1, m * min p)`` (the total's own with ``m == 1``)."""
    if m == 1:
        return dict(total)
    out: dict[str, float] = {}
    for found in (total, *each):
        for tier, p in found.items():
            out[tier] = min(out.get(tier, 1.0), min(1.0, m * p))
    return out


def comparison_levels(
    levels: Levels, p_values: Mapping[str, float], m: int
) -> dict[str, tuple[float, bool]]:
    """One comparison's levels: the guardrail's level over m, rejected where ``m * p`` is
    within the guardrail's level (so a comparison rejects only when the guardrail does)."""
    return {
        tier: (level / m, tier in p_values and m * p_values[tier] <= level)
        for tier, (level, _) in levels.items()
    }


def combined(
    guardrail: Guardrail,
    total: Finding,
    segments: Sequence[Finding],
    gone: Sequence[str],
    skewed: Sequence[str] = (),
) -> Finding:
    """The guardrail's finding: the total's numbers, with the segment findings attached.
    With ``act_on: any`` a segment's tier more severe than the total's becomes the
    guardrail's status (the reason names it); a segment whose split is off (``skewed``)
    or a required segment missing holds unless a pause or rollback is reached."""
    spec = guardrail.segments
    assert spec is not None
    out = replace(total, segments=tuple(segments), segment_by=spec.by)
    if total.status in HOLDING:
        return out
    if spec.act_on == "any":
        acting = [f for f in segments if f.status in SEVERITY and f.status is not Status.OK]
        worst = max(acting, key=lambda f: SEVERITY[f.status], default=None)
        if worst is not None and SEVERITY[worst.status] > SEVERITY.get(total.status, 0):
            out = replace(
                out,
                status=worst.status,
                threshold=worst.threshold,
                reached=worst.reached,
                limit=worst.limit,
                e_value=worst.e_value,
                p_value=worst.p_value,
                test=worst.test,
                alpha=worst.alpha,
                segment=worst.name,
                note=None,
            )
    if skewed and out.status not in (Status.PAUSE, Status.ROLLBACK):
        listing = ", ".join(f"{spec.by}={name}" for name in skewed)
        out = replace(
            out,
            status=Status.BAD_DATA,
            reached=None,
            note=f"sample-ratio mismatch in {listing}: its split between the cohorts is not "
            "the planned one, so its comparison cannot be trusted",
        )
    if gone and out.status not in (Status.PAUSE, Status.ROLLBACK):
        listing = ", ".join(f"{spec.by}={name}" for name in gone)
        out = replace(
            out,
            status=Status.NO_DATA,
            reached=None,
            note=f"{listing} has no traffic in the stage, and segments.require names it",
        )
    return out


def _added(arrays: list[Array]) -> Array:
    """Interval by interval: the sum, missing only where every part is missing."""
    stacked = np.vstack(arrays)
    return np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))


def _ratio_totals(items: list[CohortData | None]) -> RatioData | None:
    present = [d for d in items if isinstance(d, RatioData)]
    if not present:
        return None
    return RatioData(sum(d.events for d in present), sum(d.trials for d in present))


def stage_mean(series: MomentSeries, first: int, log: bool) -> MeanData | None:
    """A cohort's value over the stage (the intervals from ``first``) from its moments:
    the mean and sd of the values, or on ``log`` the geometric mean and the sd of ln
    values; None without values."""
    n, total, total_sq = (
        np.nan_to_num(a[first:]) for a in (series.n, series.total, series.total_sq)
    )
    count = float(n.sum())
    if count < 1:
        return None
    mean = float(total.sum()) / count
    var = max(float(total_sq.sum()) - count * mean * mean, 0.0) / (count - 1) if count > 1 else 0.0
    return MeanData(int(count), math.exp(mean) if log else mean, math.sqrt(var))


def _merged(parts: Sequence[SegmentData]) -> SegmentData:
    """Segments pooled into ``other``: counts (a mean's moments) added, intervals missing
    only where every part is missing."""
    if len(parts) == 1 and parts[0].name == OTHER:
        return parts[0]
    first, log = parts[0].first, parts[0].log  # every segment spans the same intervals
    series = [p.series for p in parts]
    if all(isinstance(s, MeanSeries) for s in series):
        means = [s for s in series if isinstance(s, MeanSeries)]

        def moments(cohort: list[MomentSeries]) -> MomentSeries:
            return MomentSeries(
                _added([m.n for m in cohort]),
                _added([m.total for m in cohort]),
                _added([m.total_sq for m in cohort]),
            )

        pooled = MeanSeries(
            moments([m.treatment for m in means]), moments([m.control for m in means])
        )
        return SegmentData(
            OTHER,
            stage_mean(pooled.treatment, first, log),
            stage_mean(pooled.control, first, log),
            pooled,
            first,
            log,
        )
    ratios = [s for s in series if isinstance(s, RatioSeries)]
    return SegmentData(
        OTHER,
        _ratio_totals([p.treatment for p in parts]),
        _ratio_totals([p.control for p in parts]),
        RatioSeries(
            _added([s.treatment_events for s in ratios]),
            _added([s.treatment_trials for s in ratios]),
            _added([s.control_events for s in ratios]),
            _added([s.control_trials for s in ratios]),
        ),
        first,
    )


def family(
    guardrail: Guardrail, own: Mapping[str, float], part: SegmentPart | None
) -> dict[str, float]:
    """The guardrail's p-values for the plan-wide procedure: its own, or with segments the
    family's (:func:`family_p_values`)."""
    if part is None:
        return dict(own)
    each = [tier_p_values(guardrail, a) for a in part.assessments]
    return family_p_values(own, each, comparisons(guardrail, part))


def judged(
    guardrail: Guardrail,
    obs: Observation,
    settings: Statistics,
    control_expected: bool,
    assessment: Assessment | None,
    levels: Levels,
    part: SegmentPart | None,
    explain: bool,
) -> Finding:
    """The guardrail's sequential finding, judged per segment too when it has them."""
    if part is None:
        return evaluate_sequential(
            guardrail, obs, settings, control_expected, assessment, levels, explain
        )
    m = comparisons(guardrail, part)
    own = tier_p_values(guardrail, assessment)
    total = evaluate_sequential(
        guardrail,
        obs,
        settings,
        control_expected,
        assessment,
        comparison_levels(levels, own, m),
        explain,
    )
    shown = m if m > 1 else max(1, len(part.observations))  # act_on total: shown at level/k
    found = [
        replace(
            evaluate_sequential(
                guardrail,
                o,
                settings,
                control_expected,
                a,
                comparison_levels(levels, tier_p_values(guardrail, a), shown),
                explain,
            ),
            name=o.name,
        )
        for o, a in zip(part.observations, part.assessments, strict=True)
    ]
    held = [level for level, _ in comparison_levels(levels, {}, shown).values()]
    out = combined(guardrail, total, found, part.missing, part.mismatched)
    return replace(out, segment_alpha=max(held, default=None))
