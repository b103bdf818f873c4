"""What a check asks of a metrics source (``engine.record_needs``), and the rule in
``engine._ratio`` that tells "no events yet" from "a query that matches nothing"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rolloutcli.app.evaluate import _ratio, gather, record_needs
from rolloutcli.judge.observations import RatioData
from rolloutcli.metrics import open_source
from rolloutcli.metrics.base import Cohort, Need, Window
from rolloutcli.plan.model import LoadedPlan, RatioGuardrail, load_plan

T = Cohort("treatment", True)
C = Cohort("control", False)
STAGE = Window(datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC))
EVIDENCE = Window(datetime(2026, 11, 2, 8, tzinfo=UTC), STAGE.end)
MINUTE = timedelta(minutes=1)


def checkout(workspace: Path) -> LoadedPlan:
    return load_plan(Path("plans/checkout-v2.yaml"))


def ratio_needs(events: str, trials: str) -> set[Need]:
    """A ratio guardrail: totals over the stage, per-interval counts over the evidence."""
    return {
        *(Need("counter", m, c, STAGE) for m in (events, trials) for c in (T, C)),
        *(Need("counter_series", m, c, EVIDENCE, MINUTE) for m in (events, trials) for c in (T, C)),
    }


def test_checkout_plan_needs_every_total_and_series_once(workspace: Path) -> None:
    loaded = checkout(workspace)
    assert loaded.plan.statistics.step == MINUTE
    needs = record_needs(loaded, STAGE, EVIDENCE)
    expected = {
        # error_rate (ratio): errors / requests
        *ratio_needs("errors", "requests"),
        # p99_latency (mean, linear): values over the stage, moments over the evidence
        Need("values", "latency_p99_ms", T, STAGE),
        Need("values", "latency_p99_ms", C, STAGE),
        Need("moment_series", "latency_p99_ms", T, EVIDENCE, MINUTE, False),
        Need("moment_series", "latency_p99_ms", C, EVIDENCE, MINUTE, False),
        # conversion (ratio): orders / checkouts
        *ratio_needs("orders", "checkouts"),
        # exposures: requests totals (already asked for) and series over the stage
        Need("counter_series", "requests", T, STAGE, MINUTE),
        Need("counter_series", "requests", C, STAGE, MINUTE),
    }
    assert set(needs) == expected
    assert len(needs) == len(expected) == 22  # no duplicates


def test_needs_come_in_the_order_the_verdict_reads_them(workspace: Path) -> None:
    needs = record_needs(checkout(workspace), STAGE, EVIDENCE)
    assert needs[:4] == (
        Need("counter", "errors", T, STAGE),
        Need("counter", "requests", T, STAGE),
        Need("counter", "errors", C, STAGE),
        Need("counter", "requests", C, STAGE),
    )
    assert needs[-2:] == (
        Need("counter_series", "requests", T, STAGE, MINUTE),
        Need("counter_series", "requests", C, STAGE, MINUTE),
    )


def test_stage_scope_shares_the_exposures_series_with_the_guardrail(workspace: Path) -> None:
    needs = record_needs(checkout(workspace), STAGE, STAGE)
    assert len(needs) == len(set(needs)) == 20
    assert Need("counter_series", "requests", T, STAGE, MINUTE) in needs
    assert {n.window for n in needs} == {STAGE}


def test_log_scale_asks_for_moments_of_logs(workspace: Path) -> None:
    path = Path("plans/checkout-v2.yaml")
    text = path.read_text()
    marker = "    metric: latency_p99_ms         # one p99 per 5-minute interval\n"
    assert marker in text
    path.write_text(text.replace(marker, marker + "    scale: log\n"))
    needs = record_needs(load_plan(path), STAGE, EVIDENCE)
    moments = {n for n in needs if n.verb == "moment_series"}
    assert moments == {
        Need("moment_series", "latency_p99_ms", T, EVIDENCE, MINUTE, True),
        Need("moment_series", "latency_p99_ms", C, EVIDENCE, MINUTE, True),
    }


def test_fixed_method_asks_for_totals_and_values_only(workspace: Path) -> None:
    path = Path("plans/checkout-v2.yaml")
    text = path.read_text()
    assert "  method: sequential" in text
    path.write_text(text.replace("  method: sequential", "  method: fixed"))
    needs = record_needs(load_plan(path), STAGE, EVIDENCE)
    assert {n.verb for n in needs} == {"counter", "values"}
    assert len(needs) == len(set(needs)) == 10


# --------------------------------------------------------------------- _ratio's rule

PLAN = """\
flag: demo
platform:
  kind: flagfile
  path: flags.json
