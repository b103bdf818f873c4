"""Where a rollout stands, read from its platform, and the changes the tool makes to it.

No metrics and no statistics: `status`, `pause`, `resume` and the change half of `advance`
and `rollback` need only this.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rolloutcli.judge.flagstate import (
    ChangeRecord,
    FlagShare,
    FlagState,
    KnobReading,
    RolloutChange,
)
from rolloutcli.judge.lifecycle import ROLLBACK_NOTE, Lifecycle, derive
from rolloutcli.judge.position import Position, exclusion_for, locate
from rolloutcli.judge.prerequisites import PrerequisiteCheck, check_prerequisites
from rolloutcli.judge.replay import Replayed, Unreplayable, replay
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.platforms import open_platform
from rolloutcli.platforms.base import (
    EvaluatesOffline,
    Platform,
    ReadsOtherFlags,
    TunesKnobs,
    ValidatesChanges,
)
from rolloutcli.support.errors import BackendError, InvalidInputError, RolloutError
from rolloutcli.support.timeutil import format_timestamp


@dataclass(frozen=True)
class Standing:
    """Where a rollout stands: the platform, its live state, the matching plan stage (with
    when it began), and the platform's change history as read with the state."""

    loaded: LoadedPlan
    platform: Platform
    state: FlagState
    position: Position
    history: tuple[ChangeRecord, ...] = ()
    replayed: Replayed | None = None
    """Set when the state is the flag as it stood at an earlier time (``--at``)."""
    knobs: Mapping[str, KnobReading] = field(default_factory=dict)
    """The plan's knobs as the platform serves them now, by knob name (issue 21)."""

    @functools.cached_property
    def lifecycle(self) -> Lifecycle:
        """Where the rollout is in its life (``judge.lifecycle``), from this one reading."""
        return derive(self.loaded.plan, self.state, self.history, self.position)

    @functools.cached_property
    def prerequisites(self) -> tuple[PrerequisiteCheck, ...]:
        """The plan's ``requires:``, each flag read from the platform now (on first use:
        a rollback, pause or kill never reads them) and judged against its share. With
        ``--at`` too they are read as they are now: the platforms keep no history of them
        that rolloutcli reads."""
        plan = self.loaded.plan
        if not plan.requires:
            return ()
        shares = {
            item.flag: read_share(self.platform, item.flag, item.variation)
            for item in plan.requires
        }
        return check_prerequisites(plan, shares)


def read_share(platform: Platform, flag: str, variation: object) -> FlagShare:
    """Another flag as the platform serves it; one that cannot be read is a share with a
    problem (the verdict holds on it), never an error."""
    if not isinstance(platform, ReadsOtherFlags):
        return FlagShare(flag, variation, False, problem=f"{platform.name} cannot read it")
    try:
        return platform.read_share(flag, variation)
    except BackendError as exc:
        return FlagShare(flag, variation, False, problem=str(exc))


def read_standing(loaded: LoadedPlan, at: datetime | None = None) -> Standing:
    """Read the flag's state and its history, once: everything the round needs from the
    platform before it writes (the stage start, the rollout's start, the last change).

    ``at``: the flag as it stood then, replayed from the history (``status``/``check
    --at``); InvalidInputError (exit 2) when the history cannot say."""
    plan = loaded.plan
    platform = open_platform(plan.platform, plan.flag, loaded.base_dir, loaded.name)
    reading = platform.read(plan.variations.treatment, plan.variations.control)
    knobs = read_knobs(loaded, platform)
    if at is None:
        position = locate(plan, reading.state, reading.history, knobs.values())
        return Standing(loaded, platform, reading.state, position, reading.history, knobs=knobs)
    found = replay(plan, reading.state, reading.history, at, reading.reaches_back_to)
    if isinstance(found, Unreplayable):
        raise InvalidInputError(
            f"--at {format_timestamp(at)}: flag {plan.flag} on {platform.name} cannot be "
            f"replayed: {found.why}; give a later --at, or none"
        )
    earlier = [k for k in knobs.values() if k.since is not None and k.since <= at]
    position = locate(plan, found.state, found.history, earlier)
    return Standing(loaded, platform, found.state, position, found.history, found, knobs)


