"""Rollouts of a plan simulated look by look through the real verdict engine.

Used by the seeded simulation tests of what the statistics promise (how often a healthy
rollout pauses, what alpha covers). The world is simple and stated here, so the tests'
reference is this file and closed forms, never the functions under test:

* ``per_minute`` units arrive each minute; the treatment gets the stage's percentage of
  them (an audience-only stage: ``AUDIENCE_SHARE``), the control the rest, every unit an
  independent trial;
* a ratio guardrail's events are binomial at the control rate (1% when higher is worse,
  10% when lower is worse, as for errors and conversions), times ``effects[name]`` in the
  treatment;
* a mean guardrail gets one value per cohort per minute (a summary such as a p99, as a
  Prometheus step gives it), times ``effects[name]`` in the treatment: normal (its log on
  ``scale: log``) around 150 with a spread of 10% at 1,000 units a minute, or for
  ``unit: ratio`` (an accuracy) around 0.92 with 1%; the spread shrinks with the square
  root of the cohort's traffic;
* every ``look_every`` minutes the engine judges the data since the rollout began (the
  plan's scope), and the stage's window; ``go`` moves to the next stage at once, ``done``,
  ``pause`` and ``rollback`` end the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.observations import (
    Exposures,
    MeanData,
    MeanSeries,
    Observation,
    RatioData,
    RatioSeries,
)
from rolloutcli.judge.position import audience_for, locate
from rolloutcli.judge.reasons import Reason
from rolloutcli.judge.verdict import Verdict, VerdictKind, decide
from rolloutcli.plan.model import MeanGuardrail, Plan, RatioGuardrail
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.moments import MomentSeries

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AUDIENCE_SHARE = 0.5
"""Percent of traffic an audience-only stage (0% plus an allow list or segment) serves."""
MEAN_LEVEL = {"ratio": (0.92, 0.01), "percent": (92.0, 0.01)}
"""Per unit: a mean guardrail's level and its spread at 1,000 units a minute ..."""
MEAN_DEFAULT = (150.0, 0.10)
"""... and for every other unit (milliseconds, seconds)."""


@dataclass(frozen=True)
class World:
    per_minute: int = 20_000
    look_every: int = 5
    effects: Mapping[str, float] = field(default_factory=dict)
    horizon_minutes: int | None = None
    """Stop after this long (default: the plan's windows, plus a day)."""


@dataclass(frozen=True)
class Outcome:
    kind: VerdictKind  # the verdict that ended the run (hold: the horizon came first)
    minute: int
    stage: int
    statuses: Mapping[str, str]  # each guardrail's status at the end
    reasons: tuple[Reason, ...]  # the verdict's last reasons (rolloutcli.judge.messages words them)


def base_rate(g: RatioGuardrail) -> float:
    return 0.01 if g.direction is Direction.HIGHER_IS_WORSE else 0.10


def simulate(
    plan: Plan,
    world: World,
    rng: np.random.Generator,
    on_look: Callable[[int, int, Verdict], None] | None = None,
) -> Outcome:
    """One rollout from its first stage until a verdict ends it or the horizon passes;
    ``on_look(minute, stage, verdict)`` sees every verdict on the way."""
    horizon = world.horizon_minutes or _planned_minutes(plan) + 24 * 60
    columns = _Columns(horizon)
    stage, start = 0, 0
    kind, reasons, statuses = VerdictKind.HOLD, (), {}
    for minute in range(horizon):
        share = _share(plan, stage)
        treated = int(rng.binomial(world.per_minute, share / 100))
        columns.add_minute(minute, plan, world, treated, world.per_minute - treated, rng)
        now = minute + 1
        if now % world.look_every:
            continue
        verdict = decide(
            plan,
            _state(plan, stage, start),
            locate(plan, _state(plan, stage, start)),
            columns.observations(plan, start, now),
            columns.exposures(start, now),
            T0 + timedelta(minutes=now),
            explain=False,
        )
        if on_look is not None:
            on_look(now, stage, verdict)
        kind, reasons = verdict.kind, verdict.reasons
        statuses = {f.name: f.status for f in verdict.findings}
        if kind is VerdictKind.GO:
            stage, start = stage + 1, now
        elif kind in (VerdictKind.DONE, VerdictKind.PAUSE, VerdictKind.ROLLBACK):
            return Outcome(kind, now, stage, statuses, reasons)
    return Outcome(VerdictKind.HOLD, horizon, stage, statuses, reasons)


