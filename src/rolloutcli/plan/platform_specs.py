"""Where a plan's flag lives: one spec class per platform kind, each with its own checks.

Adding a platform is one adapter file in ``rolloutcli/platforms/``, one spec class here
(its fields, its ``adapter`` and its ``problems``) and one name in :data:`AnyPlatformSpec`.
Validation, the plan schema, ``plan suggest``, ``kill --platform`` and the CLI's help read
the kinds from that union.

The specs are plain frozen dataclasses, not pydantic models, because `rollout kill` must
reach the flag without importing pydantic (a fifth of a second on a loaded runner). The
plan model validates them with pydantic like every other part of the plan (extra keys
forbidden, the attribute docstrings its schema's descriptions); :func:`read_platform`
validates them for kill from the same declarations, and a test holds the two to the same
answers.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import choices, looks_like_key, quote

if TYPE_CHECKING:
    from rolloutcli.plan.yamlsource import KeyPath


class Bounds:
    """Limits on a spec's value (a string's longest, a number's range), read by
    :func:`read_platform` and handed to pydantic through its schema hook: declaring them
    imports neither pydantic nor annotated-types (kill reads the specs without either)."""

    __slots__ = ("gt", "le", "max_length")

    def __init__(
        self, max_length: int | None = None, gt: float | None = None, le: float | None = None
    ) -> None:
        self.max_length, self.gt, self.le = max_length, gt, le

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        for key in self.__slots__:
            if getattr(self, key) is not None:
                schema[key] = getattr(self, key)
        return schema


class Doc:
    """A field's description, for the plan's JSON schema (what an editor shows): given to
    pydantic through its JSON-schema hook, with no source parsing at import."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        found = handler(schema)
        found["description"] = self.text
        return found


Variation = bool | str | int | float
Key = Annotated[str, Bounds(max_length=256)]
PathText = Annotated[str, Bounds(max_length=1024)]
Url = Annotated[str, Bounds(max_length=2048)]

FLAGFILE_NEEDS_PATH = "a flagfile platform needs path: (the flagd JSON file)"


@dataclass(frozen=True, kw_only=True)
class BasePlatformSpec:
    """What every platform spec has: its kind and the environment the rollout runs in."""

    __pydantic_config__: ClassVar[dict[str, object]] = {
        "extra": "forbid",
    }

    adapter: ClassVar[str]
    """``module:factory`` of the adapter that opens this platform (imported when used)."""
    summary: ClassVar[str]
    """A few words for help texts: what the kind is."""

    kind: str
    environment: Annotated[Key, Doc("Environment the rollout runs in (≤ 256 characters).")] = (
        "local"
    )

    @property
    def project_key(self) -> str | None:
        """The project the flag lives in, on platforms that have projects."""
        return None

    def problems(
        self, treatment: Variation, control: Variation, percents: Sequence[float]
    ) -> list[tuple[KeyPath, str]]:
        """What only the whole plan can tell about this platform: whether it can hold the
        plan's variations and each stage's percentage (``stages[i].percent``)."""
        return []

    def address_problems(self) -> list[tuple[KeyPath, str]]:
        """What the spec alone can tell, with no variations or stages to check: what kill
        and the command-line options need (a flag file's path, LaunchDarkly's project)."""
        return self.problems(True, False, ())


@dataclass(frozen=True, kw_only=True)
class FlagfileSpec(BasePlatformSpec):
    """The embedded default: a flagd flag-definition file beside the plan."""

    adapter: ClassVar[str] = "rolloutcli.platforms.flagfile:open_flagfile"
    summary: ClassVar[str] = "local flagd JSON"

    kind: Annotated[Literal["flagfile"], Doc("A local flagd flag-definition file.")]
    path: Annotated[
        PathText | None,
        Doc("Path of the flagd JSON file, relative to the plan file (≤ 1024 characters)."),
    ] = None

    def problems(
        self, treatment: Variation, control: Variation, percents: Sequence[float]
    ) -> list[tuple[KeyPath, str]]:
        return [] if self.path else [(("platform", "kind"), FLAGFILE_NEEDS_PATH)]


