"""Whatever bytes a plan path holds, loading ends in a plan or in one-line problems, fast.

Each limit the loader states (file size, regular files only, UTF-8, nesting depth, values
with aliases expanded, durations, list and string sizes) and each failure issue 14 found
(tracebacks on BOMs, bad bytes, deep nesting, the reader's errors and huge numbers; hangs on
alias bombs and long lists; another file's contents quoted back) is pinned here with the
exact problem line.
"""

from __future__ import annotations

import codecs
import os
from datetime import timedelta
from pathlib import Path

import pytest

from rolloutcli.plan.locate import resolve_plan_path
from rolloutcli.plan.model import (
    MAX_APPROVE,
    MAX_AUDIENCE_KEYS,
    MAX_GUARDRAILS,
    MAX_PER_TIER,
    MAX_PROBLEMS,
    MAX_QUERIES,
    MAX_STAGES,
    MAX_SUCCESS,
    load_plan,
)
from rolloutcli.plan.notifications import MAX_WEBHOOKS
from rolloutcli.plan.yamlsource import MAX_DEPTH, MAX_NODES, MAX_PLAN_BYTES, load_yaml
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import InvalidInputError, PlanError
from tests.timebound import within
from tests.unit.plan.test_plan_validation import (
    base_plan,
    invoke,
    line_of,
    replace_line,
    write_plan,
)

HANG = 30.0  # seconds: "no hang", not a speed test — each case takes milliseconds


def problems_of(path: Path) -> list[str]:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value.problems


def plan_problems_within(path: Path) -> list[str]:
    def load() -> list[str]:
        try:
            load_plan(path)
        except PlanError as exc:
            return exc.problems
        raise AssertionError("the plan loaded")

    problems: list[str] = within(HANG, load)
    return problems


def write_bytes(tmp_path: Path, data: bytes, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- what is read


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, codecs.BOM_UTF8 + base_plan().encode())
    loaded = load_plan(path)
    assert loaded.plan.flag == "demo"
    assert load_yaml(path).line_of(("stages",)) == line_of(base_plan(), "stages:")


