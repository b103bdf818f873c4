"""Flag platforms behind one small interface; ``open_platform`` opens the one a plan names.

Each platform kind's spec class (``rolloutcli.plan.platform_specs``) names its adapter's
factory; the adapter is imported only when it is opened, so `rollout kill` loads just the
one it needs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rolloutcli.plan.platform_specs import AnyPlatformSpec

    from .base import Platform


def open_platform(
    spec: AnyPlatformSpec, flag: str, base_dir: Path, plan: str | None = None
) -> Platform:
    """The adapter for ``spec``. ``plan`` names the plan, for platforms that record which
    plan made a change in the flag itself (Unleash's strategy title)."""
    module_name, factory_name = spec.adapter.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    platform: Platform = factory(spec, flag, base_dir, plan)
    return platform
