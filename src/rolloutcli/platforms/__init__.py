"""Flag platforms behind one small interface; ``open_platform`` picks one by the plan's kind.

Adapters are imported lazily so `rollout kill` loads only the one it needs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from rolloutcli.support.errors import InvalidInputError

if TYPE_CHECKING:
    from rolloutcli.plan.model import PlatformSpec

    from .base import Platform

# kind → "module:factory"; adding a platform is one file and one line here.
REGISTRY: dict[str, str] = {
    "flagfile": "rolloutcli.platforms.flagfile:open_flagfile",
    "unleash": "rolloutcli.platforms.unleash:open_unleash",
    "launchdarkly": "rolloutcli.platforms.launchdarkly:open_launchdarkly",
}


def open_platform(
    spec: PlatformSpec, flag: str, base_dir: Path, plan: str | None = None
) -> Platform:
    """The adapter for ``spec``. ``plan`` names the plan, for platforms that record which
    plan made a change in the flag itself (Unleash's strategy title)."""
    target = REGISTRY.get(spec.kind)
    if target is None:
        raise InvalidInputError(f"platform kind {spec.kind!r} is not supported")
    module_name, factory_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    platform: Platform = factory(spec, flag, base_dir, plan)
    return platform
