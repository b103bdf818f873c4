"""``rollout plan suggest`` proposing a breakdown by segment (issue 22) on the Datadog fake:
2 days of counts per 5 minutes for everyone (``variant:false``), tagged by region; eu-west
errs at 2%, the other regions at 1%. The history is read grouped ``by {region}``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke
from tests.integration.datadog_fake import DatadogFake

pytestmark = [pytest.mark.integration, pytest.mark.datadog]

END = datetime(2026, 1, 1, tzinfo=UTC)
REGIONS = {"us-east": 0.5, "eu-west": 0.3, "ap-south": 0.2}
QUERIES = {
    "requests": "sum:checkout.requests{flag:{flag},variant:{cohort}}.as_count()"
    ".rollup(sum, {window})",
    "errors": "sum:checkout.errors{flag:{flag},variant:{cohort}}.as_count().rollup(sum, {window})",
}


@pytest.fixture(scope="module")
def datadog() -> Iterator[DatadogFake]:
    with DatadogFake() as fake:
        rng = np.random.default_rng(22)
        end = int(END.timestamp())
        times = range(end - 2 * 86_400, end, 300)
        for region, share in REGIONS.items():
            tags = {"flag": "checkout", "variant": "false", "region": region}
            requests = rng.poisson(5000 * share, len(times))
            rate = 0.02 if region == "eu-west" else 0.01
            errors = rng.binomial(requests, rate)
            fake.add_points(
                "checkout.requests", tags, list(zip(times, map(float, requests), strict=True))
            )
            fake.add_points(
                "checkout.errors", tags, list(zip(times, map(float, errors), strict=True))
            )
        yield fake


def test_a_region_that_errs_twice_as_often_is_proposed(
    datadog: DatadogFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_API_KEY", datadog.api_key)
    monkeypatch.setenv("DD_APP_KEY", datadog.app_key)
    monkeypatch.delenv("DD_APPLICATION_KEY", raising=False)
    args = ["plan", "suggest", "checkout", "--metrics-source", "datadog", "--url", datadog.url]
    args += ["--ratio", "error_rate=errors/requests", "--segments-by", "region,platform"]
    args += ["--lookback", "2d", "--at", format_timestamp(END), "--flag-file", "flags.json"]
    for name, template in QUERIES.items():
        args += ["--query", f"{name}={template}"]
    code, text = invoke(*args)
    assert code == 0, text
    assert "    segments:\n      by: region" in text
    assert "require: [us-east, eu-west, ap-south]" in text
    flat = " ".join(" ".join(ln.strip()[2:] for ln in text.splitlines() if "# " in ln).split())
    found = re.search(r"differs by region: eu-west ([\d.]+)% vs ([\d.]+)% elsewhere", flat)
    assert found, flat
    assert float(found.group(1)) == pytest.approx(2.0, rel=0.05)
    assert float(found.group(2)) == pytest.approx(1.0, rel=0.05)
    # no series carries a platform tag: the fake groups them all under platform:N/A
    assert "Not tested: platform (no requests in the history carry it)." in flat
