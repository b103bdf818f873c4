"""Knobs in a plan (issue 21): ``knobs:`` and a guardrail's ``on_pause: {knob: ...}`` are
validated like the rest of the plan, each problem at its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutcli.plan.knobs import KnobAction
from rolloutcli.plan.model import load_plan
from tests.unit.plan.test_plan_validation import base_plan, plan_problems, write_plan

KNOBS = """knobs:
  - name: min_confidence
    flag: min-confidence
    values: [0.7, 0.8, 0.9]
  - name: sampling
    flag: sampling-rate
    range: {min: 0.1, max: 0.5}
"""
ON_PAUSE = "    on_pause: {knob: min_confidence, to: [0.8, 0.9], then: pause}\n"


def knob_text(knobs: str = KNOBS, on_pause: str = ON_PAUSE) -> str:
    return base_plan() + on_pause + knobs


def test_a_plan_with_knobs_loads(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, knob_text())).plan
    assert [(k.name, k.flag) for k in plan.knobs] == [
        ("min_confidence", "min-confidence"),
        ("sampling", "sampling-rate"),
    ]
    action = plan.guardrails[0].on_pause
    assert isinstance(action, KnobAction)
    assert (action.knob, action.to, action.then) == ("min_confidence", [0.8, 0.9], "pause")
    assert plan.automation.knob == "auto"


def test_to_may_be_one_value_and_then_defaults_to_rollback(tmp_path: Path) -> None:
    text = knob_text(on_pause="    on_pause: {knob: sampling, to: 0.25}\n")
    action = load_plan(write_plan(tmp_path, text)).plan.guardrails[0].on_pause
    assert isinstance(action, KnobAction)
    assert (action.to, action.then) == ([0.25], "rollback")


@pytest.mark.parametrize(
    ("knobs", "on_pause", "expected"),
    [
        (
            KNOBS,
            "    on_pause: {knob: min_confidense, to: [0.8]}\n",
            "plan.yaml:29: guardrails[0].on_pause.knob: no knob named 'min_confidense'; "
            "did you mean 'min_confidence'?",
        ),
        (
            KNOBS,
            "    on_pause: {knob: min_confidence, to: [0.8, 0.95]}\n",
            "plan.yaml:29: guardrails[0].on_pause.to[1]: knob min_confidence does not allow "
            "0.95 (0.7, 0.8, 0.9)",
        ),
        (
            KNOBS,
            "    on_pause: {knob: sampling, to: [0.2, 0.9]}\n",
            "plan.yaml:29: guardrails[0].on_pause.to[1]: knob sampling does not allow 0.9 "
            "(0.1 to 0.5)",
        ),
        (
            KNOBS,
            "    on_pause: {knob: min_confidence, to: [0.8, true]}\n",
            "plan.yaml:29: guardrails[0].on_pause.to[1]: a knob value is a number or a "
            "string, not true",
        ),
        (
            KNOBS,
            "    on_pause: {knob: min_confidence, to: [0.8], then: stop}\n",
            "plan.yaml:29: guardrails[0].on_pause.then: 'stop' is not one of rollback, "
            "pause, reduce",
        ),
        (
            KNOBS,
            "    on_pause: stop\n",
            "plan.yaml:29: guardrails[0].on_pause: 'stop' is not one of pause, reduce",
        ),
        (
            KNOBS.replace("name: sampling", "name: min_confidence"),
            ON_PAUSE,
            "plan.yaml:34: knobs[1].name: duplicate knob name 'min_confidence'",
        ),
        (
            KNOBS.replace("flag: sampling-rate", "flag: min-confidence"),
            ON_PAUSE,
            "plan.yaml:35: knobs[1].flag: flag 'min-confidence' is another knob's",
        ),
        (
            KNOBS.replace("flag: sampling-rate", "flag: demo"),
            ON_PAUSE,
            "plan.yaml:35: knobs[1].flag: a knob is a companion flag, not the plan's own flag",
        ),
        (
            KNOBS.replace("    range: {min: 0.1, max: 0.5}\n", ""),
            ON_PAUSE,
            "plan.yaml:34: knobs[1]: give exactly one of values: or range:",
        ),
        (
            KNOBS.replace("{min: 0.1, max: 0.5}", "{min: 0.5, max: 0.1}"),
            ON_PAUSE,
            "plan.yaml:36: knobs[1].range: min must be below max",
        ),
        (
            KNOBS.replace("[0.7, 0.8, 0.9]", "[0.7, 0.8, 0.9, 0.70]"),
            ON_PAUSE,
            "plan.yaml:33: knobs[0].values[3]: 0.7 is listed twice",
        ),
    ],
)
def test_knob_problems_name_file_line_and_key(
    tmp_path: Path, knobs: str, on_pause: str, expected: str
) -> None:
    path = write_plan(tmp_path, knob_text(knobs, on_pause))
    assert [p.replace(str(tmp_path) + "/", "") for p in plan_problems(path)] == [expected]


def test_a_knob_action_needs_a_pause_tier(tmp_path: Path) -> None:
    text = knob_text().replace('      pause: "+20%"\n', "")
    problems = plan_problems(write_plan(tmp_path, text))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "guardrails[0].on_pause: a knob action acts on the pause tier: give pause:"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.8", 0.8), ("0.80", 0.8), ("0.6", None), ("high", None)],
)
def test_a_person_s_value_is_read_as_the_knob_holds_it(
    tmp_path: Path, text: str, expected: object
) -> None:
    plan = load_plan(write_plan(tmp_path, knob_text())).plan
    knob = plan.knob("min_confidence")
    assert knob is not None and knob.parse(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("0.3", 0.3), ("0.05", None), ("nan", None)])
def test_a_range_knob_takes_numbers_within_it(tmp_path: Path, text: str, expected: object) -> None:
    knob = load_plan(write_plan(tmp_path, knob_text())).plan.knob("sampling")
    assert knob is not None and knob.parse(text) == expected


def test_a_string_knob(tmp_path: Path) -> None:
    knobs = "knobs:\n  - {name: model, flag: model-version, values: [v2.3, v2.4]}\n"
    plan = load_plan(write_plan(tmp_path, knob_text(knobs, ""))).plan
    knob = plan.knob("model")
    assert knob is not None
    assert (knob.parse("v2.4"), knob.parse("v2.5"), knob.allowed_text()) == (
        "v2.4",
        None,
        "v2.3, v2.4",
    )


def test_a_knob_value_read_with_control_bytes_is_shown_quoted() -> None:
    from rolloutcli.plan.knobvalues import show_value

    assert show_value(0.8) == "0.8"
    assert show_value("v2.4") == "v2.4"
    assert show_value("x\x1b[2Jy") == "'x\\x1b[2Jy'"  # a platform's value, never raw
