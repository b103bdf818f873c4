"""Property-based fuzzing of plans: whatever a plan file holds, no traceback and no hang.

Two generators feed ``load_plan`` (what validate/check/advance read) and
``load_flag_address`` (what kill reads):

* structure-aware: a shipped example plan with values replaced by random types, strings,
  huge or non-finite numbers and nested junk; unknown keys inserted; keys dropped or
  duplicated; lists grown past their limits; raw YAML fragments (tags, aliases, anchors,
  impossible dates, 5,000-digit integers) spliced in;
* byte-level: random bytes, byte-order marks, invalid UTF-8 and control characters written
  into real plans, deep nesting, alias and merge-key bombs, huge lists, oversized files.

Each case must end in a plan or in a :class:`RolloutError` (exit 2: ``InvalidInputError``,
``PlanError``) whose every problem is one line that names the file, within a generous
bound (a hang guard, not a speed test). A smaller set goes through the real CLI
(``rollout validate`` and ``rollout kill --yes`` on a flagfile workspace).

``ROLLOUT_FUZZ_EXAMPLES`` sets the number of plans per property (see tests/fuzzing.py; the
nightly run uses 10,000). Runs are deterministic (``derandomize``) and write no example
database into the repository.
"""

from __future__ import annotations

import codecs
import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rolloutcli.app.demo import write_workspace
from rolloutcli.cli.main import app
from rolloutcli.plan.address import load_flag_address
from rolloutcli.plan.model import MAX_PROBLEMS, load_plan
from rolloutcli.plan.yamlsource import MAX_PLAN_BYTES
from rolloutcli.support.errors import InvalidInputError, RolloutError
from tests.fuzzing import EXAMPLES, FUZZ
from tests.timebound import within

pytestmark = pytest.mark.fuzz

CLI_EXAMPLES = max(20, EXAMPLES // 10)
CASE_BOUND = 30.0
"""Seconds one case may take before it counts as a hang (cases take milliseconds)."""
LONGEST_MESSAGE = 1000
"""A problem line, past its file name, is short: it never quotes a file's body."""

CLI_FUZZ = settings(FUZZ, max_examples=CLI_EXAMPLES)

DEMO_PLANS = Path(__file__).resolve().parents[3] / "src" / "rolloutcli" / "demo" / "plans"
SHIPPED = sorted(DEMO_PLANS.glob("*.yaml"))
SHIPPED_BYTES = [path.read_bytes() for path in SHIPPED]
SHIPPED_DATA = [yaml.safe_load(data) for data in SHIPPED_BYTES]
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# --------------------------------------------------------------------------- the property


def bounded(call: Callable[[], Any]) -> Any:
    """``call()``; a case still running after CASE_BOUND seconds is a hang."""
    return within(CASE_BOUND, call)


def assert_loads_or_one_line_errors(path: Path) -> None:
    """Both readers end in a result or in one-line problems naming ``path``."""
    for reader in (load_plan, load_flag_address):
        try:
            bounded(lambda reader=reader: reader(path))  # type: ignore[misc]
            event(f"{reader.__name__}: loaded")
        except RolloutError as exc:
            assert isinstance(exc, InvalidInputError), f"{reader.__name__}: {exc!r}"
            problems = getattr(exc, "problems", [str(exc)])
            assert 1 <= len(problems) <= MAX_PROBLEMS + 1
            if reader is load_flag_address:
                assert len(problems) == 1, problems
            event(f"{reader.__name__}: {_kind(problems[0][len(str(path)) :])}")
            for problem in problems:
                assert "\n" not in problem and "\r" not in problem, problem
                assert problem.startswith(str(path)), problem
                assert len(problem) - len(str(path)) <= LONGEST_MESSAGE, problem


def _kind(message: str) -> str:
    """A problem's kind, for hypothesis' statistics (--hypothesis-show-statistics)."""
    text = re.sub(r"^(:\d+)?: ", "", message)  # the line
    text = re.sub(r"^[^\s:]+: ", "", text)  # the key path
    return re.sub(r"'.*?'|\d+", "…", text)[:40]


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def write_case(folder: Path, data: bytes) -> Path:
    path = folder / "plan.yaml"
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- structure-aware

RAW_FRAGMENTS = [
    "9" * 5000,  # past Python's int-digits limit
    "-" + "9" * 4400,
    "0x" + "f" * 4000,  # a huge int the limit does not apply to
    "0o777",
    "0b1010",
    "1:20:30",  # sexagesimal
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "1e999",
    "2026-13-45",
    "2026-02-30 25:61:00",
    "~",
    "!!binary aGVsbG8=",
    "!!python/object:os.system",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!custom x",
    "*undefined",
    "&anchor x",
    "&self [*self]",
    "[",
    "]",
    "{a: ",
    "? complex",
    "|\n  block",
    "'unterminated",
    '"\\uD800"',
    '"\\x"',
    "@reserved",
    "`tick",
    "%YAML 1.1",
    "---",
    "...",
    "\t",
    "x" * 100_000,
]
INTERESTING = [
    "99999999999d",
    "3651d",
    "1e999",
    "nan%",
    "inf",
    "+1e999%",
    "< 1e999ms",
    "1e999x",
    "-100%",
    "0",
    "0s",
    "[/]",
    "[bold]x[/bold]",
    ":100:",
    "a\nb",
    "\x00",
    "\x1b[31m",
    "\u2028",
    "\ufeff",
    "é" * 100,
    "../../etc/shadow",
    "/dev/zero",
    "{cohort}{role}{flag}{window}{",
    "x" * 300,
    "flagfile",
    "unleash",
    "launchdarkly",
    "ratio",
    "mean",
    "100%",
    "150%",
]
KEYS = st.one_of(
    st.sampled_from(
        [
            "flag",
            "platform",
            "stages",
            "kind",
            "percent",
            "path",
            "thresholds",
            "rollback",
            "<<",
            "?",
            "root:$6$salt$hash:19000:0:99999:7::",
            "[bold]",
            "a\nb",
        ]
    ),
    st.integers(1, 5000).map(lambda n: "k" * n),
    st.text(max_size=12),
    st.integers(),
    st.booleans(),
)


class Raw(str):
    """A YAML fragment spliced into the dumped text as written."""


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(INTERESTING),
    st.integers(0, len(RAW_FRAGMENTS) - 1).map(lambda i: Raw(RAW_FRAGMENTS[i])),
)
JUNK = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(KEYS, children, max_size=5),
    ),
    max_leaves=15,
)


