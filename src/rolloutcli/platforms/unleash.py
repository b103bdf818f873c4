"""Unleash over its Admin API: a plan's rollout is one gradual-rollout strategy it owns.

How the rollout lives in Unleash:

* **The plan's strategy.** A ``flexibleRollout`` strategy in the plan's environment whose
  title names the plan and stage: ``rolloutcli plan=checkout-v2 stage=25% pct=25
  action=advance record=<id> · verdict go: …``. The title is the one free-text field Unleash
  keeps per change, so the event log shows which plan moved the flag, to which stage, why,
  and which decision record tells the rest (``record=``, see ``changenote``). A
  boolean flag's treatment share is the strategy's ``rollout`` percentage. A variant flag
  (model ``v2.4`` against ``v2.3``) is served at rollout 100% with the treatment variant
  ``fix``-weighted at the stage's share and the control ``variable`` (Unleash silently
  rebalances weights when every variant is variable). Unleash keeps the variants in its own
  (name) order, so the treatment always owns one end of the bucket range and grows from it.
  Bucketing is by the plan's stickiness with ``groupId`` = the flag, so a user treated at 10%
  stays treated at 25%.
* **The audience.** An allowlist or segment that goes first is a second strategy,
  ``rolloutcli plan=… audience``, at 100% behind a ``userId IN`` constraint or the segment
  (Unleash ORs strategies).
* **The exclusion** (the plan's ``exclude: {keys: …}``). Since any strategy that matches
  enables the flag, the exclusion is a ``userId NOT_IN`` constraint on *every* strategy the
  plan owns (the rollout's and the audience's), so Unleash's SDKs serve the excluded users
  the flag disabled (the control, ``false``) at every stage, 100% included. Strategies
  written by hand are not touched (``status`` notes them). Only keys of a boolean flag: a
  strategy's segments only include (there is no inverted segment), and an excluded user of
  a variant flag would get Unleash's disabled variant, not the control; plan validation
  refuses both.
* **Kill** turns the flag off in the environment, then notes the kill in the strategy title;
  **unkill** turns it back on the same way (``/on``, then ``action=unkill`` in the title).
* **Pause** (`rollout pause`) is a flag tag of type ``rolloutcli`` with the value
  ``paused-<environment>`` (see ``pause_tag``), created and removed through the tag API, so
  Unleash's event log records ``feature-tagged`` / ``feature-untagged`` with who and when, the
  flag list shows and filters it, and the strategy SDKs are served is not touched. A tag
  holds no free text (values are 50 characters at most): the reason is not kept in Unleash,
  nor the record id (`history` pairs a pause with its record by time).

Unleash's PUT replaces whatever it is not sent, so a strategy is never rebuilt from scratch:
the rollout moves with a JSON-Patch that touches only the rollout, the weights and the
title, and starts with a ``test`` of the value read, so a stale write is refused (exit 4).
Unleash has no ETag and that ``test`` is not atomic with the write; what remains is written
down in the README ("Unleash").

The server accepts any rollout value (150, "abc", "12.5") and its SDKs then serve the flag
to nobody, so every percentage is checked here before it is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

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
from rolloutcli.support.errors import BackendError, ConflictError, InvalidInputError
from rolloutcli.support.http import Answer, HttpBackend
from rolloutcli.support.redact import clip, display_url, env_secret, register_url
from rolloutcli.support.timeutil import parse_timestamp
from rolloutcli.support.urlpolicy import check_url

from .base import SHAPE_ERRORS, answers_checked
from .changenote import Title, format_title, parse_title, plan_token
from .unleashknobs import knob_strategy, knob_variant, variant_value
from .unleashknobs import reading as knob_reading

if TYPE_CHECKING:
    from rolloutcli.plan.platform_specs import UnleashSpec

__all__ = ["Title", "UnleashPlatform", "format_title", "open_unleash", "parse_title"]

NAME = "unleash"
ENV_URL = "UNLEASH_URL"
ENV_TOKEN = "UNLEASH_API_TOKEN"
STRATEGY = "flexibleRollout"
KEY_FIELD = "userId"  # the context field an allowlist matches (Unleash's default stickiness)
TAG_TYPE = "rolloutcli"  # the tag type a pause tag belongs to (created on first pause)
TAG_PREFIX = "paused-"
TAG_LIMIT = 50  # Unleash refuses longer tag values
TAGGED, UNTAGGED = "feature-tagged", "feature-untagged"
CREATED = "feature-created"


def open_unleash(
    spec: UnleashSpec, flag: str, base_dir: Path, plan: str | None = None
) -> UnleashPlatform:
    url = spec.url or os.environ.get(ENV_URL, "")
    if not url.strip():
        raise InvalidInputError(
            f"unleash: no server URL: set {ENV_URL} or platform.url in the plan"
        )
    register_url(url)  # a password in the URL is a secret
    url = check_url(url, f"unleash: {ENV_URL} / platform.url")
    token = env_secret(ENV_TOKEN)
    if not token:
        raise InvalidInputError(
            f"unleash: no API token: set {ENV_TOKEN} to an admin or personal access token"
        )
    return UnleashPlatform(
        url=url,
        token=token,
        flag=flag,
        plan=plan or flag,
        project=spec.project or "default",
        environment=spec.environment,
        stickiness=spec.stickiness,
    )


def audience_title(plan: str) -> str:
    return f"rolloutcli plan={plan_token(plan)} audience (served first, before the percentage)"


def pause_tag(environment: str) -> str:
    """The tag value that marks ``environment`` paused: ``paused-<environment>``, or for a
    name too long for a tag value its first 30 characters, ``~`` and 12 hex digits of its
    SHA-256 (deterministic, so every run finds the same tag). No ``:`` in it: Unleash's tag
    filters split ``type:value`` on colons."""
    value = TAG_PREFIX + environment
    if len(value) <= TAG_LIMIT:
        return value
    digest = hashlib.sha256(environment.encode("utf-8")).hexdigest()[:12]
    return f"{TAG_PREFIX}{environment[:30]}~{digest}"


def rollout_value(raw: object) -> int | None:
    """A strategy's ``rollout`` parameter as the SDKs read it: a whole number 0-100 (sent as
    a string), or None for anything they would treat as "nobody"."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"\d{1,3}", raw.strip()):
        value = int(raw.strip())
    else:
        return None
    return value if 0 <= value <= 100 else None


