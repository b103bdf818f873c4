"""`rollout wait`: block a pipeline until a rollout reaches a stage, a verdict or a
lifecycle phase, or a timeout passes (:mod:`rolloutcli.app.waiting` polls)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from rolloutcli.cli.base import JsonFlag, PlanArgument, PlansDir, load, reports_errors
from rolloutcli.cli.scripting import emit, human, json_errors
from rolloutcli.support.errors import RolloutError

ForOption = Annotated[
    str,
    typer.Option(
        "--for",
        metavar="CONDITION",
        help="stage=NAME|PERCENT (that stage or a later one, not stopped), "
        "verdict=go|hold|pause|rollback|done (reads the metrics), or lifecycle=PHASE "
        "(not_started, in_stage, paused, rolled_back, killed, done, off_plan).",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    str,
    typer.Option(
        "--timeout", metavar="DURATION", help="Give up after this long (exit 1): 30s, 10m, 2h."
    ),
]
IntervalOption = Annotated[
    str,
    typer.Option("--interval", metavar="DURATION", help="Time between polls: 10s, 30s, 1m."),
]


class WaitTimedOut(RolloutError):
    """The condition did not hold within ``--timeout`` (exit 1)."""


@reports_errors
@json_errors
def wait(
    plan: PlanArgument,
    condition: ForOption,
    timeout: TimeoutOption = "10m",
    interval: IntervalOption = "30s",
    json_output: JsonFlag = False,
    plans_dir: PlansDir = None,
) -> None:
    """Wait until the rollout meets a condition, for pipelines: exit 0 as soon as it holds,
    1 when --timeout passes first (with what the last poll saw).

    Each poll reads the flag's platform; the metrics only for a verdict condition. A
    condition already met exits at once. Example: rollout wait checkout-v2 --for stage=25
    --timeout 2h."""
    import time
    from datetime import UTC, datetime

    from rolloutcli.app.waiting import wait_duration, wait_for
    from rolloutcli.judge.waitfor import parse_condition
    from rolloutcli.render.contract import wait_json

    limit = wait_duration(timeout, "--timeout")
    every = wait_duration(interval, "--interval")
    loaded = load(plan, plans_dir)
    wanted = parse_condition(condition, loaded.plan)
    waited = wait_for(loaded, wanted, limit, every, lambda: datetime.now(UTC), time.sleep)
    if json_output:
        emit(wait_json(waited, wanted))
    seen = waited.last.seen
    if not waited.met:
        raise WaitTimedOut(
            f"{loaded.name}: {wanted} did not hold within {timeout} ({waited.polls} "
            f"polls); last seen: {seen}"
        )
    human(json_output).print(
        f"{escape(loaded.name)}: {escape(str(wanted))} holds: {escape(str(seen))}",
        highlight=False,
    )
