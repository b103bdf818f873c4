"""The JSON contract: what ``--json`` prints and decision records keep, from typed results.

Its keys are documented in the README ("JSON output") and kept stable; scripts rely on
them. ``reasons`` are the sentences of :mod:`rolloutcli.judge.messages`, ``reason_codes``
their codes, in the same order.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutcli.judge.exclusion import missing_exclusion
from rolloutcli.judge.messages import codes, sentences
from rolloutcli.judge.prerequisites import platform_prerequisite_text
from rolloutcli.render.knobs import knobs_json
from rolloutcli.support.durations import format_duration
from rolloutcli.support.jsonsafe import json_safe
from rolloutcli.support.timeutil import format_timestamp

if TYPE_CHECKING:  # types only: `status` renders without importing the statistics
    from rolloutcli.app.evaluate import Evaluation, Explained
    from rolloutcli.app.outcome import Snapshot, WriteOutcome
    from rolloutcli.app.standing import ServingCheck, Standing
    from rolloutcli.app.suggest import Suggested
    from rolloutcli.app.validation import Validated
    from rolloutcli.app.waiting import Waited
    from rolloutcli.app.watch import PlanRound
    from rolloutcli.journal.notify import Delivery
    from rolloutcli.judge.findings import Finding
    from rolloutcli.judge.flagstate import PlatformPrerequisite
    from rolloutcli.judge.lifecycle import Lifecycle
    from rolloutcli.judge.waitfor import Condition
    from rolloutcli.plan.writer import SegmentAdvice
    from rolloutcli.stats.dispersion import Dispersion
    from rolloutcli.stats.homogeneity import Homogeneity
    from rolloutcli.stats.sizing import GuardrailSuggestion, Profile, StageSuggestion


def dumps(value: Any) -> str:
    return json.dumps(json_safe(value), indent=2, ensure_ascii=False)


def stage_json(standing: Standing) -> dict[str, Any] | None:
    index = standing.position.index
    if index is None:
        return None
    stage = standing.loaded.plan.stages[index]
    return {
        "index": index,
        "name": stage.label,
        "percent": stage.percent,
        "started_at": standing.position.stage_began,
    }


def lifecycle_json(lifecycle: Lifecycle) -> dict[str, Any]:
    """The rollout's lifecycle: its phase and the facts of it (README, "JSON output")."""
    mark = lifecycle.pause
    return {
        "phase": lifecycle.phase.value,
        "at": _iso(lifecycle.at),
        "by": lifecycle.by,
        "reason": lifecycle.why,
        "stage": lifecycle.stage,
        "stage_index": lifecycle.stage_index,
        "from_stage": lifecycle.from_stage,
        "from_percent": lifecycle.from_percent,
        "stopped": lifecycle.stopped,
        "paused": None
        if mark is None
        else {"at": _iso(mark.at), "by": mark.by, "reason": mark.reason},
    }


