"""The thin layer between the CLI and the pure core: read the platform, fetch the metrics,
ask the verdict engine, and apply a change. It decides nothing itself."""

from __future__ import annotations

import asyncio
import contextvars
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from rolloutcli.app.standing import Standing, read_standing
from rolloutcli.judge import dataquality
from rolloutcli.judge.dataquality import (
    Coverage,
    events_exceed_trials,
    expected_events,
    zero_is_plausible,
)
from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.judge.messages import text
from rolloutcli.judge.observations import (
    Exposures,
    MeanData,
    MeanSeries,
    Observation,
    RatioData,
    RatioSeries,
    SegmentData,
    SeriesCoverage,
)
from rolloutcli.judge.position import audience_for, exclusion_for
from rolloutcli.judge.segments import stage_mean
from rolloutcli.metrics import open_source
from rolloutcli.metrics.base import (
    Cohort,
    DataProblem,
    MetricsSource,
    Need,
    ResolvedQuery,
    SegmentedMomentSource,
    SegmentedSource,
    UnitSource,
    Verb,
    Window,
)
from rolloutcli.metrics.pool import QueryPool, default_limit
from rolloutcli.plan.model import LoadedPlan, MeanGuardrail, RatioGuardrail
from rolloutcli.stats.moments import Array, MomentSeries, UnitMoments
from rolloutcli.support.errors import InternalError, RefusedError, RolloutError
from rolloutcli.support.quoting import label

if TYPE_CHECKING:
    from rolloutcli.judge.verdict import Verdict


@dataclass(frozen=True)
class Evaluation:
    standing: Standing
    verdict: Verdict
    now: datetime
    window: Window | None
    source: MetricsSource | None = None
    needs: tuple[Need, ...] = ()

    def resolved_queries(self) -> tuple[tuple[Need, tuple[ResolvedQuery, ...]], ...]:
        """Every metrics call behind the verdict, as sent (for decision records)."""
        if self.source is None:
            return ()
        return tuple((need, tuple(self.source.resolve(need))) for need in self.needs)


@dataclass(frozen=True)
class Prepared:
    """A plan read and ready to be measured: its standing, the windows, and every metrics
    call the verdict will make (``needs``), not yet run."""

    standing: Standing
    now: datetime
    window: Window | None
    evidence: Window | None
    source: MetricsSource | None
    needs: tuple[Need, ...]


def prepare(loaded: LoadedPlan, now: datetime, replay: bool = False) -> Prepared:
    """Read the platform and work out the windows and the metrics calls; query nothing.
    ``replay``: ``now`` is a past moment (``check --at``) and the flag is taken as it
    stood then, from the platform's history."""
    standing = read_standing(loaded, now if replay else None)
    state, position = standing.state, standing.position
    if not state.on or position.not_started:
        return Prepared(standing, now, None, None, None, ())
    start = position.evidence_began or now
    window = Window(start=min(start, now), end=now)
    evidence = window
    if loaded.plan.statistics.scope == "rollout":
        # a knob change restarts the rollout's evidence too: data before it was produced
        # by another setting
        began = position.knob_changed or position.rollout_began or start
        evidence = Window(start=min(began, window.start), end=now)
    source = open_source(loaded)
    return Prepared(standing, now, window, evidence, source, record_needs(loaded, window, evidence))


def conclude(prepared: Prepared, restart: bool = False) -> Evaluation:
    """Read the (prefetched) metrics and decide. Raises QueryFailure (exit 3) when a query
    could not give numbers; no data is a `hold`, never an error. ``restart``: a person
    restarts a rolled-back rollout (``advance --restart``)."""
    standing = prepared.standing
    loaded = standing.loaded
    observations: dict[str, Observation] = {}
    exposures: Exposures | None = None
    exposures_problem: str | None = None
    if prepared.source is not None and prepared.window is not None:
        observations = gather(loaded, prepared.source, prepared.window, prepared.evidence)
        exposures, exposures_problem = count_exposures(loaded, prepared.source, prepared.window)
    from rolloutcli.judge.verdict import decide  # the statistics: not for status or kill

    verdict = decide(
        loaded.plan,
        standing.state,
        standing.position,
        observations,
        exposures,
        prepared.now,
        exposures_problem,
        lifecycle=standing.lifecycle,
        name=loaded.name,
        restart=restart,
        prerequisites=standing.prerequisites,
        knobs=standing.knobs,
    )
    return Evaluation(
        standing, verdict, prepared.now, prepared.window, prepared.source, prepared.needs
    )


