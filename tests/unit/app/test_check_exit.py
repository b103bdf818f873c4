"""`rollout check`'s exit code (app/check.py): a plan's error keeps its own code, else
--fail-on's tier on the typed verdicts (hand-built here: only the verdict's kind and each
finding's status matter)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rolloutcli.app.check import Checked, exit_code, fails
from rolloutcli.support.errors import BackendError, PlanError


def evaluation(verdict: str, *statuses: str, phase: str = "in_stage") -> Any:
    findings = [SimpleNamespace(status=status) for status in statuses]
    kind = SimpleNamespace(value=verdict)
    lifecycle = SimpleNamespace(phase=SimpleNamespace(value=phase))
    return SimpleNamespace(
        verdict=SimpleNamespace(kind=kind, findings=findings),
        standing=SimpleNamespace(lifecycle=lifecycle),
    )


@pytest.mark.parametrize(
    ("evaluations", "warn", "pause", "rollback"),
    [
        ([evaluation("go", "ok", "no_data")], False, False, False),
        ([evaluation("hold", "no_data")], False, False, False),
        ([evaluation("done")], False, False, False),
        ([evaluation("go", "ok", "warn")], True, False, False),
        ([evaluation("hold", "warn")], True, False, False),
        ([evaluation("pause", "pause", "warn")], True, True, False),
        ([evaluation("rollback", "rollback")], True, True, True),
        ([evaluation("go"), evaluation("rollback", "rollback")], True, True, True),
        ([], False, False, False),
        # the lifecycle keeps the gate red while a person must act (issue 17)
        ([evaluation("hold", phase="paused")], True, True, False),
        ([evaluation("hold", phase="rolled_back")], True, True, True),
        ([evaluation("hold", phase="killed")], True, True, True),
    ],
)
def test_fails_per_tier(evaluations: list[Any], warn: bool, pause: bool, rollback: bool) -> None:
    assert fails(evaluations, "warn") is warn
    assert fails(evaluations, "pause") is pause
    assert fails(evaluations, "rollback") is rollback


def test_fails_rejects_an_unknown_tier() -> None:
    with pytest.raises(ValueError, match="unknown tier 'hold'"):
        fails([], "hold")


def checked(*outcomes: Any) -> list[Checked]:
    return [Checked(f"plan-{i}", None, outcome) for i, outcome in enumerate(outcomes)]


def test_errors_keep_their_own_exit_codes() -> None:
    broken = checked(evaluation("rollback", "rollback"), PlanError(["p.yaml:1: bad"]))
    assert exit_code(broken, "rollback", True) == 2  # the error wins over the tier
    unreachable = checked(PlanError(["p.yaml:1: bad"]), BackendError("prometheus", "down"))
    assert exit_code(unreachable, None, False) == 3  # the worst of them


@pytest.mark.parametrize(
    ("fail_on", "fail_on_breach", "code"),
    [(None, False, 0), ("warn", False, 1), ("pause", False, 1), ("rollback", False, 0)],
)
def test_fail_on_picks_the_tier(fail_on: str | None, fail_on_breach: bool, code: int) -> None:
    assert exit_code(checked(evaluation("pause", "pause")), fail_on, fail_on_breach) == code


def test_fail_on_breach_is_fail_on_rollback() -> None:
    assert exit_code(checked(evaluation("rollback", "rollback")), None, True) == 1
    assert exit_code(checked(evaluation("pause", "pause")), None, True) == 0
