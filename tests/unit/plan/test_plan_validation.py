"""Every validation the plan promises, through ``load_plan`` and through ``rollout validate``.

Each test writes a plan as YAML text into ``tmp_path`` (a valid base plan, mutated per
test) and checks the problem line ``file:line: key.path: message``: the file, the line on
which the offending key is written (computed from the YAML text, never hard-coded), the
key path and a fragment of the message. Through the CLI it checks exit code 2, the same
lines on the output, and that no traceback escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rolloutcli.cli.main import app
from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import PlanError

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_PLANS = sorted((REPO_ROOT / "plans").glob("*.yaml"))
SCHEMA_FILE = REPO_ROOT / "docs" / "plan.schema.json"

# A wide console, so that rich does not fold the long tmp_path lines of `ok <path>` on stdout.
# Problem lines must never be folded, at any width: test_problem_lines_are_not_wrapped_when_piped.
WIDE = {"COLUMNS": "1000"}

BASE_PLAN = """\
flag: demo
platform:
  kind: flagfile
  path: flags.json
variations:
  treatment: true
  control: false
stages:
  - percent: 1
    min_duration: 30m
  - percent: 5
    min_duration: 1h
  - percent: 100
    min_duration: 0
metrics:
  source:
    kind: file
    path: metrics.csv
guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    direction: higher_is_worse
    thresholds:
      warn: "+10%"
      pause: "+20%"
      rollback: "+50%"
"""


# --------------------------------------------------------------------------- helpers


def base_plan() -> str:
    return BASE_PLAN


def replace_line(text: str, old: str, new: str) -> str:
    """Replace the one line equal to ``old`` (indentation included) by ``new`` (may be
    several lines, or empty to delete it)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if line == old]
    assert len(hits) == 1, f"{old!r} occurs {len(hits)} times in the plan text"
    i = hits[0]
    lines[i : i + 1] = new.splitlines()
    return "\n".join(lines) + "\n"


def line_of(text: str, line: str, nth: int = 0) -> int:
    """1-based number of the ``nth`` line equal to ``line`` (indentation included)."""
    hits = [i + 1 for i, candidate in enumerate(text.splitlines()) if candidate == line]
    assert len(hits) > nth, f"{line!r} occurs {len(hits)} times in the plan text"
    return hits[nth]


def write_plan(directory: Path, text: str, name: str = "plan.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def plan_problems(path: Path) -> list[str]:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value.problems


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, args, env=WIDE if env is None else env)
    assert "Traceback" not in result.output
    # CliRunner catches exceptions: anything but the SystemExit of typer.Exit is a crash.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def run_validate(*paths: Path | str, env: dict[str, str] | None = None) -> Result:
    return invoke(["validate", *(str(p) for p in paths)], env=env)


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Expected:
    """One problem line: the YAML line where it is written, key path, message fragment."""

    line: str  # the whole line of the plan text, indentation included
    key: str | None  # key path as printed, e.g. stages[1].percent (None: none printed)
    fragment: str
    nth: int = 0  # which occurrence of ``line`` when the text repeats it

    def prefix(self, path: Path, text: str) -> str:
        where = f"{path}:{line_of(text, self.line, self.nth)}: "
        return where if self.key is None else f"{where}{self.key}: "


@dataclass(frozen=True)
class Case:
    mutate: Callable[[str], str]
    expected: list[Expected]
    only: bool = True  # the expected problems are all the problems


def sub(old: str, new: str) -> Callable[[str], str]:
    return lambda text: replace_line(text, old, new)


