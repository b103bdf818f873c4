"""Output: rich tables that show every value behind a verdict (the JSON contract is
``contract.py``).

Strings from a plan, a platform or a server (flag keys, environments, plan and stage names,
reasons, notes, comments, server messages) never become markup: they are escaped where they
meet the tool's own markup, or passed as plain ``Text``; consoles are made with emoji codes
off (``:100:`` stays text)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from rolloutcli.judge.exclusion import exclusion_text, missing_exclusion
from rolloutcli.judge.flagstate import FlagState, RolloutChange
from rolloutcli.judge.messages import lifecycle_badge, lifecycle_text, replayed_text, text
from rolloutcli.judge.prerequisites import PrerequisiteCheck, platform_prerequisite_text
from rolloutcli.plan.model import Plan
from rolloutcli.render.guardrails import (
    UNBOUNDED,
    guardrails_view,
    thresholds_line,
    without_query,
)
from rolloutcli.render.knobs import knob_line, print_knobs
from rolloutcli.render.layout import AboveFooter
from rolloutcli.render.values import clustering_consequence, stage_name
from rolloutcli.support.durations import format_duration
from rolloutcli.support.timeutil import format_timestamp

if TYPE_CHECKING:  # types only: `status` renders without importing the statistics
    from rolloutcli.app.evaluate import Evaluation, Explained
    from rolloutcli.app.standing import Standing
    from rolloutcli.judge.reasons import Reason
    from rolloutcli.judge.verdict import Verdict

VERDICT_STYLE = {
    "go": "bold green",
    "done": "bold green",
    "hold": "bold yellow",
    "pause": "bold dark_orange",
    "rollback": "bold red",
}

# ---------------------------------------------------------------------- terminal


def _where(standing: Standing) -> str:
    plan, state, position = standing.loaded.plan, standing.state, standing.position
    phase = standing.lifecycle.phase.value
    if phase == "killed":
        stage = "OFF (killed)"
    elif phase == "rolled_back":
        stage = "ROLLED BACK (0%)"
    elif position.index is not None:
        label = plan.stages[position.index].label
        stage = f"stage {label} ({position.index + 1} of {len(plan.stages)})"
    elif position.not_started:
        stage = "not started (0%)"
    else:
        stage = f"{state.percent:g}% (off-plan)"
    return (
        f"[bold]{escape(standing.loaded.name)}[/] · flag [bold]{escape(plan.flag)}[/] · "
        f"{escape(plan.platform.kind)} {escape(plan.platform.environment)} · {escape(stage)}"
    )


def print_status(console: Console, standing: Standing, now: datetime) -> None:
    plan, state, position = standing.loaded.plan, standing.state, standing.position
    console.print(_where(standing), highlight=False)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("flag", "on" if state.on else "[red]off[/]")
    if standing.replayed is not None:
        found = standing.replayed
        table.add_row("as of", Text(replayed_text(found.at, found.undone), style="cyan"))
    table.add_row("lifecycle", _lifecycle(standing))
    table.add_row("treatment share", f"{state.percent:g}%")
    if state.audience_keys:
        table.add_row("audience", f"{len(state.audience_keys)} allowlisted keys")
    if state.audience_segment:
        table.add_row("audience", Text(f"segment {state.audience_segment}"))
    excluded = exclusion_text(state.excluded_keys, state.excluded_segment)
    if excluded is not None:
        table.add_row("excluded", Text(f"{excluded}: always the control"))
    if (missing := missing_exclusion(plan, state)) is not None:
        table.add_row(
            "warning",
            Text(f"the flag lacks the plan's exclusion: {missing} may get the treatment", "red"),
        )
    for check in standing.prerequisites:
        table.add_row("requires", prerequisite_line(check))
    for item in state.platform_prerequisites:
        met, sentence = platform_prerequisite_text(item)
        where = plan.platform.kind
        table.add_row(f"{where} prerequisite", Text(sentence, style="" if met else "yellow"))
    began, elapsed = position.stage_began, position.stage_elapsed(now)
    if began is not None and elapsed is not None:
        table.add_row("since", f"{format_timestamp(began)} ({format_duration(elapsed)} ago)")
    if position.knob_changed is not None:
        changed = format_timestamp(position.knob_changed)
        table.add_row("evidence", f"since {changed}, when a knob changed")
    if position.index is not None:
        stage = plan.stages[position.index]
        table.add_row("window", Text(f"{stage.min_duration}, min {stage.min_samples:,} per cohort"))
    if position.next_index is not None:
        nxt = plan.stages[position.next_index]
        table.add_row("next", Text(stage_name(nxt.label, nxt.percent)))
    for guardrail in plan.guardrails:  # what a check holds the stage to
        line = f"{guardrail.name}: {thresholds_line(plan, guardrail.name)}"
        table.add_row("guardrail", Text(line))
    for knob in plan.knobs:
        table.add_row("knob", Text(knob_line(knob.name, standing.knobs.get(knob.name))))
    if state.comment:
        table.add_row("last change", Text(state.comment))
    for note in state.notes:
        table.add_row("note", Text(note, style="yellow"))
    policy = policy_text(plan, now)
    if policy is not None:
        table.add_row("automation", policy)
    console.print(table)


def prerequisite_line(check: PrerequisiteCheck) -> Text:
    """``payments-core at least 100%: met (is at 100%)``, or ``not met`` in yellow."""
    line = Text(f"{check.flag} {check.needs}: ")
    line.append("met" if check.met else "not met", style="green" if check.met else "yellow")
    line.append(f" ({check.flag} {check.state})")
    return line


def policy_text(plan: Plan, now: datetime) -> Text | None:
    """The policy window at ``now``, for a plan with ``automation.windows`` or ``freeze``
    (None without: automation may act any time, as ever)."""
    from rolloutcli.judge.policywindow import allowed

    if not plan.automation.windows and not plan.automation.freeze:
        return None
    window = allowed(plan.automation, now)
    return Text(window.reason, style="" if window.ok else "yellow")


def _lifecycle(standing: Standing) -> Text:
    """The lifecycle's line (plain text: it quotes reasons and names)."""
    lifecycle = standing.lifecycle
    style = LIFECYCLE_STYLE.get(lifecycle.phase.value, "")
    return Text(lifecycle_text(lifecycle, standing.loaded.name), style=style)


