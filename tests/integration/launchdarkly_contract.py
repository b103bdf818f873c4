"""The contract the local LaunchDarkly fake is held to: LD's own OpenAPI 3.0.3 spec.

LaunchDarkly is SaaS and cannot be reached from the test suite, so the adapter is tested
against ``tests/integration/launchdarkly_fake.py``. To keep that fake honest, every request it
receives and every response it sends goes through :class:`Contract`, which is built from the
vendored spec ``vendor/launchdarkly/openapi.json`` (see ``vendor/launchdarkly/README.md``).

What is checked
---------------
Requests (:meth:`Contract.check_request`):

* the path matches one of the spec's path templates and the method is declared for it;
* every query parameter is declared by the operation and its string value parses as the
  parameter's schema type (booleans only ``true``/``false``, integers as decimal digits) and
  then validates against that schema; required parameters are present; a numeric range the
  parameter *description* states ("Set between 1 and 20") is enforced too, because LD documents
  such bounds only in prose (e.g. ``limit`` of ``GET /api/v2/auditlog``);
* ``Authorization`` is present and is the raw token (LD does not accept ``Bearer <token>``);
* ``LD-API-Version`` is present and is ``beta`` or a version the spec's changelog lists as
  "Current" (that is ``20240415``);
* a request body is JSON with an ``application/json`` content type;
* semantic patches (content type containing ``domain-model=launchdarkly.semanticpatch``) are
  checked against the instruction kinds and parameters documented in that operation's
  ``description`` (see :func:`parse_semantic_patch_docs`) plus the ``rolloutWeights`` rule (integers
  0..100000 summing to 100000); any other body is validated against the operation's
  ``application/json`` request-body schema.

Responses (:meth:`Contract.check_response`): the status must be declared by the operation (or it
has a ``default``); a JSON body is validated against that response's schema, and an operation
that declares no content must send none.

Beyond plain JSON-Schema validation, both request bodies and responses are checked in *strict*
mode by default: an object property the spec does not declare (for a schema that lists
``properties`` and says nothing about ``additionalProperties``) is a violation. The real API may
well send undeclared fields, but the fake must not, or the adapter could come to depend on
something LD never promised.

Schemas are validated with ``openapi_schema_validator.OAS30Validator`` (so OAS 3.0 ``nullable``
works) over a ``referencing`` registry holding the whole spec under :data:`SPEC_URI`, so every
``$ref: #/components/schemas/...`` resolves. Validators are cached per schema reference.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).resolve().parents[2] / "vendor" / "launchdarkly" / "openapi.json"
"""The vendored LaunchDarkly OpenAPI spec (byte-for-byte copy of ldcli's ``ld-openapi.json``)."""

SPEC_URI = "urn:launchdarkly:openapi"
"""The URI the whole spec is registered under, so ``urn:...#/components/schemas/X`` resolves."""

SEMANTIC_PATCH_MARKER = "domain-model=launchdarkly.semanticpatch"
"""What LD requires in ``Content-Type`` for a body to be read as a semantic patch."""

_HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")

# Parameters LD accepts on an instruction although the operation description does not list them.
# Kept separate from what is parsed out of the spec so that the parser's output stays exactly
# "what the spec documents" (and the tests can assert that). Evidence for each entry:
# * addRule ``description`` / ``ref``: both are fields of the spec's ``Rule`` schema; LD's own
#   agent-tool docs and third-party scripts that run against production send ``description``
#   with ``addRule``; the ``replaceRules`` example in the same description uses ``description``.
UNDOCUMENTED_ACCEPTED_PARAMETERS: dict[str, frozenset[str]] = {
    "addRule": frozenset({"description", "ref"}),
}

# Expected JSON types of instruction parameters, by name, where the description makes it clear.
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "variationId": (str,),
    "ruleId": (str,),
    "beforeRuleId": (str,),
    "clauseId": (str,),
    "contextKind": (str,),
    "rolloutBucketBy": (str,),
    "rolloutContextKind": (str,),
    "description": (str,),
    "ref": (str,),
    "key": (str,),
    "values": (list,),
    "ruleIds": (list,),
    "clauseIds": (list,),
    "clauses": (list,),
    "rolloutWeights": (dict,),
    "trackEvents": (bool,),
}
_CLAUSE_KEYS = frozenset({"contextKind", "attribute", "op", "negate", "values"})
CLAUSE_OPERATORS = frozenset(
    {
        "in",
        "endsWith",
        "startsWith",
        "matches",
        "contains",
        "lessThan",
        "lessThanOrEqual",
        "greaterThan",
        "greaterThanOrEqual",
        "before",
        "after",
        "semVerEqual",
        "semVerLessThan",
        "semVerGreaterThan",
        "segmentMatch",
    }
)
"""Clause operators. The spec's ``Operator`` schema is a bare string and the instruction docs say
only "The `op` must be lower-case", which cannot be meant literally (``endsWith``): this is the
operator table of the real SDK (``ldclient/impl/operators.py``) plus ``segmentMatch``, which the
SDK's evaluator handles separately. Operators are case-sensitive."""
ROLLOUT_TOTAL = 100_000
"""Rollout weights are in thousandths of a percent; LD's docs/TF require them to sum to 100%."""


