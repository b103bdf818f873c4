"""Shared by the lifecycle walks on the platforms (issue 17): a rollout walked through
start → a stage → pause → resume → rollback → restart → kill → unkill with the CLI,
asserting at each step what `status --json` (its lifecycle object), `check --json`
(verdict and reason codes, the same lifecycle object) and the `--fail-on` exit codes say,
and at the end what they say `--at` a moment between two steps (the earlier state,
replayed from the platform's history). It mirrors
tests/cli/test_lifecycle_walk.py, which walks the flag file; what differs between the
platforms is who each one records as the author and whether it keeps a pause's reason
(:class:`Authors`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import moment
from tests.integration.cli_helpers import STAGES_NOW, fresh_metrics, invoke, write_plan

PLAN = "walk"
KILL_REASON = "rolloutcli kill: flag turned off by on-call"  # what `rollout kill` writes


@dataclass(frozen=True)
class Authors:
    """What a platform records of who did what: ``pause_by`` and ``pause_reason`` (the
    pause mark), ``change_by`` (the author of a rollback or a kill in its history)."""

    pause_by: str
    pause_reason: str | None
    change_by: str


def run(*args: str) -> tuple[int, str]:
    """A command's exit code and its text output on one line (the console wraps it at
    widths that depend on names and times)."""
    code, output = invoke(*args)
    return code, " ".join(output.split())


def lifecycle() -> dict[str, Any]:
    """`status --json`'s lifecycle object."""
    code, output = invoke("status", PLAN, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)["lifecycle"]
    return found


