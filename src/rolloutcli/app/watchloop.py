"""`rollout watch`'s loop around :func:`rolloutcli.app.watch.run_round`: the interval, a
round every interval until asked to stop, one journal per plan folder per round, and the
exit code of a ``--once`` round.

Stopping is cooperative: the loop waits on a :class:`threading.Event` (the command sets it
on Ctrl-C), so a round that started always finishes and nothing is left half-done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rolloutcli.app.apply import Journal
from rolloutcli.app.fleet import Fleet
from rolloutcli.app.journals import open_journal
from rolloutcli.app.watch import Describe, PlanRound, run_round
from rolloutcli.journal.planlock import Busy, Lease, PlanKey, try_lock
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.support.durations import parse_duration
from rolloutcli.support.errors import EXIT_BREACH, InvalidInputError


def watch_interval(interval: str, *, once: bool, rehearsal: bool) -> timedelta:
    """``--interval`` as a positive duration; a rehearsal (``--at``) needs ``--once``."""
    try:
        every = parse_duration(interval)
    except ValueError as exc:
        raise InvalidInputError(f"--interval: {exc}") from None
    if every.total_seconds() <= 0:
        raise InvalidInputError("--interval must be positive, e.g. 5m")
    if rehearsal and not once:
        raise InvalidInputError("--at needs --once (a rehearsal is one round at one moment)")
    return every


@dataclass(frozen=True)
class Round:
    """One round of every plan, and the moment it was checked as of."""

    plans: list[PlanRound]
    now: datetime


@dataclass(frozen=True)
class Watcher:
    """What `rollout watch` was asked to watch, and how."""

    refs: list[str]
    plans_dir: Path | None
    every: timedelta
    auto: bool
    once: bool
    records_file: str | Path | None
    concurrency: int | None
    clock: Callable[[], datetime]
    """The moment each round is checked as of: now, or ``--at``'s for a rehearsal."""
    describe: Describe
    """What a decision record keeps of a verdict (the JSON contract, from render/)."""
    fleet: Fleet | None = None
    """The plans to load each round (``--all`` finds new plan files); else ``refs``."""

    def round(self, first: bool = True) -> Round:
        """One round: every plan checked, and with ``auto`` acted on. ``--all`` finding no
        plan stops a first round (exit 2: nothing to watch); in a later round (the folder
        emptied, or its plans relabelled while watching) it is that round's error on
        stderr, and the watch goes on, so a plan file put back is watched again."""
        now = self.clock()
        journals: dict[Path, Journal] = {}
        command = "watch --auto" + (" --once" if self.once else "")

        def journal_for(loaded: LoadedPlan) -> Journal:
            if loaded.base_dir not in journals:
                journals[loaded.base_dir] = open_journal(
                    loaded.base_dir, self.records_file, command
                )
            return journals[loaded.base_dir]

        def lock_for(loaded: LoadedPlan, key: PlanKey) -> Lease | Busy:
            """The plan's lock where its records go: the store's too when it is shared."""
            return try_lock(journal_for(loaded).path, loaded.base_dir, key)

        refs, loaded = self.refs, None
        if self.fleet is not None:
            try:
                picked = self.fleet.load()
            except InvalidInputError as exc:
                if first:
                    raise
                folder = str(self.fleet.folder)
                return Round([PlanRound(folder, error=str(exc), exit_code=exc.exit_code)], now)
            refs, loaded = [ref for ref, _ in picked], [item for _, item in picked]
        plans = run_round(
            refs,
            self.plans_dir,
            now,
            auto=self.auto,
            journal_for=journal_for,
            describe=self.describe,
            concurrency=self.concurrency,
            lock_for=lock_for,
            loaded=loaded,
        )
        return Round(plans, now)

    def rounds(self, stop: threading.Event) -> Iterator[Round]:
        """A round now, then one every interval until ``stop`` is set (``--once``: one)."""
        first = True
        while True:
            yield self.round(first)
            first = False
            if self.once or stop.wait(self.every.total_seconds()):
                return


def once_exit_code(plans: list[PlanRound]) -> int:
    """A ``--once`` round's exit code: the worst plan error (3, 4), else 1 when a verdict
    was rollback, else 0."""
    worst = max((p.exit_code or p.action_exit_code for p in plans), default=0)
    if worst:
        return worst
    rolled_back = any(
        p.evaluation is not None and p.evaluation.verdict.kind.value == "rollback" for p in plans
    )
    return EXIT_BREACH if rolled_back else 0
