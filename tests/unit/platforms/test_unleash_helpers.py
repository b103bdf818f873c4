"""The Unleash adapter's pure parts, with no server: titles, rollout values, variant weights,
the version token, error messages, ``open_unleash``, how one event-log entry becomes a
ChangeRecord, and the Unleash-specific checks ``load_plan`` makes.

``UnleashPlatform`` is built against a closed address: its constructor makes no request and
``_record`` reads only the event it is given.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from rolloutcli.judge.flagstate import ChangeRecord
from rolloutcli.judge.stagestart import split_moved_at
from rolloutcli.plan.model import load_plan
from rolloutcli.plan.platform_specs import UnleashSpec
from rolloutcli.platforms.unleash import (
    Title,
    UnleashPlatform,
    _check_percent,
    _error_message,
    _test_failed,
    _variant_mode,
    _variants,
    _version,
    audience_title,
    format_title,
    open_unleash,
    parse_title,
    rollout_value,
    strategy_percent,
)
from rolloutcli.support.errors import BackendError, InvalidInputError, PlanError

REPO_ROOT = Path(__file__).resolve().parents[3]

AT_TEXT = "2026-11-21T21:49:13.697Z"
AT = datetime(2026, 11, 21, 21, 49, 13, 697000, tzinfo=UTC)
TITLE_10 = "rolloutcli plan=p stage=10% pct=10 action=advance · verdict go"
TITLE_25 = "rolloutcli plan=p stage=25% pct=25 action=advance · verdict go"
TITLE_25_KILL = "rolloutcli plan=p stage=25% pct=25 action=kill · error_rate breached"


# ---------------------------------------------------------------------- titles


def test_parse_title_reads_plan_stage_percent_and_action() -> None:
    assert parse_title(TITLE_25) == Title("p", False, "25%", 25.0, "advance")


def test_parse_title_reads_a_stage_name_with_spaces() -> None:
    text = "rolloutcli plan=p stage=internal beta pct=0.5 action=rollback"
    assert parse_title(text) == Title("p", False, "internal beta", 0.5, "rollback")


def test_parse_title_reads_the_audience_title() -> None:
    assert parse_title(audience_title("p")) == Title("p", True)


@pytest.mark.parametrize(
    "text",
    [None, 42, "", "Beta users", "rolloutcli plan=p", "rolloutcli plan=p stage=25%"],
)
def test_parse_title_returns_none_for_other_titles(text: object) -> None:
    assert parse_title(text) is None


def test_format_title_names_plan_stage_percent_action_and_reason() -> None:
    assert format_title("p", "25%", 25, "advance", "rolloutcli: verdict go") == TITLE_25


def test_format_title_defaults_the_stage_to_the_percent_and_tokenises_the_plan() -> None:
    assert (
        format_title("checkout v2", None, 12.5, "advance", "")
        == "rolloutcli plan=checkout_v2 stage=12.5% pct=12.5 action=advance"
    )


def test_format_title_round_trips_through_parse_title() -> None:
    text = format_title("my plan", "internal beta", 0.5, "rollback", "why")
    assert parse_title(text) == Title("my_plan", False, "internal beta", 0.5, "rollback")


def test_format_title_is_cut_at_500_characters() -> None:
    text = format_title("p", "5%", 5, "advance", "x" * 600)
    assert len(text) == 500
    assert parse_title(text) == Title("p", False, "5%", 5.0, "advance")


def test_audience_title_is_exact() -> None:
    assert (
        audience_title("checkout v2")
        == "rolloutcli plan=checkout_v2 audience (served first, before the percentage)"
    )


# ---------------------------------------------------------------------- rollout values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("25", 25),
        (" 25 ", 25),
        ("0", 0),
        ("100", 100),
        (40, 40),
        ("101", None),
        (150, None),
        (-1, None),
        ("12.5", None),
        (12.5, None),
        ("abc", None),
        ("", None),
        (None, None),
        (True, None),
        ("0025", None),
    ],
)
def test_rollout_value(raw: object, expected: int | None) -> None:
    assert rollout_value(raw) == expected


def strategy(
    rollout: object = "25",
    title: str | None = TITLE_25,
    variants: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": "0b3c6a4e-0000-4000-8000-000000000001",
        "name": "flexibleRollout",
        "title": title,
        "parameters": {"rollout": rollout, "stickiness": "default", "groupId": "f"},
        "variants": variants or [],
        "constraints": [],
        "segments": [],
        **extra,
    }


def weighted(treatment: int, control: int) -> list[dict[str, Any]]:
    return [
        {"name": "v2.4", "weight": treatment, "weightType": "fix", "stickiness": "default"},
        {"name": "v2.3", "weight": control, "weightType": "variable", "stickiness": "default"},
    ]


def test_strategy_percent_of_a_boolean_strategy_is_its_rollout() -> None:
    assert strategy_percent(strategy("25")) == 25.0


def test_strategy_percent_of_a_variant_strategy_is_rollout_times_first_weight() -> None:
    assert strategy_percent(strategy("100", variants=weighted(125, 875))) == 12.5
    assert strategy_percent(strategy("50", variants=weighted(500, 500))) == 25.0


def test_strategy_percent_is_none_for_an_invalid_rollout() -> None:
    assert strategy_percent(strategy("12.5")) is None
    assert strategy_percent({"name": "flexibleRollout"}) is None


# ---------------------------------------------------------------------- variants


def test_variants_for_a_new_strategy_put_treatment_first_fixed() -> None:
    assert _variants([], "v2.4", "v2.3", 12.5, "userId") == [
        {"name": "v2.4", "weight": 125, "weightType": "fix", "stickiness": "userId"},
        {"name": "v2.3", "weight": 875, "weightType": "variable", "stickiness": "userId"},
    ]


def test_variants_keep_payloads_and_zero_weight_extras() -> None:
    current = [
        {"name": "v2.3", "weight": 900, "weightType": "variable", "payload": {"type": "string"}},
        {"name": "v2.4", "weight": 100, "weightType": "fix"},
        {"name": "v1", "weight": 0, "weightType": "variable"},
    ]
    assert _variants(current, "v2.4", "v2.3", 25, "default") == [
        {"name": "v2.4", "weight": 250, "weightType": "fix", "stickiness": "default"},
        {
            "name": "v2.3",
            "weight": 750,
            "weightType": "variable",
            "payload": {"type": "string"},
            "stickiness": "default",
        },
        {"name": "v1", "weight": 0, "weightType": "fix"},
    ]


def test_variants_refuse_another_variant_that_takes_a_share() -> None:
    current = [{"name": "v1", "weight": 200}, {"name": "v2.4", "weight": 100}]
    with pytest.raises(BackendError) as info:
        _variants(current, "v2.4", "v2.3", 25, "default")
    assert str(info.value) == (
        "unleash: the strategy also serves variants v1 (hint: rolloutcli splits two "
        "variants; set the others' weight to 0 or remove them)"
    )


@pytest.mark.parametrize(
    ("treatment", "control", "expected"),
    [(True, False, False), ("v2.4", "v2.3", True)],
)
def test_variant_mode(treatment: object, control: object, expected: bool) -> None:
    assert _variant_mode(treatment, control) is expected


@pytest.mark.parametrize(("treatment", "control"), [(False, True), (True, "v2.3"), (2, 1)])
def test_variant_mode_refuses_anything_else(treatment: object, control: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        _variant_mode(treatment, control)
    assert str(info.value) == (
        "unleash: roll out a boolean flag (treatment: true, control: false) or two variants "
        f"by name; got {treatment!r} / {control!r}"
    )


# ---------------------------------------------------------------------- percentages


@pytest.mark.parametrize(("percent", "variant"), [(0, False), (25, False), (100, False)])
def test_check_percent_accepts_whole_percentages_on_a_boolean_flag(
    percent: float, variant: bool
) -> None:
    _check_percent(percent, variant)


@pytest.mark.parametrize("percent", [0.1, 0.3, 12.5, 33.3, 99.9, 100])
def test_check_percent_accepts_tenths_on_a_variant_flag(percent: float) -> None:
    _check_percent(percent, True)


@pytest.mark.parametrize("percent", [12.5, 100.5, -1, 101])
def test_check_percent_refuses_fractions_and_out_of_range_on_a_boolean_flag(
    percent: float,
) -> None:
    with pytest.raises(InvalidInputError) as info:
        _check_percent(percent, False)
    assert str(info.value) == f"unleash: {percent:g}% cannot be set: use a whole percentage 0-100"


@pytest.mark.parametrize("percent", [12.25, 100.05, 0.05, 100.1])
def test_check_percent_refuses_hundredths_and_out_of_range_on_a_variant_flag(
    percent: float,
) -> None:
    with pytest.raises(InvalidInputError) as info:
        _check_percent(percent, True)
    assert str(info.value) == (
        f"unleash: {percent:g}% cannot be set: variant weights are in tenths of a percent"
    )


# ---------------------------------------------------------------------- version token


def test_version_of_no_strategies() -> None:
    assert _version(None, None) == "[null, null]"


def test_version_is_exact_json_of_id_rollout_weights_and_audience() -> None:
    assert _version(strategy("100", variants=weighted(250, 750)), None) == (
        '[{"constraints": [], "id": "0b3c6a4e-0000-4000-8000-000000000001", '
        '"rollout": "100", "segments": [], "weights": [250, 750]}, null]'
    )


def test_version_changes_with_the_rollout_but_not_with_the_title() -> None:
    base = _version(strategy("25", title=TITLE_25), None)
    assert _version(strategy("25", title=TITLE_25_KILL), None) == base
    assert _version(strategy("30", title=TITLE_25), None) != base


def test_version_changes_with_the_audience() -> None:
    audience = strategy("100", title=audience_title("p"), segments=[7])
    assert _version(strategy(), audience) != _version(strategy(), None)
    assert _version(strategy(), audience) != _version(strategy(), {**audience, "segments": [8]})


BY = "rollout-admin"  # the createdBy of event(): the record's who


# ---------------------------------------------------------------------- last split change


def record(action: str, before: float | None, after: float | None, hour: int = 10) -> ChangeRecord:
    return ChangeRecord(
        datetime(2026, 11, 2, hour, tzinfo=UTC), action, before, after, None, "p", ""
    )


def test_last_split_change_is_the_last_record_that_moved_the_percentage() -> None:
    records = [
        record("advance", 0.0, 5.0, hour=9),
        record("advance", 5.0, 25.0, hour=10),
        record("kill", 25.0, 25.0, hour=11),
        record("off", None, None, hour=12),
    ]
    assert split_moved_at(records) == datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_last_split_change_counts_a_removal() -> None:
    records = [record("advance", 0.0, 5.0, hour=9), record("remove", 5.0, 0.0, hour=10)]
    assert split_moved_at(records) == datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_last_split_change_is_none_without_a_change() -> None:
    assert split_moved_at([]) is None
    assert split_moved_at([record("on", None, None), record("kill", 5.0, 5.0)]) is None


# ---------------------------------------------------------------------- HTTP answers


def test_test_failed_recognises_unleash_failed_patch_test() -> None:
    assert _test_failed(httpx.Response(500, json={"message": "Test operation failed"}))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text="Internal Server Error"),
        httpx.Response(400, text="Test operation failed"),
        httpx.Response(200, text="test operation failed"),
    ],
)
def test_test_failed_is_false_for_anything_else(response: httpx.Response) -> None:
    assert not _test_failed(response)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(
                400,
                json={"message": "validation", "details": [{"message": '"rollout" bad'}]},
            ),
            '"rollout" bad',
        ),
        (
            httpx.Response(404, json={"message": "Could not find feature f"}),
            "Could not find feature f",
        ),
        (
            httpx.Response(502, text="<html><body>Bad gateway</body></html>"),
            "the server answered with an HTML error page",
        ),
        (httpx.Response(500, text="  boom  "), "boom"),
        (httpx.Response(500, text="x" * 250), "x" * 200),
        (httpx.Response(502), "Bad Gateway"),
        (httpx.Response(400, json={"details": []}), '{"details":[]}'),
    ],
)
def test_error_message(response: httpx.Response, expected: str) -> None:
    assert _error_message(response) == expected


def test_error_message_cuts_a_long_json_message_at_300() -> None:
    assert _error_message(httpx.Response(400, json={"message": "m" * 400})) == "m" * 300


# ---------------------------------------------------------------------- open_unleash


@pytest.fixture
def no_unleash_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("UNLEASH_URL", raising=False)
    monkeypatch.delenv("UNLEASH_API_TOKEN", raising=False)
    return monkeypatch


def spec(**fields: Any) -> UnleashSpec:
    return UnleashSpec(kind="unleash", **fields)


def test_open_unleash_without_a_url_is_invalid_input(no_unleash_env: pytest.MonkeyPatch) -> None:
    no_unleash_env.setenv("UNLEASH_API_TOKEN", "tok")
    with pytest.raises(InvalidInputError) as info:
        open_unleash(spec(), "f", Path("."))
    assert str(info.value) == "unleash: no server URL: set UNLEASH_URL or platform.url in the plan"
    assert info.value.exit_code == 2


def test_open_unleash_with_a_blank_url_is_invalid_input(
    no_unleash_env: pytest.MonkeyPatch,
) -> None:
    no_unleash_env.setenv("UNLEASH_URL", "   ")
    no_unleash_env.setenv("UNLEASH_API_TOKEN", "tok")
    with pytest.raises(InvalidInputError, match="no server URL"):
        open_unleash(spec(), "f", Path("."))


@pytest.mark.parametrize("token", [None, "", "   "])
def test_open_unleash_without_a_token_is_invalid_input(
    no_unleash_env: pytest.MonkeyPatch, token: str | None
) -> None:
    no_unleash_env.setenv("UNLEASH_URL", "http://127.0.0.1:9")
    if token is not None:
        no_unleash_env.setenv("UNLEASH_API_TOKEN", token)
    with pytest.raises(InvalidInputError) as info:
        open_unleash(spec(), "f", Path("."))
    assert str(info.value) == (
        "unleash: no API token: set UNLEASH_API_TOKEN to an admin or personal access token"
    )
    assert info.value.exit_code == 2


def test_open_unleash_reads_url_and_token_from_the_environment(
    no_unleash_env: pytest.MonkeyPatch,
) -> None:
    no_unleash_env.setenv("UNLEASH_URL", "http://127.0.0.1:9/api/")
    no_unleash_env.setenv("UNLEASH_API_TOKEN", " tok ")
    platform = open_unleash(spec(environment="production"), "f", Path("."))
    try:
        assert platform.url == "http://127.0.0.1:9"
        assert platform.plan == "f"  # defaults to the flag
        assert platform.project == "default"
        assert platform.environment == "production"
        assert platform.stickiness == "default"
        assert platform.describe() == "Unleash http://127.0.0.1:9, project default"
    finally:
        platform._http.close()


def test_open_unleash_prefers_the_plans_url_and_names_the_plan(
    no_unleash_env: pytest.MonkeyPatch,
) -> None:
    no_unleash_env.setenv("UNLEASH_URL", "http://127.0.0.1:9")
    no_unleash_env.setenv("UNLEASH_API_TOKEN", "tok")
    platform = open_unleash(
        spec(url="http://127.0.0.1:10/", project="web", stickiness="sessionId"),
        "f",
        Path("."),
        plan="checkout v2",
    )
    try:
        assert platform.url == "http://127.0.0.1:10"
        assert platform.plan == "checkout_v2"
        assert platform.project == "web"
        assert platform.stickiness == "sessionId"
    finally:
        platform._http.close()


# ---------------------------------------------------------------------- event log → records


@pytest.fixture
def platform() -> Iterator[UnleashPlatform]:
    made = UnleashPlatform(
        url="http://127.0.0.1:9", token="t", flag="f", plan="p", environment="production"
    )
    yield made
    made._http.close()


def event(
    kind: str,
    data: dict[str, Any] | None = None,
    pre: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": 3,
        "type": kind,
        "createdAt": AT_TEXT,
        "createdBy": "rollout-admin",
        "environment": "production",
        "featureName": "f",
        "data": data,
        "preData": pre,
    }
    out.update(extra)
    return out


def test_record_of_an_advance_names_plan_stage_before_and_after(
    platform: UnleashPlatform,
) -> None:
    ev = event("feature-strategy-update", strategy("25", TITLE_25), strategy("10", TITLE_10))
    assert platform._record(ev) == ChangeRecord(AT, "advance", 10.0, 25.0, "25%", "p", TITLE_25, BY)


def test_record_of_a_first_add_starts_from_zero(platform: UnleashPlatform) -> None:
    title = "rolloutcli plan=p stage=5% pct=5 action=advance · rollout not started"
    ev = event("feature-strategy-add", strategy("5", title), None)
    assert platform._record(ev) == ChangeRecord(AT, "advance", 0.0, 5.0, "5%", "p", title, BY)


def test_record_of_a_variant_advance_uses_the_treatment_weight(
    platform: UnleashPlatform,
) -> None:
    ev = event(
        "feature-strategy-update",
        strategy("100", TITLE_25, variants=weighted(250, 750)),
        strategy("100", TITLE_10, variants=weighted(100, 900)),
    )
    assert platform._record(ev) == ChangeRecord(AT, "advance", 10.0, 25.0, "25%", "p", TITLE_25, BY)


def test_record_of_a_hand_edit_of_the_rollout_is_an_edit(platform: UnleashPlatform) -> None:
    ev = event("feature-strategy-update", strategy("40", TITLE_25), strategy("25", TITLE_25))
    assert platform._record(ev) == ChangeRecord(
        AT,
        "edit",
        25.0,
        40.0,
        "25%",
        "p",
        "rollout changed outside rolloutcli by rollout-admin",
        BY,
    )


def test_record_of_a_hand_edit_by_nobody_named_says_someone(platform: UnleashPlatform) -> None:
    ev = event(
        "feature-strategy-update",
        strategy("40", TITLE_25),
        strategy("25", TITLE_25),
        createdBy=None,
    )
    record_ = platform._record(ev)
    assert record_ is not None
    assert record_.comment == "rollout changed outside rolloutcli by someone"
    assert record_.who is None


def test_record_of_a_retitle_away_from_ours_with_a_new_rollout_is_an_edit(
    platform: UnleashPlatform,
) -> None:
    ev = event("feature-strategy-update", strategy("40", "mine now"), strategy("25", TITLE_25))
    assert platform._record(ev) == ChangeRecord(
        AT,
        "edit",
        25.0,
        40.0,
        None,
        "p",
        "rollout changed outside rolloutcli by rollout-admin",
        BY,
    )


def test_record_ignores_a_title_only_change_that_is_not_ours(platform: UnleashPlatform) -> None:
    ev = event(
        "feature-strategy-update",
        strategy("25", "Beta users (v2)"),
        strategy("25", "Beta users"),
    )
    assert platform._record(ev) is None


def test_record_ignores_a_retitle_of_our_strategy_that_keeps_the_rollout(
    platform: UnleashPlatform,
) -> None:
    ev = event(
        "feature-strategy-update", strategy("25", "renamed by hand"), strategy("25", TITLE_25)
    )
    assert platform._record(ev) is None


def test_record_ignores_another_plans_strategy(platform: UnleashPlatform) -> None:
    other = "rolloutcli plan=other stage=25% pct=25 action=advance · verdict go"
    ev = event(
        "feature-strategy-update",
        strategy("25", other),
        strategy("10", other.replace("25", "10")),
    )
    assert platform._record(ev) is None


def test_record_ignores_events_from_another_environment(platform: UnleashPlatform) -> None:
    ev = event(
        "feature-strategy-update",
        strategy("25", TITLE_25),
        strategy("10", TITLE_10),
        environment="development",
    )
    assert platform._record(ev) is None
    assert (
        platform._record(event("feature-environment-disabled", environment="development")) is None
    )


def test_record_ignores_the_audience_strategy(platform: UnleashPlatform) -> None:
    before = strategy("100", audience_title("p"))
    after = {
        **before,
        "constraints": [{"contextName": "userId", "operator": "IN", "values": ["a"]}],
    }
    assert platform._record(event("feature-strategy-update", after, before)) is None
    assert platform._record(event("feature-strategy-add", after, None)) is None


def test_record_of_a_kill_annotation_keeps_the_percentage(platform: UnleashPlatform) -> None:
    ev = event("feature-strategy-update", strategy("25", TITLE_25_KILL), strategy("25", TITLE_25))
    assert platform._record(ev) == ChangeRecord(
        AT, "kill", 25.0, 25.0, "25%", "p", TITLE_25_KILL, BY
    )


def test_record_of_a_removed_strategy(platform: UnleashPlatform) -> None:
    ev = event("feature-strategy-remove", None, strategy("25", TITLE_25))
    assert platform._record(ev) == ChangeRecord(
        AT, "remove", 25.0, 0.0, None, "p", "strategy removed by rollout-admin", BY
    )


def test_record_of_turning_the_flag_off_and_on(platform: UnleashPlatform) -> None:
    assert platform._record(event("feature-environment-disabled")) == ChangeRecord(
        AT, "off", None, None, None, None, "turned off by rollout-admin", BY
    )
    assert platform._record(event("feature-environment-enabled")) == ChangeRecord(
        AT, "on", None, None, None, None, "turned on by rollout-admin", BY
    )


def test_record_ignores_other_event_types_and_undated_events(platform: UnleashPlatform) -> None:
    assert platform._record(event("feature-updated")) is None
    undated = event("feature-strategy-update", strategy("25", TITLE_25), strategy("10", TITLE_10))
    assert platform._record({**undated, "createdAt": None}) is None
    assert platform._record({**undated, "createdAt": "yesterday"}) is None


def test_record_of_an_unchanged_update_is_ignored(platform: UnleashPlatform) -> None:
    ev = event("feature-strategy-update", strategy("25", TITLE_25), strategy("25", TITLE_25))
    assert platform._record(ev) is None


def test_start_onto_a_zero_percent_audience_stage_dates_the_stage(
    platform: UnleashPlatform,
) -> None:
    title = "rolloutcli plan=p stage=internal pct=0 action=advance · rollout not started"
    started = platform._record(event("feature-strategy-add", strategy("0", title), None))
    assert started == ChangeRecord(AT, "advance", 0.0, 0.0, "internal", "p", title, BY)
    assert split_moved_at([started]) == AT  # a 0% stage opens to its audience: dated


def test_constructor_strips_a_trailing_api_from_the_url() -> None:
    made = UnleashPlatform(url=" http://127.0.0.1:9/api/ ", token="t", flag="f", plan="p")
    try:
        assert made.url == "http://127.0.0.1:9"
        assert made._http.base_url == "http://127.0.0.1:9"
    finally:
        made._http.close()


# ---------------------------------------------------------------------- plan validation

UNLEASH_PLAN = """\
flag: demo
platform:
  kind: unleash
  environment: production
