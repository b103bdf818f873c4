"""`rollout watch --report FILE`: after each round, the HTML report written to FILE, so a
team can serve it from anywhere (a static web server, a shared folder, a CI artifact).

What FILE holds: watching one plan, that plan's report (``rollout report PLAN``); watching
several (``--all`` or several names), the summary of them (``rollout report --all``), or,
when FILE contains ``{plan}``, one report per plan, ``{plan}`` replaced by its name. Each
page is written atomically (a temporary file in the same folder, renamed over it): a
reader never gets half a page. A page that cannot be made or written is one line on
stderr; the watch goes on (with ``--once``, its code is the exit code).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from rolloutcli.cli.base import err
from rolloutcli.support.errors import RolloutError

if TYPE_CHECKING:
    from rolloutcli.app.fleet import Fleet
    from rolloutcli.app.watchloop import Round
    from rolloutcli.plan.model import LoadedPlan

PLAN_FIELD = "{plan}"


@dataclass
class RoundReports:
    """Where and how a watch writes its report after each round."""

    target: str
    fleet: Fleet
    replay: bool
    """The rounds run as of ``--at``: the report replays that moment too."""
    records_file: str | None
    exit_code: int = 0
    """The code of the last page that failed (0: the last round's pages were written)."""

    def after_each(self, rounds: Iterator[Round]) -> Iterator[Round]:
        """``rounds``, each one's report written before it is shown."""
        for found in rounds:
            self.write(found)
            yield found

    def write(self, found: Round) -> None:
        self.exit_code = 0
        if PLAN_FIELD in self.target:
            for item in found.plans:
                if item.evaluation is not None:
                    self._plan(item.evaluation.standing.loaded, found)
        elif not self.fleet.every and len(self.fleet.refs) == 1:
            loaded = next((i.evaluation.standing.loaded for i in found.plans if i.evaluation), None)
            if loaded is not None:
                self._plan(loaded, found)
        else:
            self._summary(found)

    def _plan(self, loaded: LoadedPlan, found: Round) -> None:
        from rolloutcli.app.report import build_report
        from rolloutcli.render.report_html import report_html

        path = Path(self.target.replace(PLAN_FIELD, loaded.name))
        try:
            page = report_html(
                build_report(loaded, found.now, None, self.replay, self.records_file)
            )
            _write(path, page)
        except RolloutError as exc:
            self._failed(f"report of {loaded.name}: {exc}", exc.exit_code)

    def _summary(self, found: Round) -> None:
        from rolloutcli.app.fleetreport import build_fleet_report
        from rolloutcli.render.summary_html import summary_html

        try:
            report = build_fleet_report(self.fleet, found.now, None, self.replay, self.records_file)
            _write(Path(self.target), summary_html(report))
        except RolloutError as exc:
            self._failed(f"report: {exc}", exc.exit_code)

    def _failed(self, message: str, code: int) -> None:
        err().print(f"[red]error:[/] {escape(message)}", highlight=False)
        self.exit_code = max(self.exit_code, code)


def _write(path: Path, page: str) -> None:
    from rolloutcli.cli.report import write_page

    write_page(path, page, "--report")