def check() -> dict[str, Any]:
    """`check --json`, whose lifecycle object is the one `status --json` shows."""
    code, output = invoke("check", PLAN, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    assert found["lifecycle"] == lifecycle()  # the same object on both surfaces
    return found


def verdict() -> tuple[str, list[str]]:
    checked = check()
    return checked["verdict"], checked["reason_codes"]


def gates(*at: str) -> tuple[int, int, int]:
    """The exit codes of `--fail-on rollback`, `--fail-on-breach` and `--fail-on pause`
    (``--at`` a moment, when given)."""
    return (
        invoke("check", PLAN, "--fail-on", "rollback", *at)[0],
        invoke("check", PLAN, "--fail-on-breach", *at)[0],
        invoke("check", PLAN, "--fail-on", "pause", *at)[0],
    )


def replayed(at: str, command: str = "status") -> dict[str, Any]:
    """`status --json --at` (or `check`): the flag as it stood at ``at``."""
    code, output = invoke(command, PLAN, "--json", "--at", at)
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    return found


def walk(root: Path, flag: str, platform: str, authors: Authors) -> None:
    """Walk plan ``walk`` (stages 10/25/50/100%, no guardrails, no minimum duration) on
    ``flag``, a boolean flag that is off and not started on the platform the plan mapping
    ``platform`` names; the current directory is the workspace ``root``."""
    write_plan(root, PLAN, flag, platform, "{treatment: true, control: false}", STAGES_NOW)

    # not started: go, and every gate green
    assert lifecycle()["phase"] == "not_started"
    assert verdict() == ("go", ["not_started"])
    assert gates() == (0, 0, 0)

    # start: in stage 10%; go once its exposure counts are in
    code, output = invoke("advance", PLAN, "--yes")
    assert code == 0, output
    started = lifecycle()
    assert (started["phase"], started["stage"], started["stage_index"]) == ("in_stage", "10%", 0)
    assert started["at"] is not None and started["paused"] is None
    assert started["stopped"] is False
    fresh_metrics(root, flag, 10)
    assert verdict() == ("go", ["advance"])
    assert gates() == (0, 0, 0)

    # advance a stage: in stage 25%, which has just begun
    code, output = invoke("advance", PLAN, "--yes")
    assert code == 0, output
    stage = lifecycle()
    assert (stage["phase"], stage["stage"], stage["stage_index"]) == ("in_stage", "25%", 1)
    assert stage["at"] >= started["at"]
    assert verdict() == ("hold", ["exposures_unavailable"])
    assert gates() == (0, 0, 0)
    marks = [(moment(), stage, (0, 0, 0))]

    # pause: every surface says so; never go; --fail-on pause is red, rollback is not
    code, output = invoke("pause", PLAN, "-m", "launch freeze", "--yes")
    assert code == 0, output
    paused = lifecycle()
    assert (paused["phase"], paused["stage"], paused["by"], paused["reason"]) == (
        "paused",
        "25%",
        authors.pause_by,
        authors.pause_reason,
    )
    assert paused["at"] is not None and paused["stopped"] is False
    assert paused["paused"] == {
        "at": paused["at"],
        "by": authors.pause_by,
        "reason": authors.pause_reason,
    }
    assert verdict() == ("hold", ["paused"])
    assert gates() == (0, 0, 1)
    marks.append((moment(), paused, (0, 0, 1)))
    code, output = run("status", PLAN)
    assert "paused at stage 25%" in output and f"rollout resume {PLAN}" in output
    code, output = run("advance", PLAN, "--yes")
    assert code == 1 and "paused" in output

    # resume: back in stage 25%, which a resume does not restart
    code, output = invoke("resume", PLAN, "--yes")
    assert code == 0, output
    assert lifecycle() == stage
    assert gates() == (0, 0, 0)

    # rollback: holds (never go), says when, by whom, from where and why; every gate red
    code, output = invoke("rollback", PLAN, "-m", "p99 too high", "--yes")
    assert code == 0, output
    rolled = lifecycle()
    assert (rolled["phase"], rolled["reason"], rolled["from_stage"], rolled["from_percent"]) == (
        "rolled_back",
        "p99 too high",
        "25%",
        25,
    )
    assert (rolled["by"], rolled["stopped"], rolled["stage"]) == (authors.change_by, True, None)
    assert rolled["at"] is not None and rolled["at"] >= stage["at"]
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["rolled_back"])
    assert f"rollout advance {PLAN} --restart" in checked["reasons"][0]
    assert "p99 too high" in checked["reasons"][0]
    assert gates() == (1, 1, 1)
    marks.append((moment(), rolled, (1, 1, 1)))
    code, output = run("status", PLAN)
    assert "ROLLED BACK" in output and "not started" not in output
    code, output = run("advance", PLAN, "--yes")
    assert code == 1 and f"flag {flag} was rolled back" in output and "--restart" in output
    code, output = invoke("watch", PLAN, "--auto", "--once")
    assert lifecycle() == rolled  # watch --auto never restarts it

    # restart, deliberately: shows the rollback's reason; recorded as a restart
    code, output = run("advance", PLAN, "--restart", "--yes")
    assert code == 0, output
    assert "restart: rolled back from 25%" in output and "p99 too high" in output
    restarted = lifecycle()
    assert (restarted["phase"], restarted["stage"], restarted["stage_index"]) == (
        "in_stage",
        "10%",
        0,
    )
    assert restarted["at"] >= rolled["at"] and restarted["stopped"] is False
    assert gates() == (0, 0, 0)
    decisions = root / "plans" / ".rollout" / "decisions.jsonl"
    record = json.loads(decisions.read_text().splitlines()[-1])
    assert record["decision"]["action"] == "restart"
    assert record["decision"]["rolled_back"]["reason"] == "p99 too high"

    # kill: holds, says when and by whom; the gates stay red
    code, output = invoke("kill", PLAN, "--yes")
    assert code == 0, output
    killed = lifecycle()
    assert (killed["phase"], killed["from_stage"], killed["from_percent"]) == ("killed", "10%", 10)
    assert (killed["by"], killed["reason"], killed["stopped"]) == (
        authors.change_by,
        KILL_REASON,
        True,
    )
    assert killed["at"] is not None and killed["at"] >= restarted["at"]
    checked = check()
    assert (checked["verdict"], checked["reason_codes"]) == ("hold", ["flag_off"])
    assert "turn it back on" in checked["reasons"][0]
    assert gates() == (1, 1, 1)
    marks.append((moment(), killed, (1, 1, 1)))

    # a rollback on the killed flag says the flag is off; it stays killed, from stage 10%
    code, output = run("rollback", PLAN, "--yes")
    assert code == 0, output
    assert "still on" not in output and "the flag stays off (killed)" in output
    after = lifecycle()
    assert (after["phase"], after["from_stage"], after["from_percent"], after["at"]) == (
        "killed",
        "10%",
        10,
        killed["at"],
    )
    assert verdict() == ("hold", ["flag_off"])
    assert gates() == (1, 1, 1)

    # unkill: the flag is on again; the rollback made while it was off still stands
    code, output = run("unkill", PLAN, "-m", "fix deployed", "--yes")
    assert code == 0, output
    unkilled = lifecycle()
    assert (unkilled["phase"], unkilled["from_stage"], unkilled["stopped"]) == (
        "rolled_back",
        "10%",
        True,
    )
    assert verdict() == ("hold", ["rolled_back"])
    assert gates() == (1, 1, 1)
    code, output = run("advance", PLAN, "--restart", "--yes")
    assert code == 0, output
    assert lifecycle()["phase"] == "in_stage" and gates() == (0, 0, 0)

    # --at a moment between two steps: the earlier step's state, on every surface
    for at, then, codes in marks:
        shown = replayed(at)
        assert shown["lifecycle"] == then, at
        assert shown["replayed"]["at"] == at[:19] + "Z" and shown["replayed"]["changes_undone"]
        checked = replayed(at, "check")
        assert checked["lifecycle"] == then and checked["verdict"] == "hold"
        assert gates("--at", at) == codes
