"""Many plans' platform reads run at once, bounded by the concurrency, in the plans' order.

Each real flag-file read first waits at a barrier that opens only when ``parties`` reads are
in flight together: reads made one after another would never open it (the barrier's timeout
is only a safety net that turns a hang into a failure, never a measured time). A plan's
failure is injected by replacing the platform read for that one plan, as a bug would act.
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rolloutcli.app import evaluate
from rolloutcli.app.evaluate import Evaluation, evaluate_many, prepare_many
from rolloutcli.app.standing import read_standing
from rolloutcli.plan.model import LoadedPlan, load_plan
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.render.contract import check_json
from rolloutcli.support.errors import BackendError, RolloutError

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SAFETY = 30.0  # seconds before a barrier gives up: only a hang guard


def copies(root: Path, n: int) -> list[LoadedPlan]:
    """``n`` copies of the example checkout-v2 plan (same flag file), named p00, p01, ..."""
    source = root / "plans" / "checkout-v2.yaml"
    paths = [root / "plans" / f"p{i:02d}.yaml" for i in range(n)]
    for path in paths:
        shutil.copyfile(source, path)
    return [load_plan(path) for path in paths]


class Gate:
    """Counts reads in flight; each waits until ``parties`` are in flight together."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=SAFETY)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = FlagFilePlatform.read
        gate = self

        def read(platform: FlagFilePlatform, *args: Any) -> Any:
            with gate.lock:
                gate.in_flight += 1
                gate.peak = max(gate.peak, gate.in_flight)
            try:
                gate.barrier.wait()
                return real(platform, *args)
            finally:
                with gate.lock:
                    gate.in_flight -= 1

        monkeypatch.setattr(FlagFilePlatform, "read", read)


def test_reads_overlap_up_to_the_concurrency(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = copies(workspace, 8)
    gate = Gate(parties=4)
    gate.install(monkeypatch)
    prepared = prepare_many(plans, NOW, limit=4)
    assert [p.standing.loaded.name for p in prepared if not isinstance(p, RolloutError)] == [
        f"p{i:02d}" for i in range(8)
    ]
    assert gate.peak == 4  # 4 at once opened every barrier; never more than the limit


def test_evaluate_many_reads_every_plan_at_once_and_keeps_the_order(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = copies(workspace, 5)
    gate = Gate(parties=5)
    gate.install(monkeypatch)
    results = evaluate_many(plans, NOW, limit=16)
    assert [r.standing.loaded.name for r in results if isinstance(r, Evaluation)] == [
        "p00",
        "p01",
        "p02",
        "p03",
        "p04",
    ]
    assert gate.peak == 5


def test_one_plans_failed_read_is_its_own(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plans = copies(workspace, 3)

    def read(loaded: LoadedPlan, at: datetime | None = None) -> Any:
        if loaded.name == "p01":
            raise BackendError("flagfile", "flag file flags/flags.json not found")
        return read_standing(loaded, at)

    monkeypatch.setattr(evaluate, "read_standing", read)
    results = evaluate_many(plans, NOW, limit=3)
    assert isinstance(results[0], Evaluation) and isinstance(results[2], Evaluation)
    assert isinstance(results[1], BackendError)
    assert str(results[1]) == "flagfile: flag file flags/flags.json not found"


def test_one_plans_bug_while_reading_is_an_internal_error_of_that_plan(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROLLOUT_DEBUG", raising=False)
    plans = copies(workspace, 3)

    def read(loaded: LoadedPlan, at: datetime | None = None) -> Any:
        if loaded.name == "p02":
            raise ZeroDivisionError("division by zero")
        return read_standing(loaded, at)

    monkeypatch.setattr(evaluate, "read_standing", read)
    results = prepare_many(plans, NOW, limit=3)
    assert not isinstance(results[0], RolloutError)
    assert not isinstance(results[1], RolloutError)
    assert str(results[2]) == (
        "internal error while reading plan p02: ZeroDivisionError: division by zero "
        "(a bug: please report it; ROLLOUT_DEBUG=1 shows the traceback)"
    )


def test_with_rollout_debug_a_bug_while_reading_raises(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLOUT_DEBUG", "1")
    plans = copies(workspace, 2)

    def read(platform: FlagFilePlatform, *args: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(FlagFilePlatform, "read", read)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        prepare_many(plans, NOW, limit=2)


def test_plans_on_their_own_way_decide_as_one_after_another_does(workspace: Path) -> None:
    """Each plan read, queried and decided as soon as it can (many workers) gives the
    verdicts, documents and order that one plan after another gives."""
    every = [load_plan(path) for path in sorted((workspace / "plans").glob("*.yaml"))]
    plans = [p for p in every if p.plan.platform.kind == "flagfile"] * 3  # no network
    assert len(plans) >= 9
    alone = evaluate_many(plans, NOW, limit=1)
    together = evaluate_many(plans, NOW, limit=8)
    assert [document(r) for r in together] == [document(r) for r in alone]
    assert all(isinstance(r, Evaluation) for r in together)


def document(result: Evaluation | RolloutError) -> Any:
    return check_json(result) if isinstance(result, Evaluation) else str(result)
