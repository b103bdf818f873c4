"""Issue 17: the README's own CI workflow, its commands run in sequence on the embedded default
(flag file + metrics file). After `watch --auto --once` rolls the rollout back by itself, the
workflow's check step stays red, run after run and even once the data is healthy again, until a
person restarts the rollout (`rollout advance PLAN --restart --yes`)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from tests.conftest import read_flag

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"
PLAN = "checkout-v2"
_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def workflow_steps() -> dict[str, list[str]]:
    """Each job of the README's workflow (`name: rollout`) and its `rollout` commands."""
    for block in _YAML_BLOCK.findall(README.read_text(encoding="utf-8")):
        document = yaml.safe_load(block)
        if isinstance(document, dict) and document.get("name") == "rollout":
            return {
                name: [
                    step["run"].split("#")[0].strip()
                    for step in job["steps"]
                    if str(step.get("run", "")).startswith("rollout ")
                ]
                for name, job in document["jobs"].items()
            }
    raise AssertionError("the README has no workflow named rollout")


def run(command: str) -> tuple[int, str]:
    """One workflow step, as the runner would run it (`rollout ...`), in-process."""
    args = shlex.split(command)
    assert args[0] == "rollout"
    result = runner.invoke(app, args[1:])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def lifecycle() -> dict[str, Any]:
    code, output = run(f"rollout status {PLAN} --json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)["lifecycle"]
    return found


def treatment_errors(root: Path, factor: int) -> str:
    """Multiply the treatment cohort's errors in the metrics file; returns the original."""
    path = root / "metrics" / f"{PLAN}.csv"
    original = path.read_text(encoding="utf-8")
    lines = []
    for line in original.splitlines():
        time, cohort, metric, value = line.split(",")
        if (cohort, metric) == ("treatment", "errors"):
            value = str(int(value) * factor)
        lines.append(",".join((time, cohort, metric, value)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return original


def split(root: Path) -> list[Any]:
    fractional: list[Any] = read_flag(root, PLAN)["targeting"]["fractional"]
    return fractional[1]  # ["on", share]: the treatment's bucket


def test_the_readme_workflow_stays_red_after_an_automatic_rollback(
    live_workspace: Path,
) -> None:
    jobs = workflow_steps()
    assert jobs == {
        "check": ["rollout check plans/checkout-v2.yaml --fail-on pause"],
        "advance": ["rollout watch plans/checkout-v2.yaml --auto --once"],
    }
    (check_step,) = jobs["check"]
    (watch_step,) = jobs["advance"]
    healthy = run(check_step)
    assert healthy[0] == 0, healthy[1]  # in stage 5%, healthy: green
    assert lifecycle()["phase"] == "in_stage"

    # the treatment's errors go up tenfold: past the rollback tier
    original = treatment_errors(live_workspace, 10)
    code, output = run(check_step)
    assert code == 1, output  # a rollback verdict is past the pause tier: red
    code, output = run(watch_step)
    assert code == 1, output  # watch --once on a rollback verdict: it rolled back, exit 1
    assert split(live_workspace) == ["on", 0]
    rolled = lifecycle()
    assert (rolled["phase"], rolled["from_stage"], rolled["stopped"]) == ("rolled_back", "5%", True)
    records = live_workspace / "plans" / ".rollout" / "decisions.jsonl"
    written = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()]
    rollback = next(r for r in written if r["event"] == "rollback")
    assert (rollback["result"], rollback["verdict"]["verdict"]) == ("applied", "rollback")
    assert rollback["command"].startswith("watch")

    # the next scheduled runs: the check step stays red, and watch never restarts it
    for _ in range(2):
        code, output = run(check_step)
        assert code == 1, output
        assert "rolled back" in output and f"rollout advance {PLAN} --restart" in output
        run(watch_step)
        assert split(live_workspace) == ["on", 0]
        assert lifecycle()["phase"] == "rolled_back"

    # healthy data alone does not turn it green: a person must act
    (live_workspace / "metrics" / f"{PLAN}.csv").write_text(original, encoding="utf-8")
    code, output = run(check_step)
    assert code == 1, output
    code, output = run(f"rollout advance {PLAN} --restart --yes")
    assert code == 0, output
    assert lifecycle()["phase"] == "in_stage"

    # a person restarted it and the data is healthy: green, and it stays green
    for _ in range(2):
        code, output = run(check_step)
        assert code == 0, output
        code, output = run(watch_step)
        assert code == 0, output
        assert lifecycle()["phase"] == "in_stage"
