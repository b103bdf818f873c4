"""Tests of the LaunchDarkly fake and its OpenAPI contract themselves (not of the adapter).

The fake is only useful if (a) what it answers is what LaunchDarkly's spec promises, (b) a
request the real API would reject fails, and (c) what it does to a flag is what the real LD SDK
then evaluates. These tests pin all three down.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ldclient import Context, LDClient
from ldclient.config import Config

from tests.integration.launchdarkly_contract import (
    ContractViolation,
    load_contract,
    parse_semantic_patch_docs,
)
from tests.integration.launchdarkly_fake import FakeLaunchDarkly, to_sdk_flag

pytestmark = [pytest.mark.integration, pytest.mark.launchdarkly]

PROJECT = "default"
API_VERSION = "20240415"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"


@functools.cache
def _http() -> httpx.Client:
    """One shared client: building an httpx client (its SSL context) costs ~50 ms each time."""
    return httpx.Client(timeout=10)


@pytest.fixture
def ld() -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        yield fake


def call(
    fake: FakeLaunchDarkly,
    method: str,
    path: str,
    *,
    body: Any = None,
    semantic: bool = False,
    params: dict[str, str] | None = None,
    headers: dict[str, str | None] | None = None,
) -> httpx.Response:
    """One well-formed REST call (raw token, API version header); ``headers`` override."""
    sent = {"Authorization": fake.api_token, "LD-API-Version": API_VERSION}
    if body is not None:
        sent["Content-Type"] = SEMANTIC if semantic else "application/json"
    for name, value in (headers or {}).items():
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    return _http().request(method, fake.url + path, json=body, params=params, headers=sent)


def weights(flag: dict[str, Any], on_share: int) -> dict[str, int]:
    """rolloutWeights giving variation 0 ``on_share`` thousandths of a percent."""
    ids = [v["_id"] for v in flag["variations"]]
    return {ids[0]: on_share, ids[1]: 100_000 - on_share}


def rollout_patch(flag: dict[str, Any], on_share: int, comment: str) -> dict[str, Any]:
    return {
        "environmentKey": "production",
        "comment": comment,
        "instructions": [
            {
                "kind": "updateFallthroughVariationOrRollout",
                "rolloutWeights": weights(flag, on_share),
            }
        ],
    }


# ---- the contract's spec parsing ----------------------------------------------------------------


def test_spec_loads_once_and_fast_enough() -> None:
    load_contract.cache_clear()
    started = time.perf_counter()
    contract = load_contract()
    elapsed = time.perf_counter() - started
    assert load_contract() is contract
    assert contract.spec["openapi"] == "3.0.3"
    assert elapsed < 5, f"loading the 2.6 MB spec took {elapsed:.2f}s"


def test_semantic_patch_docs_are_parsed_from_the_operation_description() -> None:
    contract = load_contract()
    docs = contract.semantic_patch_docs(contract.find_operation("PATCH", "/api/v2/flags/p/k"))
    assert len(docs) == 53

    fallthrough = docs["updateFallthroughVariationOrRollout"]
    assert fallthrough.parameters == {
        "variationId",
        "rolloutWeights",
        "rolloutBucketBy",
        "rolloutContextKind",
    }
    assert fallthrough.optional == {"rolloutBucketBy", "rolloutContextKind"}
    assert fallthrough.alternatives == (
        frozenset({"variationId"}),
        frozenset({"rolloutWeights", "rolloutBucketBy", "rolloutContextKind"}),
    )
    assert fallthrough.requires_environment

    for kind in ("turnFlagOn", "turnFlagOff"):
        assert docs[kind].parameters == frozenset()
        assert docs[kind].requires_environment
    for kind in ("addTargets", "removeTargets"):
        assert docs[kind].parameters == {"values", "variationId", "contextKind"}
        assert docs[kind].optional == {"contextKind"}

    # addRule as the spec documents it: no `description`/`ref` (the contract accepts those two
    # separately, see UNDOCUMENTED_ACCEPTED_PARAMETERS).
    assert docs["addRule"].parameters == {
        "clauses",
        "beforeRuleId",
        "variationId",
        "rolloutWeights",
        "rolloutBucketBy",
        "rolloutContextKind",
    }
    assert "clauses" not in docs["addRule"].optional
    assert docs["addRule"].alternatives is not None
    assert docs["removeRule"].parameters == {"ruleId"}
    assert docs["updateRuleVariationOrRollout"].parameters == {
        "ruleId",
        "variationId",
        "rolloutWeights",
        "rolloutBucketBy",
        "rolloutContextKind",
    }
    # Filed under "targeting and variations" but documented without an environment:
    assert not docs["addVariation"].requires_environment
    assert not docs["archiveFlag"].requires_environment
    assert not docs["updateName"].requires_environment


def test_parser_on_a_minimal_description() -> None:
    text = """<details>
