"""The rules that say which numbers cannot be trusted (pure), with exact expected values, and
how a verdict holds on them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from rolloutcli.judge.dataquality import (
    Coverage,
    absent_events_problem,
    bad_value,
    coverage_problem,
    events_exceed_trials,
    expected_events,
    first_bad_value,
    zero_is_plausible,
)
from rolloutcli.judge.findings import STATUS_BAD_DATA, Finding, doubted
from rolloutcli.judge.observations import Observation, RatioData, SeriesCoverage
from rolloutcli.metrics.base import Cohort, DataProblem, Need, Window
from rolloutcli.metrics.file import FileMetricsSource
from rolloutcli.metrics.querying import slot_coverage
from rolloutcli.plan.model import Statistics

NAN = math.nan
START = datetime(2026, 11, 2, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
T = Cohort("treatment", True)


# ---------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        (0.0, "count", None),
        (-0.0, "count", None),
        (1e15, "count", None),
        (12.5, "value", None),
        (-12.5, "value", None),
        (-1.0, "count", "a negative count (-1): counts cannot go below zero"),
        (1.0000001e15, "count", "a value of 1e+15, beyond 1e+15 (a broken query or answer)"),
        (-2e15, "value", "a value of -2e+15, beyond 1e+15 (a broken query or answer)"),
        (
            math.inf,
            "value",
            "a value of +inf (a number the backend made up, e.g. a division by zero)",
        ),
        (
            -math.inf,
            "count",
            "a value of -inf (a number the backend made up, e.g. a division by zero)",
        ),
    ],
)
def test_bad_value(value: float, kind: str, problem: str | None) -> None:
    assert bad_value(value, kind) == problem  # type: ignore[arg-type]


def test_nan_is_missing_not_bad() -> None:
    assert first_bad_value([NAN, 3.0, NAN], "count") is None
    assert first_bad_value([NAN, 3.0, -4.0, math.inf], "count") == (
        "a negative count (-4): counts cannot go below zero"
    )


def test_the_first_bad_value_is_found_among_many_of_any_iterable() -> None:
    values = [float(i) for i in range(1000)]
    assert first_bad_value(values, "count") is None
    assert first_bad_value((*values, -0.0, 1e15), "count") is None  # -0 and the bound
    assert first_bad_value((v for v in [*values, -1.0]), "value") is None
    assert first_bad_value((v for v in [*values, -1.0]), "count") == (
        "a negative count (-1): counts cannot go below zero"
    )
    assert first_bad_value([*values, 2e15, -math.inf], "value") == (
        "a value of 2e+15, beyond 1e+15 (a broken query or answer)"
    )
    assert first_bad_value([NAN, -math.inf, 2e15], "value") == (
        "a value of -inf (a number the backend made up, e.g. a division by zero)"
    )


def test_events_may_exceed_trials_by_the_extrapolation_slack_only() -> None:
    assert not events_exceed_trials(101.0, 100.0)  # 1% + 1 = 102 allowed
    assert not events_exceed_trials(102.0, 100.0)
    assert events_exceed_trials(102.01, 100.0)
    assert not events_exceed_trials(1.0, 0.0)  # one event with no trials: within the +1
    assert events_exceed_trials(300.0, 100.0)


def test_zero_is_plausible_below_three_expected_events() -> None:
    assert expected_events(1000, 0.002) == pytest.approx(2.0)
    assert zero_is_plausible(2.999)
    assert not zero_is_plausible(3.0)
    assert zero_is_plausible(None)  # no rate to compare against: zero is taken at its word
    assert expected_events(0, 0.5) is None
    assert expected_events(100, math.nan) is None


# ---------------------------------------------------------------------- absent events


def test_intervals_before_a_counters_first_point_count_zero() -> None:
    events = np.array([NAN, NAN, NAN, 5.0, 4.0])
    trials = np.array([100.0, 100, 100, 100, 100])
    assert absent_events_problem(events, trials) is None


def test_gaps_after_the_first_point_are_zero_while_zero_intervals_explain_them() -> None:
    trials = np.full(20, 100.0)
    # 0.5 events an interval: ~60% of intervals have none, and a backend that leaves out
    # empty intervals leaves that many gaps: all explained
    sparse = np.array([1.0, NAN, NAN, 2.0, NAN, 1.0, NAN, NAN, 1.0, NAN] * 2)
    assert absent_events_problem(sparse, trials) is None
    # 6 an interval, every other one lost: 10 gaps where about 1 zero interval was due
    assert absent_events_problem(np.array([6.0, NAN] * 10), trials) == (
        "has no data in 10 of 20 intervals that have trials, where about 1 would have had no "
        "events at its rate (chance 1e-07): the series has gaps (data lost, not zero)"
    )


def test_few_intervals_are_weak_evidence_of_lost_data() -> None:
    """Two gaps in four intervals at 2.5 events an interval: a 4% chance, not refused."""
    trials = np.array([100.0, 100, 100, 100])
    assert absent_events_problem(np.array([6.0, NAN, 4.0, NAN]), trials) is None


def test_a_gap_without_trials_is_not_an_event_gap() -> None:
    events = np.array([6.0, NAN, 4.0])
    trials = np.array([100.0, NAN, 100.0])
    assert absent_events_problem(events, trials) is None


# ---------------------------------------------------------------------- coverage


def window(minutes: int) -> Window:
    return Window(START, START + minutes * MINUTE)


def test_slot_coverage_counts_whole_steps_from_the_window_start() -> None:
    starts = np.array([START.timestamp() + 60 * k for k in (0, 1, 3, 4)])
    found = slot_coverage(starts, START.timestamp(), MINUTE, window(6))
    assert found == Coverage(expected=6, received=4, step=MINUTE, silent_tail=1)
    assert found.share == pytest.approx(4 / 6)


def test_slot_coverage_counts_from_a_series_born_mid_window() -> None:
    starts = np.array([START.timestamp() + 60 * k for k in (3, 4, 5)])
    found = slot_coverage(starts, START.timestamp(), MINUTE, window(6))
    assert found == Coverage(expected=3, received=3, step=MINUTE, silent_tail=0)


def test_slot_coverage_of_a_partial_last_step_leaves_it_out() -> None:
    starts = np.array([START.timestamp() + 60 * k for k in range(6)])
    found = slot_coverage(starts, START.timestamp(), MINUTE, Window(START, START + 330 * SECOND))
    assert (found.expected, found.received) == (5, 5)


def test_coverage_problem_names_gaps_and_silence() -> None:
    assert coverage_problem(Coverage(3, 0, MINUTE, 3), 0.8) is None  # too short to judge
    assert coverage_problem(Coverage(10, 8, MINUTE, 0), 0.8) is None
    assert coverage_problem(Coverage(10, 7, MINUTE, 0), 0.8) == (
        "data in only 7 of 10 1m steps (70%; at least 80% needed): the series has gaps"
    )
    assert coverage_problem(Coverage(24, 21, 5 * MINUTE, 3), 0.8) == (
        "no data for the last 15m (its last 3 5m steps)"
    )
    assert coverage_problem(Coverage(10, 9, MINUTE, 1), 0.8) is None
    assert coverage_problem(Coverage(10, 0, MINUTE, 10), 0.0) is None  # min_coverage 0: off


def finding(status: str) -> Finding:
    return Finding(
        "latency", "mean", status, 100.0, 101.0, 0.01, None, None, None, None, 10, 10, None, ""
    )


def test_gaps_turn_ok_and_warn_into_bad_data_but_never_hide_a_breach() -> None:
    gappy = Coverage(24, 12, 5 * MINUTE, 0)
    obs = Observation(
        "latency", None, None, coverage=(SeriesCoverage("p99", "treatment", gappy, "q{x}"),)
    )
    settings = Statistics()
    for status in ("ok", "warn"):
        found = doubted(finding(status), obs, settings, control_expected=True)
        assert found.status == STATUS_BAD_DATA
        assert found.note == (
            "p99 (treatment) has data in only 12 of 24 5m steps (50%; at least 80% needed): "
            "the series has gaps · q{x}"
        )
    for status in ("pause", "rollback", "no_data"):
        assert doubted(finding(status), obs, settings, True).status == status


def test_control_gaps_do_not_count_once_there_is_no_control() -> None:
    gappy = Coverage(24, 2, MINUTE, 0)
    obs = Observation(
        "latency",
        RatioData(1, 10),
        None,
        coverage=(SeriesCoverage("requests", "control", gappy, ""),),
    )
    assert doubted(finding("ok"), obs, Statistics(), control_expected=False).status == "ok"
    assert doubted(finding("ok"), obs, Statistics(), control_expected=True).status == "bad_data"


# ---------------------------------------------------------------------- the file source


def test_file_coverage_is_measured_at_the_files_own_cadence(tmp_path: Path) -> None:
    rows = ["time,cohort,metric,value"]
    for minute in range(0, 60, 5):
        at = (START + minute * MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{at},control,requests,900")
        if minute not in (20, 25, 30):  # the treatment lost three reports
            rows.append(f"{at},treatment,requests,100")
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows) + "\n")
    source = FileMetricsSource(path)
    need = Need("counter_series", "requests", T, window(60), MINUTE)
    assert source.coverage(need, window(60)) == Coverage(12, 9, 5 * MINUTE, 0)


def test_irregular_raw_samples_have_no_cadence_to_judge(tmp_path: Path) -> None:
    rows = ["time,cohort,metric,value"]
    for second in (0, 7, 19, 60, 61, 200, 390, 391, 1000):
        at = (START + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{at},treatment,latency,{100 + second}")
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows) + "\n")
    need = Need("moment_series", "latency", T, window(60), MINUTE)
    assert FileMetricsSource(path).coverage(need, window(60)) is None


def test_a_negative_file_row_is_a_data_problem_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("time,cohort,metric,value\n2026-11-02T10:01:00Z,treatment,errors,-500\n")
    with pytest.raises(DataProblem) as info:
        FileMetricsSource(path).counter("errors", T, window(60))
    assert info.value.detail == (
        "errors (treatment) has a negative count (-500): counts cannot go below zero · "
        "m.csv: metric=errors cohort in (treatment, true) time in "
        "[2026-11-02T10:00:00Z, 2026-11-02T11:00:00Z)"
    )


# ---------------------------------------------------------------------- by simulation


@pytest.mark.parametrize("per_interval", [0.05, 0.5, 1.0, 2.0, 5.0])
def test_omitted_zeros_are_rarely_called_lost_data(per_interval: float) -> None:
    """Seeded simulation of the null: Poisson events per interval (trials vary ±50%), every
    interval without an event left out, as DogStatsD or a file without zero rows leave it.
    Stated level 0.1%; the Poisson approximation errs towards zeros, so at most 0.5% of
    2,000 series may be called lost (10 of 2,000; the expectation is under 2)."""
    rng = np.random.default_rng(int(per_interval * 1000))
    held = 0
    for _ in range(2_000):
        trials = rng.uniform(50, 150, 120)
        events = rng.poisson(per_interval * trials / 100).astype(float)
        events[events == 0] = NAN
        held += absent_events_problem(events, trials) is not None
    assert held <= 10, held


@pytest.mark.parametrize(("per_interval", "zeros_left_out"), [(5.0, True), (5.0, False)])
def test_a_series_that_lost_every_other_point_is_caught(
    per_interval: float, zeros_left_out: bool
) -> None:
    """The same series with every other interval lost too: caught in at least 99% of 2,000
    simulations at 5 events an interval (60 gaps where ~10 zeros could be), whether the
    backend leaves empty intervals out or not. At one event an interval or fewer a lost
    interval cannot be told from one without events (a third or more have none): there the
    trials' coverage is what catches a lost scrape, not this rule."""
    rng = np.random.default_rng(int(per_interval * 7) + zeros_left_out)
    caught = 0
    for _ in range(2_000):
        trials = rng.uniform(50, 150, 120)
        events = rng.poisson(per_interval * trials / 100).astype(float)
        if zeros_left_out:
            events[events == 0] = NAN
        events[1::2] = NAN
        caught += absent_events_problem(events, trials) is not None
    assert caught >= 1_980, caught