class ContractViolation(AssertionError):
    """A request or response that does not conform to LaunchDarkly's published API."""


@dataclass(frozen=True)
class InstructionDoc:
    """What an operation's description documents about one semantic-patch instruction kind."""

    kind: str
    parameters: frozenset[str]
    """Every parameter name listed under the kind's "Parameters" heading."""
    optional: frozenset[str]
    """The parameters marked "(Optional)"."""
    alternatives: tuple[frozenset[str], frozenset[str]] | None
    """``(A, B)`` when the list says "A ... or B ...": exactly one of the groups must be given."""
    requires_environment: bool
    """Whether the body must carry ``environmentKey`` for this kind."""


@dataclass(frozen=True)
class Operation:
    """One operation of the spec, found by :meth:`Contract.find_operation`."""

    method: str
    template: str
    path_params: dict[str, str]
    spec: Mapping[str, Any] = field(repr=False)

    @property
    def operation_id(self) -> str:
        return str(self.spec.get("operationId", f"{self.method} {self.template}"))


# --------------------------------------------------------------------------------------------
# Parsing the semantic-patch instructions out of an operation's Markdown description
# --------------------------------------------------------------------------------------------

_KIND_HEADING = re.compile(r"^####\s+([A-Za-z][A-Za-z0-9]*)\s*$")
_ANY_HEADING = re.compile(r"^#{1,6}\s")
_PARAM_ITEM = re.compile(r"^\s*-\s+`([A-Za-z_][A-Za-z0-9_]*)`")
_OR_LINE = re.compile(r"^\s*or\s*$", re.IGNORECASE)


def parse_semantic_patch_docs(description: str) -> dict[str, InstructionDoc]:
    """Extract the documented instruction kinds and their parameters from a description.

    LD documents semantic patch only in prose: a ``#### kindName`` heading per kind, optionally
    followed by a ``##### Parameters`` list whose items start with a backticked name
    (``- `variationId`: ...``). Alternatives are written as ``- `variationId` ...`` / ``or`` /
    ``- `rolloutWeights` ...`` (sometimes nested under "- Either"). Kinds are grouped in
    ``<details>`` blocks; a block that says the instructions "require the `environmentKey`
    parameter" makes its kinds environment-level, except kinds whose own example body has no
    ``environmentKey`` (e.g. ``addVariation``, which the spec files under "targeting and
    variations" but documents without an environment).
    """
    kinds: dict[str, InstructionDoc] = {}
    lines = description.splitlines()
    block_requires_env = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<details>" in line:
            block_requires_env = False
        if "require the `environmentKey` parameter" in line and "do not require" not in line:
            block_requires_env = True
        match = _KIND_HEADING.match(line)
        if not match:
            i += 1
            continue
        kind = match.group(1)
        j = i + 1
        section: list[str] = []
        while j < len(lines) and not _KIND_HEADING.match(lines[j]) and "</details>" not in lines[j]:
            if re.match(r"^#{1,3}\s", lines[j]):  # a "### ..." section ends the instruction list
                break
            section.append(lines[j])
            j += 1
        kinds[kind] = _parse_kind_section(kind, section, block_requires_env)
        i = j
    return kinds