def chain(*steps: Callable[[str], str]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        for step in steps:
            text = step(text)
        return text

    return apply


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


CASES: dict[str, Case] = {
    # ---- unknown keys, with a suggestion when one is close
    "unknown-key-top-level": Case(
        sub("stages:", "stgaes:"),
        [Expected("stgaes:", "stgaes", "unknown key; did you mean 'stages'?")],
        only=False,  # `stages` is then also reported missing
    ),
    "unknown-key-in-stage": Case(
        sub("    min_duration: 1h", "    min_duraton: 1h"),
        [
            Expected(
                "    min_duraton: 1h",
                "stages[1].min_duraton",
                "unknown key; did you mean 'min_duration'?",
            )
        ],
    ),
    "unknown-key-in-thresholds": Case(
        sub('      rollback: "+50%"', '      rolback: "+50%"'),
        [
            Expected(
                '      rolback: "+50%"',
                "guardrails[0].thresholds.rolback",
                "unknown key; did you mean 'rollback'?",
            )
        ],
    ),
    "unknown-key-lists-known-keys": Case(
        append("colour: red\n"),
        [
            Expected(
                "colour: red",
                "colour",
                "unknown key (known keys: automation, description, exclude, flag,",
            )
        ],
    ),
    # ---- percentages
    "percent-150": Case(
        sub("  - percent: 5", "  - percent: 150"),
        [
            Expected(
                "  - percent: 150",
                "stages[1].percent",
                "percentage must be between 0 and 100 (got 150)",
            )
        ],
    ),
    "percent-minus-5": Case(
        sub("  - percent: 5", "  - percent: -5"),
        [
            Expected(
                "  - percent: -5",
                "stages[1].percent",
                "percentage must be between 0 and 100 (got -5)",
            )
        ],
    ),
    "percent-150-with-percent-sign": Case(
        sub("  - percent: 5", '  - percent: "150%"'),
        [Expected('  - percent: "150%"', "stages[1].percent", "between 0 and 100")],
    ),
    # ---- stage order
    "stages-equal": Case(
        sub("  - percent: 5", "  - percent: 1"),
        [
            Expected(
                "  - percent: 1",
                "stages[1].percent",
                "stages must be strictly increasing: 1 follows 1",
                nth=1,
            )
        ],
    ),
    "stages-decreasing": Case(
        sub("  - percent: 1", "  - percent: 50"),
        [
            Expected(
                "  - percent: 5",
                "stages[1].percent",
                "stages must be strictly increasing: 5 follows 50",
            )
        ],
    ),
    "final-stage-below-100": Case(
        sub("  - percent: 100", "  - percent: 90"),
        [
            Expected(
                "  - percent: 90",
                "stages[2].percent",
                "the final stage must reach 100% (got 90)",
            )
        ],
    ),
    # ---- durations
    "duration-30-minutes": Case(
        sub("    min_duration: 1h", "    min_duration: 30 minutes"),
        [
            Expected(
                "    min_duration: 30 minutes",
                "stages[1].min_duration",
                "bad duration '30 minutes'",
            )
        ],
    ),
    "duration-3x": Case(
        sub("    min_duration: 1h", "    min_duration: 3x"),
        [Expected("    min_duration: 3x", "stages[1].min_duration", "bad duration '3x'")],
    ),
    # ---- thresholds
    "tiers-out-of-order-higher-is-worse": Case(
        chain(
            sub('      pause: "+20%"', '      pause: "+50%"'),
            sub('      rollback: "+50%"', '      rollback: "+20%"'),
        ),
        [
            Expected(
                '      rollback: "+20%"',
                "guardrails[0].thresholds.rollback",
                "tiers out of order: rollback '+20%' is reached before pause '+50%'",
            )
        ],
    ),
    "tiers-out-of-order-lower-is-worse": Case(
        chain(
            sub("    direction: higher_is_worse", "    direction: lower_is_worse"),
            sub('      warn: "+10%"', '      warn: "-1%"'),
            sub('      pause: "+20%"', '      pause: "-5%"'),
            sub('      rollback: "+50%"', '      rollback: "-2%"'),
        ),
        [
            Expected(
                '      rollback: "-2%"',
                "guardrails[0].thresholds.rollback",
                "tiers out of order: rollback '-2%' is reached before pause '-5%'",
            )
        ],
    ),
    "warn-after-pause": Case(
        sub('      warn: "+10%"', '      warn: "+30%"'),
        [
            Expected(
                '      pause: "+20%"',
                "guardrails[0].thresholds.pause",
                "tiers out of order: pause '+20%' is reached before warn '+30%'",
            )
        ],
    ),
    "threshold-points-the-wrong-way": Case(
        sub('      warn: "+10%"', '      warn: "-10%"'),
        [
            Expected(
                '      warn: "-10%"',
                "guardrails[0].thresholds.warn",
                "'-10%' points the better way for a higher_is_worse guardrail; write +10%",
            )
        ],
    ),
    "threshold-garbage": Case(
        sub('      warn: "+10%"', "      warn: lots"),
        [Expected("      warn: lots", "guardrails[0].thresholds.warn", "bad threshold 'lots'")],
    ),
    # ---- variations
    "missing-control": Case(
        sub("  control: false", ""),
        [
            Expected(
                "variations:",
                "variations.control",
                "missing: the control variation the treatment is compared against",
            )
        ],
    ),
    "control-equals-treatment": Case(
        sub("  control: false", "  control: true"),
        [Expected("  control: true", "variations.control", "control must differ from treatment")],
    ),
    # ---- audiences
    "zero-percent-stage-without-audience": Case(
        sub("  - percent: 1", "  - percent: 0"),
        [
            Expected(
                "  - percent: 0",
                "stages[0].percent",
                "a 0% stage needs an audience (keys or segment)",
            )
        ],
    ),
    "audience-with-keys-and-segment": Case(
        sub(
            "  - percent: 1",
            "  - percent: 0\n    audience:\n      keys: [staff-ana]\n      segment: staff",
        ),
        [
            Expected(
                "    audience:",
                "stages[0].audience",
                "give exactly one of keys: or segment:",
            )
        ],
    ),
    "audience-with-empty-allowlist": Case(
        sub("  - percent: 1", "  - percent: 0\n    audience:\n      keys: []"),
        [Expected("      keys: []", "stages[0].audience.keys", "the allowlist is empty")],
    ),
    # ---- the exclusion (issue 21: a block list)
    "exclude-with-keys-and-segment": Case(
        append("exclude:\n  keys: [vip-1]\n  segment: vip\n"),
        [Expected("exclude:", "exclude", "give exactly one of keys: or segment:")],
    ),
    "exclude-with-empty-list": Case(
        append("exclude:\n  keys: []\n"),
        [Expected("  keys: []", "exclude.keys", "the exclusion list is empty")],
    ),
    "exclude-a-key-the-audience-allows": Case(
        chain(
            sub("  - percent: 1", "  - percent: 0\n    audience:\n      keys: [staff, vip-2]"),
            append("exclude:\n  keys: [vip-1, vip-2]\n"),
        ),
        [
            Expected(
                "      keys: [staff, vip-2]",
                "stages[0].audience.keys[1]",
                "'vip-2' is also under exclude.keys: a key cannot both get the treatment "
                "first and never get it",
            )
        ],
    ),
    "exclude-a-segment-on-unleash": Case(
        chain(
            sub("  kind: flagfile", "  kind: unleash"),
            sub("  path: flags.json", "  environment: production"),
            append("exclude:\n  segment: vip\n"),
        ),
        [
            Expected(
                "  segment: vip",
                "exclude.segment",
                "Unleash cannot exclude a segment (a strategy's segments only include): list "
                "the keys under exclude.keys",
            )
        ],
    ),
    "exclude-on-an-unleash-variant-flag": Case(
        chain(
            sub("  kind: flagfile", "  kind: unleash"),
            sub("  path: flags.json", "  environment: production"),
            sub("  treatment: true", "  treatment: v2"),
            sub("  control: false", "  control: v1"),
            append("exclude:\n  keys: [vip-1]\n"),
        ),
        [
            Expected(
                "exclude:",
                "exclude",
                "on Unleash an exclusion needs a boolean flag (treatment: true, control: "
                "false): an excluded user of a variant flag would get Unleash's disabled "
                "variant, not the control",
            )
        ],
    ),
    # ---- requires: (issue 21)
    "requires-the-plans-own-flag": Case(
        append("requires:\n  - flag: demo\n"),
        [Expected("  - flag: demo", "requires[0].flag", "'demo' is this plan's own flag")],
    ),
    "requires-a-flag-twice": Case(
        append("requires:\n  - flag: core\n  - flag: core\n    at_least: 50%\n"),
        [Expected("  - flag: core", "requires[1].flag", "'core' is required twice", nth=1)],
    ),
    "requires-at-least-zero": Case(
        append("requires:\n  - flag: core\n    at_least: 0%\n"),
        [
            Expected(
                "    at_least: 0%",
                "requires[0].at_least",
                "0% is always met: give a share above 0% (default 100%)",
            )
        ],
    ),
    "requires-at-least-above-100": Case(
        append("requires:\n  - flag: core\n    at_least: 150%\n"),
        [Expected("    at_least: 150%", "requires[0].at_least", "100")],
    ),
    "requires-without-a-flag": Case(
        append("requires:\n  - at_least: 50%\n"),
        [Expected("  - at_least: 50%", "requires[0].flag", "")],
    ),
    "requires-a-variant-on-unleash": Case(
        chain(
            sub("  kind: flagfile", "  kind: unleash"),
            sub("  path: flags.json", "  environment: production"),
            append("requires:\n  - flag: core\n    variation: v2\n"),
        ),
        [
            Expected(
                "    variation: v2",
                "requires[0].variation",
                "on Unleash a prerequisite counts the share its feature is enabled for: "
                "variation must be true (or left out)",
            )
        ],
    ),
    # ---- success criteria
    "success-names-unknown-guardrail": Case(
        append('success:\n  - metric: eror_rate\n    at_most: "+5%"\n'),
        [
            Expected(
                "  - metric: eror_rate",
                "success[0].metric",
                "no guardrail named 'eror_rate'; did you mean 'error_rate'?",
            )
        ],
    ),
    # ---- YAML itself
    "yaml-syntax-error": Case(
        sub("  path: flags.json", "  path: flags.json: extra"),
        [
            Expected(
                "  path: flags.json: extra",
                "YAML syntax",
                "mapping values are not allowed here",
            )
        ],
    ),
    "yaml-tab-indentation": Case(
        sub("  kind: flagfile", "\tkind: flagfile"),
        [Expected("\tkind: flagfile", "YAML syntax", "cannot start any token")],
    ),
    "duplicate-key-top-level": Case(
        append("flag: other\n"),
        [Expected("flag: other", "flag", "duplicate key")],
    ),
}


each_case = pytest.mark.parametrize(
    "case", [pytest.param(case, id=name) for name, case in CASES.items()]
)


def check_problems(problems: list[str], path: Path, text: str, case: Case) -> None:
    for expected in case.expected:
        prefix = expected.prefix(path, text)
        matching = [p for p in problems if p.startswith(prefix)]
        assert matching, f"no problem starting with {prefix!r} in {problems}"
        assert any(expected.fragment in p[len(prefix) :] for p in matching), (
            f"{expected.fragment!r} not in {matching}"
        )
    if case.only:
        assert len(problems) == len(case.expected), problems


@each_case
def test_load_plan_reports_file_line_key_and_message(tmp_path: Path, case: Case) -> None:
    text = case.mutate(base_plan())
    path = write_plan(tmp_path, text)
    check_problems(plan_problems(path), path, text, case)


@each_case
def test_validate_command_reports_the_same_lines_and_exits_2(tmp_path: Path, case: Case) -> None:
    text = case.mutate(base_plan())
    path = write_plan(tmp_path, text)
    result = run_validate(path)
    assert result.exit_code == 2, result.output
    output_lines = result.output.splitlines()
    for expected in case.expected:
        prefix = f"error: {expected.prefix(path, text)}"
        matching = [line for line in output_lines if line.startswith(prefix)]
        assert matching, f"no line starting with {prefix!r} in:\n{result.output}"
        assert any(expected.fragment in line for line in matching), result.output
    # every problem load_plan reports is printed, one per line
    for problem in plan_problems(path):
        assert f"error: {problem}" in output_lines
    assert f"ok {path}" not in result.output


# --------------------------------------------------------------------------- specific cases


def test_base_plan_is_valid(tmp_path: Path) -> None:
    path = write_plan(tmp_path, base_plan())
    loaded = load_plan(path)
    assert loaded.plan.flag == "demo"
    assert [s.percent for s in loaded.plan.stages] == [1, 5, 100]
    assert [g.name for g in loaded.plan.guardrails] == ["error_rate"]

    result = run_validate(path)
    assert result.exit_code == 0, result.output
    assert f"ok {path} (3 stages, 1 guardrails)" in result.output


def test_unknown_top_level_key_also_reports_the_missing_key(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "stages:", "stgaes:")
    path = write_plan(tmp_path, text)
    assert plan_problems(path) == [
        f"{path}:1: stages: missing (required)",
        f"{path}:{line_of(text, 'stgaes:')}: stgaes: unknown key; did you mean 'stages'?",
    ]


@pytest.mark.parametrize(
    "text",
    ["- flag: demo\n  stages: []\n", "just a string\n", "", "# only a comment\n"],
    ids=["list", "scalar", "empty", "comment-only"],
)
def test_plan_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write_plan(tmp_path, text)
    problems = plan_problems(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:1: ")
    assert "a plan is a YAML mapping" in problems[0]

    result = run_validate(path)
    assert result.exit_code == 2
    assert f"error: {path}:1: a plan is a YAML mapping" in result.output


def test_missing_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert plan_problems(path) == [f"{path}: no such plan file"]

    result = run_validate(path)
    assert result.exit_code == 2
    assert str(path) in result.output
    assert "not found" in result.output


def test_missing_plan_name_in_plans_dir(tmp_path: Path) -> None:
    result = invoke(["validate", "nowhere", "--plans-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no plan named 'nowhere'" in result.output
    assert str(tmp_path / "nowhere.yaml") in result.output


def test_plan_name_is_looked_up_in_plans_dir(tmp_path: Path) -> None:
    path = write_plan(tmp_path, base_plan(), name="demo.yaml")
    result = invoke(["validate", "demo", "--plans-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"ok {path}" in result.output


def test_duplicate_nested_key_names_its_key_path(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "    min_duration: 1h", "    min_duration: 1h\n    percent: 7")
    path = write_plan(tmp_path, text)
    line = line_of(text, "    percent: 7")
    assert plan_problems(path) == [f"{path}:{line}: stages[1].percent: duplicate key"]


def test_duplicate_nested_key_reports_its_line(tmp_path: Path) -> None:
    """What already holds for a nested duplicate: file, the line of the second key, exit 2."""
    text = replace_line(base_plan(), "    min_duration: 1h", "    min_duration: 1h\n    percent: 7")
    path = write_plan(tmp_path, text)
    line = line_of(text, "    percent: 7")
    (problem,) = plan_problems(path)
    assert problem.startswith(f"{path}:{line}: ")
    assert problem.endswith("percent: duplicate key")

    result = run_validate(path)
    assert result.exit_code == 2
    assert f"{path}:{line}: " in result.output


def test_yaml_error_in_an_unclosed_bracket_names_the_file(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "  - percent: 1", "  - percent: [1")
    path = write_plan(tmp_path, text)
    (problem,) = plan_problems(path)
    # the parser notices on the line after the bracket was opened
    opened = line_of(text, "  - percent: [1")
    assert problem.startswith(f"{path}:{opened + 1}: YAML syntax: ")

    result = run_validate(path)
    assert result.exit_code == 2
    assert f"{path}:{opened + 1}: YAML syntax" in result.output


def test_all_problems_of_a_plan_are_reported_together(tmp_path: Path) -> None:
    text = base_plan()
    text = replace_line(text, "  - percent: 100", "  - percent: 90")
    text = replace_line(text, '      warn: "+10%"', '      warn: "+30%"')
    text += 'success:\n  - metric: latency\n    at_most: "+5%"\n'
    path = write_plan(tmp_path, text)
    stage_line = line_of(text, "  - percent: 90")
    pause_line = line_of(text, '      pause: "+20%"')
    metric_line = line_of(text, "  - metric: latency")
    problems = plan_problems(path)
    assert sorted(problems) == sorted(
        [
            f"{path}:{stage_line}: stages[2].percent: the final stage must reach 100% (got 90)",
            f"{path}:{pause_line}: guardrails[0].thresholds.pause: tiers out of order: "
            "pause '+20%' is reached before warn '+30%' (each tier must lie at or beyond the one "
            "before: warn, then pause, then rollback)",
            f"{path}:{metric_line}: success[0].metric: no guardrail named 'latency'",
        ]
    )
    result = run_validate(path)
    assert result.exit_code == 2
    for problem in problems:
        assert f"error: {problem}" in result.output.splitlines()


# --------------------------------------------------------------------------- CLI robustness


def test_problem_text_is_not_read_as_markup(tmp_path: Path) -> None:
    text = replace_line(base_plan(), '      warn: "+10%"', '      warn: "[/]"')
    path = write_plan(tmp_path, text)
    line = line_of(text, '      warn: "[/]"')
    (problem,) = plan_problems(path)
    assert problem.startswith(f"{path}:{line}: guardrails[0].thresholds.warn: bad threshold")

    result = run_validate(path)
    assert result.exit_code == 2
    assert f"error: {problem}" in result.output.splitlines()


def test_unknown_key_that_looks_like_markup_is_printed_verbatim(tmp_path: Path) -> None:
    text = base_plan() + '"[bold]x": 1\n'
    path = write_plan(tmp_path, text)
    line = line_of(text, '"[bold]x": 1')
    result = run_validate(path)
    assert result.exit_code == 2
    assert f"error: {path}:{line}: [bold]x: unknown key" in result.output


def test_problem_lines_are_not_wrapped_when_piped(tmp_path: Path) -> None:
    text = replace_line(base_plan(), "    min_duration: 1h", "    min_duration: 30 minutes")
    path = write_plan(tmp_path, text)
    (problem,) = plan_problems(path)
    assert len(f"error: {problem}") > 80
    result = run_validate(path, env={"COLUMNS": "80"})
    assert result.exit_code == 2
    assert f"error: {problem}" in result.output.splitlines()


# --------------------------------------------------------------------------- shipped plans

SHIPPED = [pytest.param(path, id=path.name) for path in SHIPPED_PLANS]


def test_the_shipped_plans() -> None:
    assert [p.name for p in SHIPPED_PLANS] == [
        "assistant-model.yaml",
        "checkout-v2-sql.yaml",
        "checkout-v2.yaml",
        "onboarding-unleash.yaml",
        "payments-prometheus.yaml",
        "ranker-launchdarkly.yaml",
        "recommender-model.yaml",
        "search-ranking.yaml",
        "signup-cloudwatch.yaml",
        "signup-datadog.yaml",
    ]


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_plan_loads(path: Path) -> None:
    loaded = load_plan(path)
    assert loaded.plan.stages[-1].percent == 100


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_plan_validates(path: Path) -> None:
    result = run_validate(path)
    assert result.exit_code == 0, result.output
    assert f"ok {path}" in result.output


def test_validate_several_plans_one_bad(tmp_path: Path) -> None:
    good_a = write_plan(tmp_path, base_plan(), name="a.yaml")
    bad_text = replace_line(base_plan(), "  - percent: 5", "  - percent: 150")
    bad = write_plan(tmp_path, bad_text, name="b.yaml")
    good_c = write_plan(tmp_path, base_plan(), name="c.yaml")

    result = run_validate(good_a, bad, good_c)
    assert result.exit_code == 2
    assert f"ok {good_a} (3 stages, 1 guardrails)" in result.output
    assert f"ok {good_c} (3 stages, 1 guardrails)" in result.output
    line = line_of(bad_text, "  - percent: 150")
    assert f"error: {bad}:{line}: stages[1].percent: percentage must be between 0 and 100" in (
        result.output
    )
    assert f"ok {bad}" not in result.output


def test_validate_several_plans_one_missing(tmp_path: Path) -> None:
    good = write_plan(tmp_path, base_plan())
    missing = tmp_path / "missing.yaml"
    result = run_validate(missing, good)
    assert result.exit_code == 2
    assert str(missing) in result.output
    assert f"ok {good}" in result.output


def test_validate_shipped_plans_together_with_a_bad_one(tmp_path: Path) -> None:
    bad = write_plan(tmp_path, replace_line(base_plan(), "  - percent: 100", "  - percent: 90"))
    checkout = REPO_ROOT / "plans" / "checkout-v2.yaml"
    recommender = REPO_ROOT / "plans" / "recommender-model.yaml"
    result = run_validate(checkout, bad, recommender)
    assert result.exit_code == 2
    assert f"ok {checkout}" in result.output
    assert f"ok {recommender}" in result.output
    assert f"error: {bad}:" in result.output


# --------------------------------------------------------------------------- JSON Schema

SCHEMA_PROPERTIES = {
    "flag",
    "platform",
    "variations",
    "stages",
    "guardrails",
    "metrics",
    "success",
    "statistics",
}


def printed_schema() -> dict[str, object]:
    result = invoke(["plan", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert isinstance(schema, dict)
    return schema


def test_plan_schema_prints_json_with_the_plan_properties() -> None:
    schema = printed_schema()
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert set(properties) >= SCHEMA_PROPERTIES
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    required = schema["required"]
    assert isinstance(required, list)
    assert set(required) >= {"flag", "platform", "variations", "stages", "metrics"}


def test_plan_schema_matches_docs_file() -> None:
    if not SCHEMA_FILE.is_file():
        pytest.skip(
            f"{SCHEMA_FILE.relative_to(REPO_ROOT)} does not exist yet: "
            "generate it with `rollout plan schema > docs/plan.schema.json`"
        )
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == printed_schema()


def test_an_exclusion_loads_and_applies_to_every_stage(tmp_path: Path) -> None:
    """issue 21: exclude: is rollout-wide, the same keys (or segment) in every change."""
    from rolloutcli.judge.position import exclusion_for

    keys = write_plan(tmp_path, base_plan() + "exclude:\n  keys: [vip-1, vip-2]\n")
    assert exclusion_for(load_plan(keys).plan) == (("vip-1", "vip-2"), None)
    segment = write_plan(tmp_path, base_plan() + "exclude:\n  segment: vip\n", "s.yaml")
    assert exclusion_for(load_plan(segment).plan) == ((), "vip")
    assert exclusion_for(load_plan(write_plan(tmp_path, base_plan(), "n.yaml")).plan) == ((), None)


def test_requires_loads_with_its_defaults(tmp_path: Path) -> None:
    """issue 21: a prerequisite's share defaults to 100% and its variation to true."""
    text = base_plan() + (
        "requires:\n  - flag: payments-core\n  - flag: model-gate\n"
        "    at_least: 25%\n    variation: v2\n"
    )
    plan = load_plan(write_plan(tmp_path, text)).plan
    assert [(r.flag, r.at_least, r.variation) for r in plan.requires] == [
        ("payments-core", 100.0, True),
        ("model-gate", 25.0, "v2"),
    ]
    assert load_plan(write_plan(tmp_path, base_plan(), "n.yaml")).plan.requires == []