async def _prefetch(prepared: list[Prepared], limit: int | None) -> None:
    async with QueryPool(limit=limit or default_limit()) as pool:
        await asyncio.gather(
            *(p.source.prefetch(list(p.needs), pool) for p in prepared if p.source is not None)
        )


def prefetch(prepared: list[Prepared], limit: int | None = None) -> None:
    """Run every plan's metrics queries at once, over one bounded pool."""
    if any(p.source is not None and p.needs for p in prepared):
        asyncio.run(_prefetch(prepared, limit))


def evaluate_many(
    plans: list[LoadedPlan], now: datetime, limit: int | None = None, replay: bool = False
) -> list[Evaluation | RolloutError]:
    """Each plan's verdict, or the error that stopped it, in the plans' order: one plan's
    broken query or unreachable platform never hides the others' verdicts.

    With more than one plan and worker, each plan goes its own way as soon as it can: its
    platform read (on a worker thread, ``limit`` at a time), its metrics queries (over one
    :class:`QueryPool` of ``limit``), its verdict (on a worker thread), then it drops the
    series it fetched. Later plans' reads overlap earlier plans' queries, and a fleet never
    holds every plan's series at once."""
    limit = limit or default_limit()
    try:
        if limit <= 1 or len(plans) <= 1:
            return _one_after_another(plans, now, limit, replay)
        # imported here, once, before the workers decide (conclude imports it lazily): no
        # two threads import the statistics' modules at the same time
        import rolloutcli.judge.verdict  # noqa: F401

        return asyncio.run(_each_on_its_way(plans, now, limit, replay))
    except RolloutError:
        raise  # a bad concurrency setting: the whole command's input
    except Exception as exc:  # each plan keeps its own failures; this is a bug
        raise _internal(exc, "fetching metrics") from exc


def _one_after_another(
    plans: list[LoadedPlan], now: datetime, limit: int, replay: bool
) -> list[Evaluation | RolloutError]:
    prepared = prepare_many(plans, now, limit, replay)
    prefetch([p for p in prepared if isinstance(p, Prepared)], limit)
    return [item if isinstance(item, RolloutError) else _conclude_one(item) for item in prepared]


async def _each_on_its_way(
    plans: list[LoadedPlan], now: datetime, limit: int, replay: bool
) -> list[Evaluation | RolloutError]:
    loop = asyncio.get_running_loop()
    workers = ThreadPoolExecutor(max_workers=min(limit, len(plans)), thread_name_prefix="plan")
    try:
        async with QueryPool(limit=limit) as pool:

            async def one(loaded: LoadedPlan) -> Evaluation | RolloutError:
                # the read runs in a copy of this task's context, itself a copy of the
                # caller's: a deadline budget set around the command reaches every read
                run = contextvars.copy_context().run
                item = await loop.run_in_executor(workers, run, _prepare_one, loaded, now, replay)
                if isinstance(item, RolloutError):
                    return item
                if item.source is not None and item.needs:
                    await item.source.prefetch(list(item.needs), pool)
                return await loop.run_in_executor(workers, run, _conclude_one, item)

            return list(await asyncio.gather(*(one(loaded) for loaded in plans)))
    finally:
        workers.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: no new plan starts


def _conclude_one(item: Prepared) -> Evaluation | RolloutError:
    try:
        return conclude(item)
    except RolloutError as exc:
        return exc
    except Exception as exc:
        return _internal(exc, f"checking plan {item.standing.loaded.name}")
    finally:
        _release(item.source)


