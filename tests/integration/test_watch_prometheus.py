"""`rollout watch --auto --once` round after round against a real Prometheus, over the
scripted history of tests/watch_world.py (backfilled with the session's data): the rollout
advances through its stages on healthy data, stops at a pause, and rolls back within one
interval of a regression. The flag is the embedded flag file; the metrics are Prometheus's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rolloutcli.journal.store import read
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.timeutil import format_timestamp
from tests import watch_world
from tests.integration.cli_helpers import invoke, write_flag_file
from tests.integration.prometheus_data import WATCH_T0

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]


def timeline(root: Path, scenario: str, url: str, until: int) -> list[tuple[int, float, bool]]:
    flags = write_flag_file(root / "flags" / "flags.json", scenario)
    plan = root / "plans" / f"{scenario}.yaml"
    plan.parent.mkdir()
    plan.write_text(
        watch_world.plan_text(
            scenario, "../flags/flags.json", watch_world.prometheus_metrics(scenario, url)
        )
    )
    platform = FlagFilePlatform(flags, scenario)
    seen = []
    for minute in range(0, until + 1, watch_world.INTERVAL_MINUTES):
        at = format_timestamp(WATCH_T0 + timedelta(minutes=minute))
        code, output = invoke("watch", str(plan), "--auto", "--once", "--at", at)
        assert code in (0, 1), output
        state = platform.read_state(True, False)
        seen.append((minute, state.percent, state.paused is not None))
    return seen


def moves(seen: list[tuple[int, float, bool]]) -> list[tuple[int, float]]:
    out, last = [], 0.0
    for minute, percent, _ in seen:
        if percent != last:
            out.append((minute, percent))
            last = percent
    return out


def test_healthy_rollout_advances_through_every_stage(tmp_path: Path, prometheus_url: str) -> None:
    seen = timeline(tmp_path, "healthy", prometheus_url, 130)
    assert moves(seen) == [(0, 5), (30, 25), (60, 50), (90, 100)]
    assert not any(paused for *_, paused in seen)
    entries = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl").entries
    assert [e["event"] for e in entries] == ["advance"] * 4
    query = entries[1]["verdict"]["queries"][0]["requests"][0]["query"]
    assert 'flag="watch-healthy"' in query and "increase(" in query


def test_pause_verdict_stops_the_rollout(tmp_path: Path, prometheus_url: str) -> None:
    seen = timeline(tmp_path, "pause", prometheus_url, 90)
    assert moves(seen) == [(0, 5), (30, 25)]
    assert [minute for minute, _, paused in seen if paused] == [50, 60, 70, 80, 90]


def test_regression_rolls_back_within_one_interval(tmp_path: Path, prometheus_url: str) -> None:
    seen = timeline(tmp_path, "regression", prometheus_url, 70)
    # the regression began at +45m: the +50m round rolled back, and nothing restarted it
    assert moves(seen) == [(0, 5), (30, 25), (50, 0)]
    entries = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl").entries
    rollback = entries[-1]
    assert (rollback["event"], rollback["result"]) == ("rollback", "applied")
    finding = rollback["verdict"]["metrics"][0]
    assert finding["status"] == "rollback" and finding["p_value"] < 1e-6