@pytest.mark.parametrize(
    ("encoding", "name"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32")], ids=["utf16", "utf32"]
)
def test_a_wide_byte_order_mark_says_save_as_utf8(tmp_path: Path, encoding: str, name: str) -> None:
    path = write_bytes(tmp_path, base_plan().encode(encoding))
    assert problems_of(path) == [
        f"{path}:1: not UTF-8 (a {name} byte-order mark): save the plan as UTF-8"
    ]


def test_invalid_utf8_names_line_column_and_byte(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "flag: demo", "flag: démo\x00")  # placeholder for the byte
    data = text.encode().replace(b"\x00", b"\x80")
    path = write_bytes(tmp_path, data)
    # "flag: démo" is 10 characters (11 bytes): the bad byte is the 11th character
    assert problems_of(path) == [
        f"{path}:1: not UTF-8 (byte 0x80 at column 11): save the plan as UTF-8"
    ]


def test_invalid_utf8_on_a_later_line(tmp_path: Path) -> None:
    text = base_plan()
    line = line_of(text, "    kind: ratio")
    data = text.encode().replace(b"    kind: ratio", b"    kind: ra\xfftio")
    path = write_bytes(tmp_path, data)
    assert problems_of(path) == [
        f"{path}:{line}: not UTF-8 (byte 0xff at column 13): save the plan as UTF-8"
    ]


def test_a_control_character_is_a_yaml_error_at_its_line(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "  control: false", "  control: fa\x01lse")
    path = write_plan(tmp_path, text)
    line = line_of(text, "  control: fa\x01lse")
    assert problems_of(path) == [
        f"{path}:{line}: YAML syntax: character U+0001 is not allowed in YAML "
        "(a control character: is this a text file?)"
    ]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    padding = b"#" * (MAX_PLAN_BYTES - len(base_plan()) - 1) + b"\n"
    at_limit = write_bytes(tmp_path, padding + base_plan().encode(), "at-limit.yaml")
    assert at_limit.stat().st_size == MAX_PLAN_BYTES
    assert load_plan(at_limit).plan.flag == "demo"

    over = write_bytes(tmp_path, b"#" + padding + base_plan().encode(), "over.yaml")
    assert problems_of(over) == [f"{over}: the plan is larger than 1024 KiB: is this a plan?"]


def test_dev_zero_is_refused_before_reading() -> None:
    path = Path("/dev/zero")
    assert plan_problems_within(path) == [
        "/dev/zero: not a regular file (a device, FIFO or socket): give a plan file"
    ]


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert plan_problems_within(path) == [
        f"{path}: not a regular file (a device, FIFO or socket): give a plan file"
    ]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "folder.yaml"
    path.mkdir()
    assert problems_of(path) == [f"{path}: not a regular file (a directory): give a plan file"]


# --------------------------------------------------------------------------- YAML limits


@pytest.mark.parametrize(("depth", "ok"), [(MAX_DEPTH, True), (MAX_DEPTH + 1, False)])
def test_nesting_limit_is_exact(tmp_path: Path, depth: int, ok: bool) -> None:
    path = write_plan(tmp_path, "[" * depth + "]" * depth + "\n")
    if ok:
        assert load_yaml(path).data is not None
    else:
        with pytest.raises(PlanError) as info:
            load_yaml(path)
        assert info.value.problems == [
            f"{path}:1: nested more than 64 levels deep (aliases expanded): is this a plan?"
        ]


def test_deep_nesting_past_the_recursion_limit_is_refused(tmp_path: Path) -> None:
    """10,000 levels overflowed PyYAML's recursive composer (RecursionError)."""
    path = write_plan(tmp_path, "flag: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert plan_problems_within(path) == [
        f"{path}:1: nested more than 64 levels deep (aliases expanded): is this a plan?"
    ]


def test_block_nesting_names_the_line_where_it_passes_the_limit(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "".join(" " * i + "k:\n" for i in range(200)))
    assert plan_problems_within(path) == [
        f"{path}:64: nested more than 64 levels deep (aliases expanded): is this a plan?"
    ]


def test_nesting_through_aliases_counts_expanded(tmp_path: Path) -> None:
    text = (
        "a: &a " + "[" * 40 + "x" + "]" * 40 + "\n"  # 41 levels as written
        "b: &b " + "[" * 40 + "*a" + "]" * 40 + "\n"  # 81 levels once *a is expanded
    )
    path = write_plan(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:2: nested more than 64 levels deep (aliases expanded): is this a plan?"
    ]


@pytest.mark.parametrize(("items", "ok"), [(MAX_NODES - 3, True), (MAX_NODES - 2, False)])
def test_node_limit_is_exact(tmp_path: Path, items: int, ok: bool) -> None:
    # the mapping, its key and the list are 3 nodes, then one per item
    path = write_plan(tmp_path, "l: [" + ",".join(["1"] * items) + "]\n")
    if ok:
        assert len(load_yaml(path).data["l"]) == items
    else:
        with pytest.raises(PlanError) as info:
            load_yaml(path)
        assert info.value.problems == [
            f"{path}:1: more than 20000 values (aliases expanded): is this a plan?"
        ]


def alias_bomb(levels: int, fan_out: int) -> str:
    lines = ["a0: &a0 [lol]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * fan_out)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("levels", "fan_out"), [(9, 9), (7, 10)], ids=["9x9", "7x10"])
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, levels: int, fan_out: int) -> None:
    """The 400-byte 9x9 bomb took 48 s and 4.8 GB; the 7x10 one delayed kill by 20 s."""
    text = base_plan() + alias_bomb(levels, fan_out)
    path = write_plan(tmp_path, text)
    # a3 is the first anchor past 20,000 values: 1+10*(1+10*(1+10*2)) = 2111 for 7x10,
    # so the line depends on the fan-out; it is the first aN line whose expansion is too big
    line = next(
        i + 1
        for i, content in enumerate(text.splitlines())
        if content.startswith("a") and _expanded(content, fan_out) > MAX_NODES
    )
    assert plan_problems_within(path) == [
        f"{path}:{line}: more than 20000 values (aliases expanded): is this a plan?"
    ]


def _expanded(line: str, fan_out: int) -> int:
    """Nodes in ``aN: &aN [...]`` of :func:`alias_bomb` expanded (the list alone)."""
    level = int(line.split(":")[0][1:])
    size = 2  # a0's list and its scalar
    for _ in range(level):
        size = 1 + fan_out * size
    return size


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "a: &a [1, *a]\n")
    assert plan_problems_within(path) == [f"{path}:1: an alias refers to a value containing it"]


def test_a_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["m0: &m0 {k: v}"]
    for i in range(1, 12):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 8)}]}}")
    path = write_plan(tmp_path, "\n".join(lines) + "\n")
    (problem,) = plan_problems_within(path)
    assert problem.endswith(": more than 20000 values (aliases expanded): is this a plan?")


# --------------------------------------------------------------------------- values


