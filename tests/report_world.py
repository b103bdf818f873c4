"""Three rollouts scripted with the CLI on the embedded default (flag file + metrics file),
for `rollout report`'s tests and its screenshots (scripts/report-screenshots).

Each is run by `rollout watch --auto --once --at T` every 10 minutes over the world of
tests/watch_world.py (20,000 requests a minute, 1% errors in control), traffic following
the flag file's live split:

* ``healthy``: advances 5% → 25% → 50% → 100% at +0, +30, +60, +90 minutes; done.
* ``resumed``: the treatment has 2.2% errors from +40 to +50 minutes only: paused at +50;
  a person resumes it at +55 (through the app call `rollout resume` makes, stamped with
  that time: the command itself stamps the real clock), and the watch advances it again.
* ``rolled-back``: 20% errors from +45: rolled back to 0% at +50, never restarted.

The decision records and the flag file's history are real (the CLI wrote them). Every
time is fixed, so the reports (and docs/'s screenshots) are the same on every run.

Each scenario has a workspace of its own under the root (:func:`script`), or all three share
one plans directory, for `rollout report --all` (:func:`script_all`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from rolloutcli.app.changes import set_paused
from rolloutcli.app.journals import open_journal
from rolloutcli.app.standing import read_standing
from rolloutcli.plan.model import load_plan
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.timeutil import format_timestamp
from tests import watch_world
from tests.integration.cli_helpers import invoke

T0 = watch_world.utc("2026-11-02T10:00:00")
SCENARIOS = ("healthy", "resumed", "rolled-back")
ROUNDS = {"healthy": 130, "resumed": 130, "rolled-back": 80}
"""The last round of each (minutes after its start): the report's moment."""
RESUME_AFTER = 50
"""``resumed``: the round after which a person resumes it (5 minutes later)."""


def treatment_error(scenario: str, minute: int) -> float:
    if scenario == "resumed" and 40 <= minute < 50:
        return 0.022
    if scenario == "rolled-back" and minute >= 45:
        return 0.20
    return watch_world.CONTROL_ERROR


@dataclass
class Scripted:
    """A scripted rollout: its plan file, its start and the report's moment."""

    scenario: str
    plan: Path
    start: datetime
    end: datetime

    @property
    def records(self) -> Path:
        return self.plan.parent / ".rollout" / "decisions.jsonl"

    def applied(self) -> list[dict[str, object]]:
        """The decision records of applied changes to this rollout, oldest first."""
        lines = self.records.read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [
            e for e in entries if e.get("result") == "applied" and e.get("plan") == self.scenario
        ]


def script(root: Path, scenario: str, shared: bool = False) -> Scripted:
    """Run ``scenario`` in a workspace of its own under ``root`` (``shared``: in ``root``
    itself, next to the other scenarios)."""
    world = _World(root if shared else root / scenario, scenario, T0)
    for minute in range(0, ROUNDS[scenario] + 1, watch_world.INTERVAL_MINUTES):
        code, output = world.round(minute)
        assert code in (0, 1), output
        if scenario == "resumed" and minute == RESUME_AFTER:
            assert world.paused(), "the pause verdict paused it"
            world.resume(minute + 5, "errors back to normal")
    end = T0 + timedelta(minutes=ROUNDS[scenario])
    return Scripted(scenario, world.plan, T0, end)


def script_all(root: Path) -> list[Scripted]:
    """The three scenarios in one workspace: ``root/plans`` holds the three plans."""
    return [script(root, scenario, shared=True) for scenario in SCENARIOS]


