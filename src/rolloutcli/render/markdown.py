"""``rollout check`` in CI: a markdown summary (GitHub's job summary, a PR comment, any CI
system) and GitHub Actions workflow commands (annotations). (The failing tier of
``--fail-on`` is chosen on the typed verdicts: :mod:`rolloutcli.app.check`.)

Pure: the renderers work on the dicts ``rollout check`` builds (``render.check_json`` for a
verdict, ``{"plan": ..., "error": ...}`` for a plan that could not be checked), plus, per
result, a :class:`PlanFile` with what those dicts do not carry (the plan file as annotations
name it, the line of each guardrail and tier, units, the stages). Reading the plan file and
writing the step summary live in :mod:`rolloutcli.cli.cifiles`; the environment is passed in.
Registered secrets (redact.py) are scrubbed from every text before it is escaped for
markdown or for a workflow command: escaping first would hide a secret from the scrub.
(No ``from __future__ import annotations`` here: it would clash with :func:`annotations`.)
"""

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rolloutcli.judge.messages import lifecycle_badge, lifecycle_next, lifecycle_state
from rolloutcli.plan.fields import TIERS
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.plan.thresholds import points_text
from rolloutcli.plan.yamlsource import SourcedYaml
from rolloutcli.render.contract import lifecycle_from_json
from rolloutcli.render.values import (
    clustering_consequence,
    evidence_legend,
    evidence_text,
    stage_name,
    value_text,
)
from rolloutcli.support.redact import scrub
from rolloutcli.support.timeutil import format_timestamp

Result = Mapping[str, Any]

VERDICT_EMOJI = {"go": "🟢", "done": "✅", "hold": "🟡", "pause": "🟠", "rollback": "🔴"}
ERROR_EMOJI = "❌"
STATUS_TEXT = {
    "ok": "ok",
    "warn": "🟡 warn",
    "pause": "🟠 pause",
    "rollback": "🔴 rollback",
    "no_data": "⚪ no data",
    "bad_data": "⚠️ bad data",
}
# A rollback is an error and a pause a warning: a person must act. Hold, go and done are news,
# not problems: as notices they list every plan's verdict on the run page, flagging nothing;
# unless the rollout stands rolled back or killed (an error: a person must act) or paused (a
# warning), whatever the verdict.
VERDICT_LEVEL = {"rollback": "error", "pause": "warning"}
PHASE_LEVEL = {"rolled_back": "error", "killed": "error", "paused": "warning"}


# ---------------------------------------------------------------------- GitHub Actions


@dataclass(frozen=True)
class GithubContext:
    """Running as a GitHub Actions step: where the step summary goes (None when the runner
    gives no file) and the workspace that annotation paths are relative to."""

    step_summary: Path | None
    workspace: Path | None


def github_actions(environ: Mapping[str, str]) -> GithubContext | None:
    """The GitHub Actions context, or None when not running there (``GITHUB_ACTIONS`` is
    ``true`` on every GitHub runner)."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    summary = environ.get("GITHUB_STEP_SUMMARY")
    workspace = environ.get("GITHUB_WORKSPACE")
    return GithubContext(
        step_summary=Path(summary) if summary else None,
        workspace=Path(workspace) if workspace else None,
    )


@dataclass(frozen=True)
class PlanFile:
    """What a check result does not say about its plan: the file as annotations name it
    (relative to the repository), the line of each guardrail and of each of its tiers, each
    guardrail's unit, and the stages as (label, percent)."""

    path: str
    guardrail_lines: Mapping[str, int] = field(default_factory=dict)
    tier_lines: Mapping[tuple[str, str], int] = field(default_factory=dict)
    units: Mapping[str, str | None] = field(default_factory=dict)
    stages: tuple[tuple[str, float], ...] = ()

    def line(self, guardrail: str, tier: str | None = None) -> int | None:
        """The line of ``guardrail``'s ``tier`` threshold, else of the guardrail itself."""
        if tier is not None and (guardrail, tier) in self.tier_lines:
            return self.tier_lines[(guardrail, tier)]
        return self.guardrail_lines.get(guardrail)


