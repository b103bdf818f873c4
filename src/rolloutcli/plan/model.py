"""The rollout plan: its YAML model, validation, and errors that name file, line and key.

Validation runs in two passes. Pydantic checks the shape (types, unknown keys, ranges); a
second pass checks what only the whole plan can tell (stages strictly increasing, tiers in
order, success criteria naming real guardrails). Both report ``file:line: key: message``.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import stat
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
)

from rolloutcli.plan.thresholds import (
    Threshold,
    parse_bound,
    parse_threshold,
    severity_key,
)
from rolloutcli.plan.yamlsource import (
    KeyPath,
    SourcedYaml,
    decode_lenient,
    format_key_path,
    keep_top_level,
    load_yaml,
    parse_yaml,
    read_plan_bytes,
)
from rolloutcli.stats.direction import Direction
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import InvalidInputError, PlanError
from rolloutcli.support.quoting import looks_like_key, quote

# ---------------------------------------------------------------------------- limits
# What a plan may hold: far above any real plan, low enough that a mangled or hostile file
# is refused at once, with a message naming the limit, instead of costing minutes. The file
# itself is bounded by yamlsource (1 MiB, 64 levels, 20,000 values with aliases expanded).

MAX_STAGES = 100
MAX_GUARDRAILS = 50
MAX_SUCCESS = 50
MAX_AUDIENCE_KEYS = 1000
MAX_QUERIES = 100
MAX_WEBHOOKS = 20
MAX_APPROVE = 100
MAX_PER_TIER = 10
MAX_PROBLEMS = 50
"""Problem lines reported for one plan; the rest are counted in one last line."""

Key = Annotated[StrictStr, StringConstraints(max_length=256)]
"""A flag key, environment, project, segment, metric name, targeting key: ≤ 256 chars."""
Name = Annotated[StrictStr, StringConstraints(max_length=64)]
"""A stage or guardrail name: ≤ 64 characters."""
Short = Annotated[StrictStr, StringConstraints(max_length=64)]
"""A duration, threshold or bound as written (`30m`, `+10%`, `< 300ms`): ≤ 64 chars."""
Text = Annotated[StrictStr, StringConstraints(max_length=2000)]
"""A description: ≤ 2000 characters."""
PathText = Annotated[str, StringConstraints(max_length=1024)]
Url = Annotated[str, StringConstraints(max_length=2048)]
QueryText = Annotated[StrictStr, StringConstraints(max_length=10_000)]
Count = Annotated[StrictInt, Field(ge=-(10**15), le=10**15)]
"""An integer written in a plan where any size is absurd: within ±10^15."""

Tier = Literal["warn", "pause", "rollback"]
TIERS: tuple[Tier, ...] = ("warn", "pause", "rollback")
Variation = StrictBool | Key | Count | StrictFloat


def _strip_percent(value: Any) -> Any:
    """Accept ``25%`` as well as ``25`` for a stage percentage."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1])
        except ValueError:
            return value
    return value


Percent = Annotated[float, BeforeValidator(_strip_percent), Field(ge=0, le=100)]


class _Model(BaseModel):
    # allow_inf_nan: .inf or .nan where a number is expected is a plan error, for every model
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PlatformSpec(_Model):
    """Where the flag lives. ``flagfile`` is the embedded default: a flagd flag-definition file.

    ``unleash`` is a self-hosted or managed Unleash: the server's URL comes from ``url`` or the
    ``UNLEASH_URL`` environment variable, the API token only from ``UNLEASH_API_TOKEN``.
    """

    kind: Literal["flagfile", "unleash", "launchdarkly"] = Field(
        description="Flag platform: flagfile (local flagd JSON), unleash (Admin API) or "
        "launchdarkly (REST API v2)."
    )
    path: PathText | None = Field(
        None,
        description="flagfile: path of the flagd JSON file, relative to the plan file "
        "(≤ 1024 characters).",
    )
    url: Url | None = Field(
        None,
        description="unleash: the server's base URL (default: the UNLEASH_URL environment "
        "variable). launchdarkly: the API's base URL (default: LD_BASE_URL, else "
        "https://app.launchdarkly.com; federal https://app.launchdarkly.us, EU "
        "https://app.eu.launchdarkly.com). Never put a token here: tokens come from the "
        "environment (UNLEASH_API_TOKEN, LD_API_TOKEN).",
    )
    project: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        None, description="Project on the platform, where it has one (unleash: default)."
    )
    environment: Annotated[str, StringConstraints(max_length=256)] = Field(
        "local", description="Environment the rollout runs in (≤ 256 characters)."
    )
    stickiness: Key = Field(
        "default",
        description="unleash: the context field users are bucketed by (default: userId, "
        "then sessionId, then random).",
    )
    context_kind: Key = Field(
        "user",
        description="launchdarkly: the context kind the rollout buckets and targets (user, "
        "organization, device…).",
    )
    bucket_by: Key | None = Field(
        None,
        description="launchdarkly: the context attribute the rollout buckets by (default: "
        "the context key).",
    )