def strategy_percent(strategy: dict[str, Any], treatment: object = None) -> float | None:
    """The treatment share a rolloutcli strategy serves: its rollout, times the treatment
    variant's weight when it has variants (Unleash keeps variants in its own order; without
    a ``treatment`` name, the ``fix`` variant is the treatment, as rolloutcli writes it).
    None when the rollout is invalid."""
    rollout = rollout_value((strategy.get("parameters") or {}).get("rollout"))
    if rollout is None:
        return None
    variants = [v for v in strategy.get("variants") or [] if isinstance(v, dict)]
    if not variants:
        return float(rollout)
    chosen = next(
        (v for v in variants if treatment is not None and v.get("name") == str(treatment)),
        None,
    )
    if chosen is None and treatment is None:
        chosen = next((v for v in variants if v.get("weightType") == "fix"), variants[0])
    weight = float(chosen.get("weight", 0)) if chosen else 0.0
    return round(rollout * weight / 1000, 6)


@answers_checked
class UnleashPlatform:
    name = NAME

    def __init__(
        self,
        *,
        url: str,
        token: str,
        flag: str,
        plan: str,
        project: str = "default",
        environment: str = "development",
        stickiness: str = "default",
        http: HttpBackend | None = None,
    ) -> None:
        base = url.strip().rstrip("/")
        base = base.removesuffix("/api")
        self.url = base
        self.flag = flag
        self.plan = plan_token(plan)
        self.project = project
        self.environment = environment
        self.stickiness = stickiness
        self._http = http or HttpBackend(
            NAME, base, {"Authorization": token, "Content-Type": "application/json"}
        )
        self._feature = (
            f"/api/admin/projects/{quote(project, safe='')}/features/{quote(flag, safe='')}"
        )
        self._env = f"{self._feature}/environments/{quote(environment, safe='')}"
        self._tags = f"/api/admin/features/{quote(flag, safe='')}/tags"

    def describe(self) -> str:
        return f"Unleash {display_url(self.url)}, project {self.project}"

    # ------------------------------------------------------------------ reading

    def read_state(self, treatment: object, control: object) -> FlagState:
        return self.read(treatment, control).state

    def read(self, treatment: object, control: object) -> FlagReading:
        """The plan's strategies in the environment, and the flag's event log (read once:
        the pause mark's who and when come from it too)."""
        variant = _variant_mode(treatment, control)
        env = self._read_environment()
        strategies = _strategies(env)
        main, audience = self._own(strategies)
        notes: list[str] = []
        percent = 0.0
        recorded_stage: str | None = None
        comment: str | None = None
        if main is not None:
            title = parse_title(main.get("title"))
            served = self._served_percent(main, treatment, control, variant, notes)
            percent = served
            if (
                title is not None
                and title.percent is not None
                and abs(title.percent - served) < 1e-6
            ):
                recorded_stage = title.stage
                comment = str(main.get("title"))
        keys, segment = self._audience(audience)
        excluded = _excluded_keys(main, audience)
        others = [
            s.get("title") or s.get("name", "?")
            for s in strategies
            if s is not main and s is not audience and not s.get("disabled")
        ]
        if others:
            notes.append(
                f"other strategies also serve flag {self.flag} in {self.environment} "
                f"({', '.join(map(str, others))}): users they enable get it whatever the "
                "rollout percentage"
            )
        events = self._events()
        records = self._records(events)
        paused = self._paused()
        if main is not None and split_moved_at(records) is None:
            notes.append(
                "Unleash's event log has no record of when this split was set: the stage "
                "start is unknown"
            )
        state = FlagState(
            flag=self.flag,
            on=bool(env.get("enabled")),
            percent=percent,
            audience_keys=keys,
            audience_segment=segment,
            excluded_keys=excluded,
            recorded_stage=recorded_stage,
            comment=comment,
            version=_token(main, audience, bool(env.get("enabled")), paused),
            notes=tuple(notes),
            paused=self._pause_mark(events) if paused else None,
            platform_prerequisites=self._dependencies(env),
        )
        return FlagReading(state, tuple(records), self._reaches_back_to(events))

    def history(self) -> list[ChangeRecord]:
        return self._records(self._events())

    def read_share(self, flag: str, variation: object) -> FlagShare:
        """Another feature of the project, for a prerequisite: enabled in this environment,
        and the share it is enabled for whatever the context: 100% with no strategies,
        else the largest of its unconstrained standard (100%) and gradual rollouts
        (strategies with constraints or segments serve some users only: not counted)."""
        path = f"/api/admin/projects/{quote(self.project, safe='')}/features/{quote(flag, safe='')}"
        answer = self._http.request("GET", path)
        if answer.response.status_code == 404:
            problem = f"no feature {flag!r} in project {self.project}"
            return FlagShare(flag, variation, False, problem=problem)
        self._check(answer, "GET", path)
        body = _json(answer.response)
        envs = body.get("environments") if isinstance(body, dict) else None
        env = next(
            (e for e in envs or [] if isinstance(e, dict) and e.get("name") == self.environment),
            None,
        )
        if env is None:
            problem = f"feature {flag!r} has no environment {self.environment!r}"
            return FlagShare(flag, variation, True, problem=problem)
        percent = enabled_share(_strategies(env))
        return FlagShare(flag, variation, True, on=bool(env.get("enabled")), percent=percent)

    def _dependencies(self, env: dict[str, Any]) -> tuple[PlatformPrerequisite, ...]:
        """The feature's own dependencies (its parents), each with its parent as read."""
        items = []
        for dep in env.get("dependencies") or []:
            if not isinstance(dep, dict) or not isinstance(dep.get("feature"), str):
                continue
            key, enabled = dep["feature"], dep.get("enabled", True) is not False
            variants = tuple(str(v) for v in dep.get("variants") or []) if enabled else ()
            try:
                share = self.read_share(key, enabled)
            except BackendError as exc:
                share = FlagShare(key, enabled, False, problem=str(exc))
            items.append(PlatformPrerequisite(key, enabled, share, variants))
        return tuple(items)

    # ------------------------------------------------------------------ writing

    def set_rollout(
        self,
        change: RolloutChange,
        treatment: object,
        control: object,
        expected: FlagState,
        at: datetime | None = None,  # Unleash stamps its own time on each event
    ) -> FlagState:
        variant = _variant_mode(treatment, control)
        _check_percent(change.percent, variant)
        env = self._read_environment()
        main, audience = self._own(_strategies(env))
        if _token(main, audience, bool(env.get("enabled")), self._paused()) != expected.version:
            raise self._conflict("changed since it was read (split, on/off or pause)")
        title = format_title(
            self.plan, change.stage, change.percent, change.action, change.comment, change.record
        )
        excluded = change.excluded_keys
        if main is None:
            self._create_main(title, change.percent, treatment, control, variant, excluded)
        else:
            self._move_main(main, title, change.percent, treatment, control, variant, excluded)
        self._set_audience(
            audience, change.audience_keys, change.audience_segment, treatment, variant, excluded
        )
        if change.turn_on and not env.get("enabled"):
            self._call("POST", f"{self._env}/on", idempotent=True)
        after = self.read_state(treatment, control)
        if abs(after.percent - change.percent) > 1e-6:
            raise self._conflict(
                f"was changed by someone else while we wrote: it now serves {after.percent:g}%, "
                f"not the {change.percent:g}% we set"
            )
        if after.on != (expected.on or change.turn_on) or (after.paused is None) != (
            expected.paused is None
        ):
            raise self._conflict(
                "was turned off or on, paused or resumed by someone else while we wrote: it "
                f"is now {'on' if after.on else 'off'}"
                + (", paused" if after.paused is not None else "")
            )
        return after

    def is_on(self) -> bool:
        return bool(self._read_environment().get("enabled"))

    def turn_off(
        self, plan: str | None, comment: str, at: datetime | None = None, record: str | None = None
    ) -> bool:
        """Turn the flag off in the environment first; only then note the kill in the title
        (a failure there is ignored: the flag is already off)."""
        env: dict[str, Any] | None = None
        try:
            env = self._read_environment()
        except BackendError:
            env = None  # read failed: turn it off anyway
        if env is not None and not env.get("enabled"):
            return False
        self._call("POST", f"{self._env}/off", idempotent=True)
        if env is not None and plan is not None:
            # the flag is off: nothing that follows (an odd strategy, a failed note) may
            # turn the kill into an error
            with contextlib.suppress(BackendError, *SHAPE_ERRORS):
                self._note_kill(env, comment, "kill", record)
        return True

    def turn_on(
        self,
        plan: str | None,
        comment: str,
        at: datetime | None = None,
        by: str | None = None,
        record: str | None = None,
    ) -> bool:
        """Turn the flag on in the environment (Unleash logs who and when), then note the
        unkill in the strategy title, so the event log reads ``action=unkill`` with the
        reason. ``at`` and ``by`` have no place here: Unleash stamps its own."""
        env = self._read_environment()
        if env.get("enabled"):
            return False
        self._call("POST", f"{self._env}/on", idempotent=True)
        if plan is not None:
            with contextlib.suppress(BackendError, *SHAPE_ERRORS):
                self._note_kill(env, comment, "unkill", record)
        return True

    def _note_kill(
        self, env: dict[str, Any], comment: str, action: str, record: str | None
    ) -> None:
        main = self._own(_strategies(env))[0]
        if main is None:
            return
        old = parse_title(main.get("title"))
        percent = strategy_percent(main) or 0.0
        stage = old.stage if old else None
        title = format_title(self.plan, stage, percent, action, comment, record)
        self._call(
            "PATCH",
            f"{self._env}/strategies/{main['id']}",
            json=[{"op": "replace", "path": "/title", "value": title}],
            idempotent=True,
        )

    def set_paused(
        self,
        paused: bool,
        plan: str | None,
        by: str,
        reason: str,
        at: datetime | None = None,
        record: str | None = None,
    ) -> bool:
        """Tag the flag ``rolloutcli: paused-<environment>`` (or remove the tag). Unleash
        records who and when in its event log; ``by``, ``reason``, ``at`` and ``record`` have
        no place in a tag (the caller's own records keep them; `history` pairs a pause with
        its record by time). The strategies are not touched."""
        self._read_environment()  # the flag and the environment exist: a clear error if not
        if self._paused() == paused:
            return False
        value = pause_tag(self.environment)
        if paused:
            self._ensure_tag_type()
            self._call(
                "POST",
                self._tags,
                json={"type": TAG_TYPE, "value": value},
                idempotent=True,  # Unleash upserts a tag: a repeat adds nothing
            )
        else:
            self._call("DELETE", f"{self._tags}/{TAG_TYPE}/{quote(value, safe='')}")
        return True

    # ------------------------------------------------------------------ pause tag

    def _paused(self) -> bool:
        body = _json(self._call("GET", self._tags).response)
        tags = body.get("tags") if isinstance(body, dict) else None
        value = pause_tag(self.environment)
        return any(
            isinstance(t, dict) and t.get("type") == TAG_TYPE and t.get("value") == value
            for t in tags or []
        )

    def _pause_mark(self, events: list[dict[str, Any]]) -> PauseMark:
        """Who set the pause tag and when: the ``feature-tagged`` event that paused it last
        (a repeated tag call changes nothing; unknown when the event log no longer has the
        event). Unleash keeps no reason."""
        value = pause_tag(self.environment)
        mark = PauseMark(at=None, by=None, reason=None)
        paused = False
        for event in events:
            if event.get("type") not in (TAGGED, UNTAGGED) or _tag_of(event) != (TAG_TYPE, value):
                continue
            tagged = event.get("type") == TAGGED
            if tagged and not paused:
                who = event.get("createdBy")
                mark = PauseMark(
                    at=parse_timestamp(event.get("createdAt")),
                    by=str(who) if who else None,
                    reason=None,
                )
            paused = tagged
        return mark

    def _ensure_tag_type(self) -> None:
        path = f"/api/admin/tag-types/{TAG_TYPE}"
        if self._http.request("GET", path).response.status_code == 200:
            return
        answer = self._http.request(
            "POST",
            "/api/admin/tag-types",
            json={
                "name": TAG_TYPE,
                "description": "rolloutcli: paused-<environment> holds automatic advancing "
                "of the flag's rollout in that environment (rollout pause / resume)",
            },
            idempotent=True,  # a second create is a 409, which is fine
        )
        status = answer.response.status_code
        if status in (401, 403):
            raise BackendError(
                NAME,
                f"HTTP {status}: the token may not create the tag type {TAG_TYPE!r}",
                hint=f"create tag type {TAG_TYPE!r} once in Unleash (Configure → Tag types) "
                f"or use an admin token in {ENV_TOKEN}",
            )
        if status != 409:
            self._check(answer, "POST", "/api/admin/tag-types")

    # ------------------------------------------------------------------ strategies

    def _own(
        self, strategies: list[dict[str, Any]]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """This plan's rollout strategy and audience strategy (the first of each)."""
        main = audience = None
        for strategy in strategies:
            title = parse_title(strategy.get("title"))
            if title is None or title.plan != self.plan or strategy.get("name") != STRATEGY:
                continue
            if title.audience:
                audience = audience or strategy
            else:
                main = main or strategy
        return main, audience

    def _served_percent(
        self,
        strategy: dict[str, Any],
        treatment: object,
        control: object,
        variant: bool,
        notes: list[str],
    ) -> float:
        raw = (strategy.get("parameters") or {}).get("rollout")
        rollout = rollout_value(raw)
        if rollout is None:
            notes.append(
                f"the strategy's rollout is {raw!r}, which is not a whole number 0-100: "
                "Unleash's SDKs serve the flag to nobody (roll back or advance to fix it)"
            )
            return 0.0
        if not variant:
            return float(rollout)
        variants = strategy.get("variants") or []
        names = [v.get("name") for v in variants]
        if str(treatment) not in names:
            return 0.0
        if str(control) not in names:
            notes.append(f"the strategy has no {control!r} variant: the split is not the plan's")
        weight = variants[names.index(str(treatment))].get("weight", 0)
        return round(rollout * float(weight) / 1000, 6)

    def _create_main(
        self,
        title: str,
        percent: float,
        treatment: object,
        control: object,
        variant: bool,
        excluded: tuple[str, ...] = (),
    ) -> None:
        body: dict[str, Any] = {
            "name": STRATEGY,
            "title": title,
            "constraints": _with_exclusion([], excluded),
            "segments": [],
            "variants": _variants([], treatment, control, percent, self.stickiness)
            if variant
            else [],
            "parameters": {
                "rollout": "100" if variant else str(round(percent)),
                "stickiness": self.stickiness,
                "groupId": self.flag,
            },
        }
        created = self._call("POST", f"{self._env}/strategies", json=body, idempotent=False)
        created_id = _json(created.response).get("id")
        # Two starts at the same moment can both create a strategy: keep the oldest.
        mine = [
            s
            for s in _strategies(self._read_environment())
            if (t := parse_title(s.get("title"))) and t.plan == self.plan and not t.audience
        ]
        if len(mine) > 1 and created_id is not None and mine[0].get("id") != created_id:
            self._call("DELETE", f"{self._env}/strategies/{created_id}")
            raise self._conflict("was started by another run at the same moment")

    def _move_main(
        self,
        strategy: dict[str, Any],
        title: str,
        percent: float,
        treatment: object,
        control: object,
        variant: bool,
        excluded: tuple[str, ...] = (),
    ) -> None:
        raw = (strategy.get("parameters") or {}).get("rollout")
        ops: list[dict[str, Any]] = [{"op": "test", "path": "/parameters/rollout", "value": raw}]
        current = strategy.get("constraints") or []
        if (constraints := _with_exclusion(current, excluded)) != current:
            ops.append({"op": "replace", "path": "/constraints", "value": constraints})
        if variant:
            current = strategy.get("variants") or []
            for i, item in enumerate(current):
                ops.append(
                    {"op": "test", "path": f"/variants/{i}/weight", "value": item.get("weight")}
                )
            ops.append(
                {
                    "op": "replace",
                    "path": "/variants",
                    "value": _variants(current, treatment, control, percent, self.stickiness),
                }
            )
            ops.append({"op": "replace", "path": "/parameters/rollout", "value": "100"})
        else:
            ops.append(
                {"op": "replace", "path": "/parameters/rollout", "value": str(round(percent))}
            )
        ops.append({"op": "replace", "path": "/title", "value": title})
        path = f"{self._env}/strategies/{strategy['id']}"
        answer = self._http.request(
            "PATCH", path, json=ops, idempotent=True, retry_status=lambda r: not _test_failed(r)
        )
        if _test_failed(answer.response):
            if answer.attempts > 1 and self._now_serves(strategy["id"], percent):
                return  # our first attempt landed; its answer was lost
            raise self._conflict("changed since it was read")
        self._check(answer, "PATCH", path)

    def _now_serves(self, strategy_id: str, percent: float) -> bool:
        for strategy in _strategies(self._read_environment()):
            if strategy.get("id") == strategy_id:
                served = strategy_percent(strategy)
                return served is not None and abs(served - percent) < 1e-6
        return False

    def _set_audience(
        self,
        current: dict[str, Any] | None,
        keys: tuple[str, ...],
        segment: str | None,
        treatment: object,
        variant: bool,
        excluded: tuple[str, ...] = (),
    ) -> None:
        if not keys and not segment:
            if current is not None:
                self._call("DELETE", f"{self._env}/strategies/{current['id']}")
            return
        segment_ids = [self._segment_id(segment)] if segment else []
        key_constraint = {
            "contextName": KEY_FIELD,
            "operator": "IN",
            "values": list(keys),
            "caseInsensitive": False,
            "inverted": False,
        }
        if current is None:
            body: dict[str, Any] = {
                "name": STRATEGY,
                "title": audience_title(self.plan),
                "constraints": _with_exclusion([key_constraint] if keys else [], excluded),
                "segments": segment_ids,
                "variants": [
                    {
                        "name": str(treatment),
                        "weight": 1000,
                        "weightType": "variable",
                        "stickiness": self.stickiness,
                    }
                ]
                if variant
                else [],
                "parameters": {
                    "rollout": "100",
                    "stickiness": self.stickiness,
                    "groupId": self.flag,
                },
            }
            self._call("POST", f"{self._env}/strategies", json=body, idempotent=False)
            return
        # Read, modify, write the whole strategy: PUT empties whatever it is not sent.
        constraints = [
            c
            for c in current.get("constraints") or []
            if not (c.get("contextName") == KEY_FIELD and c.get("operator") == "IN")
        ]
        if keys:
            constraints.append(key_constraint)
        constraints = _with_exclusion(constraints, excluded)
        if constraints == (current.get("constraints") or []) and segment_ids == (
            current.get("segments") or []
        ):
            return
        body = {
            k: current[k]
            for k in ("name", "title", "parameters", "variants", "sortOrder", "disabled")
            if k in current
        }
        body["constraints"] = constraints
        body["segments"] = segment_ids
        self._call("PUT", f"{self._env}/strategies/{current['id']}", json=body)

    def _audience(self, strategy: dict[str, Any] | None) -> tuple[tuple[str, ...], str | None]:
        if strategy is None:
            return (), None
        keys: list[str] = []
        for constraint in strategy.get("constraints") or []:
            if constraint.get("contextName") == KEY_FIELD and constraint.get("operator") == "IN":
                keys.extend(str(v) for v in constraint.get("values") or [])
        segment: str | None = None
        ids = strategy.get("segments") or []
        if ids:
            names = {s.get("id"): s.get("name") for s in self._segments()}
            segment = str(names.get(ids[0], ids[0]))
        return tuple(keys), segment

    def _segments(self) -> list[dict[str, Any]]:
        body = _json(self._call("GET", "/api/admin/segments").response)
        segments = body.get("segments") if isinstance(body, dict) else None
        return [s for s in segments or [] if isinstance(s, dict)]

    def _segment_id(self, name: str) -> int:
        for segment in self._segments():
            if segment.get("name") == name:
                return int(segment["id"])
        raise BackendError(
            NAME,
            f"segment {name!r} not found on {self.url}",
            hint="create it in Unleash (Segments) or fix the stage's audience.segment",
        )

    # ------------------------------------------------------------------ event log

    def _events(self) -> list[dict[str, Any]]:
        """The flag's event log, oldest first."""
        answer = self._call("GET", f"/api/admin/events/{quote(self.flag, safe='')}")
        body = _json(answer.response)
        events = body.get("events") if isinstance(body, dict) else None
        return sorted(
            (e for e in events or [] if isinstance(e, dict)), key=lambda e: e.get("id", 0)
        )

    @staticmethod
    def _reaches_back_to(events: list[dict[str, Any]]) -> datetime | None:
        """Where the event log begins: None when it holds the flag's creation (so every
        change since), else its oldest event (Unleash prunes old events)."""
        if not events or any(e.get("type") == CREATED for e in events):
            return None
        return parse_timestamp(events[0].get("createdAt"))

    def _records(self, events: list[dict[str, Any]]) -> list[ChangeRecord]:
        records: list[ChangeRecord] = []
        paused = False
        for event in events:
            if event.get("type") in (TAGGED, UNTAGGED):
                record = self._pause_record(event, paused)
                if record is not None:
                    paused = record.action == "pause"
            else:
                record = self._record(event)
            if record is not None:
                records.append(record)
        return records

    def _pause_record(self, event: dict[str, Any], paused: bool) -> ChangeRecord | None:
        """A pause or resume from a tag event for this environment's pause tag. Unleash
        writes an event for every tag call, even one that changes nothing, so only a change
        from ``paused`` (the state the earlier events left) counts."""
        if _tag_of(event) != (TAG_TYPE, pause_tag(self.environment)):
            return None
        at = parse_timestamp(event.get("createdAt"))
        tagged = event.get("type") == TAGGED
        if at is None or tagged == paused:
            return None
        who = _created_by(event)
        action = "pause" if tagged else "resume"
        verb = "paused" if tagged else "resumed"
        return ChangeRecord(
            at,
            action,
            None,
            None,
            None,
            None,
            f"automatic advancing {verb} in {self.environment} by {who or 'someone'} "
            "(Unleash keeps no reason)",
            who,
        )

    def _record(self, event: dict[str, Any]) -> ChangeRecord | None:
        if event.get("environment") != self.environment:
            return None
        at = parse_timestamp(event.get("createdAt"))
        if at is None:
            return None
        kind = event.get("type")
        by = _created_by(event)
        who = by or "someone"
        if kind == "feature-environment-disabled":
            return ChangeRecord(at, "off", None, None, None, None, f"turned off by {who}", by)
        if kind == "feature-environment-enabled":
            return ChangeRecord(at, "on", None, None, None, None, f"turned on by {who}", by)
        if kind not in (
            "feature-strategy-add",
            "feature-strategy-update",
            "feature-strategy-remove",
        ):
            return None
        data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        pre: dict[str, Any] = event["preData"] if isinstance(event.get("preData"), dict) else {}
        now, before = parse_title(data.get("title")), parse_title(pre.get("title"))
        title = now or before
        if title is None or title.plan != self.plan or title.audience:
            return None
        if kind == "feature-strategy-remove":
            return ChangeRecord(
                at,
                "remove",
                strategy_percent(pre),
                0.0,
                None,
                self.plan,
                f"strategy removed by {who}",
                by,
            )
        after = strategy_percent(data)
        prior = 0.0 if kind == "feature-strategy-add" else strategy_percent(pre)
        retitled = kind == "feature-strategy-add" or data.get("title") != pre.get("title")
        if retitled and now is not None and now.action:
            action, comment = now.action, str(data.get("title"))
        elif after != prior:
            action, comment = "edit", f"rollout changed outside rolloutcli by {who}"
        else:
            return None
        stage = now.stage if now else None
        record = now.record if now is not None and action == now.action else None
        return ChangeRecord(at, action, prior, after, stage, self.plan, comment, by, record=record)

    # ------------------------------------------------------------------ knobs

    def read_knob(self, flag: str) -> KnobReading:
        env = self._knob_environment(flag)
        return knob_reading(flag, env, self._knob_events(flag), self.environment)

    def set_knob(
        self,
        flag: str,
        value: object,
        expected: KnobReading,
        plan: str,
        comment: str,
        at: datetime | None = None,
        record: str | None = None,
        by: str | None = None,
    ) -> KnobReading:
        """One JSON-Patch of the knob's strategy: test its variants as read, set the one
        variant serving ``value``, and the change note as its title."""
        assert isinstance(value, int | float | str) and not isinstance(value, bool)
        strategy, why = knob_strategy(self._knob_environment(flag))
        if strategy is None:
            raise BackendError(
                NAME,
                f"knob flag {flag!r} in {self.environment}: {why}",
                hint="give the knob's flag one flexibleRollout strategy at 100% in the "
                "environment; rolloutcli sets its one variant",
            )
        live = variant_value(strategy)[0]
        if not same_value(live, expected.value):
            raise ConflictError(
                f"{NAME}: knob flag {flag!r} in {self.environment} serves {live!r} now, not "
                f"the {expected.value!r} read; nothing was written (re-run to act on it)"
            )
        title = format_title(plan, None, None, "knob", comment, record)
        ops = [
            {"op": "test", "path": "/variants", "value": strategy.get("variants") or []},
            {"op": "replace", "path": "/variants", "value": [knob_variant(value, self.stickiness)]},
            {"op": "add", "path": "/title", "value": title},
        ]
        path = f"{self._knob_path(flag)}/environments/{quote(self.environment, safe='')}"
        path += f"/strategies/{quote(str(strategy['id']), safe='')}"
        answer = self._http.request(
            "PATCH", path, json=ops, idempotent=True, retry_status=lambda r: not _test_failed(r)
        )
        if _test_failed(answer.response):
            after = self.read_knob(flag)
            if answer.attempts > 1 and same_value(after.value, value):
                return after  # our first attempt landed; its answer was lost
            raise ConflictError(
                f"{NAME}: knob flag {flag!r} in {self.environment} changed since it was "
                "read; nothing was written (re-run to act on it)"
            )
        self._check(answer, "PATCH", path)
        return self.read_knob(flag)

    def _knob_path(self, flag: str) -> str:
        return f"/api/admin/projects/{quote(self.project, safe='')}/features/{quote(flag, safe='')}"

    def _knob_environment(self, flag: str) -> dict[str, Any]:
        path = self._knob_path(flag)
        answer = self._http.request("GET", path)
        if answer.response.status_code == 404:
            raise BackendError(
                NAME,
                f"knob flag {flag!r} not found in project {self.project}",
                hint="check the knob's flag: in the plan, or create the toggle",
            )
        self._check(answer, "GET", path)
        body = _json(answer.response)
        for env in body.get("environments") or [] if isinstance(body, dict) else []:
            if isinstance(env, dict) and env.get("name") == self.environment:
                return env
        raise BackendError(NAME, f"knob flag {flag!r} has no environment {self.environment!r}")

    def _knob_events(self, flag: str) -> list[dict[str, Any]]:
        answer = self._call("GET", f"/api/admin/events/{quote(flag, safe='')}")
        body = _json(answer.response)
        events = body.get("events") if isinstance(body, dict) else None
        return [e for e in events or [] if isinstance(e, dict)]

    # ------------------------------------------------------------------ HTTP

    def _read_environment(self) -> dict[str, Any]:
        return self._environment_of(_json(self._call("GET", self._feature).response))

    def _environment_of(self, body: Any) -> dict[str, Any]:
        """This environment of a feature as the admin API returns it (with its feature's
        ``dependencies`` added, which Unleash keeps on the feature, not per environment)."""
        found = body.get("environments") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise BackendError(
                NAME,
                f"the answer for flag {self.flag!r} has no list of environments",
                hint=f"check that {ENV_URL} / platform.url is the Unleash server's base URL",
            )
        envs = [env for env in found if isinstance(env, dict)]
        for env in envs:
            if env.get("name") == self.environment:
                return {**env, "dependencies": body.get("dependencies") or []}
        names = ", ".join(str(e.get("name"))[:40] for e in envs[:20])
        raise BackendError(
            NAME,
            f"flag {self.flag!r} has no environment {self.environment!r} (it has: {names})",
            hint="check platform.environment in the plan",
        )

    def _call(
        self, method: str, path: str, *, json: Any = None, idempotent: bool | None = None
    ) -> Answer:
        answer = self._http.request(method, path, json=json, idempotent=idempotent)
        self._check(answer, method, path)
        return answer

    def _check(self, answer: Answer, method: str, path: str) -> None:
        response = answer.response
        if response.status_code < 400:
            return
        status = response.status_code
        message = _error_message(response)
        if status in (401, 403):
            hint = (
                f"check {ENV_TOKEN}: it must be an admin or personal access token (not a "
                f"client token) with access to project {self.project} and environment "
                f"{self.environment}"
            )
        elif status == 404:
            hint = (
                f"check the flag key {self.flag!r}, platform.project ({self.project}) and "
                f"platform.environment ({self.environment}) in the plan"
            )
        elif status == 409:
            raise self._conflict(message)
        elif status >= 500:
            hint = "the Unleash server failed; nothing was confirmed, try again shortly"
        else:
            hint = "the server refused the request"
        raise BackendError(NAME, f"HTTP {status} on {method} {path}: {message}", hint=hint)

    def _conflict(self, what: str) -> ConflictError:
        return ConflictError(
            f"{NAME}: flag {self.flag!r} in {self.environment} {what}; nothing more was "
            "written (re-run to act on the current state)"
        )


# ---------------------------------------------------------------------- pure helpers


def _variant_mode(treatment: object, control: object) -> bool:
    """True for a variant split (two named variants), False for a boolean flag."""
    if treatment is True and control is False:
        return False
    if isinstance(treatment, str) and isinstance(control, str):
        return True
    raise InvalidInputError(
        "unleash: roll out a boolean flag (treatment: true, control: false) or two variants "
        f"by name; got {treatment!r} / {control!r}"
    )


def _check_percent(percent: float, variant: bool) -> None:
    """Refuse what Unleash would store and its SDKs would then serve to nobody."""
    unit = 0.1 if variant else 1.0
    steps = percent / unit
    if not (0 <= percent <= 100) or abs(steps - round(steps)) > 1e-9:
        raise InvalidInputError(
            f"unleash: {percent:g}% cannot be set: "
            + (
                "variant weights are in tenths of a percent"
                if variant
                else "use a whole percentage 0-100"
            )
        )


def _variants(
    current: list[dict[str, Any]],
    treatment: object,
    control: object,
    percent: float,
    stickiness: str,
) -> list[dict[str, Any]]:
    """Treatment ``fix`` at the stage's share; control ``variable``, the rest. Other
    variants the strategy carries are kept only at weight 0 (they would take a share)."""
    weight = round(percent * 10)
    by_name = {str(v.get("name")): v for v in current if isinstance(v, dict)}
    others = [v for name, v in by_name.items() if name not in (str(treatment), str(control))]
    busy = [str(v.get("name")) for v in others if v.get("weight")]
    if busy:
        raise BackendError(
            NAME,
            f"the strategy also serves variants {', '.join(busy)}",
            hint="rolloutcli splits two variants; set the others' weight to 0 or remove them",
        )
    treated = {
        **by_name.get(str(treatment), {}),
        "name": str(treatment),
        "weight": weight,
        "weightType": "fix",
        "stickiness": stickiness,
    }
    kept = {
        **by_name.get(str(control), {}),
        "name": str(control),
        "weight": 1000 - weight,
        "weightType": "variable",
        "stickiness": stickiness,
    }
    return [treated, kept, *({**v, "weightType": "fix", "weight": 0} for v in others)]


def enabled_share(strategies: list[dict[str, Any]]) -> float:
    """The share of users a feature's strategies enable whatever their context: 100 with no
    active strategy (Unleash's SDKs then enable it for everyone), else the largest of the
    unconstrained ``default`` (100) and ``flexibleRollout`` strategies; strategies with
    constraints or segments, or of other kinds, enable some users only and add nothing."""
    active = [s for s in strategies if not s.get("disabled")]
    if not active:
        return 100.0
    shares = [0.0]
    for strategy in active:
        if strategy.get("constraints") or strategy.get("segments"):
            continue
        if strategy.get("name") == "default":
            shares.append(100.0)
        elif strategy.get("name") == STRATEGY:
            rollout = rollout_value((strategy.get("parameters") or {}).get("rollout"))
            shares.append(float(rollout or 0))
    return max(shares)


def _strategies(env: dict[str, Any] | None) -> list[dict[str, Any]]:
    if env is None:
        return []
    return [s for s in env.get("strategies") or [] if isinstance(s, dict)]


def _is_exclusion(constraint: Any) -> bool:
    return (
        isinstance(constraint, dict)
        and constraint.get("contextName") == KEY_FIELD
        and constraint.get("operator") == "NOT_IN"
        and not constraint.get("inverted")
    )


def _with_exclusion(constraints: list[Any], keys: tuple[str, ...]) -> list[Any]:
    """``constraints`` with the plan's exclusion: any ``userId NOT_IN`` replaced by one
    listing ``keys`` (none when there are no keys), last, the others kept as they are."""
    kept = [c for c in constraints if not _is_exclusion(c)]
    if not keys:
        return kept
    exclusion = {
        "contextName": KEY_FIELD,
        "operator": "NOT_IN",
        "values": list(keys),
        "caseInsensitive": False,
        "inverted": False,
    }
    return [*kept, exclusion]


def _excluded_keys(main: dict[str, Any] | None, audience: dict[str, Any] | None) -> tuple[str, ...]:
    """The keys every strategy the plan owns excludes (a key one of them lets through is
    not excluded: Unleash ORs strategies)."""
    owned = [s for s in (main, audience) if s is not None]
    if not owned:
        return ()
    per_strategy = [
        [
            str(v)
            for c in s.get("constraints") or []
            if _is_exclusion(c)
            for v in c.get("values") or []
        ]
        for s in owned
    ]
    return tuple(k for k in per_strategy[0] if all(k in other for other in per_strategy[1:]))


def _version(main: dict[str, Any] | None, audience: dict[str, Any] | None) -> str:
    """What a conditional write compares: the strategies' ids, rollout, weights, audience."""

    def shape(strategy: dict[str, Any] | None) -> Any:
        if strategy is None:
            return None
        return {
            "id": strategy.get("id"),
            "rollout": (strategy.get("parameters") or {}).get("rollout"),
            "weights": [v.get("weight") for v in strategy.get("variants") or []],
            "constraints": strategy.get("constraints") or [],
            "segments": strategy.get("segments") or [],
        }

    return json.dumps([shape(main), shape(audience)], sort_keys=True)


def _token(
    main: dict[str, Any] | None, audience: dict[str, Any] | None, on: bool, paused: bool
) -> str:
    """The whole version token: the split (``_version``), on/off and the pause tag, so a
    kill or a pause between a read and a write makes the write a conflict."""
    return f"{_version(main, audience)} on={int(on)} paused={int(paused)}"


def _tag_of(event: dict[str, Any]) -> tuple[object, object]:
    """The (type, value) a tag event names: ``data`` when tagged, ``preData`` when untagged."""
    tag = event.get("data") if event.get("type") == TAGGED else event.get("preData")
    if not isinstance(tag, dict):
        return None, None
    return tag.get("type"), tag.get("value")


def _created_by(event: dict[str, Any]) -> str | None:
    """Who made the change, as Unleash's event log names them (None: it does not)."""
    who = event.get("createdBy")
    return str(who) if who else None


def _test_failed(response: httpx.Response) -> bool:
    """Unleash answers a failed JSON-Patch ``test`` with a 500 "Test operation failed"."""
    return response.status_code == 500 and "test operation failed" in response.text.lower()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _error_message(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        details = body.get("details")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            detail = details[0].get("message")
            if detail:
                return clip(str(detail), 300)  # scrubbed before it is cut
        if body.get("message"):
            return clip(str(body["message"]), 300)
    text = response.text.strip()
    if text.startswith("<"):
        return "the server answered with an HTML error page"
    return clip(text, 200) or response.reason_phrase
