"""`rollout records import` into a file store, and the workspace configuration choosing the
store that every command (and `history`) uses."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.journal.store import append, read

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def old_log(path: Path) -> None:
    append(path, {"id": "a1", "time": "2026-11-02T10:00:00Z", "plan": "checkout-v2"})
    append(path, {"time": "2026-11-02T11:00:00Z", "plan": "checkout-v2", "event": "pause"})
    with path.open("ab") as handle:
        handle.write(b'{"torn":\n')


def test_import_into_a_file_store_twice_adds_once(workspace: Path) -> None:
    old_log(workspace / "old.jsonl")
    target = workspace / "all.jsonl"
    code, out, err = invoke("records", "import", "old.jsonl", "--records", str(target))
    assert code == 0, err
    assert out == f"2 of 2 record(s) added to {target} (0 already there)\n"
    assert err == "warning: old.jsonl: unreadable line(s) skipped: 3\n"
    code, out, _ = invoke("records", "import", "old.jsonl", "--records", str(target))
    assert code == 0
    assert out == f"0 of 2 record(s) added to {target} (2 already there)\n"
    entries = read(target).entries
    assert len(entries) == 2 and entries[0]["id"] == "a1"
    assert entries[1]["id"].startswith("sha256:")


def test_import_of_a_missing_file_is_one_line(workspace: Path) -> None:
    code, _, err = invoke("records", "import", "nope.jsonl")
    assert code == 2
    assert err == "error: nope.jsonl: no such decision log (give a .jsonl file)\n"


def test_the_workspace_config_chooses_the_store_of_every_command(workspace: Path) -> None:
    (workspace / "plans" / ".rollout").mkdir()
    config = workspace / "plans" / ".rollout" / "config.toml"
    config.write_text('records = "../audit/records.jsonl"\n')  # relative to the plans
    code, _, err = invoke("rollback", "recommender-model", "--yes")
    assert code == 0, err
    written = read(workspace / "audit" / "records.jsonl").entries
    assert [(e["event"], e["plan"]) for e in written] == [("rollback", "recommender-model")]
    assert not (workspace / "plans" / ".rollout" / "decisions.jsonl").exists()
    code, out, _ = invoke("history", "recommender-model", "--json")
    assert code == 0
    newest = json.loads(out)[0]
    assert (newest["source"], newest["event"]) == ("record+platform", "rollback")


def test_a_broken_workspace_config_never_blocks_a_kill(workspace: Path) -> None:
    (workspace / "plans" / ".rollout").mkdir()
    config = workspace / "plans" / ".rollout" / "config.toml"
    config.write_text("records = 3\n")
    code, _, err = invoke("kill", "checkout-v2", "--yes")
    assert code == 0
    assert err.splitlines()[0] == (
        "warning: plans/.rollout/config.toml: records must be a file path or a postgresql:// "
        "URL; decision records written to plans/.rollout/decisions.jsonl"
    )
    written = read(workspace / "plans" / ".rollout" / "decisions.jsonl").entries
    assert [e["event"] for e in written] == ["kill"]
