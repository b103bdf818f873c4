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
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from rolloutcli.plan.fields import (
    TIERS,
    Count,
    Key,
    Name,
    Percent,
    PlanModel,
    QueryText,
    Short,
    Text,
    Tier,
    Variation,
    strip_percent,
)
from rolloutcli.plan.knobs import MAX_KNOBS, Knob, KnobAction, OnPause, knob_problems
from rolloutcli.plan.labels import LABEL, LABEL_RULE, MAX_LABELS, label_value
from rolloutcli.plan.notifications import Notifications
from rolloutcli.plan.platform_specs import (
    PLATFORM_SPECS,
    AnyPlatformSpec,
    kinds_with_summaries,
    other_kinds_key,
    spec_field_names,
    unknown_key,
)
from rolloutcli.plan.policy import (
    MAX_CHECKLIST,
    MAX_FREEZES,
    MAX_WINDOWS,
    ChecklistItem,
    Freeze,
    Window,
)
from rolloutcli.plan.policy import (
    checklist_items as as_items,
)
from rolloutcli.plan.segments import Segments, segment_problems
from rolloutcli.plan.source_specs import SOURCE_SPECS, AnySourceSpec, query_kinds_text
from rolloutcli.plan.thresholds import (
    Threshold,
    ThresholdKind,
    parse_bound,
    parse_threshold,
    severity_key,
)
from rolloutcli.plan.yamlsource import (
    KeyPath,
    SourcedYaml,
    format_key_path,
    load_yaml,
)
from rolloutcli.stats.direction import Direction
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import PlanError
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
MAX_APPROVE = 100
MAX_PER_TIER = 10
MAX_PREREQUISITES = 20
MAX_PROBLEMS = 50
"""Problem lines reported for one plan; the rest are counted in one last line."""


class Variations(PlanModel):
    treatment: Variation = Field(description="The variation being rolled out (true, 'v2.4').")
    control: Variation = Field(description="The variation it is compared against (false, 'v2.3').")


class Audience(PlanModel):
    """Who gets the treatment before the stage's percentage opens."""

    keys: list[Key] | None = Field(
        None,
        max_length=MAX_AUDIENCE_KEYS,
        description=f"An allowlist of targeting keys (at most {MAX_AUDIENCE_KEYS}).",
    )
    segment: Key | None = Field(None, description="A segment defined on the platform.")


class Exclusion(PlanModel):
    """Who never gets the treatment, in any stage, even at 100%: the platform serves them
    the control before the audience and the percentage are looked at."""

    keys: list[Key] | None = Field(
        None,
        max_length=MAX_AUDIENCE_KEYS,
        description=f"Targeting keys that always get the control (at most {MAX_AUDIENCE_KEYS}).",
    )
    segment: Key | None = Field(
        None,
        description="A segment defined on the platform whose members always get the control "
        "(flag file and LaunchDarkly; Unleash cannot exclude a segment).",
    )


class Prerequisite(PlanModel):
    """Another flag on the same platform and environment that must be on, serving
    ``variation`` to at least ``at_least`` of traffic, before a stage may start."""

    flag: Key = Field(description="The prerequisite flag's key (same platform and environment).")
    at_least: Percent = Field(
        100.0,
        description="The share of traffic it must serve the variation to (default 100%).",
    )
    variation: Variation = Field(
        True,
        description="The prerequisite's variation that counts as on (default true; on Unleash "
        "always true: the share the feature is enabled for).",
    )