class Variations(_Model):
    treatment: Variation = Field(description="The variation being rolled out (true, 'v2.4').")
    control: Variation = Field(description="The variation it is compared against (false, 'v2.3').")


class Audience(_Model):
    """Who gets the treatment before the stage's percentage opens."""

    keys: list[Key] | None = Field(
        None,
        max_length=MAX_AUDIENCE_KEYS,
        description=f"An allowlist of targeting keys (at most {MAX_AUDIENCE_KEYS}).",
    )
    segment: Key | None = Field(None, description="A segment defined on the platform.")


class Stage(_Model):
    name: Name | None = Field(
        None, description="A label; defaults to the percentage (≤ 64 characters)."
    )
    percent: Percent = Field(description="Treatment share of traffic, 0-100.")
    min_duration: Short = Field(
        "0",
        description="Minimum observation window before moving on: 30m, 2h, 3d (at most 3650d).",
    )
    min_samples: StrictInt = Field(
        0, ge=0, le=10**15, description="Minimum exposures per cohort before moving on."
    )
    audience: Audience | None = Field(
        None, description="Served treatment first, before (and alongside) the percentage."
    )
    power_gate: StrictBool | None = Field(
        None,
        description="Hold this stage until every guardrail with detect: has ruled out that "
        "regression (confidence statistics.power). Default: on for the last stage below 100%, "
        "where the control cohort is about to disappear.",
    )

    @field_validator("min_duration", mode="before")
    @classmethod
    def _duration_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and value == 0 else value

    @field_validator("min_duration")
    @classmethod
    def _duration_parses(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def window(self) -> timedelta:
        return parse_duration(self.min_duration)

    @property
    def label(self) -> str:
        return self.name or f"{self.percent:g}%"


class MetricsSourceSpec(_Model):
    """Where the numbers come from. ``file`` is the embedded default; ``prometheus`` and
    ``datadog`` run the plan's ``metrics.queries`` against a monitoring API. Credentials come
    only from the environment (PROMETHEUS_TOKEN or PROMETHEUS_USERNAME/PASSWORD; DD_API_KEY
    and DD_APP_KEY)."""

    kind: Literal["file", "prometheus", "datadog"] = Field(
        description="Metrics backend: file (local CSV or JSON lines), prometheus (HTTP API "
        "v1) or datadog (metrics query API v1)."
    )
    path: PathText | None = Field(
        None, description="file: path of the metrics file, relative to the plan file."
    )
    url: Url | None = Field(
        None,
        description="prometheus: the server's base URL (default: the PROMETHEUS_URL "
        "environment variable). datadog: the API's base URL (default: https://api.{site}).",
    )
    site: Key | None = Field(
        None,
        description="datadog: the Datadog site (default: DD_SITE, else datadoghq.com; e.g. "
        "datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, ddog-gov.com).",
    )
    timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds each query may take before it is retried."
    )


class QuerySpec(_Model):
    """One metric's query template. Placeholders: {cohort} (the variation served, e.g. true
    or v2.4), {role} (treatment or control), {flag} (the flag key), {window} (the
    evaluation window in the backend's duration syntax: 1h30m for Prometheus, seconds for
    Datadog). Every other brace is left as written."""

    query: QueryText = Field(description="The query template (≤ 10,000 characters).")
    step: Short | None = Field(
        None,
        description="For value metrics (mean guardrails): one value per step, each over "
        "{window} = step (default: statistics.interval). E.g. 5m for a p99 per 5 minutes.",
    )

    @field_validator("step", mode="before")
    @classmethod
    def _step_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


TierValue = Short | Annotated[list[Short], Field(max_length=MAX_PER_TIER)]


class Thresholds(_Model):
    warn: TierValue | None = Field(
        None,
        description=f"Breach → warn (reported, no action). A threshold or a list of at most "
        f"{MAX_PER_TIER}, as in every tier.",
    )
    pause: TierValue | None = Field(None, description="Breach → pause the rollout.")
    rollback: TierValue | None = Field(None, description="Breach → roll back.")

    def items(self) -> list[tuple[Tier, list[str]]]:
        out: list[tuple[Tier, list[str]]] = []
        for tier in TIERS:
            value = getattr(self, tier)
            if value is not None:
                out.append((tier, [value] if isinstance(value, str) else list(value)))
        return out


