"""A knob the tool sets in a flag file (issue 21), served by the real OpenFeature flagd
provider: every key gets the new value, including one the flag had no variant for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openfeature.evaluation_context import EvaluationContext

from rolloutcli.platforms.flagfile import FlagFilePlatform
from tests.integration.test_flagd_provider import BOOL_FLAG, Load, flag_file, flagd

__all__ = ["flag_file", "flagd"]  # the fixtures, used by name

pytestmark = [pytest.mark.integration, pytest.mark.flagd]

KNOB = "min-confidence"
KEYS = tuple(f"user-{i}" for i in range(200))


def test_the_provider_serves_the_value_the_knob_was_set_to(flag_file: Path, flagd: Load) -> None:
    doc = json.loads(flag_file.read_text())
    doc["flags"][KNOB] = {
        "state": "ENABLED",
        "variants": {"low": 0.7, "mid": 0.8},
        "defaultVariant": "low",
    }
    flag_file.write_text(json.dumps(doc))
    platform = FlagFilePlatform(flag_file, BOOL_FLAG)
    for value in (0.8, 0.85):
        platform.set_knob(KNOB, value, platform.read_knob(KNOB), "fraud", f"to {value}")
        client = flagd(flag_file)
        served = {
            client.get_float_details(KNOB, 0.0, EvaluationContext(targeting_key=key)).value
            for key in KEYS
        }
        assert served == {value}