def lifecycle_from_json(document: Any) -> Lifecycle | None:
    """The :class:`Lifecycle` a ``lifecycle`` object (:func:`lifecycle_json`) holds, for
    renderers that work on the JSON document (markdown, annotations); None when it holds
    none, or a phase this version does not know."""
    from rolloutcli.judge.flagstate import PauseMark
    from rolloutcli.judge.lifecycle import Lifecycle, Phase
    from rolloutcli.support.timeutil import parse_timestamp

    if not isinstance(document, dict) or document.get("phase") not in set(Phase):
        return None
    mark = document.get("paused")
    return Lifecycle(
        Phase(document["phase"]),
        at=parse_timestamp(document.get("at")),
        by=_text_or_none(document.get("by")),
        why=_text_or_none(document.get("reason")),
        stage=_text_or_none(document.get("stage")),
        stage_index=document.get("stage_index"),
        from_stage=_text_or_none(document.get("from_stage")),
        from_percent=document.get("from_percent"),
        pause=PauseMark(
            parse_timestamp(mark.get("at")),
            _text_or_none(mark.get("by")),
            _text_or_none(mark.get("reason")),
        )
        if isinstance(mark, dict)
        else None,
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(at: datetime | None) -> str | None:
    return format_timestamp(at) if at is not None else None


def status_json(standing: Standing, now: datetime | None = None) -> dict[str, Any]:
    """Where the rollout stands; with ``now``, also its policy window then (``automation``)."""
    plan, state, position = standing.loaded.plan, standing.state, standing.position
    nxt = plan.stages[position.next_index] if position.next_index is not None else None
    return {
        "plan": standing.loaded.name,
        "flag": plan.flag,
        "platform": plan.platform.kind,
        "environment": plan.platform.environment,
        "labels": dict(plan.labels),
        "on": state.on,
        "percent": state.percent,
        "stage": stage_json(standing),
        "stages": len(plan.stages),
        "off_plan": position.off_plan,
        "not_started": position.not_started,
        "audience": {"keys": list(state.audience_keys), "segment": state.audience_segment}
        if state.audience_keys or state.audience_segment
        else None,
        "excluded": {"keys": list(state.excluded_keys), "segment": state.excluded_segment}
        if state.excluded_keys or state.excluded_segment
        else None,
        "exclusion_missing": missing_exclusion(plan, state),
        "prerequisites": prerequisites_json(standing),
        "platform_prerequisites": [
            platform_prerequisite_json(item) for item in state.platform_prerequisites
        ],
        "next_stage": {"index": position.next_index, "name": nxt.label, "percent": nxt.percent}
        if nxt is not None
        else None,
        "changed_at": position.stage_began,
        "last_comment": state.comment,
        "notes": list(state.notes),
        "knobs": knobs_json(plan, standing.knobs),
        "lifecycle": lifecycle_json(standing.lifecycle),
        "replayed": replayed_json(standing),
        **({"automation": automation_json(standing, now)} if now is not None else {}),
    }


def prerequisites_json(standing: Standing) -> list[dict[str, Any]]:
    """The plan's ``requires:``, each with its flag as read now and whether it is met."""
    return [
        {
            "flag": c.flag,
            "variation": c.variation,
            "at_least": c.at_least,
            "needs": c.needs,
            "met": c.met,
            "state": c.state,
            "found": c.share.found,
            "on": c.share.on,
            "percent": c.share.percent if c.share.found and c.share.problem is None else None,
            "problem": c.share.problem,
        }
        for c in standing.prerequisites
    ]


def platform_prerequisite_json(item: PlatformPrerequisite) -> dict[str, Any]:
    """One of the platform's own prerequisites (LaunchDarkly) or dependencies (Unleash):
    what it requires, its flag as read, and whether it is met for everyone (while it is
    not, the platform serves those users the flag's off variation)."""
    met, sentence = platform_prerequisite_text(item)
    share = item.share
    return {
        "flag": item.flag,
        "variation": item.variation,
        "variants": list(item.variants),
        "met": met,
        "state": sentence,
        "found": share.found,
        "on": share.on,
        "percent": share.percent if share.found and share.problem is None else None,
        "problem": share.problem,
    }


def replayed_json(standing: Standing) -> dict[str, Any] | None:
    """``--at``: the moment the flag was replayed to and how many later changes that undid;
    None when the flag is as read now."""
    found = standing.replayed
    if found is None:
        return None
    return {"at": _iso(found.at), "changes_undone": found.undone}


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "name": f.name,
        "kind": f.kind,
        "status": f.status,
        "control": f.control,
        "treatment": f.treatment,
        "relative_change": f.relative_change,
        "change_pp": f.points_change,
        "p_value": f.p_value,
        "test": f.test,
        "threshold": f.threshold,
        "limit": f.limit,
        "control_n": f.control_size,
        "treatment_n": f.treatment_size,
        "note": f.note,
        "query": f.query,
        "e_value": f.e_value,
        "alpha": f.alpha,
        "bounds": None
        if f.ci_low is None and f.ci_high is None
        else {"low": f.ci_low, "high": f.ci_high, "relative": f.ci_relative},
        "detect": f.detect,
        "detect_ruled_out": f.ruled_out,
        "information": f.information,
        "information_needed": f.information_needed,
        "dispersion": None if f.dispersion is None else dispersion_json(f.dispersion),
        "segment_by": f.segment_by,
        "segment_alpha": f.segment_alpha,
        "breached_segment": f.segment,
        "segments": None if f.segment_by is None else [segment_json(s) for s in f.segments],
    }


def segment_json(f: Finding) -> dict[str, Any]:
    """One segment of a guardrail (``segments: {by: ...}``): counts, estimate, bounds,
    evidence and status, as a guardrail's own are named."""
    return {
        "name": f.name,
        "status": f.status,
        "control": f.control,
        "treatment": f.treatment,
        "control_n": f.control_size,
        "treatment_n": f.treatment_size,
        "relative_change": f.relative_change,
        "change_pp": f.points_change,
        "bounds": None
        if f.ci_low is None and f.ci_high is None
        else {"low": f.ci_low, "high": f.ci_high, "relative": f.ci_relative},
        "threshold": f.threshold if f.reached is not None else None,
        "p_value": f.p_value,
        "e_value": f.e_value,
        "alpha": f.alpha,
        "note": f.note,
    }


