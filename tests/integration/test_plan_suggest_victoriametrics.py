"""`rollout plan suggest` against a real VictoriaMetrics 1.79 (through the Prometheus
adapter) over the 14 days of history with known parameters that the Prometheus suggest
suite backfills (:mod:`tests.integration.test_plan_suggest_prometheus`), imported into the
session's server beside the rollouts' history (other metric names, nothing shared).

The same checks as against Prometheus, against what the parameters imply: VictoriaMetrics'
``increase()`` does not extrapolate to the window's edges as Prometheus' does, and the
suggestion must come out the same within the same tolerances.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import test_plan_suggest_prometheus as prometheus_suite
from tests.integration.victoriametrics_server import import_samples

pytestmark = [pytest.mark.integration, pytest.mark.victoriametrics]


@pytest.fixture(scope="module")
def history(victoriametrics_url: str) -> str:
    import_samples(victoriametrics_url, prometheus_suite.samples())
    return victoriametrics_url


@pytest.fixture(scope="module")
def suggested(history: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    code, output = prometheus_suite.suggest(history)
    assert code == 0, output
    root = tmp_path_factory.mktemp("suggested-vm")
    (root / "plans").mkdir()
    path = root / "plans" / "checkout.yaml"
    path.write_text(output)
    return output, path


def test_history_readings_match_the_known_parameters(suggested: tuple[str, Path]) -> None:
    prometheus_suite.test_history_readings_match_the_known_parameters(suggested)


def test_stage_windows_and_samples_match_the_power_calculation(
    suggested: tuple[str, Path],
) -> None:
    prometheus_suite.test_stage_windows_and_samples_match_the_power_calculation(suggested)


def test_thresholds_sit_above_healthy_noise_and_below_detect(
    suggested: tuple[str, Path],
) -> None:
    prometheus_suite.test_thresholds_sit_above_healthy_noise_and_below_detect(suggested)


def test_the_output_validates_and_every_number_has_a_comment(
    suggested: tuple[str, Path],
) -> None:
    prometheus_suite.test_the_output_validates_and_every_number_has_a_comment(suggested)


def test_too_little_history_is_refused(history: str) -> None:
    prometheus_suite.test_too_little_history_is_refused(history)


def test_no_data_is_refused_naming_the_query(history: str) -> None:
    prometheus_suite.test_no_data_is_refused_naming_the_query(history)
