"""The tolerant reader kill uses: the flag's address from a plan broken in any other way.

``load_flag_address`` must find ``flag:`` and ``platform:`` when the rest of the file does
not parse, holds bytes that are not UTF-8 or control characters, hides an alias bomb, or does
not validate; ``rollout kill FLAG_KEY`` must skip every other plan in the folder that cannot
be read for any reason. Each case issue 14 found with the flag left ON is pinned here, on the
real CLI where it matters.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.app.killswitch import find_target
from rolloutcli.cli.main import app
from rolloutcli.plan.address import flag_key_hint, load_flag_address
from rolloutcli.plan.model import load_plan
from rolloutcli.plan.yamlsource import keep_top_level
from rolloutcli.support.errors import InvalidInputError, PlanError
from tests.conftest import read_flag
from tests.unit.plan.test_plan_limits import HANG, alias_bomb, within

ADDRESS = """\
# a comment
flag: checkout-v2
description: Single-page checkout.
platform:
  kind: flagfile
  path: ../flags/flags.json
  environment: production
variations:
  treatment: true
  control: false
"""


def write(tmp_path: Path, data: bytes | str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def address_of(path: Path) -> tuple[str, str, str, str | None]:
    name, address, base_dir = load_flag_address(path)
    assert base_dir == path.parent
    return name, address.flag, address.platform.environment, address.platform.path


EXPECTED = ("plan", "checkout-v2", "production", "../flags/flags.json")


# --------------------------------------------------------------------------- the reader


@pytest.mark.parametrize(
    "tail",
    [
        "stages: [\n  - percent: 1\n",  # unclosed bracket
        "stages:\n  - percent: 1: 2\n",  # mapping values not allowed
        "stages:\n\t- percent: 1\n",  # a tab
        "metrics: {source: x\nguardrails:\n  - *undefined\n",  # undefined alias
        "flag_like: x\nstages: 1\nstages: 2\n",  # duplicate key elsewhere
        "extra: " + "9" * 5000 + "\n",  # an integer Python will not convert
    ],
    ids=["bracket", "mapping-value", "tab", "alias", "duplicate", "huge-int"],
)
def test_a_yaml_error_below_flag_and_platform_still_gives_the_address(
    tmp_path: Path, tail: str
) -> None:
    path = write(tmp_path, ADDRESS + tail)
    with pytest.raises(PlanError):
        load_plan(path)
    assert address_of(path) == EXPECTED


def test_a_yaml_error_above_flag_still_gives_the_address(tmp_path: Path) -> None:
    path = write(tmp_path, "stages: [1,\n" + ADDRESS)
    assert address_of(path) == EXPECTED


def test_invalid_utf8_elsewhere_is_replaced(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS.encode().replace(b"Single-page", b"Single\x80page"))
    with pytest.raises(PlanError):
        load_plan(path)
    assert address_of(path) == EXPECTED


def test_invalid_utf8_inside_the_flag_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS.encode().replace(b"checkout-v2", b"checkout\xff-v2"))
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [
        f"{path}:2: flag: holds bytes that are not UTF-8: save the plan as UTF-8"
    ]


def test_invalid_utf8_inside_platform_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS.encode().replace(b"production", b"produc\xfetion"))
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [
        f"{path}:4: platform: holds bytes that are not UTF-8: save the plan as UTF-8"
    ]


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + ADDRESS.encode(),
        ADDRESS.encode("utf-16"),
        ADDRESS.replace("\n", "\r\n").encode() + b"stages: [\r\n",
        ADDRESS.encode().replace(b"Single", b"Sin\x01gle"),  # a control character
    ],
    ids=["utf8-bom", "utf16", "crlf-and-syntax-error", "control-character"],
)
def test_encodings_and_control_characters(tmp_path: Path, data: bytes) -> None:
    assert address_of(write(tmp_path, data)) == EXPECTED


def test_an_alias_bomb_elsewhere_costs_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS + alias_bomb(9, 9))
    assert within(HANG, lambda: address_of(path)) == EXPECTED


def test_sections_that_do_not_validate_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS + "stages: lots\nguardrails: {kind: ratoi}\n")
    assert address_of(path) == EXPECTED


def test_a_flow_style_plan_is_read_whole(tmp_path: Path) -> None:
    text = '{flag: x, platform: {kind: flagfile, path: f.json}, "stages": 3}\n'
    path = write(tmp_path, text)
    assert address_of(path) == ("plan", "x", "local", "f.json")


def test_a_yaml_error_inside_platform_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS.replace("  path: ../flags/flags.json", "  path: [x") + "z: [")
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}:7: YAML syntax: ")


def test_an_invalid_platform_section_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS.replace("  kind: flagfile", "  kind: flagfyle"))
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [
        f"{path}:5: platform.kind: 'flagfyle' is not a platform kind: use flagfile (local "
        "flagd JSON), unleash (Admin API) or launchdarkly (REST API v2)"
    ]


def test_no_flag_at_all_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "stages: [\n")
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [
        f"{path}:2: YAML syntax: expected the node content, but found '<stream end>'"
    ]
    other = write(tmp_path, "description: a plan without its address\n", "other.yaml")
    with pytest.raises(PlanError) as info:
        load_flag_address(other)
    assert info.value.problems == [f"{other}:1: flag: missing (required) (and 1 more problems)"]


def test_two_flag_lines_are_refused_not_guessed(tmp_path: Path) -> None:
    path = write(tmp_path, ADDRESS + "stages: [\nflag: other\n")
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [f"{path}:12: flag: duplicate key"]


def test_keep_top_level_keeps_line_numbers() -> None:
    text = 'a: 1\r\n"flag": x\r\n# note\r\nother: [\r\nplatform :\r\n  kind: k\r\n\r\nz: 1\r\n'
    assert keep_top_level(text, ("flag", "platform")) == (
        '\n"flag": x\r\n# note\r\n\nplatform :\r\n  kind: k\n'
    )
    assert keep_top_level("a: 1\n  flag: indented\n", ("flag",)) is None


def test_flag_key_hint(tmp_path: Path) -> None:
    assert flag_key_hint(write(tmp_path, ADDRESS + "stages: [\n")) == "checkout-v2"
    assert flag_key_hint(write(tmp_path, "{flag: x}\n")) is None  # no flag: line
    assert flag_key_hint(write(tmp_path, "a: &k x\nflag: *k\n")) is None  # an alias
    assert flag_key_hint(write(tmp_path, "flag: [1]\n")) is None  # not a string
    with pytest.raises(PlanError):
        flag_key_hint(tmp_path)  # a directory


# --------------------------------------------------------------------------- kill FLAG_KEY


def plans_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    (tmp_path / "flags").mkdir()
    (tmp_path / "flags" / "flags.json").write_text('{"flags": {}}')
    return folder


def test_kill_by_flag_key_skips_every_unreadable_plan(tmp_path: Path) -> None:
    folder = plans_folder(tmp_path)
    write(folder, ADDRESS + "stages: [\n", "zz-target.yaml")
    (folder / "a-directory.yaml").mkdir()
    write(folder, bytes(range(256)) * 64, "b-binary.yaml")
    write(folder, "flag: other\n" + alias_bomb(7, 10), "c-bomb.yaml")
    write(folder, ADDRESS.replace("kind: flagfile", "kind: nope"), "d-bad-platform.yaml")
    write(folder, "flag: checkout-v2\nplatform: [\n", "e-broken-same-flag.yaml")
    write(folder, "[" * 10_000, "f-deep.yaml")
    write(folder, b"\xff\xfe\x00\x00junk", "g-utf32-junk.yaml")
    os.mkfifo(folder / "h-fifo.yaml")
    target = within(HANG, lambda: find_target("checkout-v2", None, folder))
    assert (target.flag, target.plan, target.path) == (
        "checkout-v2",
        "zz-target",
        folder / "zz-target.yaml",
    )


def test_kill_by_flag_key_counts_what_it_skipped(tmp_path: Path) -> None:
    folder = plans_folder(tmp_path)
    (folder / "a.yaml").mkdir()
    write(folder, bytes(range(256)), "b.yaml")
    write(folder, "flag: checkout-v2\nplatform: [\n", "c.yaml")
    write(folder, "flag: checkout-v2\nplatform: {kind: flagfile}\n", "d.yaml")
    write(folder, ADDRESS.replace("checkout-v2", "other"), "e.yaml")
    with pytest.raises(InvalidInputError) as info:
        find_target("checkout-v2", None, folder)
    assert str(info.value) == (
        f"no plan or flag named 'checkout-v2' in {folder} (4 unreadable plan(s) skipped: "
        "a.yaml, b.yaml, c.yaml, …): give a plan path, or --flag-file FILE"
    )


def test_a_flagfile_platform_without_path_is_a_plan_error(tmp_path: Path) -> None:
    path = write(tmp_path, "flag: checkout-v2\nplatform:\n  kind: flagfile\n")
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [
        f"{path}:3: platform.kind: a flagfile platform needs path: (the flagd JSON file)"
    ]


def test_the_only_plan_for_the_flag_names_why_it_cannot_be_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNLEASH_URL", raising=False)
    folder = plans_folder(tmp_path)
    write(folder, "flag: checkout-v2\nplatform: {kind: unleash}\nstages: [\n", "u.yaml")
    with pytest.raises(InvalidInputError) as info:
        find_target("checkout-v2", None, folder)
    assert str(info.value) == "unleash: no server URL: set UNLEASH_URL or platform.url in the plan"


# --------------------------------------------------------------------------- through the CLI


runner = CliRunner()


def kill(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["kill", *args, "--yes"], env={"COLUMNS": "1000"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data + b"\nstages: [\n",
        lambda data: data.replace(b"metrics:", b"metrics: {\n  x: ]"),
        lambda data: data.replace(b"Single-page", b"Single\x80page"),
        lambda data: data + b"\n" + alias_bomb(9, 9).encode(),
        lambda data: data.replace(b"# Checkout v2", b"# Check\x00out v2"),
    ],
    ids=["syntax-error-at-end", "syntax-error-in-metrics", "invalid-utf8", "bomb", "nul"],
)
def test_kill_a_broken_plan_turns_the_flag_off(workspace: Path, damage: object) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    plan.write_bytes(damage(plan.read_bytes()))  # type: ignore[operator]
    code, output = within(HANG, lambda: kill("checkout-v2"))
    assert code == 0, output
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"


def test_kill_by_flag_key_past_broken_plans(workspace: Path) -> None:
    plans = workspace / "plans"
    (plans / "recommender-model.yaml").rename(plans / "reco.yaml")
    (plans / "bomb.yaml").write_text("flag: x\n" + alias_bomb(7, 10))
    (plans / "junk.yaml").write_bytes(bytes(range(256)) * 10)
    (plans / "folder.yaml").mkdir()
    (plans / "checkout-v2.yaml").write_bytes(b"\xff" + (plans / "checkout-v2.yaml").read_bytes())
    code, output = within(HANG, lambda: kill("recommender-model"))
    assert code == 0, output
    assert read_flag(workspace, "recommender-model")["state"] == "DISABLED"


def test_kill_an_unreadable_plan_is_one_line_and_exit_2(workspace: Path) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    plan.write_text("description: nothing else\n")
    code, output = kill("plans/checkout-v2.yaml")
    assert code == 2
    assert output.splitlines() == [
        "error: plans/checkout-v2.yaml:1: flag: missing (required) (and 1 more problems)"
    ]
    assert read_flag(workspace, "checkout-v2")["state"] == "ENABLED"


def test_a_plan_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- flag: x\n- platform: {kind: flagfile, path: f.json}\n")
    with pytest.raises(PlanError) as info:
        load_flag_address(path)
    assert info.value.problems == [
        f"{path}:1: a plan is a YAML mapping (flag:, platform:, stages: ...)"
    ]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "../../etc/shadow",
            "plan file ../../etc/shadow: not a plan: a plan file's name ends in .yaml or .yml",
        ),
        ("plans/missing.yaml", "plan file plans/missing.yaml not found"),
    ],
)
def test_kill_a_bad_plan_path_says_what_is_wrong_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = plans_folder(tmp_path)
    with pytest.raises(InvalidInputError) as info:
        find_target(ref, None, folder)
    assert str(info.value) == message
