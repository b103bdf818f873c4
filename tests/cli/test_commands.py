"""The command-line contract, through Typer's runner, on a copy of the example workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.cli import base as cli
from rolloutcli.cli.main import app
from rolloutcli.platforms.flagfile import FlagFilePlatform
from tests.conftest import read_flag

runner = CliRunner()
AT = "2026-11-02T12:00Z"  # the moment the checkout-v2 example data describes


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def flag_bytes(root: Path) -> bytes:
    return (root / "flags" / "flags.json").read_bytes()


# ---------------------------------------------------------------------- status


def test_status_json_contract(workspace: Path) -> None:
    code, output = invoke("status", "checkout-v2", "--json")
    assert code == 0
    data = json.loads(output)
    assert {"plan", "flag", "platform", "environment", "on", "percent", "stage"} <= set(data)
    assert data["plan"] == "checkout-v2"
    assert data["flag"] == "checkout-v2"
    assert data["platform"] == "flagfile"
    assert data["environment"] == "production"
    assert data["on"] is True
    assert data["percent"] == 5
    assert data["stage"] == {
        "index": 1,
        "name": "5%",
        "percent": 5,
        "started_at": "2026-11-02T10:00:00Z",
    }


def test_status_stage_is_null_off_plan(workspace: Path) -> None:
    platform = FlagFilePlatform(workspace / "flags" / "flags.json", "checkout-v2")
    doc = json.loads(flag_bytes(workspace))
    doc["flags"]["checkout-v2"]["targeting"]["fractional"][1][1] = 7000
    doc["flags"]["checkout-v2"]["targeting"]["fractional"][2][1] = 93000
    (workspace / "flags" / "flags.json").write_text(json.dumps(doc))
    data = json.loads(invoke("status", "checkout-v2", "--json")[1])
    assert data["percent"] == 7
    assert data["stage"] is None
    assert data["off_plan"] is True
    assert platform.read_state(True, False).notes  # the hand edit is called out


def test_status_human_output(workspace: Path) -> None:
    code, output = invoke("status", "checkout-v2")
    assert code == 0
    assert "stage 5% (2 of 6)" in output
    assert "treatment share" in output


def test_plan_path_and_plans_dir(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("status", "plans/checkout-v2.yaml", "--json")[0] == 0
    monkeypatch.chdir(workspace.parent)
    assert invoke("status", "checkout-v2", "--json")[0] == 2
    assert invoke("status", "checkout-v2", "--plans-dir", str(workspace / "plans"))[0] == 0
    monkeypatch.setenv("ROLLOUT_PLANS_DIR", str(workspace / "plans"))
    assert invoke("status", "checkout-v2", "--json")[0] == 0


# ---------------------------------------------------------------------- check


def test_check_json_contract_go(workspace: Path) -> None:
    code, output = invoke("check", "checkout-v2", "--json", "--at", AT)
    assert code == 0
    data = json.loads(output)
    assert data["plan"] == "checkout-v2" and data["flag"] == "checkout-v2"
    assert data["verdict"] == "go"
    assert isinstance(data["reasons"], list) and data["reasons"]
    # one code per sentence, in the same order: scripts branch on codes, not on words
    assert data["reason_codes"][0] == "advance"
    assert len(data["reason_codes"]) == len(data["reasons"])
    assert data["reasons"][0].startswith("all guardrails within thresholds")
    assert [m["name"] for m in data["metrics"]] == ["error_rate", "p99_latency", "conversion"]
    for metric in data["metrics"]:
        assert {"name", "status", "control", "treatment", "p_value"} <= set(metric)
        assert metric["status"] in {"ok", "warn", "pause", "rollback", "no_data"}
    er = data["metrics"][0]
    assert er["treatment"] == pytest.approx(131 / 12045, rel=1e-3) or er["treatment"] > 0
    assert data["srm"]["checked"] is True and data["srm"]["mismatch"] is False
    assert data["next_percent"] == 10


def test_check_rollback_and_fail_on_breach(workspace: Path) -> None:
    code, output = invoke("check", "recommender-model", "--json")
    assert code == 0  # without --fail-on-breach any verdict exits 0
    data = json.loads(output)
    assert data["verdict"] == "rollback"
    fallback = next(m for m in data["metrics"] if m["name"] == "fallback_rate")
    assert fallback["status"] == "rollback"
    assert fallback["p_value"] < 0.01
    assert invoke("check", "recommender-model", "--fail-on-breach")[0] == 1
    assert invoke("check", "checkout-v2", "--fail-on-breach", "--at", AT)[0] == 0


def test_check_several_plans_gives_an_array(workspace: Path) -> None:
    code, output = invoke(
        "check",
        "checkout-v2",
        "recommender-model",
        "search-ranking",
        "--json",
        "--fail-on-breach",
    )
    assert code == 1
    data = json.loads(output)
    # now, a month after the examples' data ends: the healthy rollout holds (its metrics
    # went silent: a stale rollout never goes), the broken one still rolls back, and the one
    # not started yet may start
    assert [d["verdict"] for d in data] == ["hold", "rollback", "go"]
    assert "has no data for the last" in data[0]["reasons"][0]


def test_check_human_table_shows_the_values(workspace: Path) -> None:
    code, output = invoke("check", "recommender-model")
    assert code == 0
    for text in ("ROLLBACK", "fallback_rate", "accuracy", "evidence e=", "sample ratio"):
        assert text in output


def test_check_window_running_holds(workspace: Path) -> None:
    data = json.loads(invoke("check", "checkout-v2", "--json", "--at", "2026-11-02T10:40Z")[1])
    assert data["verdict"] == "hold"
    assert data["reasons"][0].startswith("observation window: 40m of 1h elapsed")
    assert data["reason_codes"] == ["window"]


def test_check_missing_metrics_file_is_exit_3(workspace: Path) -> None:
    (workspace / "metrics" / "checkout-v2.csv").unlink()
    code, output = invoke("check", "checkout-v2")
    assert code == 3
    assert "metrics file" in output and "not found" in output


def test_check_bad_plan_is_exit_2_with_file_and_line(workspace: Path) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    plan.write_text(plan.read_text().replace("percent: 10,", "percent: 150,"))
    code, output = invoke("check", "checkout-v2")
    assert code == 2
    assert "checkout-v2.yaml:16: stages[2].percent" in output


# ---------------------------------------------------------------------- advance


def test_advance_refuses_without_terminal_or_yes(live_workspace: Path) -> None:
    before = flag_bytes(live_workspace)
    code, output = invoke("advance", "checkout-v2")
    assert code == 1
    assert "no terminal" in output
    assert flag_bytes(live_workspace) == before


def test_advance_yes_applies_and_records(live_workspace: Path) -> None:
    code, output = invoke("advance", "checkout-v2", "--yes")
    assert code == 0, output
    assert "5% → 10%" in output
    flag = read_flag(live_workspace, "checkout-v2")
    assert flag["targeting"]["fractional"][1] == ["on", 10_000]
    assert flag["metadata"]["rolloutcli.stage"] == "10%"
    history = (live_workspace / "flags" / "flags.json.history.jsonl").read_text().splitlines()
    record = json.loads(history[-1])
    assert (record["action"], record["percent_before"], record["percent_after"]) == (
        "advance",
        5,
        10,
    )
    decisions = live_workspace / "plans" / ".rollout" / "decisions.jsonl"
    decided = json.loads(decisions.read_text().splitlines()[-1])["verdict"]
    assert decided["reason_codes"][0] == "advance"  # records keep the sentences and codes
    assert len(decided["reason_codes"]) == len(decided["reasons"])
    status = json.loads(invoke("status", "checkout-v2", "--json")[1])
    assert status["stage"]["index"] == 2
    # the new stage has just begun: its window holds the next advance
    assert json.loads(invoke("check", "checkout-v2", "--json")[1])["verdict"] == "hold"


def test_advance_dry_run_changes_nothing(live_workspace: Path) -> None:
    before = flag_bytes(live_workspace)
    code, output = invoke("advance", "checkout-v2", "--dry-run")
    assert code == 0
    assert "dry run" in output
    assert flag_bytes(live_workspace) == before


def test_advance_asks_on_a_terminal(live_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    before = flag_bytes(live_workspace)
    code, output = invoke("advance", "checkout-v2", input="n\n")
    assert code == 1 and "declined" in output
    assert flag_bytes(live_workspace) == before
    code, output = invoke("advance", "checkout-v2", input="y\n")
    assert code == 0 and "applied" in output
    assert read_flag(live_workspace, "checkout-v2")["targeting"]["fractional"][1] == ["on", 10_000]


def test_advance_on_rollback_verdict_changes_nothing_and_exits_1(workspace: Path) -> None:
    before = flag_bytes(workspace)
    code, output = invoke("advance", "recommender-model", "--yes")
    assert code == 1
    assert "verdict is rollback" in output
    assert flag_bytes(workspace) == before


def test_advance_starts_an_allowlist_rollout(workspace: Path) -> None:
    code, output = invoke("advance", "search-ranking", "--yes")
    assert code == 0, output
    targeting = read_flag(workspace, "search-ranking")["targeting"]
    assert targeting["if"][0]["in"][1][0] == "staff-ana"
    status = json.loads(invoke("status", "search-ranking", "--json")[1])
    assert status["stage"]["name"] == "internal"
    assert status["audience"]["keys"][:1] == ["staff-ana"]


def test_starting_a_rollout_turns_an_off_flag_on(workspace: Path) -> None:
    """Nobody is served the treatment before a rollout starts, so starting on a flag that
    is off is a `go`; the change says it turns the flag on."""
    assert invoke("kill", "search-ranking", "--yes")[0] == 0
    checked = json.loads(invoke("check", "search-ranking", "--json")[1])
    assert checked["verdict"] == "go"
    assert "the flag is off: starting turns it on" in checked["reasons"][0]
    code, output = invoke("advance", "search-ranking", "--yes")
    assert code == 0, output
    assert "turns the flag ON" in output
    assert read_flag(workspace, "search-ranking")["state"] == "ENABLED"


def test_a_flag_killed_mid_rollout_holds(workspace: Path) -> None:
    assert invoke("kill", "checkout-v2", "--yes")[0] == 0
    checked = json.loads(invoke("check", "checkout-v2", "--json")[1])
    assert checked["verdict"] == "hold"
    assert "killed" in checked["reasons"][0]
    assert checked["reason_codes"] == ["flag_off"]
    # --at before the kill replays the flag as it stood then: on, and the data says go
    then = json.loads(invoke("check", "checkout-v2", "--json", "--at", AT)[1])
    assert (then["verdict"], then["lifecycle"]["phase"]) == ("go", "in_stage")
    assert then["replayed"] == {"at": "2026-11-02T12:00:00Z", "changes_undone": 1}
    code, output = invoke("advance", "checkout-v2", "--yes")
    assert code == 0 and "nothing changed" in output
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"


def test_at_replays_the_flag_file_and_refuses_where_its_history_cannot_say(
    workspace: Path,
) -> None:
    # the example flag file stands at stage 5%, set by the tool before 11:00 (its metadata)
    code, output = invoke("status", "checkout-v2", "--json", "--at", "2026-11-02T11:00Z")
    assert code == 0, output
    then = json.loads(output)
    assert (then["percent"], then["stage"]["name"], then["lifecycle"]["phase"]) == (
        5,
        "5%",
        "in_stage",
    )
    assert then["replayed"] == {"at": "2026-11-02T11:00:00Z", "changes_undone": 0}
    # a hand edit the history does not hold: what the file served before it is unknown
    path = workspace / "flags" / "flags.json"
    doc = json.loads(path.read_text())
    doc["flags"]["checkout-v2"]["targeting"]["fractional"][1:] = [["on", 30], ["off", 70]]
    path.write_text(json.dumps(doc))
    for command in ("status", "check"):
        code, output = invoke(command, "checkout-v2", "--at", "2026-11-02T11:00Z")
        assert code == 2, output
        line = " ".join(output.split())
        assert "--at 2026-11-02T11:00:00Z: flag checkout-v2 on flagfile cannot be replayed" in line
        assert "a change its history does not hold (a hand edit" in line
        assert "give a later --at, or none" in line
    assert json.loads(invoke("status", "checkout-v2", "--json")[1])["percent"] == 30


def test_advance_conflict_is_exit_4(live_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone changes the flag between our read and our write: nothing is written."""
    original = FlagFilePlatform.read_state

    def read_then_someone_edits(self: FlagFilePlatform, t: object, c: object):  # type: ignore[no-untyped-def]
        state = original(self, t, c)
        doc = json.loads(self.path.read_text())
        doc["flags"]["checkout-v2"]["targeting"]["fractional"][1][1] = 6000
        doc["flags"]["checkout-v2"]["targeting"]["fractional"][2][1] = 94000
        self.path.write_text(json.dumps(doc))
        return state

    monkeypatch.setattr(FlagFilePlatform, "read_state", read_then_someone_edits)
    code, output = invoke("advance", "checkout-v2", "--yes")
    assert code == 4
    assert "changed since it was read" in output
    assert read_flag(live_workspace, "checkout-v2")["targeting"]["fractional"][1] == ["on", 6000]


