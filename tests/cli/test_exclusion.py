"""issue 21: a plan's exclude: on the flag file, through the CLI: `status` shows it as read
back from the file, and when someone removes it by hand, `status` warns in one line and
`check` holds (the treatment may reach users who must always get the control)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import moment, read_flag
from tests.integration.cli_helpers import fresh_metrics, invoke, write_plan

STAGES = """  - {percent: 10, min_duration: 0}
  - {percent: 100, min_duration: 0}
"""


def started(workspace: Path) -> Path:
    """Plan `vip` on the example flag checkout-v2, excluding four keys, at 10%."""
    plan = write_plan(
        workspace,
        "vip",
        "checkout-v2",
        "{kind: flagfile, path: ../flags/flags.json}",
        "{treatment: true, control: false}",
        STAGES,
    )
    plan.write_text(plan.read_text() + "exclude: {keys: [vip-1, vip-2, vip-3, vip-4]}\n")
    flags = workspace / "flags" / "flags.json"
    doc = json.loads(flags.read_text())
    doc["flags"]["checkout-v2"].pop("targeting")  # not started: everyone on control
    doc["flags"]["checkout-v2"].pop("metadata", None)
    flags.write_text(json.dumps(doc))
    code, out = invoke("advance", "vip", "--yes")
    assert code == 0, out
    return flags


def test_status_shows_the_exclusion_read_back_from_the_flag(workspace: Path) -> None:
    started(workspace)
    code, out = invoke("status", "vip")
    assert code == 0
    assert "excluded         4 keys (vip-1, vip-2, vip-3, …): always the control" in out
    status = json.loads(invoke("status", "vip", "--json")[1])
    assert status["excluded"] == {"keys": ["vip-1", "vip-2", "vip-3", "vip-4"], "segment": None}
    assert status["exclusion_missing"] is None


def test_an_exclusion_removed_by_hand_warns_and_holds_until_a_rollback_writes_it_back(
    workspace: Path,
) -> None:
    flags = started(workspace)
    doc = json.loads(flags.read_text())
    targeting = doc["flags"]["checkout-v2"]["targeting"]
    doc["flags"]["checkout-v2"]["targeting"] = targeting["if"][2]  # the split alone
    flags.write_text(json.dumps(doc))
    fresh_metrics(workspace, "checkout-v2", 10)

    code, out = invoke("status", "vip")
    assert code == 0
    assert " ".join(out.split()).count("the flag lacks the plan's exclusion") == 1
    status = json.loads(invoke("status", "vip", "--json")[1])
    assert (status["excluded"], status["exclusion_missing"]) == (
        None,
        "4 excluded keys (vip-1, vip-2, vip-3, …)",
    )
    checked = json.loads(invoke("check", "vip", "--json")[1])
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["exclusion_missing"])

    code, out = invoke("rollback", "vip", "-m", "restore the exclusion", "--yes")
    assert code == 0, out
    assert read_flag(workspace, "checkout-v2")["targeting"]["if"][:2] == [
        {"in": [{"var": "targetingKey"}, ["vip-1", "vip-2", "vip-3", "vip-4"]]},
        "off",
    ]


def test_a_reduce_keeps_the_exclusion_on_the_flag(workspace: Path) -> None:
    """Every change writes the exclusion: a reduce that left it out would take it off."""
    started(workspace)
    moment()  # past the second the stage began in: the metrics below fall inside it
    fresh_metrics(workspace, "checkout-v2", 10)
    code, out = invoke("advance", "vip", "--yes")
    assert code == 0, out
    code, out = invoke("reduce", "vip", "--yes", "-m", "drift under investigation")
    assert code == 0, out
    status = json.loads(invoke("status", "vip", "--json")[1])
    assert status["percent"] == 10
    assert status["excluded"] == {"keys": ["vip-1", "vip-2", "vip-3", "vip-4"], "segment": None}
    assert status["exclusion_missing"] is None
