"""The words of a verdict: each :class:`~rolloutcli.judge.reasons.Reason` as its sentence.

All the prose of the verdict's reasons is here, one function per
:class:`~rolloutcli.judge.reasons.ReasonCode`; the rules in
:mod:`~rolloutcli.judge.verdict` build only typed reasons, and every surface renders them
through :func:`text` (the console and the JSON contract in ``render/``, markdown and CI
annotations from that JSON, decision records and notifications from the same document, the
comment a change carries and ``watch``'s own actions in ``app/``).

Why it lives in ``judge/``, beside the types, and not in ``render/``: ``journal/`` (records,
notifications) and ``app/`` sit below ``render/`` and must be able to word a reason too, and
imports only go down. ``judge/`` is the lowest layer that knows what a reason is; keeping the
sentences in this one module leaves the decision functions free of them. It imports no
statistics at run time, so paths that must stay light (``status``) may load it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rolloutcli.judge.reasons import Reason, ReasonCode
from rolloutcli.stats.direction import Direction
from rolloutcli.support.durations import format_duration
from rolloutcli.support.timeutil import format_timestamp

if TYPE_CHECKING:  # types only: the findings module imports the statistics
    from rolloutcli.judge.findings import Finding
    from rolloutcli.judge.lifecycle import Lifecycle


def text(reason: Reason) -> str:
    """The sentence for ``reason``, exactly as every surface shows it."""
    return MESSAGES[reason.code](reason)


def sentences(reasons: Iterable[Reason]) -> tuple[str, ...]:
    """Each reason's sentence, in order."""
    return tuple(text(reason) for reason in reasons)


def codes(reasons: Iterable[Reason]) -> tuple[str, ...]:
    """Each reason's code, in the order of :func:`sentences`."""
    return tuple(reason.code.value for reason in reasons)


def first_sentence(reasons: Iterable[Reason], default: str = "no reason given") -> str:
    """The first reason's sentence, or ``default`` when there is none."""
    return next((text(reason) for reason in reasons), default)


# ---------------------------------------------------------------------- one per code


def _not_started(r: Reason) -> str:
    off = "" if r.flag_on else " (the flag is off: starting turns it on)"
    return f"rollout not started: the first stage is {r.name}{off}"


def _flag_off(r: Reason) -> str:
    return (
        f"the flag is off (killed{_when_who(r)}): nothing to advance; turn it back on "
        f"deliberately: rollout unkill {r.plan or 'PLAN'}"
    )


def _rolled_back(r: Reason) -> str:
    source = f" from {r.name}" if r.name else ""
    if r.percent is not None and r.name != f"{r.percent:g}%":
        source += f" ({r.percent:g}%)" if r.name else f" from {r.percent:g}%"
    why = f": {r.detail}" if r.detail else ""
    return (
        f"rolled back{source}{_when_who(r)}{why}; nothing advances until a person restarts "
        f"it: rollout advance {r.plan or 'PLAN'} --restart"
    )


def _paused(r: Reason) -> str:
    why = f" ({r.detail})" if r.detail else ""
    return f"paused{_when_who(r)}{why}: nothing advances until rollout resume {r.plan or 'PLAN'}"


def _exclusion_missing(r: Reason) -> str:
    return (
        f"the flag lacks the plan's exclusion ({r.detail} no longer get the control): the "
        "treatment may reach them; put it back on the platform, or rollout rollback "
        f"{r.plan or 'PLAN'} (every change rolloutcli writes carries it)"
    )


def _prerequisite_unmet(r: Reason) -> str:
    return (
        f"prerequisite {r.name} {r.detail}, needs {r.requirement}: nothing advances until it "
        "does (rollback, reduce, pause and kill still act)"
    )


def _breach(r: Reason) -> str:
    f = _finding(r)
    if f.segment is not None:
        return _segment_breach(f)
    values = f"treatment {_fmt(f.treatment)} vs control {_fmt(f.control)}"
    shown = f.change_text()
    change = f" ({shown})" if shown is not None else ""
    p = f", p = {f.p_value:.3g}" if f.p_value is not None else ""
    return f"{f.name} breached {f.threshold}: {values}{change}{p}"


