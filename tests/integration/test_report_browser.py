"""Issue 23: `rollout report`'s HTML of three scripted rollouts (healthy; paused then
resumed; rolled back) opened in a real headless Chromium (Debian's, scripts/install-chromium)
with no network: it loads offline with nothing requested but the page and no console
message or error, each guardrail's chart is drawn with its three series and its stage
boundaries, the decision marks are the decision records, in order, and the exposure chart
draws each look's sample-ratio verdict. The three in one
plans directory: `rollout report --all`'s page loads the same way and shows their counts,
each tier that fired drawn as a bar as wide as its share of the looks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import report_world
from tests.browser import Page, chromium, find_chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    binary = find_chromium()
    if binary is None:
        pytest.fail("chromium is not on PATH: run scripts/install-chromium (Debian's package)")
    with chromium(binary) as opened:
        yield opened


@pytest.mark.parametrize("scenario", report_world.SCENARIOS)
def test_report_opens_offline_and_draws_the_rollout(
    page: Page, tmp_path: Path, scenario: str
) -> None:
    scripted = report_world.script(tmp_path, scenario)
    html = report_world.render(scripted, tmp_path / f"{scenario}.html")
    loaded = page.open(html)
    assert loaded.requests == [html.resolve().as_uri()]  # nothing fetched but the page
    assert (loaded.failed, loaded.console, loaded.errors) == ([], [], [])
    facts = json.loads(page.evaluate(report_world.DOM_FACTS))
    applied = scripted.applied()
    (chart,) = facts["charts"]  # the plan has one guardrail
    assert chart["guardrail"] == "error_rate"
    assert chart["width"] > 500 and chart["height"] > 200
    assert chart["series"] == 3  # treatment, control, and the change
    assert chart["stages"] == sum(1 for e in applied if e["event"] == "advance")
    assert [d["kind"] for d in chart["decisions"]] == [e["event"] for e in applied]
    for mark, entry in zip(chart["decisions"], applied, strict=True):
        assert mark["shown"]
        assert mark["title"].startswith(f"{entry['event']} by {entry['who']} at {entry['time']}")
    exposure = facts["exposure"]
    assert exposure["width"] > 500 and exposure["height"] > 100
    assert exposure["series"] == 2  # observed and expected share
    # each look at which the split was checked is drawn, and none found a mismatch (the
    # world's traffic follows the split); a look at 0% (rolled back) checks nothing
    assert len(exposure["looks"]) >= 10
    assert set(exposure["looks"]) == {"srm ok"}
    assert facts["timeline"] == len(applied)
    expected = {"healthy": "done", "resumed": "done", "rolled-back": "hold"}[scenario]
    assert facts["verdict"] == expected
    shot = tmp_path / f"{scenario}.png"
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_report_all_opens_offline_and_draws_the_tiers(page: Page, tmp_path: Path) -> None:
    report_world.script_all(tmp_path)
    html = report_world.render_all(tmp_path / "plans", report_world.ALL_AT, tmp_path / "all.html")
    loaded = page.open(html)
    assert loaded.requests == [html.resolve().as_uri()]
    assert (loaded.failed, loaded.console, loaded.errors) == ([], [], [])
    facts = json.loads(page.evaluate(report_world.SUMMARY_FACTS))
    (row,) = facts["guardrails"]
    assert row["name"] == "error_rate"
    assert row["cells"] == [
        "error_rate",
        "3",
        "82",
        "4",
        "2",
        "1",
        "resumed, rolled-back",
        "1",
        "1",
        "0",
    ]
    bars = {bar["tier"]: bar for bar in row["bars"]}
    assert [bars[t]["title"] for t in ("warn", "pause", "rollback")] == [
        "warn: 4 of 82 looks",
        "pause: 2 of 82 looks",
        "rollback: 1 of 82 looks",
    ]
    # the bar is 160 px: 4 of 82 looks is 4.9%, 7.8 px; 3 is 3.7%, 5.9 px; 1 is 1.2%, 1.9 px
    assert [round(bars[t]["width"], 1) for t in ("warn", "pause", "rollback")] == [7.8, 3.8, 1.9]
    assert [p[:2] for p in facts["plans"]] == [
        ["healthy", "done"],
        ["resumed", "done"],
        ["rolled-back", "hold"],
    ]
    assert facts["totals"][2] == "pauses: 1 · rollbacks: 1 (restarted 0, advanced again 0)"
    shot = tmp_path / "all.png"
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
