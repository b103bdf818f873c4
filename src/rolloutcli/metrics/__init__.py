"""Metrics backends behind one small interface; ``open_source`` picks one by the plan's kind."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rolloutcli.support.errors import InvalidInputError

if TYPE_CHECKING:
    from rolloutcli.plan.model import LoadedPlan

    from .base import MetricsSource

# kind → "module:factory"; adding a backend is one file and one line here.
REGISTRY: dict[str, str] = {
    "file": "rolloutcli.metrics.file:open_file_source",
    "prometheus": "rolloutcli.metrics.prometheus:open_prometheus",
    "datadog": "rolloutcli.metrics.datadog:open_datadog",
}


def open_source(loaded: LoadedPlan) -> MetricsSource:
    spec = loaded.plan.metrics.source
    target = REGISTRY.get(spec.kind)
    if target is None:
        raise InvalidInputError(f"metrics source kind {spec.kind!r} is not supported")
    module_name, factory_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    source: MetricsSource = factory(loaded)
    return source
