"""Per-interval series: the metrics file's buckets, where the evidence window begins, and
what ``engine.gather`` hands the sequential tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from rolloutcli.app import evaluate as engine
from rolloutcli.judge.flagstate import ChangeRecord, FlagState
from rolloutcli.judge.observations import MeanData, MeanSeries, Observation, RatioData, RatioSeries
from rolloutcli.judge.stagestart import stage_start
from rolloutcli.metrics.base import Cohort, Window
from rolloutcli.metrics.file import FileMetricsSource
from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import BackendError

T = Cohort("treatment", "v2.4")
C = Cohort("control", "v2.3")
START = datetime(2026, 11, 2, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WINDOW = Window(START, START + 5 * MINUTE)  # five one-minute buckets
NAN = math.nan

CSV = """time,cohort,metric,value,count,sum,sum_sq
2026-11-02T09:59:59Z,treatment,requests,1000,,,
2026-11-02T10:00:00Z,treatment,requests,10,,,
2026-11-02T10:00:30Z,treatment,requests,5,,,
2026-11-02T10:02:59Z,v2.4,requests,7,,,
2026-11-02T10:04:00Z,treatment,requests,3,,,
2026-11-02T10:05:00Z,treatment,requests,100,,,
2026-11-02T10:01:00Z,control,requests,20,,,
2026-11-02T10:03:10Z,control,requests,,4,30,300
2026-11-02T10:00:10Z,treatment,latency,1.0,,,
2026-11-02T10:00:50Z,treatment,latency,3.0,,,
2026-11-02T10:02:00Z,treatment,latency,4.0,,,
2026-11-02T10:01:00Z,control,latency,,2,4.0,10.0
2026-11-02T10:01:30Z,control,latency,5.0,,,
2026-11-02T10:03:00Z,control,latency,,3,6.0,14.0
2026-11-02T10:00:00Z,treatment,ttfb,2.718281828459045,,,
2026-11-02T10:00:20Z,treatment,ttfb,7.38905609893065,,,
2026-11-02T10:03:00Z,treatment,ttfb,1.0,,,
2026-11-02T10:00:00Z,control,zero,0,,,
"""


@pytest.fixture
def source(tmp_path: Path) -> FileMetricsSource:
    path = tmp_path / "m.csv"
    path.write_text(CSV)
    return FileMetricsSource(path)


def same(actual: np.ndarray | None, expected: list[float]) -> None:
    """Exact equality, NaN included (NaN = no rows in that bucket)."""
    assert actual is not None
    np.testing.assert_array_equal(actual, np.array(expected))


# --------------------------------------------------------------------------- counters


def test_counter_series_buckets_rows_from_the_window_start(source: FileMetricsSource) -> None:
    # 10:00:00 and 10:00:30 share minute 0; 10:02:59 is still minute 2; 09:59:59 and
    # 10:05:00 are outside the half-open window; the variation label counts as treatment
    same(source.counter_series("requests", T, WINDOW, MINUTE), [15, NAN, 7, NAN, 3])


def test_counter_series_adds_a_summary_row_by_its_sum(source: FileMetricsSource) -> None:
    same(source.counter_series("requests", C, WINDOW, MINUTE), [NAN, 20, NAN, 30, NAN])


def test_counter_series_with_a_coarser_step_and_a_ragged_window(
    source: FileMetricsSource,
) -> None:
    ragged = Window(START, START + timedelta(minutes=4, seconds=30))
    # ceil(4.5 / 2) = 3 buckets of two minutes; the 10:04:00 row lands in the short last one
    same(source.counter_series("requests", T, ragged, 2 * MINUTE), [15, 7, 3])


def test_counter_series_without_rows_is_none(source: FileMetricsSource) -> None:
    assert source.counter_series("errors", T, WINDOW, MINUTE) is None
    outside = Window(START - 5 * MINUTE, START - 2 * MINUTE)
    assert source.counter_series("requests", C, outside, MINUTE) is None


# --------------------------------------------------------------------------- moments


def test_moment_series_of_raw_values(source: FileMetricsSource) -> None:
    m = source.moment_series("latency", T, WINDOW, MINUTE, log=False)
    assert m is not None
    same(m.n, [2, NAN, 1, NAN, NAN])
    same(m.total, [4, NAN, 4, NAN, NAN])
    same(m.total_sq, [10, NAN, 16, NAN, NAN])


def test_moment_series_pools_summaries_and_raw_values(source: FileMetricsSource) -> None:
    m = source.moment_series("latency", C, WINDOW, MINUTE, log=False)
    assert m is not None
    # minute 1: a summary (2 values, sum 4, sum_sq 10) plus the raw value 5
    same(m.n, [NAN, 3, NAN, 3, NAN])
    same(m.total, [NAN, 9, NAN, 6, NAN])
    same(m.total_sq, [NAN, 35, NAN, 14, NAN])


def test_moment_series_of_logs(source: FileMetricsSource) -> None:
    m = source.moment_series("ttfb", T, WINDOW, MINUTE, log=True)
    assert m is not None
    # ln e = 1, ln e² = 2, ln 1 = 0
    same(m.n, [2, NAN, NAN, 1, NAN])
    np.testing.assert_allclose(m.total, [3, NAN, NAN, 0, NAN], rtol=1e-12)
    np.testing.assert_allclose(m.total_sq, [5, NAN, NAN, 0, NAN], rtol=1e-12)
    raw = source.moment_series("ttfb", T, WINDOW, MINUTE, log=False)
    assert raw is not None
    np.testing.assert_allclose(raw.total, [math.e + math.e**2, NAN, NAN, 1, NAN], rtol=1e-12)


def test_log_of_summary_rows_is_a_backend_error(source: FileMetricsSource) -> None:
    with pytest.raises(BackendError, match="pre-aggregated rows") as info:
        source.moment_series("latency", C, WINDOW, MINUTE, log=True)
    assert info.value.hint is not None and "scale: linear" in info.value.hint


def test_log_of_a_non_positive_value_is_a_backend_error(source: FileMetricsSource) -> None:
    with pytest.raises(BackendError, match="value 0 <= 0"):
        source.moment_series("zero", C, WINDOW, MINUTE, log=True)
    linear = source.moment_series("zero", C, WINDOW, MINUTE, log=False)
    assert linear is not None
    same(linear.n, [1, NAN, NAN, NAN, NAN])


def test_moment_series_without_rows_is_none(source: FileMetricsSource) -> None:
    assert source.moment_series("latency", T, Window(START - MINUTE, START), MINUTE, False) is None
    assert source.moment_series("nothing", T, WINDOW, MINUTE, log=True) is None


# --------------------------------------------------------------------------- rollout start


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, tzinfo=UTC)


def record(when: datetime, action: str, before: float, after: float) -> ChangeRecord:
    return ChangeRecord(when, action, before, after, None, "p", "")


def flag_state(changed_at: datetime | None) -> FlagState:
    return FlagState(flag="f", on=True, percent=10, split_changed_at=changed_at)


def rollout_started_at(history: list[ChangeRecord], state: FlagState) -> datetime | None:
    return stage_start(state, history).rollout


def test_rollout_began_at_the_first_advance() -> None:
    history = [record(at(9), "advance", 0, 1), record(at(10), "advance", 1, 10)]
    assert rollout_started_at(history, flag_state(at(10))) == at(9)
    # the order of the history does not matter
    assert rollout_started_at(history[::-1], flag_state(at(10))) == at(9)


def test_a_rollback_restarts_the_rollout() -> None:
    history = [
        record(at(6), "advance", 0, 1),
        record(at(7), "advance", 1, 10),
        record(at(8), "rollback", 10, 0),
        record(at(9), "advance", 0, 1),
        record(at(10), "advance", 1, 10),
    ]
    assert rollout_started_at(history, flag_state(at(10))) == at(9)


def test_no_advance_since_the_last_break_falls_back_to_the_stage_start() -> None:
    history = [record(at(6), "advance", 0, 10), record(at(8), "rollback", 10, 0)]
    assert rollout_started_at(history, flag_state(at(8))) == at(8)


def test_empty_history_is_when_the_stage_began() -> None:
    assert rollout_started_at([], flag_state(at(10, 30))) == at(10, 30)
    assert rollout_started_at([], flag_state(None)) is None


def test_an_advance_after_the_live_change_is_not_trusted() -> None:
    history = [record(at(11), "advance", 0, 10)]
    assert rollout_started_at(history, flag_state(at(10))) == at(10)


# --------------------------------------------------------------------------- gather


PLAN = """\
flag: demo
platform:
  kind: flagfile
  path: flags.json