def read_knobs(loaded: LoadedPlan, platform: Platform) -> dict[str, KnobReading]:
    """Each of the plan's knobs as served now. A knob that cannot be read is a reading
    without a value that says why: a rollback or a pause must not fail on a knob, and a
    knob tier then pauses plainly (``judge.knobs``)."""
    knobs = loaded.plan.knobs
    if not knobs:
        return {}
    if not isinstance(platform, TunesKnobs):
        return {
            k.name: KnobReading(k.flag, None, note=f"{platform.name} has no knobs") for k in knobs
        }
    found: dict[str, KnobReading] = {}
    for knob in knobs:
        try:
            found[knob.name] = platform.read_knob(knob.flag)
        except RolloutError as exc:
            found[knob.name] = KnobReading(knob.flag, None, note=str(exc))
    return found


def lifecycle_after(
    standing: Standing, after: FlagState, action: str, at: datetime, comment: str = ""
) -> Lifecycle:
    """The rollout's lifecycle once a change the tool made is applied: derived from the
    state after it and the history read before, plus the change itself (``action``: advance,
    rollback, pause, resume), as the next reading of the platform will derive it."""
    change = ChangeRecord(
        at=at,
        action=action,
        percent_before=standing.state.percent,
        percent_after=after.percent,
        stage=None,
        plan=standing.loaded.name,
        comment=comment,
    )
    return derive(standing.loaded.plan, after, (*standing.history, change))


def rollback_change(standing: Standing, reason: str) -> RolloutChange:
    """Treatment share to 0 for everyone (the flag stays on, serving control); the plan's
    exclusion stays written, so a later advance finds it in place."""
    excluded_keys, excluded_segment = exclusion_for(standing.loaded.plan)
    return RolloutChange(
        percent=0.0,
        audience_keys=(),
        audience_segment=None,
        excluded_keys=excluded_keys,
        excluded_segment=excluded_segment,
        plan=standing.loaded.name,
        stage=None,
        action="rollback",
        comment=f"rolloutcli: plan {standing.loaded.name} {ROLLBACK_NOTE}{reason}",
    )


def apply_change(standing: Standing, change: RolloutChange, at: datetime) -> FlagState:
    """Write ``change`` only if the flag is still as read (else ConflictError, exit 4)."""
    v = standing.loaded.plan.variations
    return standing.platform.set_rollout(change, v.treatment, v.control, standing.state, at=at)


def validate_change(standing: Standing, change: RolloutChange) -> str | None:
    """Have the platform validate ``change`` without saving it, where it can (LaunchDarkly's
    ``dryRun``). Returns the platform's name when it did, None when it cannot."""
    if not isinstance(standing.platform, ValidatesChanges):
        return None
    v = standing.loaded.plan.variations
    standing.platform.validate_change(change, v.treatment, v.control, standing.state)
    return str(standing.platform.name)


@dataclass(frozen=True)
class ServingCheck:
    """What the platform's own SDK serves, against the stage's percentage."""

    served: int
    total: int
    expected_percent: float

    @property
    def percent(self) -> float:
        return 100.0 * self.served / self.total if self.total else 0.0

    @property
    def tolerance(self) -> float:
        """Four binomial standard errors, in points, plus 0.1 for rounding."""
        p = min(max(self.expected_percent / 100, 0.0), 1.0)
        return 400.0 * math.sqrt(p * (1 - p) / max(self.total, 1)) + 0.1

    @property
    def ok(self) -> bool:
        return abs(self.percent - self.expected_percent) <= self.tolerance


def serving_check(standing: Standing, sample: int) -> ServingCheck | None:
    """Evaluate ``sample`` synthetic contexts with the platform's SDK over the flag as it is
    now; None when the platform cannot evaluate offline."""
    if not isinstance(standing.platform, EvaluatesOffline):
        return None
    v = standing.loaded.plan.variations
    served, total = standing.platform.serving_sample(v.treatment, v.control, sample)
    expected = standing.state.percent if standing.state.on else 0.0
    return ServingCheck(int(served), int(total), expected)


def explain_serving(standing: Standing, key: str) -> tuple[object, str] | None:
    if not isinstance(standing.platform, EvaluatesOffline):
        return None
    v = standing.loaded.plan.variations
    value, why = standing.platform.explain(v.treatment, v.control, key)
    return value, str(why)


def evaluates_offline(standing: Standing) -> bool:
    """Whether the platform's SDK can say what is served (``verify``, ``who``)."""
    return isinstance(standing.platform, EvaluatesOffline)
