"""`rollout watch --auto --once`, run round after round over a scripted metrics history on the
embedded default (flag file + metrics file): the rollout advances on healthy data, stops at
a pause, and rolls back within one interval of a regression. See tests/watch_world.py."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rolloutcli.journal.store import read
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.timeutil import format_timestamp
from tests import watch_world
from tests.integration.cli_helpers import invoke, write_flag_file
from tests.integration.webhook_receiver import WebhookReceiver

T0 = watch_world.utc("2026-11-02T10:00:00")


class FileWorld:
    """The world of one scenario, written to a metrics CSV as time passes; traffic follows
    the flag file's live split."""

    def __init__(self, root: Path, scenario: str, hook: str = "") -> None:
        self.root = root
        self.scenario = scenario
        self.flags = write_flag_file(root / "flags" / "flags.json", scenario)
        (root / "metrics").mkdir(exist_ok=True)
        self.csv = root / "metrics" / f"{scenario}.csv"
        self.csv.write_text("time,cohort,metric,value\n")
        (root / "plans").mkdir(exist_ok=True)
        self.plan = root / "plans" / f"{scenario}.yaml"
        metrics = (
            f"  source: {{kind: file, path: ../metrics/{scenario}.csv}}\n  exposures: requests"
        )
        self.plan.write_text(
            watch_world.plan_text(scenario, "../flags/flags.json", metrics, hook=hook)
        )
        self.platform = FlagFilePlatform(self.flags, scenario)
        self.rng = np.random.default_rng(11)
        self.written_to = 0  # minutes since T0 written so far

    def percent(self) -> float:
        state = self.platform.read_state(True, False)
        return state.percent if state.on else 0.0

    def advance_to(self, minute: int) -> None:
        """Traffic for [written_to, minute) at the live split (it only changes at rounds)."""
        percent = self.percent()
        rows = []
        for m in range(self.written_to, minute):
            at = format_timestamp(T0 + timedelta(minutes=m))
            counts = watch_world.minute_counts(self.scenario, m, percent, self.rng)
            for cohort, (requests, errors) in counts.items():
                rows.append(f"{at},{cohort},requests,{requests}\n")
                rows.append(f"{at},{cohort},errors,{errors}\n")
        with self.csv.open("a") as out:
            out.writelines(rows)
        self.written_to = minute

    def round(self, minute: int) -> tuple[int, str]:
        self.advance_to(minute)
        at = format_timestamp(T0 + timedelta(minutes=minute))
        return invoke(
            "watch",
            str(self.plan),
            "--auto",
            "--once",
            "--at",
            at,
        )


def run(world: FileWorld, until: int) -> list[tuple[int, float, bool, int]]:
    """Rounds every 10 minutes from T0: (minute, percent after, paused after, exit code)."""
    timeline = []
    for minute in range(0, until + 1, watch_world.INTERVAL_MINUTES):
        code, output = world.round(minute)
        assert code in (0, 1), output
        state = world.platform.read_state(True, False)
        timeline.append((minute, state.percent, state.paused is not None, code))
    return timeline


def changes(timeline: list[tuple[int, float, bool, int]]) -> list[tuple[int, float]]:
    seen: list[tuple[int, float]] = []
    last = 0.0
    for minute, percent, _, _ in timeline:
        if percent != last:
            seen.append((minute, percent))
            last = percent
    return seen


def test_healthy_rollout_advances_one_stage_per_window_to_done(tmp_path: Path) -> None:
    world = FileWorld(tmp_path, "healthy")
    timeline = run(world, 150)
    assert changes(timeline) == [(0, 5), (30, 25), (60, 50), (90, 100)]
    assert not any(paused for _, _, paused, _ in timeline)
    # the last window elapsed: done, and nothing more is changed
    code, output = world.round(160)
    assert code == 0
    assert "verdict DONE" in output
    history = world.platform.history()
    assert [h.action for h in history] == ["advance"] * 4
    assert [h.at for h in history] == [T0 + timedelta(minutes=m) for m in (0, 30, 60, 90)]
    log = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl")
    assert log.skipped == []
    assert [(e["event"], e["result"], e["after"]["percent"]) for e in log.entries] == [
        ("advance", "applied", 5),
        ("advance", "applied", 25),
        ("advance", "applied", 50),
        ("advance", "applied", 100),
    ]


def test_pause_verdict_stops_the_rollout_until_resumed(tmp_path: Path) -> None:
    world = FileWorld(tmp_path, "pause")
    timeline = run(world, 90)
    assert changes(timeline) == [(0, 5), (30, 25)]
    paused_at = next(minute for minute, _, paused, _ in timeline if paused)
    assert paused_at == 50
    # it stays at 25% and paused though the 25% stage's window elapsed at +60m
    assert all(percent == 25 for minute, percent, _, _ in timeline if minute >= 30)
    assert all(paused for minute, _, paused, _ in timeline if minute >= 50)
    state = world.platform.read_state(True, False)
    assert state.paused is not None and state.paused.by is not None
    assert state.paused.reason is not None and "pause verdict" in state.paused.reason
    assert [h.action for h in world.platform.history()] == ["advance", "advance", "pause"]
    log = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl").entries
    pause = log[-1]
    assert (pause["event"], pause["result"]) == ("pause", "applied")
    assert pause["verdict"]["verdict"] == "pause"
    assert pause["before"]["phase"] == "in_stage" and pause["after"] is None
    metric = pause["verdict"]["metrics"][0]
    assert metric["name"] == "error_rate" and metric["status"] == "pause"
    assert metric["threshold"] and metric["treatment"] > metric["control"]
    assert pause["verdict"]["queries"], "the record keeps every resolved query"


