"""`rollout kill`: turn the flag off, now, from a plan, a flag key, or the flag's address.

The fastest path of the tool (see ``benchmarks/cli_speed``): this module imports nothing
heavy, and the command loads only what a kill needs (no statistics, no metrics).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rolloutcli.cli.base import (
    DryRunFlag,
    JsonFlag,
    PlansDir,
    RecordsOption,
    YesFlag,
    report_journal,
    reports_errors,
    warn,
)
from rolloutcli.cli.scripting import confirm_write, emit, human, json_errors
from rolloutcli.plan.platform_specs import platform_kinds_text

TargetArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="PLAN_OR_FLAG",
        help="Plan or flag key (or the flag's address in the options).",
        show_default=False,
    ),
]
FlagFileOption = Annotated[
    Path | None,
    typer.Option("--flag-file", help="Kill FLAG in this flagd file, no plan needed."),
]
KillPlatformOption = Annotated[
    str | None,
    typer.Option(
        "--platform",
        help=f"Kill with no plan: {platform_kinds_text()} (with --flag, "
        "--environment; tokens come from the environment).",
        show_default=False,
    ),
]
KillFlagOption = Annotated[
    str | None,
    typer.Option("--flag", help="With --platform: the flag key.", show_default=False),
]
KillEnvironmentOption = Annotated[
    str | None,
    typer.Option(
        "--environment",
        help="With --platform: the environment (required for unleash and launchdarkly).",
        show_default=False,
    ),
]
KillProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="With --platform: the project (unleash: default; launchdarkly: required).",
        show_default=False,
    ),
]
KillUrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="With --platform: the server (default: UNLEASH_URL, or LD_BASE_URL).",
        show_default=False,
    ),
]
KillReasonOption = Annotated[
    str | None,
    typer.Option(
        "--reason",
        "-m",
        help="Why: kept on the platform's change note, the decision record and the notification.",
        show_default=False,
    ),
]
KillDeadlineOption = Annotated[
    str | None,
    typer.Option(
        "--deadline",
        help="The longest the kill may take, retries included: 20s, 45s, 1m (default: "
        "ROLLOUT_HTTP_DEADLINE, else 20s).",
        show_default=False,
    ),
]


@reports_errors
@json_errors
def kill(
    target: TargetArgument = None,
    yes: YesFlag = False,
    reason: KillReasonOption = None,
    dry_run: DryRunFlag = False,
    json_output: JsonFlag = False,
    flag_file: FlagFileOption = None,
    platform: KillPlatformOption = None,
    flag: KillFlagOption = None,
    environment: KillEnvironmentOption = None,
    project: KillProjectOption = None,
    url: KillUrlOption = None,
    deadline: KillDeadlineOption = None,
    plans_dir: PlansDir = None,
    records_file: RecordsOption = None,
) -> None:
    """Turn the flag off, now. Needs only the flag's address: works on a broken plan, or
    with no plan at all (--platform/--flag/--environment, or --flag-file).

    Retries rate limits (429) and server errors (5xx) within --deadline and says what it
    did. The flag is turned off first; the decision record and the notifications follow,
    and neither can stop or delay the kill beyond its own short deadline."""
    from rolloutcli.app import killtarget
    from rolloutcli.app.journals import open_journal
    from rolloutcli.app.kill import (
        dry_run_state,
        kill_comment,
        kill_deadline,
        kill_flag,
        records_dir,
    )
    from rolloutcli.app.outcome import APPLIED, DRY_RUN, UNCHANGED, Snapshot, WriteOutcome
    from rolloutcli.render.contract import write_json

    seconds, warning = kill_deadline(deadline)
    if warning is not None:
        warn(warning)
    address = killtarget.Address(platform, flag, environment, project, url, flag_file)
    found = killtarget.find(target, address, plans_dir)
    key, env = escape(found.flag), escape(killtarget.in_environment(found))
    where = escape(killtarget.place(found))
    comment = kill_comment(reason)
    outcome = WriteOutcome(
        command="kill",
        action="kill",
        result=DRY_RUN,
        flag=found.flag,
        platform=found.kind,
        where=found.platform.describe(),
        plan=found.plan,
        environment=found.environment,
        after=Snapshot(on=False),
        reason=comment,
    )
    console = human(json_output)
    console.print(f"kill: turn flag [bold]{key}[/] OFF{env} ({where})", emoji=False, soft_wrap=True)
    if dry_run:
        on = dry_run_state(found, seconds)
        now = "on now: a kill turns it off" if on else "already off: a kill changes nothing"
        console.print(f"the flag is {now}")
        console.print("dry run: nothing was changed.")
        if json_output:
            emit(write_json(replace(outcome, before=Snapshot(on=on))))
        return
    confirm_write(
        "Turn the flag off?", yes, json_output, lambda why: write_json(outcome.refused(why))
    )
    journal = open_journal(records_dir(found, plans_dir, flag_file), records_file, "kill")

    def report(changed: bool, tried: str) -> None:
        did = escape(tried)
        if changed:
            line = f"[bold red]flag {key} is OFF[/]{env} ({where}; {did})"
        else:
            line = f"flag {key} was already off{env} ({where}; {did}): nothing changed"
        console.print(line, emoji=False, soft_wrap=True)

    try:
        changed = kill_flag(found, journal, seconds, report, comment)
    finally:
        report_journal(journal)
    if json_output:
        done = outcome.settled(APPLIED if changed else UNCHANGED, journal)
        emit(write_json(replace(done, before=Snapshot(on=changed))))