LIFECYCLE_STYLE = {"paused": "dark_orange", "rolled_back": "bold red", "killed": "bold red"}


def print_check(console: Console, evaluation: Evaluation) -> None:
    standing, verdict = evaluation.standing, evaluation.verdict
    plan = standing.loaded.plan
    console.print(_where(standing), highlight=False)
    if standing.replayed is not None:
        found = standing.replayed
        console.print(Text(replayed_text(found.at, found.undone), style="cyan"))
    line = Text("lifecycle: ", style="dim")
    line.append_text(_lifecycle(standing))
    console.print(line, highlight=False)
    headline = Text("verdict ", style="bold")
    headline.append(verdict.kind.value.upper(), style=VERDICT_STYLE[verdict.kind.value])
    if verdict.to_percent is not None:
        headline.append(f"  {verdict.from_percent:g}% → {verdict.to_percent:g}%")
    console.print(headline)
    for bullet in reason_lines(verdict.reasons, standing.loaded.name):
        console.print(bullet, highlight=False)
    print_knobs(console, plan, standing.knobs)
    if verdict.findings:
        for part in guardrails_view(console, plan, verdict):
            console.print(part, highlight=False)
    _print_srm(console, verdict)
    _print_clustering(console, verdict)
    for c in verdict.success:
        mark = "[green]met[/]" if c.met else "[yellow]not met[/]"
        console.print(
            f"success: {escape(c.metric)} {escape(c.requirement)}: {mark} ({escape(str(c.note))})",
            highlight=False,
        )
    for check in standing.prerequisites:
        console.print(Text("prerequisite: ") + prerequisite_line(check), highlight=False)
    policy = policy_text(plan, evaluation.now)
    if policy is not None:
        console.print(Text("automation: ", style="dim") + policy, highlight=False)
    if evaluation.window is not None:
        console.print(
            f"[dim]window {format_timestamp(evaluation.window.start)} → "
            f"{format_timestamp(evaluation.window.end)}; {_statistics_line(plan)}[/]"
        )


QUOTES_A_QUERY = frozenset({"no_data", "bad_data", "exposures_unavailable", "exposures_untrusted"})
"""Reasons whose sentence ends with the query behind a data problem."""


