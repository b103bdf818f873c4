"""`rollout check --all` and `rollout watch --all`, with `--select` on plan labels: which
plans run (exactly), what a plan that does not load does among good ones, and the usage
errors, through the real CLI on the example workspace.

The fleet is a folder of copies of the example checkout-v2 plan (same flag file, same
metrics), each with its own labels; at the examples' moment each one's verdict is go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner, Result

from rolloutcli.cli.main import app

if TYPE_CHECKING:
    from rolloutcli.app.watchloop import Watcher

runner = CliRunner()
AT = "2026-11-02T12:00Z"  # the examples' moment: checkout-v2's verdict is go
LABELS = {
    "billing": "  team: payments\n  tier: 1\n",
    "ledger": "  team: payments\n  tier: 2\n",
    "ranking": "  team: search\n",
    "untagged": None,
}


@pytest.fixture
def fleet(workspace: Path) -> Path:
    """``fleet/``: one plan per LABELS entry, beside ``plans/`` (the same relative paths)."""
    folder = workspace / "fleet"
    folder.mkdir()
    text = (workspace / "plans" / "checkout-v2.yaml").read_text()
    for name, labels in LABELS.items():
        extra = f"labels:\n{labels}" if labels else ""
        (folder / f"{name}.yaml").write_text(
            text.replace("flag: checkout-v2\n", f"flag: checkout-v2\n{extra}")
        )
    return folder


def run(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def check_json(*args: str) -> tuple[int, Any, str]:
    result = run("check", "--json", "--at", AT, "--plans-dir", "fleet", *args)
    return result.exit_code, json.loads(result.stdout), result.stderr


def verdicts(document: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["plan"], d.get("verdict") or "error") for d in document]


def test_check_all_checks_every_plan_of_the_folder_in_name_order(fleet: Path) -> None:
    code, document, errors = check_json("--all")
    assert (code, errors) == (0, "")
    assert verdicts(document) == [
        ("billing", "go"),
        ("ledger", "go"),
        ("ranking", "go"),
        ("untagged", "go"),
    ]
    assert [d["labels"] for d in document] == [
        {"team": "payments", "tier": "1"},
        {"team": "payments", "tier": "2"},
        {"team": "search"},
        {},
    ]


@pytest.mark.parametrize(
    ("selects", "plans"),
    [
        (["team=payments"], ["billing", "ledger"]),
        (["team=payments", "tier=2"], ["ledger"]),
        (["team!=payments"], ["ranking", "untagged"]),
        (["team=payments", "tier!=1"], ["ledger"]),
    ],
)
def test_select_keeps_the_plans_whose_labels_all_match(
    fleet: Path, selects: list[str], plans: list[str]
) -> None:
    options = [part for select in selects for part in ("--select", select)]
    code, document, errors = check_json("--all", *options)
    assert (code, errors) == (0, "")
    assert [d["plan"] for d in document] == plans


def test_check_all_with_one_plan_is_still_an_array(fleet: Path) -> None:
    code, document, _ = check_json("--all", "--select", "team=search")
    assert code == 0
    assert isinstance(document, list) and [d["plan"] for d in document] == ["ranking"]


def test_select_narrows_named_plans_too(fleet: Path) -> None:
    code, document, _ = check_json("billing", "ranking", "--select", "team=search")
    assert code == 0
    assert document["plan"] == "ranking"  # named plans: one left is one object, as before


def test_no_plan_matching_is_exit_2_in_one_line(fleet: Path) -> None:
    result = run("check", "--all", "--plans-dir", "fleet", "--select", "team=nobody")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: no plan in fleet matches team=nobody\n"


def test_a_broken_plan_is_reported_and_the_others_still_checked(fleet: Path) -> None:
    (fleet / "broken.yaml").write_text("flag: x\nlabels: {team: payments}\nstages: 3\n")
    code, document, errors = check_json("--all", "--select", "team=payments")
    assert code == 2  # the broken plan's exit code wins
    assert verdicts(document) == [("billing", "go"), ("broken", "error"), ("ledger", "go")]
    assert document[1]["error"].startswith("fleet/broken.yaml:1: ")
    assert errors.startswith("error: fleet/broken.yaml:1: ")
    assert all(line.startswith("error: fleet/broken.yaml:") for line in errors.splitlines())


def test_a_plan_that_does_not_load_is_reported_even_if_the_selection_would_not_match(
    fleet: Path,
) -> None:
    (fleet / "broken.yaml").write_text("flag: x\nlabels: {team: other}\nstages: 3\n")
    code, document, _ = check_json("--all", "--select", "team=search")
    assert code == 2
    assert verdicts(document) == [("broken", "error"), ("ranking", "go")]


def test_hidden_files_other_suffixes_and_folders_are_no_plans(fleet: Path) -> None:
    (fleet / ".ledger.yaml").write_text("not: a plan\n")
    (fleet / "notes.txt").write_text("hello\n")
    (fleet / "old.yaml.bak").write_text("hello\n")
    (fleet / "archive.yaml").mkdir()
    code, document, errors = check_json("--all", "--select", "team=payments")
    assert (code, errors) == (0, "")
    assert [d["plan"] for d in document] == ["billing", "ledger"]


def test_a_yml_plan_counts_and_one_beside_a_yaml_of_its_name_shows_its_path(fleet: Path) -> None:
    text = (fleet / "ranking.yaml").read_text()
    (fleet / "extra.yml").write_text(text)
    (fleet / "ranking.yml").write_text(text)
    code, document, _ = check_json("--all", "--select", "team=search")
    assert code == 0
    assert [d["plan"] for d in document] == ["extra", "ranking", "ranking"]
    result = run("check", "--all", "--plans-dir", "fleet", "--select", "team=search")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["billing", "--all"], "error: give PLAN names or --all, not both (see 'rollout {} -h')\n"),
        ([], "error: missing PLAN... or --all (see 'rollout {} -h')\n"),
        (
            ["--all", "--select", "team"],
            "error: --select 'team': give KEY=VALUE or KEY!=VALUE (e.g. team=payments)\n",
        ),
    ],
)
@pytest.mark.parametrize("command", ["check", "watch"])
def test_usage_errors_are_one_line_and_exit_2(
    fleet: Path, command: str, args: list[str], message: str
) -> None:
    result = run(command, "--plans-dir", "fleet", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message.format(command))


def test_a_missing_plans_directory(workspace: Path) -> None:
    result = run("check", "--all", "--plans-dir", "nowhere")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: plans directory nowhere not found: set --plans-dir or ROLLOUT_PLANS_DIR\n",
    )


def test_a_folder_without_plans(workspace: Path) -> None:
    (workspace / "empty").mkdir()
    result = run("check", "--all", "--plans-dir", "empty")
    assert (result.exit_code, result.stderr) == (2, "error: no plan file (.yaml, .yml) in empty\n")


def test_the_plans_dir_comes_from_the_environment_too(fleet: Path) -> None:
    result = runner.invoke(
        app,
        ["check", "--all", "--json", "--at", AT, "--select", "tier=1"],
        env={"ROLLOUT_PLANS_DIR": "fleet"},
    )
    assert result.exit_code == 0, result.stderr
    assert [d["plan"] for d in json.loads(result.stdout)] == ["billing"]


def test_watch_all_once_reports_the_selected_plans(fleet: Path) -> None:
    (fleet / "broken.yaml").write_text("flag: x\nstages: 3\n")
    result = run(
        "watch", "--all", "--once", "--at", AT, "--output", "ndjson",
        "--plans-dir", "fleet", "--select", "team!=search",
    )  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["plan"], e["verdict"], e["mode"]) for e in events] == [
        ("billing", "go", "report"),
        ("broken", None, "report"),
        ("ledger", "go", "report"),
        ("untagged", "go", "report"),
    ]
    assert result.exit_code == 2
    assert result.stderr.startswith("error: broken: fleet/broken.yaml:1: ")


def search_watcher() -> Watcher:
    """A report-only watcher of ``--all --select team=search`` in ``fleet/``, at AT."""
    from rolloutcli.app.fleet import fleet as pick
    from rolloutcli.app.watchloop import Watcher
    from rolloutcli.cli.base import now_or_at
    from rolloutcli.render.contract import decision_json
    from rolloutcli.support.durations import parse_duration

    return Watcher(
        refs=[],
        fleet=pick(None, True, ["team=search"], Path("fleet")),
        plans_dir=Path("fleet"),
        every=parse_duration("5m"),
        auto=False,
        once=False,
        records_file=None,
        concurrency=None,
        clock=lambda: now_or_at(AT),
        describe=decision_json,
    )


def test_watch_all_finds_a_new_plan_file_at_the_next_round(fleet: Path) -> None:
    watcher = search_watcher()
    assert [p.ref for p in watcher.round().plans] == ["ranking"]
    (fleet / "another.yaml").write_text((fleet / "ranking.yaml").read_text())
    assert [p.ref for p in watcher.round().plans] == ["another", "ranking"]


def test_status_json_shows_the_labels(fleet: Path) -> None:
    result = run("status", "billing", "--json", "--plans-dir", "fleet")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["labels"] == {"team": "payments", "tier": "1"}


def test_watch_all_carries_on_when_a_later_round_finds_no_plan(fleet: Path) -> None:
    """The first round finding nothing stops the watch (exit 2: nothing to watch); a later
    round finding nothing is that round's error, and the round after finds the plan again."""
    from rolloutcli.support.errors import InvalidInputError

    watcher = search_watcher()
    assert [p.ref for p in watcher.round().plans] == ["ranking"]
    plan = (fleet / "ranking.yaml").read_text()
    (fleet / "ranking.yaml").unlink()
    with pytest.raises(InvalidInputError, match=r"^no plan in fleet matches team=search$"):
        watcher.round(first=True)
    (later,) = watcher.round(first=False).plans
    assert (later.ref, later.error, later.exit_code) == (
        "fleet",
        "no plan in fleet matches team=search",
        2,
    )
    (fleet / "ranking.yaml").write_text(plan)
    assert [p.ref for p in watcher.round(first=False).plans] == ["ranking"]
