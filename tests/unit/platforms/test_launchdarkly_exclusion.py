"""The LaunchDarkly adapter's exclusion instructions (issue 21), built from a flag as the
REST API returns it, with no server: targets on the control for keys, a ``segmentMatch``
rule serving the control placed first for a segment."""

from __future__ import annotations

from typing import Any

from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.platforms.launchdarkly import LaunchDarklyPlatform, Variations

VARIATIONS = Variations(ids=("id-on", "id-off"), treatment=0, control=1)


def platform() -> LaunchDarklyPlatform:
    return LaunchDarklyPlatform(
        url="http://127.0.0.1:9",
        token="t",
        flag="f",
        plan="p",
        project="default",
        environment="production",
    )


def change(keys: tuple[str, ...] = (), segment: str | None = None) -> RolloutChange:
    return RolloutChange(
        100,
        ("staff",),
        None,
        "p",
        "100%",
        "advance",
        "why",
        excluded_keys=keys,
        excluded_segment=segment,
    )


def test_excluded_keys_are_targets_on_the_control_added_after_every_removal() -> None:
    env: dict[str, Any] = {
        "targets": [{"values": ["old-vip"], "variation": 1}, {"values": ["staff"], "variation": 0}]
    }
    assert platform()._target_changes(env, VARIATIONS, change(("vip-1",))) == [
        {
            "kind": "removeTargets",
            "contextKind": "user",
            "variationId": "id-off",
            "values": ["old-vip"],
        },
        {"kind": "addTargets", "contextKind": "user", "variationId": "id-off", "values": ["vip-1"]},
    ]


def test_an_excluded_segment_is_a_rule_serving_the_control_before_every_other_rule() -> None:
    env: dict[str, Any] = {"rules": [{"_id": "r-hand", "variation": 0, "clauses": []}]}
    assert platform()._exclusion_rule(env, VARIATIONS, "vip", set()) == [
        {
            "kind": "addRule",
            "clauses": [
                {
                    "contextKind": "user",
                    "attribute": "segmentMatch",
                    "op": "segmentMatch",
                    "negate": False,
                    "values": ["vip"],
                }
            ],
            "variationId": "id-off",
            "description": "rolloutcli exclude (plan p): always the control",
            "beforeRuleId": "r-hand",
        }
    ]


def test_an_excluded_segment_on_a_flag_without_rules_is_added_alone() -> None:
    (rule,) = platform()._exclusion_rule({"rules": []}, VARIATIONS, "vip", set())
    assert (rule["kind"], rule["variationId"], "beforeRuleId" in rule) == (
        "addRule",
        "id-off",
        False,
    )


def test_an_exclusion_rule_already_first_is_left_alone_and_one_no_longer_planned_goes() -> None:
    rule = {
        "_id": "r-ex",
        "variation": 1,
        "description": "rolloutcli exclude (plan p): always the control",
        "clauses": [{"op": "segmentMatch", "values": ["vip"]}],
    }
    env: dict[str, Any] = {"rules": [rule, {"_id": "r-hand", "variation": 0, "clauses": []}]}
    assert platform()._exclusion_rule(env, VARIATIONS, "vip", set()) == []
    assert platform()._exclusion_rule(env, VARIATIONS, None, set()) == [
        {"kind": "removeRule", "ruleId": "r-ex"}
    ]
