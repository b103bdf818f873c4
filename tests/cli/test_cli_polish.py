"""What the command line is around the commands (issue 18): ``--version``, shell completion,
plain ``--help`` metavars, one-line usage errors, a quiet broken pipe.

Completion and the broken pipe run the installed ``rollout`` in a subprocess: they are about
the process (its environment, its stdout), which the runner does not have.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import COMMANDS, GROUPS, app
from tests.conftest import read_flag

ROLLOUT = str(Path(sys.executable).parent / "rollout")
AT = "2026-11-02T12:00Z"  # the moment the checkout-v2 example data describes
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def complete(env: dict[str, str]) -> str:
    done = subprocess.run(
        [ROLLOUT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


# ---------------------------------------------------------------------- --version


def test_version_prints_the_installed_version() -> None:
    assert run("--version") == (0, f"rollout {version('rolloutcli')}\n", "")


def test_version_loads_nothing_heavy() -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['rollout', '--version']\n"
        "from rolloutcli.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'scipy'})\n"
        "    print('EXIT', exc.code, 'HEAVY', heavy, 'TABLE', 'rich.table' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.stdout.splitlines()[-1] == "EXIT 0 HEAVY [] TABLE False", done.stderr


# ---------------------------------------------------------------------- completion


def test_show_completion_prints_the_bash_script() -> None:
    done = subprocess.run(
        [ROLLOUT, "--show-completion", "bash"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stderr == ""
    assert "_ROLLOUT_COMPLETE=complete_bash $1" in done.stdout
    assert done.stdout.rstrip().endswith("complete -o default -F _rollout_completion rollout")


def test_the_bash_script_completes_in_bash() -> None:
    """The printed script, sourced into a real bash, fills COMPREPLY by asking rollout."""
    script = (
        f"source <({ROLLOUT} --show-completion bash)\n"
        "COMP_WORDS=(rollout check --fail); COMP_CWORD=2\n"
        f"_rollout_completion {ROLLOUT}\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "--fail-on\n--fail-on-breach\n", "")


def test_bash_completes_a_command_name() -> None:
    answer = complete(
        {"_ROLLOUT_COMPLETE": "complete_bash", "COMP_WORDS": "rollout ad", "COMP_CWORD": "1"}
    )
    assert answer == "advance\n"


def test_bash_completes_every_command() -> None:
    answer = complete(
        {"_ROLLOUT_COMPLETE": "complete_bash", "COMP_WORDS": "rollout ", "COMP_CWORD": "1"}
    )
    expected = sorted([name for name, _ in COMMANDS] + [name for name, _, _ in GROUPS])
    assert sorted(answer.split()) == expected


def test_bash_completes_a_commands_options() -> None:
    answer = complete(
        {
            "_ROLLOUT_COMPLETE": "complete_bash",
            "COMP_WORDS": "rollout check --fail",
            "COMP_CWORD": "2",
        }
    )
    assert answer == "--fail-on\n--fail-on-breach\n"


def test_bash_completes_a_group_command() -> None:
    answer = complete(
        {"_ROLLOUT_COMPLETE": "complete_bash", "COMP_WORDS": "rollout plan s", "COMP_CWORD": "2"}
    )
    assert answer == "schema\nsuggest\n"


def test_zsh_gets_each_options_help_on_one_line() -> None:
    answer = complete(
        {
            "_ROLLOUT_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": "rollout kill --",
            "COLUMNS": "80",  # a shell that exports its width must not fold the answer
        }
    )
    assert (
        '"--platform":"Kill with no plan\\\\: flagfile, unleash or launchdarkly (with --flag, '
        '--environment; tokens come from the environment)."\n'
    ) in answer


def test_fish_completes_a_command_name() -> None:
    answer = complete(
        {
            "_ROLLOUT_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_ARGS": "rollout hist",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        }
    )
    assert answer == "history\tDecision records and the platform's own...\n"


# ---------------------------------------------------------------------- --help


def _every_help() -> list[tuple[str, str]]:
    names = [[name] for name, _ in COMMANDS] + [["plan", "schema"], ["plan", "suggest"]]
    helps = []
    for words in [[], ["plan"], *names]:
        code, stdout, _ = run(*words, "--help")
        assert code == 0
        helps.append((" ".join(words), stdout))
    return helps


def test_help_metavars_are_plain_words() -> None:
    """No ``{plans}...`` in a usage line, no ``<str>`` or ``<bool>`` anywhere (braces in a
    help text, ``{cohort}``, are the text's own)."""
    for command, text in _every_help():
        assert not re.search(r"[{}<>]", text.splitlines()[0]), command
        assert not re.search(r"<\w", text), (command, re.findall(r".*<\w.*", text))


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("check", "Usage: rollout check [OPTIONS] [PLAN]..."),  # or --all
        ("validate", "Usage: rollout validate [OPTIONS] PLAN..."),
        ("status", "Usage: rollout status [OPTIONS] PLAN"),
        ("who", "Usage: rollout who [OPTIONS] PLAN KEY"),
        ("kill", "Usage: rollout kill [OPTIONS] [PLAN_OR_FLAG]"),
    ],
)
def test_help_usage_line(command: str, usage: str) -> None:
    assert run(command, "--help")[1].splitlines()[0] == usage


