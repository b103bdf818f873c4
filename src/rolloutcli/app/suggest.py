"""``rollout plan suggest``: from the command's options to a validated plan text.

The thin layer between the CLI and the pure parts: it reads the options into a
:class:`~rolloutcli.plan.writer.PlanDraft`, reads the history of every metric through the
plan's own metrics source (:mod:`rolloutcli.metrics.history`), has :mod:`rolloutcli.stats.sizing`
work out the numbers and :mod:`rolloutcli.plan.writer` write them, and checks that the text
loads as a plan before anyone saves it. It decides nothing itself.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rolloutcli.app.suggestsegments import advise, candidates, grouped_needs, segment_labels
from rolloutcli.metrics.base import Cohort, Need, Window, variation_label
from rolloutcli.metrics.prometheus import ENV_URL
from rolloutcli.plan.fields import Variation
from rolloutcli.plan.model import (
    LoadedPlan,
    MetricsSpec,
    Plan,
    QuerySpec,
    Stage,
    Variations,
    load_plan,
)
from rolloutcli.plan.platform_specs import (
    PLATFORM_SPECS,
    AnyPlatformSpec,
    platform_kinds_text,
    platform_spec,
    spec_field_names,
)
from rolloutcli.plan.source_specs import (
    SOURCE_SPECS,
    AnySourceSpec,
    FileSourceSpec,
    PrometheusSourceSpec,
    query_kinds_text,
    source_kinds_text,
    source_spec,
)
from rolloutcli.plan.thresholds import ThresholdKind, parse_threshold
from rolloutcli.plan.writer import (
    GuardrailDraft,
    PlanDraft,
    Provenance,
    SegmentAdvice,
    plan_duration,
    render_plan,
)
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.sizing import (
    DEFAULT_MIN_WINDOW,
    MIN_HISTORY_HOURS,
    GuardrailInput,
    HistoryProblem,
    Profile,
    Suggestion,
    mean_profile,
    quiet_rate,
    ratio_profile,
    suggest,
)
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import BackendError, InvalidInputError, PlanError
from rolloutcli.support.paths import shown_path
from rolloutcli.support.quoting import choices

DEFAULT_STAGES = "1,5,10,25,50,100"
DEFAULT_LOOKBACK = "14d"
DEFAULT_DETECT = "20%"
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SuggestOptions:
    """The command's options, as typed."""

    flag: str
    metrics_source: str
    url: str | None = None
    site: str | None = None
    metrics_file: str | None = None
    headers: tuple[str, ...] = ()
    """json: NAME=VARIABLE, a request header read from an environment variable."""
    region: str | None = None
    endpoint_url: str | None = None
    queries: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    ratios: tuple[str, ...] = ()
    means: tuple[str, ...] = ()
    lower_is_worse: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    segments_by: tuple[str, ...] = ()
    """Labels to test as segment breakdowns of the ratio guardrails (each may list several,
    separated by commas)."""
    exposures: str | None = None
    detect: tuple[str, ...] = ()
    stages: str = DEFAULT_STAGES
    lookback: str = DEFAULT_LOOKBACK
    min_window: str | None = None
    power: float = 0.9
    alpha: float = 0.05
    platform: str = "flagfile"
    flag_file: str | None = None
    platform_url: str | None = None
    project: str | None = None
    environment: str = "production"
    treatment: str = "true"
    control: str = "false"
    plan_dir: Path | None = None
    """Where the plan will be saved (default: the current directory). The file paths given
    (--metrics-file, --flag-file: from the current directory) are written relative to it."""
    plan_dir_note: str = ""
    """How the path comments name that folder when it is not the file's own: e.g.
    ``, once saved in plans/``."""


@dataclass(frozen=True)
class SuggestRequest:
    draft: PlanDraft
    percents: tuple[float, ...]
    lookback: timedelta
    end: datetime
    min_window: timedelta
    power: float
    plan_dir: Path = field(default_factory=Path.cwd)
    segments_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suggested:
    """The plan text, and what it was computed from (for a summary)."""

    text: str
    suggestion: Suggestion
    provenance: Provenance
    segments: Mapping[str, SegmentAdvice] = field(default_factory=dict)
    """Per ratio guardrail: what history says about judging it per segment."""

    def document(self) -> dict[str, Any]:
        """The plan the text holds, as data (its comments are the ``suggestion``)."""
        import yaml

        loaded: dict[str, Any] = yaml.safe_load(self.text)
        return loaded


