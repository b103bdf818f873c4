"""Plans are parsed by libyaml when PyYAML has it (``check --all`` loads hundreds), with the
same composer, bounds, constructor and resolver as the reference parser: the data and the
line of every key must be exactly the reference's, and any problem is reported by the
reference parser, word for word."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rolloutcli.plan import yamlsource
from rolloutcli.support.errors import PlanError

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPO_ROOT / "plans").glob("*.yaml"))
TRICKY = [
    "a: &x {b: 1, c: [2, 3]}\nd: *x\ne:\n  <<: *x\n  f: 4\n",
    "when: 2026-11-02T10:00:00Z\nday: 2026-11-02\nbig: 123456789012345678901234567890\n",
    "yes_no: [yes, no, on, off, ~, null, .inf, -.nan, 0x1F, 0o17, 1_000]\n",
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n'quoted key': \"esc\\ttab\"\n",
    "- 1\n- [2, {three: 3}]\n- ? complex\n  : key\n",
    "",
    "# only a comment\n",
]
PROBLEMS = [
    "a: [1, 2\n",  # an unclosed bracket
    "a: 1\n a: 2\n",  # bad indentation
    "a: \x07\n",  # a control character
    "a: *nowhere\n",  # an unknown alias
    "a: &x {c: 1}\ne:\n  <<: *x\n  c: 4\n",  # a merged key written again
    "a: !!python/object:os.system x\n",  # a tag the safe constructor refuses
    "".join(f"{'  ' * i}k{i}:\n" for i in range(80)) + f"{'  ' * 80}v: 1\n",  # too deep
]

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")


def reference(path: Path, text: str) -> yamlsource.SourcedYaml:
    return yamlsource._parse(path, text)


@needs_libyaml
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_plan_parses_exactly_as_the_reference_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast = yamlsource._parse_fast(path, text)
    assert fast is not None
    slow = reference(path, text)
    assert (fast.data, fast.lines) == (slow.data, slow.lines)


@needs_libyaml
@pytest.mark.parametrize("text", TRICKY)
def test_anchors_merges_scalars_and_blocks_parse_exactly_as_the_reference(text: str) -> None:
    path = Path("plan.yaml")
    fast = yamlsource._parse_fast(path, text)
    assert fast is not None
    slow = reference(path, text)
    assert (fast.data, fast.lines) == (slow.data, slow.lines)


@pytest.mark.parametrize("text", PROBLEMS)
def test_a_problem_is_the_reference_parsers_word_for_word(text: str) -> None:
    path = Path("plan.yaml")
    assert yamlsource._parse_fast(path, text) is None
    with pytest.raises(PlanError) as fast:
        yamlsource.parse_yaml(path, text)
    with pytest.raises(PlanError) as slow:
        reference(path, text)
    assert fast.value.problems == slow.value.problems
    assert fast.value.problems[0].startswith("plan.yaml:")