def containers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict | list):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            yield from containers(child, (*path, key))


@st.composite
def mutated_plans(draw: st.DrawFn) -> bytes:
    data = copy.deepcopy(draw(st.sampled_from(SHIPPED_DATA)))
    for _ in range(draw(st.integers(1, 4))):
        _, target = draw(st.sampled_from(list(containers(data))))
        operation = draw(st.sampled_from(["replace", "insert", "drop", "grow", "wrap"]))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if operation == "insert" or not keys:
            if isinstance(target, dict):
                target[draw(KEYS)] = draw(JUNK)
            else:
                target.insert(draw(st.integers(0, len(target))), draw(JUNK))
            continue
        key = draw(st.sampled_from(keys))
        if operation == "replace":
            target[key] = draw(JUNK)
        elif operation == "drop":
            del target[key]
        elif operation == "grow":
            count = draw(st.sampled_from([2, 11, 51, 101, 1001]))
            if isinstance(target[key], dict | list):
                count = min(count, 101)  # past the node limit is the byte-level test's job
            target[key] = [copy.deepcopy(target[key]) for _ in range(count)]
        else:  # wrap: nest the value deep
            value = target[key]
            for _ in range(draw(st.integers(1, 80))):
                value = [value] if draw(st.booleans()) else {"k": value}
            target[key] = value
    return render(draw, data)


def render(draw: st.DrawFn, data: Any) -> bytes:
    """Dump ``data`` as YAML, splice in the raw fragments, maybe duplicate a line."""
    fragments: list[str] = []

    def mark(node: Any) -> Any:
        if isinstance(node, Raw):
            fragments.append(str(node))
            return f"RAWFRAGMENT{len(fragments) - 1}X"
        if isinstance(node, dict):
            return {mark(k) if isinstance(k, Raw) else k: mark(v) for k, v in node.items()}
        if isinstance(node, list):
            return [mark(v) for v in node]
        return node

    try:
        text = yaml.dump(
            mark(data),
            Dumper=Dumper,
            default_flow_style=draw(st.booleans()),
            allow_unicode=draw(st.booleans()),
            sort_keys=False,
            width=draw(st.sampled_from([80, 10_000])),
        )
    except (yaml.YAMLError, ValueError):
        text = "flag: x\n"
    for index, fragment in enumerate(fragments):
        text = text.replace(f"RAWFRAGMENT{index}X", fragment)
    lines = text.splitlines(keepends=True)
    if lines and draw(st.booleans()):
        at = draw(st.integers(0, len(lines) - 1))
        lines.insert(at, lines[at])  # a duplicate key (or item)
    return "".join(lines).encode("utf-8", errors="surrogatepass")


@FUZZ
@given(data=mutated_plans())
def test_mutated_plans_load_or_fail_in_one_line(fuzz_dir: Path, data: bytes) -> None:
    assert_loads_or_one_line_errors(write_case(fuzz_dir, data))


# --------------------------------------------------------------------------- byte-level

SPECIAL_BYTES = [
    b"\x80",
    b"\xff",
    b"\xc3",  # a truncated two-byte sequence
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\x00",
    b"\x1b",
    b"\x7f",
    b"\x85",
    "\u2028".encode(),
    codecs.BOM_UTF8,
    b"\t",
    b"\r",
    b"\n",
    b":",
    b"- ",
    b"[",
    b"{",
    b"&a ",
    b"*a",
    b"!!",
    b"%",
    b"'",
    b'"',
]