def plan_file(loaded: LoadedPlan, source: SourcedYaml, path: str) -> PlanFile:
    """The :class:`PlanFile` of a loaded plan, from the YAML it was loaded from (which
    remembers the line of every key) and the path annotations should name."""
    guardrail_lines: dict[str, int] = {}
    tier_lines: dict[tuple[str, str], int] = {}
    for index, guardrail in enumerate(loaded.plan.guardrails):
        where = ("guardrails", index)
        if where in source.lines:
            guardrail_lines[guardrail.name] = source.lines[where]
        for tier in TIERS:
            line = source.lines.get((*where, "thresholds", tier))
            if line is not None:
                tier_lines[(guardrail.name, tier)] = line
    return PlanFile(
        path=path,
        guardrail_lines=guardrail_lines,
        tier_lines=tier_lines,
        units={g.name: g.unit for g in loaded.plan.guardrails},
        stages=tuple((s.label, s.percent) for s in loaded.plan.stages),
    )


def annotation_path(path: Path, workspace: Path | None, cwd: Path) -> str:
    """``path`` as an annotation's ``file=``: relative to the workspace (the repository root on
    a runner), else to ``cwd``, else absolute; always with ``/``. Lexical only."""
    absolute = Path(os.path.normpath(path if path.is_absolute() else cwd / path))
    for root in (workspace, cwd):
        if root is None:
            continue
        try:
            return absolute.relative_to(os.path.normpath(root)).as_posix()
        except ValueError:
            continue
    return absolute.as_posix()


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF are percent-encoded (GitHub's rules);
    registered secrets are scrubbed first."""
    return scrub(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int | None) -> str:
    """``::command key=value,...::message``, properties in the order given, None ones left out."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def annotations(
    results: Sequence[Result], files: Sequence[PlanFile | None] | None = None
) -> list[str]:
    """One workflow command per result, plus one per guardrail past its warn threshold.

    * a plan that could not be checked → ``::error`` (on the plan file when it is known);
    * ``rollback`` → ``::error``, ``pause`` → ``::warning``, on the line of the first
      guardrail's breached tier: its reasons are the message;
    * ``hold``, ``go``, ``done`` → ``::notice`` with no file: the verdict on the run page,
      without marking the plan file in pull-request diffs;
    * a guardrail at ``warn`` → ``::warning`` on its ``warn:`` line.

    ``files[i]`` belongs to ``results[i]``. GitHub shows at most 10 annotations of each
    level per step.
    """
    lines: list[str] = []
    for result, pf in zip(results, _aligned(results, files), strict=True):
        plan = str(result["plan"])
        path = pf.path if pf else None
        if "error" in result:
            lines.append(
                workflow_command(
                    "error", str(result["error"]), file=path, title=f"{plan}: check failed"
                )
            )
            continue
        verdict = str(result["verdict"])
        title = f"{plan}: {verdict.upper()} {_movement(result)}"
        message = "\n".join(result["reasons"]) or verdict
        lifecycle, badge = _lifecycle_line(result, code="")
        if lifecycle and badge:  # stopped or paused; in stage, the title says where
            title += f" · {badge}"
            message += f"\nlifecycle: {lifecycle}"
        level = VERDICT_LEVEL.get(verdict) or PHASE_LEVEL.get(_phase(result) or "")
        if level is None:
            lines.append(workflow_command("notice", message, title=title))
        else:
            breached = next((m for m in result["metrics"] if m["status"] == verdict), None)
            line = pf.line(breached["name"], verdict) if pf and breached else None
            lines.append(workflow_command(level, message, file=path, line=line, title=title))
        for m in result["metrics"]:
            if m["status"] != "warn":
                continue
            name = str(m["name"])
            lines.append(
                workflow_command(
                    "warning",
                    _finding_sentence(m, _unit(pf, name)),
                    file=path,
                    line=pf.line(name, "warn") if pf else None,
                    title=f"{plan}: {name} past {_reached(m)}",
                )
            )
    return lines


# ---------------------------------------------------------------------- markdown