def dispersion_json(d: Dispersion) -> dict[str, Any]:
    """How the requests cluster: the factor over independent requests, in words."""
    return {
        "factor": d.factor,
        "interval_pairs": d.pairs,
        "significant": d.significant,
        "summary": d.in_words(),
    }


def check_json(evaluation: Evaluation) -> dict[str, Any]:
    standing, verdict = evaluation.standing, evaluation.verdict
    srm = verdict.srm
    return {
        "plan": standing.loaded.name,
        "flag": standing.loaded.plan.flag,
        "platform": standing.loaded.plan.platform.kind,
        "environment": standing.loaded.plan.platform.environment,
        "labels": dict(standing.loaded.plan.labels),
        "verdict": verdict.kind.value,
        "reasons": list(sentences(verdict.reasons)),
        "reason_codes": list(codes(verdict.reasons)),
        "percent": verdict.from_percent,
        "next_percent": verdict.to_percent,
        "stage": stage_json(standing),
        "evaluated_at": evaluation.now,
        "replayed": replayed_json(standing),
        "window_start": evaluation.window.start if evaluation.window else None,
        "look_again_at": verdict.look_again_at,
        "metrics": [finding_json(f) for f in verdict.findings],
        "srm": {
            "checked": srm.checked,
            "treatment": srm.treatment,
            "control": srm.control,
            "expected_share": srm.expected_share,
            "observed_share": srm.observed_share,
            "p_value": srm.p_value,
            "mismatch": srm.mismatch,
            "note": srm.note,
        },
        "success": [
            {"metric": c.metric, "requirement": c.requirement, "met": c.met, "note": c.note}
            for c in verdict.success
        ],
        "prerequisites": prerequisites_json(standing),
        "lifecycle": lifecycle_json(standing.lifecycle),
        "automation": automation_json(standing, evaluation.now),
        "knobs": knobs_json(standing.loaded.plan, standing.knobs),
    }


def automation_json(standing: Standing, now: datetime) -> dict[str, Any]:
    """The plan's policy window at ``now``: whether ``watch --auto`` may advance or start
    (``state`` open, closed or freeze), why, and when it next may."""
    from rolloutcli.judge.policywindow import allowed

    window = allowed(standing.loaded.plan.automation, now)
    return {
        "window": {
            "open": window.ok,
            "state": window.kind,
            "reason": window.reason,
            "next_opening": _iso(window.next_opening),
        }
    }


def explain_json(explained: Explained) -> dict[str, Any]:
    prepared = explained.prepared
    standing = prepared.standing
    source = prepared.source
    return {
        "plan": standing.loaded.name,
        "flag": standing.state.flag,
        "at": format_timestamp(prepared.now),
        "source": source.name if source else standing.loaded.plan.metrics.source.kind,
        "window": _window_json(prepared.window),
        "evidence_window": _window_json(prepared.evidence),
        "queries": queries_json(explained.queries),
    }


def queries_json(rows: Any) -> list[dict[str, Any]]:
    """Metrics calls and their resolved queries (``check --explain``, decision records)."""
    return [
        {
            "metric": need.metric,
            "cohort": need.cohort.role,
            "variation": need.cohort.variation,
            "verb": need.verb,
            "window": _window_json(need.window),
            "interval": format_duration(need.step) if need.step else None,
            **({"by": need.by} if need.by is not None else {}),
            "requests": [{"query": q.text, "params": q.params} for q in resolved],
        }
        for need, resolved in rows
    ]


def decision_json(evaluation: Evaluation) -> dict[str, Any]:
    """What a decision record keeps of a verdict: the ``check --json`` document plus every
    metrics query as it was sent."""
    document = check_json(evaluation)
    document["queries"] = queries_json(evaluation.resolved_queries())
    return document


def _window_json(window: Any) -> dict[str, str] | None:
    if window is None:
        return None
    return {"start": format_timestamp(window.start), "end": format_timestamp(window.end)}


def history_json(entries: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "at": e.at,
            "source": e.source,
            "event": e.event,
            "who": e.who,
            "stage": e.stage,
            "percent_before": e.percent_before,
            "percent_after": e.percent_after,
            "verdict": e.verdict,
            "result": e.result,
            "detail": e.detail,
            "record": dict(e.raw) if e.raw is not None else None,
            "lifecycle": e.lifecycle,
            "record_id": e.record_id,
            "paired": e.paired,
        }
        for e in entries
    ]