def _release(source: MetricsSource | None) -> None:
    """Let a decided plan's source drop the series it fetched (the query sources keep them
    until then): a fleet's plans would otherwise hold them all until the output is printed."""
    release = getattr(source, "release", None)  # duck-typed: not every source caches
    if release is not None:
        release()


def prepare_many(
    plans: list[LoadedPlan], now: datetime, limit: int, replay: bool = False
) -> list[Prepared | RolloutError]:
    """Every plan's platform read (:func:`prepare`), ``limit`` at a time on worker threads,
    in the plans' order; a plan's failure is its own. Each adapter has its own HTTP client,
    so no two threads share one; each read runs in a copy of the caller's context (a
    deadline budget set around the command reaches every read)."""
    if limit <= 1 or len(plans) <= 1:
        return [_prepare_one(loaded, now, replay) for loaded in plans]
    pool = ThreadPoolExecutor(max_workers=min(limit, len(plans)), thread_name_prefix="read")
    try:
        futures = [
            pool.submit(contextvars.copy_context().run, _prepare_one, loaded, now, replay)
            for loaded in plans
        ]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: no new reads start


def _prepare_one(loaded: LoadedPlan, now: datetime, replay: bool) -> Prepared | RolloutError:
    try:
        return prepare(loaded, now, replay)
    except RolloutError as exc:
        return exc
    except Exception as exc:  # a bug in one plan's path must not hide the others
        return _internal(exc, f"reading plan {loaded.name}")


def _internal(exc: Exception, where: str) -> InternalError:
    if os.environ.get("ROLLOUT_DEBUG"):
        raise exc
    return InternalError.of(exc, where)


def evaluate(loaded: LoadedPlan, now: datetime, restart: bool = False) -> Evaluation:
    prepared = prepare(loaded, now)
    prefetch([prepared])
    return conclude(prepared, restart)


@dataclass(frozen=True)
class Explained:
    """``check --explain``: every metrics call of a check, resolved and not run."""

    prepared: Prepared
    queries: tuple[tuple[Need, tuple[ResolvedQuery, ...]], ...]


def explain_queries(loaded: LoadedPlan, now: datetime, replay: bool = False) -> Explained:
    prepared = prepare(loaded, now, replay)
    source = prepared.source
    rows = tuple((need, tuple(source.resolve(need))) for need in prepared.needs) if source else ()
    return Explained(prepared, rows)


def record_needs(loaded: LoadedPlan, window: Window, evidence: Window) -> tuple[Need, ...]:
    """Every call :func:`gather` and :func:`count_exposures` make on a source when all
    data is present (a superset of what they make otherwise), found by running them on a
    source that records calls and answers with placeholder numbers. One code path decides
    what is fetched, so prefetching can never drift from what the verdict reads."""
    recorder = _RecordingSource()
    gather(loaded, recorder, window, evidence)
    count_exposures(loaded, recorder, window)
    return tuple(dict.fromkeys(recorder.needs))