def markdown_report(
    results: Sequence[Result], files: Sequence[PlanFile | None] | None = None
) -> str:
    """A GitHub-flavoured markdown summary of one or more checks: per plan a heading with the
    verdict, where the rollout stands and where it goes next, the reasons, and a table of
    every guardrail with the numbers behind it. ``files[i]`` belongs to ``results[i]`` and adds
    units, stage counts and the next stage; without it those are left out."""
    blocks = ["## rollout check"]
    for result, pf in zip(results, _aligned(results, files), strict=True):
        if "error" in result:
            blocks.append(f"### {ERROR_EMOJI} {_md(str(result['plan']))}: **ERROR**")
            blocks.append(_md(str(result["error"])))
            continue
        blocks.extend(_check_blocks(result, pf))
    return "\n\n".join(blocks) + "\n"


def _check_blocks(result: Result, pf: PlanFile | None) -> list[str]:
    verdict = str(result["verdict"])
    emoji = VERDICT_EMOJI.get(verdict, "")
    blocks = [f"### {emoji} {_md(str(result['plan']))}: **{verdict.upper()}**"]
    meta = [
        f"flag {_md(str(result['flag']))}",
        _md(f"{result['platform']} {result['environment']}"),
        _md(_stage_text(result, pf)),
    ]
    following = _next_stage(result, pf)
    if following is not None:
        meta.append(f"next stage {_md(following)}")
    start, end = _timestamp(result.get("window_start")), _timestamp(result.get("evaluated_at"))
    if start and end:
        meta.append(f"window {start} → {end}")
    elif end:
        meta.append(f"evaluated {end}")
    blocks.append(" · ".join(meta))
    lifecycle, badge = _lifecycle_line(result, code="`")
    if lifecycle:
        blocks.append(f"**lifecycle**: {f'**{badge}** ' if badge else ''}{lifecycle}")
    window = (result.get("automation") or {}).get("window") or {}
    if window and not window.get("open", True):  # a closed policy window or a freeze
        blocks.append(f"**automation**: {_md(str(window.get('reason')))}")
    if result["reasons"]:
        blocks.append("\n".join(f"- {_md(str(reason))}" for reason in result["reasons"]))
    if result["metrics"]:
        blocks.append(_table(result["metrics"], pf))
        blocks.extend(_segment_blocks(result["metrics"], pf))
    srm = _srm_text(result.get("srm"))
    if srm:
        blocks.append(srm)
    blocks.extend(_clustering_texts(result["metrics"] or []))
    for criterion in result.get("success") or []:
        met = "met" if criterion["met"] else "**not met**"
        note = f" ({_md(str(criterion['note']))})" if criterion.get("note") else ""
        blocks.append(
            f"success: {_md(str(criterion['metric']))} {_md(str(criterion['requirement']))}: "
            f"{met}{note}"
        )
    for item in result.get("prerequisites") or []:
        met = "met" if item["met"] else "**not met**"
        blocks.append(
            f"prerequisite: {_md(str(item['flag']))} {_md(str(item['needs']))}: "
            f"{met} ({_md(str(item['flag']))} {_md(str(item['state']))})"
        )
    return blocks


TABLE_HEADER = (
    "| guardrail | status | control | treatment | change | evidence | threshold / limit "
    "| n (control / treatment) |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |"
)


def _table(metrics: Sequence[Mapping[str, Any]], pf: PlanFile | None) -> str:
    rows = [TABLE_HEADER]
    for m in metrics:
        name = str(m["name"])
        kind, unit = str(m["kind"]), _unit(pf, name)
        status = STATUS_TEXT.get(str(m["status"]), str(m["status"]))
        if m.get("note"):
            status += f" — {m['note']}"
        threshold = str(m.get("threshold") or "")
        limit = _number(m.get("limit"))
        if limit is not None:
            threshold += f" (limit {value_text(limit, kind, unit)})"
        cells = [
            name,
            status,
            value_text(_number(m.get("control")), kind, unit),
            value_text(_number(m.get("treatment")), kind, unit),
            _change(m) or "—",
            _evidence(m),
            threshold or "—",
            f"{_count(m.get('control_n'))} / {_count(m.get('treatment_n'))}",
        ]
        rows.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    legend = evidence_legend([_evidence(m) for m in metrics])
    return "\n".join(rows) + (f"\n\n{_md(legend)}" if legend else "")


SEGMENT_HEADER = (
    "| segment | status | control | treatment | change | evidence | threshold "
    "| n (control / treatment) |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |"
)


