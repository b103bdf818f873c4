"""`rollout validate`: each plan's problems (errors) and warnings, as ``file:line: key:
message`` lines; a named file that does not exist is a warning, an error with ``strict``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rolloutcli.support.errors import InvalidInputError, PlanError


@dataclass(frozen=True)
class Validated:
    """One plan, validated: ``stages`` and ``guardrails`` are None when it did not load."""

    path: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    stages: int | None = None
    guardrails: int | None = None

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_plan(ref: str, plans_dir: Path | None, strict: bool) -> Validated:
    """Load the plan ``ref`` names and list what is wrong with it; never raises for a plan
    that does not load (that is the answer)."""
    from rolloutcli.plan.files import missing_files
    from rolloutcli.plan.locate import resolve_plan_path
    from rolloutcli.plan.model import load_plan

    path = ref
    try:
        resolved = resolve_plan_path(ref, plans_dir)
        path = str(resolved)
        loaded = load_plan(resolved)
    except PlanError as exc:
        return Validated(path, tuple(exc.problems) or (str(exc),), ())
    except InvalidInputError as exc:
        return Validated(path, (str(exc),), ())
    missing = tuple(missing_files(loaded))
    counts = {"stages": len(loaded.plan.stages), "guardrails": len(loaded.plan.guardrails)}
    if strict and missing:
        return Validated(str(loaded.path), missing, (), **counts)
    return Validated(str(loaded.path), (), missing, **counts)
