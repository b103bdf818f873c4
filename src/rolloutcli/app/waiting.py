"""`rollout wait` as a use case: poll a rollout until a condition holds or time runs out.

Each poll reads the platform; the metrics only when the condition is about the verdict
(``judge.waitfor``). Time is the caller's: ``clock`` and ``sleep`` are given, so the loop is
tested without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rolloutcli.app.standing import Standing, read_standing
from rolloutcli.judge.waitfor import Condition, Seen, holds
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import InvalidInputError

if TYPE_CHECKING:
    from rolloutcli.app.evaluate import Evaluation


@dataclass(frozen=True)
class Poll:
    """One reading: what was seen, and the standing (and evaluation) it came from."""

    seen: Seen
    standing: Standing
    evaluation: Evaluation | None = None


@dataclass(frozen=True)
class Waited:
    """How the wait ended: met or not, the last poll, how many polls it took."""

    met: bool
    last: Poll
    polls: int
    waited: timedelta


def wait_duration(text: str, option: str) -> timedelta:
    """``--timeout``/``--interval`` as a positive duration (exit 2 otherwise)."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option}: {exc}") from None
    if value.total_seconds() <= 0:
        raise InvalidInputError(f"{option} must be positive, e.g. 30s")
    return value


def poll(loaded: LoadedPlan, condition: Condition, now: datetime) -> Poll:
    """Read the rollout once: the platform, and the metrics when the verdict is needed."""
    if condition.needs_verdict:
        from rolloutcli.app.evaluate import evaluate

        evaluation = evaluate(loaded, now)
        standing = evaluation.standing
        return Poll(_seen(standing, evaluation.verdict.kind.value), standing, evaluation)
    standing = read_standing(loaded)
    return Poll(_seen(standing, None), standing)


def _seen(standing: Standing, verdict: str | None) -> Seen:
    index = standing.position.index
    plan = standing.loaded.plan
    return Seen(
        stage_index=index,
        stage=plan.stages[index].label if index is not None else None,
        phase=standing.lifecycle.phase.value,
        percent=standing.state.percent,
        verdict=verdict,
    )


def wait_for(
    loaded: LoadedPlan,
    condition: Condition,
    timeout: timedelta,
    interval: timedelta,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> Waited:
    """Poll every ``interval`` until ``condition`` holds (met) or ``timeout`` has passed
    since the first poll began (not met). The last poll is never later than the timeout:
    the sleep before it is cut short."""
    started = clock()
    deadline = started + timeout
    polls = 0
    while True:
        now = clock()
        last = poll(loaded, condition, now)
        polls += 1
        if holds(condition, last.seen):
            return Waited(True, last, polls, clock() - started)
        left = (deadline - clock()).total_seconds()
        if left <= 0:
            return Waited(False, last, polls, clock() - started)
        sleep(min(interval.total_seconds(), left))