# ---------------------------------------------------------------------- answers


def test_samples_stamped_far_outside_the_range_asked_for_are_malformed() -> None:

    from rolloutcli.metrics.base import QueryFailure
    from rolloutcli.metrics.pool import Call
    from rolloutcli.metrics.prometheus import _points

    call = Call("prometheus", "http://x", "/api/v1/query", {"query": "q", "time": "1793620800"})
    near = {"resultType": "vector", "result": [{"metric": {}, "value": [1793620800, "1"]}]}
    assert _points(near, call).times == (1793620800.0,)  # type: ignore[union-attr]
    far = {"resultType": "vector", "result": [{"metric": {}, "value": [1e300, "1"]}]}
    with pytest.raises(QueryFailure) as info:
        _points(far, call)
    assert "malformed answer: a timestamp 1e+300 far outside the range asked for" in str(info.value)


def test_every_error_is_one_line_whatever_a_server_put_in_it() -> None:
    from rolloutcli.support.errors import BackendError, PlanError

    assert str(BackendError("unleash", "no environment 'prod' (it has: \n)")) == (
        "unleash: no environment 'prod' (it has: \\n)"
    )
    assert PlanError(["a.yaml:1: key\r\nforged: line"]).problems == [
        "a.yaml:1: key\\r\\nforged: line"
    ]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2,1,-5", "sum and sum_sq must be finite, sum_sq not negative"),
        ("0,5,5", "sum and sum_sq of no values (count 0) must be 0"),
        ("2,10,1", "sum_sq is smaller than sum²/count: not the moments of real values"),
        ("2.5,1,1", "count 2.5 is not a whole number >= 0"),
        ("2,inf,1", "sum and sum_sq must be finite, sum_sq not negative"),
    ],
)
def test_summary_rows_must_be_moments_of_real_values(
    tmp_path: Path, row: str, problem: str
) -> None:
    from rolloutcli.support.errors import BackendError

    path = tmp_path / "m.csv"
    path.write_text(
        "time,cohort,metric,count,sum,sum_sq\n"
        "2026-11-02T10:01:00Z,treatment,latency,3,6,14\n"
        f"2026-11-02T10:02:00Z,treatment,latency,{row}\n"
    )
    with pytest.raises(BackendError) as info:
        FileMetricsSource(path).values("latency", T, window(60))
    assert str(info.value) == f"metrics file: {path}:3: {problem}"
