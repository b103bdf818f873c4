"""Knobs on LaunchDarkly (issue 21), against the fake held to LaunchDarkly's OpenAPI
spec: the knob is a multivariate flag whose fallthrough variation is its value; rolloutcli
sets it with ``updateFallthroughVariationOrRollout``, conditionally, the change's comment
naming the record, and LaunchDarkly's own SDK evaluator (offline, over the flag read back)
serves the new value to everyone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from rolloutcli.platforms.launchdarkly import LaunchDarklyPlatform
from rolloutcli.platforms.ldeval import Evaluator, sdk_flag
from rolloutcli.support.errors import ConflictError, InvalidInputError
from tests.integration.launchdarkly_fake import FakeLaunchDarkly

pytestmark = pytest.mark.integration

PROJECT, ENV, KNOB = "default", "production", "min-confidence"
KEYS = tuple(f"user-{i}" for i in range(300))


@pytest.fixture
def ld() -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        fake.add_flag(PROJECT, "fraud-model", [True, False], ENV, on=True)
        fake.add_flag(PROJECT, KNOB, [0.7, 0.8, 0.9], ENV, on=True, fallthrough_variation=0)
        yield fake
        fake.assert_clean()


def platform(fake: FakeLaunchDarkly) -> LaunchDarklyPlatform:
    return LaunchDarklyPlatform(
        url=fake.url,
        token=fake.api_token,
        flag="fraud-model",
        plan="fraud",
        project=PROJECT,
        environment=ENV,
    )


def served(fake: FakeLaunchDarkly) -> set[object]:
    with Evaluator([sdk_flag(fake.flag(PROJECT, KNOB), ENV)], []) as sdk:
        return {sdk.evaluate(KNOB, key).value for key in KEYS}


def test_read_and_set_a_knob_served_by_the_sdk(ld: FakeLaunchDarkly) -> None:
    ld_platform = platform(ld)
    before = ld_platform.read_knob(KNOB)
    assert (before.flag, before.value, before.since) == (KNOB, 0.7, None)
    assert served(ld) == {0.7}
    after = ld_platform.set_knob(KNOB, 0.8, before, "fraud", "raise 0.7 -> 0.8", record="ab12cd34")
    assert after.value == 0.8 and after.since is not None
    assert served(ld) == {0.8}
    [entry] = ld.audit_entries()
    assert entry["comment"] == (
        "rolloutcli plan=fraud stage=- pct=- action=knob record=ab12cd34 · raise 0.7 -> 0.8"
    )
    with pytest.raises(ConflictError, match=re.escape("serves 0.8 now, not the 0.7 read")):
        ld_platform.set_knob(KNOB, 0.9, before, "fraud", "raise again")
    assert served(ld) == {0.8}


def test_a_value_the_flag_has_no_variation_for_is_one_line(ld: FakeLaunchDarkly) -> None:
    ld_platform = platform(ld)
    with pytest.raises(InvalidInputError) as info:
        ld_platform.set_knob(KNOB, 0.95, ld_platform.read_knob(KNOB), "fraud", "tune")
    assert str(info.value) == (
        "LaunchDarkly flag 'min-confidence' has no variation 0.95 (it has 0.7, 0.8, 0.9): "
        "add it to the flag, or tune to one of its values"
    )
    assert served(ld) == {0.7}


def test_a_knob_that_is_off_serves_no_single_value(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "sampling", ["a", "b"], ENV, on=False)
    reading = platform(ld).read_knob("sampling")
    assert (reading.value, reading.note) == (
        None,
        f"it is off in {ENV}: LaunchDarkly serves its off variation",
    )
