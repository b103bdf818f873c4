"""Which file a PLAN argument names: a path, or a name looked up in the plans directory.

No pydantic here: `rollout kill` finds its plan through this module too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import quote

PLAN_SUFFIXES = (".yaml", ".yml")


def resolve_plan_path(ref: str, plans_dir: Path | None = None) -> Path:
    """A PLAN argument: a path to a YAML file, or NAME → ``<plans dir>/NAME.yaml``.

    A reference with a path separator or a .yaml/.yml suffix is a path, and must name a
    .yaml or .yml file (so `rollout validate ../../etc/shadow` reads nothing). Anything else
    is a NAME, looked up only inside the plans directory: it may hold no separator and no
    ``..``."""
    if not ref.strip() or not ref.isprintable():
        raise InvalidInputError(f"plan {quote(ref)}: not a plan name or path")
    direct = Path(ref)
    if direct.suffix.lower() in PLAN_SUFFIXES or os.sep in ref or "/" in ref:
        if direct.suffix.lower() not in PLAN_SUFFIXES:
            raise InvalidInputError(
                f"plan file {_shown(ref)}: not a plan: a plan file's name ends in .yaml or .yml"
            )
        found = _is_file(direct)
        if found:
            return direct
        if found is None:
            raise InvalidInputError(f"plan file {_shown(ref)} is not a regular file")
        raise InvalidInputError(f"plan file {_shown(ref)} not found")
    if ".." in ref or "\\" in ref:
        raise InvalidInputError(
            f"plan name {quote(ref)}: a name may not contain '..' or a path separator "
            "(give a path to a .yaml file instead)"
        )
    folder = plans_dir or default_plans_dir()
    for suffix in PLAN_SUFFIXES:
        candidate = folder / f"{ref}{suffix}"
        if _is_file(candidate):
            return candidate
    raise InvalidInputError(
        f"no plan named {quote(ref)}: looked for {_shown(str(folder / (ref + '.yaml')))} "
        "(give a path, or set --plans-dir / ROLLOUT_PLANS_DIR)"
    )


def _is_file(path: Path) -> bool | None:
    """True for a regular file, None for something else that exists, False when nothing is
    there (or the path cannot be looked at: too long, a directory we may not search)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return True if stat.S_ISREG(mode) else None


def _shown(ref: str) -> str:
    """A path from the command line, as typed when it is short and printable."""
    return ref if len(ref) <= 300 and ref.isprintable() else quote(ref, 80)


def default_plans_dir() -> Path:
    return Path(os.environ.get("ROLLOUT_PLANS_DIR") or "plans")
