"""A local fake of the part of LaunchDarkly's REST API v2 that rolloutcli's adapter uses.

LaunchDarkly is SaaS and cannot be reached from the tests. :class:`FakeLaunchDarkly` is a real
HTTP server on 127.0.0.1 that keeps flags, segments and an audit log in memory, and is held to
the real service in two ways:

1. Every request and every response is checked against LD's OpenAPI spec with
   :class:`~tests.integration.launchdarkly_contract.Contract` as it happens. A request the
   spec does not allow is answered 400 ``invalid_request`` (401 ``unauthorized`` when the
   problem is the ``Authorization`` header, as LD would) and recorded in ``violations``;
   :meth:`FakeLaunchDarkly.assert_clean` fails the test. A response of the fake's own that does
   not match the spec is recorded as a violation too.
2. ``GET /sdk/latest-all`` serves the same flags, converted to the SDK's flag format, to the real
   ``launchdarkly-server-sdk`` in polling mode, so what a rollout does to real evaluations can be
   measured. That endpoint belongs to LD's SDK service, not to the REST API, and is **not** in
   the OpenAPI spec: it is explicitly excluded from contract validation (:data:`UNCONTRACTED`).

Behaviour the spec leaves open, and what the fake does (documented guesses):

* A failing JSON-Patch ``test`` operation answers **409** ``optimistic_locking_error``. The spec
  never says what LD returns: the flag PATCH declares 400/405/409 (not 422, which the global
  error table reserves for patches that "can not be understood"), and 409's schema is
  ``StatusConflictErrorRep`` whose example is exactly ``optimistic_locking_error``. Set
  ``json_patch_test_failure_status = 400`` to exercise the other plausible answer.
* A PATCH that changes nothing (semantic patch already in the requested state) answers 200 and
  bumps no version and writes no audit entry ("left unchanged", as LD's docs put it).
* ``removeRule`` with an unknown ``ruleId`` is a no-op (the instruction docs say "Does nothing if
  the rule does not exist"); other unknown rule ids and unknown variation ids are 400.
* ``rolloutWeights`` become ``rollout.variations`` in variation-index order, listing only the
  variations given in the map; ``contextKind`` defaults to ``"user"``; ``bucketBy`` is only set
  when ``rolloutBucketBy`` is given.
* ``?dryRun=true`` returns the flag as it would be saved (versions bumped) and saves nothing.
* An unknown ``environmentKey`` in a semantic patch is 400 ``invalid_request``.
* Custom properties (flag-wide: ``addCustomProperties``, ``removeCustomProperties``,
  ``replaceCustomProperties``; audit action ``updateFlagCustomProperties``, as in LD's role
  actions): ``addCustomProperties`` on a key that exists adds the values it lacks and keeps the
  name (the spec says only "Adds a new custom property"); ``removeCustomProperties`` removes
  the values given and, as documented, the property once no value is left; an unknown key is a
  no-op. A flag-wide change bumps the flag's ``_version`` and no environment ``version``, and
  its audit entry's resource is ``proj/…:env/*:flag/…`` (LD's flag-setting actions apply to
  ``env/*``), which an environment-scoped audit-log ``spec`` filter matches.
* Prerequisites (``addPrerequisite``, ``updatePrerequisite``, ``removePrerequisite``,
  ``replacePrerequisites``; audit action ``updatePrerequisites``): the ``variationId`` is one
  of the *prerequisite* flag's variations, stored as its index (``{key, variation}``); a flag
  that does not exist, the flag itself, a key already listed (add) or not listed (update),
  and a chain that leads back to the flag are 400; removing an unknown key does nothing, as
  documented. The SDK endpoint serves every flag of the project, so the real SDK checks the
  prerequisites itself and serves the off variation while one is unmet.
* A semantic-patch kind or JSON-Patch operation the spec documents but the fake does not
  implement is answered 400 *and* recorded as a violation prefixed ``fake limitation:``, so a
  test can never pass because the fake quietly ignored something.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.integration.launchdarkly_contract import (
    SEMANTIC_PATCH_MARKER,
    Contract,
    ContractViolation,
    load_contract,
)

Json = Any

UNCONTRACTED = re.compile(r"^/sdk/")
"""Paths served by the fake that are not part of the REST API spec (the SDK polling endpoint)."""

ENV_NAMES = {"production": "Production", "test": "Test"}
ACCOUNT_ID = "5f0c1a2b3c4d5e6f7a8b9c0d"
MEMBER = {
    "_links": {
        "self": {"href": "/api/v2/members/5f0c1a2b3c4d5e6f7a8b9c0e", "type": "application/json"}
    },
    "_id": "5f0c1a2b3c4d5e6f7a8b9c0e",
    "email": "rollout-bot@example.com",
    "firstName": "Rollout",
    "lastName": "Bot",
}
TOKEN_ID = "5f0c1a2b3c4d5e6f7a8b9c0f"

DEFAULT_ERROR_BODIES: dict[int, dict[str, str]] = {
    400: {"code": "invalid_request", "message": "Invalid request body"},
    401: {"code": "unauthorized", "message": "Invalid access token"},
    403: {
        "code": "forbidden",
        "message": "Forbidden. Access to the requested resource was denied.",
    },
    404: {"code": "not_found", "message": "Invalid resource identifier"},
    405: {
        "code": "method_not_allowed",
        "message": "This environment requires approvals. Create an approval request instead.",
    },
    409: {
        "code": "optimistic_locking_error",
        "message": "Conflict. Optimistic lock error. Try again later.",
    },
    429: {
        "code": "rate_limited",
        "message": "You've exceeded the API rate limit. Try again later.",
    },
    500: {"code": "internal_server_error", "message": "Internal server error"},
    502: {"code": "bad_gateway", "message": "Bad gateway"},
    503: {"code": "service_unavailable", "message": "Service unavailable"},
}
"""Bodies for injected errors, shaped like LD's ``*ErrorRep`` schemas (``code`` + ``message``)."""

