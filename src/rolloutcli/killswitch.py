"""Find the flag to kill from a plan, a flag key, or a flag file — with as little as possible.

On-call runs `rollout kill` when things are on fire: the plan may no longer validate, the
metrics backend may be down. Only the plan's ``flag`` and ``platform`` sections are read,
and nothing here imports the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInputError, PlanError
from .plan import default_plans_dir, load_flag_address, resolve_plan_path
from .platforms import open_platform
from .platforms.base import Platform


@dataclass(frozen=True)
class KillTarget:
    flag: str
    plan: str | None
    platform: Platform
    path: Path | None = None
    """The plan file, when the target came from one."""


def find_target(ref: str, flag_file: Path | None, plans_dir: Path | None) -> KillTarget:
    if flag_file is not None:
        from .platforms.flagfile import FlagFilePlatform

        return KillTarget(ref, None, FlagFilePlatform(flag_file, ref))
    try:
        path = resolve_plan_path(ref, plans_dir)
    except InvalidInputError:
        path = None
    if path is not None:
        name, address, base_dir = load_flag_address(path)
        return KillTarget(
            address.flag,
            name,
            open_platform(address.platform, address.flag, base_dir, name),
            path,
        )
    return _by_flag_key(ref, plans_dir or default_plans_dir())


def _by_flag_key(flag: str, folder: Path) -> KillTarget:
    """No plan of that name: look for plans that manage a flag with that key."""
    matches: list[KillTarget] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            name, address, base_dir = load_flag_address(path)
        except PlanError:
            continue
        if address.flag == flag:
            matches.append(
                KillTarget(flag, name, open_platform(address.platform, flag, base_dir, name), path)
            )
    places = {m.platform.describe() for m in matches}
    if len(places) == 1:
        return matches[0]
    if len(places) > 1:
        names = ", ".join(sorted(m.plan or "" for m in matches))
        raise InvalidInputError(
            f"flag {flag!r} is managed by several plans on different platforms ({names}): "
            "name the plan instead"
        )
    raise InvalidInputError(
        f"no plan or flag named {flag!r} in {folder}: give a plan path, or --flag-file FILE"
    )
