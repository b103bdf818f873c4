"""Property-based fuzzing of the flagd file: whatever a hand edit left in it, every verb of
the platform ends in a result or a one-line :class:`RolloutError` — above all ``turn_off``,
which on-call runs on whatever the file holds.

``ROLLOUT_FUZZ_EXAMPLES`` sets the cases (see tests/fuzzing.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rolloutcli.judge.flagstate import RolloutChange
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.errors import RolloutError
from tests.fuzzing import FUZZ

pytestmark = pytest.mark.fuzz

KEYS = st.sampled_from(
    ["if", "in", "var", "fractional", "$ref", "on", "off", "targetingKey", "cat", "metadata"]
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["on", "off", "ENABLED", "DISABLED", "rolloutcli.percent"]),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=5), inner),
    max_leaves=25,
)
FLAG = st.fixed_dictionaries(
    {
        "state": st.sampled_from(["ENABLED", "DISABLED"]) | LEAVES,
        "variants": st.just({"on": True, "off": False}) | JSON,
        "defaultVariant": st.sampled_from(["on", "off"]) | LEAVES,
        "targeting": JSON,
        "metadata": JSON,
    }
)
DOCUMENT = st.fixed_dictionaries({"flags": st.fixed_dictionaries({"f": FLAG | JSON})}) | JSON


@FUZZ
@given(document=DOCUMENT)
def test_any_flag_file_reads_writes_and_kills_or_fails_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, document: Any
) -> None:
    path: Path = tmp_path_factory.mktemp("flags") / "flags.json"
    path.write_text(json.dumps(document))
    platform = FlagFilePlatform(path, "f")
    change = RolloutChange(25.0, (), None, "plan", "25%", "advance", "fuzz")

    def advance() -> None:
        platform.set_rollout(change, True, False, platform.read_state(True, False))

    calls = (
        lambda: platform.read_state(True, False),
        platform.history,
        advance,
        lambda: platform.set_paused(True, "plan", "fuzz", "why"),
        lambda: platform.turn_off("plan", "fuzz"),
    )
    for call in calls:
        try:
            call()
        except RolloutError as exc:
            assert "\n" not in str(exc)
    try:
        killed = json.loads(path.read_text())["flags"]["f"]["state"] == "DISABLED"
    except (ValueError, KeyError, TypeError):
        return  # not a flag file the kill could act on: it said so in one line
    assert killed
