"""`rollout kill` as a use case: its deadline, where its decision record goes, and the kill
itself within that deadline (retries included), saying what was tried when it fails.

Imported by `rollout kill` alone: no statistics, no metrics (see ``benchmarks/cli_speed``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rolloutcli.app import killtarget
from rolloutcli.app.apply import Journal, kill_recorded, lenient_hooks
from rolloutcli.plan.locate import default_plans_dir
from rolloutcli.support import deadlines
from rolloutcli.support.errors import InvalidInputError, RolloutError

COMMENT = "rolloutcli kill: flag turned off by on-call"
"""The note a kill leaves on the platform and in its record when no reason is given."""


def kill_comment(reason: str | None) -> str:
    """The note for the platform, the decision record and the notification: the person's
    reason (``kill -m``), else :data:`COMMENT`."""
    text = " ".join((reason or "").split())
    return f"rolloutcli kill: {text}" if text else COMMENT


def kill_deadline(text: str | None) -> tuple[float, str | None]:
    """Seconds the kill may take (``--deadline``, else ``ROLLOUT_HTTP_DEADLINE``, else 20s),
    and a warning to show. A bad ``--deadline`` is an error; a bad setting in the
    environment must not stop a kill: the default is used, and the platform's client stops
    reading the setting too."""
    if text is not None:
        return deadlines.parse_deadline(text, "--deadline"), None
    try:
        return deadlines.default_deadline(), None
    except InvalidInputError as exc:
        seconds = deadlines.DEFAULT_DEADLINE
        os.environ.pop(deadlines.ENV_DEADLINE, None)
        return seconds, f"{exc}; using {seconds:g}s"


def records_dir(target: killtarget.Target, plans_dir: Path | None, flag_file: Path | None) -> Path:
    """Where the kill's decision log lives: beside the plan; else in the plans folder when
    there is one; else beside the flag file (or here)."""
    if target.path is not None:
        return target.path.parent
    plans = plans_dir or default_plans_dir()
    if plans.is_dir():
        return plans
    return (flag_file or Path(".")).parent


def dry_run_state(target: killtarget.Target, seconds: float) -> bool:
    """Whether the flag is on now, read within the kill's deadline: a dry run checks that
    the address names a flag the platform has (a typo fails here, as the kill would) and
    says whether the kill would change anything."""
    budget = deadlines.budget(seconds, killtarget.KILL_BACKOFF, killtarget.KILL_READ_SHARE)
    with budget:
        return target.platform.is_on()


def kill_flag(
    target: killtarget.Target,
    journal: Journal,
    seconds: float,
    turned_off: Callable[[bool, str], None],
    comment: str = COMMENT,
) -> bool:
    """Turn the flag off within ``seconds``; then record and notify (best effort).
    ``turned_off(changed, tried)`` runs as soon as the platform confirmed, with what the
    kill tried (in words). A failure says which attempts failed how, on its one line."""
    budget = deadlines.budget(seconds, killtarget.KILL_BACKOFF, killtarget.KILL_READ_SHARE)
    with budget as scope:
        try:
            return kill_recorded(
                journal,
                target.platform,
                target.plan,
                target.path,
                target.flag,
                target.kind,
                lenient_hooks(target.path),
                comment,
                datetime.now(UTC),
                environment=target.label,
                turned_off=lambda changed: turned_off(changed, killtarget.tried(scope)),
            )
        except RolloutError as exc:
            if scope.attempts:
                exc.args = (f"{exc}; {killtarget.attempts_note(scope)}",)
            raise
