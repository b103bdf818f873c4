"""What `rollout wait PLAN --for KEY=VALUE` waits for, and whether a reading meets it (pure).

Three kinds of condition:

- ``stage=S``: the rollout is at stage S or a later one, and not killed or rolled back. S
  is a stage's name or its percentage (``25`` or ``25%``); a plan with no such stage is an
  error (exit 2). "Or a later one": a pipeline that polls must not miss a stage the
  rollout has already passed.
- ``verdict=V``: the check's verdict is V (``go``, ``hold``, ``pause``, ``rollback``,
  ``done``); the only condition that reads the metrics.
- ``lifecycle=P``: the rollout's lifecycle phase is P (``not_started``, ``in_stage``,
  ``paused``, ``rolled_back``, ``killed``, ``done``, ``off_plan``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rolloutcli.judge.lifecycle import Phase
from rolloutcli.judge.verdict import VerdictKind
from rolloutcli.plan.model import Plan
from rolloutcli.support.errors import InvalidInputError

KEYS = ("stage", "verdict", "lifecycle")
FORMS = "stage=NAME|PERCENT, verdict=go|hold|pause|rollback|done or lifecycle=PHASE"


@dataclass(frozen=True)
class Condition:
    """One ``--for``: its key, the value as given, and for a stage its index in the plan."""

    key: str
    value: str
    stage_index: int | None = None

    @property
    def needs_verdict(self) -> bool:
        """Only a verdict needs the metrics read; the others need only the platform."""
        return self.key == "verdict"

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class Seen:
    """What one poll read: the live stage's index (None when the split matches no stage),
    its label, the lifecycle phase and, when read, the verdict."""

    stage_index: int | None
    stage: str | None
    phase: str
    percent: float
    verdict: str | None = None

    def __str__(self) -> str:
        stage = f"stage {self.stage}" if self.stage is not None else "no stage"
        text = f"{stage} at {self.percent:g}%, lifecycle {self.phase}"
        return text + (f", verdict {self.verdict}" if self.verdict is not None else "")


def parse_condition(text: str, plan: Plan) -> Condition:
    """``stage=25`` and friends, checked against ``plan``; InvalidInputError (exit 2) naming
    what is accepted."""
    key, sep, raw = text.partition("=")
    key, value = key.strip().lower(), raw.strip()
    if not sep or key not in KEYS or not value:
        raise InvalidInputError(f"--for {text!r} is not a condition: use {FORMS}")
    if key == "verdict":
        return Condition(key, _choice(value, [kind.value for kind in VerdictKind], text))
    if key == "lifecycle":
        return Condition(key, _choice(value, [phase.value for phase in Phase], text))
    return Condition(key, value, _stage_index(value, plan, text))


def _choice(value: str, allowed: list[str], text: str) -> str:
    chosen = value.lower()
    if chosen not in allowed:
        raise InvalidInputError(f"--for {text!r}: {value!r} is not one of {', '.join(allowed)}")
    return chosen


def _stage_index(value: str, plan: Plan, text: str) -> int:
    """The stage ``value`` names: by name first, else by percentage (``25`` or ``25%``)."""
    for index, stage in enumerate(plan.stages):
        if stage.name is not None and stage.name == value:
            return index
    number = value[:-1] if value.endswith("%") else value
    try:
        percent = float(number)
    except ValueError:
        percent = None
    if percent is not None:
        for index, stage in enumerate(plan.stages):
            if abs(stage.percent - percent) < 1e-9:
                return index
    stages = ", ".join(stage.label for stage in plan.stages)
    raise InvalidInputError(
        f"--for {text!r}: the plan has no stage {value!r}; its stages: {stages}"
    )


def holds(condition: Condition, seen: Seen) -> bool:
    """Whether ``seen`` meets ``condition``."""
    if condition.key == "stage":
        assert condition.stage_index is not None  # set by parse_condition
        stopped = seen.phase in (Phase.KILLED, Phase.ROLLED_BACK)
        return (
            not stopped
            and seen.stage_index is not None
            and seen.stage_index >= condition.stage_index
        )
    if condition.key == "verdict":
        return seen.verdict == condition.value
    return seen.phase == condition.value