class _GuardrailBase(_Model):
    name: Name = Field(description="Unique name of the guardrail (≤ 64 characters).")
    description: Text | None = None
    direction: Direction = Field(
        Direction.HIGHER_IS_WORSE, description="higher_is_worse or lower_is_worse."
    )
    unit: Literal["ms", "s", "ratio", "percent"] | None = Field(
        None, description="Unit of the metric's values (converts absolute limits like 300ms)."
    )
    thresholds: Thresholds = Field(description="Tiers warn / pause / rollback.")
    significant: list[Tier] = Field(
        default_factory=lambda: ["rollback"],  # type: ignore[arg-type]
        max_length=len(TIERS),
        description="Tiers that act only when the difference is statistically significant.",
    )
    detect: Short | None = Field(
        None,
        description="The smallest regression the rollout must be able to detect, relative "
        "to control (+50%, -10%, 2x). Centres the sequential test on it, sizes stages, and "
        "gates the step to 100% until that regression is ruled out.",
    )

    @cached_property
    def detect_threshold(self) -> Threshold | None:
        if self.detect is None:
            return None
        return parse_threshold(self.detect, self.direction, self.unit, self.is_ratio)

    @property
    def is_ratio(self) -> bool:
        return False

    @cached_property
    def tiers(self) -> dict[Tier, list[Threshold]]:
        """The parsed thresholds per tier (the plan has been validated, so they parse)."""
        return {
            tier: [parse_threshold(t, self.direction, self.unit, self.is_ratio) for t in texts]
            for tier, texts in self.thresholds.items()
        }

    @property
    def compares_to_control(self) -> bool:
        return any(t.needs_control for ts in self.tiers.values() for t in ts)


class RatioGuardrail(_GuardrailBase):
    """events / trials per cohort: error rate, conversion, fallback rate."""

    kind: Literal["ratio"]
    events: Key = Field(description="Query/metric name counting events (errors).")
    trials: Key = Field(description="Query/metric name counting trials (requests).")

    @property
    def is_ratio(self) -> bool:
        return True


class MeanGuardrail(_GuardrailBase):
    """A value per observation: latency, model accuracy, confidence score."""

    kind: Literal["mean"]
    metric: Key = Field(description="Query/metric name of the values.")
    test: Literal["auto", "welch", "mann_whitney"] = Field(
        "auto", description="auto: Mann-Whitney when raw samples exist, else Welch's t."
    )
    scale: Literal["linear", "log"] = Field(
        "linear",
        description="log: compare geometric means (tests run on ln of the values; +10% means "
        "10% slower). Suits latencies. Needs raw samples or per-interval moments of ln(value).",
    )


Guardrail = Annotated[RatioGuardrail | MeanGuardrail, Field(discriminator="kind")]


class SuccessCriterion(_Model):
    metric: Name = Field(description="Name of a guardrail.")
    at_least: Short | Count | float | None = Field(
        None, description="Treatment must be at least this: -1% (vs control), 0.92 (absolute)."
    )
    at_most: Short | Count | float | None = Field(
        None, description="Treatment must be at most this: +5% (vs control), 300ms (absolute)."
    )


class MetricsSpec(_Model):
    source: MetricsSourceSpec
    queries: dict[Key, QueryText | QuerySpec] = Field(
        default_factory=dict,
        max_length=MAX_QUERIES,
        description="prometheus, datadog: one query template per metric name the guardrails "
        "and exposures use (a ratio guardrail's events and trials are two queries: counts, "
        f"not a pre-divided rate). A string, or {{query, step}}. At most {MAX_QUERIES}.",
    )

    def query(self, name: str) -> QuerySpec | None:
        found = self.queries.get(name)
        return QuerySpec(query=found) if isinstance(found, str) else found

    exposures: Key | None = Field(
        None,
        description="Counter of units assigned to each cohort (for sample sizes and the "
        "sample-ratio check). Defaults to the first ratio guardrail's trials.",
    )


class Statistics(_Model):
    method: Literal["sequential", "fixed"] = Field(
        "sequential",
        description="sequential: always-valid tests, safe to check as often as you like "
        "(the default). fixed: fixed-horizon tests (z / Fisher, Welch, Mann-Whitney) valid "
        "for one look only.",
    )
    alpha: float = Field(
        0.05,
        gt=0,
        le=0.5,
        description="sequential: the chance, over everything scope covers, that any "
        "significant tier fires while the treatment is truly within it. fixed: per test.",
    )
    scope: Literal["rollout", "stage"] = Field(
        "rollout",
        description="What alpha covers. rollout: evidence pooled over every stage since the "
        "rollout began, alpha for the whole rollout. stage: evidence restarts at each stage.",
    )
    correction: Literal["holm", "bonferroni", "none"] = Field(
        "holm", description="Correction across guardrails (sequential)."
    )
    power: float = Field(
        0.9,
        gt=0.5,
        lt=1,
        description="Confidence with which a power-gated stage must rule out each guardrail's "
        "detect: regression before moving on.",
    )
    srm_alpha: float = Field(
        0.001, gt=0, le=0.1, description="Level of the sequential sample-ratio-mismatch check."
    )
    interval: StrictStr = Field(
        "1m", description="Length of the intervals the sequential tests stratify by."
    )
    min_coverage: float = Field(
        0.8,
        ge=0,
        le=1,
        description="sequential: the share of a stage's data points (one per query step, "
        "rollup bucket or reporting interval) each guardrail's series must have, per cohort, "
        "before the verdict may go; a series with gaps is judged on the points it has, and one "
        "silent for its last 3 steps holds. 0 turns the check off.",
    )

    @field_validator("interval", mode="before")
    @classmethod
    def _interval_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError("interval must be positive (e.g. 1m)")
        return value

    @property
    def step(self) -> timedelta:
        return parse_duration(self.interval)


