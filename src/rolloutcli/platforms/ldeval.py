"""What a LaunchDarkly flag serves, evaluated by LaunchDarkly's own server SDK, offline.

`rollout verify` and `rollout who` must report what applications are served, not only what
was written. The flag just read back from the REST API is converted to the SDK's data
format and loaded into ``launchdarkly-server-sdk`` through its file data source (no
network: nothing is sent to LaunchDarkly), and the SDK evaluates synthetic contexts.

The REST and SDK shapes differ: the SDK takes raw variation values, flattens one
environment's fields to the top level, names rules ``id`` (not ``_id``) and says
``untracked`` where REST says ``_untracked``. The SDK is imported only here, lazily: never
on the ``kill`` or ``--help`` path.

The rollout bucket a context falls in (for `who`) follows LaunchDarkly's published
algorithm: SHA-1 of ``flagKey.salt.attribute``, first 15 hex digits over 0xFFFFFFFFFFFFFFF.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_ENV_FIELDS = (
    "on",
    "salt",
    "version",
    "offVariation",
    "fallthrough",
    "targets",
    "contextTargets",
    "prerequisites",
    "trackEvents",
    "trackEventsFallthrough",
)


def sdk_flag(flag: dict[str, Any], environment: str) -> dict[str, Any]:
    """One environment of a REST ``FeatureFlag`` in the SDK's flag format."""
    env = (flag.get("environments") or {}).get(environment) or {}
    out: dict[str, Any] = {
        "key": flag.get("key"),
        "variations": [v.get("value") for v in flag.get("variations") or []],
        "deleted": False,
    }
    for field in _ENV_FIELDS:
        if field in env:
            out[field] = _rollout_fields(env[field]) if field == "fallthrough" else env[field]
    out.setdefault("salt", "")
    out.setdefault("targets", [])
    out.setdefault("contextTargets", [])
    out.setdefault("prerequisites", [])
    out["rules"] = [
        {
            **{k: v for k, v in _rollout_fields(rule).items() if k not in ("_id", "clauses")},
            "id": rule.get("_id"),
            "clauses": [
                {k: v for k, v in clause.items() if k != "_id"}
                for clause in rule.get("clauses", [])
            ],
        }
        for rule in env.get("rules") or []
        if isinstance(rule, dict)
    ]
    return out


def sdk_segment(segment: dict[str, Any]) -> dict[str, Any]:
    """A REST ``UserSegment`` in the SDK's segment format."""
    keep = (
        "key",
        "included",
        "excluded",
        "includedContexts",
        "excludedContexts",
        "salt",
        "version",
        "unbounded",
        "generation",
    )
    out = {k: segment[k] for k in keep if k in segment}
    out["rules"] = [
        {
            **{k: v for k, v in rule.items() if k not in ("_id", "clauses")},
            "id": rule.get("_id"),
            "clauses": [
                {k: v for k, v in c.items() if k != "_id"} for c in rule.get("clauses", [])
            ],
        }
        for rule in segment.get("rules") or []
    ]
    out.setdefault("salt", "")
    out["deleted"] = False
    return out


def _rollout_fields(holder: Any) -> Any:
    """``_untracked`` → ``untracked`` and ``experimentAllocation`` → ``kind`` in a rollout."""
    if not isinstance(holder, dict) or not isinstance(holder.get("rollout"), dict):
        return holder
    rollout = dict(holder["rollout"])
    rollout["variations"] = [
        {("untracked" if k == "_untracked" else k): v for k, v in w.items()}
        for w in rollout.get("variations") or []
    ]
    if rollout.pop("experimentAllocation", None):
        rollout["kind"] = "experiment"
    return {**holder, "rollout": rollout}


def bucket_value(flag_key: str, salt: str, value: str, seed: int | None = None) -> float:
    """LaunchDarkly's rollout bucket for one context attribute value, in [0, 1)."""
    prefix = str(seed) if seed is not None else f"{flag_key}.{salt}"
    digest = hashlib.sha1(f"{prefix}.{value}".encode()).hexdigest()[:15]
    return int(digest, 16) / float(0xFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class Served:
    """One evaluation: the value, its variation index, and the SDK's reason."""

    value: object
    index: int | None
    reason: dict[str, Any]


class Evaluator:
    """The real SDK over one flag's data, offline. Use as a context manager."""

    def __init__(self, flags: list[dict[str, Any]], segments: list[dict[str, Any]]) -> None:
        from ldclient.client import LDClient
        from ldclient.config import Config
        from ldclient.integrations import Files

        handle, self._path = tempfile.mkstemp(prefix="rolloutcli-ld-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "flags": {f["key"]: f for f in flags},
                    "segments": {s["key"]: s for s in segments},
                },
                out,
            )
        config = Config(
            "rolloutcli-offline",
            update_processor_class=Files.new_data_source(paths=[self._path]),
            send_events=False,
            diagnostic_opt_out=True,
        )
        self._client = LDClient(config=config, start_wait=5)

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]
        with contextlib.suppress(OSError):
            os.unlink(self._path)

    def evaluate(
        self, flag_key: str, key: str, kind: str = "user", attributes: dict[str, Any] | None = None
    ) -> Served:
        from ldclient import Context

        builder = Context.builder(key).kind(kind)
        for name, value in (attributes or {}).items():
            builder.set(name, value)
        detail = self._client.variation_detail(flag_key, builder.build(), None)
        return Served(detail.value, detail.variation_index, dict(detail.reason or {}))

    def share(
        self,
        flag_key: str,
        value: object,
        keys: Iterable[str],
        kind: str = "user",
        bucket_by: str | None = None,
    ) -> tuple[int, int]:
        """How many of ``keys`` are served ``value``, out of how many."""
        served = total = 0
        for key in keys:
            attributes = {bucket_by: key} if bucket_by and bucket_by != "key" else None
            result = self.evaluate(flag_key, key, kind, attributes)
            total += 1
            if result.value == value and type(result.value) is type(value):
                served += 1
        return served, total
