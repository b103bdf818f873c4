"""The flag files rolloutcli writes, evaluated by the real OpenFeature flagd provider.

No mocks: ``FlagFilePlatform`` writes a flagd flag-definition file in ``tmp_path`` and the
``openfeature-provider-flagd`` provider evaluates it in-process (file mode) for 10,000
targeting keys ``user-0`` ... ``user-9999``. A NEW provider is created after every write
(the provider's file watcher is not relied on), and the global OpenFeature API is shut
down after each test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason

from rolloutcli.judge.flagstate import FlagState, RolloutChange
from rolloutcli.platforms.flagfile import FlagFilePlatform
from tests.integration.cli_helpers import fresh_metrics, invoke, write_plan

pytestmark = [pytest.mark.integration, pytest.mark.flagd]

BOOL_FLAG = "checkout-v2"
STRING_FLAG = "recommender-model"
KEYS = tuple(f"user-{i}" for i in range(10_000))
STAFF = ("staff-1", "staff-2")
TOLERANCE = 1.5  # percentage points
READY_TIMEOUT = 5.0  # seconds
WATCHER_THREAD = "FlagdFileWatcherWorkerThread"  # the provider's file-polling thread

Load = Callable[[Path], OpenFeatureClient]


# ---------------------------------------------------------------------- fixtures


def _initial_document() -> dict[str, Any]:
    """Two flags as a person would add them: everyone on control, no targeting yet."""
    return {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            BOOL_FLAG: {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
            },
            STRING_FLAG: {
                "state": "ENABLED",
                "variants": {"v2.3": "v2.3", "v2.4": "v2.4"},
                "defaultVariant": "v2.3",
            },
        },
    }


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(_initial_document(), indent=2) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def flagd() -> Iterator[Load]:
    """``load(path)``: a client whose (global) provider is a fresh flagd file provider."""

    def load(path: Path) -> OpenFeatureClient:
        api.shutdown()  # shuts the previous provider down synchronously
        provider = FlagdProvider(
            resolver_type=ResolverType.FILE,
            offline_flag_source_path=str(path),
            deadline_ms=100,  # the file-poll interval: lets the watcher thread exit quickly
        )
        api.set_provider_and_wait(provider)
        client = api.get_client()
        _wait_until_ready(client)
        return client

    api.shutdown()
    yield load
    api.shutdown()
    for thread in threading.enumerate():
        if thread.name == WATCHER_THREAD:
            thread.join(timeout=2.0)
    leaked = [t for t in threading.enumerate() if t.name == WATCHER_THREAD and t.is_alive()]
    assert not leaked, f"flagd file-watcher threads still running after shutdown: {leaked}"


def _wait_until_ready(client: OpenFeatureClient) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        details = client.get_boolean_details(BOOL_FLAG, False, EvaluationContext("user-0"))
        if details.error_code is None:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the flagd provider was not ready after {READY_TIMEOUT}s: {details}")
        time.sleep(0.02)


# ---------------------------------------------------------------------- helpers


def _write(
    platform: FlagFilePlatform,
    treatment: object,
    control: object,
    percent: float,
    audience_keys: tuple[str, ...] = (),
) -> FlagState:
    """Change the split the way the tool does: read the state, then a conditional write."""
    change = RolloutChange(
        percent=percent,
        audience_keys=audience_keys,
        audience_segment=None,
        plan=platform.flag,
        stage=f"{percent:g}%",
        action="advance",
        comment=f"integration test: {platform.flag} -> {percent:g}%",
    )
    state = platform.set_rollout(
        change, treatment, control, expected=platform.read_state(treatment, control)
    )
    assert state.percent == pytest.approx(percent)
    assert state.audience_keys == audience_keys
    return state


def _serve(
    client: OpenFeatureClient,
    flag: str,
    default: bool | str,
    keys: tuple[str, ...] = KEYS,
    percent: float | None = None,
) -> dict[str, object]:
    """What the provider serves each key; every evaluation must be a clean targeting match.

    ``percent`` (when given) must be the ``rolloutcli.percent`` the provider reports in the
    flag metadata: proof it evaluated the file as last written, metadata and all.
    """
    get: Callable[[str, Any, EvaluationContext], FlagEvaluationDetails[Any]]
    get = client.get_string_details if isinstance(default, str) else client.get_boolean_details
    served: dict[str, object] = {}
    bad: list[tuple[str, FlagEvaluationDetails[Any]]] = []
    metadata: dict[str, Any] = {}
    for key in keys:
        details = get(flag, default, EvaluationContext(targeting_key=key))
        if details.error_code is not None or details.reason != Reason.TARGETING_MATCH:
            bad.append((key, details))
        served[key] = details.value
        metadata = dict(details.flag_metadata)
    assert not bad, f"{len(bad)} of {len(keys)} evaluations failed, first: {bad[0]}"
    if percent is not None:
        assert metadata.get("rolloutcli.percent") == pytest.approx(percent), metadata
    return served


def _treated(served: dict[str, object], treatment: object) -> set[str]:
    return {key for key, value in served.items() if value == treatment}


def _share(served: dict[str, object], treatment: object) -> float:
    return 100 * len(_treated(served, treatment)) / len(served)


def _assert_share(served: dict[str, object], treatment: object, percent: float) -> float:
    share = _share(served, treatment)
    assert abs(share - percent) <= TOLERANCE, (
        f"{share:.2f}% of {len(served)} keys served {treatment!r}, expected {percent}% "
        f"+/- {TOLERANCE} points"
    )
    return share


# ---------------------------------------------------------------------- tests


def test_boolean_exposure_matches_the_stage_and_never_reshuffles(
    flag_file: Path, flagd: Load
) -> None:
    platform = FlagFilePlatform(flag_file, BOOL_FLAG)

    _write(platform, True, False, 10)
    at_10 = _serve(flagd(flag_file), BOOL_FLAG, False, percent=10)
    _assert_share(at_10, True, 10)
    in_10 = _treated(at_10, True)

    _write(platform, True, False, 25)
    at_25 = _serve(flagd(flag_file), BOOL_FLAG, False, percent=25)
    _assert_share(at_25, True, 25)
    in_25 = _treated(at_25, True)
    assert in_10 <= in_25, f"{len(in_10 - in_25)} of {len(in_10)} keys left treatment at 25%"

    _write(platform, True, False, 50)
    at_50 = _serve(flagd(flag_file), BOOL_FLAG, False, percent=50)
    _assert_share(at_50, True, 50)
    assert in_25 <= _treated(at_50, True), "keys left treatment going from 25% to 50%"

    _write(platform, True, False, 100)
    at_100 = _serve(flagd(flag_file), BOOL_FLAG, False, percent=100)
    assert _treated(at_100, True) == set(KEYS)

    _write(platform, True, False, 0)
    at_0 = _serve(flagd(flag_file), BOOL_FLAG, True, percent=0)  # default True: not masked
    assert _treated(at_0, True) == set()
    assert set(at_0.values()) == {False}

    # Back up to 1% after the rollback: the lowest buckets again, a subset of the 10% keys.
    _write(platform, True, False, 1)
    at_1 = _serve(flagd(flag_file), BOOL_FLAG, False, percent=1)
    _assert_share(at_1, True, 1)
    in_1 = _treated(at_1, True)
    assert in_1, "nobody in treatment at 1%"
    assert in_1 <= in_10, f"{len(in_1 - in_10)} keys treated at 1% were not treated at 10%"


def test_string_variations_expose_the_stage_and_never_reshuffle(
    flag_file: Path, flagd: Load
) -> None:
    platform = FlagFilePlatform(flag_file, STRING_FLAG)

    _write(platform, "v2.4", "v2.3", 10)
    at_10 = _serve(flagd(flag_file), STRING_FLAG, "fallback", percent=10)
    assert set(at_10.values()) == {"v2.3", "v2.4"}  # never the caller's default
    _assert_share(at_10, "v2.4", 10)
    in_10 = _treated(at_10, "v2.4")

    _write(platform, "v2.4", "v2.3", 25)
    at_25 = _serve(flagd(flag_file), STRING_FLAG, "fallback", percent=25)
    assert set(at_25.values()) == {"v2.3", "v2.4"}
    _assert_share(at_25, "v2.4", 25)
    assert in_10 <= _treated(at_25, "v2.4"), "keys left v2.4 going from 10% to 25%"

    # The other flag in the same file was not touched: still static control.
    other = flagd(flag_file).get_boolean_details(BOOL_FLAG, True, EvaluationContext("user-1"))
    assert (other.value, other.reason, other.error_code) == (False, Reason.STATIC, None)


def test_allowlist_is_served_treatment_in_front_of_the_split(flag_file: Path, flagd: Load) -> None:
    platform = FlagFilePlatform(flag_file, BOOL_FLAG)
    everyone = STAFF + KEYS

    _write(platform, True, False, 0, audience_keys=STAFF)
    at_0 = _serve(flagd(flag_file), BOOL_FLAG, False, keys=everyone, percent=0)
    assert _treated(at_0, True) == set(STAFF)

    _write(platform, True, False, 5, audience_keys=STAFF)
    at_5 = _serve(flagd(flag_file), BOOL_FLAG, False, keys=everyone, percent=5)
    assert set(STAFF) <= _treated(at_5, True)
    users_at_5 = {key: at_5[key] for key in KEYS}
    _assert_share(users_at_5, True, 5)

    # Dropping the allowlist keeps the split's bucketing: the 5% users stay in at 10%.
    _write(platform, True, False, 10)
    at_10 = _serve(flagd(flag_file), BOOL_FLAG, False, keys=everyone, percent=10)
    _assert_share({key: at_10[key] for key in KEYS}, True, 10)
    assert _treated(users_at_5, True) <= _treated(at_10, True)


def test_kill_serves_the_callers_default_to_everyone(flag_file: Path, flagd: Load) -> None:
    platform = FlagFilePlatform(flag_file, BOOL_FLAG)
    _write(platform, True, False, 100)
    assert set(_serve(flagd(flag_file), BOOL_FLAG, False, percent=100).values()) == {True}

    assert platform.turn_off(plan=BOOL_FLAG, comment="integration test: kill") is True
    assert platform.read_state(True, False).on is False
    client = flagd(flag_file)

    for default in (False, True):
        get = client.get_boolean_details
        details = [get(BOOL_FLAG, default, EvaluationContext(key)) for key in KEYS]
        assert {d.value for d in details} == {default}
        assert {d.reason for d in details} == {Reason.DISABLED}
        assert {d.error_code for d in details} == {None}

    one = client.get_boolean_details(BOOL_FLAG, False, EvaluationContext("user-42"))
    assert (one.value, one.reason, one.error_code, one.variant) == (
        False,
        Reason.DISABLED,
        None,
        None,
    )
    # The other flag in the same file still evaluates normally.
    other = client.get_string_details(STRING_FLAG, "fallback", EvaluationContext("user-42"))
    assert (other.value, other.error_code) == ("v2.3", None)


def test_file_stays_valid_for_the_provider_after_many_changes(flag_file: Path, flagd: Load) -> None:
    boolean = FlagFilePlatform(flag_file, BOOL_FLAG)
    string = FlagFilePlatform(flag_file, STRING_FLAG)
    for percent in (1, 5, 12.5, 25):
        _write(boolean, True, False, percent)
        _write(string, "v2.4", "v2.3", percent)
    _write(boolean, True, False, 33.333, audience_keys=STAFF)

    doc = json.loads(flag_file.read_text(encoding="utf-8"))
    meta = doc["flags"][BOOL_FLAG]["metadata"]
    assert {"rolloutcli.changedAt", "rolloutcli.percent", "rolloutcli.plan"} <= set(meta)

    client = flagd(flag_file)
    context = EvaluationContext("user-7")
    checks: list[tuple[str, float, FlagEvaluationDetails[Any]]] = [
        (BOOL_FLAG, 33.333, client.get_boolean_details(BOOL_FLAG, False, context)),
        (STRING_FLAG, 25, client.get_string_details(STRING_FLAG, "fallback", context)),
    ]
    for flag, percent, details in checks:
        assert details.error_code is None, details
        assert details.error_message is None, details
        assert details.reason == Reason.TARGETING_MATCH, details
        assert details.flag_metadata["rolloutcli.plan"] == flag
        assert details.flag_metadata["rolloutcli.percent"] == pytest.approx(percent)
    _assert_share(_serve(client, BOOL_FLAG, False, percent=33.333), True, 33.333)


CAT_BUCKETING = {"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}


@pytest.mark.parametrize(
    "hand_written",
    [
        pytest.param([["on", 10], ["off", 90]], id="shorthand"),
        pytest.param([CAT_BUCKETING, ["on", 10], ["off", 90]], id="explicit-cat"),
    ],
)
def test_first_write_over_a_hand_written_split_keeps_treated_users(
    flag_file: Path, flagd: Load, hand_written: list[Any]
) -> None:
    """The file's bucketing form is kept: flagd hashes the shorthand and an explicit
    ``cat`` expression differently, so switching forms would reshuffle most users."""
    doc = json.loads(flag_file.read_text(encoding="utf-8"))
    doc["flags"][BOOL_FLAG]["targeting"] = {"fractional": hand_written}
    flag_file.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    at_10 = _serve(flagd(flag_file), BOOL_FLAG, False)
    _assert_share(at_10, True, 10)
    before = _treated(at_10, True)

    _write(FlagFilePlatform(flag_file, BOOL_FLAG), True, False, 25)
    written = json.loads(flag_file.read_text(encoding="utf-8"))["flags"][BOOL_FLAG]
    fractional = written["targeting"]["fractional"]
    assert len(fractional) == len(hand_written), fractional  # shorthand stays shorthand
    assert fractional[:-2] == hand_written[:-2]  # an explicit bucketing expression is kept
    at_25 = _serve(flagd(flag_file), BOOL_FLAG, False, percent=25)
    _assert_share(at_25, True, 25)
    after = _treated(at_25, True)
    assert before <= after, f"{len(before - after)} of {len(before)} treated keys reshuffled"


VIPS = ("vip-1", "vip-2")


@pytest.mark.parametrize(
    "exclude",
    [
        pytest.param("{keys: [vip-1, vip-2]}", id="keys"),
        pytest.param("{segment: vip}", id="segment"),
    ],
)
def test_excluded_keys_get_the_control_at_every_stage_the_cli_walks_to(
    workspace: Path, flagd: Load, exclude: str
) -> None:
    """issue 21: `rollout advance` from the allowlist stage to 100% on a plan with
    exclude: (keys, or a $evaluators segment); the flagd provider serves the excluded keys
    the control at every stage, 100% included, and everyone else the treatment at 100%."""
    flags = workspace / "flags" / "flags.json"
    doc = json.loads(flags.read_text(encoding="utf-8"))
    doc["$evaluators"] = {"vip": {"in": [{"var": "targetingKey"}, list(VIPS)]}}
    doc["flags"]["blocked-v2"] = _initial_document()["flags"][BOOL_FLAG]
    flags.write_text(json.dumps(doc), encoding="utf-8")
    stages = f"""  - {{name: staff, percent: 0, min_duration: 0, audience: {{keys: {list(STAFF)}}}}}
  - {{percent: 10, min_duration: 0}}
  - {{percent: 50, min_duration: 0}}
  - {{percent: 100, min_duration: 0}}
"""
    platform = "{kind: flagfile, path: ../flags/flags.json}"
    plan = write_plan(
        workspace, "vip", "blocked-v2", platform, "{treatment: true, control: false}", stages
    )
    plan.write_text(plan.read_text(encoding="utf-8") + f"exclude: {exclude}\n", encoding="utf-8")
    users = KEYS[:2000]
    for percent in (0, 10, 50, 100):
        fresh_metrics(workspace, "blocked-v2", max(percent, 0.1))
        code, out = invoke("advance", "vip", "--yes")
        assert code == 0, out
        served = _serve(
            flagd(flags), "blocked-v2", True, keys=(*VIPS, *STAFF, *users), percent=percent
        )
        assert {key: served[key] for key in VIPS} == {"vip-1": False, "vip-2": False}
        assert set(STAFF) <= _treated(served, True)
    assert _treated(served, True) == {*STAFF, *users}