def test_regression_rolls_back_within_one_interval_and_stays_down(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        hook = (
            "notifications:\n  webhooks:\n"
            f"    - {{format: json, url: {receiver.url_for('/events')}}}\n"
            f"    - {{format: slack, url: {receiver.url_for('/slack')}}}\n"
        )
        world = FileWorld(tmp_path, "regression", hook=hook)
        timeline = run(world, 80)
        received = receiver.wait_for(2)
    assert changes(timeline) == [(0, 5), (30, 25), (50, 0)]
    # the regression began at +45m; the round at +50m rolled back (exit 1: a breach)
    assert [code for minute, *_, code in timeline if minute == 50] == [1]
    assert world.platform.read_state(True, False).on, "a rollback leaves the flag on"
    # never restarted automatically after the rollback
    assert all(percent == 0 for minute, percent, _, _ in timeline if minute >= 50)
    events = {r.path: r.json() for r in received}
    assert events["/events"]["kind"] == "rollback"
    assert events["/events"]["percent_before"] == 25 and events["/events"]["percent_after"] == 0
    assert (events["/events"]["phase_before"], events["/events"]["phase_after"]) == (
        "in_stage",
        "rolled_back",
    )
    assert "rolled back" in events["/slack"]["text"]
    code, output = invoke("history", str(world.plan), "--json")
    assert code == 0
    entries = json.loads(output)
    top = entries[0]
    assert top["event"] == "rollback"
    # the tool's record and the platform's own entry of each change, paired on one line
    assert [(e["event"], e["source"]) for e in entries] == [
        ("rollback", "record+platform"),
        ("advance", "record+platform"),
        ("advance", "record+platform"),
    ]
    assert top["record"]["verdict"]["verdict"] == "rollback"
    assert (top["record"]["before"]["phase"], top["record"]["after"]["phase"]) == (
        "in_stage",
        "rolled_back",
    )
    assert top["lifecycle"] == "rolled_back"
    times = [e["at"] for e in entries]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("action", ["kill", "pause"])
def test_a_person_overrides_watch(tmp_path: Path, action: str) -> None:
    """A kill (flag off) or a pause stops automatic advancing; watch never undoes them."""
    world = FileWorld(tmp_path, "healthy")
    run(world, 20)
    assert world.percent() == 5
    args = [action, str(world.plan), "--yes"]
    code, output = invoke(*args)
    assert code == 0, output
    for minute in (30, 40, 60):
        code, output = world.round(minute)
        assert code == 0, output
    state = world.platform.read_state(True, False)
    if action == "kill":
        assert not state.on
        assert "the flag is off" in output or "OFF" in output
    else:
        assert state.on and state.percent == 5 and state.paused is not None
        assert "paused" in output
        code, output = invoke("resume", str(world.plan), "--yes")
        assert code == 0, output
        code, output = world.round(70)
        assert code == 0, output
        assert world.percent() == 25


def test_report_only_changes_nothing(tmp_path: Path) -> None:
    world = FileWorld(tmp_path, "healthy")
    before = world.flags.read_bytes()
    world.advance_to(0)
    code, output = invoke("watch", str(world.plan), "--once", "--at", format_timestamp(T0))
    assert code == 0, output
    assert "verdict GO" in output
    assert world.flags.read_bytes() == before
    assert not (tmp_path / "plans" / ".rollout").exists()


def test_history_reads_past_a_write_cut_off_by_a_crash(tmp_path: Path) -> None:
    """A writer killed mid-record (see tests/integration/test_records_kill9.py for real
    kill -9s) leaves a fragment; the next record starts on a fresh line and `history`
    shows every intact record, warning about the fragment's line."""
    world = FileWorld(tmp_path, "healthy")
    run(world, 30)
    log = tmp_path / "plans" / ".rollout" / "decisions.jsonl"
    whole = log.read_bytes().splitlines()[-1]
    with log.open("ab") as out:
        out.write(whole[: len(whole) // 2])  # what a killed writer leaves
    world.round(60)
    result = runner_with_stderr("history", str(world.plan), "--json")
    assert result.exit_code == 0
    entries = json.loads(result.stdout)
    assert [e["event"] for e in entries if e["source"] != "platform"] == ["advance"] * 3
    assert "1 unreadable line(s) skipped (line 3)" in result.stderr


def runner_with_stderr(*args: str) -> Any:
    from typer.testing import CliRunner

    from rolloutcli.cli.main import app

    return CliRunner().invoke(app, list(args))