def _segment_breach(f: Finding) -> str:
    """A breach in one segment: its change there and over everyone, e.g. ``error_rate
    breached rollback 2x: +140.0% in region=eu-west (treatment 2.40% vs control 1.00%),
    +3.0% overall, p = 0.001``."""
    seg = next((s for s in f.segments if s.name == f.segment), None)
    where = f"in {f.segment_by}={f.segment}"
    inside = seg.change_text() if seg is not None else None
    values = (
        f" (treatment {_fmt(seg.treatment)} vs control {_fmt(seg.control)})"
        if seg is not None
        else ""
    )
    overall = f.change_text()
    total = f", {overall} overall" if overall is not None else ""
    p = f", p = {f.p_value:.3g}" if f.p_value is not None else ""
    change = f"{inside} " if inside is not None else ""
    return f"{f.name} breached {f.threshold}: {change}{where}{values}{total}{p}"


def _sample_ratio_mismatch(r: Reason) -> str:
    return (
        f"sample-ratio mismatch: treatment has {r.observed_share:.3%} of exposures, "
        f"planned {r.expected_share:.3%} (p = {r.p_value:.2g}); the split or the "
        "metrics are broken, so the comparison cannot be trusted"
    )


def _no_data(r: Reason) -> str:
    f = _finding(r)
    return f"no data for {f.name}: {f.note}"


def _bad_data(r: Reason) -> str:
    f = _finding(r)
    return f"untrustworthy data for {f.name}: {f.note}"


def _exposures_unavailable(r: Reason) -> str:
    return str(r.detail)  # the whole sentence, from the code that met the problem


def _exposures_untrusted(r: Reason) -> str:
    return f"exposure counts cannot be trusted: {r.detail}"


def _too_few_samples(r: Reason) -> str:
    listing = ", ".join(f"{name} {size:,.0f}" for name, size in r.short)
    return f"too few samples: {listing} of {r.needed:,} needed per cohort"


def _window(r: Reason) -> str:
    elapsed, window, left = _duration(r.elapsed), _duration(r.window), _duration(r.wait)
    return (
        f"observation window: {format_duration(elapsed)} of {format_duration(window)} "
        f"elapsed; look again in {format_duration(left)}"
    )


def _success_unmet(r: Reason) -> str:
    return f"success criterion not met: {r.name} {r.requirement} ({r.detail})"


def _power_pending(r: Reason) -> str:
    f = _finding(r)
    eta = f"; about {format_duration(r.wait)} more at this traffic" if r.wait else ""
    return (
        f"{f.name}: a {f.detect} regression is not ruled out yet at {r.confidence:.0%} "
        f"confidence{_worse_bound(r)}{eta}"
    )


def _power_gated(r: Reason) -> str:
    return (
        "this stage is power-gated: the rollout moves on once it could have "
        "detected each guardrail's detect: regression"
    )


def _complete(r: Reason) -> str:
    return f"at the last stage ({r.name or ''}) and healthy: the rollout is complete"


def _advance(r: Reason) -> str:
    return (
        f"all guardrails within thresholds; window and samples met: advance "
        f"{r.percent:g}% → {r.next_percent:g}%"
    )


def _off_plan(r: Reason) -> str:
    nxt = r.next_percent
    return f"{r.percent:g}% is off-plan (set by hand?): no stage has it" + (
        f"; a go moves to {nxt:g}%" if nxt is not None else ""
    )


def _warning(r: Reason) -> str:
    f = _finding(r)
    raw = f.reached.raw if f.reached is not None else f.threshold
    where = f" in {f.segment_by}={f.segment}" if f.segment is not None else ""
    return f"warning: {f.name} {_describe(f)}{where} is past warn {raw}"


def _knob(r: Reason) -> str:
    """``raise min_confidence 0.7 -> 0.8 (false_positive_rate breached pause +50%)``."""
    from rolloutcli.judge.knobs import KnobStep

    step = r.knob
    assert isinstance(step, KnobStep)
    why = f" ({step.guardrail} breached {step.threshold})" if step.guardrail else ""
    return step.describe() + why


