"""Offline LaunchDarkly evaluation: the REST → SDK conversion and the bucket explanation,
checked against LaunchDarkly's own server SDK."""

from __future__ import annotations

from typing import Any

from rolloutcli.platforms.ldeval import Evaluator, bucket_value, sdk_flag

KEYS = [f"user-{i}" for i in range(2_000)]


def rest_flag(weights: list[int], salt: str = "5a1t", **env: Any) -> dict[str, Any]:
    return {
        "key": "ranker",
        "variations": [
            {"_id": "id-a", "value": "v2.4"},
            {"_id": "id-b", "value": "v2.3"},
            {"_id": "id-c", "value": "v2.2"},
        ],
        "environments": {
            "production": {
                "on": True,
                "salt": salt,
                "version": 7,
                "offVariation": 1,
                "targets": [],
                "contextTargets": [],
                "rules": [],
                "prerequisites": [],
                "fallthrough": {
                    "rollout": {
                        "variations": [
                            {"variation": i, "weight": w} for i, w in enumerate(weights)
                        ],
                        "contextKind": "user",
                    }
                },
                **env,
            },
            "test": {"on": False, "salt": "other", "version": 1},
        },
    }


def test_conversion_flattens_one_environment() -> None:
    flag = rest_flag(
        [10_000, 90_000, 0],
        rules=[
            {
                "_id": "r1",
                "clauses": [
                    {"_id": "c1", "attribute": "key", "op": "in", "values": ["a"], "negate": False}
                ],
                "variation": 0,
                "trackEvents": False,
            }
        ],
    )
    converted = sdk_flag(flag, "production")
    assert converted["variations"] == ["v2.4", "v2.3", "v2.2"]
    assert (converted["on"], converted["salt"], converted["version"]) == (True, "5a1t", 7)
    assert converted["rules"] == [
        {
            "variation": 0,
            "trackEvents": False,
            "id": "r1",
            "clauses": [{"attribute": "key", "op": "in", "values": ["a"], "negate": False}],
        }
    ]


def test_bucket_explanation_agrees_with_the_sdk_on_every_key() -> None:
    """Independent reference: the SDK's own allocation. A key is served v2.4 exactly when
    its bucket is below 0.1, v2.3 below 1.0."""
    flag = rest_flag([10_000, 90_000, 0])
    with Evaluator([sdk_flag(flag, "production")], []) as sdk:
        for key in KEYS:
            expected = "v2.4" if bucket_value("ranker", "5a1t", key) < 0.1 else "v2.3"
            assert sdk.evaluate("ranker", key).value == expected, key


def test_share_counts_what_the_sdk_serves() -> None:
    with Evaluator([sdk_flag(rest_flag([25_000, 75_000, 0]), "production")], []) as sdk:
        served, total = sdk.share("ranker", "v2.4", KEYS)
    exact = sum(bucket_value("ranker", "5a1t", k) < 0.25 for k in KEYS)
    assert (served, total) == (exact, 2_000)


def test_off_flag_serves_the_off_variation_with_reason_off() -> None:
    with Evaluator([sdk_flag(rest_flag([50_000, 50_000, 0], on=False), "production")], []) as sdk:
        result = sdk.evaluate("ranker", "user-1")
    assert (result.value, result.index, result.reason["kind"]) == ("v2.3", 1, "OFF")


def test_experiment_allocation_becomes_an_sdk_experiment() -> None:
    flag = rest_flag([10_000, 90_000, 0])
    rollout = flag["environments"]["production"]["fallthrough"]["rollout"]
    rollout["experimentAllocation"] = {"defaultVariation": 1, "canReshuffle": False}
    rollout["variations"][1]["_untracked"] = True
    converted = sdk_flag(flag, "production")["fallthrough"]["rollout"]
    assert converted["kind"] == "experiment"
    assert converted["variations"][1] == {"variation": 1, "weight": 90_000, "untracked": True}


def test_a_kill_note_without_a_share_round_trips() -> None:
    from rolloutcli.platforms.changenote import format_title, parse_title

    note = format_title("ranker", None, None, "kill", "rolloutcli kill: by on-call")
    assert note == "rolloutcli plan=ranker stage=- pct=- action=kill · rolloutcli kill: by on-call"
    parsed = parse_title(note)
    assert parsed is not None
    assert (parsed.plan, parsed.stage, parsed.percent, parsed.action) == (
        "ranker",
        "-",
        None,
        "kill",
    )