_ACTION_BY_KIND = {
    "turnFlagOn": "updateOn",
    "turnFlagOff": "updateOn",
    "updateFallthroughVariationOrRollout": "updateFallthrough",
    "updateOffVariation": "updateOffVariation",
    "addTargets": "updateTargets",
    "removeTargets": "updateTargets",
    "addRule": "updateRules",
    "removeRule": "updateRules",
    "updateRuleVariationOrRollout": "updateRules",
    "updateRuleDescription": "updateRules",
    "reorderRules": "updateRules",
    "addPrerequisite": "updatePrerequisites",
    "updatePrerequisite": "updatePrerequisites",
    "removePrerequisite": "updatePrerequisites",
    "replacePrerequisites": "updatePrerequisites",
}
_ACTION_BY_FIELD = {
    "on": "updateOn",
    "fallthrough": "updateFallthrough",
    "offVariation": "updateOffVariation",
    "targets": "updateTargets",
    "contextTargets": "updateTargets",
    "rules": "updateRules",
    "prerequisites": "updatePrerequisites",
    "trackEvents": "updateTrackEvents",
    "trackEventsFallthrough": "updateTrackEvents",
}
_PREREQUISITE_KINDS = frozenset(
    ("addPrerequisite", "updatePrerequisite", "removePrerequisite", "replacePrerequisites")
)
_FLAG_LEVEL_KINDS = {
    "addCustomProperties": "updateFlagCustomProperties",
    "removeCustomProperties": "updateFlagCustomProperties",
    "replaceCustomProperties": "updateFlagCustomProperties",
}
"""Flag-wide semantic-patch kinds the fake implements (no ``environmentKey``)."""
_REPLACEABLE_ENV_FIELDS = frozenset(_ACTION_BY_FIELD)
_REPLACEABLE_FLAG_FIELDS = {
    "name": "updateName",
    "description": "updateDescription",
    "tags": "updateTags",
    "temporary": "updateTemporary",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _hex_id() -> str:
    """A 24-hex-digit id, like LD's (Mongo ObjectId-style) audit-log and member ids."""
    return uuid.uuid4().hex[:24]


class ApiError(Exception):
    """An error the fake answers with, in LD's ``{"code", "message"}`` format."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FakeLimitation(ApiError):
    """Something the spec allows that this fake does not implement (reported as a violation)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "invalid_request", f"fake limitation: {message}")


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "Invalid resource identifier")