def _parse_kind_section(kind: str, section: list[str], block_requires_env: bool) -> InstructionDoc:
    params: list[str] = []
    optional: set[str] = set()
    before_or: list[str] = []
    after_or: list[str] = []
    seen_or = False
    in_params = False
    in_code = False
    example_has_env = False
    has_example = False
    for line in section:
        if line.strip().startswith("```"):
            in_code = not in_code
            has_example = True
            in_params = False
            continue
        if in_code:
            if '"environmentKey"' in line:
                example_has_env = True
            continue
        if re.match(r"^#####\s+Parameters\s*$", line):
            in_params = True
            continue
        if _ANY_HEADING.match(line) or line.startswith("Here's an example"):
            in_params = False
            continue
        if not in_params:
            continue
        if _OR_LINE.match(line):
            seen_or = True
            continue
        item = _PARAM_ITEM.match(line)
        if item:
            name = item.group(1)
            params.append(name)
            if "(Optional)" in line:
                optional.add(name)
            (after_or if seen_or else before_or).append(name)
    alternatives = None
    if seen_or and before_or and after_or:
        alternatives = (frozenset(before_or[-1:]), frozenset(after_or))
    requires_env = block_requires_env and (example_has_env or not has_example)
    return InstructionDoc(
        kind=kind,
        parameters=frozenset(params),
        optional=frozenset(optional),
        alternatives=alternatives,
        requires_environment=requires_env,
    )


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------