@dataclass(frozen=True, kw_only=True)
class UnleashSpec(BasePlatformSpec):
    """A self-hosted or managed Unleash, through its Admin API. The server's URL comes from
    ``url`` or ``UNLEASH_URL``; the API token only from ``UNLEASH_API_TOKEN``."""

    adapter: ClassVar[str] = "rolloutcli.platforms.unleash:open_unleash"
    summary: ClassVar[str] = "Admin API"

    kind: Annotated[Literal["unleash"], Doc("Unleash, through its Admin API.")]
    url: Annotated[
        Url | None,
        Doc(
            "The server's base URL (default: the UNLEASH_URL environment variable). Never"
            " put a token here: it comes from UNLEASH_API_TOKEN."
        ),
    ] = None
    project: Annotated[Key | None, Doc("The Unleash project (default: default).")] = None
    stickiness: Annotated[
        Key,
        Doc(
            "The context field users are bucketed by (default: userId, then sessionId, "
            "then random)."
        ),
    ] = "default"

    @property
    def project_key(self) -> str | None:
        return self.project

    def problems(
        self, treatment: Variation, control: Variation, percents: Sequence[float]
    ) -> list[tuple[KeyPath, str]]:
        """Unleash stores whatever it is sent and its SDKs then serve a bad rollout (12.5,
        150) to nobody: the percentages must be what its strategies can hold."""
        problems: list[tuple[KeyPath, str]] = []
        t, c = treatment, control
        boolean = isinstance(t, bool) and isinstance(c, bool)
        if isinstance(t, bool) != isinstance(c, bool) or (boolean and t is not True):
            problems.append(
                (
                    ("variations",),
                    "unleash: roll out a boolean flag as treatment: true, control: false, or "
                    "two variants by name (treatment: v2.4, control: v2.3)",
                )
            )
        if not boolean and not (isinstance(t, str) and isinstance(c, str)):
            problems.append((("variations",), "unleash: variants are named by strings"))
        for i, percent in enumerate(percents):
            tenths = round(percent * 10, 6)
            if boolean and percent != int(percent):
                why = f"{percent:g}%: Unleash's gradual rollout takes whole percentages"
                problems.append((("stages", i, "percent"), why))
            elif not boolean and tenths != int(tenths):
                why = f"{percent:g}%: Unleash variant weights are in tenths of a percent"
                problems.append((("stages", i, "percent"), why))
        return problems


@dataclass(frozen=True, kw_only=True)
class LaunchDarklySpec(BasePlatformSpec):
    """LaunchDarkly, through its REST API v2; the token only from ``LD_API_TOKEN``."""

    adapter: ClassVar[str] = "rolloutcli.platforms.launchdarkly:open_launchdarkly"
    summary: ClassVar[str] = "REST API v2"

    kind: Annotated[Literal["launchdarkly"], Doc("LaunchDarkly, through its REST API v2.")]
    url: Annotated[
        Url | None,
        Doc(
            "The API's base URL (default: LD_BASE_URL, else https://app.launchdarkly.com;"
            " federal https://app.launchdarkly.us, EU https://app.eu.launchdarkly.com). "
            "Never put a token here: it comes from LD_API_TOKEN."
        ),
    ] = None
    project: Annotated[Key | None, Doc("The project key (required).")] = None
    context_kind: Annotated[
        Key, Doc("The context kind the rollout buckets and targets (user, organization, device…).")
    ] = "user"
    bucket_by: Annotated[
        Key | None, Doc("The context attribute the rollout buckets by (default: the context key).")
    ] = None

    @property
    def project_key(self) -> str | None:
        return self.project

    def problems(
        self, treatment: Variation, control: Variation, percents: Sequence[float]
    ) -> list[tuple[KeyPath, str]]:
        """LaunchDarkly weights are thousandths of a percent; a flag lives in a project."""
        problems: list[tuple[KeyPath, str]] = []
        if not self.project:
            problems.append((("platform", "project"), "launchdarkly needs the project key"))
        for i, percent in enumerate(percents):
            steps = percent * 1000
            if abs(steps - round(steps)) > 1e-6:
                why = f"{percent:g}%: LaunchDarkly weights are in thousandths of a percent"
                problems.append((("stages", i, "percent"), why))
        return problems


# The registry: one name per platform kind.
AnyPlatformSpec = FlagfileSpec | UnleashSpec | LaunchDarklySpec


def kind_of(spec_class: type) -> str:
    """The kind a spec class declares (its ``kind: Literal[...]``)."""
    kind: str = typing.get_args(typing.get_type_hints(spec_class)["kind"])[0]
    return kind


PLATFORM_SPECS: dict[str, type[AnyPlatformSpec]] = {
    kind_of(cls): cls for cls in typing.get_args(AnyPlatformSpec)
}
"""kind → spec class, in the union's order."""


def platform_kinds_text(conjunction: str = "or") -> str:
    """``flagfile, unleash or launchdarkly``: the kinds, for messages and help."""
    return choices(list(PLATFORM_SPECS), conjunction)


def kinds_with_summaries(specs: Mapping[str, Any]) -> str:
    """``flagfile (local flagd JSON), unleash (Admin API) or …``."""
    return choices([f"{kind} ({cls.summary})" for kind, cls in specs.items()])


