"""The value types a plan is written in, and the base every part of the plan model shares.

Kept apart from the model so each backend's spec class (``platform_specs``,
``source_specs``) can use them without importing the whole plan.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

Key = Annotated[StrictStr, StringConstraints(max_length=256)]
"""A flag key, environment, project, segment, metric name, targeting key: ≤ 256 chars."""
Name = Annotated[StrictStr, StringConstraints(max_length=64)]
"""A stage or guardrail name: ≤ 64 characters."""
Short = Annotated[StrictStr, StringConstraints(max_length=64)]
"""A duration, threshold or bound as written (`30m`, `+10%`, `< 300ms`): ≤ 64 chars."""
Text = Annotated[StrictStr, StringConstraints(max_length=2000)]
"""A description: ≤ 2000 characters."""
PathText = Annotated[str, StringConstraints(max_length=1024)]
Url = Annotated[str, StringConstraints(max_length=2048)]
QueryText = Annotated[StrictStr, StringConstraints(max_length=10_000)]
Count = Annotated[StrictInt, Field(ge=-(10**15), le=10**15)]
"""An integer written in a plan where any size is absurd: within ±10^15."""

Tier = Literal["warn", "pause", "rollback"]
TIERS: tuple[Tier, ...] = ("warn", "pause", "rollback")
Variation = StrictBool | Key | Count | StrictFloat


def strip_percent(value: Any) -> Any:
    """Accept ``25%`` as well as ``25`` for a stage percentage."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1])
        except ValueError:
            return value
    return value


Percent = Annotated[float, BeforeValidator(strip_percent), Field(ge=0, le=100)]


class PlanModel(BaseModel):
    """Every part of a plan: unknown keys refused, values frozen."""

    # allow_inf_nan: .inf or .nan where a number is expected is a plan error, for every model
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