def _segment_blocks(metrics: Sequence[Mapping[str, Any]], pf: PlanFile | None) -> list[str]:
    """Per guardrail judged per segment, its segments folded under the table as the
    terminal folds them: a collapsed ``<details>`` whose summary says how many segments
    at which alpha, open when a segment is past a threshold, holding one row each."""
    blocks = []
    for m in metrics:
        segments = m.get("segments")
        if not segments or not m.get("segment_by"):
            continue
        kind, unit = str(m["kind"]), _unit(pf, str(m["name"]))
        alpha = _number(m.get("segment_alpha"))
        at = f", each tested at alpha {alpha:.2g}" if alpha is not None else ""
        loud = m.get("breached_segment") is not None or any(
            str(s.get("status")) not in ("ok", "no_data") for s in segments
        )
        summary = f"{m['name']} by {m['segment_by']}: {len(segments)} segments{at}"
        summary += "" if loud else " (all within thresholds)"
        rows = [SEGMENT_HEADER]
        for seg in segments:
            status = STATUS_TEXT.get(str(seg["status"]), str(seg["status"]))
            if seg.get("note"):
                status += f" — {seg['note']}"
            cells = [
                str(seg["name"]),
                status,
                value_text(_number(seg.get("control")), kind, unit),
                value_text(_number(seg.get("treatment")), kind, unit),
                _change(seg) or "—",
                _evidence(seg),
                str(seg.get("threshold") or "—"),
                f"{_count(seg.get('control_n'))} / {_count(seg.get('treatment_n'))}",
            ]
            rows.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
        opening = "<details open>" if loud else "<details>"
        blocks.append(
            f"{opening}<summary>{_md(summary)}</summary>\n\n" + "\n".join(rows) + "\n\n</details>"
        )
    return blocks


def _clustering_texts(metrics: Sequence[Mapping[str, Any]]) -> list[str]:
    """A warning per ratio guardrail whose requests cluster (``dispersion.significant``)."""
    texts = []
    for m in metrics:
        found = m.get("dispersion")
        if isinstance(found, Mapping) and found.get("significant") is True:
            texts.append(
                f"⚠️ clustering: {_md(str(m['name']))} {_md(str(found.get('summary', '')))}; "
                + clustering_consequence(m.get("test"))
            )
    return texts


def _srm_text(srm: Mapping[str, Any] | None) -> str | None:
    if not srm:
        return None
    observed, expected = _number(srm.get("observed_share")), _number(srm.get("expected_share"))
    if srm.get("checked") and observed is not None and expected is not None:
        total = (_number(srm.get("treatment")) or 0) + (_number(srm.get("control")) or 0)
        p = _number(srm.get("p_value"))
        word = "**MISMATCH**" if srm.get("mismatch") else "ok"
        return (
            f"sample ratio: treatment {observed:.3%} of {total:,.0f} exposures, planned "
            f"{expected:.3%} (p = {'—' if p is None else f'{p:.3g}'}): {word}"
        )
    if srm.get("note"):
        return f"sample ratio: {_md(str(srm['note']))}"
    return None


# ---------------------------------------------------------------------- shared pieces


def _aligned(
    results: Sequence[Result], files: Sequence[PlanFile | None] | None
) -> list[PlanFile | None]:
    if files is None:
        return [None] * len(results)
    if len(files) != len(results):
        raise ValueError(f"{len(files)} plan files for {len(results)} results")
    return list(files)


def _unit(pf: PlanFile | None, name: str) -> str | None:
    return pf.units.get(name) if pf else None