def test_a_huge_duration_is_a_plan_error_not_an_overflow(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "    min_duration: 1h", "    min_duration: 99999999999d")
    path = write_plan(tmp_path, text)
    line = line_of(text, "    min_duration: 99999999999d")
    assert problems_of(path) == [
        f"{path}:{line}: stages[1].min_duration: duration '99999999999d' is longer than the "
        "maximum of 3650d (ten years)"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("3650d", 3650 * 86400), ("521w", 521 * 604800), ("87600h", 315360000)]
)
def test_durations_up_to_the_maximum_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["3651d", "522w", "99999999999d", "9" * 30 + "w", "1e400d"])
def test_durations_past_the_maximum_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    if "e" in text:  # not a number and a unit at all
        assert str(info.value).startswith(f"bad duration {text!r}: ")
    else:
        assert str(info.value) == (
            f"duration {text!r} is longer than the maximum of 3650d (ten years)"
        )


def test_a_very_long_duration_text_is_clipped_in_the_message() -> None:
    text = "1s" * 500
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == (
        f"bad duration {'1s' * 19 + '1…'!r}: use a number and a unit s, m, h, d or w, "
        "e.g. 30m, 1h30m, 3d"
    )


def test_an_integer_with_too_many_digits(tmp_path: Path) -> None:
    text = base_plan() + "extra: " + "9" * 5000 + "\n"
    path = write_plan(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:{len(text.splitlines())}: extra: an integer with too many digits"
    ]


def test_a_huge_hex_integer_is_out_of_range_not_a_crash(tmp_path: Path) -> None:
    text = replace_line(
        base_plan(), "  - percent: 5", "  - percent: 5\n    min_samples: 0x" + "f" * 5000
    )
    path = write_plan(tmp_path, text)
    line = line_of(text, "    min_samples: 0x" + "f" * 5000)
    assert problems_of(path) == [
        f"{path}:{line}: stages[1].min_samples: Input should be less than or equal to "
        "1000000000000000"
    ]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_infinite_and_nan_numbers_are_plan_errors(tmp_path: Path, value: str) -> None:
    text = replace_line(base_plan(), "  - percent: 5", f"  - percent: {value}")
    path = write_plan(tmp_path, text)
    line = line_of(text, f"  - percent: {value}")
    assert problems_of(path) == [
        f"{path}:{line}: stages[1].percent: Input should be a finite number"
    ]


def test_nan_where_statistics_expects_a_number(tmp_path: Path) -> None:
    text = base_plan() + "statistics:\n  alpha: .nan\n"
    path = write_plan(tmp_path, text)
    line = line_of(text, "  alpha: .nan")
    assert problems_of(path) == [
        f"{path}:{line}: statistics.alpha: Input should be a finite number"
    ]


def test_an_impossible_date_is_a_plan_error(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "    min_duration: 1h", "    min_duration: 2026-13-45")
    path = write_plan(tmp_path, text)
    line = line_of(text, "    min_duration: 2026-13-45")
    assert problems_of(path) == [f"{path}:{line}: stages[1].min_duration: not a valid date or time"]


def test_an_infinite_threshold_is_a_plan_error(tmp_path: Path) -> None:
    text = replace_line(base_plan(), '      warn: "+10%"', '      warn: "< 1e999"')
    path = write_plan(tmp_path, text)
    line = line_of(text, '      warn: "< 1e999"')
    assert problems_of(path) == [
        f"{path}:{line}: guardrails[0].thresholds.warn: '< 1e999': the number is too large"
    ]


# --------------------------------------------------------------------------- sizes


STAGE = "  - {percent: 100}\n"
GUARDRAIL = (
    "  - {name: g, kind: ratio, events: errors, trials: requests, thresholds: {warn: '+10%'}}\n"
)


def with_section(key: str, body: str) -> str:
    """The base plan with top-level ``key`` replaced by ``body`` (or added)."""
    text = base_plan()
    lines = text.splitlines(keepends=True)
    if f"{key}:\n" in lines:
        start = lines.index(f"{key}:\n")
        end = start + 1
        while end < len(lines) and lines[end].startswith(" "):
            end += 1
        lines[start:end] = [f"{key}:\n", body]
        return "".join(lines)
    return text + f"{key}:\n" + body