These instructions require the `environmentKey` parameter.

#### doThing

##### Parameters

- `a`: first.
- Either
  - `b`: alt one.

  or

  - `c`: (Optional) alt two.

```json
{"environmentKey": "x", "instructions": [{"kind": "doThing", "a": 1, "b": 2}]}
```

#### other

No parameters.
</details>
"""
    docs = parse_semantic_patch_docs(text)
    assert set(docs) == {"doThing", "other"}
    assert docs["doThing"].parameters == {"a", "b", "c"}
    assert docs["doThing"].optional == {"c"}
    assert docs["doThing"].alternatives == (frozenset({"b"}), frozenset({"c"}))
    assert docs["other"].parameters == frozenset()


def test_nullable_and_required_fields_are_enforced() -> None:
    contract = load_contract()
    assert (
        contract.schema_errors(
            "ApprovalRequestSetting",
            {
                "required": True,
                "bypassApprovalsForPendingChanges": False,
                "minNumApprovals": 1,
                "canReviewOwnRequest": False,
                "canApplyDeclinedChanges": False,
                "serviceKind": "launchdarkly",
                "serviceConfig": {},
                "requiredApprovalTags": [],
                "autoApplyApprovedChanges": None,
            },
        )
        == []
    )
    errors = contract.schema_errors("Rule", {"clauses": [], "trackEvents": None})
    assert any("trackEvents" in e and "None" in e for e in errors), errors
    assert any(
        "not declared" in e
        for e in contract.schema_errors(
            "Rule", {"clauses": [], "trackEvents": False, "_version": 3}
        )
    )


def test_unknown_paths_methods_and_query_parameters_are_violations() -> None:
    contract = load_contract()
    headers = {"Authorization": "api-x", "LD-API-Version": API_VERSION}
    with pytest.raises(ContractViolation, match="no path"):
        contract.check_request("GET", "/api/v2/flagz/p/k", {}, headers, None)
    with pytest.raises(ContractViolation, match="method not declared"):
        contract.check_request("PUT", "/api/v2/flags/p/k", {}, headers, None)
    with pytest.raises(ContractViolation, match="not declared"):
        contract.check_request("GET", "/api/v2/flags/p/k", {"environment": "x"}, headers, None)
    with pytest.raises(ContractViolation, match="'true' or 'false'"):
        contract.check_request("PATCH", "/api/v2/flags/p/k", {"dryRun": "1"}, headers, b"")
    with pytest.raises(ContractViolation, match=r"outside 1\.\.20"):
        contract.check_request("GET", "/api/v2/auditlog", {"limit": "50"}, headers, None)
    with pytest.raises(ContractViolation, match="must be an integer"):
        contract.check_request("GET", "/api/v2/auditlog", {"before": "yesterday"}, headers, None)
    with pytest.raises(ContractViolation, match="LD-API-Version"):
        contract.check_request(
            "GET", "/api/v2/flags/p/k", {}, {**headers, "LD-API-Version": "2"}, None
        )
    contract.check_request(
        "GET", "/api/v2/auditlog", {"limit": "20", "spec": "proj/p"}, headers, None
    )


def test_undeclared_statuses_and_bad_bodies_in_responses_are_violations() -> None:
    contract = load_contract()
    with pytest.raises(ContractViolation, match="status 500 is not declared"):
        contract.check_response("GET", "/api/v2/flags/p/k", 500, b"{}")
    with pytest.raises(ContractViolation, match="'code' is a required property"):
        contract.check_response("PATCH", "/api/v2/flags/p/k", 409, b'{"message": "x"}')
    contract.check_response(
        "PATCH", "/api/v2/flags/p/k", 405, b'{"code": "method_not_allowed", "message": "m"}'
    )


# ---- REST behaviour ----------------------------------------------------------------------------


def test_get_flag_response_validates(ld: FakeLaunchDarkly) -> None:
    created = ld.add_flag(PROJECT, "new-checkout", [True, False], on=True, salt="abc123")
    response = call(ld, "GET", f"/api/v2/flags/{PROJECT}/new-checkout")
    assert response.status_code == 200
    flag = response.json()
    assert flag == created
    assert set(flag["environments"]) == {"production", "test"}
    prod = flag["environments"]["production"]
    assert prod["on"] is True and prod["salt"] == "abc123" and prod["version"] == 1
    assert prod["fallthrough"] == {"variation": 1}
    assert flag["kind"] == "boolean"
    assert load_contract().schema_errors("FeatureFlag", flag) == []

    only_prod = call(
        ld, "GET", f"/api/v2/flags/{PROJECT}/new-checkout", params={"env": "production"}
    )
    assert set(only_prod.json()["environments"]) == {"production"}
    ld.assert_clean()


def test_unknown_flag_and_token(ld: FakeLaunchDarkly) -> None:
    missing = call(ld, "GET", f"/api/v2/flags/{PROJECT}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "Invalid resource identifier"}
    ld.add_flag(PROJECT, "f", [True, False])
    wrong = call(ld, "GET", f"/api/v2/flags/{PROJECT}/f", headers={"Authorization": "api-other"})
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "unauthorized", "message": "Invalid access token"}
    ld.assert_clean()  # both are answers the real API gives to valid requests


def test_semantic_patch_rollout_applies_bumps_version_and_is_audited(ld: FakeLaunchDarkly) -> None:
    flag = ld.add_flag(PROJECT, "new-checkout", [True, False], on=True)
    comment = "rolloutcli: step 1 -> 10%"
    response = call(
        ld,
        "PATCH",
        f"/api/v2/flags/{PROJECT}/new-checkout",
        body=rollout_patch(flag, 10_000, comment),
        semantic=True,
    )
    assert response.status_code == 200, response.text
    prod = response.json()["environments"]["production"]
    assert prod["fallthrough"] == {
        "rollout": {
            "variations": [{"variation": 0, "weight": 10_000}, {"variation": 1, "weight": 90_000}],
            "contextKind": "user",
        }
    }
    assert prod["version"] == 2
    assert response.json()["_version"] == 2
    assert response.json()["environments"]["test"]["version"] == 1
    assert ld.flag(PROJECT, "new-checkout")["environments"]["production"] == prod

    audit = call(
        ld,
        "GET",
        "/api/v2/auditlog",
        params={"spec": f"proj/{PROJECT}:env/production:flag/new-checkout", "limit": "5"},
    )
    assert audit.status_code == 200
    items = audit.json()["items"]
    assert len(items) == 1
    entry = items[0]
    assert entry["comment"] == comment
    assert entry["kind"] == "flag"
    assert entry["accesses"] == [
        {
            "action": "updateFallthrough",
            "resource": f"proj/{PROJECT}:env/production:flag/new-checkout",
        }
    ]
    assert "delta" not in entry
    full = call(ld, "GET", f"/api/v2/auditlog/{entry['_id']}").json()
    assert full["previousVersion"]["environments"]["production"]["version"] == 1
    assert full["currentVersion"]["environments"]["production"]["version"] == 2
    assert full["delta"][0]["kind"] == "updateFallthroughVariationOrRollout"
    # The test environment's filter does not see it.
    other = call(
        ld, "GET", "/api/v2/auditlog", params={"spec": f"proj/{PROJECT}:env/test:flag/new-checkout"}
    )
    assert other.json()["items"] == []
    ld.assert_clean()


def test_audit_log_is_newest_first_and_time_filtered() -> None:
    clock = iter(range(1_700_000_000_000, 1_700_000_100_000, 1000))
    with FakeLaunchDarkly(now=lambda: next(clock)) as ld:
        flag = ld.add_flag(PROJECT, "f", [True, False])
        for kind in ("turnFlagOn", "turnFlagOff", "turnFlagOn"):
            body = {
                "environmentKey": "production",
                "comment": kind,
                "instructions": [{"kind": kind}],
            }
            assert (
                call(
                    ld, "PATCH", f"/api/v2/flags/{PROJECT}/f", body=body, semantic=True
                ).status_code
                == 200
            )
        items = call(ld, "GET", "/api/v2/auditlog").json()["items"]
        assert [i["comment"] for i in items] == ["turnFlagOn", "turnFlagOff", "turnFlagOn"]
        assert [i["titleVerb"] for i in items] == [
            "turned on the flag",
            "turned off the flag",
            "turned on the flag",
        ]
        dates = [i["date"] for i in items]
        assert dates == sorted(dates, reverse=True)
        assert {a["action"] for i in items for a in i["accesses"]} == {"updateOn"}
        after = call(ld, "GET", "/api/v2/auditlog", params={"after": str(dates[1] - 1)}).json()
        assert len(after["items"]) == 2
        paged = call(ld, "GET", "/api/v2/auditlog", params={"limit": "1"}).json()
        assert len(paged["items"]) == 1 and "next" in paged["_links"]
        assert flag["environments"]["production"]["version"] == 1
        assert ld.flag(PROJECT, "f")["environments"]["production"]["version"] == 4
        ld.assert_clean()


def test_no_op_patch_changes_nothing(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "f", [True, False], on=True)
    body = {"environmentKey": "production", "instructions": [{"kind": "turnFlagOn"}]}
    response = call(ld, "PATCH", f"/api/v2/flags/{PROJECT}/f", body=body, semantic=True)
    assert response.status_code == 200
    assert response.json()["environments"]["production"]["version"] == 1
    assert ld.audit_entries() == []
    ld.assert_clean()


def test_dry_run_does_not_save(ld: FakeLaunchDarkly) -> None:
    flag = ld.add_flag(PROJECT, "f", [True, False], on=True)
    response = call(
        ld,
        "PATCH",
        f"/api/v2/flags/{PROJECT}/f",
        params={"dryRun": "true"},
        body=rollout_patch(flag, 25_000, "preview"),
        semantic=True,
    )
    assert response.status_code == 200
    assert response.json()["environments"]["production"]["fallthrough"]["rollout"]["variations"][
        0
    ] == {"variation": 0, "weight": 25_000}
    assert ld.flag(PROJECT, "f") == flag
    assert ld.audit_entries() == []
    ld.assert_clean()


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unknown kind", 400, "not documented"),
        ("unknown parameter", 400, "not documented for this kind"),
        ("weights not 100000", 400, "sum to 99999"),
        ("weights not integers", 400, "must be an integer"),
        ("variationId and rolloutWeights", 400, "not both"),
        ("no environmentKey", 400, "environmentKey"),
        ("empty instructions", 400, "non-empty"),
        ("semantic body without semantic content type", 400, "'patch' is a required property"),
        ("Bearer token", 401, "Bearer"),
        ("no Authorization", 401, "Authorization"),
        ("no LD-API-Version", 400, "LD-API-Version"),
    ],
)
def test_requests_the_real_api_would_reject_fail(
    ld: FakeLaunchDarkly, case: str, status: int, message: str
) -> None:
    flag = ld.add_flag(PROJECT, "f", [True, False], on=True)
    body: dict[str, Any] = rollout_patch(flag, 10_000, case)
    semantic: bool = True
    headers: dict[str, str | None] = {}
    instruction = body["instructions"][0]
    if case == "unknown kind":
        instruction["kind"] = "updateFallthroughPercentage"
    elif case == "unknown parameter":
        instruction["rolloutSeed"] = 42
    elif case == "weights not 100000":
        instruction["rolloutWeights"] = weights(flag, 10_000) | {
            flag["variations"][1]["_id"]: 89_999
        }
    elif case == "weights not integers":
        instruction["rolloutWeights"] = {k: v / 1000 for k, v in weights(flag, 10_000).items()}
    elif case == "variationId and rolloutWeights":
        instruction["variationId"] = flag["variations"][0]["_id"]
    elif case == "no environmentKey":
        del body["environmentKey"]
    elif case == "empty instructions":
        body["instructions"] = []
    elif case == "semantic body without semantic content type":
        semantic = False
    elif case == "Bearer token":
        headers = {"Authorization": f"Bearer {ld.api_token}"}
    elif case == "no Authorization":
        headers = {"Authorization": None}
    elif case == "no LD-API-Version":
        headers = {"LD-API-Version": None}

    response = call(
        ld, "PATCH", f"/api/v2/flags/{PROJECT}/f", body=body, semantic=semantic, headers=headers
    )
    assert response.status_code == status, response.text
    assert len(ld.violations) == 1 and message in ld.violations[0], ld.violations
    assert ld.flag(PROJECT, "f") == flag  # nothing applied
    with pytest.raises(ContractViolation, match="1 contract violation"):
        ld.assert_clean()


def test_targets_rules_and_state_errors(ld: FakeLaunchDarkly) -> None:
    flag = ld.add_flag(PROJECT, "f", [True, False], on=True)
    on_id, off_id = (v["_id"] for v in flag["variations"])
    path = f"/api/v2/flags/{PROJECT}/f"

    def patch(*instructions: dict[str, Any]) -> httpx.Response:
        return call(
            ld,
            "PATCH",
            path,
            semantic=True,
            body={"environmentKey": "production", "instructions": list(instructions)},
        )

    assert (
        patch({"kind": "addTargets", "variationId": on_id, "values": ["qa-1", "qa-2"]}).status_code
        == 200
    )
    clash = patch({"kind": "addTargets", "variationId": off_id, "values": ["qa-1"]})
    assert clash.status_code == 400 and clash.json()["code"] == "invalid_request"
    added = patch(
        {
            "kind": "addRule",
            "description": "staff",
            "variationId": on_id,
            "clauses": [
                {
                    "contextKind": "user",
                    "attribute": "email",
                    "op": "endsWith",
                    "negate": False,
                    "values": ["@corp.io"],
                }
            ],
        }
    )
    assert added.status_code == 200
    prod = added.json()["environments"]["production"]
    assert prod["targets"] == [{"contextKind": "user", "values": ["qa-1", "qa-2"], "variation": 0}]
    assert prod["contextTargets"] == [{"contextKind": "user", "values": [], "variation": 0}]
    (rule,) = prod["rules"]
    assert rule["_id"] and rule["clauses"][0]["_id"] and rule["description"] == "staff"
    assert rule["variation"] == 0

    # all-or-nothing: the second instruction fails, so the first is not applied either
    failed = patch({"kind": "turnFlagOff"}, {"kind": "updateOffVariation", "variationId": "nope"})
    assert failed.status_code == 400
    assert ld.flag(PROJECT, "f")["environments"]["production"]["on"] is True
    assert (
        patch(
            {"kind": "updateRuleVariationOrRollout", "ruleId": "nope", "variationId": on_id}
        ).status_code
        == 400
    )
    # removeRule of an unknown rule is documented as "does nothing"
    assert patch({"kind": "removeRule", "ruleId": "nope"}).status_code == 200
    assert (
        patch(
            {
                "kind": "updateRuleVariationOrRollout",
                "ruleId": rule["_id"],
                "rolloutWeights": weights(flag, 50_000),
                "rolloutBucketBy": "tenant",
            }
        ).status_code
        == 200
    )
    rollout = ld.flag(PROJECT, "f")["environments"]["production"]["rules"][0]["rollout"]
    assert rollout["bucketBy"] == "tenant" and rollout["contextKind"] == "user"
    assert (
        patch(
            {"kind": "removeTargets", "variationId": on_id, "values": ["qa-1", "qa-2"]}
        ).status_code
        == 200
    )
    assert patch({"kind": "removeRule", "ruleId": rule["_id"]}).status_code == 200
    prod = ld.flag(PROJECT, "f")["environments"]["production"]
    assert prod["targets"] == [] and prod["contextTargets"] == [] and prod["rules"] == []
    assert prod["version"] == 6
    ld.assert_clean()


def test_json_patch_replace_and_failing_test(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "f", [True, False])
    path = f"/api/v2/flags/{PROJECT}/f"
    ok = call(
        ld,
        "PATCH",
        path,
        body={
            "comment": "on",
            "patch": [
                {"op": "test", "path": "/environments/production/version", "value": 1},
                {"op": "replace", "path": "/environments/production/on", "value": True},
            ],
        },
    )
    assert ok.status_code == 200
    assert ok.json()["environments"]["production"]["on"] is True
    assert ok.json()["environments"]["production"]["version"] == 2
    stale = call(
        ld,
        "PATCH",
        path,
        body={
            "patch": [
                {"op": "test", "path": "/environments/production/version", "value": 1},
                {"op": "replace", "path": "/environments/production/on", "value": False},
            ]
        },
    )
    assert stale.status_code == 409
    assert stale.json() == {
        "code": "optimistic_locking_error",
        "message": "Conflict. Optimistic lock error. Try again later.",
    }
    assert ld.flag(PROJECT, "f")["environments"]["production"]["on"] is True
    assert ld.audit_entries()[-1]["accesses"][0]["action"] == "updateOn"
    ld.assert_clean()


def test_unimplemented_operations_are_loud(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "f", [True, False])
    response = call(
        ld,
        "PATCH",
        f"/api/v2/flags/{PROJECT}/f",
        semantic=True,
        body={"instructions": [{"kind": "addTags", "values": ["x"]}]},
    )
    assert response.status_code == 400
    assert (
        ld.violations
        and ld.violations[0].startswith("PATCH")
        and "fake limitation" in ld.violations[0]
    )


def test_segments_and_caller_identity(ld: FakeLaunchDarkly) -> None:
    ld.add_segment(PROJECT, "production", "beta-users", ["u1", "u2"])
    segment = call(ld, "GET", f"/api/v2/segments/{PROJECT}/production/beta-users")
    assert segment.status_code == 200 and segment.json()["included"] == ["u1", "u2"]
    assert call(ld, "GET", f"/api/v2/segments/{PROJECT}/test/beta-users").status_code == 404
    who = call(ld, "GET", "/api/v2/caller-identity")
    assert who.status_code == 200 and who.json()["authKind"] == "token"
    ld.assert_clean()


# ---- fault injection ---------------------------------------------------------------------------


def test_injected_faults(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "f", [True, False])
    path = f"/api/v2/flags/{PROJECT}/f"
    reset = str(int(time.time() * 1000) + 1000)
    ld.inject(
        "GET",
        r"/flags/",
        status=429,
        headers={"Retry-After": "1", "X-Ratelimit-Reset": reset},
        times=2,
    )
    first, second, third = (call(ld, "GET", path) for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "1" and first.headers["X-Ratelimit-Reset"] == reset
    assert first.json()["code"] == "rate_limited"

    ld.inject("PATCH", r"/flags/", status=405)
    approvals = call(
        ld,
        "PATCH",
        path,
        semantic=True,
        body={"environmentKey": "production", "instructions": [{"kind": "turnFlagOn"}]},
    )
    assert approvals.status_code == 405 and approvals.json()["code"] == "method_not_allowed"
    ld.inject(None, r"/flags/", status=503)
    assert call(ld, "GET", path).status_code == 503
    assert [e.injected for e in ld.requests("GET", r"/flags/")] == [True, True, False, True]

    ld.inject("GET", r"/flags/", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            ld.url + path,
            headers={"Authorization": ld.api_token, "LD-API-Version": API_VERSION},
            timeout=0.1,
        )
    ld.assert_clean()


def test_injected_body_must_match_the_error_schema(ld: FakeLaunchDarkly) -> None:
    ld.add_flag(PROJECT, "f", [True, False])
    ld.inject("GET", r"/flags/", status=404, body={"error": "gone"})
    assert call(ld, "GET", f"/api/v2/flags/{PROJECT}/f").status_code == 404
    assert len(ld.violations) == 1 and "NotFoundErrorRep" in ld.violations[0]


# ---- the real SDK -------------------------------------------------------------------------------


def sdk_share(fake: FakeLaunchDarkly, key: str, users: int = 10_000) -> tuple[float, set[int]]:
    """Evaluate ``key`` for ``user-0..`` with a fresh real SDK client.

    Returns the share of contexts served ``True`` and the indices of those contexts.
    """
    config = Config(
        fake.sdk_key, base_uri=fake.url, stream=False, send_events=False, diagnostic_opt_out=True
    )
    client = LDClient(config=config, start_wait=5)
    try:
        assert client.is_initialized()
        winners = {
            i
            for i in range(users)
            if client.variation(key, Context.create(f"user-{i}"), None) is True
        }
        assert client.variation(key, Context.create("user-0"), "default") in (True, False)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return len(winners) / users, winners


def test_real_sdk_follows_rollout_steps_and_turn_off(ld: FakeLaunchDarkly) -> None:
    # A fixed salt keeps the bucketing (hence the shares) identical on every run.
    flag = ld.add_flag(PROJECT, "new-checkout", [True, False], on=True, salt="0f1e2d3c4b5a6978")
    path = f"/api/v2/flags/{PROJECT}/new-checkout"
    assert (
        call(ld, "PATCH", path, body=rollout_patch(flag, 10_000, "10%"), semantic=True).status_code
        == 200
    )
    share10, at10 = sdk_share(ld, "new-checkout")
    assert abs(share10 - 0.10) <= 0.015, share10

    assert (
        call(ld, "PATCH", path, body=rollout_patch(flag, 25_000, "25%"), semantic=True).status_code
        == 200
    )
    share25, at25 = sdk_share(ld, "new-checkout")
    assert abs(share25 - 0.25) <= 0.015, share25
    assert at10 <= at25, "a context in the 10% step must stay in at 25%"

    off = {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]}
    assert call(ld, "PATCH", path, body=off, semantic=True).status_code == 200
    share_off, _ = sdk_share(ld, "new-checkout")
    assert share_off == 0.0

    polls = ld.requests("GET", r"^/sdk/latest-all$")
    assert len(polls) >= 3 and all(p.status == 200 for p in polls)
    assert polls[0].header("Authorization") == ld.sdk_key
    ld.assert_clean()


def test_sdk_endpoint_rejects_other_keys_and_converts_shapes(ld: FakeLaunchDarkly) -> None:
    flag = ld.add_flag(
        PROJECT,
        "f",
        ["a", "b", "c"],
        on=True,
        fallthrough_variation=2,
        targets=[{"values": ["qa"], "variation": 0}],
        rules=[
            {
                "clauses": [{"attribute": "email", "op": "endsWith", "values": ["@corp.io"]}],
                "variation": 1,
            }
        ],
    )
    assert flag["kind"] == "multivariate"
    bad = httpx.get(ld.url + "/sdk/latest-all", headers={"Authorization": ld.api_token})
    assert bad.status_code == 401
    sdk = to_sdk_flag(flag, "production")
    assert sdk["variations"] == ["a", "b", "c"] and sdk["fallthrough"] == {"variation": 2}
    assert "id" in sdk["rules"][0] and "_id" not in sdk["rules"][0]
    assert "_id" not in sdk["rules"][0]["clauses"][0]

    config = Config(
        ld.sdk_key, base_uri=ld.url, stream=False, send_events=False, diagnostic_opt_out=True
    )
    client = LDClient(config=config, start_wait=5)
    try:
        assert client.variation("f", Context.create("qa"), None) == "a"
        staff = Context.builder("x").set("email", "x@corp.io").build()
        assert client.variation("f", staff, None) == "b"
        assert client.variation("f", Context.create("someone"), None) == "c"
    finally:
        client.close()  # type: ignore[no-untyped-call]
    ld.assert_clean()  # the 401 above is on the uncontracted SDK path


def test_clause_operators_match_the_real_sdk() -> None:
    from ldclient.impl.operators import ops

    from tests.integration.launchdarkly_contract import CLAUSE_OPERATORS

    assert set(ops) | {"segmentMatch"} == CLAUSE_OPERATORS