class Stage(PlanModel):
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
    checklist: list[Text | ChecklistItem] = Field(
        default_factory=list,
        max_length=MAX_CHECKLIST,
        description="Questions a person answers (yes) before the rollout enters this stage: "
        "a string, or {id, ask}. rollout advance asks them; watch --auto never enters it.",
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

    @property
    def checklist_items(self) -> list[ChecklistItem]:
        return as_items(self.checklist)


class QuerySpec(PlanModel):
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


class Thresholds(PlanModel):
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


class _GuardrailBase(PlanModel):
    name: Name = Field(description="Unique name of the guardrail (≤ 64 characters).")
    description: Text | None = None
    direction: Direction = Field(
        Direction.HIGHER_IS_WORSE, description="higher_is_worse or lower_is_worse."
    )
    unit: Literal["ms", "s", "ratio", "percent"] | None = Field(
        None,
        description="Unit of the metric's values (converts absolute limits like 300ms). "
        "ratio (0..1) or percent (0..100) declares a mean proportion-valued: it may then have "
        "thresholds in percentage points (+2pp).",
    )
    thresholds: Thresholds = Field(description="Tiers warn / pause / rollback.")
    significant: list[Tier] = Field(
        default_factory=lambda: ["rollback"],  # type: ignore[arg-type]
        max_length=len(TIERS),
        description="Tiers that act only when the difference is statistically significant.",
    )
    on_pause: OnPause = Field(
        "pause",
        description="What reaching this guardrail's pause tier does: pause (hold the stage), "
        "reduce (step back to the previous stage, or reduce_to, and pause there until "
        "rollout resume), or tune a knob: {knob: min_confidence, to: [0.8, 0.9], then: "
        "rollback}.",
    )
    reduce_to: Short | Count | StrictFloat | None = Field(
        None,
        description="With on_pause: reduce, the stage to step back to (name or percentage, "
        "e.g. 5%) instead of the previous one.",
    )
    detect: Short | None = Field(
        None,
        description="The smallest regression the rollout must be able to detect, relative "
        "to control (+50%, -10%, 2x). Centres the sequential test on it, sizes stages, and "
        "gates the step to 100% until that regression is ruled out.",
    )
    segments: Segments | None = Field(
        None,
        description="Judge the guardrail per segment too (by: region): a regression "
        "confined to one region, platform or user group is not diluted in the total.",
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
    def points_thresholds(self) -> list[Threshold]:
        """The thresholds in percentage points (``+2pp``), every tier's."""
        return [t for ts in self.tiers.values() for t in ts if t.kind is ThresholdKind.POINTS]

    @property
    def per_point(self) -> float:
        """One percentage point in the metric's units: 0.01 for fractions, 1 for a
        ``unit: percent`` mean."""
        return 1.0 if self.unit == "percent" and not self.is_ratio else 0.01

    @property
    def in_points(self) -> bool:
        """Whether a tier is in percentage points (``+2pp``): the change is then shown as
        a difference in points, not relative to control."""
        return bool(self.points_thresholds)

    @property
    def compares_to_control(self) -> bool:
        return any(t.needs_control for ts in self.tiers.values() for t in ts)


class RatioGuardrail(_GuardrailBase):
    """events / trials per cohort: error rate, conversion, fallback rate."""

    kind: Literal["ratio"]
    events: Key = Field(
        description="Query/metric name counting events (errors). The same name as trials: "
        "one SQL query returning one row per unit (time, events, trials), compared per unit."
    )
    trials: Key = Field(description="Query/metric name counting trials (requests).")

    @property
    def is_ratio(self) -> bool:
        return True

    @property
    def per_unit(self) -> bool:
        """events: and trials: name one query, which returns each unit's events and trials
        (the sql source): the statistics compare ratios of per-unit sums."""
        return self.events == self.trials


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


class SuccessCriterion(PlanModel):
    metric: Name = Field(description="Name of a guardrail.")
    at_least: Short | Count | float | None = Field(
        None,
        description="Treatment must be at least this: -1% (vs control), +2pp (percentage "
        "points above control, proportions only), 0.92 (absolute).",
    )
    at_most: Short | Count | float | None = Field(
        None,
        description="Treatment must be at most this: +5% (vs control), +1pp (percentage "
        "points above control, proportions only), 300ms (absolute).",
    )


class MetricsSpec(PlanModel):
    source: Annotated[AnySourceSpec, Field(discriminator="kind")]
    queries: dict[Key, QueryText | QuerySpec] = Field(
        default_factory=dict,
        max_length=MAX_QUERIES,
        description=f"{query_kinds_text('and')}: one query template per metric name the guardrails "
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


class Statistics(PlanModel):
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


class Automation(PlanModel):
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
    reduce: Action = Field(
        "auto",
        description="On a pause tier whose guardrail says on_pause: reduce: step back a stage "
        "and pause there (auto), or only report it (manual: rollout reduce).",
    )
    knob: Action = Field(
        "auto",
        description="On a pause tier whose guardrail tunes a knob: set the knob to its next "
        "value (auto), or only report it (manual: rollout tune).",
    )
    start: Action = Field(
        "manual",
        description="A rollout that has not started: enter the first stage (auto) or wait "
        "for rollout advance. A rolled-back or killed rollout is never restarted "
        "automatically.",
    )
    windows: list[Window] = Field(
        default_factory=list,
        max_length=MAX_WINDOWS,
        description="When automatic advancing and starting may happen (days, hours, time "
        "zone); outside them watch --auto only reports. Pause and rollback always act. "
        "Empty: any time.",
    )
    freeze: list[Freeze] = Field(
        default_factory=list,
        max_length=MAX_FREEZES,
        description="Periods {from, to, reason} when nothing advances automatically "
        "(rollout advance warns and asks); pause and rollback still act.",
    )

    def needs_approval(self, stage: Stage) -> bool:
        """Whether entering ``stage`` needs a person, by ``advance_up_to`` and ``approve``."""
        if self.advance == "manual" or stage.percent > self.advance_up_to + 1e-9:
            return True
        for item in self.approve:
            if isinstance(item, str) and item.strip() == stage.label:
                return True
            try:
                if abs(float(strip_percent(item)) - stage.percent) < 1e-9:
                    return True
            except (TypeError, ValueError):
                continue
        return False


_LABEL_SCHEMA = {"type": "string", "pattern": f"^{LABEL.pattern}$"}
LabelKey = Annotated[str, BeforeValidator(label_value), WithJsonSchema(_LABEL_SCHEMA)]
LabelValue = Annotated[
    str,
    BeforeValidator(label_value),
    WithJsonSchema({"anyOf": [_LABEL_SCHEMA, {"type": "number"}]}),
]
"""A label key or value: a short word (see :mod:`rolloutcli.plan.labels`); a number is
kept as its text."""


class Plan(PlanModel):
    """A progressive rollout of one flag."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="rolloutcli plan")

    flag: Key = Field(description="Flag key on the platform (≤ 256 characters).")
    description: Text | None = None
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_LABELS,
        description=f"Labels that pick plans (rollout check --all --select team=payments): "
        f"keys and values are {LABEL_RULE}; at most {MAX_LABELS}.",
    )
    platform: Annotated[AnyPlatformSpec, Field(discriminator="kind")]
    variations: Variations
    stages: list[Stage] = Field(
        min_length=1, max_length=MAX_STAGES, description=f"1 to {MAX_STAGES} stages."
    )
    exclude: Exclusion | None = Field(
        None,
        description="Keys or a segment that always get the control, in every stage, even at "
        "100% (a block list: VIP customers keep the stable version).",
    )
    requires: list[Prerequisite] = Field(
        default_factory=list,
        max_length=MAX_PREREQUISITES,
        description="Flags that must be on (at a share) before a stage advances or the rollout "
        f"starts; rollback, reduce, pause and kill never wait for them. At most "
        f"{MAX_PREREQUISITES}.",
    )
    knobs: list[Knob] = Field(
        default_factory=list,
        max_length=MAX_KNOBS,
        description="Companion flags whose value (a number or a string) a guardrail's pause "
        f"tier or rollout tune may set: a confidence threshold, a model version (at most "
        f"{MAX_KNOBS}).",
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

    def knob(self, name: str) -> Knob | None:
        return next((k for k in self.knobs if k.name == name), None)

    def stage_index(self, ref: object) -> int | None:
        """The stage a plan or a person names: its label (``canary``, ``25%``) or its
        percentage (``25``, ``"25%"``); None when no stage has it."""
        text = str(ref).strip()
        for index, stage in enumerate(self.stages):
            if stage.label == text:
                return index
        try:
            value = float(strip_percent(text))
        except (TypeError, ValueError):
            return None
        found = [i for i, s in enumerate(self.stages) if abs(s.percent - value) < 1e-9]
        return found[0] if found else None

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
        if error["type"] == "union_tag_invalid" and path[-1:] in (("platform",), ("source",)):
            path = (*path, "kind")  # point at the kind's line
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
        or part in _BACKEND_SPECS
        or "[" in part
        or part.startswith("constrained-")
        or part in _MODEL_NAMES
    )


def _message(error: Any, path: KeyPath, root: type[BaseModel]) -> str:
    kind = error["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        key = str(path[-1]) if path else "?"
        if looks_like_key(key) and (elsewhere := _other_backends_key(error["loc"], key)):
            return elsewhere
        return unknown_key(_known_keys(root, path[:-1], error["loc"]), key)
    if kind == "missing":
        if path and path[-1] == "control":
            return "missing: the control variation the treatment is compared against"
        return "missing (required)"
    family = _BACKEND_FAMILIES.get(path[-2:] if path[-1:] == ("kind",) else path[-1:])
    if kind in ("union_tag_invalid", "union_tag_not_found") and family is not None:
        noun, specs = family
        kinds = kinds_with_summaries(specs)
        if kind == "union_tag_not_found":
            return f"missing 'kind': {kinds}"
        return f"{quote(error['ctx']['tag'])} is not a {noun} kind: use {kinds}"
    if kind == "union_tag_invalid":
        return "kind must be 'ratio' (events/trials) or 'mean' (values)"
    if kind == "union_tag_not_found":
        return "missing 'kind': ratio (events/trials) or mean (values)"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "literal_error":  # an enum: one plain line, not pydantic's "Input should be"
        allowed = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        return f"{quote(error['input'])} is not one of {', '.join(allowed)}"
    if kind in ("less_than_equal", "greater_than_equal") and path and path[-1] == "percent":
        return f"percentage must be between 0 and 100 (got {quote(error['input'])})"
    if kind == "too_long":
        ctx = error.get("ctx") or {}
        got = f" (got {ctx['actual_length']})" if ctx.get("actual_length") is not None else ""
        return f"at most {ctx.get('max_length')} items{got}"
    if kind == "string_too_long":
        return f"at most {(error.get('ctx') or {}).get('max_length')} characters"
    return str(error["msg"])


def _all_models(base: type[BaseModel]) -> list[type[BaseModel]]:
    return [base, *(m for sub in base.__subclasses__() for m in _all_models(sub))]


_MODEL_NAMES = frozenset(model.__name__ for model in _all_models(PlanModel))
_BACKEND_SPECS: dict[str, type] = {**PLATFORM_SPECS, **SOURCE_SPECS}


_BACKEND_FAMILIES: dict[KeyPath, tuple[str, dict[str, Any]]] = {
    ("platform",): ("platform", PLATFORM_SPECS),
    ("platform", "kind"): ("platform", PLATFORM_SPECS),
    ("source",): ("metrics source", SOURCE_SPECS),
    ("source", "kind"): ("metrics source", SOURCE_SPECS),
}


def _other_backends_key(loc: tuple[int | str, ...], key: str) -> str | None:
    """``is for flagfile, not unleash``: a key that belongs to another kind of the same
    backend family (the location holds the kind the spec was read as)."""
    kinds = [part for part in loc[:-1] if isinstance(part, str) and part in _BACKEND_SPECS]
    if not kinds:
        return None
    family = PLATFORM_SPECS if kinds[-1] in PLATFORM_SPECS else SOURCE_SPECS
    return other_kinds_key(family, kinds[-1], key)


def _known_keys(root: type[BaseModel], parent: KeyPath, loc: tuple[int | str, ...]) -> list[str]:
    """Field names accepted at ``parent`` (best effort, walking the model's annotations; a
    backend spec's, by the kind pydantic read it as)."""
    kinds = [part for part in loc if isinstance(part, str) and part in _BACKEND_SPECS]
    if kinds:
        return spec_field_names(_BACKEND_SPECS[kinds[-1]])
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
    for model in models:  # as written in a plan: a field's alias (freeze's from:, to:)
        keys.update(info.alias or name for name, info in model.model_fields.items())
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


def _semantic_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []

    def add(where: KeyPath, message: str) -> None:
        problems.append((where, message))

    percents = [stage.percent for stage in plan.stages]
    problems.extend(
        plan.platform.problems(plan.variations.treatment, plan.variations.control, percents)
    )
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
        ids = [item.key for item in stage.checklist_items]
        for j, key in enumerate(ids):
            if key in ids[:j]:
                add(("stages", i, "checklist", j), f"checklist id {key!r} is used twice")
    problems.extend(_exclusion_problems(plan))
    problems.extend(_prerequisite_problems(plan))
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
        problems.extend(_reduce_problems(plan, guardrail, ("guardrails", i)))
        if guardrail.segments is not None:
            problems.extend(
                segment_problems(
                    guardrail.segments,
                    ("guardrails", i),
                    plan.statistics.method,
                    plan.metrics.source.kind,
                )
            )
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

    for i, guardrail in enumerate(plan.guardrails):
        if not isinstance(guardrail, RatioGuardrail) or not guardrail.per_unit:
            continue
        if plan.metrics.source.kind != "sql":
            add(
                ("guardrails", i, "events"),
                f"events and trials both name {quote(guardrail.events)}: a per-unit ratio "
                "(one row per unit with time, events and trials) needs the sql source",
            )
    if plan.exposure_metric is None and plan.guardrails:
        add(("metrics",), "name exposures: (a counter of units per cohort); no ratio guardrail")
    queries = {name: spec for name in plan.metrics.queries if (spec := plan.metrics.query(name))}
    problems.extend(plan.metrics.source.problems(queries, plan.metric_names()))
    problems.extend(_automation_problems(plan))
    problems.extend(knob_problems(plan))
    return problems


def _exclusion_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """``exclude:`` holds exactly one non-empty list or segment, shares no key with a
    stage's allowlist (a key cannot both go first and never get the treatment), and asks
    nothing the platform cannot enforce itself."""
    ex = plan.exclude
    if ex is None:
        return []
    if (ex.keys is None) == (ex.segment is None):
        return [(("exclude",), "give exactly one of keys: or segment:")]
    if ex.keys is not None and not ex.keys:
        return [(("exclude", "keys"), "the exclusion list is empty")]
    problems: list[tuple[KeyPath, str]] = []
    if plan.platform.kind == "unleash":
        if ex.segment is not None:
            problems.append(
                (
                    ("exclude", "segment"),
                    "Unleash cannot exclude a segment (a strategy's segments only include): "
                    "list the keys under exclude.keys",
                )
            )
        if not (plan.variations.treatment is True and plan.variations.control is False):
            problems.append(
                (
                    ("exclude",),
                    "on Unleash an exclusion needs a boolean flag (treatment: true, control: "
                    "false): an excluded user of a variant flag would get Unleash's disabled "
                    "variant, not the control",
                )
            )
    blocked = set(ex.keys or ())
    for i, stage in enumerate(plan.stages):
        for j, key in enumerate((stage.audience.keys or []) if stage.audience else []):
            if key in blocked:
                problems.append(
                    (
                        ("stages", i, "audience", "keys", j),
                        f"{quote(key)} is also under exclude.keys: a key cannot both get the "
                        "treatment first and never get it",
                    )
                )
    return problems


def _prerequisite_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """``requires:`` names other flags, each once, with a share above 0% and, on Unleash,
    the enabled share (``variation: true``) that Unleash counts."""
    problems: list[tuple[KeyPath, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(plan.requires):
        where: KeyPath = ("requires", i)
        if item.flag == plan.flag:
            problems.append(((*where, "flag"), f"{quote(item.flag)} is this plan's own flag"))
        elif item.flag in seen:
            problems.append(((*where, "flag"), f"{quote(item.flag)} is required twice"))
        seen.add(item.flag)
        if item.at_least <= 0:
            problems.append(
                (
                    (*where, "at_least"),
                    "0% is always met: give a share above 0% (default 100%)",
                )
            )
        if plan.platform.kind == "unleash" and item.variation is not True:
            problems.append(
                (
                    (*where, "variation"),
                    "on Unleash a prerequisite counts the share its feature is enabled for: "
                    "variation must be true (or left out)",
                )
            )
    return problems


def _automation_problems(plan: Plan) -> list[tuple[KeyPath, str]]:
    """Approvals must name real stages; each webhook needs exactly one of url_env / url."""
    problems: list[tuple[KeyPath, str]] = []
    labels = [s.label for s in plan.stages]
    for i, item in enumerate(plan.automation.approve):
        named = isinstance(item, str) and item.strip() in labels
        try:
            value = float(strip_percent(item))
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


def _reduce_problems(
    plan: Plan, guardrail: RatioGuardrail | MeanGuardrail, where: KeyPath
) -> list[tuple[KeyPath, str]]:
    """``on_pause: reduce`` needs a pause tier; ``reduce_to`` needs it, and a real stage."""
    problems: list[tuple[KeyPath, str]] = []
    action = guardrail.on_pause
    reduces = action == "reduce" or (isinstance(action, KnobAction) and action.then == "reduce")
    if action == "reduce" and guardrail.thresholds.pause is None:
        problems.append(((*where, "on_pause"), "reduce acts on the pause tier: give pause:"))
    if guardrail.reduce_to is None:
        return problems
    if not reduces:
        problems.append(
            (
                (*where, "reduce_to"),
                "reduce_to needs on_pause: reduce (or a knob action's then: reduce)",
            )
        )
    elif plan.stage_index(guardrail.reduce_to) is None:
        labels = [s.label for s in plan.stages]
        problems.append(
            (
                (*where, "reduce_to"),
                f"{quote(str(guardrail.reduce_to))} names no stage (stages: {_listing(labels)})",
            )
        )
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
                continue
            found = parsed[tier][-1]
            if found.kind is ThresholdKind.POINTS and getattr(guardrail, "scale", "") == "log":
                problems.append(
                    (key, f"{quote(found.raw)}: percentage points need scale: linear, not log")
                )
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
