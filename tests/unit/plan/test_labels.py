"""Plan labels and the ``--select`` filters on them: parsing, matching, and how the plan
model validates ``labels:`` (one ``file:line: key: message`` line per problem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutcli.plan.labels import (
    Selector,
    label_problem,
    label_value,
    parse_selector,
    parse_selectors,
    selected,
    selection_text,
)
from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import InvalidInputError, PlanError
from tests.unit.plan.test_plan_validation import BASE_PLAN

RULE = "use a letter or digit, then letters, digits, '_', '.' or '-' (at most 63 characters)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team=payments", Selector("team", "payments")),
        ("tier!=1", Selector("tier", "1", negated=True)),
        (" team = payments ", Selector("team", "payments")),
        ("app.kubernetes.io=x_y-z", Selector("app.kubernetes.io", "x_y-z")),
    ],
)
def test_a_selector_is_key_equals_or_not_equals_value(text: str, expected: Selector) -> None:
    assert parse_selector(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("team", "--select 'team': give KEY=VALUE or KEY!=VALUE (e.g. team=payments)"),
        ("=payments", f"--select '=payments': '' is not a label: {RULE}"),
        ("team=", f"--select 'team=': '' is not a label: {RULE}"),
        ("team=a b", f"--select 'team=a b': 'a b' is not a label: {RULE}"),
        ("-team=x", f"--select '-team=x': '-team' is not a label: {RULE}"),
        ("team==x", f"--select 'team==x': '=x' is not a label: {RULE}"),
    ],
)
def test_a_bad_selector_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_selector(text)
    assert str(caught.value) == message


def test_every_selector_must_match() -> None:
    selectors = parse_selectors(["team=payments", "tier!=critical"])
    assert selected(selectors, {"team": "payments"}) is True
    assert selected(selectors, {"team": "payments", "tier": "low"}) is True
    assert selected(selectors, {"team": "payments", "tier": "critical"}) is False
    assert selected(selectors, {"team": "search"}) is False
    assert selected(selectors, {}) is False
    assert selected((), {}) is True
    assert selection_text(selectors) == "team=payments, tier!=critical"


def test_not_equal_matches_a_plan_without_the_label() -> None:
    assert parse_selector("team!=payments").matches({}) is True


@pytest.mark.parametrize(
    ("raw", "text"),
    [("payments", "payments"), (1, "1"), (2.0, "2"), (1.5, "1.5"), ("v1.2", "v1.2")],
)
def test_a_label_value_is_a_word_or_a_number_as_text(raw: object, text: str) -> None:
    assert label_value(raw) == text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (True, "true is not a label value: quote it ('true') or use a word"),
        (None, "null is not a label value: quote it ('null') or use a word"),
        ([1], "a label value is a word or a number, not a list or a mapping"),
        ("x" * 64, f"'{'x' * 39}\u2026' is not a label: {RULE}"),  # quoted, cut short
        ("-1", f"'-1' is not a label: {RULE}"),
        (float("nan"), "nan is not a label value: quote it ('nan') or use a word"),
        (float("inf"), "inf is not a label value: quote it ('inf') or use a word"),
    ],
)
def test_what_is_no_label_value(raw: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        label_value(raw)
    assert str(caught.value) == message


def test_the_longest_label_is_63_characters() -> None:
    assert label_problem("x" * 63) is None
    assert label_problem("x" * 64) is not None


def write(tmp_path: Path, labels: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(BASE_PLAN.replace("flag: demo\n", f"flag: demo\nlabels:\n{labels}"))
    return path


def test_a_plans_labels_are_read_as_text(tmp_path: Path) -> None:
    loaded = load_plan(write(tmp_path, "  team: payments\n  tier: 1\n"))
    assert loaded.plan.labels == {"team": "payments", "tier": "1"}


def test_a_plan_without_labels_has_none(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(BASE_PLAN)
    assert load_plan(path).plan.labels == {}


def test_bad_labels_are_reported_on_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "  team: payments\n  bad key: x\n  on_call: true\n  owners: [a]\n")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.problems == [
        f"{path}:4: labels.<key>: 'bad key' is not a label: {RULE}",
        f"{path}:5: labels.on_call: true is not a label value: quote it ('true') or use a word",
        f"{path}:6: labels.owners: a label value is a word or a number, not a list or a mapping",
    ]


def test_labels_that_are_no_mapping(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(BASE_PLAN.replace("flag: demo\n", "flag: demo\nlabels: [team]\n"))
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.problems == [f"{path}:2: labels: Input should be a valid dictionary"]
