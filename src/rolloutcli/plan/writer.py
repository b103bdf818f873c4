"""The text of a suggested plan: YAML written by hand, so that every number has a comment
beside it saying where it came from (pure: numbers in, text out).

:class:`PlanDraft` is everything the plan says that is not a number from history (flag,
platform, queries, guardrail names and directions); :class:`rolloutcli.stats.sizing.Suggestion`
is the numbers. The text loads with :func:`rolloutcli.plan.model.load_plan` as it is.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import yaml

from rolloutcli.plan.fields import Variation
from rolloutcli.plan.model import QuerySpec
from rolloutcli.plan.platform_specs import AnyPlatformSpec
from rolloutcli.plan.segments import MAX_REQUIRED
from rolloutcli.plan.source_specs import AnySourceSpec
from rolloutcli.stats.direction import Direction
from rolloutcli.stats.homogeneity import LEVEL, REQUIRE_SHARE, Homogeneity
from rolloutcli.stats.sizing import (
    TRAFFIC_QUANTILE,
    WARN_NOISE,
    GuardrailSuggestion,
    MeanProfile,
    RatioProfile,
    StageSuggestion,
    Suggestion,
)
from rolloutcli.support.quoting import label
from rolloutcli.support.timeutil import format_timestamp

COMMENT_COLUMN = 34
LONG_WINDOW = timedelta(days=2)
"""A stage window past this gets a note on how to shorten it."""


@dataclass(frozen=True)
class GuardrailDraft:
    name: str
    kind: Literal["ratio", "mean"]
    direction: Direction
    detect: str
    """As the plan writes it: ``+20%``, ``-5%``, ``2x``."""
    detect_factor: float
    """The same as a factor of control: 1.2, 0.95, 2."""
    events: str | None = None
    trials: str | None = None
    metric: str | None = None
    scale: Literal["linear", "log"] = "linear"


@dataclass(frozen=True)
class PlanDraft:
    """What the suggested plan says besides the numbers history gives."""

    flag: str
    platform: AnyPlatformSpec
    treatment: Variation
    control: Variation
    source: AnySourceSpec
    queries: dict[str, QuerySpec]
    exposures: str
    guardrails: tuple[GuardrailDraft, ...]
    alpha: float
    paths_note: str = "relative to this plan file"
    """The comment beside a file path: what it is relative to."""


@dataclass(frozen=True)
class SegmentAdvice:
    """What history says about judging one ratio guardrail per segment."""

    tested: tuple[Homogeneity, ...]
    """Each label whose history held at least two segments, as tested."""
    proposed: Homogeneity | None
    """The label to break the guardrail down by, if any (one of ``tested``)."""
    absent: tuple[str, ...] = ()
    """Labels asked for (--segments-by) that no trials in the history carry."""
    level: float = LEVEL
    min_share: float = 1.0
    """As ``segments.min_share`` writes it: a percentage."""


@dataclass(frozen=True)
class Provenance:
    """Where the history came from, for the header."""

    backend: str
    lookback: timedelta
    end: datetime
    cohort_label: str


# ------------------------------------------------------------------ formatting


def plan_duration(delta: timedelta) -> str:
    """A duration as plans write it, to the minute: ``45m``, ``2h30m``, ``1d13h``."""
    minutes = math.ceil(delta.total_seconds() / 60 - 1e-9)
    if minutes <= 0:
        return "0"
    parts: list[str] = []
    for unit, size in (("d", 1440), ("h", 60), ("m", 1)):
        count, minutes = divmod(minutes, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def hours_text(hours: float) -> str:
    """``11.6h``, ``27m`` below an hour."""
    if hours < 1:
        return f"{max(1, math.ceil(hours * 60 - 1e-9))}m"
    return f"{hours:.1f}h"


def count_text(value: float) -> str:
    """``48,300`` (whole numbers from 100), ``31.5`` below."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def percent_text(fraction: float) -> str:
    """A share or rate as a percentage to two decimals: ``1.00%``, ``0.05%``."""
    return f"{100 * fraction:.2f}%"