def spec_field_names(spec_class: type) -> list[str]:
    """The keys a spec class accepts (a dataclass or a pydantic model)."""
    if dataclasses.is_dataclass(spec_class):
        return [f.name for f in dataclasses.fields(spec_class)]
    return list(getattr(spec_class, "model_fields", {}))


def other_kinds_key(specs: Mapping[str, type], kind: str, key: str) -> str | None:
    """``is for flagfile, not unleash``: a key that belongs to another kind of the family."""
    owners = [k for k, cls in specs.items() if k != kind and key in spec_field_names(cls)]
    return f"is for {choices(owners)}, not {kind}" if owners else None


def unknown_key(known: list[str], key: str) -> str:
    """An unknown key's message: the closest known key, or the known keys."""
    if not looks_like_key(key):
        return "unknown key (not shown: it is not a key name; is this a plan file?)"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (known keys: {', '.join(sorted(known))})" if known else "unknown key"


# ------------------------------------------------------------------ reading without pydantic


def read_platform(data: object) -> tuple[AnyPlatformSpec | None, list[tuple[KeyPath, str]]]:
    """The spec a plan's ``platform:`` mapping (or kill's options) gives, checked against
    the spec class's own declarations (keys, strings, lengths, kinds), with the plan
    model's messages. Returns the spec, or None and the problems (key path, message)."""
    if not isinstance(data, Mapping):
        problem: tuple[KeyPath, str] = (("platform",), "a mapping: kind: and the kind's keys")
        return None, [problem]
    kind = data.get("kind")
    if "kind" not in data:
        return None, [(("platform",), f"missing 'kind': {kinds_with_summaries(PLATFORM_SPECS)}")]
    spec_class = PLATFORM_SPECS.get(kind) if isinstance(kind, str) else None
    if spec_class is None:
        use = kinds_with_summaries(PLATFORM_SPECS)
        return None, [(("platform", "kind"), f"{quote(kind)} is not a platform kind: use {use}")]
    problems: list[tuple[KeyPath, str]] = [
        (("platform", str(key)), message)
        for key, value in data.items()
        if (message := _field_problem(spec_class, str(kind), str(key), value)) is not None
    ]
    if problems:
        return None, problems
    return spec_class(**{str(k): v for k, v in data.items()}), []


@functools.cache
def _declared(spec_class: type) -> dict[str, tuple[bool, int | None, object]]:
    """Each field: (may be None, maximum length, the Literal's value or None)."""
    hints = typing.get_type_hints(spec_class, include_extras=True)
    return {f.name: _shape(hints[f.name]) for f in dataclasses.fields(spec_class)}


def _shape(hint: Any) -> tuple[bool, int | None, object]:
    """(may be None, maximum length, the Literal's value or None) of one annotation."""
    optional, limit, literal = False, None, None
    pending = [hint]
    while pending:
        part = pending.pop()
        origin = typing.get_origin(part)
        if origin is Annotated:
            args = typing.get_args(part)
            pending.append(args[0])
            limit = next((m.max_length for m in args[1:] if isinstance(m, Bounds)), limit)
        elif origin in (typing.Union, types.UnionType):
            pending.extend(typing.get_args(part))
        elif origin is Literal:
            literal = typing.get_args(part)[0]
        elif part is type(None):
            optional = True
    return optional, limit, literal


def _field_problem(spec_class: type, kind: str, key: str, value: object) -> str | None:
    declared = _declared(spec_class)
    if key not in declared:
        return other_kinds_key(PLATFORM_SPECS, kind, key) or unknown_key(list(declared), key)
    optional, limit, literal = declared[key]
    if literal is not None or (value is None and optional):
        return None
    if not isinstance(value, str):
        return "Input should be a valid string"
    if limit is not None and len(value) > limit:
        return f"at most {limit} characters"
    return None


def platform_spec(given: Mapping[str, object]) -> AnyPlatformSpec:
    """A spec from command-line options (``plan suggest``, ``kill --platform``): options
    left out (None) take the plan's defaults; a bad one is an InvalidInputError naming it
    (``--url: at most 2048 characters``), or what the platform needs and was not given
    (``--project: launchdarkly needs the project key (--platform launchdarkly)``)."""
    spec, problems = read_platform({k: v for k, v in given.items() if v is not None})
    if spec is None:
        where, message = problems[0]
        option = "--" + str(where[-1]).replace("_", "-") if len(where) > 1 else "--platform"
        raise InvalidInputError(f"{option}: {message}")
    missing = spec.address_problems()
    if missing:
        (where, message), key = missing[0], str(missing[0][0][-1])
        option = "--platform" if key in ("platform", "kind") else "--" + key.replace("_", "-")
        raise InvalidInputError(f"{option}: {message} (--platform {spec.kind})")
    return spec