variations:
  treatment: true
  control: false
stages:
  - percent: 5
    min_duration: 1h
  - percent: 25
    min_duration: 1h
  - percent: 100
metrics:
  source:
    kind: file
    path: metrics.csv
"""


def plan_text(*replacements: tuple[str, str]) -> str:
    text = UNLEASH_PLAN
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def line_of(text: str, line: str) -> int:
    hits = [i + 1 for i, candidate in enumerate(text.splitlines()) if candidate == line]
    assert len(hits) == 1, line
    return hits[0]


def problems_of(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return path, info.value.problems


def loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    load_plan(path)


VARIANTS = ("  treatment: true\n  control: false\n", '  treatment: "v2.4"\n  control: "v2.3"\n')


def test_a_valid_unleash_plan_loads(tmp_path: Path) -> None:
    loads(tmp_path, UNLEASH_PLAN)


def test_the_shipped_unleash_plan_loads_without_its_metrics_file(tmp_path: Path) -> None:
    copy = tmp_path / "plans" / "onboarding-unleash.yaml"
    copy.parent.mkdir()
    shutil.copy(REPO_ROOT / "plans" / "onboarding-unleash.yaml", copy)
    assert not (tmp_path / "metrics" / "new-onboarding.csv").exists()
    loaded = load_plan(copy)
    assert loaded.plan.platform.kind == "unleash"
    assert loaded.plan.platform.environment == "production"
    assert [s.percent for s in loaded.plan.stages] == [1, 5, 10, 25, 50, 100]


def test_a_boolean_unleash_plan_refuses_a_fractional_stage(tmp_path: Path) -> None:
    text = plan_text(("  - percent: 25\n", "  - percent: 12.5\n"))
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, '  - percent: 12.5')}: stages[1].percent: "
        "12.5%: Unleash's gradual rollout takes whole percentages"
    ]


def test_a_variant_unleash_plan_accepts_tenths(tmp_path: Path) -> None:
    loads(tmp_path, plan_text(VARIANTS, ("  - percent: 25\n", "  - percent: 12.5\n")))


def test_a_variant_unleash_plan_refuses_hundredths(tmp_path: Path) -> None:
    text = plan_text(VARIANTS, ("  - percent: 25\n", "  - percent: 12.25\n"))
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, '  - percent: 12.25')}: stages[1].percent: "
        "12.25%: Unleash variant weights are in tenths of a percent"
    ]


def test_an_unleash_plan_refuses_a_path(tmp_path: Path) -> None:
    text = plan_text(("  kind: unleash\n", "  kind: unleash\n  path: flags.json\n"))
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, '  path: flags.json')}: platform.path: is for flagfile, not unleash"
    ]


def test_an_unleash_plan_refuses_treatment_false_control_true(tmp_path: Path) -> None:
    text = plan_text(
        ("  treatment: true\n  control: false\n", "  treatment: false\n  control: true\n")
    )
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, 'variations:')}: variations: unleash: roll out a boolean flag "
        "as treatment: true, control: false, or two variants by name (treatment: v2.4, "
        "control: v2.3)"
    ]


def test_an_unleash_plan_refuses_numbered_variants(tmp_path: Path) -> None:
    text = plan_text(("  treatment: true\n  control: false\n", "  treatment: 2\n  control: 1\n"))
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, 'variations:')}: variations: unleash: variants are named by strings"
    ]


# ------------------------------------------------------------ the exclusion (issue 21)

OTHER = {"contextName": "region", "operator": "IN", "values": ["eu"], "inverted": False}


def test_the_exclusion_is_one_userid_not_in_constraint_the_others_kept() -> None:
    from rolloutcli.platforms.unleash import _with_exclusion

    old = {"contextName": "userId", "operator": "NOT_IN", "values": ["gone"], "inverted": False}
    assert _with_exclusion([OTHER, old], ("vip-1", "vip-2")) == [
        OTHER,
        {
            "contextName": "userId",
            "operator": "NOT_IN",
            "values": ["vip-1", "vip-2"],
            "caseInsensitive": False,
            "inverted": False,
        },
    ]
    assert _with_exclusion([OTHER, old], ()) == [OTHER]


def test_a_key_is_excluded_only_when_every_owned_strategy_excludes_it() -> None:
    from rolloutcli.platforms.unleash import _excluded_keys, _with_exclusion

    main = {"constraints": _with_exclusion([OTHER], ("vip-1", "vip-2"))}
    audience = {"constraints": _with_exclusion([], ("vip-2",))}
    assert _excluded_keys(main, None) == ("vip-1", "vip-2")
    assert _excluded_keys(main, audience) == ("vip-2",)  # vip-1 is let through by the audience
    assert _excluded_keys(None, None) == ()