class _RecordingSource:
    name = "recording"

    def __init__(self) -> None:
        self.needs: list[Need] = []

    def describe(self, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter") -> str:
        return ""

    def resolve(self, need: Need) -> list[ResolvedQuery]:
        return []

    async def prefetch(self, needs: list[Need], pool: QueryPool) -> None:
        return None

    def counter(self, metric: str, cohort: Cohort, window: Window) -> float | None:
        self.needs.append(Need("counter", metric, cohort, window))
        return 1.0

    def values(self, metric: str, cohort: Cohort, window: Window) -> MeanData | None:
        self.needs.append(Need("values", metric, cohort, window))
        return MeanData(1, 1.0, 0.0)

    def counter_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> Array | None:
        self.needs.append(Need("counter_series", metric, cohort, window, step))
        return np.ones(max(1, math.ceil(window.length / step)))

    def moment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, log: bool
    ) -> MomentSeries | None:
        self.needs.append(Need("moment_series", metric, cohort, window, step, log))
        size = max(1, math.ceil(window.length / step))
        return MomentSeries(np.ones(size), np.ones(size), np.ones(size))

    def unit_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta
    ) -> UnitMoments | None:
        self.needs.append(Need("unit_series", metric, cohort, window, step))
        ones = np.ones(max(1, math.ceil(window.length / step)))
        return UnitMoments(ones, ones, ones * 2, ones, ones * 4, ones * 2)

    def segment_series(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str
    ) -> dict[str, Array] | None:
        self.needs.append(Need("segment_series", metric, cohort, window, step, by=by))
        return {"segment": np.ones(max(1, math.ceil(window.length / step)))}

    def segment_moments(
        self, metric: str, cohort: Cohort, window: Window, step: timedelta, by: str, log: bool
    ) -> dict[str, MomentSeries] | None:
        self.needs.append(Need("segment_moments", metric, cohort, window, step, log, by))
        found = self.moment_series(metric, cohort, window, step, log)
        self.needs.pop()  # the call above is recorded as this one
        return {"segment": found} if found is not None else None

    def coverage(self, need: Need, window: Window) -> Coverage | None:
        return None  # read from the series already fetched: no call of its own


def _cohorts(loaded: LoadedPlan) -> tuple[Cohort, Cohort]:
    v = loaded.plan.variations
    return Cohort("treatment", v.treatment), Cohort("control", v.control)


def gather(
    loaded: LoadedPlan, source: MetricsSource, window: Window, evidence: Window | None = None
) -> dict[str, Observation]:
    """Each guardrail's data: totals over the stage ``window`` and, for the sequential
    tests, per-interval series over the ``evidence`` window (the rollout so far). Numbers
    that cannot be true hold that guardrail (a DataProblem names them); they never stop
    the others from being read."""
    treatment, control = _cohorts(loaded)
    out: dict[str, Observation] = {}
    for guardrail in loaded.plan.guardrails:
        try:
            obs = _observe(guardrail, loaded, source, (treatment, control), window, evidence)
        except DataProblem as exc:
            obs = Observation(guardrail.name, None, None, problem=exc.detail, untrustworthy=True)
        out[guardrail.name] = obs
    return out


def _observe(
    guardrail: RatioGuardrail | MeanGuardrail,
    loaded: LoadedPlan,
    source: MetricsSource,
    cohorts: tuple[Cohort, Cohort],
    window: Window,
    evidence: Window | None,
) -> Observation:
    treatment, control = cohorts
    settings = loaded.plan.statistics
    sequential = settings.method == "sequential"
    span = evidence or window
    if isinstance(guardrail, RatioGuardrail) and guardrail.per_unit:
        return _observe_units(guardrail, source, cohorts, window, evidence, loaded)
    if isinstance(guardrail, RatioGuardrail):
        obs = _ratio(guardrail, source, treatment, control, window)
        if sequential and not obs.problem:
            series, problem = _ratio_series(
                guardrail, source, treatment, control, span, settings.step
            )
            needs = [
                Need("counter_series", guardrail.trials, c, span, settings.step) for c in cohorts
            ]
            obs = replace(
                obs,
                series=series,
                problem=problem,
                untrustworthy=problem is not None,
                coverage=_coverage(source, needs, window),
            )
            if guardrail.segments is not None and series is not None and not problem:
                found, missing = _segments(
                    guardrail, source, cohorts, (span, window), settings.step, series
                )
                obs = replace(obs, segments=found, problem=missing)
        return obs
    obs = _values(guardrail, source, treatment, control, window)
    if sequential and not obs.problem:
        moments = _mean_series(guardrail, source, treatment, control, span, settings.step)
        log = guardrail.scale == "log"
        needs = [
            Need("moment_series", guardrail.metric, c, span, settings.step, log) for c in cohorts
        ]
        obs = replace(obs, series=moments, coverage=_coverage(source, needs, window))
        if log and moments is not None:
            obs = replace(
                obs,
                treatment=_geometric(moments.treatment, span, window, settings.step),
                control=_geometric(moments.control, span, window, settings.step),
            )
        if guardrail.segments is not None and moments is not None and not obs.problem:
            found, missing = _mean_segments(
                guardrail, source, cohorts, (span, window), settings.step, moments
            )
            obs = replace(obs, segments=found, problem=missing)
    return obs