def test_help_names_an_options_choices_and_types() -> None:
    text = run("check", "--help")[1]
    assert "  --fail-on [warn|pause|rollback]\n" in text
    assert "  --output [text|json|markdown]   text (the default)" in text
    assert "  --concurrency INTEGER " in text
    assert "  --plans-dir PATH " in text


def test_help_wraps_on_spaces_only() -> None:
    for command, text in _every_help():
        broken = [line for line in text.splitlines() if re.search(r"\w-$", line)]
        assert broken == [], command
    assert (
        "or with no plan at all (--platform/--flag/--environment, or --flag-file)."
        in (run("kill", "--help")[1])
    )


# ---------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["check", "checkout-v2", "--fail-on", "bogus"],
            "error: --fail-on 'bogus' is not one of warn, pause, rollback\n",
        ),
        (
            ["check", "checkout-v2", "--output", "bogus"],
            "error: --output 'bogus' is not one of text, json, markdown\n",
        ),
        (
            ["check", "checkout-v2", "--concurrency", "0"],
            "error: --concurrency 0 is not in the range x>=1\n",
        ),
        (["history", "checkout-v2", "--limit", "x"], "error: --limit 'x' is not a valid integer\n"),
        (["check"], "error: missing PLAN... or --all (see 'rollout check -h')\n"),
        (["plan", "suggest"], "error: missing FLAG (see 'rollout plan suggest -h')\n"),
        (
            ["check", "checkout-v2", "--jsn"],
            "error: no such option --jsn; did you mean --json? (see 'rollout check -h')\n",
        ),
        (["nosuch"], "error: no such command 'nosuch' (see 'rollout -h')\n"),
        (["plan", "nosuch"], "error: no such command 'nosuch' (see 'rollout plan -h')\n"),
    ],
)
def test_a_usage_error_is_one_line_on_stderr(workspace: Path, args: list[str], error: str) -> None:
    assert run(*args) == (2, "", error)


def test_a_plans_choice_error_is_plain(workspace: Path) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    lines = plan.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "format: slack" in text)
    plan.write_text(plan.read_text().replace("format: slack", "format: bogus"))
    assert run("validate", "checkout-v2") == (
        2,
        "",
        f"error: plans/checkout-v2.yaml:{line}: notifications.webhooks[0].format: "
        "'bogus' is not one of json, slack\n",
    )


def test_a_path_the_system_refuses_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    assert run("demo", "--dir", str(target / "ws")) == (
        2,
        "",
        f"error: {target / 'ws'}: not a directory\n",
    )


# ---------------------------------------------------------------------- broken pipe


@pytest.mark.parametrize(
    "args",
    [
        ["check", "checkout-v2", "--at", AT],
        ["check", "checkout-v2", "--at", AT, "--json"],
        ["status", "checkout-v2"],
        ["history", "checkout-v2"],
        ["validate", "checkout-v2"],
        ["plan", "schema"],
        ["--help"],
        ["--version"],
    ],
)
def test_a_closed_stdout_ends_quietly_with_141(workspace: Path, args: list[str]) -> None:
    """stdout is a pipe whose reader is already gone: the first write breaks it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [ROLLOUT, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, check=False
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_check_piped_into_head_ends_quietly_with_141(workspace: Path) -> None:
    """More than a pipe holds (about 3 kB a plan, 25 plans), so the check is still writing
    when head has its line and goes."""
    plans = workspace / "plans"
    names = [f"copy{n}" for n in range(25)]
    for name in names:
        shutil.copy(plans / "checkout-v2.yaml", plans / f"{name}.yaml")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{ROLLOUT} check {' '.join(names)} --at {AT} | head -1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (141, "")
    assert done.stdout.startswith("copy0 ") and done.stdout.count("\n") == 1


def test_a_kill_whose_stdout_is_closed_still_turns_off_and_records(workspace: Path) -> None:
    """A command that changes something finishes its work with its output discarded: the
    flag is off and the kill is recorded, then the exit is 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [ROLLOUT, "kill", "checkout-v2", "--yes"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert "error" not in done.stderr
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"
    records = (workspace / "plans" / ".rollout" / "decisions.jsonl").read_text().splitlines()
    kills = [json.loads(line) for line in records if '"kill"' in line]
    assert [(r["event"], r["result"]) for r in kills if r["event"] == "kill"] == [
        ("kill", "applied")
    ]