# ------------------------------------------------------------------ options → request


def _pair(option: str, item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InvalidInputError(f"{option} {item!r}: write NAME=VALUE")
    return name.strip(), value.strip()


def _variation(text: str) -> Variation:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text.strip()


def _duration(option: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option}: {exc}") from None


def _percents(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p.strip().removesuffix("%")) for p in text.split(",") if p.strip())
    except ValueError:
        raise InvalidInputError(
            f"--stages {text!r}: give percentages separated by commas, e.g. {DEFAULT_STAGES}"
        ) from None
    if not values or values[-1] != 100:
        raise InvalidInputError(f"--stages {text!r}: the last stage must be 100")
    if len(values) < 2:
        raise InvalidInputError(
            f"--stages {text!r}: give at least one stage below 100 (at 100% there is no "
            "control to compare with)"
        )
    if any(not 0 < v <= 100 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise InvalidInputError(
            f"--stages {text!r}: percentages must rise strictly, each above 0 and at most 100"
        )
    return values


def _detect(text: str, direction: Direction, name: str) -> tuple[str, float]:
    """``20%`` takes the guardrail's worse direction; ``+20%``, ``-5%``, ``2x`` are as given."""
    raw = text.strip()
    if raw and raw[0].isdigit() and raw.endswith("%"):
        raw = ("+" if direction is Direction.HIGHER_IS_WORSE else "-") + raw
    try:
        found = parse_threshold(raw, direction, None, True)
    except ValueError as exc:
        raise InvalidInputError(f"--detect for {name}: {exc}") from None
    if found.kind is ThresholdKind.ABSOLUTE or found.factor == 1 or found.factor <= 0:
        raise InvalidInputError(
            f"--detect for {name}: {text!r} must be a change relative to control, "
            "e.g. 20% or 2x, not zero and not absolute"
        )
    return found.raw, found.factor


def _source(options: SuggestOptions) -> AnySourceSpec:
    kind = options.metrics_source.strip().lower()
    spec_class = SOURCE_SPECS.get(kind)
    if spec_class is None:
        raise InvalidInputError(
            f"--metrics-source {options.metrics_source!r}: use {source_kinds_text()}"
        )
    given: dict[str, object] = {
        "site": options.site,
        "headers_env": _headers(options.headers) or None,
        "region": options.region,
        "endpoint_url": options.endpoint_url,
    }
    for key, value in given.items():
        if value is not None and key not in spec_field_names(spec_class):
            raise InvalidInputError(f"{_OPTIONS[key]} is for {_owners(SOURCE_SPECS, key)}")
    if spec_class is FileSourceSpec:
        if not options.metrics_file:
            raise InvalidInputError("--metrics-source file needs --metrics-file PATH")
        if options.queries:
            raise InvalidInputError(
                f"--query is for {query_kinds_text('and')}; the file source reads metrics by name"
            )
        return source_spec({"kind": kind, "path": _from_plan(options, options.metrics_file)})
    if options.metrics_file:
        raise InvalidInputError(f"--metrics-file is for the file source, not {kind}")
    if spec_class is PrometheusSourceSpec and not (
        options.url or os.environ.get(ENV_URL, "").strip()
    ):
        raise InvalidInputError(
            f"--url URL (or {ENV_URL}): the Prometheus server to read the history from"
        )
    return source_spec({"kind": kind, "url": options.url, **given})


_OPTIONS = {
    "site": "--site",
    "headers_env": "--header",
    "region": "--region",
    "endpoint_url": "--endpoint-url",
}
"""The command's option for each source field it sets (besides --url)."""


def _headers(items: tuple[str, ...]) -> dict[str, str]:
    """``--header NAME=VARIABLE`` options as the json source's ``headers_env``."""
    headers: dict[str, str] = {}
    for item in items:
        name, variable = _pair("--header", item)
        if name in headers:
            raise InvalidInputError(f"--header {name!r} is given twice")
        headers[name] = variable
    return headers


def _from_plan(options: SuggestOptions, given: str) -> str:
    """A path given from the current directory, as the plan names it: relative to the
    folder the plan will be saved in (an absolute path stays as it is)."""
    path = Path(os.path.expanduser(given))
    if path.is_absolute() or options.plan_dir is None:
        return given
    return Path(os.path.relpath(path.absolute(), options.plan_dir.absolute())).as_posix()


def _owners(specs: Mapping[str, type], key: str) -> str:
    return choices(
        [kind for kind, spec_class in specs.items() if key in spec_field_names(spec_class)]
    )


def _platform(options: SuggestOptions) -> AnyPlatformSpec:
    kind = options.platform.strip().lower()
    if kind not in PLATFORM_SPECS:
        raise InvalidInputError(f"--platform {options.platform!r}: use {platform_kinds_text()}")
    if kind == "flagfile":
        if not options.flag_file:
            raise InvalidInputError(
                "--platform flagfile needs --flag-file PATH (the flagd file, as the plan will "
                "name it: relative to where you save the plan)"
            )
        return platform_spec(
            {
                "kind": kind,
                "path": _from_plan(options, options.flag_file),
                "environment": options.environment,
            }
        )
    if options.flag_file:
        raise InvalidInputError(f"--flag-file is for the flagfile platform, not {kind}")
    project = options.project
    if kind == "unleash":
        project = project or "default"
    return platform_spec(
        {
            "kind": kind,
            "url": options.platform_url,
            "project": project,
            "environment": options.environment,
        }
    )


def _guardrails(
    options: SuggestOptions,
) -> tuple[tuple[GuardrailDraft, ...], dict[str, str]]:
    """The guardrails, and every metric name they read (name → what reads it)."""
    specs: list[tuple[str, Literal["ratio", "mean"], str]] = []
    for item in options.ratios:
        name, value = _pair("--ratio", item)
        specs.append((name, "ratio", value))
    for item in options.means:
        name, value = _pair("--mean", item)
        specs.append((name, "mean", value))
    if not specs:
        raise InvalidInputError(
            "give at least one guardrail: --ratio NAME=EVENTS/TRIALS or --mean NAME=METRIC"
        )
    names = [s[0] for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise InvalidInputError(f"guardrail {name!r} is given twice")
    for option, listed in (("--lower-is-worse", options.lower_is_worse), ("--log", options.log)):
        for name in listed:
            if name not in names:
                raise InvalidInputError(f"{option} {name!r}: no guardrail by that name")
    for name in options.log:
        if dict((s[0], s[1]) for s in specs)[name] != "mean":
            raise InvalidInputError(f"--log {name!r}: only mean guardrails have a scale")
    default_detect = DEFAULT_DETECT
    per_name: dict[str, str] = {}
    for item in options.detect:
        name, sep, value = item.partition("=")
        if sep:
            if name.strip() not in names:
                raise InvalidInputError(f"--detect {item!r}: no guardrail named {name.strip()!r}")
            per_name[name.strip()] = value.strip()
        else:
            default_detect = item.strip()
    reads: dict[str, str] = {}
    drafts: list[GuardrailDraft] = []
    for name, kind, value in specs:
        direction = (
            Direction.LOWER_IS_WORSE
            if name in options.lower_is_worse
            else Direction.HIGHER_IS_WORSE
        )
        detect, factor = _detect(per_name.get(name, default_detect), direction, name)
        if kind == "ratio":
            events, sep, trials = value.partition("/")
            if not sep or not events.strip() or not trials.strip() or "/" in trials:
                raise InvalidInputError(f"--ratio {name}={value}: write NAME=EVENTS/TRIALS")
            events, trials = events.strip(), trials.strip()
            reads.setdefault(events, f"guardrail {name} (events)")
            reads.setdefault(trials, f"guardrail {name} (trials)")
            drafts.append(GuardrailDraft(name, "ratio", direction, detect, factor, events, trials))
        else:
            reads.setdefault(value, f"guardrail {name}")
            scale: Literal["linear", "log"] = "log" if name in options.log else "linear"
            drafts.append(
                GuardrailDraft(name, "mean", direction, detect, factor, metric=value, scale=scale)
            )
    return tuple(drafts), reads


def _queries(
    options: SuggestOptions, reads: dict[str, str], source: AnySourceSpec
) -> dict[str, QuerySpec]:
    templates: dict[str, str] = {}
    for item in options.queries:
        name, value = _pair("--query", item)
        if name in templates:
            raise InvalidInputError(f"--query {name!r} is given twice")
        templates[name] = value
    steps: dict[str, str] = {}
    for item in options.steps:
        name, value = _pair("--step", item)
        if _duration(f"--step {name}", value).total_seconds() <= 0:
            raise InvalidInputError(f"--step {name}: the step must be positive (e.g. 5m)")
        steps[name] = value
    if not source.reads_queries:
        if steps:
            raise InvalidInputError(f"--step is for {query_kinds_text('and')} queries")
        return {}
    missing = [f"{m} (read by {by})" for m, by in reads.items() if m not in templates]
    if missing:
        raise InvalidInputError(
            f"no --query for {', '.join(missing)}: give --query NAME=TEMPLATE for each "
            "metric, with {cohort} where the variation goes"
        )
    for name in steps:
        if name not in templates:
            raise InvalidInputError(f"--step {name!r}: no --query by that name")
    return {name: QuerySpec(query=text, step=steps.get(name)) for name, text in templates.items()}


def build_request(options: SuggestOptions, end: datetime) -> SuggestRequest:
    """Check and read the options (InvalidInputError, exit 2, naming the option)."""
    if not options.flag.strip():
        raise InvalidInputError("FLAG: give the flag key")
    if not 0.5 < options.power < 1:
        raise InvalidInputError(f"--power {options.power:g}: give a value between 0.5 and 1")
    if not 0 < options.alpha <= 0.5:
        raise InvalidInputError(f"--alpha {options.alpha:g}: give a value in (0, 0.5]")
    source = _source(options)
    platform = _platform(options)
    treatment, control = _variation(options.treatment), _variation(options.control)
    if treatment == control:
        raise InvalidInputError("--treatment and --control must differ")
    guardrails, reads = _guardrails(options)
    segments_by = segment_labels(options.segments_by, source.kind, guardrails)
    exposures = options.exposures or next(
        (g.trials for g in guardrails if g.trials is not None), None
    )
    if exposures is None:
        raise InvalidInputError(
            "--exposures METRIC: name the counter of units per cohort (no ratio guardrail "
            "gives one)"
        )
    reads.setdefault(exposures, "exposures")
    queries = _queries(options, reads, source)
    lookback = _duration("--lookback", options.lookback)
    if lookback < timedelta(hours=MIN_HISTORY_HOURS):
        raise InvalidInputError(
            f"--lookback {options.lookback}: at least {MIN_HISTORY_HOURS}h (one daily cycle); "
            "14d covers two weekly cycles"
        )
    lookback = HOUR * math.ceil(lookback / HOUR)
    min_window = (
        _duration("--min-window", options.min_window) if options.min_window else DEFAULT_MIN_WINDOW
    )
    draft = PlanDraft(
        flag=options.flag.strip(),
        platform=platform,
        treatment=treatment,
        control=control,
        source=source,
        queries=queries,
        exposures=exposures,
        guardrails=guardrails,
        alpha=options.alpha,
        paths_note=f"relative to this plan file{options.plan_dir_note}",
    )
    return SuggestRequest(
        draft,
        _percents(options.stages),
        lookback,
        end,
        min_window,
        options.power,
        options.plan_dir or Path.cwd(),
        segments_by,
    )


# ------------------------------------------------------------------ history → plan


def _skeleton(draft: PlanDraft, plan_dir: Path) -> LoadedPlan:
    """A plan holding just what the metrics source reads (flag, queries, variations), so
    the history is read by the very source class and templates a check will use."""
    plan = Plan(
        flag=draft.flag,
        platform=draft.platform,
        variations=Variations(treatment=draft.treatment, control=draft.control),
        stages=[Stage(percent=100)],
        metrics=MetricsSpec(
            source=draft.source,
            queries=dict(draft.queries),
            exposures=draft.exposures,
        ),
    )
    return LoadedPlan(plan, plan_dir / f"{draft.flag}.yaml")


def suggest_plan(request: SuggestRequest) -> Suggested:
    """Read the history, work out the numbers, write the plan and check it loads."""
    from rolloutcli.metrics import open_source
    from rolloutcli.metrics.history import read_history

    draft = request.draft
    source = open_source(_skeleton(draft, request.plan_dir))
    end = request.end.replace(minute=0, second=0, microsecond=0)
    window = Window(end - request.lookback, end)
    cohort = Cohort("control", draft.control)
    counters = [draft.exposures]
    values: list[tuple[str, bool]] = []
    for g in draft.guardrails:
        if g.kind == "ratio":
            assert g.events is not None and g.trials is not None
            counters += [g.trials, g.events]
        else:
            assert g.metric is not None
            values.append((g.metric, g.scale == "log"))
    labels = candidates(source, draft, request.segments_by)
    history = read_history(
        source, counters, values, cohort, window, HOUR, grouped_needs(draft, labels)
    )

    def missing(metric: str, verb: Literal["counter_series", "moment_series"]) -> BackendError:
        resolved = source.resolve(Need(verb, metric, cohort, window, HOUR))
        query = resolved[0].text if resolved else metric
        return BackendError(
            source.name,
            f"no data for {metric} ({{cohort}} = {cohort.label}) in the last "
            f"{plan_duration(request.lookback)}: {query}",
            hint="check the query, and that metrics label everyone not in the rollout "
            "with the control variation",
        )

    def problem(what: str, exc: HistoryProblem) -> BackendError:
        return BackendError(source.name, f"{what}: {exc}")

    inputs: list[GuardrailInput] = []
    for g in draft.guardrails:
        profile: Profile
        try:
            if g.kind == "ratio":
                assert g.events is not None and g.trials is not None
                if g.trials not in history.counters:
                    raise missing(g.trials, "counter_series")
                if g.events not in history.counters:
                    raise missing(g.events, "counter_series")
                profile = ratio_profile(history.counters[g.events], history.counters[g.trials])
            else:
                assert g.metric is not None
                if g.metric not in history.values:
                    raise missing(g.metric, "moment_series")
                profile = mean_profile(history.values[g.metric], g.scale == "log")
        except HistoryProblem as exc:
            raise problem(f"guardrail {g.name}", exc) from None
        inputs.append(GuardrailInput(g.name, g.direction, g.detect_factor, profile))
    if draft.exposures not in history.counters:
        raise missing(draft.exposures, "counter_series")
    try:
        exposure_rate = quiet_rate(history.counters[draft.exposures])
    except HistoryProblem as exc:
        raise problem(f"exposures {draft.exposures}", exc) from None
    suggestion = suggest(
        inputs, list(request.percents), request.power, exposure_rate, request.min_window
    )
    provenance = Provenance(source.name, request.lookback, end, variation_label(draft.control))
    segments = advise(draft, history, labels, request.segments_by)
    text = render_plan(draft, suggestion, provenance, segments)
    check_loads(text, draft.flag)
    return Suggested(text, suggestion, provenance, segments)


def plan_folder(out: Path | None, environ: Mapping[str, str] | None = None) -> tuple[Path, str]:
    """Where the suggested plan will live, and how its path comments say so: ``--out``'s
    folder; else, printed, the folder ``rollout check NAME`` looks in (``ROLLOUT_PLANS_DIR``,
    else ``./plans`` when it exists, else the current directory)."""
    if out is not None:
        return out.parent, ""
    named = (environ if environ is not None else os.environ).get("ROLLOUT_PLANS_DIR", "").strip()
    folder = Path(named) if named else Path("plans")
    if folder.is_dir():
        return folder, f", once saved in {shown_path(folder)}/"
    return Path("."), ", once saved in the current directory"


def save_plan(path: Path, text: str) -> str:
    """Write the plan to a new file (never over one: it may be a plan someone edited)."""
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise InvalidInputError(f"--out {path}: the file exists; give a new file") from None
    except OSError as exc:
        raise InvalidInputError(f"--out {path}: cannot write it ({exc.strerror})") from None
    return shown_path(path)


def check_loads(text: str, flag: str) -> None:
    """The text must load as a plan, as the user will save it: validated through
    :func:`load_plan` from a scratch file. A problem names the suggested plan's line."""
    with tempfile.TemporaryDirectory(prefix="rollout-suggest-") as folder:
        path = Path(folder) / f"{flag}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_plan(path)
        except PlanError as exc:
            raise PlanError(
                [p.replace(str(path), "suggested plan") for p in exc.problems]
            ) from None
