"""Values made fit for JSON, shared by the JSON output and the decision records (stdlib only:
`rollout kill` writes a record and must stay light)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rolloutcli.support.redact import scrub
from rolloutcli.support.timeutil import format_timestamp


def json_safe(value: Any) -> Any:
    """JSON has no NaN, infinity or datetime: null and ISO 8601 ``Z`` instead. Every string
    (keys included) is scrubbed of registered secrets: both JSON sinks, the ``--json``
    output and the decision records, pass through here."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value
