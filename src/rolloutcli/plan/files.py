"""The files a plan names (a flagfile platform's flag file, a file source's metrics file)
and whether they exist: `rollout validate` reports the missing ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rolloutcli.plan.yamlsource import KeyPath, format_key_path, load_yaml
from rolloutcli.support.paths import shown_path

if TYPE_CHECKING:
    from rolloutcli.plan.model import LoadedPlan


def named_files(loaded: LoadedPlan) -> list[tuple[KeyPath, str, str]]:
    """``(key path, what, path as written)`` for every file the plan names."""
    plan = loaded.plan
    found: list[tuple[KeyPath, str, str]] = []
    platform_path = getattr(plan.platform, "path", None)
    if isinstance(platform_path, str):
        found.append((("platform", "path"), "flag file", platform_path))
    source_path = getattr(plan.metrics.source, "path", None)
    if isinstance(source_path, str):
        found.append((("metrics", "source", "path"), "metrics file", source_path))
    return found


def missing_files(loaded: LoadedPlan) -> list[str]:
    """One ``file:line: key: message`` line per named file that is not there (relative
    paths are read from the plan's folder, as every command reads them)."""
    missing = [
        (key, what, written)
        for key, what, written in named_files(loaded)
        if not loaded.resolve(written).is_file()
    ]
    if not missing:
        return []
    source = load_yaml(loaded.path)
    return [
        f"{source.where(key)}: {format_key_path(key)}: {what} {written} not found "
        f"(looked for {shown_path(loaded.resolve(written))})"
        for key, what, written in missing
    ]
