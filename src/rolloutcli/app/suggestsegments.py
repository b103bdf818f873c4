"""Which segment breakdowns ``rollout plan suggest`` tests, and what it reads for them.

The labels come from ``--segments-by`` and, on a source whose rows name their labels (the
metrics file), from the label columns the trials rows carry. Each ratio guardrail's events
and trials are read grouped by each label (the same ``segment_series`` a check reads);
:mod:`rolloutcli.stats.homogeneity` decides whether the segments differ. Mean guardrails are
not broken down here (their history is a value per step, whose spread between segments
this test does not cover).
"""

from __future__ import annotations

from rolloutcli.metrics.base import LabelledSource, MetricsSource
from rolloutcli.metrics.history import History
from rolloutcli.plan.segments import OTHER, SEGMENTED_SOURCES, Segments, label_problem
from rolloutcli.plan.writer import GuardrailDraft, PlanDraft, SegmentAdvice
from rolloutcli.stats.homogeneity import Homogeneity, homogeneity, proposal
from rolloutcli.support.errors import InvalidInputError

DEFAULT_MIN_SHARE = Segments.model_fields["min_share"].default
"""Segments under this percentage of the trials are pooled, as the verdict pools them."""


def segment_labels(
    items: tuple[str, ...], source: str, guardrails: tuple[GuardrailDraft, ...]
) -> tuple[str, ...]:
    """``--segments-by`` (repeatable, or names separated by commas), checked: plain label
    names the source can group by, for ratio guardrails (InvalidInputError, exit 2)."""
    labels = tuple(dict.fromkeys(n.strip() for item in items for n in item.split(",") if n.strip()))
    if not labels:
        return ()
    if source not in SEGMENTED_SOURCES:
        raise InvalidInputError(
            f"--segments-by: the {source} source cannot group by segment yet (use it with "
            f"{', '.join(SEGMENTED_SOURCES)})"
        )
    if not any(g.kind == "ratio" for g in guardrails):
        raise InvalidInputError(
            "--segments-by: plan suggest breaks ratio guardrails down by segment, not means "
            "(give --ratio)"
        )
    for by in labels:
        problem = label_problem(by, source)
        if problem is not None:
            raise InvalidInputError(f"--segments-by: {problem}")
    return labels


def _ratios(draft: PlanDraft) -> list[GuardrailDraft]:
    return [g for g in draft.guardrails if g.kind == "ratio"]


def candidates(source: MetricsSource, draft: PlanDraft, given: tuple[str, ...]) -> tuple[str, ...]:
    """The labels to test: those given, then (on a source that names its labels) those the
    ratio guardrails' trials carry that could name a segment."""
    found = list(given)
    if isinstance(source, LabelledSource) and draft.source.kind in SEGMENTED_SOURCES:
        for g in _ratios(draft):
            assert g.trials is not None
            for by in source.label_names(g.trials):
                if label_problem(by, draft.source.kind) is None:
                    found.append(by)
    return tuple(dict.fromkeys(found))


def grouped_needs(draft: PlanDraft, labels: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(counter, label)``: every ratio guardrail's events and trials by every label."""
    out: list[tuple[str, str]] = []
    for g in _ratios(draft):
        assert g.events is not None and g.trials is not None
        out += [(metric, by) for by in labels for metric in (g.trials, g.events)]
    return out


def advise(
    draft: PlanDraft, history: History, labels: tuple[str, ...], given: tuple[str, ...]
) -> dict[str, SegmentAdvice]:
    """Per ratio guardrail (by name): the labels tested, the one proposed and the labels
    asked for that the history lacks. Nothing when no label was tested or asked for."""
    if not labels:
        return {}
    out: dict[str, SegmentAdvice] = {}
    for g in _ratios(draft):
        assert g.events is not None and g.trials is not None
        tested: list[Homogeneity] = []
        absent: list[str] = []
        for by in labels:
            trials = history.segments.get((g.trials, by))
            if not trials or set(trials) <= {OTHER}:
                if by in given:
                    absent.append(by)
                continue
            events = history.segments.get((g.events, by), {})
            found = homogeneity(by, events, trials, DEFAULT_MIN_SHARE / 100, OTHER)
            if found is not None:
                tested.append(found)
        if tested or absent:
            chosen = proposal(tested, g.detect_factor)
            out[g.name] = SegmentAdvice(
                tuple(tested), chosen, tuple(absent), min_share=DEFAULT_MIN_SHARE
            )
    return out
