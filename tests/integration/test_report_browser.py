"""Issue 23: `rollout report`'s HTML of three scripted rollouts (healthy; paused then
resumed; rolled back) opened in a real headless Chromium (Debian's, scripts/install-chromium)
with no network: it loads offline with nothing requested but the page and no console
message or error, each guardrail's chart is drawn with its three series and its stage
boundaries, and the decision marks are the decision records, in order."""

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
    assert facts["timeline"] == len(applied)
    expected = {"healthy": "done", "resumed": "done", "rolled-back": "hold"}[scenario]
    assert facts["verdict"] == expected
    shot = tmp_path / f"{scenario}.png"
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
