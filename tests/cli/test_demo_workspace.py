"""The README's first command's workspace, kept: `rollout demo --dir ws`, then the commands
the README and the demo suggest, run in ws on the workspace's own clock (no --at)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.journal.store import read

runner = CliRunner()
PLAN = "checkout-v2"


def run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr)."""
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def demo(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`rollout demo --dir NAME`, then `cd NAME`."""
    monkeypatch.chdir(tmp_path)
    code, output, _ = run("demo", "--dir", name)
    assert code == 0, output
    assert "verdict GO" in output and "applied: treatment now 10%" in output
    assert f"cd {name}" in output and f"rollout advance {PLAN} --yes" in output
    monkeypatch.chdir(tmp_path / name)
    return tmp_path / name


def check(plan: str = PLAN) -> dict[str, Any]:
    code, output, _ = run("check", plan, "--json")
    assert code == 0, output
    data: dict[str, Any] = json.loads(output)
    return data


def advances(ws: Path) -> list[dict[str, Any]]:
    return [
        r
        for r in read(ws / "plans" / ".rollout" / "decisions.jsonl").entries
        if r["event"] in ("advance", "notify")
    ]


def history(plan: str = PLAN) -> list[dict[str, Any]]:
    code, output, _ = run("history", plan, "--json")
    assert code == 0, output
    entries: list[dict[str, Any]] = json.loads(output)
    return entries


def test_check_then_advance_in_the_demo_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = demo(tmp_path, "ws", monkeypatch)
    # right after the demo: the 10% stage it entered has real numbers, and its window is met
    verdict = check()
    assert verdict["verdict"] == "go" and verdict["next_percent"] == 25
    assert "no_data" not in verdict["reason_codes"]
    for metric in verdict["metrics"]:
        assert metric["status"] == "ok"
        assert metric["control"] is not None and metric["treatment"] is not None
        assert metric["treatment_n"] > 0
    assert verdict["srm"]["checked"] is True and verdict["srm"]["mismatch"] is False

    code, output, errors = run("advance", PLAN, "--yes")
    assert code == 0, output
    assert "applied: treatment now 25% (stage 25%)" in output
    assert "warning" not in errors
    status = json.loads(run("status", PLAN, "--json")[1])
    assert status["percent"] == 25 and status["stage"]["name"] == "25%"
    [record] = advances(ws)  # the go applied, and no notify row
    assert (record["command"], record["result"]) == ("advance", "applied")
    assert record["verdict"]["verdict"] == "go"
    assert (record["before"]["percent"], record["after"]["percent"]) == (10, 25)

    # history: the user's advance (recorded) over the demo's own step (the flag file's)
    newest, demo_step = history()[:2]
    assert (newest["event"], newest["source"], newest["percent_after"]) == (
        "advance",
        "record+platform",
        25,
    )
    assert (demo_step["event"], demo_step["percent_after"]) == ("advance", 10)
    code, output, _ = run("history", PLAN)
    assert code == 0 and "25%" in output

    # the breach the demo points at is one in this workspace too
    code, output, _ = run("check", "recommender-model", "--fail-on-breach")
    assert code == 1 and "ROLLBACK" in output


def test_watch_auto_once_applies_the_go_in_a_fresh_demo_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = demo(tmp_path, "ws2", monkeypatch)
    code, output, errors = run("watch", PLAN, "--auto", "--once")
    assert code == 0, output
    assert "GO" in output
    assert "warning" not in errors
    [record] = advances(ws)
    assert (record["command"], record["result"]) == ("watch --auto --once", "applied")
    assert record["decision"]["policy"] == "auto"
    newest = history()[0]
    assert (newest["event"], newest["percent_after"], newest["source"]) == (
        "advance",
        25,
        "record+platform",
    )


def test_plan_suggest_then_check_in_the_demo_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = demo(tmp_path, "ws", monkeypatch)
    args = [
        "plan",
        "suggest",
        PLAN,
        "--metrics-source",
        "file",
        "--metrics-file",
        "metrics/checkout-v2.csv",
        "--ratio",
        "error_rate=errors/requests",
        "--flag-file",
        "flags/flags.json",
    ]
    # printed (to be saved in plans/, where `check NAME` looks): paths relative to plans/
    code, printed, _ = run(*args)
    assert code == 0, printed
    assert "path: '../metrics/checkout-v2.csv'" in printed
    assert "relative to this plan file, once saved in plans/" in printed
    (ws / "plans" / "drafted.yaml").write_text(printed)
    code, output, errors = run("validate", "drafted")
    assert (code, errors) == (0, ""), output
    verdict = check("drafted")  # reads the live flag and metrics: a real verdict
    assert verdict["stage"]["name"] == "10%"
    assert all(m["treatment_n"] for m in verdict["metrics"])

    # --out: written there, paths relative to its folder; never over an existing file
    code, output, _ = run(*args, "--out", "plans/drafted-2.yaml")
    assert (code, output.strip()) == (0, "wrote plans/drafted-2.yaml")
    assert "path: '../flags/flags.json'" in (ws / "plans" / "drafted-2.yaml").read_text()
    assert check("drafted-2")["stage"]["name"] == "10%"
    code, _, errors = run(*args, "--out", "plans/drafted-2.yaml")
    assert code == 2 and "the file exists" in errors


def test_the_workspace_holds_what_its_plans_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = demo(tmp_path, "ws", monkeypatch)
    plans = sorted(str(p.relative_to(ws)) for p in (ws / "plans").glob("*.yaml"))
    code, output, errors = run("validate", *plans)
    assert code == 0 and "warning" not in errors, errors
    assert output.count("ok plans/") == len(plans)
    for plan in plans:  # the $schema comment names a file the workspace has
        first = (ws / plan).read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../docs/plan.schema.json"
    schema = json.loads((ws / "docs" / "plan.schema.json").read_text())
    assert schema == json.loads(run("plan", "schema")[1])


def test_validate_warns_about_a_missing_file_and_strict_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = demo(tmp_path, "ws", monkeypatch)
    (ws / "metrics" / "checkout-v2.csv").unlink()
    code, output, errors = run("validate", PLAN)
    assert code == 0 and "ok plans/checkout-v2.yaml" in output
    assert errors.strip() == (
        "warning: plans/checkout-v2.yaml:21: metrics.source.path: metrics file "
        "../metrics/checkout-v2.csv not found (looked for metrics/checkout-v2.csv)"
    )
    code, output, errors = run("validate", "--strict", PLAN)
    assert code == 2 and "ok" not in output
    assert errors.startswith("error: plans/checkout-v2.yaml:21: metrics.source.path:")
    # every message names the file as a person reads it, not plans/../metrics/...
    code, _, errors = run("check", PLAN)
    assert code == 3 and "metrics/checkout-v2.csv not found" in errors
    assert "plans/../" not in errors


def test_an_unconfigured_webhook_is_a_quiet_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = demo(tmp_path, "ws", monkeypatch)
    code, output, errors = run("rollback", PLAN, "--yes", "-m", "trying it")
    assert code == 0, output
    assert errors.strip() == (
        "note: rollback not notified: SLACK_WEBHOOK_URL is not set (the plan names it for a "
        "slack webhook)"
    )
    assert [r["event"] for r in read(ws / "plans" / ".rollout" / "decisions.jsonl").entries] == [
        "rollback"
    ]
    assert "notify" not in [entry["event"] for entry in history()]


README = Path(__file__).resolve().parents[2] / "README.md"
_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def readme_demo_commands() -> list[str]:
    """The README's demo-workspace block: its commands, continuation lines joined and
    comments dropped (`rollout demo --dir ws && cd ws` first)."""
    for block in _SH_BLOCK.findall(README.read_text(encoding="utf-8")):
        if block.startswith("rollout demo --dir ws && cd ws"):
            joined = block.replace("\\\n", " ")
            return [line.split("#")[0].strip() for line in joined.splitlines() if line.strip()]
    raise AssertionError("the README has no block starting with rollout demo --dir ws")


def test_the_readme_demo_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, *commands = readme_demo_commands()
    assert first == "rollout demo --dir ws && cd ws"
    demo(tmp_path, "ws", monkeypatch)
    outputs: dict[str, str] = {}
    for line in commands:
        words = shlex.split(line)
        target = None
        if ">" in words:
            words, target = words[: words.index(">")], words[words.index(">") + 1]
        assert words[0] == "rollout", line
        code, output, errors = run(*words[1:])
        assert code == (1 if "--fail-on-breach" in words else 0), (line, output, errors)
        assert "warning" not in errors, (line, errors)
        if target is not None:
            Path(target).write_text(output)
        outputs[" ".join(words[1:3])] = output
    assert "GO" in outputs["check checkout-v2"]
    assert "applied: treatment now 25%" in outputs["advance checkout-v2"]
    assert "25%" in outputs["history checkout-v2"]
    assert "drafted · flag checkout-v2" in outputs["check drafted"]
