"""How each adapter reads another flag for a prerequisite (issue 21), on the parts that need
no server: the flag file's read_share, Unleash's enabled share of a feature's strategies and
LaunchDarkly's share of a fallthrough."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rolloutcli.judge.flagstate import FlagShare
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.platforms.launchdarkly import _share
from rolloutcli.platforms.unleash import enabled_share

VARIANTS = {"on": True, "off": False}


def flag_file(tmp_path: Path, **flags: dict[str, Any]) -> FlagFilePlatform:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": {"main": {**BOOLEAN}, **flags}}))
    return FlagFilePlatform(path, "main")


BOOLEAN: dict[str, Any] = {"state": "ENABLED", "variants": VARIANTS, "defaultVariant": "off"}


def split(percent: int) -> dict[str, Any]:
    weight = percent * 1000
    return {"fractional": [["on", weight], ["off", 100_000 - weight]]}


def test_the_flag_file_reads_another_flags_share(tmp_path: Path) -> None:
    core = {**BOOLEAN, "targeting": split(40)}
    platform = flag_file(
        tmp_path,
        core=core,
        fenced={**BOOLEAN, "targeting": {"if": [{"$ref": "vip"}, "off", split(70)]}},
        early={**BOOLEAN, "targeting": {"if": [{"$ref": "beta"}, "on", split(5)]}},
        everyone={**BOOLEAN, "defaultVariant": "on"},
        disabled={**core, "state": "DISABLED"},
        odd={**BOOLEAN, "targeting": {"==": [1, 1]}},
    )
    assert platform.read_share("core", True) == FlagShare("core", True, True, True, 40.0)
    assert platform.read_share("core", False) == FlagShare("core", False, True, True, 60.0)
    assert platform.read_share("fenced", True).percent == 70.0  # an exclusion: a few keys
    assert platform.read_share("early", True).percent == 5.0  # an audience: a few keys
    assert platform.read_share("everyone", True).percent == 100.0
    assert platform.read_share("disabled", True) == FlagShare("disabled", True, True, False, 40.0)
    shown = platform.shown
    assert platform.read_share("odd", True).problem == (
        f"the targeting of flag 'odd' in {shown} is not a split rolloutcli reads"
    )
    assert platform.read_share("core", "v2").problem == (
        f"flag 'core' in {shown} has no variant serving 'v2'"
    )
    assert platform.read_share("gone", True) == FlagShare(
        "gone", True, False, problem=f"no flag 'gone' in {shown}"
    )


def test_unleash_counts_the_share_enabled_whatever_the_context() -> None:
    def rollout(value: str, **extra: Any) -> dict[str, Any]:
        return {"name": "flexibleRollout", "parameters": {"rollout": value}, **extra}

    assert enabled_share([]) == 100.0  # enabled with no strategy: everyone
    assert enabled_share([rollout("30"), rollout("60")]) == 60.0
    assert enabled_share([rollout("30"), {"name": "default"}]) == 100.0
    assert enabled_share([rollout("90", constraints=[{"contextName": "x"}])]) == 0.0
    assert enabled_share([rollout("90", segments=[1]), rollout("20")]) == 20.0
    assert enabled_share([rollout("80", disabled=True), rollout("10")]) == 10.0
    assert enabled_share([{"name": "userWithId", "parameters": {"userIds": "a"}}]) == 0.0
    assert enabled_share([rollout("abc")]) == 0.0


def test_launchdarkly_counts_the_fallthrough() -> None:
    rollout = {
        "on": True,
        "fallthrough": {
            "rollout": {"variations": [{"variation": 0, "weight": 25_500}, {"variation": 1}]}
        },
    }
    assert _share("core", True, 0, rollout) == FlagShare("core", True, True, True, 25.5)
    assert _share("core", False, 1, rollout).percent == 0.0
    fixed = {"on": False, "fallthrough": {"variation": 2}}
    assert _share("m", "v2", 2, fixed) == FlagShare("m", "v2", True, False, 100.0)
    assert _share("m", "v1", 1, fixed).percent == 0.0