def _number(value: Any) -> float | None:
    """A finite number, or None (a raw check result may hold NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:,.0f}"


def _timestamp(value: Any) -> str | None:
    if isinstance(value, datetime):
        return format_timestamp(value)
    return str(value) if value else None


def _evidence(m: Mapping[str, Any]) -> str:
    """``e=1.2``, ``p=0.043`` or ``not yet``, as the terminal says it."""
    test = m.get("test")
    return evidence_text(
        _number(m.get("p_value")), _number(m.get("e_value")), str(test) if test else None
    )


def _reached(m: Mapping[str, Any]) -> str:
    """``warn +20%``: the threshold a finding reached (its ``threshold`` at a tier)."""
    return str(m.get("threshold") or m["status"])


def _change(m: Mapping[str, Any]) -> str | None:
    """``+2.3pp`` (a guardrail in percentage points) or ``+7.7%`` (relative to control)."""
    points, relative = _number(m.get("change_pp")), _number(m.get("relative_change"))
    if points is not None:
        return points_text(points)
    return None if relative is None else f"{relative:+.1%}"


def _finding_sentence(m: Mapping[str, Any], unit: str | None) -> str:
    kind = str(m["kind"])
    change = _change(m)
    text = str(m["name"])
    if change is not None:
        text += f" {change} vs control"
    text += (
        f" (treatment {value_text(_number(m.get('treatment')), kind, unit)}, "
        f"control {value_text(_number(m.get('control')), kind, unit)}), past {_reached(m)}"
    )
    limit = _number(m.get("limit"))
    if limit is not None:
        text += f" (limit {value_text(limit, kind, unit)})"
    if _number(m.get("p_value")) is not None or _number(m.get("e_value")) is not None:
        text += f"; evidence {_evidence(m)}"
    return text


def _stage_text(result: Result, pf: PlanFile | None) -> str:
    stage = result.get("stage")
    if stage:
        name, percent = str(stage["name"]), float(stage["percent"])
        details = [] if name == f"{percent:g}%" else [f"{percent:g}%"]
        if pf and pf.stages:
            details.append(f"{int(stage['index']) + 1} of {len(pf.stages)}")
        return f"stage {name}" + (f" ({', '.join(details)})" if details else "")
    percent = float(result["percent"])
    stopped = {"killed": "OFF (killed)", "rolled_back": "ROLLED BACK (0%)"}.get(
        _phase(result) or ""
    )
    if stopped is not None:
        return stopped
    return "not started (0%)" if percent == 0 else f"{percent:g}% (off-plan)"


def _next_stage(result: Result, pf: PlanFile | None) -> str | None:
    """The stage a ``go`` moves to; for other verdicts the plan's next stage, when known."""
    stages = pf.stages if pf else ()
    target = _number(result.get("next_percent"))
    if target is not None:
        label = next((lb for lb, p in stages if p == target), f"{target:g}%")
        return stage_name(label, target)
    stage = result.get("stage")
    if stage and int(stage["index"]) + 1 < len(stages):
        label, percent = stages[int(stage["index"]) + 1]
        return stage_name(label, percent)
    return None


def _phase(result: Result) -> str | None:
    found = result.get("lifecycle")
    return str(found.get("phase")) if isinstance(found, Mapping) else None


def _lifecycle_line(result: Result, code: str) -> tuple[str | None, str | None]:
    """The lifecycle's line (its state, then what a person does next, the command quoted
    with ``code``: a backtick in markdown, nothing in a workflow command) and its badge
    (``ROLLED BACK``); (None, None) when the result carries no lifecycle. Markdown-escaped
    when ``code`` is a backtick."""
    lifecycle = lifecycle_from_json(result.get("lifecycle"))
    if lifecycle is None:
        return None, None
    escape = _md if code else (lambda text: text)
    line = escape(lifecycle_state(lifecycle))
    step = lifecycle_next(lifecycle, str(result["plan"]))
    if step is not None:
        verb, command = step
        quoted = (
            f"{code}{scrub(command)}{code}" if code and code not in command else escape(command)
        )
        line += f" · {verb} {quoted}"
    return line, lifecycle_badge(lifecycle)


def _movement(result: Result) -> str:
    """``5% → 10%`` for a go, else ``at 5%``."""
    percent = float(result["percent"])
    target = _number(result.get("next_percent"))
    return f"{percent:g}% → {target:g}%" if target is not None else f"at {percent:g}%"


_MARKDOWN_SPECIAL = "\\`*_[]<>|~"
_SHORTCODE = re.compile(r"(?<![0-9A-Za-z]):(?=[0-9A-Za-z_+\-\\]+:)")
"""The colon opening an emoji shortcode (``:100:``), not one inside a time (``10:00:00``)."""


def _md(text: str) -> str:
    """Text made literal in markdown, table cells included: characters with a meaning
    (emphasis, links, HTML, code, ``|``) are backslash-escaped, and so is the colon opening
    an emoji shortcode (GitHub renders ``:100:`` as an emoji); line breaks become spaces."""
    flat = scrub(text).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    escaped = "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in flat)
    return _SHORTCODE.sub(r"\\:", escaped)
