"""Plan validation of automation.windows, automation.freeze and stages[].checklist: each
problem one line, ``file:line: key: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutcli.plan.model import load_plan
from rolloutcli.support.errors import PlanError
from tests.unit.plan.test_plan_automation import BASE, problems

STAGED = BASE.replace(
    "  - {percent: 50, min_duration: 1h}\n",
    "  - percent: 50\n    checklist:\n      - no unresolved incidents\n"
    "      - {id: feedback, ask: user feedback predominantly positive}\n",
)


def test_windows_freezes_and_checklists_load(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(
        STAGED
        + "automation:\n"
        + "  windows:\n"
        + "    - {days: mon-fri, hours: '09:00-17:00', timezone: Europe/Berlin}\n"
        + "    - {days: [sat], hours: '22:00-06:00'}\n"
        + "  freeze:\n"
        + "    - {from: 2026-12-24T00:00:00+01:00, to: '2026-12-27T00:00:00Z', reason: holidays}\n"
    )
    plan = load_plan(path).plan
    windows, (freeze,) = plan.automation.windows, plan.automation.freeze
    assert [w.label for w in windows] == [
        "mon-fri 09:00-17:00 Europe/Berlin",
        "sat 22:00-06:00 UTC",
    ]
    assert (freeze.starts.isoformat(), freeze.ends.isoformat(), freeze.reason) == (
        "2026-12-24T00:00:00+01:00",
        "2026-12-27T00:00:00+00:00",
        "holidays",
    )
    items = plan.stages[1].checklist_items
    assert [(i.key, i.ask) for i in items] == [
        ("no-unresolved-incidents", "no unresolved incidents"),
        ("feedback", "user feedback predominantly positive"),
    ]


def test_a_bad_zone_days_or_hours_are_one_line_each(tmp_path: Path) -> None:
    extra = (
        "automation:\n  windows:\n    - {days: mon-fry, hours: '9-17', timezone: Europe/Berln}\n"
    )
    found = problems(tmp_path, extra)
    where = f"{tmp_path / 'demo.yaml'}:13"
    assert found == [
        f"{where}: automation.windows[0].days: 'mon-fry' is not a day or day range: use mon, "
        "tue, wed, thu, fri, sat, sun or a range (mon-fri)",
        f"{where}: automation.windows[0].hours: '9-17' is not an hours range: HH:MM-HH:MM "
        "(09:00-17:00, 22:00-06:00)",
        f"{where}: automation.windows[0].timezone: 'Europe/Berln' is not a known time zone: "
        "use an IANA name (Europe/Berlin, UTC)",
    ]


def test_a_freeze_needs_an_offset_and_an_order(tmp_path: Path) -> None:
    extra = (
        "automation:\n  freeze:\n"
        "    - {from: '2026-12-24T00:00:00', to: '2026-12-27T00:00:00Z'}\n"
        "    - {from: '2026-12-27T00:00:00Z', to: '2026-12-24T00:00:00Z'}\n"
        "    - {from: 2026-12-24, to: '2026-12-27T00:00:00Z'}\n"
    )
    found = problems(tmp_path, extra)
    path = tmp_path / "demo.yaml"
    assert found == [
        f"{path}:13: automation.freeze[0].from: 2026-12-24T00:00:00 has no offset: add one "
        "(Z, +01:00)",
        f"{path}:14: automation.freeze[1]: 'to' must be after 'from'",
        f"{path}:15: automation.freeze[2].from: 2026-12-24 has no time: give one with its "
        "offset (T00:00:00+01:00)",
    ]


def test_checklist_ids_are_unique_per_stage(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(STAGED.replace("{id: feedback, ask:", "{id: no-unresolved-incidents, ask:"))
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.problems == [
        f"{path}:9: stages[1].checklist[1]: checklist id 'no-unresolved-incidents' is used twice"
    ]


def test_empty_days_and_unknown_keys_name_what_is_accepted(tmp_path: Path) -> None:
    extra = (
        "automation:\n"
        "  windows: [{days: [], tz: UTC}]\n"
        "  freeze: [{from: '2026-12-24T00:00:00Z', until: '2026-12-27T00:00:00Z'}]\n"
    )
    path = tmp_path / "demo.yaml"
    assert problems(tmp_path, extra) == [
        f"{path}:12: automation.windows[0].days: no days: name at least one (mon-fri, [sat, sun])",
        f"{path}:12: automation.windows[0].tz: unknown key (known keys: days, hours, timezone)",
        f"{path}:13: automation.freeze[0].to: missing (required)",
        f"{path}:13: automation.freeze[0].until: unknown key (known keys: from, reason, to)",
    ]