def _knob_used_up(r: Reason) -> str:
    """``min_confidence is at 0.9, the last value on_pause tries: roll back (...)``."""
    from rolloutcli.judge.knobs import UsedUp
    from rolloutcli.plan.knobvalues import show_value

    used = r.knob
    assert isinstance(used, UsedUp)
    then = {"rollback": "roll back", "pause": "pause", "reduce": "reduce"}[used.then]
    return (
        f"{used.knob} is at {show_value(used.value)}, the last value its on_pause tries: "
        f"{then} ({used.guardrail} breached {used.threshold})"
    )


MESSAGES: dict[ReasonCode, Callable[[Reason], str]] = {
    ReasonCode.NOT_STARTED: _not_started,
    ReasonCode.FLAG_OFF: _flag_off,
    ReasonCode.ROLLED_BACK: _rolled_back,
    ReasonCode.PAUSED: _paused,
    ReasonCode.EXCLUSION_MISSING: _exclusion_missing,
    ReasonCode.PREREQUISITE_UNMET: _prerequisite_unmet,
    ReasonCode.BREACH: _breach,
    ReasonCode.SAMPLE_RATIO_MISMATCH: _sample_ratio_mismatch,
    ReasonCode.NO_DATA: _no_data,
    ReasonCode.BAD_DATA: _bad_data,
    ReasonCode.EXPOSURES_UNAVAILABLE: _exposures_unavailable,
    ReasonCode.EXPOSURES_UNTRUSTED: _exposures_untrusted,
    ReasonCode.TOO_FEW_SAMPLES: _too_few_samples,
    ReasonCode.WINDOW: _window,
    ReasonCode.SUCCESS_UNMET: _success_unmet,
    ReasonCode.POWER_PENDING: _power_pending,
    ReasonCode.POWER_GATED: _power_gated,
    ReasonCode.COMPLETE: _complete,
    ReasonCode.ADVANCE: _advance,
    ReasonCode.OFF_PLAN: _off_plan,
    ReasonCode.WARNING: _warning,
    ReasonCode.KNOB: _knob,
    ReasonCode.KNOB_USED_UP: _knob_used_up,
}
"""Every code's sentence (a test checks that no code is missing)."""


# ---------------------------------------------------------------------- the lifecycle


def replayed_text(at: datetime, undone: int) -> str:
    """What ``--at`` shows of the flag: as it stood then, and how much history it undid."""
    if not undone:
        return f"as it stood at {format_timestamp(at)} (no change since)"
    changes = "change" if undone == 1 else "changes"
    return (
        f"as it stood at {format_timestamp(at)}, replayed from the platform's history "
        f"({undone} later {changes} undone)"
    )


def lifecycle_text(lc: Lifecycle, plan: str) -> str:
    """The rollout's lifecycle (``judge.lifecycle``) in one line, for ``status`` and
    ``check``; ``plan`` is the name the next command takes."""
    return _LIFECYCLE[lc.phase.value](lc, plan)


def _lc_when(lc: Lifecycle) -> str:
    at = f" at {format_timestamp(lc.at)}" if lc.at is not None else ""
    return at + (f" by {lc.by}" if lc.by else "")


def _lc_since(lc: Lifecycle) -> str:
    return f" since {format_timestamp(lc.at)}" if lc.at is not None else ""


def _lc_rolled_back(lc: Lifecycle, plan: str) -> str:
    source = f" from {lc.from_stage}" if lc.from_stage else ""
    why = f": {lc.why}" if lc.why else ""
    return f"rolled back{source}{_lc_when(lc)}{why}; restart: rollout advance {plan} --restart"


def _lc_paused(lc: Lifecycle, plan: str) -> str:
    where = f" at stage {lc.stage}" if lc.stage else ""
    why = f" ({lc.why})" if lc.why else ""
    return f"paused{where}{_lc_when(lc)}{why}; rollout resume {plan} lets it advance"