def change_text(factor: float, direction: Direction) -> str:
    """A factor of control as a relative threshold: ``+13%``, ``-4.5%``."""
    percent = round(100 * abs(factor - 1), 1)
    sign = "+" if direction is Direction.HIGHER_IS_WORSE else "-"
    return f"{sign}{percent:g}%"


def percent_value(percent: float) -> str:
    return f"{percent:g}"


_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-/]*$")


def scalar(value: object) -> str:
    """One YAML scalar: plain when it reads back as the same string, else quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    text = str(value)
    if _PLAIN.match(text) and yaml.safe_load(text) == text:
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text)


def quoted(text: str) -> str:
    return json.dumps(text)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, code: str, comment: str | None = None) -> None:
        if comment is None:
            self.lines.append(code)
            return
        pad = max(COMMENT_COLUMN - len(code), 2)
        self.lines.append(f"{code}{' ' * pad}# {comment}")

    def note(self, indent: int, text: str, width: int = 96) -> None:
        """A comment paragraph, wrapped."""
        prefix = " " * indent + "# "
        words = text.split()
        line = ""
        for word in words:
            if line and len(prefix) + len(line) + 1 + len(word) > width:
                self.lines.append(prefix + line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        if line:
            self.lines.append(prefix + line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# ------------------------------------------------------------------ the plan


def render_plan(
    draft: PlanDraft,
    suggestion: Suggestion,
    provenance: Provenance,
    segments: Mapping[str, SegmentAdvice] | None = None,
) -> str:
    """The suggested plan as YAML text, a comment beside every number. ``segments``: per
    ratio guardrail's name, what its history says about a breakdown by segment."""
    out = _Lines()
    _header(out, draft, provenance)
    out.add(f"flag: {scalar(draft.flag)}")
    _platform(out, draft)
    out.add("variations:")
    out.add(f"  treatment: {scalar(draft.treatment)}")
    out.add(f"  control: {scalar(draft.control)}")
    _stages(out, draft, suggestion)
    _metrics(out, draft)
    _guardrails(out, draft, suggestion, segments or {})
    _statistics(out, draft, suggestion)
    return out.text()


def _header(out: _Lines, draft: PlanDraft, provenance: Provenance) -> None:
    out.note(
        0,
        f"Suggested by `rollout plan suggest` from {plan_duration(provenance.lookback)} of "
        f"{provenance.backend} history, hour by hour, up to "
        f"{format_timestamp(provenance.end)}. Before a rollout nobody is served the "
        "treatment, so the history read is the whole population's, as metrics label the "
        f"control cohort ({{cohort}} = {provenance.cohort_label}). Traffic is taken at the "
        f"quiet hour (the {100 * TRAFFIC_QUANTILE:.0f}th percentile of hourly counts), so windows "
        "hold at night. Every number says where it came from; run the command again to "
        "refresh them when traffic changes.",
    )


def _platform(out: _Lines, draft: PlanDraft) -> None:
    out.add("platform:")
    _spec_fields(out, "  ", draft.platform, {"url": "--platform-url", "path": draft.paths_note})
    out.add(f"  environment: {scalar(draft.platform.environment)}")


def _spec_fields(
    out: _Lines,
    indent: str,
    spec: AnyPlatformSpec | AnySourceSpec,
    notes: dict[str, str] | None = None,
) -> None:
    """A backend spec's kind, then each field it was given that is not its default
    (``environment`` is written by the caller where it belongs)."""
    out.add(f"{indent}kind: {spec.kind}")
    for name, default in _defaults(spec).items():
        value = getattr(spec, name)
        if name in ("kind", "environment") or value is None or value == default:
            continue
        out.add(f"{indent}{name}: {_field_value(value)}", (notes or {}).get(name))