# ---------------------------------------------------------------------- rollback


def test_rollback_sets_zero_and_keeps_the_flag_on(workspace: Path) -> None:
    assert invoke("rollback", "recommender-model")[0] == 1  # no terminal, no --yes
    assert invoke("rollback", "recommender-model", "--dry-run")[0] == 0
    code, output = invoke("rollback", "recommender-model", "--yes")
    assert code == 0, output
    data = json.loads(invoke("status", "recommender-model", "--json")[1])
    assert data["percent"] == 0 and data["on"] is True
    assert invoke("rollback", "recommender-model", "--yes")[1].startswith("flag recommender")


# ---------------------------------------------------------------------- kill


def test_kill_by_plan_by_flag_key_and_by_file(workspace: Path) -> None:
    code, output = invoke("kill", "checkout-v2")
    assert code == 1 and "no terminal" in output
    assert read_flag(workspace, "checkout-v2")["state"] == "ENABLED"
    assert invoke("kill", "checkout-v2", "--yes")[0] == 0
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"
    assert "already off" in invoke("kill", "checkout-v2", "--yes")[1]
    # a flag key no plan file is named after, found through the plan that manages it
    (workspace / "plans" / "recommender-model.yaml").rename(workspace / "plans" / "reco.yaml")
    assert invoke("kill", "recommender-model", "--yes")[0] == 0
    assert read_flag(workspace, "recommender-model")["state"] == "DISABLED"
    code, _ = invoke("kill", "search-ranking", "--yes", "--flag-file", "flags/flags.json")
    assert code == 0
    assert read_flag(workspace, "search-ranking")["state"] == "DISABLED"
    status = json.loads(invoke("status", "checkout-v2", "--json")[1])
    assert status["on"] is False


