"""Plans with thresholds in percentage points (issue 21): where they are allowed, and the
one-line problem naming the key where they are not."""

from __future__ import annotations

from pathlib import Path

from tests.unit.plan.test_plan_validation import (
    BASE_PLAN,
    line_of,
    plan_problems,
    replace_line,
    run_validate,
    write_plan,
)

ACCURACY = """\
  - name: accuracy
    kind: mean
    metric: correct
    direction: lower_is_worse
    unit: {unit}
    scale: {scale}
    thresholds:
      pause: "-1pp"
      rollback: "-2pp"
success:
  - metric: accuracy
    at_least: "+2pp"
"""


def with_accuracy(unit: str, scale: str = "linear") -> str:
    return BASE_PLAN + ACCURACY.format(unit=unit, scale=scale)


def test_points_on_ratio_guardrails_and_proportion_means_validate(tmp_path: Path) -> None:
    text = replace_line(with_accuracy("ratio"), '      rollback: "+50%"', '      rollback: "+2pp"')
    path = write_plan(tmp_path, text)
    result = run_validate(path)
    assert result.exit_code == 0, result.output
    percent = write_plan(tmp_path, with_accuracy("percent"), "percent.yaml")
    assert run_validate(percent).exit_code == 0


def test_points_on_a_latency_mean_is_one_line_naming_the_key(tmp_path: Path) -> None:
    text = with_accuracy("ms")
    path = write_plan(tmp_path, text)
    line = line_of(text, '      rollback: "-2pp"')
    problems = plan_problems(path)
    assert (
        f"{path}:{line}: guardrails[1].thresholds.rollback: '-2pp' is in percentage points, "
        "for proportions only: a ratio guardrail or a mean with unit: ratio (values 0..1) or "
        "unit: percent (0..100)"
    ) in problems
    assert any("success[0].at_least: '+2pp' is in percentage points" in p for p in problems)
    result = run_validate(path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_points_on_a_log_scale_mean_is_a_plan_error(tmp_path: Path) -> None:
    text = with_accuracy("ratio", "log")
    path = write_plan(tmp_path, text)
    line = line_of(text, '      pause: "-1pp"')
    assert (
        f"{path}:{line}: guardrails[1].thresholds.pause: '-1pp': percentage points need "
        "scale: linear, not log"
    ) in plan_problems(path)


def test_points_tiers_must_be_ordered(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, '      warn: "+10%"', '      warn: "+3pp"')
    text = replace_line(text, '      pause: "+20%"', '      pause: "+2pp"')
    path = write_plan(tmp_path, text)
    line = line_of(text, '      pause: "+2pp"')
    assert (
        f"{path}:{line}: guardrails[0].thresholds.pause: tiers out of order: pause '+2pp' is "
        "reached before warn '+3pp' (each tier must lie at or beyond the one before: warn, then "
        "pause, then rollback)"
    ) in plan_problems(path)


def test_detect_in_points_is_refused(tmp_path: Path) -> None:
    text = replace_line(BASE_PLAN, "    direction: higher_is_worse", "    detect: +2pp")
    path = write_plan(tmp_path, text)
    assert any(
        "guardrails[0].detect: '+2pp': detect is a change relative to control" in p
        for p in plan_problems(path)
    )
