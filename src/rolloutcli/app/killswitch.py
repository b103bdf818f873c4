"""Find the flag to kill from a plan, a flag key, or a flag file — with as little as possible.

On-call runs `rollout kill` when things are on fire: the plan may no longer validate, the
metrics backend may be down. Only the plan's ``flag`` and ``platform`` sections are read,
and nothing here imports the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rolloutcli.plan.address import flag_key_hint, load_flag_address
from rolloutcli.plan.locate import PLAN_SUFFIXES, default_plans_dir, resolve_plan_path
from rolloutcli.platforms import open_platform
from rolloutcli.platforms.base import Platform
from rolloutcli.support.errors import InvalidInputError, RolloutError
from rolloutcli.support.quoting import quote


@dataclass(frozen=True)
class KillTarget:
    flag: str
    plan: str | None
    platform: Platform
    path: Path | None = None
    """The plan file, when the target came from one."""


def find_target(ref: str, flag_file: Path | None, plans_dir: Path | None) -> KillTarget:
    if flag_file is not None:
        from rolloutcli.platforms.flagfile import FlagFilePlatform

        return KillTarget(ref, None, FlagFilePlatform(flag_file, ref))
    unresolved: InvalidInputError | None = None
    try:
        path: Path | None = resolve_plan_path(ref, plans_dir)
    except InvalidInputError as exc:
        path, unresolved = None, exc
    if path is not None:
        name, address, base_dir = load_flag_address(path)
        return KillTarget(
            address.flag,
            name,
            open_platform(address.platform, address.flag, base_dir, name),
            path,
        )
    try:
        return _by_flag_key(ref, plans_dir or default_plans_dir())
    except _NoMatch:
        if unresolved is not None and ("/" in ref or ref.endswith(PLAN_SUFFIXES)):
            raise unresolved from None  # a path was meant: say what is wrong with it
        raise


class _NoMatch(InvalidInputError):
    """No plan in the folder manages the flag."""


def _by_flag_key(flag: str, folder: Path) -> KillTarget:
    """No plan of that name: look for plans that manage a flag with that key.

    Every other plan in the folder may be broken in any way — unreadable, a directory
    named x.yaml, binary junk, a YAML bomb, an invalid platform section: it is skipped
    (and counted in the message when nothing matches), never a reason for kill to fail.
    Only the ``flag:`` line of another flag's plan is read, so a folder of plans costs
    milliseconds; a file that has no such line is read within the loader's limits."""
    matches: list[KillTarget] = []
    unusable: list[str] = []
    refused: RolloutError | None = None
    for path in _plan_files(folder):
        try:
            hint = flag_key_hint(path)
            if hint is not None and hint != flag:
                continue  # another flag's plan: the rest of it need not be read
            name, address, base_dir = load_flag_address(path)
        except Exception:  # another plan's defect, whatever it is, must never stop a kill
            unusable.append(path.name)
            continue
        if address.flag != flag:
            continue
        try:
            platform = open_platform(address.platform, flag, base_dir, name)
        except RolloutError as exc:  # a plan for this flag we cannot act on: say so if alone
            refused = refused or exc
            continue
        except Exception:  # never a traceback on the kill path
            unusable.append(path.name)
            continue
        matches.append(KillTarget(flag, name, platform, path))
    places = {m.platform.describe() for m in matches}
    if len(places) == 1:
        return matches[0]
    if len(places) > 1:
        names = ", ".join(sorted(m.plan or "" for m in matches))
        raise InvalidInputError(
            f"flag {quote(flag)} is managed by several plans on different platforms ({names}): "
            "name the plan instead"
        )
    if refused is not None:
        raise refused
    skipped = ""
    if unusable:
        listed = [n if n.isprintable() and len(n) <= 80 else quote(n) for n in unusable[:3]]
        shown = ", ".join(listed) + (", …" if len(unusable) > 3 else "")
        skipped = f" ({len(unusable)} unreadable plan(s) skipped: {shown})"
    raise _NoMatch(
        f"no plan or flag named {quote(flag)} in {folder}{skipped}: give a plan path, "
        "or --flag-file FILE"
    )


def _plan_files(folder: Path) -> list[Path]:
    try:
        return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    except OSError:
        return []