def _observe_units(
    g: RatioGuardrail,
    source: MetricsSource,
    cohorts: tuple[Cohort, Cohort],
    window: Window,
    evidence: Window | None,
    loaded: LoadedPlan,
) -> Observation:
    """A per-unit ratio: each cohort's per-unit sums over the stage (one interval) and,
    for the sequential tests, per interval over the evidence window."""
    treatment = cohorts[0]
    query = source.describe(g.events, treatment, window, "unit_series")
    if not isinstance(source, UnitSource):  # validation keeps this to the sql source
        return Observation(g.name, None, None, query, f"{source.name} returns no rows per unit")
    totals = {c.role: source.unit_series(g.events, c, window, window.length) for c in cohorts}
    found = totals["treatment"]
    if found is None:
        problem = f"{g.events} (treatment) has no data in the window · {query}"
        return Observation(g.name, None, None, query, problem)
    data = {role: _unit_totals(units) for role, units in totals.items()}
    obs = Observation(g.name, data["treatment"], data["control"], query)
    settings = loaded.plan.statistics
    if settings.method != "sequential":
        return obs
    span, step = evidence or window, settings.step
    series = {c.role: source.unit_series(g.events, c, span, step) for c in cohorts}
    t_units = series["treatment"]
    if t_units is None:
        return obs
    c_units = series["control"]
    if c_units is None:  # no control (at 100%): every interval missing
        empty = np.full(len(t_units.n), np.nan)
        c_units = UnitMoments(*(empty.copy() for _ in range(6)))
    ratio = RatioSeries(
        t_units.events, t_units.trials, c_units.events, c_units.trials, t_units, c_units
    )
    needs = [Need("unit_series", g.events, c, span, step) for c in cohorts]
    return replace(obs, series=ratio, coverage=_coverage(source, needs, window))


def _unit_totals(units: UnitMoments | None) -> RatioData | None:
    if units is None:
        return None
    total = units.total()
    return RatioData(float(total.events[0]), float(total.trials[0]), total)