def reason_lines(
    reasons: Sequence[Reason], plan: str, limit: int | None = None
) -> list[RenderableType]:
    """A verdict's reasons, one bullet each (the first ``limit``), a long one wrapped under
    its own first word; a data problem's bullet without the query it quotes, and then one
    line that says where the queries are."""
    lines: list[RenderableType] = []
    folded = False
    for reason in reasons[:limit]:
        sentence = text(reason)
        if reason.code.value in QUOTES_A_QUERY:
            short = without_query(sentence)
            folded = folded or short != sentence
            sentence = short
        lines.append(_bullet(sentence))
    if folded:
        lines.append(Text(f"  (the queries: rollout check {plan} --explain)", style="dim"))
    return lines


def _bullet(sentence: str) -> Table:
    """``  • sentence``, its wrapped lines indented under the sentence, not the bullet."""
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row("  •", Text(sentence))
    return grid


def _print_clustering(console: Console, verdict: Verdict) -> None:
    """One line per ratio guardrail whose requests cluster, and whether its test allowed
    for it."""
    for f in verdict.findings:
        if f.dispersion is not None and f.dispersion.significant:
            console.print(
                Text(
                    f"clustering: {f.name} {f.dispersion.in_words()}; "
                    + clustering_consequence(f.test),
                    style="yellow",
                ),
                highlight=False,
            )


def _statistics_line(plan: Plan) -> str:
    s = plan.statistics
    if s.method == "fixed":
        return f"alpha {s.alpha:g} per test and look, method fixed"
    covers = "the whole rollout" if s.scope == "rollout" else "each stage"
    correction = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "no correction"}
    return (
        f"alpha {s.alpha:g} over {covers}, {correction[s.correction]} across guardrails; "
        f"sequential (always-valid) tests, bounds at each guardrail's level"
    )


def _print_srm(console: Console, verdict: Verdict) -> None:
    srm = verdict.srm
    if srm.checked and srm.observed_share is not None and srm.expected_share is not None:
        style = "bold red" if srm.mismatch else "green"
        word = "MISMATCH" if srm.mismatch else "ok"
        console.print(
            f"sample ratio: treatment {srm.observed_share:.3%} of "
            f"{(srm.treatment or 0) + (srm.control or 0):,.0f} exposures, planned "
            f"{srm.expected_share:.3%} (p = {srm.p_value:.3g}) [{style}]{word}[/]",
            highlight=False,
        )
    elif srm.note:
        note = without_query(srm.note)  # the query: `check --explain`
        console.print(f"[dim]sample ratio: {escape(note)}[/]", highlight=False)


def print_change(
    console: Console, plan: Plan, state: FlagState, change: RolloutChange, where: str
) -> None:
    audience = ""
    if change.audience_keys:
        audience = f" + {len(change.audience_keys)} allowlisted keys"
    elif change.audience_segment:
        audience = f" + segment {escape(change.audience_segment)}"
    console.print(
        f"change: flag [bold]{escape(plan.flag)}[/] in "
        f"[bold]{escape(plan.platform.environment)}[/] "
        f"({escape(where)}): treatment [bold]{state.percent:g}% → {change.percent:g}%[/]{audience}"
        + (f", stage {escape(change.stage)}" if change.stage else "")
        + (", and turns the flag [bold]ON[/]" if change.turn_on else ""),
        highlight=False,
    )


# ---------------------------------------------------------------------- explain

_VERB_TEXT = {
    "counter": "total",
    "values": "values",
    "counter_series": "per interval",
    "moment_series": "per interval",
    "unit_series": "per unit",
    "segment_series": "per interval and segment",
    "segment_moments": "per interval and segment",
}