Action = Literal["auto", "manual"]


class Automation(_Model):
    """What ``rollout watch --auto`` may do on its own. A person can always do the rest
    (``rollout advance``, ``rollout rollback``); ``rollout pause`` stops automatic
    advancing until ``rollout resume``, and ``rollout kill`` always wins."""

    advance: Action = Field(
        "auto", description="On go: move to the next stage (auto) or wait for a person."
    )
    advance_up_to: Percent = Field(
        100,
        description="Advance automatically only into stages at or below this percentage "
        "(e.g. 50: a person approves 100%).",
    )
    approve: list[Short | Count | StrictFloat] = Field(
        default_factory=list,
        max_length=MAX_APPROVE,
        description="Stages (name or percentage, e.g. 100%) a person must approve with "
        f"rollout advance before the rollout enters them (at most {MAX_APPROVE}).",
    )
    pause: Action = Field(
        "auto",
        description="On pause: mark the rollout paused on the platform (auto), so it stays "
        "stopped until rollout resume, or only report it (manual).",
    )
    rollback: Action = Field(
        "auto", description="On rollback: set the treatment to 0% (auto) or only report it."
    )
    start: Action = Field(
        "manual",
        description="A rollout that has not started: enter the first stage (auto) or wait "
        "for rollout advance. A rolled-back or killed rollout is never restarted "
        "automatically.",
    )

    def needs_approval(self, stage: Stage) -> bool:
        """Whether entering ``stage`` needs a person, by ``advance_up_to`` and ``approve``."""
        if self.advance == "manual" or stage.percent > self.advance_up_to + 1e-9:
            return True
        for item in self.approve:
            if isinstance(item, str) and item.strip() == stage.label:
                return True
            try:
                if abs(float(_strip_percent(item)) - stage.percent) < 1e-9:
                    return True
            except (TypeError, ValueError):
                continue
        return False


NotifyEvent = Literal["pause", "rollback", "kill", "done", "resume", "advance"]
NOTIFY_DEFAULT: list[NotifyEvent] = ["pause", "rollback", "kill", "done"]


class Webhook(_Model):
    """A webhook to post to. The URL is a secret (a Slack URL is a credential), so a plan
    names the environment variable that holds it; ``url`` is for local receivers."""

    format: Literal["json", "slack"] = Field(
        "json", description="json: rolloutcli's event document; slack: an incoming webhook."
    )
    url_env: Key | None = Field(
        None, description="Environment variable holding the URL (e.g. SLACK_WEBHOOK_URL)."
    )
    url: Annotated[StrictStr, StringConstraints(max_length=2048)] | None = Field(
        None, description="The URL itself (only for non-secret, e.g. internal, receivers)."
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_DEFAULT),
        max_length=12,
        description="Events that post: pause, rollback, kill, done (default), resume, advance.",
    )


class Notifications(_Model):
    webhooks: list[Webhook] = Field(
        default_factory=list, max_length=MAX_WEBHOOKS, description=f"At most {MAX_WEBHOOKS}."
    )


class Plan(_Model):
    """A progressive rollout of one flag."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="rolloutcli plan")

    flag: Key = Field(description="Flag key on the platform (≤ 256 characters).")
    description: Text | None = None
    platform: PlatformSpec
    variations: Variations
    stages: list[Stage] = Field(
        min_length=1, max_length=MAX_STAGES, description=f"1 to {MAX_STAGES} stages."
    )
    metrics: MetricsSpec
    guardrails: list[Guardrail] = Field(
        default_factory=list, max_length=MAX_GUARDRAILS, description=f"At most {MAX_GUARDRAILS}."
    )
    success: list[SuccessCriterion] = Field(
        default_factory=list, max_length=MAX_SUCCESS, description=f"At most {MAX_SUCCESS}."
    )
    statistics: Statistics = Field(default_factory=Statistics)
    automation: Automation = Field(
        default_factory=Automation, description="What rollout watch --auto may do by itself."
    )
    notifications: Notifications = Field(
        default_factory=Notifications,
        description="Webhooks told about pause, rollback, kill and completion.",
    )

    @property
    def exposure_metric(self) -> str | None:
        if self.metrics.exposures:
            return self.metrics.exposures
        for guardrail in self.guardrails:
            if isinstance(guardrail, RatioGuardrail):
                return guardrail.trials
        return None

    def metric_names(self) -> dict[str, str]:
        """Every metric name the plan reads, and what reads it (for the queries check)."""
        used: dict[str, str] = {}
        for g in self.guardrails:
            if isinstance(g, RatioGuardrail):
                used.setdefault(g.events, f"guardrail {g.name} (events)")
                used.setdefault(g.trials, f"guardrail {g.name} (trials)")
            else:
                used.setdefault(g.metric, f"guardrail {g.name}")
        if self.exposure_metric is not None:
            used.setdefault(self.exposure_metric, "exposures")
        return used

    def guardrail(self, name: str) -> RatioGuardrail | MeanGuardrail | None:
        return next((g for g in self.guardrails if g.name == name), None)

    def power_gated(self, index: int) -> bool:
        """Whether stage ``index`` holds until the detect: regressions are ruled out: as the
        stage says, else only the last stage below 100% (the control is about to go)."""
        stage = self.stages[index]
        if stage.power_gate is not None:
            return stage.power_gate
        nxt = self.stages[index + 1] if index + 1 < len(self.stages) else None
        return nxt is not None and nxt.percent >= 100 and 0 < stage.percent < 100


class LoadedPlan:
    """A validated plan plus where it came from (name, file, directory for relative paths)."""

    def __init__(self, plan: Plan, path: Path) -> None:
        self.plan = plan
        self.path = path
        self.name = path.stem
        self.base_dir = path.parent

    def resolve(self, relative: str) -> Path:
        candidate = Path(os.path.expanduser(relative))
        return candidate if candidate.is_absolute() else self.base_dir / candidate


class FlagAddress(_Model):
    """Just enough of a plan to reach the flag: what `kill` needs and nothing more."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    flag: Key
    platform: PlatformSpec


