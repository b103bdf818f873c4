"""Shared by the policy tests on the platforms (issue 21): a plan whose automation window
is closed now and whose first stage has a checklist, on a platform. A person starts it
deliberately (`--outside-window`, every checklist item `--checked`, kept in the decision
record); outside the window `watch --auto --once` changes nothing and says why; in a freeze
a rollback verdict is still applied (only advancing and starting wait for the policy). It
mirrors the flag-file tests of tests/cli/test_policy_gates.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rolloutcli.plan.policy import DAYS
from tests.conftest import moment
from tests.integration.cli_helpers import invoke, write_plan

STAGES = """  - percent: 10
    min_duration: 0
    checklist: [no unresolved incidents]
  - {percent: 50, min_duration: 0}
  - {percent: 100, min_duration: 0}
"""
GUARDRAIL = """guardrails:
  - name: error_rate
    kind: ratio
    events: errors
    trials: requests
    direction: higher_is_worse
    thresholds: {warn: "+20%", pause: "+50%", rollback: "3x"}
statistics: {interval: 1s}
"""
INTERVALS = 5
"""The failing data spans this many one-second intervals: a rate test takes nothing as
evidence before 5 intervals with events (stats/quasi.py)."""


def write_metrics(root: Path, flag: str, treatment_errors: int, intervals: int = 1) -> None:
    """Per one-second interval, the last ``intervals`` of them: 1,000 treatment and 9,000
    control requests; control fails 1%, the treatment ``treatment_errors`` of its 1,000."""
    now = datetime.now(UTC)
    rows = []
    for back in range(intervals):
        at = (now - timedelta(seconds=back, milliseconds=50)).isoformat()
        rows.append(
            f"{at},treatment,requests,1000\n{at},treatment,errors,{treatment_errors}\n"
            f"{at},control,requests,9000\n{at},control,errors,90\n"
        )
    (root / "metrics" / f"{flag}.csv").write_text("time,cohort,metric,value\n" + "".join(rows))


def set_automation(plan: Path, automation: str) -> None:
    text = plan.read_text()
    text = text[: text.index("guardrails:")] if "guardrails:" in text else text
    plan.write_text(text + GUARDRAIL + "automation:\n" + automation)


def flat(output: str) -> str:
    return " ".join(output.split())


def policy_walk(root: Path, flag: str, platform: str, percent: Callable[[], float]) -> None:
    """Walk plan ``flag`` on ``flag``, a boolean flag that is off and not started on the
    platform the plan mapping ``platform`` names; ``percent()`` reads the treatment share
    from the platform itself. The current directory is the workspace ``root``."""
    plan = write_plan(root, flag, flag, platform, "{treatment: true, control: false}", STAGES)
    # a window on a day three days away, whole day: closed now, whatever the hour
    closed_day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    set_automation(plan, f"  start: auto\n  windows: [{{days: {closed_day}}}]\n")

    # the watcher may start it, but not outside its window
    code, output = invoke("watch", flag, "--auto", "--once")
    assert code == 0, output
    assert percent() == 0

    # a person starts it anyway, deliberately: the window and the checklist both named
    code, output = invoke("advance", flag, "--yes")
    assert code == 1 and "--yes needs --outside-window" in flat(output), output
    code, output = invoke("advance", flag, "--yes", "--outside-window")
    assert code == 1 and "--yes needs --checked no-unresolved-incidents" in flat(output), output
    assert percent() == 0
    code, output = invoke(
        "advance", flag, "--yes", "--outside-window", "--checked", "no-unresolved-incidents"
    )
    assert code == 0, output
    started = time.monotonic()  # the stage began: the failing data must fall inside it
    assert percent() == 10
    records = root / "plans" / ".rollout" / "decisions.jsonl"
    decision = json.loads(records.read_text().splitlines()[-1])["decision"]
    assert [(i["id"], i["answer"], i["by"]) for i in decision["checklist"]] == [
        ("no-unresolved-incidents", True, "ana")
    ]
    assert decision["window"]["override"] is True
    moment()  # the metrics below fall inside the new stage

    # healthy data, a go: outside the window the watcher only reports
    write_metrics(root, flag, treatment_errors=10)
    checked = json.loads(invoke("check", flag, "--json")[1])
    assert checked["verdict"] == "go"
    assert checked["automation"]["window"]["state"] == "closed"
    code, output = invoke("watch", flag, "--auto", "--once")
    assert code == 0, output
    assert f"… outside the automation window ({closed_day} 00:00-24:00 UTC)" in flat(output)
    assert percent() == 10

    # a freeze over now, and the treatment failing: the rollback acts all the same
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(days=1)).isoformat()
    set_automation(plan, f"  freeze: [{{from: '{start}', to: '{end}', reason: release}}]\n")
    time.sleep(max(0.0, INTERVALS + 0.2 - (time.monotonic() - started)))
    write_metrics(root, flag, treatment_errors=300, intervals=INTERVALS)
    code, output = invoke("watch", flag, "--auto", "--once")
    assert "rolled back 10% → 0%" in flat(output), output
    assert percent() == 0
