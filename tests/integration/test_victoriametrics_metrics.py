"""The Prometheus suite's verdicts, with VictoriaMetrics 1.79 as the server.

VictoriaMetrics answers PromQL (MetricsQL) on the same ``/api/v1/query`` and
``/api/v1/query_range`` endpoints, so a plan reads it with ``metrics.source.kind: prometheus``
and the server's URL. The cases are the Prometheus suite's own test functions, imported here
and run against ``victoriametrics_url`` (same history, imported over HTTP) through the
module-level ``prometheus_url`` fixture below, so both servers answer exactly the same checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_helpers import invoke
from tests.integration.test_prometheus_metrics import (
    AT,
    setup,
    test_a_global_incident_in_both_cohorts_is_not_a_rollback,
    test_a_healthy_rollout_goes_on,
    test_a_metric_with_no_data_for_the_trials_names_the_query,
    test_a_metric_with_no_data_holds_and_is_named,
    test_a_server_that_is_down_exits_3_and_changes_nothing,
    test_an_error_regression_in_the_treatment_only_rolls_back,
    test_several_plans_share_one_check,
    test_several_series_where_one_was_expected_is_refused,
    test_the_shipped_example_plan_runs_on_prometheus,
)

pytestmark = [pytest.mark.integration, pytest.mark.victoriametrics]

__all__ = [
    "test_a_global_incident_in_both_cohorts_is_not_a_rollback",
    "test_a_healthy_rollout_goes_on",
    "test_a_metric_with_no_data_for_the_trials_names_the_query",
    "test_a_metric_with_no_data_holds_and_is_named",
    "test_a_server_that_is_down_exits_3_and_changes_nothing",
    "test_an_error_regression_in_the_treatment_only_rolls_back",
    "test_several_plans_share_one_check",
    "test_several_series_where_one_was_expected_is_refused",
    "test_the_shipped_example_plan_runs_on_prometheus",
]


@pytest.fixture
def prometheus_url(victoriametrics_url: str) -> str:
    """The Prometheus tests' server, here VictoriaMetrics."""
    return victoriametrics_url


def test_a_bad_query_is_a_clear_error(tmp_path: Path, victoriametrics_url: str) -> None:
    """VictoriaMetrics rejects it with HTTP 422 and ``errorType: "422"`` (Prometheus: 400
    ``bad_data``) and its own parser's words; the error is still one line, exit 3."""
    broken = 'sum(increase(http_requests_total{flag="{flag}",variant="{cohort}"}[{window}])'
    plan = setup(tmp_path, "healthy", victoriametrics_url, errors=broken)
    code, output = invoke("check", str(plan), "--at", AT)
    assert code == 3
    assert len(output.strip().splitlines()) == 1, output
    assert "metric errors (treatment): query rejected (422: " in output, output
    assert "unexpected token" in output and "fix the query template" in output
    assert 'variant="true"' in output  # the resolved query, not the template
