"""rollout-bench plug-in (route 1): every look goes through rolloutcli's own verdict engine.

    cd ../shared/bench   # or wherever the harness lives
    python run_bench.py --policies none \
        --policy-py rolloutcli=/path/to/benchmarks/decision_quality/policy.py:make_policy

The policy translates a look into what the engine gets from a platform and a metrics
source in real use — the live split and when the stage began (``FlagState``), per-guardrail
observations with per-minute series since the rollout began, and the stage's exposures —
and asks :func:`rolloutcli.judge.verdict.decide` with the plan in ``plan.yaml``. ``go``/``done``
mean advance, ``rollback`` rolls back, anything else holds. Nothing here decides.

``explain=False`` skips only the always-valid confidence bounds the CLI displays; the
verdict is the same. Set ROLLOUTCLI_BENCH_PLAN to try another plan file.

Segments (issue 22): the shared harness simulates no segments (its looks carry one series
per cohort and field), so with its scenarios a plan's ``segments:`` has nothing to judge and
the plug-in passes none. A look whose cohorts also carry ``obs[cohort]["segments"]`` — a
mapping of segment name to that segment's own per-minute fields, as
``benchmarks/segments/run.py`` builds — gets, for each ratio guardrail with ``segments:``,
one ``SegmentData`` per segment shaped as ``app/evaluate.py`` shapes the metrics source's
grouped series (stage totals, series over the evidence window, the stage's first index).
"""

from __future__ import annotations

import dataclasses
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rolloutcli.judge.flagstate import FlagState
from rolloutcli.judge.observations import (
    Exposures,
    MeanData,
    MeanSeries,
    Observation,
    RatioData,
    RatioSeries,
    SegmentData,
)
from rolloutcli.judge.position import locate
from rolloutcli.judge.reasons import Reason
from rolloutcli.judge.verdict import VerdictKind, decide
from rolloutcli.plan.model import MeanGuardrail, Plan, load_plan
from rolloutcli.stats.moments import MomentSeries

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN_PATH = Path(os.environ.get("ROLLOUTCLI_BENCH_PLAN") or Path(__file__).with_name("plan.yaml"))
FIELD_OF = {"requests": "requests", "errors": "errors", "conversions": "conversions"}
ACTION = {VerdictKind.GO: "advance", VerdictKind.DONE: "advance", VerdictKind.ROLLBACK: "rollback"}


class RolloutcliPolicy:
    def __init__(self, plan: Plan | None = None) -> None:
        self.plan = plan if plan is not None else load_plan(PLAN_PATH).plan
        self.last_reasons: tuple[Reason, ...] = ()

    def __call__(self, look: Any) -> str:
        plan = self.plan
        m = look.minute
        start = look.stage_start
        evidence_from = 0 if plan.statistics.scope == "rollout" else start
        t, c = look.obs["treatment"], look.obs["control"]
        state = FlagState(
            flag=plan.flag,
            on=True,
            percent=float(look.stage_percent),
            split_changed_at=T0 + timedelta(minutes=start),
        )
        observations: dict[str, Observation] = {}
        for g in plan.guardrails:
            if isinstance(g, MeanGuardrail):
                observations[g.name] = _latency(g, t, c, evidence_from, start, m)
            else:
                obs = _ratio(g.name, g.events, g.trials, t, c, evidence_from, start, m)
                if g.segments is not None and "segments" in t:
                    parts = _segments(g.events, g.trials, t, c, evidence_from, start, m)
                    obs = dataclasses.replace(obs, segments=parts)
                observations[g.name] = obs
        exposures = Exposures(
            treatment=float(np.nansum(t["requests"][start:m])),
            control=float(np.nansum(c["requests"][start:m])),
            metric="requests",
            treatment_series=t["requests"][start:m],
            control_series=c["requests"][start:m],
        )
        verdict = decide(
            plan,
            state,
            locate(plan, state),
            observations,
            exposures,
            T0 + timedelta(minutes=m),
            explain=False,
        )
        self.last_reasons = verdict.reasons
        return ACTION.get(verdict.kind, "hold")


def _ratio(
    name: str, events: str, trials: str, t: Any, c: Any, ev0: int, start: int, m: int
) -> Observation:
    series = RatioSeries(t[events][ev0:m], t[trials][ev0:m], c[events][ev0:m], c[trials][ev0:m])
    return Observation(
        name,
        RatioData(float(np.nansum(t[events][start:m])), float(np.nansum(t[trials][start:m]))),
        RatioData(float(np.nansum(c[events][start:m])), float(np.nansum(c[trials][start:m]))),
        query=f"{events}/{trials}",
        series=series,
    )


def _stage_totals(events: Any, trials: Any) -> RatioData | None:
    if not np.isfinite(trials).any():
        return None
    return RatioData(float(np.nansum(events)), float(np.nansum(trials)))


def _segments(
    events: str, trials: str, t: Any, c: Any, ev0: int, start: int, m: int
) -> tuple[SegmentData, ...]:
    """Each segment's numbers, as the metrics sources' grouped series give them."""
    first = start - ev0
    out = []
    for name in sorted(t["segments"]):
        ts, cs = t["segments"][name], c["segments"][name]
        te, tn = ts[events][ev0:m], ts[trials][ev0:m]
        ce, cn = cs[events][ev0:m], cs[trials][ev0:m]
        out.append(
            SegmentData(
                name,
                _stage_totals(te[first:], tn[first:]),
                _stage_totals(ce[first:], cn[first:]),
                RatioSeries(te, tn, ce, cn),
                first,
            )
        )
    return tuple(out)


def _moments(cohort: Any, a: int, b: int) -> MomentSeries:
    return MomentSeries.of(
        cohort["requests"][a:b], cohort["latency_log_sum"][a:b], cohort["latency_log_sumsq"][a:b]
    )


def _summary(cohort: Any, a: int, b: int) -> MeanData | None:
    n = float(np.nansum(cohort["requests"][a:b]))
    if n < 1:
        return None
    s = float(np.nansum(cohort["latency_log_sum"][a:b]))
    ss = float(np.nansum(cohort["latency_log_sumsq"][a:b]))
    var = max(ss - s * s / n, 0.0) / (n - 1) if n > 1 else 0.0
    # scale: log → the cohort's value is its geometric mean, sd is that of ln(value)
    return MeanData(int(n), math.exp(s / n), math.sqrt(var))


def _latency(g: MeanGuardrail, t: Any, c: Any, ev0: int, start: int, m: int) -> Observation:
    series = MeanSeries(_moments(t, ev0, m), _moments(c, ev0, m))
    return Observation(
        g.name, _summary(t, start, m), _summary(c, start, m), query="latency (ln ms)", series=series
    )


def make_policy() -> RolloutcliPolicy:
    return RolloutcliPolicy()
