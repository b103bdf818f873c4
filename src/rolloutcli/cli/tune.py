"""``rollout tune PLAN KNOB VALUE``: a person sets one of the plan's knobs (issue 21).

Shows the change, asks (unless ``--yes``), and has :mod:`rolloutcli.app.knob` apply it:
conditional on the value read, recorded as event ``knob`` and notified."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from rolloutcli.cli.base import (
    DryRunFlag,
    JsonFlag,
    PlanArgument,
    PlansDir,
    RecordsOption,
    YesFlag,
    load,
    report_journal,
    reports_errors,
)
from rolloutcli.cli.scripting import confirm_write, emit, human, json_errors


@reports_errors
@json_errors
def tune(
    plan: PlanArgument,
    knob: Annotated[str, typer.Argument(help="The knob's name (under knobs: in the plan).")],
    value: Annotated[str, typer.Argument(help="The value to serve: one the knob allows.")],
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why, for the change note and the record.")
    ] = "requested with rollout tune",
    yes: YesFlag = False,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Set a knob (a companion flag's number or string, e.g. a confidence threshold).

    The value must be one of the knob's values or within its range. The change restarts
    the current stage's evidence: data from before it was produced by another setting.
    watch --auto does the same when a guardrail's pause tier names the knob."""
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.knob import COMMAND, EVENT, person_step, tune_recorded, unchanged
    from rolloutcli.app.outcome import APPLIED, DRY_RUN, UNCHANGED, outcome_for
    from rolloutcli.app.standing import read_standing
    from rolloutcli.render.contract import write_json
    from rolloutcli.render.knobs import step_json

    loaded = load(plan, plans_dir)
    standing = read_standing(loaded)
    console = human(json_output)
    step, expected = person_step(standing, knob, value)
    outcome = replace(outcome_for(standing, COMMAND, EVENT, APPLIED), reason=reason)

    def document(result: str, record: str | None = None) -> dict[str, object]:
        shown = replace(outcome, result=result, after=outcome.before, record_id=record)
        return {**write_json(shown), "knob": step_json(step)}

    where = escape(standing.platform.describe())
    console.print(f"knob {escape(step.knob)} (flag {escape(step.flag)} in {where}):")
    if unchanged(step):
        console.print(f"already {escape(str(value))}: nothing to change")
        if json_output:
            emit(document(UNCHANGED))
        return
    console.print(f"  {escape(step.describe())}")
    console.print("  the current stage's evidence starts again from the change")
    if dry_run:
        console.print("dry run: nothing was changed.")
        if json_output:
            emit(document(DRY_RUN))
        return
    confirm_write(
        f"Set {step.knob} to {value}?",
        yes,
        json_output,
        lambda why: {**write_json(outcome.refused(why)), "knob": step_json(step)},
    )
    journal = open_journal(loaded.base_dir, records_file, COMMAND)
    decision = {"action": EVENT, "reason": reason}
    try:
        tune_recorded(
            journal, standing, step, expected, reason, datetime.now(UTC), decision=decision
        )
    finally:
        report_journal(journal)
    console.print(f"[green]tuned:[/] {escape(step.describe())}")
    if json_output:
        settled = outcome.settled(APPLIED, journal)
        emit({**write_json(replace(settled, after=outcome.before)), "knob": step_json(step)})
