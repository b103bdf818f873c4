"""LaunchDarkly over its REST API v2: the rollout is the fallthrough's percentage rollout.

* **Reading.** ``GET /api/v2/flags/{project}/{flag}?env=ENV``: on/off, the fallthrough (a
  variation or a rollout), individual targets, rules, and the environment's ``version``.
  The treatment share is the treatment variation's weight in the fallthrough rollout
  (weights are thousandths of a percent, 100,000 in all).
* **Writing.** One semantic patch per change (all-or-nothing on LaunchDarkly's side):
  ``updateFallthroughVariationOrRollout`` with ``rolloutWeights`` for every variation
  (treatment at the stage's share, control the rest, any other variation 0), bucketed by
  the plan's context kind and attribute; ``addTargets``/``removeTargets`` for an allowlist;
  ``addRule``/``removeRule`` for a segment (a rule on ``segmentMatch``, served first);
  the plan's exclusion (``exclude:``) as individual targets on the *control* variation for
  keys, or a ``segmentMatch`` rule serving the control placed first of all rules (LaunchDarkly
  looks at targets before rules, and at rules before the fallthrough rollout, so excluded
  users get the control at every stage, 100% included; an allowlisted key, a target too, is
  served before an excluded *segment*'s rule: plan validation keeps keys apart, segments are
  the platform's);
  ``turnFlagOn`` when a rollout starts on a flag that is off. Every write carries a
  ``comment`` naming the plan, stage, verdict and decision record id (see ``changenote``):
  LaunchDarkly shows it in the audit log, and the tool reads when the stage began from
  there and pairs each entry with its record.
* **Kill** is ``turnFlagOff`` (the flag serves its off variation to everyone); **unkill** is
  ``turnFlagOn``, both with a comment naming the action.
* **Pause** (`rollout pause`) is a custom property on the flag, one per environment
  (``rolloutcli-paused-<env>``, see ``pause_key``), whose values keep who paused and why
  (``by=…``, ``reason=…``). It is added and removed with the flag-level semantic-patch
  instructions ``addCustomProperties`` / ``removeCustomProperties``, with a comment
  (``… action=pause · in <env> by <who>: <reason>``) so the audit log records the pause, when
  and why. Custom properties are flag-wide, hence one key per environment and the
  environment named in the comment. The environment's targeting, and so its ``version``
  and the stage start read from the audit log, is not touched.

Conflicts: the API has no ETag, and semantic patch takes no precondition. The tool reads
the environment's ``version`` (and whether the environment is paused, which is flag-level
and moves no environment version) right before writing and refuses if either changed since
the verdict's read (exit 4). After the write it checks the answer: the version must have moved
by exactly one, or stayed (an idempotent repeat), and the rollout must be what was written;
anything else means someone else wrote in between, reported as a conflict with what is live
now. A 409 from LaunchDarkly (its optimistic lock) is a conflict too.

The API token comes only from ``LD_API_TOKEN`` and is sent raw in ``Authorization`` (no
``Bearer``); it is never printed. ``LD-API-Version`` is pinned.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rolloutcli.judge.flagstate import (
    ChangeRecord,
    FlagReading,
    FlagShare,
    FlagState,
    KnobReading,
    PauseMark,
    PlatformPrerequisite,
    RolloutChange,
)
from rolloutcli.judge.stagestart import split_moved_at
from rolloutcli.plan.knobvalues import same_value
from rolloutcli.support.errors import BackendError, ConflictError, InvalidInputError, RefusedError
from rolloutcli.support.http import HttpBackend, rate_limit_wait
from rolloutcli.support.redact import clip, display_url, env_secret, register_url
from rolloutcli.support.urlpolicy import check_url

from .base import answers_checked
from .changenote import format_title, parse_title, plan_token
from .ldknobs import fallthrough_value
from .ldknobs import last_change as knob_changed
from .ldknobs import reading as knob_reading
from .ldknobs import variation_id as knob_variation

if TYPE_CHECKING:
    from rolloutcli.plan.platform_specs import LaunchDarklySpec

NAME = "launchdarkly"
ENV_TOKEN = "LD_API_TOKEN"
ENV_BASE_URL = "LD_BASE_URL"
DEFAULT_BASE_URL = "https://app.launchdarkly.com"
API_VERSION = "20240415"
SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"
TOTAL_WEIGHT = 100_000  # thousandths of a percent
AUDIT_PAGE = 20  # the audit log's largest page
AUDIT_PAGES = 5  # enough for a whole rollout's changes
SEGMENT_RULE = "rolloutcli audience"
EXCLUDE_RULE = "rolloutcli exclude"
PAUSE_PREFIX = "rolloutcli-paused-"  # + environment key: the custom property of a pause
PAUSE_ACTIONS = ("pause", "resume")
_PAUSE_NOTE = re.compile(
    r"^rolloutcli plan=(?P<plan>\S+) stage=- pct=- action=(?P<action>pause|resume)"
    r"(?: record=(?P<record>[0-9a-f]{8,64}))? · in (?P<env>\S+) by "
)
"""The audit-log comment of a pause or resume, naming the environment (the change is
flag-wide, so the audit log alone cannot say which environment it was for)."""


def open_launchdarkly(
    spec: LaunchDarklySpec, flag: str, base_dir: Path, plan: str | None = None
) -> LaunchDarklyPlatform:
    token = env_secret(ENV_TOKEN)
    if not token:
        raise InvalidInputError(
            f"launchdarkly: no API token: set {ENV_TOKEN} to an API access token "
            "(SDK keys cannot use the REST API)"
        )
    assert spec.project is not None  # guaranteed by plan validation
    url = spec.url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    register_url(url)  # a password in the URL is a secret
    url = check_url(url, f"launchdarkly: {ENV_BASE_URL} / platform.url")
    return LaunchDarklyPlatform(
        url=url,
        token=token,
        flag=flag,
        plan=plan or flag,
        project=spec.project,
        environment=spec.environment,
        context_kind=spec.context_kind,
        bucket_by=spec.bucket_by,
    )


def pause_key(environment: str) -> str:
    """The custom property that marks ``environment`` paused."""
    return PAUSE_PREFIX + environment


@dataclass(frozen=True)
class Variations:
    """The flag's variations by ``_id``, and which are the plan's treatment and control."""

    ids: tuple[str, ...]
    treatment: int
    control: int

    @property
    def treatment_id(self) -> str:
        return self.ids[self.treatment]

    @property
    def control_id(self) -> str:
        return self.ids[self.control]


@answers_checked
class LaunchDarklyPlatform:
    name = NAME

    def __init__(
        self,
        *,
        url: str,
        token: str,
        flag: str,
        plan: str,
        project: str,
        environment: str,
        context_kind: str = "user",
        bucket_by: str | None = None,
        http: HttpBackend | None = None,
    ) -> None:
        self.url = url.strip().rstrip("/")
        self.flag = flag
        self.plan = plan_token(plan)
        self.project = project
        self.environment = environment
        self.context_kind = context_kind
        self.bucket_by = bucket_by
        self._http = http or HttpBackend(
            NAME,
            self.url,
            {"Authorization": token, "LD-API-Version": API_VERSION, "Accept": "application/json"},
        )
        self._path = f"/api/v2/flags/{quote(project, safe='')}/{quote(flag, safe='')}"

    def describe(self) -> str:
        return f"LaunchDarkly {display_url(self.url)}, project {self.project}"

    # ------------------------------------------------------------------ reading

    def read_flag(self) -> dict[str, Any]:
        """The flag as the REST API returns it, with this environment only."""
        body = self._call("GET", self._path, params={"env": self.environment})
        if not isinstance(body, dict):
            raise BackendError(NAME, f"unexpected answer for flag {self.flag!r}")
        return body

    def environment_of(self, flag: dict[str, Any]) -> dict[str, Any]:
        envs = flag.get("environments")
        env = envs.get(self.environment) if isinstance(envs, dict) else None
        if not isinstance(env, dict):
            raise BackendError(
                NAME,
                f"flag {self.flag!r} has no environment {self.environment!r}",
                hint="check platform.environment (the environment key, not its name)",
            )
        return env

    def read_state(self, treatment: object, control: object) -> FlagState:
        return self.read(treatment, control).state

    def read_other(self, key: str) -> dict[str, Any] | None:
        """Another flag of the project, with this environment only; None when there is no
        such flag (404)."""
        path = f"/api/v2/flags/{quote(self.project, safe='')}/{quote(key, safe='')}"
        body = self._call("GET", path, params={"env": self.environment}, missing_ok=True)
        if body is None:
            return None
        if not isinstance(body, dict):
            raise BackendError(NAME, f"unexpected answer for flag {key!r}")
        return body

    def read_share(self, flag: str, variation: object) -> FlagShare:
        """Another flag, for a prerequisite: on in this environment, and the share of its
        fallthrough serving ``variation`` (targets and rules serve some contexts only and
        are not counted; its own prerequisites are LaunchDarkly's to check)."""
        found = self.read_other(flag)
        if found is None:
            problem = f"no flag {flag!r} in project {self.project}"
            return FlagShare(flag, variation, False, problem=problem)
        values = [v.get("value") for v in found.get("variations") or [] if isinstance(v, dict)]
        index = next(
            (i for i, v in enumerate(values) if v == variation and type(v) is type(variation)),
            None,
        )
        if index is None:
            problem = f"flag {flag!r} has no variation serving {variation!r}"
            return FlagShare(flag, variation, True, problem=problem)
        return _share(flag, variation, index, self.environment_of(found))

    def _platform_prerequisites(self, env: dict[str, Any]) -> tuple[PlatformPrerequisite, ...]:
        """The flag's own prerequisites in this environment, each with its flag as read: the
        variation LaunchDarkly requires is an index into that flag's variations."""
        items = []
        for item in env.get("prerequisites") or []:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                continue
            key, index = item["key"], _int(item.get("variation"))
            try:
                found = self.read_other(key)
            except BackendError as exc:
                share = FlagShare(key, index, False, problem=str(exc))
                items.append(PlatformPrerequisite(key, index, share))
                continue
            if found is None:
                share = FlagShare(key, index, False, problem=f"no flag {key!r}")
                items.append(PlatformPrerequisite(key, index, share))
                continue
            values = [v.get("value") for v in found.get("variations") or []]
            value = values[index] if 0 <= index < len(values) else index
            share = _share(key, value, index, self.environment_of(found))
            items.append(PlatformPrerequisite(key, value, share))
        return tuple(items)

    def read(self, treatment: object, control: object) -> FlagReading:
        """The flag in this environment, and its audit log (read once: the recorded stage
        and the pause's time come from it too)."""
        flag = self.read_flag()
        env = self.environment_of(flag)
        variations = _variations(flag, treatment, control, self.flag)
        notes: list[str] = []
        _refuse_automated_release(env, self.flag, self.environment)
        percent = _served_percent(env, variations, notes)
        keys, segment = self._audience(env, variations)
        excluded = self._targets(env, variations.control)
        records, reach = self._records()
        moves = [r for r in records if r.action not in PAUSE_ACTIONS]
        mine = [r for r in moves if r.plan == self.plan and r.action in _SPLIT_NOTES]
        last = moves[-1] if moves else None
        pause = _pause_values(flag, self.environment)
        recorded_stage = comment = None
        if mine and last is mine[-1] and mine[-1].percent_after == percent:
            recorded_stage, comment = mine[-1].stage, mine[-1].comment
        if percent > 0 and split_moved_at(records) is None:
            notes.append(
                "LaunchDarkly's audit log has no record of when this split was set: the stage "
                "start is unknown"
            )
        state = FlagState(
            flag=self.flag,
            on=bool(env.get("on")),
            percent=percent,
            audience_keys=keys,
            audience_segment=segment,
            excluded_keys=excluded,
            excluded_segment=_excluded_segment(env, variations),
            recorded_stage=recorded_stage,
            comment=comment,
            version=_token(env, pause is not None),
            notes=tuple(notes),
            paused=None if pause is None else _pause_mark(pause, records),
            platform_prerequisites=self._platform_prerequisites(env),
        )
        return FlagReading(state, tuple(records), reach)

    def history(self) -> list[ChangeRecord]:
        return self._records()[0]

    # ------------------------------------------------------------------ writing

    def set_rollout(
        self,
        change: RolloutChange,
        treatment: object,
        control: object,
        expected: FlagState,
        at: datetime | None = None,  # LaunchDarkly stamps its own time
    ) -> FlagState:
        body = self.change_body(change, treatment, control, expected)
        answer = self._patch(body)
        env = self.environment_of(answer)
        variations = _variations(answer, treatment, control, self.flag)
        served = _served_percent(env, variations, [])
        moved = _int(env.get("version")) - _token_version(expected.version)
        repaused = (_pause_values(answer, self.environment) is None) != (expected.paused is None)
        if abs(served - change.percent) > 1e-9 or moved not in (0, 1) or repaused:
            raise ConflictError(
                f"{NAME}: flag {self.flag!r} in {self.environment} was changed by someone "
                f"else while we wrote (version {expected.version} → {env.get('version')}); it "
                f"now serves {served:g}% treatment: check it, then re-run"
            )
        return self.read_state(treatment, control)

    def change_body(
        self, change: RolloutChange, treatment: object, control: object, expected: FlagState
    ) -> dict[str, Any]:
        """The semantic patch for ``change``, after checking that the flag is still as
        ``expected`` (else ConflictError). ``--dry-run`` sends it with ``dryRun=true``."""
        _check_percent(change.percent)
        flag = self.read_flag()
        env = self.environment_of(flag)
        token = _token(env, _pause_values(flag, self.environment) is not None)
        if token != expected.version:
            raise ConflictError(
                f"{NAME}: flag {self.flag!r} in {self.environment} changed since it was read "
                f"(version {expected.version} → {token}); nothing was written "
                "(re-run to act on the current state)"
            )
        _refuse_automated_release(env, self.flag, self.environment)
        variations = _variations(flag, treatment, control, self.flag)
        instructions: list[dict[str, Any]] = []
        if change.turn_on and not env.get("on"):
            instructions.append({"kind": "turnFlagOn"})
        instructions.append(self._fallthrough(change.percent, variations))
        instructions.extend(self._target_changes(env, variations, change))
        audience = self._rule_changes(env, variations, change.audience_segment)
        removed = {i["ruleId"] for i in audience if i["kind"] == "removeRule"}
        instructions.extend(self._exclusion_rule(env, variations, change.excluded_segment, removed))
        instructions.extend(audience)  # after the exclusion's rule: that one stays first
        note = format_title(
            self.plan, change.stage, change.percent, change.action, change.comment, change.record
        )
        return {"environmentKey": self.environment, "instructions": instructions, "comment": note}

    def validate_change(
        self, change: RolloutChange, treatment: object, control: object, expected: FlagState
    ) -> None:
        """``--dry-run``: send the change with ``dryRun=true``; LaunchDarkly validates it
        (instructions, ids, approvals) and saves nothing."""
        self._patch(self.change_body(change, treatment, control, expected), dry_run=True)

    def is_on(self) -> bool:
        return bool(self.environment_of(self.read_flag()).get("on"))

    def turn_off(
        self, plan: str | None, comment: str, at: datetime | None = None, record: str | None = None
    ) -> bool:
        try:
            env: dict[str, Any] | None = self.environment_of(self.read_flag())
        except BackendError:
            env = None  # reading failed: turn it off anyway
        if env is not None and not env.get("on"):
            return False
        note = format_title(self.plan, None, None, "kill", comment, record)
        self._patch(
            {
                "environmentKey": self.environment,
                "instructions": [{"kind": "turnFlagOff"}],
                "comment": note,
            }
        )
        return True

    def turn_on(
        self,
        plan: str | None,
        comment: str,
        at: datetime | None = None,
        by: str | None = None,
        record: str | None = None,
    ) -> bool:
        """``turnFlagOn`` with an ``action=unkill`` comment the audit log keeps; the
        fallthrough is untouched. LaunchDarkly stamps its own time and member."""
        env = self.environment_of(self.read_flag())
        if env.get("on"):
            return False
        note = format_title(self.plan, None, None, "unkill", comment, record)
        self._patch(
            {
                "environmentKey": self.environment,
                "instructions": [{"kind": "turnFlagOn"}],
                "comment": note,
            }
        )
        return True

    def set_paused(
        self,
        paused: bool,
        plan: str | None,
        by: str,
        reason: str,
        at: datetime | None = None,
        record: str | None = None,
    ) -> bool:
        """Add (or remove) the environment's pause property, with a comment the audit log
        keeps. LaunchDarkly stamps its own time, so ``at`` is not used."""
        flag = self.read_flag()
        self.environment_of(flag)  # the environment exists: a clear error if not
        current = _pause_values(flag, self.environment)
        if (current is not None) == paused:
            return False
        key = pause_key(self.environment)
        instruction: dict[str, Any]
        if paused:
            instruction = {
                "kind": "addCustomProperties",
                "key": key,
                "name": f"rolloutcli: automatic advancing paused in {self.environment}",
                "values": [f"by={by}", f"reason={reason.strip()[:500]}"],
            }
        else:
            instruction = {"kind": "removeCustomProperties", "key": key, "values": current}
        action = "pause" if paused else "resume"
        why = f"in {self.environment} by {by}: {reason}"
        note = format_title(plan or self.plan, None, None, action, why, record)
        self._patch({"instructions": [instruction], "comment": note})
        return True

    # ------------------------------------------------------------------ what is served

    def serving_sample(self, treatment: object, control: object, sample: int) -> tuple[int, int]:
        """How many of ``sample`` synthetic contexts the SDK serves the treatment, over the
        flag as it is now (read back from the API), evaluated offline."""
        from .ldeval import Evaluator

        flag = self.read_flag()
        env = self.environment_of(flag)
        _variations(flag, treatment, control, self.flag)  # the plan's values exist
        keys = (f"rolloutcli-verify-{i}" for i in range(sample))
        with Evaluator(self._sdk_flags(flag), self._sdk_segments(env)) as sdk:
            return sdk.share(self.flag, treatment, keys, self.context_kind, self.bucket_by)

    def explain(self, treatment: object, control: object, key: str) -> tuple[object, str]:
        """The value one context is served, and why (off, target, rule, rollout bucket)."""
        from .ldeval import Evaluator, bucket_value

        flag = self.read_flag()
        env = self.environment_of(flag)
        variations = _variations(flag, treatment, control, self.flag)
        attributes = {self.bucket_by: key} if self.bucket_by and self.bucket_by != "key" else None
        with Evaluator(self._sdk_flags(flag), self._sdk_segments(env)) as sdk:
            served = sdk.evaluate(self.flag, key, self.context_kind, attributes)
        kind = served.reason.get("kind")
        values = [v.get("value") for v in flag.get("variations") or []]
        if kind == "OFF":
            return served.value, f"the flag is off in {self.environment}: the off variation"
        if kind == "PREREQUISITE_FAILED":
            failed = served.reason.get("prerequisiteKey")
            return served.value, f"prerequisite {failed} is unmet: the off variation"
        if kind == "TARGET_MATCH":
            return served.value, f"individually targeted ({self.context_kind} {key!r})"
        if kind == "RULE_MATCH":
            index = int(served.reason.get("ruleIndex", 0))
            rules = env.get("rules") or []
            rule = rules[index] if index < len(rules) else {}
            segment = _segment_of(rule, variations)
            what = f"the audience segment {segment!r}" if segment else rule.get("description")
            return served.value, f"rule {index + 1}" + (f" ({what})" if what else "")
        if kind == "FALLTHROUGH":
            rollout = (env.get("fallthrough") or {}).get("rollout")
            if not isinstance(rollout, dict):
                return served.value, "the fallthrough serves this variation to everyone"
            point = bucket_value(self.flag, str(env.get("salt", "")), key, rollout.get("seed"))
            low = 0.0
            for weight in rollout.get("variations") or []:
                high = low + _int(weight.get("weight")) / TOTAL_WEIGHT
                if served.index is not None and weight.get("variation") == served.index:
                    return served.value, (
                        f"fallthrough rollout: bucket {point:.4f} lies in [{low:.4f}, "
                        f"{high:.4f}), the share of {values[served.index]!r}"
                    )
                low = high
            return served.value, f"fallthrough rollout: bucket {point:.4f}"
        return served.value, f"LaunchDarkly's SDK says {served.reason}"

    def _sdk_flags(self, flag: dict[str, Any]) -> list[dict[str, Any]]:
        """The flag and, read back, every flag it has as a prerequisite (and theirs), in the
        SDK's format: the SDK checks prerequisites itself, and serves the off variation for
        one it cannot find or that is unmet."""
        from .ldeval import sdk_flag

        found = {str(flag.get("key")): flag}
        waiting = [flag]
        while waiting:
            env = (waiting.pop().get("environments") or {}).get(self.environment) or {}
            for item in env.get("prerequisites") or []:
                key = str(item.get("key")) if isinstance(item, dict) else ""
                if not key or key in found:
                    continue
                other = self.read_other(key)
                if other is not None:
                    found[key] = other
                    waiting.append(other)
        return [sdk_flag(f, self.environment) for f in found.values()]

    def _sdk_segments(self, env: dict[str, Any]) -> list[dict[str, Any]]:
        from .ldeval import sdk_segment

        keys = {
            str(value)
            for rule in env.get("rules") or []
            if isinstance(rule, dict)
            for clause in rule.get("clauses") or []
            if clause.get("op") == "segmentMatch"
            for value in clause.get("values") or []
        }
        segments = []
        for key in sorted(keys):
            path = (
                f"/api/v2/segments/{quote(self.project, safe='')}/"
                f"{quote(self.environment, safe='')}/{quote(key, safe='')}"
            )
            segments.append(sdk_segment(self._call("GET", path)))
        return segments

    # ------------------------------------------------------------------ instructions

    def _fallthrough(self, percent: float, variations: Variations) -> dict[str, Any]:
        weight = round(percent * TOTAL_WEIGHT / 100)
        weights = {vid: 0 for vid in variations.ids}
        weights[variations.treatment_id] = weight
        weights[variations.control_id] = TOTAL_WEIGHT - weight
        instruction: dict[str, Any] = {
            "kind": "updateFallthroughVariationOrRollout",
            "rolloutWeights": weights,
            "rolloutContextKind": self.context_kind,
        }
        if self.bucket_by:
            instruction["rolloutBucketBy"] = self.bucket_by
        return instruction

    def _target_changes(
        self, env: dict[str, Any], variations: Variations, change: RolloutChange
    ) -> list[dict[str, Any]]:
        """The allowlist's targets (treatment) and the exclusion's (control): every
        removal first, so a key may move from one list to the other in one patch."""
        removes: list[dict[str, Any]] = []
        adds: list[dict[str, Any]] = []
        for index, keys in (
            (variations.treatment, change.audience_keys),
            (variations.control, change.excluded_keys),
        ):
            current = self._targets(env, index)
            for kind, values, out in (
                ("removeTargets", [k for k in current if k not in keys], removes),
                ("addTargets", [k for k in keys if k not in current], adds),
            ):
                if values:
                    out.append(
                        {
                            "kind": kind,
                            "contextKind": self.context_kind,
                            "variationId": variations.ids[index],
                            "values": values,
                        }
                    )
        return removes + adds

    def _exclusion_rule(
        self, env: dict[str, Any], variations: Variations, segment: str | None, removed: set[str]
    ) -> list[dict[str, Any]]:
        """The exclusion's segment rule, serving the control, first of all rules (kept as
        it is when it already is); ``removed``: rules this patch removes anyway."""
        rules = [r for r in env.get("rules") or [] if isinstance(r, dict)]
        mine = [r for r in rules if _excluded_by(r, variations) is not None]
        if (
            segment is not None
            and mine
            and mine == rules[:1]
            and _excluded_by(mine[0], variations) == segment
        ):
            return []
        out: list[dict[str, Any]] = [{"kind": "removeRule", "ruleId": r["_id"]} for r in mine]
        if segment is None:
            return out
        rule: dict[str, Any] = {
            "kind": "addRule",
            "clauses": [
                {
                    "contextKind": self.context_kind,
                    "attribute": "segmentMatch",
                    "op": "segmentMatch",
                    "negate": False,
                    "values": [segment],
                }
            ],
            "variationId": variations.control_id,
            "description": f"{EXCLUDE_RULE} (plan {self.plan}): always the control",
        }
        staying = [r for r in rules if r not in mine and r["_id"] not in removed]
        if staying:
            rule["beforeRuleId"] = staying[0]["_id"]
        return [*out, rule]

    def _targets(self, env: dict[str, Any], variation: int) -> tuple[str, ...]:
        """The keys of the plan's context kind individually targeted at ``variation``."""
        keys: list[str] = []
        for field in ("targets", "contextTargets"):
            for target in env.get(field) or []:
                if not isinstance(target, dict) or target.get("variation") != variation:
                    continue
                if target.get("contextKind", "user") != self.context_kind:
                    continue
                keys.extend(str(v) for v in target.get("values") or [] if str(v) not in keys)
        return tuple(keys)

    def _rule_changes(
        self, env: dict[str, Any], variations: Variations, segment: str | None
    ) -> list[dict[str, Any]]:
        rules = [r for r in env.get("rules") or [] if isinstance(r, dict)]
        mine = [r for r in rules if _segment_of(r, variations) is not None]
        if mine and segment is not None and _segment_of(mine[0], variations) == segment:
            return []
        out: list[dict[str, Any]] = [{"kind": "removeRule", "ruleId": r["_id"]} for r in mine]
        if segment is not None:
            rule: dict[str, Any] = {
                "kind": "addRule",
                "clauses": [
                    {
                        "contextKind": self.context_kind,
                        "attribute": "segmentMatch",
                        "op": "segmentMatch",
                        "negate": False,
                        "values": [segment],
                    }
                ],
                "variationId": variations.treatment_id,
                "description": f"{SEGMENT_RULE} (plan {self.plan})",
            }
            others = [r for r in rules if r not in mine and _excluded_by(r, variations) is None]
            if others:
                rule["beforeRuleId"] = others[0]["_id"]  # the audience is served first
            out.append(rule)
        return out

    def _audience(
        self, env: dict[str, Any], variations: Variations
    ) -> tuple[tuple[str, ...], str | None]:
        keys = self._targets(env, variations.treatment)
        segment = next(
            (
                s
                for r in env.get("rules") or []
                if isinstance(r, dict) and (s := _segment_of(r, variations)) is not None
            ),
            None,
        )
        return keys, segment

    # ------------------------------------------------------------------ audit log

    def _records(self) -> tuple[list[ChangeRecord], datetime | None]:
        """The flag's changes in this environment, oldest first, from the audit log, and
        where that reading begins (None: the log's first page of the flag was reached)."""
        spec = f"proj/{self.project}:env/{self.environment}:flag/{self.flag}"
        entries: list[dict[str, Any]] = []
        before: int | None = None
        complete = False
        for _ in range(AUDIT_PAGES):
            params = {"spec": spec, "limit": str(AUDIT_PAGE)}
            if before is not None:
                params["before"] = str(before)
            body = self._call("GET", "/api/v2/auditlog", params=params)
            items = [i for i in (body.get("items") or []) if isinstance(i, dict)]
            entries.extend(items)
            if len(items) < AUDIT_PAGE:
                complete = True
                break
            before = min(_int(i.get("date")) for i in items)
            if any(_breaks_run(i, self.plan) for i in items):
                break
        entries.sort(key=lambda e: _int(e.get("date")))
        reach = None
        if not complete and entries:
            reach = datetime.fromtimestamp(_int(entries[0].get("date")) / 1000, UTC)
        return _chain(entries, self.plan, self.environment, complete), reach

    # ------------------------------------------------------------------ knobs

    def read_knob(self, flag: str) -> KnobReading:
        body, env = self._knob_flag(flag)
        return knob_reading(flag, body, env, self.environment, self._knob_changed(flag))

    def set_knob(
        self,
        flag: str,
        value: object,
        expected: KnobReading,
        plan: str,
        comment: str,
        at: datetime | None = None,  # LaunchDarkly stamps its own time
        record: str | None = None,
        by: str | None = None,  # LaunchDarkly knows who
    ) -> KnobReading:
        """``updateFallthroughVariationOrRollout`` to the variation serving ``value``, if
        the flag still serves ``expected.value``; the answer must show exactly this change
        (one version on), else ConflictError."""
        body, env = self._knob_flag(flag)
        live = fallthrough_value(body, env, self.environment)[0]
        if not same_value(live, expected.value):
            raise ConflictError(
                f"{NAME}: knob flag {flag!r} in {self.environment} serves {live!r} now, not "
                f"the {expected.value!r} read; nothing was written (re-run to act on it)"
            )
        chosen = knob_variation(body, flag, value)
        patch = {
            "environmentKey": self.environment,
            "instructions": [
                {"kind": "updateFallthroughVariationOrRollout", "variationId": chosen}
            ],
            "comment": format_title(plan, None, None, "knob", comment, record),
        }
        answer = self._patch(patch, path=self._knob_path(flag))
        after = self.environment_of(answer)
        moved = _int(after.get("version")) - _int(env.get("version"))
        if moved not in (0, 1) or not same_value(
            fallthrough_value(answer, after, self.environment)[0], value
        ):
            raise ConflictError(
                f"{NAME}: knob flag {flag!r} in {self.environment} was changed by someone "
                "else while we wrote: check it, then re-run"
            )
        return self.read_knob(flag)

    def _knob_path(self, flag: str) -> str:
        return f"/api/v2/flags/{quote(self.project, safe='')}/{quote(flag, safe='')}"

    def _knob_flag(self, flag: str) -> tuple[dict[str, Any], dict[str, Any]]:
        body = self._call("GET", self._knob_path(flag), params={"env": self.environment})
        envs = body.get("environments") if isinstance(body, dict) else None
        env = envs.get(self.environment) if isinstance(envs, dict) else None
        if not isinstance(env, dict):
            raise BackendError(NAME, f"knob flag {flag!r} has no environment {self.environment!r}")
        return body, env

    def _knob_changed(self, flag: str) -> tuple[datetime | None, str | None]:
        spec = f"proj/{self.project}:env/{self.environment}:flag/{flag}"
        body = self._call("GET", "/api/v2/auditlog", params={"spec": spec, "limit": "20"})
        items = [i for i in (body.get("items") or []) if isinstance(i, dict)]
        return knob_changed(items, _member)

    # ------------------------------------------------------------------ HTTP

    def _patch(
        self, body: dict[str, Any], dry_run: bool = False, path: str | None = None
    ) -> dict[str, Any]:
        params = {"dryRun": "true"} if dry_run else None
        result = self._call(
            "PATCH",
            path or self._path,
            json=body,
            params=params,
            headers={"Content-Type": SEMANTIC_PATCH},
            idempotent=True,  # semantic patches are idempotent: a repeat changes nothing
        )
        if not isinstance(result, dict):
            raise BackendError(NAME, f"unexpected answer to the change of flag {self.flag!r}")
        return result

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """The answer's JSON; None for a 404 when ``missing_ok``."""
        answer = self._http.request(
            method, path, json=json, params=params, headers=headers, idempotent=idempotent
        )
        response = answer.response
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code < 400:
            try:
                return response.json() if response.content else {}
            except ValueError:
                raise BackendError(
                    NAME, f"{method} {path} answered with something that is not JSON"
                ) from None
        status = response.status_code
        message = _error_message(response)
        where = f"project {self.project}, environment {self.environment}, flag {self.flag}"
        if status == 405:
            raise RefusedError(
                f"{NAME}: environment {self.environment} requires approval for changes to "
                f"flag {self.flag!r} ({message}); request the change in LaunchDarkly, or use "
                "an environment without required approvals"
            )
        if status == 409:
            raise ConflictError(
                f"{NAME}: LaunchDarkly refused the write as a conflict ({message}); nothing "
                "was written (re-run to act on the current state)"
            )
        if status in (401, 403):
            hint = (
                f"check {ENV_TOKEN}: an API access token (not an SDK key) whose role may read "
                f"and update the flag ({where}): a Writer role, or a custom role with "
                "updateOn, updateFallthrough, updateTargets and updateRules"
            )
        elif status == 404:
            hint = f"check the flag key and platform.project / platform.environment ({where})"
        elif status == 429:
            wait = rate_limit_wait(response.headers, datetime.now(UTC).timestamp())
            hint = "rate limited by LaunchDarkly" + (
                f"; try again in {wait:.0f} s" if wait is not None else "; try again shortly"
            )
        elif status >= 500:
            hint = "LaunchDarkly failed; nothing was confirmed, try again shortly"
        else:
            hint = "LaunchDarkly refused the request"
        raise BackendError(NAME, f"HTTP {status} on {method} {path}: {message}", hint=hint)


# ---------------------------------------------------------------------- pure helpers


def _variations(flag: dict[str, Any], treatment: object, control: object, key: str) -> Variations:
    items = [v for v in flag.get("variations") or [] if isinstance(v, dict)]
    ids = tuple(str(v.get("_id", i)) for i, v in enumerate(items))

    def find(value: object, role: str) -> int:
        for i, item in enumerate(items):
            served = item.get("value")
            if served == value and type(served) is type(value):
                return i
        values = ", ".join(repr(v.get("value")) for v in items)
        raise BackendError(
            NAME,
            f"flag {key!r} has no variation serving the {role} {value!r} (it serves {values})",
            hint=f"fix variations.{role} in the plan",
        )

    return Variations(ids, find(treatment, "treatment"), find(control, "control"))


def _served_percent(env: dict[str, Any], variations: Variations, notes: list[str]) -> float:
    fallthrough = env.get("fallthrough") or {}
    rollout = fallthrough.get("rollout")
    if isinstance(rollout, dict):
        weights = {
            w.get("variation"): _int(w.get("weight"))
            for w in rollout.get("variations") or []
            if isinstance(w, dict)
        }
        others = sum(
            v for k, v in weights.items() if k not in (variations.treatment, variations.control)
        )
        if others:
            notes.append(
                f"other variations get {others / 1000:g}% of the fallthrough: the split is "
                "not the plan's"
            )
        return weights.get(variations.treatment, 0) / 1000
    served = fallthrough.get("variation")
    if served == variations.treatment:
        return 100.0
    if served != variations.control:
        notes.append("the fallthrough serves neither the treatment nor the control")
    return 0.0


def _share(key: str, value: object, index: int, env: dict[str, Any]) -> FlagShare:
    """Flag ``key`` in one environment: on, and the share of its fallthrough serving
    variation ``index`` (whose value is ``value``)."""
    fallthrough = env.get("fallthrough") or {}
    rollout = fallthrough.get("rollout")
    if isinstance(rollout, dict):
        weight = sum(
            _int(w.get("weight"))
            for w in rollout.get("variations") or []
            if isinstance(w, dict) and w.get("variation") == index
        )
        percent = weight / 1000
    else:
        percent = 100.0 if fallthrough.get("variation") == index else 0.0
    return FlagShare(key, value, True, on=bool(env.get("on")), percent=percent)


def _refuse_automated_release(env: dict[str, Any], key: str, environment: str) -> None:
    """A guarded/progressive rollout or experiment owns the fallthrough: leave it alone."""
    rollout = (env.get("fallthrough") or {}).get("rollout")
    if isinstance(rollout, dict) and rollout.get("experimentAllocation"):
        raise RefusedError(
            f"{NAME}: flag {key!r} in {environment} is under a LaunchDarkly guarded or "
            "progressive rollout (or an experiment): rolloutcli will not change its "
            "fallthrough; stop that release in LaunchDarkly first"
        )


def _segment_of(rule: dict[str, Any], variations: Variations) -> str | None:
    """The segment a rolloutcli audience rule serves the treatment to, if it is one."""
    return _rule_segment(rule, variations.treatment, SEGMENT_RULE)


def _excluded_by(rule: dict[str, Any], variations: Variations) -> str | None:
    """The segment a rolloutcli exclusion rule serves the control to, if it is one."""
    return _rule_segment(rule, variations.control, EXCLUDE_RULE)


def _rule_segment(rule: dict[str, Any], variation: int, description: str) -> str | None:
    """The one segment of a rule rolloutcli wrote (its description starts with
    ``description``) serving ``variation``; None for any other rule."""
    if rule.get("variation") != variation:
        return None
    if not str(rule.get("description", "")).startswith(description):
        return None
    clauses = rule.get("clauses") or []
    if len(clauses) == 1 and clauses[0].get("op") == "segmentMatch" and clauses[0].get("values"):
        return str(clauses[0]["values"][0])
    return None


def _excluded_segment(env: dict[str, Any], variations: Variations) -> str | None:
    """The exclusion's segment, only while its rule comes first (a rule above it would be
    served before it, and the exclusion would not hold)."""
    rules = [r for r in env.get("rules") or [] if isinstance(r, dict)]
    return _excluded_by(rules[0], variations) if rules else None


def _check_percent(percent: float) -> None:
    steps = percent * TOTAL_WEIGHT / 100
    if not (0 <= percent <= 100) or abs(steps - round(steps)) > 1e-6:
        raise InvalidInputError(
            f"{NAME}: {percent:g}% cannot be set: weights are thousandths of a percent, 0-100"
        )


def _chain(
    entries: list[dict[str, Any]], plan: str, environment: str, complete: bool
) -> list[ChangeRecord]:
    """The entries (oldest first) as change records, each with the share before it: 0 at
    the flag's start, then what the last change set; unknown before the oldest entry of a
    log read only in part, and after a hand edit (the audit log does not say to what)."""
    records: list[ChangeRecord] = []
    previous: float | None = 0.0 if complete else None
    for entry in entries:
        record = _record(entry, plan, environment, previous)
        if record is None:
            continue
        if record.percent_after is not None:
            previous = record.percent_after
        elif record.action == "edit":
            previous = None
        records.append(record)
    return records


_SPLIT_NOTES = ("advance", "rollback", "reduce")
"""The tool's notes that set the split to the share they name (the recorded stage comes
from the latest of them when the live split still matches it)."""


def _record(
    entry: dict[str, Any], plan: str, environment: str, previous: float | None
) -> ChangeRecord | None:
    at_ms = _int(entry.get("date"))
    if not at_ms:
        return None
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    comment = str(entry.get("comment") or "")
    by = _member(entry)
    pause = _PAUSE_NOTE.match(comment)
    if pause is not None:  # any plan's: the pause holds the flag in the environment
        if pause["env"] != environment:
            return None
        # the note names the person who paused (the pause mark's by=), not the API token
        named, _, reason = comment[pause.end() :].partition(": ")
        who = named.strip() or by
        return ChangeRecord(
            at,
            pause["action"],
            None,
            None,
            None,
            pause["plan"],
            comment,
            who,
            reason.strip() or None,
            pause["record"],
        )
    note = parse_title(comment)
    actions = {str(a.get("action")) for a in entry.get("accesses") or [] if isinstance(a, dict)}
    if note is not None and note.plan == plan and not note.audience and note.action:
        after = note.percent if note.action in _SPLIT_NOTES else None
        return ChangeRecord(
            at, note.action, previous, after, note.stage, plan, comment, by, record=note.record
        )
    who = by or "someone"
    if actions & {"updateFallthrough", "updateFallthroughWithMeasuredRollout"}:
        text = f"fallthrough changed by {who}: {comment}"
        return ChangeRecord(at, "edit", previous, None, None, None, text, by)
    if "updateOn" in actions:
        return ChangeRecord(at, "on/off", None, None, None, None, f"turned on/off by {who}", by)
    return None


def _breaks_run(entry: dict[str, Any], plan: str) -> bool:
    """Whether an entry ends the run of advances that led to the live split (a rollback,
    kill or hand edit of the fallthrough): nothing older matters to the current rollout."""
    if _PAUSE_NOTE.match(str(entry.get("comment") or "")):
        return False  # a pause or resume moves nothing
    note = parse_title(entry.get("comment"))
    if note is not None and note.plan == plan:
        return note.action != "advance"
    actions = {str(a.get("action")) for a in entry.get("accesses") or [] if isinstance(a, dict)}
    return "updateFallthrough" in actions


def _member(entry: dict[str, Any]) -> str | None:
    """Who made the change, as the audit log names them: the member's email or the API
    token's name (None: it names neither)."""
    member = entry.get("member")
    if isinstance(member, dict) and member.get("email"):
        return str(member["email"])
    token = entry.get("token")
    if isinstance(token, dict) and token.get("name"):
        return f"token {token['name']}"
    return None


def _pause_values(flag: dict[str, Any], environment: str) -> list[str] | None:
    """The values of the environment's pause property, or None when it is not paused."""
    prop = (flag.get("customProperties") or {}).get(pause_key(environment))
    if not isinstance(prop, dict):
        return None
    values = prop.get("value")
    return [str(v) for v in values] if isinstance(values, list) else []


def _pause_mark(values: list[str], records: list[ChangeRecord]) -> PauseMark:
    """Who paused and why from the property's ``by=`` / ``reason=`` values; when from the
    audit log's pause entry (unknown when the latest pause or resume there is not a pause,
    e.g. the property was added by hand)."""
    fields = dict(v.split("=", 1) for v in values if "=" in v)
    marks = [r for r in records if r.action in PAUSE_ACTIONS]
    at = marks[-1].at if marks and marks[-1].action == "pause" else None
    return PauseMark(at=at, by=fields.get("by") or None, reason=fields.get("reason") or None)


def _token(env: dict[str, Any], paused: bool) -> str:
    """The version token a conditional write compares: the environment's ``version`` (every
    targeting change, on/off included, moves it) and whether the environment is paused."""
    version = str(env.get("version", ""))
    return f"{version} paused" if paused else version


def _token_version(token: str) -> int:
    """The environment ``version`` inside a token made by ``_token``."""
    return _int(token.split(" ", 1)[0])


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0


def _error_message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        code = f"{body['code']}: " if body.get("code") else ""
        return clip(f"{code}{body['message']}", 300)  # scrubbed before it is cut
    return clip(response.text or response.reason_phrase or "", 200)
