"""``rollout report --all``: the report of every plan of the plans directory (or of the plans
named), each built as ``rollout report PLAN`` builds it, and their retrospectives summed up
(:mod:`rolloutcli.judge.summary`).

One plan never stops the others: a plan that does not load, or whose platform or metrics
cannot be read, is kept as its error (reported, and counted in the exit code) and the
summary is made of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rolloutcli.app.fleet import Fleet
from rolloutcli.app.report import LOOKS, Report, build_report, check_since
from rolloutcli.judge.summary import PlanTally, Summary, summarise
from rolloutcli.plan.model import LoadedPlan
from rolloutcli.support.errors import InternalError, RolloutError


@dataclass(frozen=True)
class FleetReport:
    at: datetime
    since: datetime | None
    reports: tuple[Report, ...]
    failed: tuple[tuple[str, RolloutError], ...]
    """Each plan that could not be reported (by the name it was asked by), and why."""
    summary: Summary

    @property
    def exit_code(self) -> int:
        """0, or the highest exit code of the plans that could not be reported."""
        return max((error.exit_code for _, error in self.failed), default=0)


def build_fleet_report(
    chosen: Fleet,
    at: datetime,
    since: datetime | None,
    replay_now: bool,
    records_file: str | None = None,
    looks: int = LOOKS,
) -> FleetReport:
    """The report of each plan ``chosen`` names, and their summary. InvalidInputError when
    ``since`` is not before ``at`` or no plan is chosen."""
    check_since(since, at)
    reports: list[Report] = []
    failed: list[tuple[str, RolloutError]] = []
    for ref, item in chosen.load():
        found = (
            item
            if isinstance(item, RolloutError)
            else _report(item, at, since, replay_now, records_file, looks)
        )
        if isinstance(found, RolloutError):
            failed.append((ref, found))
        else:
            reports.append(found)
    summary = summarise([tally_of(r) for r in reports])
    return FleetReport(at, since, tuple(reports), tuple(failed), summary)


def tally_of(report: Report) -> PlanTally:
    return PlanTally(report.loaded.name, report.current.verdict.kind.value, report.retrospective)


def _report(
    loaded: LoadedPlan,
    at: datetime,
    since: datetime | None,
    replay_now: bool,
    records_file: str | None,
    looks: int,
) -> Report | RolloutError:
    try:
        return build_report(loaded, at, since, replay_now, records_file, looks)
    except RolloutError as exc:
        return exc
    except Exception as exc:  # one plan's bug must not hide the others' report
        return InternalError.of(exc, f"reporting plan {loaded.name}")