# --------------------------------------------------------------------------- resolving


PLAN_SUFFIXES = (".yaml", ".yml")


def resolve_plan_path(ref: str, plans_dir: Path | None = None) -> Path:
    """A PLAN argument: a path to a YAML file, or NAME → ``<plans dir>/NAME.yaml``.

    A reference with a path separator or a .yaml/.yml suffix is a path, and must name a
    .yaml or .yml file (so `rollout validate ../../etc/shadow` reads nothing). Anything else
    is a NAME, looked up only inside the plans directory: it may hold no separator and no
    ``..``."""
    if not ref.strip() or not ref.isprintable():
        raise InvalidInputError(f"plan {quote(ref)}: not a plan name or path")
    direct = Path(ref)
    if direct.suffix.lower() in PLAN_SUFFIXES or os.sep in ref or "/" in ref:
        if direct.suffix.lower() not in PLAN_SUFFIXES:
            raise InvalidInputError(
                f"plan file {_shown(ref)}: not a plan: a plan file's name ends in .yaml or .yml"
            )
        found = _is_file(direct)
        if found:
            return direct
        if found is None:
            raise InvalidInputError(f"plan file {_shown(ref)} is not a regular file")
        raise InvalidInputError(f"plan file {_shown(ref)} not found")
    if ".." in ref or "\\" in ref:
        raise InvalidInputError(
            f"plan name {quote(ref)}: a name may not contain '..' or a path separator "
            "(give a path to a .yaml file instead)"
        )
    folder = plans_dir or default_plans_dir()
    for suffix in PLAN_SUFFIXES:
        candidate = folder / f"{ref}{suffix}"
        if _is_file(candidate):
            return candidate
    raise InvalidInputError(
        f"no plan named {quote(ref)}: looked for {_shown(str(folder / (ref + '.yaml')))} "
        "(give a path, or set --plans-dir / ROLLOUT_PLANS_DIR)"
    )