_LIFECYCLE: dict[str, Callable[[Lifecycle, str], str]] = {
    "not_started": lambda lc, plan: f"not started; rollout advance {plan} starts it",
    "in_stage": lambda lc, plan: f"in stage {lc.stage}{_lc_since(lc)}",
    "done": lambda lc, plan: f"done: at the last stage ({lc.stage}){_lc_since(lc)}",
    "off_plan": lambda lc, plan: f"off-plan: a share set by hand{_lc_since(lc)}",
    "paused": _lc_paused,
    "rolled_back": _lc_rolled_back,
    "killed": lambda lc, plan: (
        f"killed: the flag is off{_lc_when(lc)}; turn it back on: rollout unkill {plan}"
    ),
}
"""Every phase's line (a test checks that no phase is missing)."""


def lifecycle_state(lc: Lifecycle) -> str:
    """Where the rollout is in its life, without the next command: the first half of
    :func:`lifecycle_text`, for surfaces that set the command apart (markdown, annotations,
    ``watch``). With :func:`lifecycle_next` it says what :func:`lifecycle_text` says."""
    return _STATE[lc.phase.value](lc)


def lifecycle_next(lc: Lifecycle, plan: str) -> tuple[str, str] | None:
    """What a person does next and the command that does it (``("restart with", "rollout
    advance checkout-v2 --restart")``); None when no command of this tool is due (in stage,
    done, off-plan)."""
    found = _NEXT.get(lc.phase.value)
    return (found[0], found[1].format(plan=plan)) if found is not None else None


def lifecycle_badge(lc: Lifecycle) -> str | None:
    """The phase in capitals when it stops or holds the rollout (``ROLLED BACK``,
    ``KILLED``, ``PAUSED``), else None: the one word a glance needs."""
    return _BADGE.get(lc.phase.value)


def _state_rolled_back(lc: Lifecycle) -> str:
    source = f" from {lc.from_stage}" if lc.from_stage else ""
    return f"rolled back{source}{_lc_when(lc)}" + (f": {lc.why}" if lc.why else "")


def _state_paused(lc: Lifecycle) -> str:
    where = f" at stage {lc.stage}" if lc.stage else ""
    return f"paused{where}{_lc_when(lc)}" + (f" ({lc.why})" if lc.why else "")


_STATE: dict[str, Callable[[Lifecycle], str]] = {
    "not_started": lambda lc: "not started",
    "in_stage": lambda lc: f"in stage {lc.stage}{_lc_since(lc)}",
    "done": lambda lc: f"done: at the last stage ({lc.stage}){_lc_since(lc)}",
    "off_plan": lambda lc: f"off-plan: a share set by hand{_lc_since(lc)}",
    "paused": _state_paused,
    "rolled_back": _state_rolled_back,
    "killed": lambda lc: f"killed: the flag is off{_lc_when(lc)}",
}
"""Every phase's state (a test checks that no phase is missing)."""

_NEXT: dict[str, tuple[str, str]] = {
    "not_started": ("start with", "rollout advance {plan}"),
    "paused": ("resume with", "rollout resume {plan}"),
    "rolled_back": ("restart with", "rollout advance {plan} --restart"),
    "killed": ("turn it back on with", "rollout unkill {plan}"),
}

_BADGE = {"paused": "PAUSED", "rolled_back": "ROLLED BACK", "killed": "KILLED"}


# ---------------------------------------------------------------------- helpers


def _finding(r: Reason) -> Finding:
    if r.finding is None:
        raise ValueError(f"a {r.code.value} reason names no finding")
    return r.finding


def _when_who(r: Reason) -> str:
    """`` at 2026-11-02T12:00:00Z by ana``, as far as known."""
    at = f" at {format_timestamp(r.at)}" if r.at is not None else ""
    return at + (f" by {r.who}" if r.who else "")


def _duration(value: timedelta | None) -> timedelta:
    return value if value is not None else timedelta(0)


def _worse_bound(r: Reason) -> str:
    """The always-valid bound on the worse side (upper for higher_is_worse), if shown."""
    f = _finding(r)
    worse_up = r.direction is Direction.HIGHER_IS_WORSE
    value = f.ci_high if worse_up else f.ci_low
    if value is None:
        return ""
    shown = f.bound_text(value)
    return f" ({'upper' if worse_up else 'lower'} bound {shown})"


def _describe(f: Finding) -> str:
    shown = f.change_text()
    if shown is not None:
        return f"{shown} vs control"
    return f"at {f.treatment:.4g}" if f.treatment is not None else ""


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