def write_json(
    outcome: WriteOutcome,
    verdict: dict[str, Any] | None = None,
    gates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a writing command (advance, rollback, pause, resume, kill, unkill) did: the same
    keys for each (README, "JSON output"); ``verdict`` is advance's ``check --json``
    document, ``gates`` its checklist and policy window (``app.gates.gates_json``), else
    null."""
    return {
        "command": outcome.command,
        "plan": outcome.plan,
        "flag": outcome.flag,
        "platform": outcome.platform,
        "environment": outcome.environment,
        "where": outcome.where,
        "action": outcome.action,
        "result": outcome.result,
        "reason": outcome.reason,
        "before": snapshot_json(outcome.before),
        "after": snapshot_json(outcome.after),
        "record_id": outcome.record_id,
        "notifications": [delivery_json(d) for d in outcome.deliveries],
        "validated_by": outcome.validated_by,
        "error": outcome.error,
        "verdict": verdict,
        "gates": gates,
    }


def snapshot_json(snapshot: Snapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "on": snapshot.on,
        "percent": snapshot.percent,
        "stage": snapshot.stage,
        "phase": snapshot.phase,
        "paused": snapshot.paused,
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """How one notification went (never its URL)."""
    return {
        "target": delivery.target,
        "ok": delivery.ok,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "error": delivery.error,
    }


def watch_event_json(item: PlanRound, at: datetime, auto: bool) -> dict[str, Any]:
    """One plan in one round of ``watch --output ndjson``: its verdict and lifecycle, what
    the automation decided and did (with the decision record's id), or its error; ``skipped``
    (``locked``/``moved``) when another watcher had the plan's action."""
    evaluation, decision = item.evaluation, item.decision
    verdict = evaluation.verdict if evaluation is not None else None
    standing = evaluation.standing if evaluation is not None else None
    return {
        "event": "plan",
        "at": _iso(at),
        "plan": standing.loaded.name if standing is not None else item.ref,
        "flag": standing.loaded.plan.flag if standing is not None else None,
        "mode": "auto" if auto else "report",
        "verdict": verdict.kind.value if verdict is not None else None,
        "reasons": list(sentences(verdict.reasons)) if verdict is not None else [],
        "reason_codes": list(codes(verdict.reasons)) if verdict is not None else [],
        "percent": standing.state.percent if standing is not None else None,
        "stage": stage_json(standing) if standing is not None else None,
        "lifecycle": lifecycle_json(standing.lifecycle) if standing is not None else None,
        "decision": None
        if decision is None
        else {
            "action": decision.action.value,
            "reason": decision.reason,
            "waiting": decision.waiting,
            "held": decision.held,
        },
        "applied": item.applied,
        "record_id": item.record_id,
        "error": item.error or item.action_error,
        "exit_code": item.exit_code or item.action_exit_code,
        "warnings": list(item.warnings),
        "skipped": item.skipped,
        "skip_reason": item.skip_reason,
    }


def wait_json(waited: Waited, condition: Condition) -> dict[str, Any]:
    """``wait --json``: whether the condition held, what the last poll saw (the ``status
    --json`` document, and the ``check --json`` one when the condition is a verdict)."""
    last = waited.last
    return {
        "plan": last.standing.loaded.name,
        "flag": last.standing.loaded.plan.flag,
        "condition": str(condition),
        "met": waited.met,
        "polls": waited.polls,
        "waited_seconds": round(waited.waited.total_seconds(), 3),
        "seen": {
            "stage": last.seen.stage,
            "percent": last.seen.percent,
            "lifecycle": last.seen.phase,
            "verdict": last.seen.verdict,
        },
        "status": status_json(last.standing),
        "check": check_json(last.evaluation) if last.evaluation is not None else None,
    }


def validate_json(results: list[Validated]) -> list[dict[str, Any]]:
    """``validate --json``: one object per plan, in the order given; ``problems`` make it
    invalid (exit 2), ``warnings`` do not (``file:line: key: message`` strings each)."""
    return [
        {
            "path": r.path,
            "valid": r.valid,
            "problems": list(r.problems),
            "warnings": list(r.warnings),
            "stages": r.stages,
            "guardrails": r.guardrails,
        }
        for r in results
    ]


def _flag_json(standing: Standing) -> dict[str, Any]:
    plan = standing.loaded.plan
    return {
        "plan": standing.loaded.name,
        "flag": plan.flag,
        "platform": plan.platform.kind,
        "environment": plan.platform.environment,
    }


def serving_json(standing: Standing, check: ServingCheck) -> dict[str, Any]:
    """``verify --json``: what the platform's SDK served of ``total`` synthetic contexts,
    against the stage's share, and whether that is within ``tolerance`` points."""
    return {
        **_flag_json(standing),
        "served": check.served,
        "total": check.total,
        "percent": round(check.percent, 4),
        "expected_percent": check.expected_percent,
        "tolerance": round(check.tolerance, 4),
        "ok": check.ok,
    }


def who_json(standing: Standing, key: str, value: object, why: str) -> dict[str, Any]:
    """``who --json``: the variation one context gets, and why."""
    return {**_flag_json(standing), "key": key, "value": value, "why": why}


def suggest_json(suggested: Suggested, written: str | None) -> dict[str, Any]:
    """``plan suggest --json``: the plan (what the YAML holds), the file it was written to
    (``--out``, else null) and the evidence its comments give: the history read, and per
    stage and guardrail the numbers worked out from it."""
    from rolloutcli.plan.writer import plan_duration

    found, source = suggested.suggestion, suggested.provenance
    return {
        "plan": suggested.document(),
        "written": written,
        "evidence": {
            "backend": source.backend,
            "lookback": plan_duration(source.lookback),
            "history_end": _iso(source.end),
            "cohort": source.cohort_label,
            "power": found.power,
            "min_window": plan_duration(found.min_window),
            "exposures_per_hour": found.exposures_quiet_rate,
            "stages": [_stage_evidence(stage) for stage in found.stages],
            "guardrails": [
                _guardrail_evidence(g, suggested.segments.get(g.guardrail.name))
                for g in found.guardrails
            ],
        },
    }


def _stage_evidence(stage: StageSuggestion) -> dict[str, Any]:
    from rolloutcli.plan.writer import plan_duration

    binding = stage.binding
    return {
        "percent": stage.percent,
        "min_duration": plan_duration(stage.min_duration),
        "min_samples": stage.min_samples,
        "hours_needed": stage.hours,
        "floored": stage.floored,
        "slowest_guardrail": binding.guardrail if binding is not None else None,
    }


def _guardrail_evidence(g: GuardrailSuggestion, advice: SegmentAdvice | None) -> dict[str, Any]:
    given = g.guardrail
    return {
        "name": given.name,
        "direction": given.direction.value,
        "detect": given.detect,
        "warn": g.warn,
        "pause": g.pause,
        "rollback": g.rollback,
        "sigma": g.sigma,
        "sigma_at_percent": g.sigma_percent,
        "detect_crosses_warn": g.detect_crosses_warn,
        "healthy_crosses_warn": g.healthy_crosses_warn,
        "history": _profile_json(given.profile),
        "segments": _segments_evidence(advice) if advice is not None else None,
    }


def _segments_evidence(advice: SegmentAdvice) -> dict[str, Any]:
    """The labels tested for a breakdown by segment, and the one proposed (or null)."""
    proposed = advice.proposed
    return {
        "proposed_by": proposed.by if proposed is not None else None,
        "level": advice.level,
        "absent": list(advice.absent),
        "tested": [_homogeneity_json(t) for t in advice.tested],
    }


def _homogeneity_json(found: Homogeneity) -> dict[str, Any]:
    return {
        "by": found.by,
        "statistic": found.statistic,
        "df": found.df,
        "p_value": found.p_value,
        "furthest": found.furthest.name if found.furthest is not None else None,
        "ratio_to_rest": found.ratio,
        "segments": [
            {
                "name": s.name,
                "events": s.events,
                "trials": s.trials,
                "share": s.share,
                "rate": s.rate,
                "dispersion": s.dispersion,
                "pooled": s.pooled,
            }
            for s in found.segments
        ],
    }


def _profile_json(profile: Profile) -> dict[str, Any]:
    """A guardrail's history: a ratio's traffic, base rate and dispersion, or a mean's
    level and variance (of ln values on the log scale)."""
    from dataclasses import asdict

    from rolloutcli.stats.sizing import MeanProfile

    return {"kind": "mean" if isinstance(profile, MeanProfile) else "ratio", **asdict(profile)}


def demo_json(
    workspace: Path,
    clock: datetime,
    step: datetime,
    before: Standing,
    evaluation: Evaluation,
    advanced: dict[str, Any],
    after: Standing,
    tries: list[dict[str, Any]],
) -> dict[str, Any]:
    """``demo --json``: the workspace, when its data ends and the moment the step was taken
    at; the ``status --json`` document before and after, the ``check --json`` verdict, the
    ``advance --json`` document of the change applied, and what to try next."""
    return {
        "workspace": str(workspace),
        "data_ends_at": _iso(clock),
        "step_at": _iso(step),
        "status": status_json(before),
        "check": check_json(evaluation),
        "advance": advanced,
        "status_after": status_json(after),
        "next": tries,
    }
