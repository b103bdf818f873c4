"""``rollout plan suggest`` proposing a breakdown by segment (issue 22) against a real
Prometheus 2.42, over 4 days of backfilled history with ``region`` and ``platform`` labels
(its own server: the shared session fixture's data stay as they are).

Every 5 minutes, for everyone (``variant="false"``), per region and platform: requests
Poisson at ``RATE`` per hour split by :data:`REGIONS` and :data:`PLATFORMS`, errors
binomial at 1%. On the flag ``checkout`` eu-west errs at 2% (the history shows its
segments differ by region, not by platform); on ``steady`` every segment errs at 1%."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rolloutcli.plan.model import RatioGuardrail, load_plan
from rolloutcli.support.timeutil import format_timestamp
from tests.integration.cli_helpers import invoke
from tests.integration.prometheus_server import (
    Sample,
    backfill,
    running_prometheus,
    write_openmetrics,
)

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

END = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 4
STEP = 300
RATE = 8_000.0
REGIONS = {"us-east": 0.45, "eu-west": 0.30, "ap-south": 0.20, "sa-east": 0.05}
PLATFORMS = {"ios": 0.5, "android": 0.5}
FLAGS = {"checkout": 0.02, "steady": 0.01}  # eu-west's error rate; every other region 1%
QUERIES = {
    "requests": 'sum(increase(app_requests_total{flag="{flag}",variant="{cohort}"}[{window}]))',
    "errors": 'sum(increase(app_errors_total{flag="{flag}",variant="{cohort}"}[{window}]))'
    " or vector(0)",
}


def samples(seed: int = 20261207) -> Iterator[Sample]:
    rng = np.random.default_rng(seed)
    start = END.timestamp() - DAYS * 86_400
    times = start + STEP * np.arange(DAYS * 86_400 // STEP + 1)
    for flag, eu_west in FLAGS.items():
        for region, share in REGIONS.items():
            for platform, half in PLATFORMS.items():
                labels = {"flag": flag, "variant": "false", "region": region}
                labels["platform"] = platform
                rate = eu_west if region == "eu-west" else 0.01
                requests = errors = 0
                for i, t in enumerate(times):
                    if i:  # the first sample is each counter's zero
                        n = int(rng.poisson(RATE / 3600 * STEP * share * half))
                        requests += n
                        errors += int(rng.binomial(n, rate))
                    yield ("app_requests_total", labels, requests, float(t))
                    yield ("app_errors_total", labels, errors, float(t))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("suggest-segments")
    history = write_openmetrics(
        root / "history.om", samples(), {"app_requests": "counter", "app_errors": "counter"}
    )
    blocks = backfill(history, root / "blocks", max_block_duration="24h")
    with running_prometheus(blocks, root) as server:
        yield server.url


def suggest(url: str, flag: str, *extra: str) -> tuple[int, str]:
    args = ["plan", "suggest", flag, "--metrics-source", "prometheus", "--url", url]
    args += ["--ratio", "error_rate=errors/requests", "--lookback", f"{DAYS}d"]
    args += ["--flag-file", "flags.json", "--at", format_timestamp(END)]
    for name, template in QUERIES.items():
        args += ["--query", f"{name}={template}"]
    return invoke(*args, *extra)


def words(text: str) -> str:
    return " ".join(" ".join(ln.strip()[2:] for ln in text.splitlines() if "# " in ln).split())


def test_a_region_that_errs_twice_as_often_is_proposed(prometheus: str, tmp_path: Path) -> None:
    code, output = suggest(prometheus, "checkout", "--segments-by", "region,platform")
    assert code == 0, output
    path = tmp_path / "checkout.yaml"
    path.write_text(output)
    guardrail = load_plan(path).plan.guardrails[0]
    assert isinstance(guardrail, RatioGuardrail) and guardrail.segments is not None
    assert guardrail.segments.by == "region"
    assert guardrail.segments.require == ["us-east", "eu-west", "ap-south"]
    said = words(output)
    found = re.search(r"differs by region: eu-west ([\d.]+)% vs ([\d.]+)% elsewhere", said)
    assert found, said
    # 4 days of ~9,600 eu-west requests an hour: the rates within a few percent of 2% and 1%
    assert float(found.group(1)) == pytest.approx(2.0, rel=0.05)
    assert float(found.group(2)) == pytest.approx(1.0, rel=0.05)
    assert "on 3 df, p < 0.0001" in said and "Also tested: platform (" in said


def test_segments_that_err_alike_are_not_proposed(prometheus: str) -> None:
    code, output = suggest(prometheus, "steady", "--segments-by", "region,platform")
    assert code == 0, output
    assert "\n    segments:" not in output
    said = words(output)
    assert "segments: not proposed; error_rate does not differ by segment" in said
    assert "region: " in said and "platform: " in said


def test_a_label_no_series_carries_is_named(prometheus: str) -> None:
    code, output = suggest(prometheus, "checkout", "--segments-by", "device")
    assert code == 0, output
    assert "not tested: device (no requests in the history carry it)" in words(output)