@dataclass
class Exchange:
    """One request to the fake and the answer it got."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None
    status: int
    response_body: bytes
    response_headers: dict[str, str] = field(default_factory=dict)
    injected: bool = False
    violation: str | None = None

    def json(self) -> Json:
        """The response body parsed as JSON."""
        return json.loads(self.response_body) if self.response_body else None

    def request_json(self) -> Json:
        """The request body parsed as JSON."""
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Injection:
    """A canned answer for the next ``times`` requests matching ``method`` and ``path_regex``."""

    method: str | None
    path_regex: re.Pattern[str]
    status: int | None
    headers: dict[str, str]
    body: Json | bytes | None
    times: int
    delay: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.hits < self.times
            and (self.method is None or self.method.upper() == method.upper())
            and self.path_regex.search(path) is not None
        )


class FakeLaunchDarkly:
    """A contract-checked, in-memory LaunchDarkly REST API (and SDK polling endpoint).

    Use as a context manager (or :meth:`start` / :meth:`stop`)::

        with FakeLaunchDarkly() as ld:
            ld.add_flag("default", "new-checkout", [True, False], on=True)
            ...  # point the adapter at ld.url with token ld.api_token
            ld.assert_clean()
    """

    api_token = "api-test-0000"
    sdk_key = "sdk-test-0000"
    json_patch_test_failure_status = 409
    """Status for a failing JSON-Patch ``test`` op (the spec does not say; see module docs)."""

    def __init__(
        self,
        now: Callable[[], int] | None = None,
        *,
        sdk_project: str = "default",
        contract: Contract | None = None,
    ) -> None:
        self.now: Callable[[], int] = now or _now_ms
        self.contract = contract or load_contract()
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []
        self.sdk_keys: dict[str, tuple[str, str]] = {self.sdk_key: (sdk_project, "production")}
        self._flags: dict[tuple[str, str], dict[str, Json]] = {}
        self._segments: dict[tuple[str, str, str], dict[str, Json]] = {}
        self._audit: list[dict[str, Json]] = []
        self._injections: list[Injection] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeLaunchDarkly:
        """Start serving on a free port of 127.0.0.1 (sets :attr:`url`)."""
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name=f"fake-launchdarkly-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLaunchDarkly:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- assertions & inspection -------------------------------------------------------------

    def assert_clean(self) -> None:
        """Raise :class:`ContractViolation` listing every violation seen so far."""
        with self._lock:
            if self.violations:
                raise ContractViolation(
                    f"{len(self.violations)} contract violation(s):\n- "
                    + "\n- ".join(self.violations)
                )

    def requests(self, method: str | None = None, path_regex: str | None = None) -> list[Exchange]:
        """Recorded exchanges, optionally filtered by method and ``re.search`` on the path."""
        with self._lock:
            return [
                e
                for e in self.exchanges
                if (method is None or e.method == method.upper())
                and (path_regex is None or re.search(path_regex, e.path))
            ]

    def inject(
        self,
        method: str | None,
        path_regex: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: Json | bytes | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> Injection:
        """Answer the next ``times`` requests matching ``method`` (None: any) and ``path_regex``.

        ``path_regex`` is searched (``re.search``) in the request path, without the query.
        With ``status``, the fake answers that status, ``headers`` and ``body`` (a JSON value, or
        raw bytes; default: LD's error body for that status, see :data:`DEFAULT_ERROR_BODIES`)
        instead of handling the request. Without ``status`` it waits ``delay`` seconds and then
        answers normally (for client timeouts). Injected bodies are checked against the spec's
        schema for that status when the operation declares the status; statuses the spec does not
        declare (500, 503, ...) are allowed, since any server can produce them.

        Injections are consulted after the request itself passed the contract; the first
        matching one (in the order injected) is used.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if status is not None and body is None:
            body = DEFAULT_ERROR_BODIES.get(status)
        injection = Injection(
            method=method.upper() if method else None,
            path_regex=re.compile(path_regex),
            status=status,
            headers=dict(headers or {}),
            body=body,
            times=times,
            delay=delay,
        )
        with self._lock:
            self._injections.append(injection)
        return injection

    def clear_injections(self) -> None:
        """Forget every pending injection."""
        with self._lock:
            self._injections.clear()

    # ---- state -------------------------------------------------------------------------------

    def add_flag(
        self,
        project: str,
        key: str,
        variations: list[Json],
        env: str = "production",
        *,
        on: bool = False,
        fallthrough_variation: int = 1,
        salt: str | None = None,
        name: str | None = None,
        targets: list[dict[str, Json]] | None = None,
        rules: list[dict[str, Json]] | None = None,
        off_variation: int | None = None,
    ) -> dict[str, Json]:
        """Create a flag (REST ``FeatureFlag`` shape) and return a copy of it.

        ``env`` gets ``on``, ``fallthrough_variation`` (an index), ``salt``, ``targets`` and
        ``rules``; the flag also exists, off, in the other of ``production``/``test``.
        ``targets`` are REST-shaped (``{"values", "variation", "contextKind"?}``; ``user`` keys go
        to ``targets`` with a placeholder in ``contextTargets``, other kinds to ``contextTargets``);
        ``rules`` are REST-shaped and get ``_id``s (rules and clauses) and ``trackEvents`` if
        missing. ``off_variation`` defaults to the last variation, as LD's defaults do.
        """
        if len(variations) < 2:
            raise ValueError("a flag needs at least two variations")
        for idx in [fallthrough_variation, off_variation]:
            if idx is not None and not 0 <= idx < len(variations):
                raise ValueError(f"variation index {idx} out of range")
        now = self.now()
        envs = ["production", "test"] if env in ("production", "test") else [env, "production"]
        kind = "boolean" if variations == [True, False] else "multivariate"
        flag: dict[str, Json] = {
            "_links": {
                "parent": {"href": f"/api/v2/flags/{project}", "type": "application/json"},
                "self": {"href": f"/api/v2/flags/{project}/{key}", "type": "application/json"},
            },
            "_version": 1,
            "archived": False,
            "creationDate": now,
            "customProperties": {},
            "deprecated": False,
            "description": "",
            "experiments": {"baselineIdx": 0, "items": []},
            "includeInSnippet": False,
            "clientSideAvailability": {"usingMobileKey": False, "usingEnvironmentId": False},
            "key": key,
            "kind": kind,
            "name": name or key,
            "tags": [],
            "temporary": True,
            "variations": [{"_id": str(uuid.uuid4()), "value": v} for v in variations],
            "defaults": {"onVariation": 0, "offVariation": len(variations) - 1},
            "environments": {},
        }
        off = len(variations) - 1 if off_variation is None else off_variation
        for e in envs:
            config: dict[str, Json] = {
                "_environmentName": ENV_NAMES.get(e, e.title()),
                "_site": {"href": f"/{project}/{e}/features/{key}", "type": "text/html"},
                "archived": False,
                "lastModified": now,
                "on": on if e == env else False,
                "salt": (salt if salt is not None and e == env else uuid.uuid4().hex),
                "sel": uuid.uuid4().hex,
                "trackEvents": False,
                "trackEventsFallthrough": False,
                "version": 1,
                "targets": [],
                "contextTargets": [],
                "rules": [],
                "fallthrough": {"variation": fallthrough_variation if e == env else 0},
                "offVariation": off,
                "prerequisites": [],
            }
            if e == env:
                for target in targets or []:
                    _add_target_keys(
                        config,
                        target.get("contextKind", "user"),
                        int(target["variation"]),
                        list(target["values"]),
                    )
                config["rules"] = [_complete_rule(copy.deepcopy(r)) for r in rules or []]
            flag["environments"][e] = config
        self.contract.validate("FeatureFlag", flag, f"add_flag({project!r}, {key!r})")
        with self._lock:
            self._flags[(project, key)] = flag
            return copy.deepcopy(flag)

    def flag(self, project: str, key: str) -> dict[str, Json]:
        """A deep copy of the stored flag (REST shape, all environments)."""
        with self._lock:
            return copy.deepcopy(self._flags[(project, key)])

    def add_segment(self, project: str, env: str, key: str, included: list[str]) -> dict[str, Json]:
        """Create a list-based segment (REST ``UserSegment`` shape) and return a copy."""
        now = self.now()
        segment: dict[str, Json] = {
            "_links": {
                "parent": {"href": f"/api/v2/segments/{project}/{env}", "type": "application/json"},
                "self": {
                    "href": f"/api/v2/segments/{project}/{env}/{key}",
                    "type": "application/json",
                },
            },
            "name": key,
            "tags": [],
            "creationDate": now,
            "lastModifiedDate": now,
            "key": key,
            "included": list(included),
            "excluded": [],
            "includedContexts": [],
            "excludedContexts": [],
            "rules": [],
            "version": 1,
            "deleted": False,
            "generation": 1,
            "unbounded": False,
        }
        self.contract.validate(
            "UserSegment", segment, f"add_segment({project!r}, {env!r}, {key!r})"
        )
        with self._lock:
            self._segments[(project, env, key)] = segment
            return copy.deepcopy(segment)

    def audit_entries(self) -> list[dict[str, Json]]:
        """Every audit-log entry (full ``AuditLogEntryRep`` shape), oldest first."""
        with self._lock:
            return copy.deepcopy(self._audit)

    def sdk_key_for(self, project: str, env: str) -> str:
        """An SDK key for ``project``/``env`` (registered on first use)."""
        key = f"sdk-{project}-{env}"
        with self._lock:
            self.sdk_keys[key] = (project, env)
        return key

    # ---- request handling --------------------------------------------------------------------

    def _handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        injected = False
        violation: str | None = None
        resp_headers: dict[str, str] = {}
        if UNCONTRACTED.match(path):
            status, payload = self._sdk(method, path, headers)
            body_out = _encode(payload)
        else:
            try:
                self.contract.check_request(method, path, query, headers, body)
            except ContractViolation as exc:
                violation = str(exc)
            if violation is not None:
                auth = _header(headers, "authorization")
                auth_problem = not auth or auth.lower().startswith("bearer ")
                status = 401 if auth_problem else 400
                payload = (
                    DEFAULT_ERROR_BODIES[401]
                    if auth_problem
                    else {"code": "invalid_request", "message": violation}
                )
                body_out = _encode(payload)
            else:
                injection = self._take_injection(method, path)
                if injection is not None and injection.delay:
                    time.sleep(injection.delay)
                if injection is not None and injection.status is not None:
                    injected = True
                    status = injection.status
                    resp_headers.update(injection.headers)
                    raw = injection.body
                    body_out = (
                        raw if isinstance(raw, bytes) else _encode(raw) if raw is not None else b""
                    )
                    if self.contract.declares_status(method, path, status):
                        violation = self._response_violation(
                            method, path, status, body_out, "injected response"
                        )
                else:
                    status, payload = self._dispatch(method, path, query, headers, body)
                    body_out = _encode(payload) if payload is not None else b""
                    if isinstance(payload, dict) and str(payload.get("message", "")).startswith(
                        "fake limitation:"
                    ):
                        violation = f"{method} {path}: {payload['message']}"
                    else:
                        violation = self._response_violation(method, path, status, body_out)
        if body_out:
            resp_headers.setdefault("Content-Type", "application/json")
        exchange = Exchange(
            method=method,
            path=path,
            query=query,
            headers=dict(headers),
            body=body,
            status=status,
            response_body=body_out,
            response_headers=dict(resp_headers),
            injected=injected,
            violation=violation,
        )
        with self._lock:
            self.exchanges.append(exchange)
            if violation is not None:
                self.violations.append(violation)
        return status, resp_headers, body_out

    def _response_violation(
        self, method: str, path: str, status: int, body: bytes, what: str = "fake response"
    ) -> str | None:
        try:
            self.contract.check_response(method, path, status, body)
        except ContractViolation as exc:
            return f"{what}: {exc}"
        return None

    def _take_injection(self, method: str, path: str) -> Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.matches(method, path):
                    injection.hits += 1
                    return injection
        return None

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | None,
    ) -> tuple[int, Json]:
        if _header(headers, "authorization") != self.api_token:
            return 401, DEFAULT_ERROR_BODIES[401]
        segs = [unquote(s) for s in path.strip("/").split("/")]
        try:
            if segs[:3] == ["api", "v2", "flags"] and len(segs) == 5:
                if method == "GET":
                    return 200, self._get_flag(segs[3], segs[4], query.get("env"))
                if method == "PATCH":
                    return 200, self._patch_flag(segs[3], segs[4], query, headers, body or b"")
            if segs[:3] == ["api", "v2", "auditlog"]:
                if len(segs) == 3 and method == "GET":
                    return 200, self._list_audit(query)
                if len(segs) == 4 and method == "GET":
                    return 200, self._get_audit(segs[3])
            if segs[:3] == ["api", "v2", "segments"] and len(segs) == 6 and method == "GET":
                with self._lock:
                    segment = self._segments.get((segs[3], segs[4], segs[5]))
                    if segment is None:
                        raise _not_found()
                    return 200, copy.deepcopy(segment)
            if segs == ["api", "v2", "caller-identity"] and method == "GET":
                return 200, self._caller_identity()
            raise FakeLimitation(f"{method} {path} is in the spec but not implemented by the fake")
        except ApiError as exc:
            return exc.status, {"code": exc.code, "message": exc.message}

    # ---- REST endpoints ----------------------------------------------------------------------

    def _stored(self, project: str, key: str) -> dict[str, Json]:
        flag = self._flags.get((project, key))
        if flag is None:
            raise _not_found()
        return flag

    def _get_flag(self, project: str, key: str, env: str | None) -> Json:
        with self._lock:
            flag = copy.deepcopy(self._stored(project, key))
        if env is not None:
            flag["environments"] = {k: v for k, v in flag["environments"].items() if k == env}
        return flag

    def _caller_identity(self) -> Json:
        return {
            "accountId": ACCOUNT_ID,
            "authKind": "token",
            "tokenKind": "personal",
            "tokenId": TOKEN_ID,
            "tokenName": "rolloutcli-tests",
            "memberId": MEMBER["_id"],
            "serviceToken": False,
            "scopes": ["writer"],
        }

    def _patch_flag(
        self, project: str, key: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Json:
        doc = json.loads(body)
        dry_run = query.get("dryRun") == "true"
        semantic = SEMANTIC_PATCH_MARKER in _header(headers, "content-type", "").replace(" ", "")
        with self._lock:
            stored = self._stored(project, key)
            before = copy.deepcopy(stored)
            work = copy.deepcopy(stored)
            if semantic:
                changed_envs, actions, describe = self._apply_semantic(work, doc, project)
                comment = doc.get("comment")
                delta: Json = doc.get("instructions")
            else:
                changed_envs, actions, describe = self._apply_json_patch(work, doc)
                comment = doc.get("comment") if isinstance(doc, dict) else None
                delta = doc.get("patch") if isinstance(doc, dict) else doc
            if work == before:
                return before  # already in the requested state: nothing saved, no versions bumped
            now = self.now()
            work["_version"] += 1
            for env in changed_envs:
                work["environments"][env]["version"] += 1
                work["environments"][env]["lastModified"] = now
            try:
                self.contract.validate("FeatureFlag", work, "patched flag")
            except ContractViolation as exc:
                raise _bad(f"patch would produce an invalid flag: {exc}") from None
            if dry_run:
                return work
            self._flags[(project, key)] = work
            self._record_audit(
                project, work, before, changed_envs, actions, describe, comment, delta, now
            )
            return copy.deepcopy(work)

    # ---- semantic patch ----------------------------------------------------------------------

    def _apply_semantic(
        self, flag: dict[str, Json], doc: dict[str, Json], project: str = ""
    ) -> tuple[list[str], list[str], list[str]]:
        env_key = doc.get("environmentKey")
        actions: list[str] = []
        describe: list[str] = []
        changed: set[str] = set()
        env: dict[str, Json] | None = None
        if env_key is not None:
            env = flag["environments"].get(env_key)
            if env is None:
                raise _bad(f"unknown environment {env_key!r}")
        ids = {v["_id"]: i for i, v in enumerate(flag["variations"])}

        def variation_index(vid: Json) -> int:
            if vid not in ids:
                raise _bad(f"unknown variation id {vid!r}")
            return ids[vid]

        def rollout(instr: dict[str, Json]) -> dict[str, Json]:
            weights = instr["rolloutWeights"]
            for vid in weights:
                variation_index(vid)
            out: dict[str, Json] = {
                "variations": [
                    {"variation": ids[vid], "weight": weights[vid]}
                    for vid in sorted(weights, key=lambda v: ids[v])
                ],
                "contextKind": instr.get("rolloutContextKind") or "user",
            }
            if instr.get("rolloutBucketBy"):
                out["bucketBy"] = instr["rolloutBucketBy"]
            return out

        def serve(instr: dict[str, Json]) -> dict[str, Json]:
            if instr.get("rolloutWeights") is not None:
                return {"rollout": rollout(instr)}
            return {"variation": variation_index(instr.get("variationId"))}

        def find_rule(rule_id: Json) -> dict[str, Json]:
            assert env is not None
            for rule in env["rules"]:
                if rule.get("_id") == rule_id:
                    return rule  # type: ignore[no-any-return]
            raise _bad(f"unknown rule id {rule_id!r}")

        for instr in doc["instructions"]:
            kind = instr["kind"]
            if kind in _FLAG_LEVEL_KINDS:
                if _apply_custom_properties(flag, instr):
                    actions.append(_FLAG_LEVEL_KINDS[kind])
                    describe.append(f"Changed custom property {instr['key']!r}")
                continue
            if kind not in _ACTION_BY_KIND:
                raise FakeLimitation(f"semantic patch instruction {kind!r} is not implemented")
            assert env is not None and env_key is not None  # the contract required environmentKey
            before = copy.deepcopy(env)
            if kind in ("turnFlagOn", "turnFlagOff"):
                env["on"] = kind == "turnFlagOn"
                describe.append(f"Turned {'on' if env['on'] else 'off'} the flag")
            elif kind == "updateFallthroughVariationOrRollout":
                env["fallthrough"] = serve(instr)
                describe.append(
                    f"Changed the default rule to {_describe_serve(env['fallthrough'])}"
                )
            elif kind == "updateOffVariation":
                env["offVariation"] = variation_index(instr["variationId"])
                describe.append(f"Changed the off variation to {env['offVariation']}")
            elif kind in ("addTargets", "removeTargets"):
                kind_ctx = instr.get("contextKind") or "user"
                idx = variation_index(instr["variationId"])
                if kind == "addTargets":
                    _add_target_keys(env, kind_ctx, idx, list(instr["values"]))
                else:
                    _remove_target_keys(env, kind_ctx, idx, list(instr["values"]))
                verb = "Added" if kind == "addTargets" else "Removed"
                describe.append(
                    f"{verb} {len(instr['values'])} {kind_ctx} target(s) for variation {idx}"
                )
            elif kind == "addRule":
                rule: dict[str, Json] = {
                    "_id": str(uuid.uuid4()),
                    "clauses": [
                        {
                            "_id": str(uuid.uuid4()),
                            "attribute": c["attribute"],
                            "op": c["op"],
                            "values": list(c["values"]),
                            "contextKind": c.get("contextKind", "user"),
                            "negate": bool(c.get("negate", False)),
                        }
                        for c in instr["clauses"]
                    ],
                    "trackEvents": False,
                }
                rule.update(serve(instr))
                for optional in ("description", "ref"):
                    if instr.get(optional) is not None:
                        rule[optional] = instr[optional]
                before_id = instr.get("beforeRuleId")
                if before_id is not None:
                    position = env["rules"].index(find_rule(before_id))
                    env["rules"].insert(position, rule)
                else:
                    env["rules"].append(rule)
                describe.append(f"Added a rule serving {_describe_serve(rule)}")
            elif kind == "removeRule":
                env["rules"] = [r for r in env["rules"] if r.get("_id") != instr["ruleId"]]
                describe.append("Removed a rule")
            elif kind == "updateRuleVariationOrRollout":
                rule = find_rule(instr["ruleId"])
                rule.pop("variation", None)
                rule.pop("rollout", None)
                rule.update(serve(instr))
                describe.append(f"Changed a rule to serve {_describe_serve(rule)}")
            elif kind == "updateRuleDescription":
                find_rule(instr["ruleId"])["description"] = instr["description"]
                describe.append("Changed a rule description")
            elif kind == "reorderRules":
                by_id = {r.get("_id"): r for r in env["rules"]}
                if sorted(map(str, by_id)) != sorted(instr["ruleIds"]):
                    raise _bad("ruleIds must list every rule of the flag exactly once")
                env["rules"] = [by_id[rid] for rid in instr["ruleIds"]]
                describe.append("Reordered the rules")
            elif kind in _PREREQUISITE_KINDS:
                env["prerequisites"] = self._prerequisites_after(
                    project, flag, env_key, list(env.get("prerequisites") or []), instr
                )
                describe.append(f"Changed the prerequisites ({kind})")
            if env != before:
                changed.add(env_key)
                actions.append(_ACTION_BY_KIND[kind])
        return sorted(changed), _dedupe(actions), describe

    def _prerequisites_after(
        self,
        project: str,
        flag: dict[str, Json],
        env_key: str,
        current: list[dict[str, Json]],
        instr: dict[str, Json],
    ) -> list[dict[str, Json]]:
        """A prerequisite instruction applied to ``current`` (LaunchDarkly's documented
        semantics): ``addPrerequisite`` needs a flag of the project, not the flag itself and
        not already a prerequisite, and a ``variationId`` of *that* flag (stored as its
        index); ``updatePrerequisite`` needs an existing one; ``removePrerequisite`` of an
        unknown key does nothing; ``replacePrerequisites`` sets the whole list. A
        prerequisite chain leading back to the flag is refused (LaunchDarkly forbids
        cycles)."""
        kind = instr["kind"]
        if kind == "removePrerequisite":
            return [p for p in current if p.get("key") != instr.get("key")]
        wanted = instr.get("prerequisites") if kind == "replacePrerequisites" else [instr]
        if not isinstance(wanted, list):
            raise _bad("prerequisites must be a list")
        result = [] if kind == "replacePrerequisites" else current
        keys = [p.get("key") for p in result]
        for item in wanted:
            key = item.get("key") if isinstance(item, dict) else None
            if not isinstance(key, str) or key == flag["key"]:
                raise _bad(f"invalid prerequisite flag key {key!r}")
            parent = self._flags.get((project, key))
            if parent is None:
                raise _bad(f"prerequisite flag {key!r} not found")
            ids = [v["_id"] for v in parent["variations"]]
            if item.get("variationId") not in ids:
                raise _bad(f"unknown variation id {item.get('variationId')!r} of flag {key!r}")
            if kind == "updatePrerequisite" and key not in keys:
                raise _bad(f"flag {key!r} is not a prerequisite")
            if kind != "updatePrerequisite" and key in keys:
                raise _bad(f"flag {key!r} is already a prerequisite")
            if self._leads_back(project, key, str(flag["key"]), env_key):
                raise _bad(f"prerequisite {key!r} would create a cycle")
            entry = {"key": key, "variation": ids.index(item["variationId"])}
            if kind == "updatePrerequisite":
                result = [entry if p.get("key") == key else p for p in result]
            else:
                result = [*result, entry]
                keys.append(key)
        return result

    def _leads_back(self, project: str, start: str, target: str, env_key: str) -> bool:
        """Whether ``start``'s prerequisites (transitively, in ``env_key``) reach ``target``."""
        seen: set[str] = set()
        waiting = [start]
        while waiting:
            key = waiting.pop()
            if key == target:
                return True
            if key in seen:
                continue
            seen.add(key)
            other = self._flags.get((project, key))
            env = (other or {}).get("environments", {}).get(env_key) or {}
            waiting.extend(str(p.get("key")) for p in env.get("prerequisites") or [])
        return False

    # ---- JSON patch --------------------------------------------------------------------------

    def _apply_json_patch(
        self, flag: dict[str, Json], doc: Json
    ) -> tuple[list[str], list[str], list[str]]:
        ops = doc.get("patch") if isinstance(doc, dict) else doc
        if not isinstance(ops, list):
            raise _bad("a JSON patch body needs a 'patch' array")
        actions: list[str] = []
        describe: list[str] = []
        changed: set[str] = set()
        for op in ops:
            kind, pointer = op["op"], op["path"]
            parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
            if kind == "test":
                try:
                    current = _pointer_get(flag, parts)
                except KeyError:
                    raise _bad(f"test: path {pointer!r} does not exist") from None
                if current != op.get("value"):
                    status = self.json_patch_test_failure_status
                    if status == 409:
                        raise ApiError(
                            409,
                            "optimistic_locking_error",
                            "Conflict. Optimistic lock error. Try again later.",
                        )
                    raise ApiError(
                        status,
                        "invalid_request",
                        f"test failed: {pointer} is {current!r}, not {op.get('value')!r}",
                    )
            elif kind == "replace":
                if (
                    len(parts) == 3
                    and parts[0] == "environments"
                    and parts[2] in _REPLACEABLE_ENV_FIELDS
                ):
                    env = flag["environments"].get(parts[1])
                    if env is None:
                        raise _bad(f"replace: unknown environment {parts[1]!r}")
                    env[parts[2]] = copy.deepcopy(op.get("value"))
                    changed.add(parts[1])
                    actions.append(_ACTION_BY_FIELD[parts[2]])
                    describe.append(f"Replaced {pointer}")
                elif len(parts) == 1 and parts[0] in _REPLACEABLE_FLAG_FIELDS:
                    flag[parts[0]] = copy.deepcopy(op.get("value"))
                    actions.append(_REPLACEABLE_FLAG_FIELDS[parts[0]])
                    describe.append(f"Replaced {pointer}")
                elif parts and parts[-1].startswith("_"):
                    raise _bad(f"replace: {pointer} is not editable")
                else:
                    raise FakeLimitation(f"JSON patch replace of {pointer!r} is not implemented")
            else:
                raise FakeLimitation(f"JSON patch op {kind!r} is not implemented")
        for env_key in changed:
            _check_indices(flag, flag["environments"][env_key])
        return sorted(changed), _dedupe(actions), describe

    # ---- audit log ---------------------------------------------------------------------------

    def _record_audit(
        self,
        project: str,
        after: dict[str, Json],
        before: dict[str, Json],
        envs: list[str],
        actions: list[str],
        describe: list[str],
        comment: str | None,
        delta: Json,
        now: int,
    ) -> None:
        key = after["key"]
        resources = [f"proj/{project}:env/{e}:flag/{key}" for e in envs] or [
            f"proj/{project}:env/*:flag/{key}"
        ]
        env_names = ", ".join(after["environments"][e]["_environmentName"] for e in envs)
        verb = "updated the flag"
        if actions == ["updateOn"] and len(envs) == 1:
            verb = (
                "turned on the flag"
                if after["environments"][envs[0]]["on"]
                else "turned off the flag"
            )
        entry_id = _hex_id()
        member = f"[{MEMBER['firstName']} {MEMBER['lastName']}](mailto:{MEMBER['email']})"
        target = f"[{after['name']}](/{project}/{envs[0] if envs else 'production'}/features/{key})"
        entry: dict[str, Json] = {
            "_links": {
                "self": {"href": f"/api/v2/auditlog/{entry_id}", "type": "application/json"},
                "canonical": {"href": f"/api/v2/flags/{project}/{key}", "type": "application/json"},
                "site": {"href": f"/{project}/production/features/{key}", "type": "text/html"},
            },
            "_id": entry_id,
            "_accountId": ACCOUNT_ID,
            "date": now,
            "accesses": [{"action": a, "resource": r} for r in resources for a in actions],
            "kind": "flag",
            "name": after["name"],
            "description": "\n".join(f"- {line}" for line in describe),
            "shortDescription": describe[0] if describe else "",
            "member": copy.deepcopy(MEMBER),
            "token": {
                "_links": {
                    "self": {"href": f"/api/v2/tokens/{TOKEN_ID}", "type": "application/json"}
                },
                "_id": TOKEN_ID,
                "name": "rolloutcli-tests",
                "ending": self.api_token[-4:],
                "serviceToken": False,
            },
            "titleVerb": verb,
            "title": f"{member} {verb} {target}" + (f" in `{env_names}`" if env_names else ""),
            "target": {
                "_links": {
                    "canonical": {
                        "href": f"/api/v2/flags/{project}/{key}",
                        "type": "application/json",
                    }
                },
                "name": after["name"],
                "resources": resources,
            },
            "parent": {
                "_links": {
                    "canonical": {"href": f"/api/v2/projects/{project}", "type": "application/json"}
                },
                "name": project,
                "resource": f"proj/{project}",
            },
            "delta": copy.deepcopy(delta),
            "previousVersion": before,
            "currentVersion": copy.deepcopy(after),
        }
        if comment is not None:
            entry["comment"] = comment
        self._audit.append(entry)

    def _list_audit(self, query: dict[str, str]) -> Json:
        limit = int(query.get("limit", "10"))
        if not 1 <= limit <= 20:
            raise _bad("limit must be between 1 and 20")
        before = int(query["before"]) if "before" in query else None
        after = int(query["after"]) if "after" in query else None
        spec = query.get("spec")
        text = query.get("q", "").lower()
        with self._lock:
            entries = list(reversed(self._audit))  # newest first (ties: most recently added first)
        entries.sort(key=lambda e: -e["date"])
        selected = [
            e
            for e in entries
            if (before is None or e["date"] < before)
            and (after is None or e["date"] > after)
            and (spec is None or any(_spec_matches(spec, r) for r in e["target"]["resources"]))
            and (not text or text in (e["name"] + e["description"] + e.get("comment", "")).lower())
        ]
        page = selected[:limit]
        links: dict[str, Json] = {"self": {"href": "/api/v2/auditlog", "type": "application/json"}}
        if len(selected) > limit:
            links["next"] = {
                "href": f"/api/v2/auditlog?limit={limit}&before={page[-1]['date']}",
                "type": "application/json",
            }
        listing_fields = self.contract.resolve("#/components/schemas/AuditLogEntryListingRep")
        keep = set(listing_fields["properties"])
        return {
            "items": [{k: copy.deepcopy(v) for k, v in e.items() if k in keep} for e in page],
            "_links": links,
        }

    def _get_audit(self, entry_id: str) -> Json:
        with self._lock:
            for entry in self._audit:
                if entry["_id"] == entry_id:
                    return copy.deepcopy(entry)
        raise _not_found()

    # ---- SDK endpoint (not in the REST spec) ---------------------------------------------------

    def _sdk(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, Json]:
        if method != "GET" or path != "/sdk/latest-all":
            return 404, {"code": "not_found", "message": "Invalid resource identifier"}
        key = _header(headers, "authorization")
        with self._lock:
            owner = self.sdk_keys.get(key or "")
            if owner is None:
                return 401, DEFAULT_ERROR_BODIES[401]
            project, env = owner
            flags = {
                k: to_sdk_flag(f, env)
                for (p, k), f in self._flags.items()
                if p == project and env in f["environments"]
            }
            segments = {
                k: to_sdk_segment(s)
                for (p, e, k), s in self._segments.items()
                if p == project and e == env
            }
        return 200, {"flags": flags, "segments": segments}


# ---- REST -> SDK conversion ------------------------------------------------------------------


def _sdk_rollout(rollout: dict[str, Json]) -> dict[str, Json]:
    out: dict[str, Json] = {
        "variations": [
            {
                "variation": wv["variation"],
                "weight": wv["weight"],
                **({"untracked": wv["_untracked"]} if "_untracked" in wv else {}),
            }
            for wv in rollout["variations"]
        ]
    }
    for name in ("contextKind", "bucketBy", "seed"):
        if rollout.get(name) is not None:
            out[name] = rollout[name]
    if rollout.get("experimentAllocation") is not None:
        out["kind"] = "experiment"
    return out


def _sdk_serve(source: dict[str, Json]) -> dict[str, Json]:
    if "rollout" in source and source["rollout"] is not None:
        return {"rollout": _sdk_rollout(source["rollout"])}
    return {"variation": source.get("variation")}


def to_sdk_flag(flag: dict[str, Json], env: str) -> dict[str, Json]:
    """The SDK's flag format (what ``/sdk/latest-all`` serves) for one environment of a REST flag.

    The SDK shape flattens the environment fields to the top level, uses raw variation values,
    ``id`` instead of ``_id`` on rules, no ids on clauses, and ``untracked`` instead of
    ``_untracked`` in rollouts (see ``shared/reference/launchdarkly.md`` §4).
    """
    config = flag["environments"][env]
    return {
        "key": flag["key"],
        "version": config["version"],
        "on": config["on"],
        "salt": config["salt"],
        "variations": [v["value"] for v in flag["variations"]],
        "offVariation": config.get("offVariation"),
        "fallthrough": _sdk_serve(config.get("fallthrough") or {}),
        "targets": [
            {"values": list(t["values"]), "variation": t["variation"]}
            for t in config.get("targets", [])
        ],
        "contextTargets": [
            {
                "contextKind": t.get("contextKind", "user"),
                "values": list(t["values"]),
                "variation": t["variation"],
            }
            for t in config.get("contextTargets", [])
        ],
        "rules": [
            {
                "id": r.get("_id", ""),
                "clauses": [
                    {
                        "attribute": c["attribute"],
                        "op": c["op"],
                        "values": list(c["values"]),
                        "negate": c.get("negate", False),
                        "contextKind": c.get("contextKind", "user"),
                    }
                    for c in r["clauses"]
                ],
                "trackEvents": r.get("trackEvents", False),
                **_sdk_serve(r),
                **({"description": r["description"]} if "description" in r else {}),
            }
            for r in config.get("rules", [])
            if not r.get("disabled", False)
        ],
        "prerequisites": [
            {"key": p["key"], "variation": p["variation"]} for p in config.get("prerequisites", [])
        ],
        "trackEvents": config["trackEvents"],
        "trackEventsFallthrough": config["trackEventsFallthrough"],
        "clientSide": False,
        "deleted": False,
    }


def to_sdk_segment(segment: dict[str, Json]) -> dict[str, Json]:
    """The SDK's segment format for a REST ``UserSegment``."""
    return {
        "key": segment["key"],
        "version": segment["version"],
        "included": list(segment.get("included", [])),
        "excluded": list(segment.get("excluded", [])),
        "includedContexts": copy.deepcopy(segment.get("includedContexts", [])),
        "excludedContexts": copy.deepcopy(segment.get("excludedContexts", [])),
        "rules": [
            {
                "id": r.get("_id", ""),
                "clauses": [
                    {
                        "attribute": c["attribute"],
                        "op": c["op"],
                        "values": list(c["values"]),
                        "negate": c.get("negate", False),
                        "contextKind": c.get("contextKind", "user"),
                    }
                    for c in r["clauses"]
                ],
                **{k: r[k] for k in ("weight", "bucketBy", "rolloutContextKind") if k in r},
            }
            for r in segment.get("rules", [])
        ],
        "salt": segment["key"],
        "unbounded": bool(segment.get("unbounded", False)),
        "deleted": bool(segment.get("deleted", False)),
    }


# ---- helpers -------------------------------------------------------------------------------


def _encode(payload: Json) -> bytes:
    return json.dumps(payload).encode()


def _header(headers: Mapping[str, str], name: str, default: str | None = None) -> Any:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return default


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _describe_serve(source: dict[str, Json]) -> str:
    if source.get("rollout"):
        parts = [
            f"{wv['weight'] / 1000:g}% variation {wv['variation']}"
            for wv in source["rollout"]["variations"]
        ]
        return "a percentage rollout (" + ", ".join(parts) + ")"
    return f"variation {source.get('variation')}"


def _complete_rule(rule: dict[str, Json]) -> dict[str, Json]:
    rule.setdefault("_id", str(uuid.uuid4()))
    rule.setdefault("trackEvents", False)
    for clause in rule.get("clauses", []):
        clause.setdefault("_id", str(uuid.uuid4()))
        clause.setdefault("contextKind", "user")
        clause.setdefault("negate", False)
    return rule


def _target_lists(env: dict[str, Json], context_kind: str) -> list[dict[str, Json]]:
    """The target entries holding keys for ``context_kind`` (``targets`` for users)."""
    if context_kind == "user":
        return env["targets"]  # type: ignore[no-any-return]
    return [t for t in env["contextTargets"] if t.get("contextKind") == context_kind]


def _add_target_keys(
    env: dict[str, Json], context_kind: str, variation: int, keys: list[str]
) -> None:
    for existing in _target_lists(env, context_kind):
        clash = set(keys) & set(existing["values"])
        if clash and existing["variation"] != variation:
            raise _bad(
                f"{context_kind} target(s) {sorted(clash)} are already targeted to variation "
                f"{existing['variation']}; a key may be in one variation only"
            )
    entry: dict[str, Json] | None
    if context_kind == "user":
        entry = next((t for t in env["targets"] if t["variation"] == variation), None)
        if entry is None:
            entry = {"contextKind": "user", "values": [], "variation": variation}
            env["targets"].append(entry)
            # LD lists user targets in contextTargets too, as a placeholder with no values.
            env["contextTargets"].append(
                {"contextKind": "user", "values": [], "variation": variation}
            )
    else:
        entry = next(
            (
                t
                for t in env["contextTargets"]
                if t.get("contextKind") == context_kind and t["variation"] == variation
            ),
            None,
        )
        if entry is None:
            entry = {"contextKind": context_kind, "values": [], "variation": variation}
            env["contextTargets"].append(entry)
    entry["values"].extend(k for k in keys if k not in entry["values"])


def _remove_target_keys(
    env: dict[str, Json], context_kind: str, variation: int, keys: list[str]
) -> None:
    for entry in _target_lists(env, context_kind):
        if entry["variation"] == variation:
            entry["values"] = [k for k in entry["values"] if k not in keys]
    if context_kind == "user":
        emptied = {t["variation"] for t in env["targets"] if not t["values"]}
        env["targets"] = [t for t in env["targets"] if t["values"]]
        env["contextTargets"] = [
            t
            for t in env["contextTargets"]
            if not (t.get("contextKind") == "user" and t["variation"] in emptied)
        ]
    else:
        env["contextTargets"] = [
            t for t in env["contextTargets"] if t.get("contextKind") == "user" or t["values"]
        ]


def _apply_custom_properties(flag: dict[str, Json], instr: dict[str, Json]) -> bool:
    """Apply one custom-property instruction (see the module docs); True if it changed the
    flag."""
    props: dict[str, Json] = flag.setdefault("customProperties", {})
    before = copy.deepcopy(props)
    key, kind = instr["key"], instr["kind"]
    values = [str(v) for v in instr["values"]]
    current = props.get(key)
    if kind == "replaceCustomProperties":
        props[key] = {"name": instr["name"], "value": values}
    elif kind == "addCustomProperties":
        if current is None:
            props[key] = {"name": instr["name"], "value": _dedupe(values)}
        else:
            current["value"] = _dedupe([*current["value"], *values])
    elif current is not None:  # removeCustomProperties
        current["value"] = [v for v in current["value"] if v not in values]
        if not current["value"]:
            del props[key]
    return props != before


def _check_indices(flag: dict[str, Json], env: dict[str, Json]) -> None:
    """Variation indices in an environment must exist (a JSON patch could break that)."""
    count = len(flag["variations"])

    def ok(idx: Json) -> bool:
        return idx is None or (isinstance(idx, int) and 0 <= idx < count)

    serves = [env.get("fallthrough") or {}, *env.get("rules", [])]
    indices = [env.get("offVariation")]
    indices += [t.get("variation") for t in env.get("targets", []) + env.get("contextTargets", [])]
    for s in serves:
        indices.append(s.get("variation"))
        indices += [wv.get("variation") for wv in (s.get("rollout") or {}).get("variations", [])]
    if not all(ok(i) for i in indices):
        raise _bad("variation index out of range")


def _pointer_get(doc: Json, parts: list[str]) -> Json:
    node = doc
    for part in parts:
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(part)
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def _spec_matches(spec: str, resource: str) -> bool:
    """Whether an audit-log resource specifier filter matches an entry's resource.

    Both are ``type/name`` segments joined by ``:``; ``*`` on either side matches any name, and a
    shorter filter (``proj/default``) matches everything under it.
    """
    from fnmatch import fnmatchcase

    want = [s.split("/", 1) for s in spec.split(":")]
    have = [s.split("/", 1) for s in resource.split(":")]
    if len(want) > len(have):
        return False
    for (w_type, *w_name), (h_type, *h_name) in zip(want, have, strict=False):
        if w_type != h_type:
            return False
        wn = w_name[0].split(";", 1)[0] if w_name else "*"
        hn = h_name[0] if h_name else "*"
        if not (fnmatchcase(hn, wn) or fnmatchcase(wn, hn)):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into :meth:`FakeLaunchDarkly._handle` calls."""

    fake: FakeLaunchDarkly
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK adds
    # ~40 ms to every keep-alive exchange.
    disable_nagle_algorithm = True
    timeout = 30  # idle keep-alive connections close after this many seconds
    server_version = "FakeLaunchDarkly/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()}
        try:
            status, resp_headers, out = self.fake._handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the fake: make it loud, never a silent hang
            status, resp_headers = 500, {"Content-Type": "application/json"}
            out = _encode({"code": "internal_server_error", "message": f"fake crashed: {exc!r}"})
            with self.fake._lock:
                self.fake.violations.append(f"fake crashed on {self.command} {self.path}: {exc!r}")
        try:
            self.send_response(status)
            for name, value in resp_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if out and self.command != "HEAD":
                self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a timeout test); nothing to answer

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""
