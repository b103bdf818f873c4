"""The backend registries: one spec class per kind, read the same way everywhere.

Kill reads a plan's ``platform:`` without pydantic (``read_platform``); every other command
reads it through the plan model. Both must accept exactly the same sections, with the same
spec as the result, for every platform kind the registry holds, so a new kind cannot drift.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from rolloutcli.plan.model import Plan
from rolloutcli.plan.platform_specs import (
    PLATFORM_SPECS,
    FlagfileSpec,
    LaunchDarklySpec,
    UnleashSpec,
    platform_kinds_text,
    platform_spec,
    read_platform,
)
from rolloutcli.plan.source_specs import SOURCE_SPECS, query_kinds_text, source_kinds_text
from rolloutcli.support.errors import InvalidInputError

BASE: dict[str, Any] = {
    "flag": "f",
    "variations": {"treatment": True, "control": False},
    "stages": [{"percent": 100}],
    "metrics": {"source": {"kind": "file", "path": "m.csv"}},
}


def _by_model(section: object) -> object | None:
    try:
        return Plan.model_validate({**BASE, "platform": section}).platform
    except ValidationError:
        return None


SECTIONS: list[object] = [
    {"kind": "flagfile", "path": "flags.json"},
    {"kind": "flagfile", "path": "flags.json", "environment": "production"},
    {"kind": "flagfile"},
    {"kind": "flagfile", "path": "x" * 1024},
    {"kind": "flagfile", "path": "x" * 1025},
    {"kind": "flagfile", "path": 7},
    {"kind": "flagfile", "path": None},
    {"kind": "flagfile", "url": "http://u"},
    {"kind": "unleash", "url": "http://u", "project": "default", "stickiness": "userId"},
    {"kind": "unleash", "project": None},
    {"kind": "unleash", "path": "flags.json"},
    {"kind": "unleash", "stickiness": None},
    {"kind": "unleash", "environment": "e" * 257},
    {"kind": "launchdarkly", "project": "p", "context_kind": "org", "bucket_by": "id"},
    {"kind": "launchdarkly", "project": "p", "bucket_by": ["id"]},
    {"kind": "launchdarkly", "project": "p", "stickiness": "x"},
    {"kind": "launchdarkly", "url": "u" * 2049},
    {"kind": "flagd"},
    {"kind": 3},
    {"kind": None},
    {"path": "flags.json"},
    {},
    "flagfile",
    ["flagfile"],
    None,
]


@pytest.mark.parametrize("section", SECTIONS, ids=repr)
def test_kill_reads_platform_sections_as_the_plan_model_does(section: object) -> None:
    spec, problems = read_platform(section)
    assert spec == _by_model(section)
    assert (spec is None) == bool(problems)


def test_every_registered_kind_is_a_frozen_dataclass_with_an_adapter() -> None:
    """Dataclasses, so the registries (and kill, and --help) load without pydantic."""
    assert list(PLATFORM_SPECS) == ["flagfile", "unleash", "launchdarkly"]
    for kind, spec_class in PLATFORM_SPECS.items():
        assert dataclasses.is_dataclass(spec_class)
        assert spec_class.__dataclass_params__.frozen  # type: ignore[attr-defined]
        module, _, factory = spec_class.adapter.partition(":")
        assert module == f"rolloutcli.platforms.{kind}" and factory.startswith("open_")
    assert list(SOURCE_SPECS) == ["file", "prometheus", "datadog", "sql", "cloudwatch", "json"]
    for kind, spec_class in SOURCE_SPECS.items():
        assert dataclasses.is_dataclass(spec_class)
        assert spec_class.adapter.startswith(f"rolloutcli.metrics.{kind}:open_")


def test_kinds_in_messages_come_from_the_registries() -> None:
    assert platform_kinds_text() == "flagfile, unleash or launchdarkly"
    assert source_kinds_text() == "file, prometheus, datadog, sql, cloudwatch or json"
    assert query_kinds_text("and") == "prometheus, datadog, sql, cloudwatch and json"


def test_a_problem_names_the_key_and_says_what_to_fix() -> None:
    assert read_platform({"kind": "unleash", "path": "f.json"}) == (
        None,
        [(("platform", "path"), "is for flagfile, not unleash")],
    )
    assert read_platform({"kind": "unleash", "projekt": "p"}) == (
        None,
        [(("platform", "projekt"), "unknown key; did you mean 'project'?")],
    )
    assert read_platform({"kind": "flagd"}) == (
        None,
        [
            (
                ("platform", "kind"),
                "'flagd' is not a platform kind: use flagfile (local flagd JSON), unleash "
                "(Admin API) or launchdarkly (REST API v2)",
            )
        ],
    )


def test_options_become_a_spec_or_an_error_naming_the_option() -> None:
    assert platform_spec({"kind": "unleash", "url": None, "environment": "prod"}) == UnleashSpec(
        kind="unleash", environment="prod"
    )
    assert platform_spec({"kind": "launchdarkly", "project": "p"}) == LaunchDarklySpec(
        kind="launchdarkly", project="p"
    )
    with pytest.raises(InvalidInputError, match=r"^--url: at most 2048 characters$"):
        platform_spec({"kind": "unleash", "url": "u" * 2049})
    with pytest.raises(
        InvalidInputError,
        match=r"^--project: launchdarkly needs the project key \(--platform launchdarkly\)$",
    ):
        platform_spec({"kind": "launchdarkly", "project": None})
    assert FlagfileSpec(kind="flagfile").problems(True, False, [100]) == [
        (("platform", "kind"), "a flagfile platform needs path: (the flagd JSON file)")
    ]


def test_reading_a_flag_address_imports_no_pydantic(tmp_path: Any) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text("flag: f\nplatform:\n  kind: flagfile\n  path: flags.json\nstages: [\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rolloutcli.app.killswitch import find_target\n"
        f"target = find_target({str(plan)!r}, None, None)\n"
        "assert target.flag == 'f', target\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'scipy', 'numpy'))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