def _planned_minutes(plan: Plan) -> int:
    return int(sum(s.window.total_seconds() for s in plan.stages) // 60)


def _share(plan: Plan, stage: int) -> float:
    percent = plan.stages[stage].percent
    return percent if percent > 0 else AUDIENCE_SHARE


def _state(plan: Plan, stage: int, start: int) -> FlagState:
    keys, segment = audience_for(plan, stage)
    return FlagState(
        flag=plan.flag,
        on=True,
        percent=plan.stages[stage].percent,
        audience_keys=keys,
        audience_segment=segment,
        split_changed_at=T0 + timedelta(minutes=start),
    )


class _Columns:
    """Per-minute counts and moments, per cohort, for every guardrail."""

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.data: dict[str, np.ndarray] = {}

    def _column(self, key: str) -> np.ndarray:
        if key not in self.data:
            self.data[key] = np.zeros(self.horizon)
        return self.data[key]

    def add_minute(
        self,
        minute: int,
        plan: Plan,
        world: World,
        treated: int,
        control: int,
        rng: np.random.Generator,
    ) -> None:
        self._column("units/t")[minute] = treated
        self._column("units/c")[minute] = control
        for g in plan.guardrails:
            effect = world.effects.get(g.name, 1.0)
            if isinstance(g, RatioGuardrail):
                p = base_rate(g)
                self._column(f"{g.name}/et")[minute] = rng.binomial(treated, min(p * effect, 1))
                self._column(f"{g.name}/ec")[minute] = rng.binomial(control, p)
            else:
                for cohort, units, factor in (("t", treated, effect), ("c", control, 1.0)):
                    value = _mean_value(g, units, factor, rng)
                    present = value is not None
                    self._column(f"{g.name}/n{cohort}")[minute] = 1.0 if present else math.nan
                    self._column(f"{g.name}/s{cohort}")[minute] = value if present else math.nan
                    self._column(f"{g.name}/q{cohort}")[minute] = (
                        value * value if present else math.nan
                    )

    def observations(self, plan: Plan, start: int, now: int) -> dict[str, Observation]:
        since = 0 if plan.statistics.scope == "rollout" else start
        out: dict[str, Observation] = {}
        for g in plan.guardrails:
            if isinstance(g, RatioGuardrail):
                out[g.name] = self._ratio(g.name, since, start, now)
            else:
                out[g.name] = self._mean(g, since, start, now)
        return out

    def _ratio(self, name: str, since: int, start: int, now: int) -> Observation:
        et, ec = self.data[f"{name}/et"], self.data[f"{name}/ec"]
        nt, nc = self.data["units/t"], self.data["units/c"]
        return Observation(
            name,
            RatioData(float(et[start:now].sum()), float(nt[start:now].sum())),
            RatioData(float(ec[start:now].sum()), float(nc[start:now].sum())),
            query=name,
            series=RatioSeries(et[since:now], nt[since:now], ec[since:now], nc[since:now]),
        )

    def _mean(self, g: MeanGuardrail, since: int, start: int, now: int) -> Observation:
        def moments(cohort: str, a: int) -> MomentSeries:
            return MomentSeries.of(
                self.data[f"{g.name}/n{cohort}"][a:now],
                self.data[f"{g.name}/s{cohort}"][a:now],
                self.data[f"{g.name}/q{cohort}"][a:now],
            )

        def summary(cohort: str) -> MeanData | None:
            values = self.data[f"{g.name}/s{cohort}"][start:now]
            values = values[np.isfinite(values)]
            if values.size == 0:
                return None
            sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
            mean = float(values.mean())
            return MeanData(int(values.size), math.exp(mean) if g.scale == "log" else mean, sd)

        return Observation(
            g.name,
            summary("t"),
            summary("c"),
            query=g.name,
            series=MeanSeries(moments("t", since), moments("c", since)),
        )

    def exposures(self, start: int, now: int) -> Exposures:
        t, c = self.data["units/t"][start:now], self.data["units/c"][start:now]
        return Exposures(
            treatment=float(t.sum()),
            control=float(c.sum()),
            metric="units",
            treatment_series=t,
            control_series=c,
        )


def _mean_value(
    g: MeanGuardrail, units: int, factor: float, rng: np.random.Generator
) -> float | None:
    """One cohort's value for one minute (None with no traffic that minute)."""
    if units <= 0:
        return None
    level, cv_at_1000 = MEAN_LEVEL.get(g.unit or "", MEAN_DEFAULT)
    cv = cv_at_1000 * math.sqrt(1000 / units)
    if g.scale == "log":
        return float(rng.normal(math.log(level * factor), cv))
    return float(rng.normal(level * factor, cv * level))
