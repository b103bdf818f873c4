"""issue 21: a plan's requires: on the flag file, through the CLI. While the prerequisite
flag is missing, off or below its share, `check` holds with `prerequisite_unmet`, `advance`
refuses in one line naming the flag, `watch --auto` does not advance, and the first start
waits too; a rollback, a reduce and a pause act regardless. `status` and `check` (text,
JSON, markdown) show each prerequisite as read, and whether it is met."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from rolloutcli.cli.main import app
from tests.integration.cli_helpers import fresh_metrics, invoke, start_stage, write_plan

STAGES = """  - {percent: 10, min_duration: 0}
  - {percent: 50, min_duration: 0}
  - {percent: 100, min_duration: 0}
"""
CORE = "payments-core"


def flags_of(workspace: Path) -> Path:
    return workspace / "flags" / "flags.json"


def set_core(workspace: Path, percent: float | None, enabled: bool = True) -> None:
    """The prerequisite flag in the same file: at ``percent`` (None: absent from the file)."""
    flags = flags_of(workspace)
    doc = json.loads(flags.read_text())
    if percent is None:
        doc["flags"].pop(CORE, None)
        flags.write_text(json.dumps(doc))
        return
    doc["flags"][CORE] = {
        "state": "ENABLED" if enabled else "DISABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    flags.write_text(json.dumps(doc))
    if percent:
        start_stage(flags, CORE, percent, datetime.now(UTC) - timedelta(hours=1), "core")


def plan_requiring(workspace: Path, requires: str = f"[{{flag: {CORE}}}]") -> Path:
    """Plan `gated` on the example flag checkout-v2, not started, requiring ``requires``."""
    plan = write_plan(
        workspace,
        "gated",
        "checkout-v2",
        "{kind: flagfile, path: ../flags/flags.json}",
        "{treatment: true, control: false}",
        STAGES,
    )
    plan.write_text(plan.read_text() + f"requires: {requires}\n")
    doc = json.loads(flags_of(workspace).read_text())
    doc["flags"]["checkout-v2"].pop("targeting")  # not started: everyone on control
    doc["flags"]["checkout-v2"].pop("metadata", None)
    flags_of(workspace).write_text(json.dumps(doc))
    return plan


def percent_of(workspace: Path) -> float:
    return float(json.loads(invoke("status", "gated", "--json")[1])["percent"])


def one_line(out: str) -> str:
    return " ".join(out.split())


def test_the_first_start_waits_for_a_missing_prerequisite(workspace: Path) -> None:
    plan_requiring(workspace)
    checked = json.loads(invoke("check", "gated", "--json")[1])
    assert (checked["verdict"], checked["reason_codes"]) == (
        "hold",
        ["prerequisite_unmet", "not_started"],
    )
    assert checked["reasons"][0] == (
        "prerequisite payments-core cannot be read (no flag 'payments-core' in "
        "flags/flags.json), needs at least 100%: nothing advances until it does "
        "(rollback, reduce, pause and kill still act)"
    )
    assert checked["prerequisites"] == [
        {
            "flag": CORE,
            "variation": True,
            "at_least": 100.0,
            "needs": "at least 100%",
            "met": False,
            "state": "cannot be read (no flag 'payments-core' in flags/flags.json)",
            "found": False,
            "on": False,
            "percent": None,
            "problem": "no flag 'payments-core' in flags/flags.json",
        }
    ]
    result = CliRunner().invoke(app, ["advance", "gated", "--yes"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: flag checkout-v2 waits for its prerequisite payments-core: payments-core "
        "cannot be read (no flag 'payments-core' in flags/flags.json), needs at least "
        "100%; nothing was changed"
    )
    assert percent_of(workspace) == 0


def test_a_prerequisite_below_its_share_holds_check_and_advance_until_it_is_reached(
    workspace: Path,
) -> None:
    plan_requiring(workspace)
    set_core(workspace, 100)
    code, out = invoke("advance", "gated", "--yes")
    assert code == 0, out
    assert percent_of(workspace) == 10
    set_core(workspace, 50)
    # fresh_metrics stamps its row 50 ms ago: it must fall inside the 10% stage, which
    # began an instant ago (at the second the flag file keeps)
    time.sleep(0.1)
    fresh_metrics(workspace, "checkout-v2", 10)

    checked = json.loads(invoke("check", "gated", "--json")[1])
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["prerequisite_unmet"])
    assert checked["reasons"][0].startswith(
        "prerequisite payments-core is at 50%, needs at least 100%: nothing advances"
    )
    code, out = invoke("check", "gated")
    assert "prerequisite: payments-core at least 100%: not met (payments-core is at 50%)" in (
        one_line(out)
    )
    code, out = invoke("advance", "gated", "--yes")
    assert code == 1
    assert "flag checkout-v2 waits for its prerequisite payments-core: payments-core is at " in (
        one_line(out)
    )
    assert percent_of(workspace) == 10

    set_core(workspace, 100)
    code, out = invoke("advance", "gated", "--yes")
    assert code == 0, out
    assert percent_of(workspace) == 50, out  # what advance said, if it held


def test_an_off_prerequisite_is_unmet_whatever_its_split(workspace: Path) -> None:
    plan_requiring(workspace, f"[{{flag: {CORE}, at_least: 25%}}]")
    set_core(workspace, 100, enabled=False)
    status = json.loads(invoke("status", "gated", "--json")[1])
    assert [(p["met"], p["state"], p["on"], p["percent"]) for p in status["prerequisites"]] == [
        (False, "is off", False, 100.0)
    ]
    code, out = invoke("status", "gated")
    assert code == 0
    assert "requires payments-core at least 25%: not met (payments-core is off)" in one_line(out)
    set_core(workspace, 30)
    status = json.loads(invoke("status", "gated", "--json")[1])
    assert [(p["met"], p["state"]) for p in status["prerequisites"]] == [(True, "is at 30%")]
    assert status["platform_prerequisites"] == []


def test_rollback_reduce_and_pause_act_while_a_prerequisite_is_unmet(workspace: Path) -> None:
    plan_requiring(workspace)
    start_stage(flags_of(workspace), "checkout-v2", 50, datetime.now(UTC), "gated")
    assert percent_of(workspace) == 50
    code, out = invoke("reduce", "gated", "--yes", "-m", "drift under investigation")
    assert code == 0, out
    assert percent_of(workspace) == 10
    code, out = invoke("rollback", "gated", "--yes", "-m", "payments-core is gone")
    assert code == 0, out
    assert percent_of(workspace) == 0
    code, out = invoke("pause", "gated", "--yes", "-m", "waiting for payments-core")
    assert code == 0, out
    assert json.loads(invoke("status", "gated", "--json")[1])["lifecycle"]["phase"] in (
        "paused",
        "rolled_back",
    )


def test_watch_auto_does_not_advance_while_a_prerequisite_is_unmet(workspace: Path) -> None:
    plan_requiring(workspace)
    set_core(workspace, 100)
    assert invoke("advance", "gated", "--yes")[0] == 0
    set_core(workspace, 50)
    fresh_metrics(workspace, "checkout-v2", 10)
    code, out = invoke("watch", "gated", "--auto", "--once")
    assert code == 0, out
    assert "prerequisite payments-core is at 50%" in one_line(out)
    assert percent_of(workspace) == 10
    set_core(workspace, 100)
    fresh_metrics(workspace, "checkout-v2", 10)
    code, out = invoke("watch", "gated", "--auto", "--once")
    assert code == 0, out
    assert percent_of(workspace) == 50


def test_the_markdown_report_lists_each_prerequisite(workspace: Path) -> None:
    plan_requiring(workspace, f"[{{flag: {CORE}, at_least: 50%}}, {{flag: model-gate}}]")
    set_core(workspace, 50)
    code, out = invoke("check", "gated", "--output", "markdown")
    assert code == 0, out
    assert "prerequisite: payments-core at least 50%: met (payments-core is at 50%)" in out
    assert (
        "prerequisite: model-gate at least 100%: **not met** (model-gate cannot be read "
        "(no flag 'model-gate' in flags/flags.json))"
    ) in out