@pytest.mark.parametrize(
    ("key", "body", "path", "count", "limit"),
    [
        ("stages", "  - {percent: 1}\n" * MAX_STAGES + STAGE, "stages", 101, MAX_STAGES),
        ("guardrails", GUARDRAIL * (MAX_GUARDRAILS + 1), "guardrails", 51, MAX_GUARDRAILS),
        (
            "success",
            "  - {metric: error_rate, at_most: '+5%'}\n" * (MAX_SUCCESS + 1),
            "success",
            51,
            MAX_SUCCESS,
        ),
        (
            "notifications",
            "  webhooks:\n" + "    - {url_env: HOOK}\n" * (MAX_WEBHOOKS + 1),
            "notifications.webhooks",
            21,
            MAX_WEBHOOKS,
        ),
        (
            "automation",
            "  approve: [" + ", ".join(["100%"] * (MAX_APPROVE + 1)) + "]\n",
            "automation.approve",
            101,
            MAX_APPROVE,
        ),
    ],
    ids=["stages", "guardrails", "success", "webhooks", "approve"],
)
def test_list_limits(
    tmp_path: Path, key: str, body: str, path: str, count: int, limit: int
) -> None:
    text = with_section(key, body)
    plan = write_plan(tmp_path, text)
    line = line_of(text, f"{key}:") + (1 if "." in path else 0)
    assert problems_of(plan) == [f"{plan}:{line}: {path}: at most {limit} items (got {count})"]


def test_audience_and_queries_and_tier_limits(tmp_path: Path) -> None:
    keys_line = "      keys: [" + ", ".join(f"k{i}" for i in range(MAX_AUDIENCE_KEYS + 1)) + "]"
    warn_line = "      warn: [" + ", ".join(['"+1%"'] * (MAX_PER_TIER + 1)) + "]"
    queries = "".join(f"    q{i}: up{{cohort}}\n" for i in range(MAX_QUERIES + 1))
    text = replace_line(
        base_plan(), "  - percent: 1", f"  - percent: 0\n    audience:\n{keys_line}"
    )
    text = replace_line(text, '      warn: "+10%"', warn_line)
    text = replace_line(
        text, "    path: metrics.csv", "    path: metrics.csv\n  queries:\n" + queries
    )
    path = write_plan(tmp_path, text)
    assert sorted(problems_of(path)) == sorted(
        [
            f"{path}:{line_of(text, keys_line)}: stages[0].audience.keys: "
            f"at most {MAX_AUDIENCE_KEYS} items (got {MAX_AUDIENCE_KEYS + 1})",
            f"{path}:{line_of(text, '  queries:')}: metrics.queries: at most {MAX_QUERIES} items",
            f"{path}:{line_of(text, warn_line)}: guardrails[0].thresholds.warn: "
            f"at most {MAX_PER_TIER} items (got {MAX_PER_TIER + 1})",
        ]
    )


def test_string_limits(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "flag: demo", "flag: " + "f" * 257)
    text = replace_line(text, "  - name: error_rate", "  - name: " + "g" * 65)
    path = write_plan(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:1: flag: at most 256 characters",
        f"{path}:{line_of(text, '  - name: ' + 'g' * 65)}: guardrails[0].name: "
        "at most 64 characters",
    ]


def test_duplicate_guardrail_names_are_found_in_one_pass(tmp_path: Path) -> None:
    text = with_section("guardrails", GUARDRAIL * MAX_GUARDRAILS)
    path = write_plan(tmp_path, text)
    first = line_of(text, "guardrails:") + 1
    assert problems_of(path) == [
        f"{path}:{first + i}: guardrails[{i}].name: duplicate guardrail name 'g'"
        for i in range(1, MAX_GUARDRAILS)
    ]


def test_problems_past_the_cap_are_counted_in_one_line(tmp_path: Path) -> None:
    text = with_section("stages", "  - {percent: 1, colour: red}\n" * 99 + STAGE)
    path = write_plan(tmp_path, text)
    problems = problems_of(path)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == f"{path}: {99 - MAX_PROBLEMS} more problems not shown"
    first = line_of(text, "stages:") + 1
    assert problems[0] == (
        f"{path}:{first}: stages[0].colour: unknown key (known keys: audience, checklist, "
        "min_duration, min_samples, name, percent, power_gate)"
    )


# --------------------------------------------------------------------------- quoting


def test_a_key_that_is_not_a_key_name_is_not_quoted(tmp_path: Path) -> None:
    secret = "root:$6$Zq0Bx1SECRETSALT$hashhashhash:19000:0:99999:7::"
    path = write_plan(tmp_path, base_plan() + secret + ":\n")
    line = len(base_plan().splitlines()) + 1
    assert problems_of(path) == [
        f"{path}:{line}: <key>: unknown key (not shown: it is not a key name; is this a plan file?)"
    ]