def _field_value(value: object) -> str:
    """A spec field in YAML: a scalar, or a mapping (json's ``headers_env``) in flow style."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    return scalar(value)


def _defaults(spec: object) -> dict[str, object]:
    """Each field of a spec (a dataclass or a pydantic model) and its default."""
    if dataclasses.is_dataclass(spec):
        return {f.name: f.default for f in dataclasses.fields(spec)}
    fields = getattr(type(spec), "model_fields", {})
    return {name: info.default for name, info in fields.items()}


def _stages(out: _Lines, draft: PlanDraft, suggestion: Suggestion) -> None:
    out.add("stages:")
    out.note(
        2,
        "Each stage below 100% lasts long enough for its own split, at the quiet hour, to "
        "collect the information the power gate needs to rule out every guardrail's "
        f"detect: regression at power {suggestion.power:g} (earlier stages' evidence, pooled "
        "with scope: rollout, is a margin on top); at least "
        f"{plan_duration(suggestion.min_window)}, rounded up. min_samples: the exposures "
        "the smaller cohort collects at the quiet hour in that time.",
    )
    for stage in suggestion.stages:
        out.add(f"  - percent: {percent_value(stage.percent)}", "--stages")
        duration = plan_duration(stage.min_duration)
        out.add(f"    min_duration: {duration}", _window_comment(stage, draft, suggestion))
        if stage.min_samples is not None and suggestion.exposures_quiet_rate is not None:
            share = min(stage.percent, 100 - stage.percent)
            out.add(
                f"    min_samples: {stage.min_samples}",
                f"{draft.exposures}: {percent_value(share)}% of "
                f"{count_text(suggestion.exposures_quiet_rate)}/h (quiet hour) for "
                f"{hours_text(stage.hours)}",
            )
        if stage.percent < 100 and stage.min_duration > LONG_WINDOW:
            out.note(
                4,
                f"note: {percent_value(stage.percent)}% needs {duration} to see the detect "
                "size; a larger stage, or a larger detect:, shortens it",
            )


def _window_comment(stage: StageSuggestion, draft: PlanDraft, suggestion: Suggestion) -> str:
    if stage.percent >= 100:
        return "a full daily cycle on everyone before done (a convention: no control left)"
    binding = stage.binding
    if binding is None:
        return f"--min-window {plan_duration(suggestion.min_window)} (no guardrails to size)"
    if stage.floored:
        return (
            f"at least --min-window {plan_duration(suggestion.min_window)}; "
            f"{binding.guardrail}, the slowest, needs {hours_text(binding.hours)}"
        )
    g = next(s for s in suggestion.guardrails if s.guardrail.name == binding.guardrail)
    profile = g.guardrail.profile
    at = f"at {percent_value(stage.percent)}%"
    detect = _detect_of(draft, binding.guardrail)
    tail = f"→ {hours_text(binding.hours)} to rule out {detect} at power {suggestion.power:g}"
    if isinstance(profile, RatioProfile):
        what = _trials_of(draft, binding.guardrail)
        head = (
            f"{binding.guardrail}: {count_text(profile.quiet_rate)} {what}/h x "
            f"{percent_text(profile.base_rate)} {at}"
        )
    else:
        assert isinstance(profile, MeanProfile)
        head = (
            f"{binding.guardrail}: {count_text(profile.values_per_hour)} values/h, "
            f"sd {_sd_text(profile)} {at}"
        )
    others = [n for n in stage.needs if n.guardrail != binding.guardrail]
    extra = (
        " (" + ", ".join(f"{n.guardrail} {hours_text(n.hours)}" for n in others) + ")"
        if others
        else ""
    )
    return f"{head} {tail}{extra}"


def _sd_text(profile: MeanProfile) -> str:
    sd = math.sqrt(profile.variance)
    return f"{sd:#.3g} (ln)" if profile.log else f"{sd:#.4g}"


def _detect_of(draft: PlanDraft, name: str) -> str:
    return next(g.detect for g in draft.guardrails if g.name == name)


def _trials_of(draft: PlanDraft, name: str) -> str:
    found = next(g for g in draft.guardrails if g.name == name)
    return found.trials or "trials"


def _metrics(out: _Lines, draft: PlanDraft) -> None:
    source = draft.source
    out.add("metrics:")
    out.add("  source:")
    notes = {
        "url": "--url",
        "site": "--site",
        "headers_env": "--header: values from these environment variables",
        "region": "--region",
        "endpoint_url": "--endpoint-url",
        "path": draft.paths_note,
    }
    _spec_fields(out, "    ", source, notes)
    out.add(
        f"  exposures: {scalar(draft.exposures)}",
        "units per cohort: min_samples and the sample-ratio check",
    )
    if not draft.queries:
        return
    out.add("  queries:")
    for name, spec in draft.queries.items():
        if spec.step is None:
            out.add(f"    {scalar(name)}: {scalar(spec.query)}")
        else:
            out.add(f"    {scalar(name)}:")
            out.add(f"      query: {scalar(spec.query)}")
            out.add(f"      step: {scalar(spec.step)}", f"--step: one value per {spec.step}")


def _guardrails(
    out: _Lines,
    draft: PlanDraft,
    suggestion: Suggestion,
    segments: Mapping[str, SegmentAdvice],
) -> None:
    if not draft.guardrails:
        return
    out.add("guardrails:")
    for g, found in zip(draft.guardrails, suggestion.guardrails, strict=True):
        out.add(f"  - name: {scalar(g.name)}")
        out.add(f"    kind: {g.kind}")
        if g.kind == "ratio":
            out.add(f"    events: {scalar(g.events)}")
            out.add(f"    trials: {scalar(g.trials)}")
        else:
            out.add(f"    metric: {scalar(g.metric)}")
        out.add(f"    direction: {g.direction.value}")
        if g.kind == "mean":
            out.add(
                f"    scale: {g.scale}",
                "--log: geometric means, +10% = 10% slower"
                if g.scale == "log"
                else "arithmetic means",
            )
        out.note(4, _history_note(g, found))
        out.add(
            f"    detect: {quoted(g.detect)}",
            f"--detect: each stage below 100% can rule it out at power {suggestion.power:g}",
        )
        _tiers(out, g, found)
        out.add(
            "    significant: [pause, rollback]",
            "always-valid: false alarms <= alpha, however often checked",
        )
        if g.name in segments:
            _segments(out, g, segments[g.name])


def _history_note(g: GuardrailDraft, found: GuardrailSuggestion) -> str:
    profile = found.guardrail.profile
    if isinstance(profile, RatioProfile):
        return (
            f"history: {g.events} {percent_text(profile.base_rate)} of {g.trials}, "
            f"{count_text(profile.mean_rate)} {g.trials}/h on average, "
            f"{count_text(profile.quiet_rate)}/h at the quiet hour, over {profile.hours}h; "
            f"hour-to-hour variance {profile.dispersion:.2f}x binomial (overdispersion: "
            f"the thresholds widen by its square root)"
        )
    assert isinstance(profile, MeanProfile)
    if profile.log:
        level = (
            f"ln values average {profile.level:.4g} (geometric mean {math.exp(profile.level):.4g})"
        )
    else:
        level = f"values average {profile.level:.4g}"
    return (
        f"history: {level}, sd {_sd_text(profile)} per value, over {profile.hours}h, "
        f"{count_text(profile.values_per_hour)} values/h at the quiet hour; a cohort with "
        "share s sees variance V/s"
    )


def _tiers(out: _Lines, g: GuardrailDraft, found: GuardrailSuggestion) -> None:
    direction = g.direction
    warn = change_text(found.warn, direction)
    rollback = g.detect if found.rollback == found.guardrail.detect else warn
    sigma = f"sd {100 * found.sigma:.1f}% at the {percent_value(found.sigma_percent)}% stage"
    out.add("    thresholds:")
    out.add(
        f"      warn: {quoted(warn)}",
        f"healthy noise crosses it {100 * found.healthy_crosses_warn:.1f}% of the time "
        f"(<= {WARN_NOISE:.0%}) at a stage's end ({sigma}); a {g.detect} regression: "
        f"{100 * found.detect_crosses_warn:.0f}%",
    )
    out.add(
        f"      pause: {quoted(warn)}",
        "significance-tested: pauses on evidence the treatment is beyond healthy noise",
    )
    out.add(
        f"      rollback: {quoted(rollback)}",
        "significance-tested: rolls back on evidence of a regression beyond detect"
        if rollback == g.detect
        else "significance-tested; the noise band is wider than detect here",
    )


def _p_text(found: Homogeneity) -> str:
    return "p < 0.0001" if found.log_p < math.log(1e-4) else f"p = {found.p_value:.2g}"


def _difference(found: Homogeneity) -> str:
    """``eu-west 2.10% vs 0.90% elsewhere (x2.33), Q 412.3 on 4 df, p < 0.0001``."""
    assert found.furthest is not None
    ratio = "x inf" if math.isinf(found.ratio) else f"x{found.ratio:.3g}"
    return (
        f"{label(found.furthest.name)} {percent_text(found.furthest.rate)} vs "
        f"{percent_text(found.rest_rate)} elsewhere ({ratio}), Q {found.statistic:.1f} on "
        f"{found.df} df, {_p_text(found)}"
    )


def _segments(out: _Lines, g: GuardrailDraft, advice: SegmentAdvice) -> None:
    """The proposed ``segments:`` with why, or a note on what was tested and why not."""
    each = advice.level / max(1, len(advice.tested))
    absent = [f"{by} (no {g.trials} in the history carry it)" for by in advice.absent]
    found = advice.proposed
    if found is None:
        tested = [
            f"{t.by}: {_difference(t)}"
            + ("" if t.beyond_chance(each) else ", within chance")
            + ("" if t.beyond_margin(g.detect_factor) else f", less than detect {g.detect}")
            for t in advice.tested
            if t.furthest is not None
        ]
        out.note(
            4,
            f"segments: not proposed; {g.name} does not differ by segment beyond chance "
            f"(level {advice.level:g} shared by the labels) and by detect {g.detect}. "
            + "; ".join(tested + [f"not tested: {a}" for a in absent]),
        )
        return
    others = [f"{t.by} ({_difference(t)})" for t in advice.tested if t is not found]
    out.note(
        4,
        f"segments: {g.name} differs by {found.by}: {_difference(found)} (Cochran's Q with "
        f"each segment's hour-to-hour dispersion; level {each:.2g}, beyond detect "
        f"{g.detect}). A regression confined to one {found.by} is diluted in the total: each "
        "is judged too, sharing the guardrail's alpha with the total (Bonferroni)."
        + (f" Also tested: {'; '.join(others)}." if others else "")
        + (f" Not tested: {'; '.join(absent)}." if absent else ""),
    )
    required = [n for n in found.required() if len(n) <= 256][:MAX_REQUIRED]
    out.add("    segments:")
    out.add(f"      by: {scalar(found.by)}", "--segments-by")
    if required:
        out.add(
            "      require: [" + ", ".join(scalar(n) for n in required) + "]",
            f"at least {REQUIRE_SHARE:.0%} of {g.trials} each: a missing one holds",
        )
    out.add(
        f"      min_share: {advice.min_share:g}",
        f"segments under {advice.min_share:g}% of {g.trials} pooled as other",
    )
    out.add("      act_on: any", f"a breach in any {found.by} acts, as in the total")


def _statistics(out: _Lines, draft: PlanDraft, suggestion: Suggestion) -> None:
    gated = [s for s in suggestion.stages if s.percent < 100]
    last = f"the {percent_value(gated[-1].percent)}% stage" if gated else "the last partial stage"
    out.add("statistics:")
    out.add("  method: sequential", "always-valid tests: check as often as you like")
    out.add(
        f"  alpha: {draft.alpha:g}",
        "--alpha: chance of any false pause or rollback over the whole rollout",
    )
    out.add("  scope: rollout", "evidence pools across stages")
    out.add("  correction: holm", "across guardrails")
    out.add(
        f"  power: {suggestion.power:g}",
        f"--power: {last} holds until each detect: regression is ruled out",
    )