class Contract:
    """LaunchDarkly's REST API v2 as its OpenAPI spec describes it. Use :func:`load_contract`."""

    def __init__(self, spec: Mapping[str, Any], *, strict_properties: bool = True) -> None:
        self.spec = spec
        self.strict_properties = strict_properties
        self._registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT4.create_resource(spec)
        )
        self._validators: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._routes = self._build_routes(spec)
        self._semantic_docs: dict[str, dict[str, InstructionDoc]] = {}
        self.api_versions = self._current_api_versions(spec)

    # ---- construction helpers ------------------------------------------------------------

    @staticmethod
    def _build_routes(spec: Mapping[str, Any]) -> list[tuple[re.Pattern[str], str, int]]:
        routes = []
        for template in spec["paths"]:
            parts = template.strip("/").split("/")
            regex = "".join(
                "/(?P<{}>[^/]+)".format(re.sub(r"\W", "_", p[1:-1]))
                if p.startswith("{") and p.endswith("}")
                else "/" + re.escape(p)
                for p in parts
            )
            literal = sum(1 for p in parts if not p.startswith("{"))
            routes.append((re.compile(regex + "$"), template, literal))
        # More literal segments first, so /flags/{p}/{k}/copy style routes cannot be shadowed.
        routes.sort(key=lambda r: -r[2])
        return routes

    @staticmethod
    def _current_api_versions(spec: Mapping[str, Any]) -> frozenset[str]:
        """The ``LD-API-Version`` values the spec's changelog table marks "Current"."""
        text = str(spec.get("info", {}).get("description", ""))
        versions = set()
        for row in re.findall(r"<tr>(.*?)</tr>", text, flags=re.S):
            cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
            if len(cells) >= 3:
                version = re.search(r"(\d{8})", cells[0])
                if version and cells[-1].strip().lower() == "current":
                    versions.add(version.group(1))
        return frozenset(versions | {"beta"})

    # ---- schema validation -----------------------------------------------------------------

    def validator(self, ref: str) -> Any:
        """A cached ``OAS30Validator`` for ``#/components/schemas/X`` (or any JSON pointer)."""
        with self._lock:
            v = self._validators.get(ref)
            if v is None:
                v = OAS30Validator({"$ref": SPEC_URI + ref}, registry=self._registry)
                self._validators[ref] = v
            return v

    def schema_errors(self, schema: Mapping[str, Any] | str, instance: Any) -> list[str]:
        """Every reason ``instance`` does not conform to ``schema``, as readable strings.

        ``schema`` is a schema name (``"FeatureFlag"``), a pointer (``"#/components/..."``) or an
        inline schema from the spec (typically ``{"$ref": ...}``).
        """
        ref = self._schema_ref(schema)
        if ref is not None:
            validator = self.validator(ref)
            resolved: Any = self.resolve(ref)
        else:
            assert not isinstance(schema, str)
            validator = self.inline_validator(schema)
            resolved = schema
        errors = [
            f"{_json_path(e.absolute_path)}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        ]
        if self.strict_properties:
            errors.extend(self._undeclared(resolved, instance, "$"))
        return errors

    def validate(self, schema: Mapping[str, Any] | str, instance: Any, what: str) -> None:
        """Raise :class:`ContractViolation` if ``instance`` does not conform to ``schema``."""
        errors = self.schema_errors(schema, instance)
        if errors:
            name = self._schema_ref(schema) or "inline schema"
            shown = "; ".join(errors[:8]) + (
                f"; … ({len(errors)} errors)" if len(errors) > 8 else ""
            )
            raise ContractViolation(f"{what} does not match {name}: {shown}")

    def inline_validator(self, schema: Mapping[str, Any]) -> Any:
        """A validator for a schema written inline in the spec (its ``$ref``s made absolute)."""
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            v = self._validators.get(key)
            if v is None:
                v = OAS30Validator(_absolute_refs(schema), registry=self._registry)
                self._validators[key] = v
            return v

    @staticmethod
    def _schema_ref(schema: Mapping[str, Any] | str) -> str | None:
        """The local pointer a schema stands for (OAS 3.0 ignores siblings of ``$ref``)."""
        if isinstance(schema, str):
            return schema if schema.startswith("#/") else f"#/components/schemas/{schema}"
        ref = schema.get("$ref")
        return ref if isinstance(ref, str) and ref.startswith("#/") else None

    def resolve(self, ref: str) -> Any:
        """The spec node a local ``#/...`` JSON pointer names."""
        node: Any = self.spec
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _deref(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, Mapping) and "$ref" in schema and seen < 50:
            schema = self.resolve(schema["$ref"])
            seen += 1
        return schema

    def _declared_properties(self, schema: Any) -> tuple[dict[str, Any], Any, bool]:
        """Declared properties, ``additionalProperties`` and whether undeclared keys are errors.

        ``allOf`` members are merged; ``oneOf``/``anyOf`` schemas are never strict (which member
        applies is not known here) and neither are schemas allowing additional properties.
        """
        schema = self._deref(schema)
        if not isinstance(schema, Mapping) or "oneOf" in schema or "anyOf" in schema:
            return {}, True, False
        props = dict(schema.get("properties", {}))
        additional = schema.get("additionalProperties")
        strict = "properties" in schema and additional is None
        for sub in schema.get("allOf", []):
            sub_props, sub_additional, sub_strict = self._declared_properties(sub)
            props.update(sub_props)
            if sub_additional not in (None, True) and additional is None:
                additional = sub_additional
            strict = strict or sub_strict
        if additional is not None and additional is not False:
            strict = False
        return props, additional, strict

    def _undeclared(self, schema: Any, instance: Any, where: str) -> Iterator[str]:
        """Properties present in ``instance`` that ``schema`` (recursively) does not declare."""
        schema = self._deref(schema)
        if not isinstance(schema, Mapping):
            return
        if isinstance(instance, list) and "items" in schema:
            for idx, item in enumerate(instance):
                yield from self._undeclared(schema["items"], item, f"{where}[{idx}]")
            return
        if not isinstance(instance, dict):
            return
        props, additional, strict = self._declared_properties(schema)
        for key, value in instance.items():
            if key in props:
                yield from self._undeclared(props[key], value, f"{where}.{key}")
            elif isinstance(additional, Mapping):
                yield from self._undeclared(additional, value, f"{where}.{key}")
            elif strict:
                yield f"{where}.{key}: property not declared by the spec"

    # ---- routing ---------------------------------------------------------------------------

    def find_operation(self, method: str, path: str) -> Operation:
        """The operation for ``method path``; :class:`ContractViolation` if the spec has none."""
        path = path.split("?", 1)[0]
        if path != "/" and path.endswith("/"):
            raise ContractViolation(f"{method} {path}: trailing slash; the spec has no such path")
        for regex, template, _ in self._routes:
            match = regex.match(path)
            if match is None:
                continue
            item = self.spec["paths"][template]
            op = item.get(method.lower())
            if op is None:
                # Another template with the same shape may declare the method.
                continue
            names = re.findall(r"{([^}]+)}", template)
            values = list(match.groups())
            return Operation(method.upper(), template, dict(zip(names, values, strict=True)), op)
        for regex, template, _ in self._routes:
            if regex.match(path):
                declared = sorted(
                    m.upper() for m in self.spec["paths"][template] if m in _HTTP_METHODS
                )
                raise ContractViolation(
                    f"{method} {path}: method not declared for {template} (declared: {declared})"
                )
        raise ContractViolation(f"{method} {path}: no path in the LaunchDarkly spec matches")

    # ---- requests --------------------------------------------------------------------------

    def check_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Operation:
        """Check one request against the spec; returns its operation or raises ContractViolation."""
        op = self.find_operation(method, path)
        where = f"{op.method} {path} ({op.operation_id})"
        lower = {k.lower(): v for k, v in headers.items()}
        self._check_auth(where, lower)
        self._check_parameters(where, op, query, lower)
        if body:
            self._check_body(where, op, lower, body)
        elif "requestBody" in op.spec and op.spec["requestBody"].get("required"):
            raise ContractViolation(f"{where}: request body is required")
        return op

    def _check_auth(self, where: str, headers: Mapping[str, str]) -> None:
        token = headers.get("authorization")
        if not token:
            raise ContractViolation(
                f"{where}: missing Authorization header (LD needs the raw token)"
            )
        if token.lower().startswith("bearer "):
            raise ContractViolation(
                f"{where}: Authorization must be the raw access token; LD does not accept 'Bearer '"
            )
        version = headers.get("ld-api-version")
        if not version:
            raise ContractViolation(
                f"{where}: missing LD-API-Version header (send one of {sorted(self.api_versions)})"
            )
        if version not in self.api_versions:
            raise ContractViolation(
                f"{where}: LD-API-Version {version!r} is not a current API version "
                f"(the spec lists {sorted(self.api_versions)})"
            )

    def _check_parameters(
        self, where: str, op: Operation, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        declared = {(p["in"], p["name"]): p for p in op.spec.get("parameters", [])}
        for name, value in op.path_params.items():
            param = declared.get(("path", name))
            if param is not None:
                self._check_param_value(where, param, value)
        for name, value in query.items():
            param = declared.get(("query", name))
            if param is None:
                allowed = sorted(n for (loc, n) in declared if loc == "query")
                raise ContractViolation(
                    f"{where}: query parameter {name!r} is not declared (declared: {allowed})"
                )
            self._check_param_value(where, param, value)
        for (loc, name), param in declared.items():
            if not param.get("required"):
                continue
            if loc == "query" and name not in query:
                raise ContractViolation(f"{where}: required query parameter {name!r} missing")
            if loc == "header" and name.lower() not in headers:
                raise ContractViolation(f"{where}: required header {name!r} missing")

    def _check_param_value(self, where: str, param: Mapping[str, Any], raw: str) -> None:
        schema = self._deref(param.get("schema", {}))
        kind = schema.get("type")
        label = f"{param['in']} parameter {param['name']}={raw!r}"
        value: Any = raw
        if kind == "boolean":
            if raw not in ("true", "false"):
                raise ContractViolation(f"{where}: {label} must be 'true' or 'false'")
            value = raw == "true"
        elif kind == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                raise ContractViolation(f"{where}: {label} must be an integer")
            value = int(raw)
        elif kind == "number":
            try:
                value = float(raw)
            except ValueError:
                raise ContractViolation(f"{where}: {label} must be a number") from None
        elif kind == "array":
            value = raw.split(",")
        errors = [e.message for e in self.inline_validator(schema).iter_errors(value)]
        if errors:
            raise ContractViolation(f"{where}: {label}: {'; '.join(errors)}")
        bounds = re.search(r"between (-?\d+) and (-?\d+)", str(param.get("description", "")))
        if bounds and isinstance(value, int) and not isinstance(value, bool):
            low, high = int(bounds.group(1)), int(bounds.group(2))
            if not low <= value <= high:
                raise ContractViolation(
                    f"{where}: {label} is outside {low}..{high} "
                    "(as the parameter description states)"
                )

    def _check_body(
        self, where: str, op: Operation, headers: Mapping[str, str], body: bytes
    ) -> None:
        content_type = headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise ContractViolation(
                f"{where}: request body needs Content-Type application/json, got {content_type!r}"
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise ContractViolation(f"{where}: request body is not valid JSON: {exc}") from None
        if "requestBody" not in op.spec:
            raise ContractViolation(f"{where}: this operation takes no request body")
        if SEMANTIC_PATCH_MARKER in content_type.replace(" ", ""):
            self.check_semantic_patch(op, doc, where=where)
            return
        content = op.spec["requestBody"].get("content", {})
        media_spec = content.get("application/json")
        if media_spec is None:
            raise ContractViolation(f"{where}: operation declares no application/json request body")
        self.validate(media_spec.get("schema", {}), doc, f"{where}: request body")

    # ---- semantic patch ----------------------------------------------------------------------

    def semantic_patch_docs(self, op: Operation) -> dict[str, InstructionDoc]:
        """The instruction kinds ``op``'s description documents (cached per operation)."""
        key = f"{op.method} {op.template}"
        with self._lock:
            docs = self._semantic_docs.get(key)
            if docs is None:
                docs = parse_semantic_patch_docs(str(op.spec.get("description", "")))
                self._semantic_docs[key] = docs
            return docs

    def check_semantic_patch(self, op: Operation, doc: Any, *, where: str = "") -> None:
        """Check a semantic-patch body against what ``op``'s description documents."""
        where = where or f"{op.method} {op.template}"
        kinds = self.semantic_patch_docs(op)
        if not kinds:
            raise ContractViolation(f"{where}: this operation documents no semantic patch")
        if not isinstance(doc, dict):
            raise ContractViolation(f"{where}: semantic patch body must be a JSON object")
        extra = set(doc) - {"instructions", "comment", "environmentKey"}
        if extra:
            raise ContractViolation(
                f"{where}: semantic patch has undocumented top-level fields {sorted(extra)}"
            )
        if "comment" in doc and not isinstance(doc["comment"], str):
            raise ContractViolation(f"{where}: semantic patch 'comment' must be a string")
        if "environmentKey" in doc and not isinstance(doc["environmentKey"], str):
            raise ContractViolation(f"{where}: semantic patch 'environmentKey' must be a string")
        instructions = doc.get("instructions")
        if not isinstance(instructions, list) or not instructions:
            raise ContractViolation(
                f"{where}: semantic patch needs a non-empty 'instructions' array"
            )
        for idx, instruction in enumerate(instructions):
            label = f"{where}: instructions[{idx}]"
            if not isinstance(instruction, dict):
                raise ContractViolation(f"{label} must be an object")
            kind = instruction.get("kind")
            if not isinstance(kind, str):
                raise ContractViolation(f"{label} needs a string 'kind'")
            spec = kinds.get(kind)
            if spec is None:
                raise ContractViolation(
                    f"{label}: instruction kind {kind!r} is not documented for {op.operation_id}"
                )
            self._check_instruction(f"{label} ({kind})", spec, instruction)
            if spec.requires_environment and "environmentKey" not in doc:
                raise ContractViolation(
                    f"{label}: {kind!r} is an environment-level instruction; the body needs "
                    "'environmentKey'"
                )

    def _check_instruction(
        self, label: str, spec: InstructionDoc, instruction: dict[str, Any]
    ) -> None:
        accepted = spec.parameters | UNDOCUMENTED_ACCEPTED_PARAMETERS.get(spec.kind, frozenset())
        given = {k for k, v in instruction.items() if k != "kind"}
        unknown = given - accepted
        if unknown:
            raise ContractViolation(
                f"{label}: parameter(s) {sorted(unknown)} not documented for this kind "
                f"(documented: {sorted(spec.parameters)})"
            )
        present = {k for k in given if instruction[k] is not None}
        alt_members: frozenset[str] = frozenset()
        if spec.alternatives is not None:
            group_a, group_b = spec.alternatives
            alt_members = group_a | group_b
            has_a, has_b = bool(present & group_a), bool(present & group_b)
            if has_a and has_b:
                raise ContractViolation(
                    f"{label}: give either {sorted(group_a)} or {sorted(group_b)}, not both"
                )
            if not has_a and not has_b:
                raise ContractViolation(
                    f"{label}: needs either {sorted(group_a)} or {sorted(group_b)}"
                )
            if has_b:
                missing_b = (group_b - spec.optional) - present
                if missing_b:
                    raise ContractViolation(f"{label}: missing {sorted(missing_b)}")
        required = spec.parameters - spec.optional - alt_members
        missing = required - present
        if missing:
            raise ContractViolation(f"{label}: missing required parameter(s) {sorted(missing)}")
        for name in present:
            expected = _PARAM_TYPES.get(name)
            if expected and not isinstance(instruction[name], expected):
                raise ContractViolation(
                    f"{label}: {name} must be {'/'.join(t.__name__ for t in expected)}, "
                    f"got {type(instruction[name]).__name__}"
                )
        if "rolloutWeights" in present:
            check_rollout_weights(instruction["rolloutWeights"], label)
        for listed in ("ruleIds", "clauseIds"):
            if listed in present and not all(isinstance(v, str) for v in instruction[listed]):
                raise ContractViolation(f"{label}: {listed} must be strings")
        targets = ("addTargets", "removeTargets", "addUserTargets", "removeUserTargets")
        if spec.kind in targets and not all(
            isinstance(v, str) for v in instruction.get("values", [])
        ):
            raise ContractViolation(f"{label}: target values must be context keys (strings)")
        if "clauses" in present:
            for cidx, clause in enumerate(instruction["clauses"]):
                check_clause(clause, f"{label}: clauses[{cidx}]")

    # ---- responses -------------------------------------------------------------------------

    def check_response(self, method: str, path: str, status: int, body: bytes) -> None:
        """Check a response: status declared, body valid for that status' schema."""
        op = self.find_operation(method, path)
        where = f"{op.method} {path} ({op.operation_id}) -> {status}"
        responses = op.spec.get("responses", {})
        declared = responses.get(str(status)) or responses.get("default")
        if declared is None:
            raise ContractViolation(
                f"{where}: status {status} is not declared (declared: {sorted(responses)})"
            )
        declared = self._deref(declared)
        content = declared.get("content")
        if not content:
            if body:
                raise ContractViolation(
                    f"{where}: the spec declares no body, got {len(body)} bytes"
                )
            return
        media_spec = content.get("application/json")
        if media_spec is None:
            return  # e.g. text/csv exports; not something the fake serves
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise ContractViolation(f"{where}: response body is not JSON: {exc}") from None
        if "schema" in media_spec:
            self.validate(media_spec["schema"], doc, f"{where}: response body")

    def declares_status(self, method: str, path: str, status: int) -> bool:
        """Whether the operation for ``method path`` declares ``status`` (or a default)."""
        op = self.find_operation(method, path)
        responses = op.spec.get("responses", {})
        return str(status) in responses or "default" in responses


def check_rollout_weights(weights: Any, label: str = "rolloutWeights") -> None:
    """``rolloutWeights``: variation id -> integer 0..100000, summing to exactly 100000."""
    if not isinstance(weights, dict) or not weights:
        raise ContractViolation(f"{label}: rolloutWeights must be a non-empty object")
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise ContractViolation(
                f"{label}: weight for {key!r} must be an integer, got {weight!r}"
            )
        if not 0 <= weight <= ROLLOUT_TOTAL:
            raise ContractViolation(f"{label}: weight for {key!r} must be 0..{ROLLOUT_TOTAL}")
    total = sum(weights.values())
    if total != ROLLOUT_TOTAL:
        raise ContractViolation(f"{label}: rolloutWeights sum to {total}, not {ROLLOUT_TOTAL}")


def check_clause(clause: Any, label: str) -> None:
    """A clause as the instruction docs describe it: contextKind, attribute, op, negate, values."""
    if not isinstance(clause, dict):
        raise ContractViolation(f"{label} must be an object")
    unknown = set(clause) - _CLAUSE_KEYS
    if unknown:
        raise ContractViolation(f"{label}: undocumented clause field(s) {sorted(unknown)}")
    for name in ("attribute", "op"):
        if not isinstance(clause.get(name), str):
            raise ContractViolation(f"{label}: {name} must be a string")
    if clause["op"] not in CLAUSE_OPERATORS:
        raise ContractViolation(
            f"{label}: unknown op {clause['op']!r} (LD's operators: {sorted(CLAUSE_OPERATORS)})"
        )
    if not isinstance(clause.get("values"), list):
        raise ContractViolation(f"{label}: values must be an array")
    if "negate" in clause and not isinstance(clause["negate"], bool):
        raise ContractViolation(f"{label}: negate must be a boolean")
    if "contextKind" in clause and not isinstance(clause["contextKind"], str):
        raise ContractViolation(f"{label}: contextKind must be a string")


def _absolute_refs(node: Any) -> Any:
    """A copy of ``node`` whose local ``$ref``s point into the registered spec."""
    if isinstance(node, Mapping):
        return {
            k: (
                SPEC_URI + v
                if k == "$ref" and isinstance(v, str) and v.startswith("#")
                else _absolute_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute_refs(v) for v in node]
    return node


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@functools.cache
def load_contract(path: Path = SPEC_PATH, strict_properties: bool = True) -> Contract:
    """The contract for the vendored spec, parsed once per process (the file is 2.6 MB)."""
    spec = json.loads(path.read_bytes())
    return Contract(spec, strict_properties=strict_properties)