def print_explain(console: Console, explained: Explained) -> None:
    prepared = explained.prepared
    standing = prepared.standing
    name = standing.loaded.name
    if prepared.window is None or prepared.source is None:
        console.print(
            f"[bold]{escape(name)}[/]: the rollout is not running, so a check queries no "
            "metrics yet (they cover the window since the current stage began).",
            highlight=False,
        )
        return
    source = prepared.source
    console.print(
        f"[bold]{escape(name)}[/]: {len(explained.queries)} metrics calls to {source.name}, "
        f"stage window {format_timestamp(prepared.window.start)} → "
        f"{format_timestamp(prepared.window.end)}",
        highlight=False,
    )
    if prepared.evidence is not None and prepared.evidence != prepared.window:
        console.print(
            f"evidence window (rollout so far) from {format_timestamp(prepared.evidence.start)}",
            highlight=False,
        )
    for need, resolved in explained.queries:
        what = _VERB_TEXT[need.verb] + (f" (by {need.by})" if need.by else "")
        span = "stage" if need.window == prepared.window else "rollout"
        every = f" every {format_duration(need.step)}" if need.step else ""
        console.print(
            f"\n[cyan]{escape(need.metric)}[/] {need.cohort.role} "
            f"({escape(repr(need.cohort.variation))}): {what} over the {span}{every}",
            highlight=False,
        )
        for query in resolved:
            params = " ".join(f"{k}={v}" for k, v in query.params.items())
            console.print(f"  {escape(query.text)}", highlight=False, soft_wrap=True)
            if params:
                console.print(f"  [dim]{escape(params)}[/]", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------- watch


def watch_view(
    console: Console, rounds: list[Any], now: datetime, footer: str, fit_screen: bool = False
) -> RenderableType:
    """The view of `rollout watch`: per plan where it stands, how long in the stage and
    how long left, the verdict, what the automation did or waits for, and the metrics; the
    footer last. With ``fit_screen`` (a live view on a terminal) the view fits the screen's
    height, footer included (:class:`AboveFooter`)."""
    from rich.rule import Rule

    from rolloutcli.judge.automation import time_left

    parts: list[Any] = []
    for index, item in enumerate(rounds):
        if index:
            parts.append(Rule(style="dim"))
        evaluation = item.evaluation
        if evaluation is None:
            parts.append(Text(f"{item.ref}: error: {item.error}", style="red"))
            continue
        standing, verdict = evaluation.standing, evaluation.verdict
        state, position, plan = standing.state, standing.position, standing.loaded.plan
        parts.append(Text.from_markup(_where(standing), emoji=False))
        line = Text("verdict ", style="bold")
        line.append(verdict.kind.value.upper(), style=VERDICT_STYLE[verdict.kind.value])
        lifecycle = standing.lifecycle
        elapsed = position.stage_elapsed(now)
        if elapsed is not None and lifecycle.phase.value in _IN_A_STAGE:
            line.append(f" · in stage {format_duration(elapsed)}")
            left = time_left(plan, state, position, now)
            line.append(f" · {format_duration(left)} left" if left else " · window elapsed")
        parts.append(line)
        phase = _phase_line(standing)
        if phase is not None:
            parts.append(phase)
        parts.extend(reason_lines(verdict.reasons, standing.loaded.name, limit=3))
        if item.applied:
            parts.append(Text(f"  → {item.applied}", style="bold"))
        elif item.action_error:
            parts.append(Text(f"  ✗ action failed: {item.action_error}", style="bold red"))
        elif item.skip_reason:
            parts.append(Text(f"  … {item.skip_reason}", style="yellow"))
        elif item.decision is not None and (item.decision.waiting or item.decision.held):
            parts.append(Text(f"  … {item.decision.reason}", style="yellow"))
        elif item.error:
            parts.append(Text(f"  error: {item.error}", style="red"))
        for warning in item.warnings:
            parts.append(Text(f"  warning: {warning}", style="yellow"))
        if verdict.findings:
            parts.extend(guardrails_view(console, plan, verdict))
    if not fit_screen:
        return Group(*parts, Text(footer, style="dim"))
    return AboveFooter(Group(*parts), Text(footer, style="dim"))


_IN_A_STAGE = frozenset({"in_stage", "paused", "done", "off_plan"})
"""Phases with a live stage whose time in it (and left of its window) means something."""


def _phase_line(standing: Standing) -> Text | None:
    """``PAUSED`` / ``ROLLED BACK`` / ``KILLED`` and the lifecycle's line, for a rollout that
    is stopped or held (``judge.lifecycle``); a pause mark under a stop is named too. None
    for a rollout that runs. Plain text: it quotes names and reasons."""
    lifecycle = standing.lifecycle
    badge = lifecycle_badge(lifecycle)
    if badge is None:
        return None
    line = Text("  ")
    line.append(badge, style=LIFECYCLE_STYLE.get(lifecycle.phase.value, "bold"))
    line.append(f" · {lifecycle_text(lifecycle, standing.loaded.name)}")
    mark = lifecycle.pause
    if mark is not None and lifecycle.phase.value != "paused":
        who = f" by {mark.by}" if mark.by else ""
        line.append(f" · also PAUSED{who}", style="dark_orange")
    return line


# ---------------------------------------------------------------------- history


def print_history(console: Console, plan: str, flag: str, log: Any, entries: list[Any]) -> None:
    console.print(
        f"[bold]{escape(plan)}[/] · flag [bold]{escape(flag)}[/] · records {escape(str(log))} "
        "and the platform's history, newest first",
        highlight=False,
    )
    if not entries:
        console.print("nothing recorded yet")
        return
    # the table fits when every column but the detail does whole, and the detail has room
    # for its minimum width (it wraps); rich measures a cell's words, not its lines
    rest = _history_table(entries, detail=False)
    needs = Measurement.get(console, console.options.update_width(UNBOUNDED), rest).maximum
    if needs + HISTORY_DETAIL_WIDTH + 3 <= console.width:  # + its padding and border
        console.print(_history_table(entries, detail=True))
    else:
        console.print(_history_blocks(entries))


HISTORY_DETAIL_WIDTH = 30
"""The narrowest the detail column of `rollout history` gets before the view turns to blocks."""


def _history_table(entries: list[Any], detail: bool) -> Table:
    """One row per entry, for a console wide enough (``detail``: with the detail column)."""
    table = Table(header_style="bold")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("from", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("change", no_wrap=True)
    table.add_column("verdict / result", no_wrap=True)
    table.add_column("who", no_wrap=True)
    if detail:
        table.add_column("detail", min_width=HISTORY_DETAIL_WIDTH)
    for e in entries:
        cells = [
            Text(format_timestamp(e.at)),
            Text(e.source),
            _history_event(e),
            Text(history_change(e)),
            _history_outcome(e),
            Text(e.who or ""),
        ]
        table.add_row(*cells, *([Text(e.detail)] if detail else []))
    return table


def _history_blocks(entries: list[Any]) -> Text:
    """One block per entry, for a narrow console: when, what and the change; then the
    verdict or result, who and where it comes from; then the detail::

        2026-11-02T12:00:00Z  advance  5% -> 10% (10%)
          go / applied · by alice · from record+platform
          rolloutcli: plan checkout-v2 -> stage 10% (10%), verdict go
    """
    block = Text()
    for index, e in enumerate(entries):
        if index:
            block.append("\n")
        block.append(format_timestamp(e.at), style="bold")
        block.append("  ")
        block.append_text(_history_event(e))
        change = history_change(e)
        if change:
            block.append(f"  {change}")
        facts = [_history_outcome(e)] if e.verdict or e.result else []
        if e.who:
            facts.append(Text(f"by {e.who}"))
        facts.append(Text(f"from {e.source}"))
        block.append("\n  ")
        block.append_text(Text(" · ").join(facts))
        if e.detail:
            block.append(f"\n  {e.detail}")
    return block


def history_change(entry: Any) -> str:
    """``5% → 10% (10%)``, ``25% → off`` (a kill), ``at 10%`` (a step that kept the share,
    or knows one side only), or "" when no share is known; with the stage, if named."""
    before = "" if entry.percent_before is None else f"{entry.percent_before:g}%"
    after = "" if entry.percent_after is None else f"{entry.percent_after:g}%"
    if entry.event == "kill" and not after:
        change = f"{before} → off" if before else "flag off"
    elif before and after and before != after:
        change = f"{before} → {after}"
    else:
        change = f"at {after or before}" if after or before else ""
    if entry.stage:
        change += f" ({entry.stage})" if change else f"stage {entry.stage}"
    return change


def _history_outcome(entry: Any) -> Text:
    outcome = " / ".join(x for x in (entry.verdict, entry.result) if x)
    return Text(outcome, style="red" if entry.result == "failed" else "")


HISTORY_STEP = {
    "paused": ("PAUSED", "dark_orange"),
    "resumed": ("RESUMED", "green"),
    "rolled_back": ("ROLLED BACK", "bold red"),
    "restarted": ("RESTARTED", "bold green"),
    "killed": ("KILLED", "bold red"),
}
"""How `rollout history` marks an entry that moved the rollout in its lifecycle."""


def _history_event(entry: Any) -> Text:
    """The event, and the lifecycle step it is: ``advance → RESTARTED``."""
    cell = Text(entry.event, style=VERDICT_STYLE.get(entry.event, ""))
    step = HISTORY_STEP.get(entry.lifecycle or "")
    if step is not None:
        cell.append(" → ")
        cell.append(step[0], style=step[1])
    return cell
