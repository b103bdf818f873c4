"""``rollout report --all`` (pure): the retrospectives of several rollouts summed up, so a
team sees which thresholds cry wolf and which never fire.

Each plan's :class:`~rolloutcli.judge.retrospective.Retrospective` counts its own looks;
:func:`summarise` adds them up per guardrail name across the plans that have one (the same
name in two plans is the same metric judged twice, each time against that plan's
thresholds), per hold cause, and over the rollbacks (restarted, advanced again) and the
stages (left before their window, kept longer than it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rolloutcli.judge.retrospective import Retrospective
from rolloutcli.plan.fields import TIERS


@dataclass(frozen=True)
class PlanTally:
    """One plan's part: its name, its verdict at the report's moment, its retrospective."""

    plan: str
    verdict: str
    retrospective: Retrospective


@dataclass(frozen=True)
class GuardrailTally:
    """One guardrail name across the plans that have it."""

    name: str
    plans: tuple[str, ...]
    looks: int
    """The looks of those plans (each judged this guardrail, or found no data for it)."""
    tiers: tuple[tuple[str, int], ...]
    """Looks at each tier (warn, pause, rollback), summed over the plans."""
    fired_in: tuple[str, ...]
    """The plans in which it reached a tier at least once."""
    paused: int = 0
    """Pauses its breach caused (as the decision records say)."""
    rolled_back: int = 0
    """Rollbacks its breach caused."""
    recovered: int = 0
    """Of those rollbacks, the ones a restart then advanced past: a rollout that went on
    after all (a threshold that may cry wolf, or a fix shipped in between)."""

    @property
    def fired(self) -> int:
        return sum(count for _, count in self.tiers)

    @property
    def never_fired(self) -> bool:
        """No look reached a tier and no decision names it."""
        return self.fired == 0 and self.paused == 0 and self.rolled_back == 0


@dataclass(frozen=True)
class Summary:
    plans: tuple[PlanTally, ...]
    guardrails: tuple[GuardrailTally, ...]
    """By name, in the order first met (plans in the order given)."""
    looks: int
    holds: tuple[tuple[str, int], ...]
    """Looks that held, by reason code, summed; most frequent first."""
    pauses: int
    rollbacks: int
    restarted: int
    """Rollbacks a person restarted later."""
    recovered: int
    """Rollbacks whose restart then advanced again without another rollback."""
    stages: int
    """Stages entered."""
    left_early: int
    """Stages left before their planned window elapsed (a rollback, a reduce)."""
    overran: int
    """Stages left after more time than their planned window."""


def summarise(plans: Sequence[PlanTally]) -> Summary:
    """The sums over ``plans``."""
    backs = [r for p in plans for r in p.retrospective.rollbacks]
    stages = [s for p in plans for s in p.retrospective.stages]
    return Summary(
        plans=tuple(plans),
        guardrails=guardrail_tallies(plans),
        looks=sum(p.retrospective.looks for p in plans),
        holds=summed_holds(plans),
        pauses=sum(p.retrospective.pauses for p in plans),
        rollbacks=len(backs),
        restarted=sum(1 for r in backs if r.restarted is not None),
        recovered=sum(1 for r in backs if r.recovered),
        stages=len(stages),
        left_early=sum(1 for s in stages if s.short),
        overran=sum(
            1
            for s in stages
            if s.left is not None and s.planned is not None and s.spent > s.planned
        ),
    )


def guardrail_tallies(plans: Sequence[PlanTally]) -> tuple[GuardrailTally, ...]:
    """Per guardrail name, its plans, their looks and the tiers it reached (zeros kept: a
    threshold that never fired is the other half of the answer)."""
    names: dict[str, list[PlanTally]] = {}
    counts: dict[str, Counter[str]] = {}
    fired: dict[str, list[str]] = {}
    actions: dict[str, Counter[str]] = {}
    for tally in plans:
        for name, paused, rolled_back, recovered in tally.retrospective.caused:
            actions.setdefault(name, Counter()).update(
                {"paused": paused, "rolled_back": rolled_back, "recovered": recovered}
            )
        for name, tiers in tally.retrospective.tiers:
            names.setdefault(name, []).append(tally)
            counts.setdefault(name, Counter()).update(dict(tiers))
            if any(count for _, count in tiers):
                fired.setdefault(name, []).append(tally.plan)
    return tuple(
        GuardrailTally(
            name=name,
            plans=tuple(t.plan for t in having),
            looks=sum(t.retrospective.looks for t in having),
            tiers=tuple((tier, counts[name][tier]) for tier in TIERS),
            fired_in=tuple(fired.get(name, ())),
            paused=actions.get(name, Counter())["paused"],
            rolled_back=actions.get(name, Counter())["rolled_back"],
            recovered=actions.get(name, Counter())["recovered"],
        )
        for name, having in names.items()
    )


def summed_holds(plans: Sequence[PlanTally]) -> tuple[tuple[str, int], ...]:
    counted: Counter[str] = Counter()
    for tally in plans:
        counted.update(dict(tally.retrospective.holds))
    return tuple(sorted(counted.items(), key=lambda item: (-item[1], item[0])))