def _segments(
    g: RatioGuardrail,
    source: MetricsSource,
    cohorts: tuple[Cohort, Cohort],
    windows: tuple[Window, Window],
    step: timedelta,
    total: RatioSeries,
) -> tuple[tuple[SegmentData, ...] | None, str | None]:
    """Each segment's events and trials per interval over the evidence window, and its
    totals over the stage; or the problem (a hold reason) when the source cannot group
    by the label or none of its numbers carry it. Events absent where trials are count 0."""
    assert g.segments is not None
    by = g.segments.by
    span, stage = windows
    if not isinstance(source, SegmentedSource):
        return None, f"the {source.name} source cannot group by {by} yet"
    size = len(total.treatment_trials)
    first = max(0, min(size, int((stage.start - span.start) // step)))
    got: dict[tuple[str, str], dict[str, Array]] = {}
    for cohort in cohorts:
        for metric in (g.events, g.trials):
            found = source.segment_series(metric, cohort, span, step, by)
            if found == {} and metric == g.trials and cohort.role == "treatment":
                query = source.describe(metric, cohort, span, "counter_series")
                return None, (
                    f"{metric} (treatment) has no {by} label or column, so it cannot be "
                    f"judged per {by} (segments.by) · {query}"
                )
            got[(cohort.role, metric)] = found or {}
    names = sorted({name for per in got.values() for name in per})
    out: list[SegmentData] = []
    for name in names:

        def arrays(role: str, name: str = name) -> tuple[Array, Array]:
            missing = np.full(size, np.nan)
            trials = got[(role, g.trials)].get(name, missing)
            events = got[(role, g.events)].get(name, missing)
            return np.where(np.isnan(events) & np.isfinite(trials), 0.0, events), trials

        (te, tn), (ce, cn) = arrays("treatment"), arrays("control")
        out.append(
            SegmentData(
                label(name),  # a source's label value: never raw bytes on a screen
                _stage_totals(te[first:], tn[first:]),
                _stage_totals(ce[first:], cn[first:]),
                RatioSeries(te, tn, ce, cn),
                first,
            )
        )
    return tuple(out), None


def _mean_segments(
    g: MeanGuardrail,
    source: MetricsSource,
    cohorts: tuple[Cohort, Cohort],
    windows: tuple[Window, Window],
    step: timedelta,
    total: MeanSeries,
) -> tuple[tuple[SegmentData, ...] | None, str | None]:
    """Each segment's moments per interval over the evidence window and its values over
    the stage; or the problem (a hold reason) when the source cannot group the metric by
    the label or none of its values carry it."""
    assert g.segments is not None
    by, log = g.segments.by, g.scale == "log"
    span, stage = windows
    if not isinstance(source, SegmentedMomentSource):
        return None, f"the {source.name} source cannot group {g.metric} by {by} yet"
    size = len(total.treatment.n)
    first = max(0, min(size, int((stage.start - span.start) // step)))
    got: dict[str, dict[str, MomentSeries]] = {}
    for cohort in cohorts:
        found = source.segment_moments(g.metric, cohort, span, step, by, log)
        if found == {} and cohort.role == "treatment":
            query = source.describe(g.metric, cohort, span, "moment_series")
            return None, (
                f"{g.metric} (treatment) has no {by} label or column, so it cannot be "
                f"judged per {by} (segments.by) · {query}"
            )
        got[cohort.role] = found or {}
    out: list[SegmentData] = []
    for name in sorted({name for per in got.values() for name in per}):
        empty = np.full(size, np.nan)
        t = got["treatment"].get(name) or MomentSeries(empty, empty.copy(), empty.copy())
        c = got["control"].get(name) or MomentSeries(empty.copy(), empty.copy(), empty.copy())
        out.append(
            SegmentData(
                label(name),  # a source's label value: never raw bytes on a screen
                stage_mean(t, first, log),
                stage_mean(c, first, log),
                MeanSeries(t, c),
                first,
                log,
            )
        )
    return tuple(out), None


def _stage_totals(events: Array, trials: Array) -> RatioData | None:
    """A cohort's events and trials summed over the stage's intervals (None: no trials)."""
    if not np.isfinite(trials).any():
        return None
    return RatioData(float(np.nansum(events)), float(np.nansum(trials)))


def _coverage(
    source: MetricsSource, needs: list[Need], stage: Window
) -> tuple[SeriesCoverage, ...]:
    """How complete each need's series is over the stage, where the source can tell."""
    out: list[SeriesCoverage] = []
    for need in needs:
        found = source.coverage(need, stage)
        if found is not None:
            verb: Verb = "counter" if need.verb == "counter_series" else "values"
            if need.verb == "unit_series":
                verb = "unit_series"
            query = source.describe(need.metric, need.cohort, stage, verb)
            out.append(SeriesCoverage(need.metric, need.cohort.role, found, query))
    return tuple(out)


def _ratio_series(
    g: RatioGuardrail, source: MetricsSource, t: Cohort, c: Cohort, window: Window, step: timedelta
) -> tuple[RatioSeries | None, str | None]:
    """Both cohorts' events and trials per interval. Events absent in an interval that has
    trials count 0 there only while that is plausible (see
    :func:`~rolloutcli.judge.dataquality.absent_events_problem`);
    otherwise the problem names the gap and the verdict holds."""
    arrays: list[tuple[Array, Array]] = []
    problem: str | None = None
    for cohort in (t, c):
        trials = source.counter_series(g.trials, cohort, window, step)
        events = source.counter_series(g.events, cohort, window, step)
        if trials is None:
            if cohort.role == "treatment":
                return None, None
            trials = np.full(len(arrays[0][1]), np.nan)  # no control (at 100%): all missing
        if events is None:  # absent all along: the totals rule has judged it
            events = np.where(np.isfinite(trials), 0.0, np.nan)
        else:
            gap = dataquality.absent_events_problem(events, trials)
            if gap is not None and problem is None:
                query = source.describe(g.events, cohort, window, "counter_series")
                problem = f"{g.events} ({cohort.role}) {gap} · {query}"
            events = np.where(np.isnan(events) & np.isfinite(trials), 0.0, events)
        arrays.append((events, trials))
    (te, tn), (ce, cn) = arrays
    return RatioSeries(te, tn, ce, cn), problem


def _mean_series(
    g: MeanGuardrail, source: MetricsSource, t: Cohort, c: Cohort, window: Window, step: timedelta
) -> MeanSeries | None:
    log = g.scale == "log"
    treatment = source.moment_series(g.metric, t, window, step, log)
    control = source.moment_series(g.metric, c, window, step, log)
    if treatment is None:
        return None
    if control is None:  # no control (at 100%): every interval missing
        empty = np.full(len(treatment.n), np.nan)
        control = MomentSeries(empty, empty.copy(), empty.copy())
    return MeanSeries(treatment, control)


def _geometric(
    series: MomentSeries, evidence: Window, stage: Window, step: timedelta
) -> MeanData | None:
    """For scale: log, a cohort's stage value is its geometric mean (sd is of ln values)."""
    return stage_mean(series, int((stage.start - evidence.start) // step), True)


def _ratio(
    g: RatioGuardrail, source: MetricsSource, t: Cohort, c: Cohort, window: Window
) -> Observation:
    query = " / ".join(source.describe(m, t, window) for m in (g.events, g.trials))
    counts = {
        cohort.role: (
            source.counter(g.events, cohort, window),
            source.counter(g.trials, cohort, window),
        )
        for cohort in (t, c)
    }
    if counts["treatment"][1] is None:
        return Observation(g.name, None, None, query, _no_data(source, g.trials, t, window))
    if all(events is None or trials is None for events, trials in counts.values()):
        # a misspelt query must not read as "zero errors": hold and say so
        silent = (
            _no_data(source, g.events, t, window) + " (nor in control); if it is simply zero "
            "so far, make the query return 0 (PromQL: append `or vector(0)`)"
        )
        return Observation(g.name, None, None, query, silent)
    data: dict[str, RatioData | None] = {}
    problem: str | None = None
    for cohort, other in ((t, c), (c, t)):
        events, trials = counts[cohort.role]
        if trials is None:
            data[cohort.role] = None
            continue
        if events is None:
            problem = problem or _absent_events(
                g, source, cohort, window, trials, counts[other.role]
            )
            events = 0.0
        elif events_exceed_trials(events, trials):
            problem = problem or (
                f"{g.events} ({cohort.role}) counts {events:,.0f}, more than its trials "
                f"{g.trials} ({trials:,.0f}): the two queries count different things · "
                + source.describe(g.events, cohort, window)
            )
        data[cohort.role] = RatioData(events, trials)
    return Observation(
        g.name, data["treatment"], data["control"], query, problem, untrustworthy=bool(problem)
    )


def _absent_events(
    g: RatioGuardrail,
    source: MetricsSource,
    cohort: Cohort,
    window: Window,
    trials: float,
    other: tuple[float | None, float | None],
) -> str | None:
    """An events counter with no data in a cohort that has trials, where the other cohort
    has events: 0 while that is plausible at the other cohort's rate (a Prometheus counter
    appears at its first increment), else a problem: the data is missing, not zero."""
    other_events, other_trials = other
    rate = other_events / other_trials if other_events is not None and other_trials else None
    expected = expected_events(trials, rate)
    if zero_is_plausible(expected):
        return None
    return (
        f"{g.events} ({cohort.role}) has no data in the window although about {expected:.0f} "
        f"were due in its {trials:,.0f} {g.trials} at the other cohort's rate: the data is "
        "missing, not zero (if zero is right, make the query say 0: PromQL `or vector(0)`) · "
        + source.describe(g.events, cohort, window)
    )


def _values(
    g: MeanGuardrail, source: MetricsSource, t: Cohort, c: Cohort, window: Window
) -> Observation:
    query = source.describe(g.metric, t, window, "values")
    treatment = source.values(g.metric, t, window)
    control = source.values(g.metric, c, window)
    problem = None if treatment is not None else _no_data(source, g.metric, t, window, "values")
    return Observation(g.name, treatment, control, query, problem)


def _no_data(
    source: MetricsSource, metric: str, cohort: Cohort, window: Window, verb: Verb = "counter"
) -> str:
    """Names the metric, the backend and the query, so the hold says what to look at."""
    query = source.describe(metric, cohort, window, verb)
    return f"{metric} ({cohort.role}) has no data in the window · {query}"


def count_exposures(
    loaded: LoadedPlan, source: MetricsSource, window: Window
) -> tuple[Exposures | None, str | None]:
    """Exposures per cohort over the stage, or the reason (a whole hold reason) why none
    can be used."""
    metric = loaded.plan.exposure_metric
    if metric is None:
        return None, "no exposure counts: the plan names no exposures counter"
    treatment, control = _cohorts(loaded)
    try:
        t = source.counter(metric, treatment, window)
        c = source.counter(metric, control, window)
        if t is None:
            return None, "no exposure counts: " + _no_data(source, metric, treatment, window)
        exposures = Exposures(treatment=t, control=c or 0.0, metric=metric)
        if loaded.plan.statistics.method == "sequential":
            step = loaded.plan.statistics.step
            ts = source.counter_series(metric, treatment, window, step)
            cs = source.counter_series(metric, control, window, step)
            if ts is not None and cs is not None:
                needs = [
                    Need("counter_series", metric, k, window, step) for k in (treatment, control)
                ]
                exposures = replace(
                    exposures,
                    treatment_series=ts,
                    control_series=cs,
                    coverage=_coverage(source, needs, window),
                )
    except DataProblem as exc:
        return None, f"exposure counts cannot be trusted: {exc.detail}"
    return exposures, None


# ---------------------------------------------------------------------- changes


def advance_change(evaluation: Evaluation) -> RolloutChange:
    """The change a `go` makes: the next stage's split and audience."""
    from rolloutcli.judge.verdict import VerdictKind

    verdict = evaluation.verdict
    if verdict.kind is not VerdictKind.GO or verdict.position.next_index is None:
        raise RefusedError(f"verdict is {verdict.kind.value}: nothing to advance")
    paused = evaluation.standing.state.paused
    if paused is not None:
        by = f" by {paused.by}" if paused.by else ""
        raise RefusedError(
            f"the rollout is paused{by}"
            + (f" ({paused.reason})" if paused.reason else "")
            + f": rollout resume {evaluation.standing.loaded.name} first"
        )
    loaded = evaluation.standing.loaded
    index = verdict.position.next_index
    stage = loaded.plan.stages[index]
    keys, segment = audience_for(loaded.plan, index)
    excluded_keys, excluded_segment = exclusion_for(loaded.plan)
    return RolloutChange(
        percent=stage.percent,
        audience_keys=keys,
        audience_segment=segment,
        excluded_keys=excluded_keys,
        excluded_segment=excluded_segment,
        plan=loaded.name,
        stage=stage.label,
        action="advance",
        comment=f"rolloutcli: plan {loaded.name} → stage {stage.label} "
        f"({stage.percent:g}%), verdict go: {text(verdict.reasons[0])}",
        turn_on=not evaluation.standing.state.on,
    )
