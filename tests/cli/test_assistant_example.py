"""The shipped example of issue 21, plans/assistant-model.yaml: a model v2.3 → v2.4 rollout
with a VIP block list, a prerequisite, a confidence-threshold knob on the false-positive
rate and an accuracy criterion in percentage points. Read at the moment its data describes
(2026-11-04T10:05Z, two hours into its 10% stage) it is a `go`; with the prerequisite off
it holds; with the false-positive rate past its 10% ceiling the pause tier raises the knob
0.7 → 0.8 instead of pausing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rolloutcli.app.demo import write_workspace
from rolloutcli.cli.main import app

PLAN = "assistant-model"
AT = "2026-11-04T10:05Z"
runner = CliRunner()


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_workspace(tmp_path / "ws")
    monkeypatch.chdir(root)
    return root


def check() -> dict[str, Any]:
    result = runner.invoke(app, ["check", PLAN, "--at", AT, "--json"])
    assert result.exit_code in (0, 1), result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_the_example_goes_with_its_controls_shown(example: Path) -> None:
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("go", ["advance"])
    assert [(k["name"], k["value"]) for k in checked["knobs"]] == [("min_confidence", 0.7)]
    assert [(p["flag"], p["met"]) for p in checked["prerequisites"]] == [
        ("assistant-retrieval-index", True)
    ]
    success = checked["success"][0]
    assert (success["metric"], success["met"]) == ("accuracy", True)
    result = runner.invoke(app, ["status", PLAN, "--at", AT, "--json"])
    assert json.loads(result.stdout)["excluded"] == {
        "keys": ["vip-acme", "vip-globex"],
        "segment": None,
    }


def test_the_example_holds_while_its_prerequisite_is_off(example: Path) -> None:
    flags = example / "flags" / "flags.json"
    doc = json.loads(flags.read_text())
    doc["flags"]["assistant-retrieval-index"]["defaultVariant"] = "off"
    flags.write_text(json.dumps(doc))
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["prerequisite_unmet"])


def test_a_false_positive_rate_past_its_ceiling_raises_the_threshold(example: Path) -> None:
    csv = example / "metrics" / "assistant-model.csv"
    rows = csv.read_text().splitlines()
    suggestions: dict[str, str] = {}
    out = [rows[0]]
    for row in rows[1:]:
        at, cohort, metric, value = row.split(",")
        if metric == "suggestions":
            suggestions[at + cohort] = value
        if metric == "false_positives" and cohort == "v2.4":
            value = str(round(int(suggestions[at + cohort]) * 0.12))  # 12%: past 10%, under 3x
        out.append(",".join((at, cohort, metric, value)))
    csv.write_text("\n".join(out) + "\n")
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("pause", ["breach", "knob"])
    assert "raise min_confidence 0.7 -> 0.8 (false_positive_rate breached pause < 10%)" in (
        " ".join(checked["reasons"])
    )