def test_kill_works_on_a_plan_with_a_broken_metrics_section(workspace: Path) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    plan.write_text(plan.read_text().replace("kind: ratio", "kind: ratoi", 1) + "bogus: [\n")
    assert invoke("validate", "checkout-v2")[0] == 2
    plan.write_text(plan.read_text().replace("bogus: [\n", ""))
    assert invoke("validate", "checkout-v2")[0] == 2
    (workspace / "metrics" / "checkout-v2.csv").unlink()
    code, output = invoke("kill", "checkout-v2", "--yes")
    assert code == 0, output
    assert read_flag(workspace, "checkout-v2")["state"] == "DISABLED"


def test_kill_unknown_flag_is_exit_2(workspace: Path) -> None:
    code, output = invoke("kill", "nope", "--yes")
    assert code == 2 and "no plan or flag named 'nope'" in output


def test_kill_missing_flag_file_is_exit_3(workspace: Path) -> None:
    (workspace / "flags" / "flags.json").unlink()
    code, output = invoke("kill", "checkout-v2", "--yes")
    assert code == 3 and "not found" in output


# ---------------------------------------------------------------------- light paths


@pytest.mark.parametrize(
    "args",
    [["--help"], ["kill", "checkout-v2", "--yes"], ["kill", "--help"], ["status", "checkout-v2"]],
)
def test_help_kill_and_status_do_not_import_scipy(workspace: Path, args: list[str]) -> None:
    """The light paths: no statistics (scipy) and no LaunchDarkly SDK; `status` reads the
    platform and the plan, nothing more."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rolloutcli.cli.main import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'ldclient'))\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workspace, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_status_does_not_look_for_pydantic_plugins(workspace: Path) -> None:
    """`rollout` leaves pydantic's plugins unloaded (no scan of every installed package's
    metadata, nothing outside the tool sees the plans it validates) unless the user's
    environment says otherwise."""
    code = (
        "import os, sys\n"
        "sys.argv = ['rollout', 'status', 'checkout-v2']\n"
        "from rolloutcli.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    from pydantic.plugin import _loader\n"
        "    print('EXIT', exc.code, 'SCANNED', _loader._plugins is not None)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=workspace,
            capture_output=True,
            text=True,
            check=False,
            env={**env, **extra},
        )
        for extra in ({}, {"PYDANTIC_DISABLE_PLUGINS": ""})
    ]
    assert [done.stdout.splitlines()[-1] for done in runs] == [
        "EXIT 0 SCANNED False",
        "EXIT 0 SCANNED True",
    ], [done.stderr for done in runs]


def test_demo_is_the_same_on_any_day(tmp_path: Path) -> None:
    code, output = invoke("demo", "--dir", str(tmp_path / "demo"))
    assert code == 0, output
    assert "verdict GO" in output
    assert "applied: treatment now 10%" in output
    # the step is taken 75 minutes before the workspace's data ends (its clock): the 10%
    # stage it enters has its window met when the workspace is handed over
    changed = read_flag(tmp_path / "demo", "checkout-v2")["metadata"]["rolloutcli.changedAt"]
    last_row = (tmp_path / "demo" / "metrics" / "checkout-v2.csv").read_text().splitlines()[-1]
    step = datetime.fromisoformat(changed.replace("Z", "+00:00"))
    data_end = datetime.fromisoformat(last_row.split(",")[0].replace("Z", "+00:00"))
    assert data_end + timedelta(minutes=5) - step == timedelta(minutes=75)
    assert (step.second, step.microsecond) == (0, 0)
    assert (tmp_path / "demo" / "docs" / "plan.schema.json").is_file()  # the plans' $schema


def test_demo_workspace_matches_the_shipped_examples() -> None:
    """The package's demo copy and the repository's examples must not drift apart."""
    root = Path(__file__).resolve().parents[2]
    demo = root / "src" / "rolloutcli" / "demo"

    def listed(folder: Path) -> list[str]:  # not the tool's own state (.rollout/)
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    for folder in ("plans", "flags", "metrics"):
        names = listed(root / folder)
        assert names == listed(demo / folder)
        for name in names:
            assert (root / folder / name).read_bytes() == (demo / folder / name).read_bytes()


@pytest.mark.parametrize("bad", ['"10"', "NaN", "1e9", "-5", "true", "null"])
def test_at_refuses_a_history_line_whose_share_is_not_a_share(workspace: Path, bad: str) -> None:
    """A hand-edited history line with a share that is not a number 0-100: `--at` before
    it says the history does not tell, in one line, never a traceback or a made-up share."""
    history = workspace / "flags" / "flags.json.history.jsonl"
    history.write_text(
        '{"at": "2026-11-02T12:30:00Z", "flag": "checkout-v2", "action": "advance", '
        f'"percent_before": {bad}, "percent_after": 5, "stage": "5%", "plan": "checkout-v2"}}\n'
    )
    code, output = invoke("status", "checkout-v2", "--json", "--at", "2026-11-02T12:00Z")
    line = " ".join(output.split())
    assert code == 2, output
    assert "does not say what the split was before the advance at 2026-11-02T12:30:00Z" in line