variations:
  treatment: true
  control: false
stages:
  - percent: 10
    min_duration: 1h
  - percent: 100
    min_duration: 0
metrics:
  source:
    kind: file
    path: metrics.csv
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    thresholds:
      pause: "+50%"
"""

HEADER = "time,cohort,metric,value\n"
REQUESTS = (
    "2026-11-02T10:10:00Z,treatment,requests,100\n2026-11-02T10:10:00Z,control,requests,900\n"
)


def file_plan(tmp_path: Path, rows: str) -> LoadedPlan:
    (tmp_path / "metrics.csv").write_text(HEADER + rows)
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return load_plan(path)


def error_rate(loaded: LoadedPlan) -> RatioGuardrail:
    guardrail = loaded.plan.guardrails[0]
    assert isinstance(guardrail, RatioGuardrail)
    return guardrail


def test_events_without_rows_in_either_cohort_is_a_problem(tmp_path: Path) -> None:
    loaded = file_plan(tmp_path, REQUESTS)
    obs = _ratio(error_rate(loaded), open_source(loaded), T, C, STAGE)
    assert obs.problem == (
        "errors (treatment) has no data in the window · metrics.csv: metric=errors cohort in "
        "(treatment, true) time in [2026-11-02T10:00:00Z, 2026-11-02T12:00:00Z) (nor in "
        "control); if it is simply zero so far, make the query return 0 (PromQL: append "
        "`or vector(0)`)"
    )
    # no numbers are made up for the table: the problem holds the verdict
    assert obs.treatment is None and obs.control is None


def test_events_in_control_only_count_zero_in_treatment(tmp_path: Path) -> None:
    loaded = file_plan(tmp_path, REQUESTS + "2026-11-02T10:20:00Z,control,errors,9\n")
    obs = _ratio(error_rate(loaded), open_source(loaded), T, C, STAGE)
    assert obs.problem is None
    assert obs.treatment == RatioData(0.0, 100.0)
    assert obs.control == RatioData(9.0, 900.0)


def test_events_in_treatment_only_count_zero_in_control_while_plausible(tmp_path: Path) -> None:
    """1 error in 100 treatment requests: 9 were due in control's 900 at that rate, so no
    error counter in control is missing data; at 0.2 in 100 (1.8 due) it is zero."""
    loaded = file_plan(tmp_path, REQUESTS + "2026-11-02T10:20:00Z,treatment,errors,1\n")
    obs = _ratio(error_rate(loaded), open_source(loaded), T, C, STAGE)
    assert obs.untrustworthy and obs.problem is not None
    assert obs.problem.startswith(
        "errors (control) has no data in the window although about 9 were due in its 900 "
        "requests at the other cohort's rate: the data is missing, not zero"
    )
    assert obs.control == RatioData(0.0, 900.0)

    loaded = file_plan(tmp_path, REQUESTS + "2026-11-02T10:20:00Z,treatment,errors,0.2\n")
    obs = _ratio(error_rate(loaded), open_source(loaded), T, C, STAGE)
    assert obs.problem is None
    assert obs.treatment == RatioData(0.2, 100.0)
    assert obs.control == RatioData(0.0, 900.0)


def test_treatment_without_trials_is_a_problem_naming_the_trials(tmp_path: Path) -> None:
    rows = "2026-11-02T10:10:00Z,control,requests,900\n2026-11-02T10:20:00Z,control,errors,9\n"
    loaded = file_plan(tmp_path, rows)
    obs = _ratio(error_rate(loaded), open_source(loaded), T, C, STAGE)
    assert obs.treatment is None
    assert obs.problem == (
        "requests (treatment) has no data in the window · metrics.csv: metric=requests "
        "cohort in (treatment, true) time in [2026-11-02T10:00:00Z, 2026-11-02T12:00:00Z)"
    )


def test_silent_events_skip_the_series_in_gather(tmp_path: Path) -> None:
    loaded = file_plan(tmp_path, REQUESTS)
    observations = gather(loaded, open_source(loaded), STAGE, STAGE)
    obs = observations["error_rate"]
    assert obs.problem is not None and "or vector(0)" in obs.problem
    assert obs.series is None
