"""Metrics backends behind one small interface; ``open_source`` opens the one a plan names.

Each metrics kind's spec class (``rolloutcli.plan.source_specs``) names its adapter's
factory; the adapter is imported only when it is opened.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rolloutcli.plan.model import LoadedPlan

    from .base import MetricsSource


def open_source(loaded: LoadedPlan) -> MetricsSource:
    module_name, factory_name = loaded.plan.metrics.source.adapter.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    source: MetricsSource = factory(loaded)
    return source