class _World:
    def __init__(self, root: Path, scenario: str, start: datetime) -> None:
        self.scenario = scenario
        self.start = start
        flags = root / "flags" / f"{scenario}.json"
        flags.parent.mkdir(parents=True, exist_ok=True)
        flag = {"state": "ENABLED", "variants": {"on": True, "off": False}}
        flags.write_text(json.dumps({"flags": {scenario: {**flag, "defaultVariant": "off"}}}))
        self.platform = FlagFilePlatform(flags, scenario)
        (root / "metrics").mkdir(exist_ok=True)
        self.csv = root / "metrics" / f"{scenario}.csv"
        self.csv.write_text("time,cohort,metric,value\n")
        (root / "plans").mkdir(exist_ok=True)
        self.plan = root / "plans" / f"{scenario}.yaml"
        metrics = (
            f"  source: {{kind: file, path: ../metrics/{scenario}.csv}}\n  exposures: requests"
        )
        flag_file = f"../flags/{scenario}.json"
        self.plan.write_text(watch_world.plan_text(scenario, flag_file, metrics))
        self.rng = np.random.default_rng(11)
        self.written_to = 0

    def paused(self) -> bool:
        return self.platform.read_state(True, False).paused is not None

    def resume(self, minute: int, reason: str) -> None:
        """What `rollout resume --yes --reason REASON` does, at ``minute`` after the start
        (the command stamps the real clock; the scripted rollout keeps its fixed times)."""
        loaded = load_plan(self.plan)
        journal = open_journal(loaded.base_dir, None, "resume")
        at = self.start + timedelta(minutes=minute)
        assert set_paused(journal, read_standing(loaded), False, reason, at)

    def _percent(self) -> float:
        state = self.platform.read_state(True, False)
        return state.percent if state.on else 0.0

    def _write_until(self, minute: int) -> None:
        percent = self._percent()
        rows = []
        for m in range(self.written_to, minute):
            at = format_timestamp(self.start + timedelta(minutes=m))
            treated = round(watch_world.PER_MINUTE * percent / 100)
            control = watch_world.PER_MINUTE - treated
            error = treatment_error(self.scenario, m)
            for cohort, requests, rate in (
                ("treatment", treated, error),
                ("control", control, watch_world.CONTROL_ERROR),
            ):
                errors = int(self.rng.binomial(requests, rate))
                rows.append(f"{at},{cohort},requests,{requests}\n")
                rows.append(f"{at},{cohort},errors,{errors}\n")
        with self.csv.open("a") as out:
            out.writelines(rows)
        self.written_to = minute

    def round(self, minute: int) -> tuple[int, str]:
        self._write_until(minute)
        at = format_timestamp(self.start + timedelta(minutes=minute))
        return invoke("watch", str(self.plan), "--auto", "--once", "--at", at)


def render(scripted: Scripted, out: Path) -> Path:
    """`rollout report PLAN --at END --html OUT` of a scripted rollout."""
    code, output = invoke(
        "report", str(scripted.plan), "--at", format_timestamp(scripted.end), "--html", str(out)
    )
    assert code == 0, output
    return out


def render_all(plans: Path, at: datetime, out: Path) -> Path:
    """`rollout report --all --plans-dir PLANS --at AT --html OUT`."""
    code, output = invoke(
        "report",
        "--all",
        "--plans-dir",
        str(plans),
        "--at",
        format_timestamp(at),
        "--html",
        str(out),
    )
    assert code == 0, output
    return out


ALL_AT = T0 + timedelta(minutes=max(ROUNDS.values()))
"""The moment of the --all report of the three: the last round of the longest."""

SUMMARY_FACTS = """JSON.stringify({
  guardrails: [...document.querySelectorAll("#guardrails tr[data-guardrail]")].map(tr => ({
    name: tr.dataset.guardrail,
    cells: [...tr.querySelectorAll("td")].slice(0, -1).map(td => td.textContent),
    bars: [...tr.querySelectorAll(".bar span.tier")].map(s => ({
      tier: s.classList[1], width: s.getBoundingClientRect().width, title: s.title })),
  })),
  plans: [...document.querySelectorAll("#plans tr")].slice(1).map(tr =>
    [...tr.querySelectorAll("td")].map(td => td.textContent)),
  totals: [...document.querySelectorAll("#totals li")].map(li => li.textContent),
})"""
"""What the browser shows of the --all page: each guardrail row's cells and the drawn width
of each tier's bar, each plan row, the totals."""

DOM_FACTS = """JSON.stringify({
  charts: [...document.querySelectorAll("svg.chart")].map(svg => {
    const box = svg.getBoundingClientRect();
    const drawn = g => [...svg.querySelectorAll(g)].filter(e => {
      const r = e.getBoundingClientRect(); return r.width > 0 || r.height > 0; }).length;
    return {
      guardrail: svg.dataset.guardrail, width: box.width, height: box.height,
      series: drawn("g.series"), stages: drawn("g.stage-boundary"),
      decisions: [...svg.querySelectorAll("g.decision")].map(g => ({
        kind: g.getAttribute("class").replace("decision ", ""),
        title: g.querySelector("title").textContent,
        shown: g.getBoundingClientRect().height > 0 })),
    };
  }),
  exposure: (() => {
    const svg = document.querySelector("svg.exposure"), box = svg.getBoundingClientRect();
    const looks = [...svg.querySelectorAll("g.srm")].filter(g =>
      g.getBoundingClientRect().width > 0).map(g => g.getAttribute("class"));
    return { width: box.width, height: box.height, looks,
      series: svg.querySelectorAll("g.series").length };
  })(),
  timeline: [...document.querySelectorAll("ol.timeline li.decision")].length,
  verdict: document.getElementById("verdict").textContent,
})"""
"""What the browser drew, read from the rendered DOM: per chart its size, its series and
stage boundaries with a non-empty box, and its decision marks (kind, tooltip, drawn); the
exposure chart's size, series and the looks drawn with their sample-ratio verdict."""