variations:
  treatment: "v2.4"
  control: "v2.3"
stages:
  - percent: 10
    min_duration: 1m
  - percent: 100
metrics:
  source:
    kind: file
    path: m.csv
  exposures: requests
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds:
      rollback: 2x
  - name: latency
    kind: mean
    metric: latency
    scale: log
    thresholds:
      rollback: "+20%"
"""

GATHER_CSV = """time,cohort,metric,value
2026-11-02T10:00:00Z,treatment,requests,100
2026-11-02T10:01:00Z,treatment,requests,110
2026-11-02T10:03:00Z,treatment,requests,120
2026-11-02T10:00:00Z,control,requests,900
2026-11-02T10:01:00Z,control,requests,910
2026-11-02T10:02:00Z,control,requests,920
2026-11-02T10:03:00Z,control,requests,930
2026-11-02T10:01:00Z,treatment,errors,2
2026-11-02T10:02:00Z,treatment,errors,9
2026-11-02T10:00:00Z,control,errors,1
2026-11-02T10:03:00Z,control,errors,1
2026-11-02T10:00:00Z,v2.4,latency,100
2026-11-02T10:02:00Z,v2.4,latency,400
2026-11-02T10:03:00Z,treatment,latency,200
2026-11-02T10:00:00Z,v2.3,latency,100
2026-11-02T10:03:00Z,control,latency,100
"""

EVIDENCE = Window(START, START + 4 * MINUTE)
STAGE = Window(START + 2 * MINUTE, START + 4 * MINUTE)


def gathered(tmp_path: Path, statistics: str = "") -> dict[str, Observation]:
    (tmp_path / "plan.yaml").write_text(PLAN + statistics)
    (tmp_path / "m.csv").write_text(GATHER_CSV)
    loaded = load_plan(tmp_path / "plan.yaml")
    return engine.gather(loaded, FileMetricsSource(tmp_path / "m.csv"), STAGE, EVIDENCE)


def test_gather_fills_missing_events_with_zero_where_trials_exist(tmp_path: Path) -> None:
    obs = gathered(tmp_path)["error_rate"]
    series = obs.series
    assert isinstance(series, RatioSeries)
    same(series.treatment_trials, [100, 110, NAN, 120])
    # minute 0 had requests before the first error row (the counter's birth): zero errors;
    # minute 3 too, since about 2 errors (fewer than 3) were due there at the rate of minute
    # 1. Minute 2 has errors but no requests: kept as is, and the sequential tests skip it
    same(series.treatment_events, [0, 2, 9, 0])
    same(series.control_trials, [900, 910, 920, 930])
    same(series.control_events, [1, 0, 0, 1])
    # the totals cover the stage window only (10:02-10:04)
    assert obs.treatment == RatioData(9, 120)
    assert obs.control == RatioData(1, 1850)
    assert obs.problem is None


def test_gather_holds_on_event_gaps_where_many_events_were_due(tmp_path: Path) -> None:
    """The same gaps with a control error rate of 1.6%: a minute of ~900 requests without
    an error is then a 1-in-a-million event, so two such minutes are lost data, not zero."""
    (tmp_path / "plan.yaml").write_text(PLAN)
    csv = GATHER_CSV.replace(",control,errors,1\n", ",control,errors,15\n")
    (tmp_path / "m.csv").write_text(csv)
    loaded = load_plan(tmp_path / "plan.yaml")
    obs = engine.gather(loaded, FileMetricsSource(tmp_path / "m.csv"), STAGE, EVIDENCE)
    error_rate = obs["error_rate"]
    assert error_rate.untrustworthy
    assert error_rate.problem == (
        "errors (control) has no data in 2 of 4 intervals that have trials, where about "
        "0.0022 would have had no events at its rate (chance 2e-06): the series has gaps "
        "(data lost, not zero) · m.csv: "
        "metric=errors cohort in (control, v2.3) time in "
        "[2026-11-02T10:00:00Z, 2026-11-02T10:04:00Z)"
    )


def test_gather_gives_log_series_and_geometric_means(tmp_path: Path) -> None:
    obs = gathered(tmp_path)["latency"]
    series = obs.series
    assert isinstance(series, MeanSeries)
    same(series.treatment.n, [1, NAN, 1, 1])
    np.testing.assert_allclose(
        series.treatment.total, [math.log(100), NAN, math.log(400), math.log(200)]
    )
    same(series.control.n, [1, NAN, NAN, 1])
    # scale: log: a cohort's stage value is its geometric mean over the stage window
    assert isinstance(obs.treatment, MeanData) and isinstance(obs.control, MeanData)
    assert obs.treatment.n == 2
    assert obs.treatment.value == pytest.approx(math.sqrt(400 * 200))
    assert obs.control.n == 1
    assert obs.control.value == pytest.approx(100)


def test_gather_under_the_fixed_method_has_no_series(tmp_path: Path) -> None:
    obs = gathered(tmp_path, "statistics:\n  method: fixed\n")
    assert obs["error_rate"].series is None and obs["latency"].series is None
    assert obs["error_rate"].treatment == RatioData(9, 120)
    # the fixed method keeps arithmetic means
    assert obs["latency"].treatment is not None
    assert obs["latency"].treatment.value == pytest.approx(300)


def test_gather_uses_the_stage_window_when_no_evidence_window(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "m.csv").write_text(GATHER_CSV)
    loaded = load_plan(tmp_path / "plan.yaml")
    obs = engine.gather(loaded, FileMetricsSource(tmp_path / "m.csv"), STAGE)
    series = obs["error_rate"].series
    assert isinstance(series, RatioSeries)
    same(series.treatment_trials, [NAN, 120])
    same(series.treatment_events, [9, 0])
    same(series.control_events, [0, 1])


def test_gather_fills_a_cohort_without_any_event_rows_with_zeros(tmp_path: Path) -> None:
    """Control has no error rows at all; at the treatment's stage rate (0.1 in 120) about
    1.5 errors were due in control's 1,850 requests: zero is plausible."""
    (tmp_path / "plan.yaml").write_text(PLAN)
    lines = [line for line in GATHER_CSV.splitlines() if ",control,errors," not in line]
    csv = "\n".join(lines).replace(",treatment,errors,9", ",treatment,errors,0.1") + "\n"
    (tmp_path / "m.csv").write_text(csv)
    loaded = load_plan(tmp_path / "plan.yaml")
    obs = engine.gather(loaded, FileMetricsSource(tmp_path / "m.csv"), STAGE, EVIDENCE)
    series = obs["error_rate"].series
    assert isinstance(series, RatioSeries)
    same(series.control_trials, [900, 910, 920, 930])
    same(series.control_events, [0, 0, 0, 0])
    same(series.treatment_events, [0, 2, 0.1, 0])
    assert obs["error_rate"].problem is None


def test_gather_holds_on_a_cohort_without_event_rows_where_many_were_due(
    tmp_path: Path,
) -> None:
    """Control has no error rows while the treatment fails 9 in 120 (7.5%): about 139
    errors were due in control's 1,850 requests, so the counter is missing, not zero."""
    (tmp_path / "plan.yaml").write_text(PLAN)
    csv = "".join(line + "\n" for line in GATHER_CSV.splitlines() if ",control,errors," not in line)
    (tmp_path / "m.csv").write_text(csv)
    loaded = load_plan(tmp_path / "plan.yaml")
    obs = engine.gather(loaded, FileMetricsSource(tmp_path / "m.csv"), STAGE, EVIDENCE)
    error_rate = obs["error_rate"]
    assert error_rate.series is None and error_rate.untrustworthy
    assert error_rate.problem is not None
    assert error_rate.problem.startswith(
        "errors (control) has no data in the window although about 139 were due in its "
        "1,850 requests at the other cohort's rate: the data is missing, not zero"
    )