def _is_file(path: Path) -> bool | None:
    """True for a regular file, None for something else that exists, False when nothing is
    there (or the path cannot be looked at: too long, a directory we may not search)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return True if stat.S_ISREG(mode) else None


def _shown(ref: str) -> str:
    """A path from the command line, as typed when it is short and printable."""
    return ref if len(ref) <= 300 and ref.isprintable() else quote(ref, 80)


def default_plans_dir() -> Path:
    return Path(os.environ.get("ROLLOUT_PLANS_DIR") or "plans")


# --------------------------------------------------------------------------- loading


def load_plan(path: Path) -> LoadedPlan:
    """Load and fully validate a plan; raises PlanError with one line per problem."""
    source = load_yaml(path)
    if not isinstance(source.data, dict):
        raise PlanError([f"{path}:1: a plan is a YAML mapping (flag:, platform:, stages: ...)"])
    try:
        plan = Plan.model_validate(source.data)
    except ValidationError as exc:
        raise PlanError(_capped(path, _shape_problems(exc, source, Plan))) from None
    problems = [
        f"{source.where(p)}: {format_key_path(p)}: {m}" for p, m in _semantic_problems(plan)
    ]
    if problems:
        raise PlanError(_capped(path, problems))
    return LoadedPlan(plan, path)


def _capped(path: Path, problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], f"{path}: {more} more problems not shown"]


ADDRESS_KEYS = ("flag", "platform")
_FLAGFILE_NEEDS_PATH = "a flagfile platform needs path: (the flagd JSON file)"


def load_flag_address(path: Path) -> tuple[str, FlagAddress, Path]:
    """Read only ``flag`` and ``platform`` from a plan, as tolerantly as it can be done: kill
    must work on a plan that does not validate, does not parse, or holds a stray byte.

    The whole file is parsed first, within the limits load_plan has. When that fails (a
    syntax error, a bomb, a control character, a duplicate key anywhere), only the
    top-level ``flag:`` and ``platform:`` blocks are parsed, their lines kept. Bytes that
    are not UTF-8 are replaced, and refused only inside those two blocks."""
    text, lossy = decode_lenient(read_plan_bytes(path))
    try:
        source = parse_yaml(path, text)
    except PlanError:
        sections = keep_top_level(text, ADDRESS_KEYS)
        if sections is None:
            raise
        source = parse_yaml(path, sections)
    if not isinstance(source.data, dict):
        raise PlanError([f"{path}:1: a plan is a YAML mapping (flag:, platform:, stages: ...)"])
    data = source.data
    try:
        address = FlagAddress.model_validate({k: data[k] for k in ADDRESS_KEYS if k in data})
    except ValidationError as exc:
        problems = _shape_problems(exc, source, FlagAddress)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise PlanError([problems[0] + more]) from None
    if address.platform.kind == "flagfile" and not address.platform.path:
        where = source.where(("platform", "kind"))
        raise PlanError([f"{where}: platform.kind: {_FLAGFILE_NEEDS_PATH}"])
    if lossy and "\ufffd" in repr(address.model_dump()):
        key = "flag" if "\ufffd" in address.flag else "platform"
        where = source.where((key,))
        raise PlanError([f"{where}: {key}: holds bytes that are not UTF-8: save the plan as UTF-8"])
    return path.stem, address, path.parent


def flag_key_hint(path: Path) -> str | None:
    """The flag key written on the plan's top-level ``flag:`` line, read from that block
    alone (a millisecond, whatever the rest of the file holds); None when that does not
    tell (no such line, an alias, a value that is not a string). For scanning a folder:
    only a plan whose hint matches, or gives none, needs :func:`load_flag_address`.
    Raises PlanError when the file cannot be read at all."""
    text, _ = decode_lenient(read_plan_bytes(path))
    block = keep_top_level(text, ("flag",))
    if block is None:
        return None
    try:
        data = parse_yaml(path, block).data
    except PlanError:
        return None
    flag = data.get("flag") if isinstance(data, dict) else None
    return flag if isinstance(flag, str) else None


def plan_json_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


# --------------------------------------------------------------------------- messages


def _shape_problems(exc: ValidationError, source: SourcedYaml, root: type[BaseModel]) -> list[str]:
    errors = [(_data_path(source.data, e["loc"]), e) for e in exc.errors()]
    # A value of the right type for one alternative of a union (a list of thresholds that
    # is too long): say why that alternative failed, not that the value is not a string.
    fitting = {path for path, e in errors if not e["type"].endswith("_type")}
    problems: list[str] = []
    seen: set[tuple[KeyPath, str]] = set()
    for path, error in errors:
        if path in fitting and error["type"].endswith("_type"):
            continue
        message = _message(error, path, root)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        problems.append(f"{source.where(path)}: {format_key_path(path)}: {message}")
    return problems


def _data_path(data: Any, loc: tuple[int | str, ...]) -> KeyPath:
    """Pydantic locations include union/tag names; keep only the parts present in the data."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not path_is_tag(part):
            path.append(part)  # a missing key: name it
            node = None
    return tuple(path)


def path_is_tag(part: str) -> bool:
    """Whether a pydantic location part names a union member (``str``, ``constrained-int``,
    ``list[...]``, ``QuerySpec``) rather than a key of the plan."""
    return (
        part in ("ratio", "mean", "str", "int", "float", "bool")
        or "[" in part
        or part.startswith("constrained-")
        or part in _MODEL_NAMES
    )


