"""One guardrail's finding: its values, its test, and the tier it reached (pure).

A tier is reached when the treatment crosses one of its thresholds; for a tier listed under
the guardrail's ``significant:``, the difference must also be significant at the plan's
alpha: for thresholds relative to control, the one-sided test that treatment is worse than
control; for absolute limits, the one-sided test that treatment is beyond the limit.
Tiers are checked from the most severe down, so a rollback breach that is not significant
can still be a pause or a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import stats
from .observations import CohortData, MeanData, Observation, RatioData
from .plan import TIERS, MeanGuardrail, RatioGuardrail, Statistics
from .thresholds import Direction

STATUS_OK = "ok"
STATUS_NO_DATA = "no_data"


@dataclass(frozen=True)
class Finding:
    name: str
    kind: str
    status: str  # ok | warn | pause | rollback | no_data
    control: float | None
    treatment: float | None
    relative_change: float | None
    p_value: float | None
    test: str | None
    threshold: str | None  # the threshold reached, or every tier's thresholds
    limit: float | None  # the value the reached threshold stands at
    control_size: float | None
    treatment_size: float | None
    note: str | None
    query: str
    blocking: bool = True  # no_data that does not hold the rollout (no control at 100%)


Guardrail = RatioGuardrail | MeanGuardrail


def evaluate_guardrail(
    guardrail: Guardrail, obs: Observation, settings: Statistics, control_expected: bool
) -> Finding:
    """Judge one guardrail. ``control_expected`` is False at 100%, where nobody is in control."""
    all_thresholds = " · ".join(
        f"{tier} {t.raw}" for tier, ts in guardrail.tiers.items() for t in ts
    )
    treat, ctrl = obs.treatment, obs.control
    t_val = treat.value if treat is not None else None
    c_val = ctrl.value if ctrl is not None else None

    def finding(status: str, note: str | None, **extra: object) -> Finding:
        values: dict[str, object] = {
            "name": guardrail.name,
            "kind": guardrail.kind,
            "status": status,
            "control": c_val,
            "treatment": t_val,
            "relative_change": _relative(t_val, c_val),
            "p_value": None,
            "test": None,
            "threshold": all_thresholds,
            "limit": None,
            "control_size": ctrl.size if ctrl is not None else None,
            "treatment_size": treat.size if treat is not None else None,
            "note": note,
            "query": obs.query,
        }
        values.update(extra)
        return Finding(**values)  # type: ignore[arg-type]

    if obs.problem:
        return finding(STATUS_NO_DATA, obs.problem)
    if t_val is None:
        return finding(STATUS_NO_DATA, "no treatment data in the window")
    if c_val is None and guardrail.compares_to_control:
        if not control_expected:
            if not _has_absolute(guardrail):
                return finding(
                    STATUS_NO_DATA,
                    "no control cohort at 100%: nothing to compare to",
                    blocking=False,
                )
        else:
            return finding(STATUS_NO_DATA, "no control data in the window")

    comparison = _compare(guardrail, treat, ctrl) if c_val is not None else None
    p_value = comparison.p_value if comparison else None
    test = comparison.method if comparison else None
    significant_tiers = set(guardrail.significant)
    notes: list[str] = []

    for tier in reversed(TIERS):
        for threshold in guardrail.tiers.get(tier, []):
            if c_val is None and threshold.needs_control:
                continue
            assert t_val is not None
            if not threshold.crossed(t_val, c_val, guardrail.direction):
                continue
            limit = threshold.limit(c_val)
            if tier in significant_tiers:
                p = p_value if threshold.needs_control else _absolute_p(guardrail, treat, limit)
                if p is None or p >= settings.alpha:
                    shown = "n/a" if p is None else f"{p:.3g}"
                    notes.append(
                        f"past the {tier} threshold {threshold.raw} but not significant "
                        f"(p = {shown}, alpha {settings.alpha:g})"
                    )
                    continue
                if not threshold.needs_control:
                    p_value, test = p, _absolute_test_name(guardrail)
            return finding(
                tier,
                "; ".join(notes) or None,
                p_value=p_value,
                test=test,
                threshold=f"{tier} {threshold.raw}",
                limit=limit,
            )
    return finding(STATUS_OK, "; ".join(notes) or None, p_value=p_value, test=test)


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
        return stats.one_sample_proportion_test(
            int(treat.events), int(treat.trials), limit, alternative
        ).p_value
    if treat.n < 2:
        return None
    return stats.one_sample_t_test(treat.mean, treat.sd, treat.n, limit, alternative).p_value


def _absolute_test_name(guardrail: Guardrail) -> str:
    return "binomial-exact" if guardrail.is_ratio else "one-sample-t"
