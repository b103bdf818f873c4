"""Every change the tool makes to a flag file names its decision record (issue 19): the
metadata comment and the history line carry the record's id, and `rollout history` pairs
the two by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.journal.store import read
from tests.conftest import read_flag

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def platform_lines(root: Path) -> list[dict[str, Any]]:
    path = root / "flags" / "flags.json.history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def records(root: Path) -> list[dict[str, Any]]:
    return read(root / "plans" / ".rollout" / "decisions.jsonl").entries


def test_advance_names_its_record_in_the_flag_file_and_history_pairs_them(
    live_workspace: Path,
) -> None:
    code, out = invoke("advance", "checkout-v2", "--yes", "--json")
    assert code == 0, out
    rid = json.loads(out)["record_id"]
    assert [r["id"] for r in records(live_workspace)] == [rid]
    line = platform_lines(live_workspace)[-1]
    assert (line["action"], line["record"]) == ("advance", rid)
    assert line["comment"].endswith(f" (record {rid})")
    meta = read_flag(live_workspace, "checkout-v2")["metadata"]
    assert meta["rolloutcli.comment"].endswith(f" (record {rid})")
    code, out = invoke("history", "checkout-v2", "--json")
    assert code == 0
    newest = json.loads(out)[0]
    assert (newest["source"], newest["record_id"], newest["paired"], newest["event"]) == (
        "record+platform",
        rid,
        "id",
        "advance",
    )


def test_every_writing_command_names_the_record_it_wrote(live_workspace: Path) -> None:
    plan = "checkout-v2"
    for command in (
        ["watch", plan, "--auto", "--once"],
        ["pause", plan, "--yes", "-m", "dashboards"],
        ["resume", plan, "--yes", "-m", "dashboards fine"],
        ["rollback", plan, "--yes", "-m", "errors"],
        ["kill", plan, "--yes", "-m", "on fire"],
        ["unkill", plan, "--yes", "-m", "fixed"],
    ):
        code, out = invoke(*command)
        assert code == 0, (command, out)
    written = {r["id"]: r["event"] for r in records(live_workspace) if r["result"] == "applied"}
    named = [(line["action"], line["record"]) for line in platform_lines(live_workspace)[-6:]]
    assert [action for action, _ in named] == [
        "advance",
        "pause",
        "resume",
        "rollback",
        "kill",
        "unkill",
    ]
    assert [written[rid] for _, rid in named] == [action for action, _ in named]
    code, out = invoke("history", plan, "--json")
    entries = json.loads(out)
    paired = [(e["event"], e["source"], e["paired"]) for e in entries if e["record_id"] in written]
    assert paired == [
        (event, "record+platform", "id")
        for event in ("unkill", "kill", "rollback", "resume", "pause", "advance")
    ]


def test_a_kill_whose_record_cannot_be_written_still_names_it(workspace: Path) -> None:
    nowhere = workspace / "flags" / "flags.json" / "records.jsonl"  # under a file
    code, _ = invoke("kill", "checkout-v2", "--yes", "--records", str(nowhere))
    assert code == 0
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"
    rid = platform_lines(workspace)[-1]["record"]
    assert len(rid) == 32
    code, out = invoke("history", "checkout-v2", "--json")
    assert code == 0
    newest = json.loads(out)[0]
    assert (newest["source"], newest["record_id"], newest["event"]) == ("platform", rid, "kill")
    assert newest["detail"] == (
        f"record {rid} is not in this store · rolloutcli kill: flag turned off by on-call"
    )