def _message(error: Any, path: KeyPath, root: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        if not looks_like_key(key):
            return "unknown key (not shown: it is not a key name; is this a plan file?)"
        known = _known_keys(root, path[:-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" (known keys: {', '.join(sorted(known))})" if known and not close else ""
        return f"unknown key{hint}{listing}"
    if kind == "missing":
        if path and path[-1] == "control":
            return "missing: the control variation the treatment is compared against"
        return "missing (required)"
    if kind == "union_tag_invalid":
        return "kind must be 'ratio' (events/trials) or 'mean' (values)"
    if kind == "union_tag_not_found":
        return "missing 'kind': ratio (events/trials) or mean (values)"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in ("less_than_equal", "greater_than_equal") and path and path[-1] == "percent":
        return f"percentage must be between 0 and 100 (got {quote(error['input'])})"
    if kind == "too_long":
        ctx = error.get("ctx") or {}
        got = f" (got {ctx['actual_length']})" if ctx.get("actual_length") is not None else ""
        return f"at most {ctx.get('max_length')} items{got}"
    if kind == "string_too_long":
        return f"at most {(error.get('ctx') or {}).get('max_length')} characters"
    return str(error["msg"])


_MODEL_NAMES = frozenset(model.__name__ for model in _Model.__subclasses__())


def _known_keys(root: type[BaseModel], parent: KeyPath) -> list[str]:
    """Field names accepted at ``parent`` (best effort, walking the model's annotations)."""
    models: list[type[BaseModel]] = [root]
    for part in parent:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            info = model.model_fields.get(part)
            if info is not None:
                nxt.extend(_models_in(info.annotation))
        models = nxt
    keys: set[str] = set()
    for model in models:
        keys.update(model.model_fields)
    return sorted(keys)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    metadata_origin = getattr(annotation, "__origin__", None)
    if metadata_origin is not None and not found:
        found.extend(_models_in(metadata_origin))
    return found


# --------------------------------------------------------------------------- semantics


def _launchdarkly_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """LaunchDarkly weights are thousandths of a percent; a flag lives in a project."""
    problems: list[tuple[KeyPath, str]] = []
    if not plan.platform.project:
        problems.append((("platform",), "launchdarkly needs project: (the project key)"))
    if plan.platform.path is not None:
        problems.append((("platform", "path"), "path: is for flagfile; launchdarkly takes url:"))
    for i, stage in enumerate(plan.stages):
        steps = stage.percent * 1000
        if abs(steps - round(steps)) > 1e-6:
            problems.append(
                (
                    ("stages", i, "percent"),
                    f"{stage.percent:g}%: LaunchDarkly weights are in thousandths of a percent",
                )
            )
    return problems


def _unleash_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """Unleash stores whatever it is sent and its SDKs then serve a bad rollout (12.5, 150)
    to nobody: the percentages must be what its strategies can hold."""
    problems: list[tuple[KeyPath, str]] = []
    if plan.platform.path is not None:
        problems.append((("platform", "path"), "path: is for flagfile; unleash takes url:"))
    t, c = plan.variations.treatment, plan.variations.control
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
    for i, stage in enumerate(plan.stages):
        if boolean and stage.percent != int(stage.percent):
            problems.append(
                (
                    ("stages", i, "percent"),
                    f"{stage.percent:g}%: Unleash's gradual rollout takes whole percentages",
                )
            )
        elif not boolean and round(stage.percent * 10, 6) != int(round(stage.percent * 10, 6)):
            problems.append(
                (
                    ("stages", i, "percent"),
                    f"{stage.percent:g}%: Unleash variant weights are in tenths of a percent",
                )
            )
    return problems


def _semantic_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []

    def add(where: KeyPath, message: str) -> None:
        problems.append((where, message))

    if plan.platform.kind == "flagfile" and not plan.platform.path:
        add(("platform", "kind"), _FLAGFILE_NEEDS_PATH)
    if plan.platform.kind == "unleash":
        problems.extend(_unleash_problems(plan))
    if plan.platform.kind == "launchdarkly":
        problems.extend(_launchdarkly_problems(plan))
    if plan.variations.treatment == plan.variations.control:
        add(("variations", "control"), "control must differ from treatment")

    previous: float | None = None
    for i, stage in enumerate(plan.stages):
        if stage.percent == 0 and stage.audience is None:
            add(("stages", i, "percent"), "a 0% stage needs an audience (keys or segment)")
        if previous is not None and stage.percent <= previous:
            add(
                ("stages", i, "percent"),
                f"stages must be strictly increasing: {stage.percent:g} follows {previous:g}",
            )
        previous = stage.percent
        if stage.audience is not None:
            aud = stage.audience
            if (aud.keys is None) == (aud.segment is None):
                add(("stages", i, "audience"), "give exactly one of keys: or segment:")
            elif aud.keys is not None and not aud.keys:
                add(("stages", i, "audience", "keys"), "the allowlist is empty")
    last = len(plan.stages) - 1
    if plan.stages[last].percent != 100:
        add(
            ("stages", last, "percent"),
            f"the final stage must reach 100% (got {plan.stages[last].percent:g})",
        )

    names = [g.name for g in plan.guardrails]
    first: dict[str, int] = {}
    for i, guardrail in enumerate(plan.guardrails):
        if first.setdefault(guardrail.name, i) != i:
            add(("guardrails", i, "name"), f"duplicate guardrail name {quote(guardrail.name)}")
        problems.extend(_tier_problems(guardrail, ("guardrails", i)))
        if guardrail.detect is not None:
            try:
                found = guardrail.detect_threshold
            except ValueError as exc:
                add(("guardrails", i, "detect"), str(exc))
            else:
                if found is not None and (not found.needs_control or found.factor == 1):
                    add(
                        ("guardrails", i, "detect"),
                        f"{quote(guardrail.detect)}: detect is a change relative to control "
                        "(+50%, -10%, 2x), not zero and not an absolute value",
                    )

    for i, criterion in enumerate(plan.success):
        where: KeyPath = ("success", i)
        target = plan.guardrail(criterion.metric)
        if target is None:
            close = difflib.get_close_matches(criterion.metric, names, n=1)
            hint = f"; did you mean {quote(close[0])}?" if close else ""
            add((*where, "metric"), f"no guardrail named {quote(criterion.metric)}{hint}")
            continue
        if (criterion.at_least is None) == (criterion.at_most is None):
            add(where, "give exactly one of at_least: or at_most:")
            continue
        key = "at_least" if criterion.at_least is not None else "at_most"
        try:
            parse_bound(str(getattr(criterion, key)), target.unit, target.is_ratio)
        except ValueError as exc:
            add((*where, key), str(exc))

    if plan.exposure_metric is None and plan.guardrails:
        add(("metrics",), "name exposures: (a counter of units per cohort); no ratio guardrail")
    problems.extend(_metrics_problems(plan))
    problems.extend(_automation_problems(plan))
    return problems


def _automation_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """Approvals must name real stages; each webhook needs exactly one of url_env / url."""
    problems: list[tuple[KeyPath, str]] = []
    labels = [s.label for s in plan.stages]
    for i, item in enumerate(plan.automation.approve):
        named = isinstance(item, str) and item.strip() in labels
        try:
            value = float(_strip_percent(item))
        except (TypeError, ValueError):
            value = None
        if not named and not any(
            value is not None and abs(value - s.percent) < 1e-9 for s in plan.stages
        ):
            problems.append(
                (
                    ("automation", "approve", i),
                    f"{quote(item)} names no stage (stages: {_listing(labels)})",
                )
            )
    for i, hook in enumerate(plan.notifications.webhooks):
        if (hook.url is None) == (hook.url_env is None):
            problems.append(
                (("notifications", "webhooks", i), "give exactly one of url_env: or url:")
            )
    return problems


def _listing(labels: list[str], most: int = 10) -> str:
    shown = ", ".join(quote(label)[1:-1] for label in labels[:most])
    return shown + (f", … ({len(labels)} in all)" if len(labels) > most else "")


_PLACEHOLDER = re.compile(r"\{(cohort|role|flag|window)\}")


def _metrics_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """A query source needs a template for every metric it reads, each naming its cohort."""
    problems: list[tuple[KeyPath, str]] = []
    metrics = plan.metrics
    kind = metrics.source.kind
    if kind == "file":
        if not metrics.source.path:
            problems.append((("metrics", "source", "kind"), "a file source needs path:"))
        if metrics.queries:
            problems.append(
                (
                    ("metrics", "queries"),
                    "queries are for prometheus and datadog sources; the file source reads "
                    "metrics by name",
                )
            )
        return problems
    if metrics.source.path:
        problems.append((("metrics", "source", "path"), f"a {kind} source has no path:"))
    for name, used_by in plan.metric_names().items():
        if name not in metrics.queries:
            close = difflib.get_close_matches(name, list(metrics.queries), n=1)
            hint = f"; did you mean {quote(close[0])}?" if close else ""
            problems.append(
                (("metrics", "queries"), f"no query for {quote(name)} (read by {used_by}){hint}")
            )
    for name in metrics.queries:
        spec = metrics.query(name)
        assert spec is not None
        where: KeyPath = ("metrics", "queries", name)
        found = set(_PLACEHOLDER.findall(spec.query))
        if not found & {"cohort", "role"}:
            problems.append(
                (
                    where,
                    "the query names no cohort: add {cohort} (the variation served) or "
                    "{role} (treatment/control), or both cohorts get the same numbers",
                )
            )
        if spec.step is not None:
            try:
                ok = parse_duration(spec.step).total_seconds() > 0
            except ValueError as exc:
                problems.append(((*where, "step"), str(exc)))
            else:
                if not ok:
                    problems.append(((*where, "step"), "step must be positive (e.g. 5m)"))
    return problems


def _tier_problems(
    guardrail: RatioGuardrail | MeanGuardrail, where: KeyPath
) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    parsed: dict[str, list[Threshold]] = {}
    for tier, texts in guardrail.thresholds.items():
        parsed[tier] = []
        for j, text in enumerate(texts):
            key: KeyPath = (*where, "thresholds", tier) + ((j,) if len(texts) > 1 else ())
            try:
                parsed[tier].append(
                    parse_threshold(text, guardrail.direction, guardrail.unit, guardrail.is_ratio)
                )
            except ValueError as exc:
                problems.append((key, str(exc)))
    if not parsed:
        problems.append(((*where, "thresholds"), "give at least one tier: warn, pause or rollback"))
    explicit = guardrail.significant if "significant" in guardrail.model_fields_set else []
    for tier in explicit:
        if tier not in parsed:
            problems.append(((*where, "significant"), f"{tier!r} has no threshold"))
    order = [t for t in TIERS if t in parsed]
    for earlier, later in itertools.pairwise(order):
        for a in parsed[earlier]:
            for b in parsed[later]:
                fam_a, val_a = severity_key(a, guardrail.direction)
                fam_b, val_b = severity_key(b, guardrail.direction)
                if fam_a == fam_b and val_b < val_a:
                    problems.append(
                        (
                            (*where, "thresholds", later),
                            f"tiers out of order: {later} {quote(b.raw)} is reached before "
                            f"{earlier} {quote(a.raw)} (each tier must lie at or beyond the one "
                            "before: warn, then pause, then rollback)",
                        )
                    )
    return problems