def test_a_shadow_like_file_is_never_quoted(tmp_path: Path) -> None:
    secret_lines = [
        "root:$6$Zq0Bx1SECRETSALT$hashhashhash:19000:0:99999:7:::",
        "daemon:*:19000:0:99999:7:::",
    ]
    path = write_plan(tmp_path, "\n".join(secret_lines) + "\n", name="shadow.yaml")
    problems = problems_of(path)
    assert problems[0] == f"{path}:1: flag: missing (required)"
    assert all("SECRET" not in p and "daemon" not in p and "$6$" not in p for p in problems)


def test_a_key_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    path = write_plan(tmp_path, base_plan() + '"line one\\nline two": 1\n')
    (problem,) = problems_of(path)
    assert "\n" not in problem and "line one" not in problem
    assert problem.endswith(
        ": <key>: unknown key (not shown: it is not a key name; is this a plan file?)"
    )


def test_a_long_value_is_clipped_in_the_message(tmp_path: Path) -> None:
    junk = "x" * 60
    text = replace_line(base_plan(), '      warn: "+10%"', f"      warn: {junk}")
    path = write_plan(tmp_path, text)
    line = line_of(text, f"      warn: {junk}")
    assert problems_of(path) == [
        f"{path}:{line}: guardrails[0].thresholds.warn: bad threshold '{'x' * 39}…': write "
        "+10% / -5% (relative to control), 2x (multiple of control), +2pp (percentage points "
        "above control) or < 300ms / > 0.9 (absolute)"
    ]


# --------------------------------------------------------------------------- plan paths


def test_an_explicit_path_must_be_a_yaml_file(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:SECRET:19000:0:99999:7:::\n")
    with pytest.raises(InvalidInputError) as info:
        resolve_plan_path(str(secret))
    assert str(info.value) == (
        f"plan file {secret}: not a plan: a plan file's name ends in .yaml or .yml"
    )


@pytest.mark.parametrize("name", ["..", "a..b", "..\\etc", "x\\y"])
def test_a_name_may_not_climb_out_of_the_plans_dir(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        resolve_plan_path(name, tmp_path)
    assert str(info.value) == (
        f"plan name {name!r}: a name may not contain '..' or a path separator (give a path "
        "to a .yaml file instead)"
    )


def test_a_name_is_looked_up_only_in_the_plans_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (tmp_path / "demo.yaml").write_text(base_plan())  # in the current directory: not found
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError) as info:
        resolve_plan_path("demo", plans)
    assert str(info.value).startswith("no plan named 'demo': looked for ")
    (plans / "demo.yml").write_text(base_plan())
    assert resolve_plan_path("demo", plans) == plans / "demo.yml"


def test_an_explicit_path_that_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "x.yaml"
    folder.mkdir()
    with pytest.raises(InvalidInputError) as info:
        resolve_plan_path(str(folder))
    assert str(info.value) == f"plan file {folder} is not a regular file"


def test_validate_etc_shadow_reads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "shadow").write_text("root:TOPSECRET:19000:0:99999:7:::\n")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    result = invoke(["validate", "../../etc/shadow"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: plan file ../../etc/shadow: not a plan: a plan file's name ends in .yaml or .yml"
    ]


@pytest.mark.parametrize("target", ["/dev/zero", "zero.yaml"])
def test_validate_a_device_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    result = within(HANG, lambda: invoke(["validate", target]))
    assert result.exit_code == 2
    expected = {
        "/dev/zero": "error: plan file /dev/zero: not a plan: a plan file's name ends in .yaml "
        "or .yml",
        "zero.yaml": "error: plan file zero.yaml is not a regular file",
    }[target]
    assert result.output.splitlines() == [expected]


def test_a_duplicate_anchor_names_both_lines(tmp_path: Path) -> None:
    path = write_plan(tmp_path, base_plan() + "a: &x 1\nb: &x 2\n")
    line = len(base_plan().splitlines()) + 2
    assert problems_of(path) == [
        f"{path}:{line}: YAML syntax: duplicate anchor 'x' (first at line {line - 1})"
    ]


def test_a_union_member_is_not_shown_as_a_key(tmp_path: Path) -> None:
    text = replace_line(
        base_plan(), "    path: metrics.csv", "    path: metrics.csv\n  queries:\n    q: {step: 5m}"
    )
    path = write_plan(tmp_path, text)
    line = line_of(text, "    q: {step: 5m}")
    assert f"{path}:{line}: metrics.queries.q.query: missing (required)" in problems_of(path)