@st.composite
def edited_plans(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SHIPPED_BYTES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(st.sampled_from(SPECIAL_BYTES), st.binary(min_size=1, max_size=8)))
        operation = draw(st.sampled_from(["insert", "overwrite", "delete", "truncate"]))
        if operation == "insert":
            data[at:at] = piece
        elif operation == "overwrite":
            data[at : at + len(piece)] = piece
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def encoded_plans(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SHIPPED_BYTES)).decode()
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "latin-1"]))
    return text.replace("Single-page", "Sîngle-page").encode(encoding, errors="replace")


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(0, 60_000))
    opener = draw(st.sampled_from(["[", "{a: ", "- ", "? ", "block", "&x [", "!!seq ["]))
    if opener == "block":
        depth = min(depth, 1400)  # indentation grows: 1,400 levels is ~1 MiB
        body = "".join(" " * i + "k:\n" for i in range(depth))
    else:
        body = opener * (depth // max(1, len(opener)))
        if opener.endswith("[") and draw(st.booleans()):
            body += "]" * (depth // len(opener))
    prefix = draw(st.sampled_from([b"", b"flag: x\nstages: ", SHIPPED_BYTES[0] + b"\nx: "]))
    return prefix + body.encode()


@st.composite
def alias_bombs(draw: st.DrawFn) -> bytes:
    levels, fan_out = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    merge = draw(st.booleans())
    lines = ["a0: &a0 {k: v}" if merge else "a0: &a0 [lol]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * fan_out)
        lines.append(f"a{i}: &a{i} {{<<: [{refs}]}}" if merge else f"a{i}: &a{i} [{refs}]")
    prefix = draw(st.sampled_from([b"", SHIPPED_BYTES[1]]))
    return prefix + ("\n".join(lines) + "\n").encode()


@st.composite
def huge_lists(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(0, 120_000))
    item = draw(st.sampled_from(["- 1\n", "- {percent: 1}\n", "k{i}: v\n"]))
    if "{i}" in item:
        body = "".join(item.format(i=i) for i in range(min(count, 80_000)))
        return (b"flag: x\n" + body.encode())[: MAX_PLAN_BYTES + 10]
    section = draw(st.sampled_from(["stages", "guardrails", "success", "x"]))
    return f"flag: x\n{section}:\n".encode() + (item * count).encode()[: MAX_PLAN_BYTES + 10]


@st.composite
def oversized(draw: st.DrawFn) -> bytes:
    extra = draw(st.integers(-2, 2))
    return b"#" * (MAX_PLAN_BYTES - len(SHIPPED_BYTES[0]) + extra) + SHIPPED_BYTES[0]


HOSTILE_BYTES = st.one_of(
    st.binary(max_size=4096),
    edited_plans(),
    encoded_plans(),
    deep_nesting(),
    alias_bombs(),
    huge_lists(),
    oversized(),
)


@FUZZ
@given(data=HOSTILE_BYTES)
def test_hostile_bytes_load_or_fail_in_one_line(fuzz_dir: Path, data: bytes) -> None:
    assert_loads_or_one_line_errors(write_case(fuzz_dir, data))


# --------------------------------------------------------------------------- the real CLI


@pytest.fixture(scope="module")
def fuzz_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_workspace(tmp_path_factory.mktemp("fuzz-ws") / "ws")
    for plan in (root / "plans").glob("*.yaml"):  # no webhook may be posted to
        data = yaml.safe_load(plan.read_text())
        data.pop("notifications", None)
        plan.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


CLI_INPUT = st.one_of(mutated_plans(), edited_plans(), alias_bombs(), deep_nesting())
runner = CliRunner()


def run_cli(*args: str) -> tuple[int, list[str]]:
    result = bounded(lambda: runner.invoke(app, list(args), env={"COLUMNS": "1000"}))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.output.splitlines()


@CLI_FUZZ
@given(data=CLI_INPUT)
def test_validate_command_on_fuzzed_plans(fuzz_workspace: Path, data: bytes) -> None:
    path = fuzz_workspace / "plans" / "fuzzed.yaml"
    path.write_bytes(data)
    code, lines = run_cli("validate", str(path))
    if code == 0:
        assert lines == [line for line in lines if line.startswith(f"ok {path}")]
        return
    assert code == 2, lines
    assert 1 <= len(lines) <= MAX_PROBLEMS + 1, lines
    assert all(line.startswith(f"error: {path}") for line in lines), lines


@CLI_FUZZ
@given(data=CLI_INPUT)
def test_kill_command_on_fuzzed_plans(fuzz_workspace: Path, data: bytes) -> None:
    flags = fuzz_workspace / "flags" / "flags.json"
    pristine = (DEMO_PLANS.parent / "flags" / "flags.json").read_bytes()
    flags.write_bytes(pristine)
    path = fuzz_workspace / "plans" / "fuzzed.yaml"
    path.write_bytes(data)
    code, lines = run_cli("kill", "fuzzed", "--yes", "--plans-dir", str(path.parent))
    if code == 0:  # the address was read and the flag turned off (or found off)
        assert not [line for line in lines if line.startswith("error: ")], lines
        assert any(line.startswith("flag ") for line in lines), lines
        return
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    if code == 2:  # the plan could not give the flag's address: nothing was attempted
        assert lines == errors, lines
        assert flags.read_bytes() == pristine
    else:  # the address was read, the platform refused (no such flag, no such file)
        assert code == 3, lines
