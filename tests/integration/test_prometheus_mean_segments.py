"""A mean guardrail judged per segment against a real Prometheus 2.42 (issue 22): the
latency query keeps the ``region`` label through its aggregation, each region judged
treatment-vs-control (its own server, on data backfilled here).

Every 15 s over the 4 hours before END, per flag, variant and region in :data:`REGIONS`:
``app_latency_ms``, normal around 420 ms (sd 25); on ``latency-regression`` eu-west's
treatment is 1.8x slower from END - 2h, when the 10% stage began. ``http_requests_total``
counts 40 treatment and 360 control requests per 15 s (the exposures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.integration.cli_helpers import invoke
from tests.integration.prometheus_data import END, HOURS, STEP
from tests.integration.prometheus_server import (
    Sample,
    backfill,
    running_prometheus,
    write_openmetrics,
)
from tests.integration.test_prometheus_metrics import AT, check, metric, setup

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

REGIONS = ("eu-west", "us-east", "us-west", "ap-south", "sa-east")
FLAGS = ("latency-regression", "latency-healthy")
LATENCY = 'avg(app_latency_ms{flag="{flag}",variant="{cohort}"})'
GUARDRAIL = """guardrails:
  - name: latency
    kind: mean
    metric: latency_ms
    unit: ms
    thresholds: {warn: "+10%", pause: "+25%", rollback: "+50%"}
    segments: {by: region, require: [eu-west]}
"""


def samples(seed: int = 22) -> Iterator[Sample]:
    rng = np.random.default_rng(seed)
    times = range(END - HOURS * 3600, END + 1, STEP)
    for flag in FLAGS:
        for variant, requests in (("true", 40), ("false", 360)):
            labels = {"flag": flag, "variant": variant}
            for i, t in enumerate(times):
                yield ("http_requests_total", labels, i * requests, t)
            for region in REGIONS:
                slower = flag == "latency-regression" and region == "eu-west" and variant == "true"
                for t in times:
                    factor = 1.8 if slower and t > END - 2 * 3600 else 1.0
                    value = round(float(rng.normal(420, 25)) * factor, 2)
                    yield ("app_latency_ms", {**labels, "region": region}, value, t)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mean-segments")
    history = write_openmetrics(
        root / "history.om", samples(), {"http_requests": "counter", "app_latency_ms": "gauge"}
    )
    with running_prometheus(backfill(history, root / "blocks"), root) as server:
        yield server.url


def plan(root: Path, flag: str, url: str) -> Path:
    return setup(root, flag, url, guardrails=GUARDRAIL, latency_ms=LATENCY)


def test_a_slower_region_rolls_back_naming_it(tmp_path: Path, url: str) -> None:
    code, result = check(plan(tmp_path, "latency-regression", url), "--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    latency = metric(result, "latency")
    assert (latency["segment_by"], latency["breached_segment"]) == ("region", "eu-west")
    segments = {s["name"]: s for s in latency["segments"]}
    assert sorted(segments) == sorted(REGIONS)
    eu = segments["eu-west"]
    assert 1.7 < eu["treatment"] / eu["control"] < 1.9
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    assert latency["relative_change"] < 0.25  # a fifth of the values: +16% over everyone
    (reason,) = [r for r in result["reasons"] if "eu-west" in r]
    assert "in region=eu-west" in reason and "overall" in reason


def test_regions_alike_go_on(tmp_path: Path, url: str) -> None:
    code, result = check(plan(tmp_path, "latency-healthy", url), "--fail-on-breach")
    assert code == 0
    assert result["verdict"] == "go", result["reasons"]
    latency = metric(result, "latency")
    assert latency["status"] == "ok" and len(latency["segments"]) == 5
    assert {s["status"] for s in latency["segments"]} == {"ok"}
    assert latency["segment_alpha"] == pytest.approx(0.05 / 6)


def test_explain_shows_the_query_grouped_by_region(tmp_path: Path, url: str) -> None:
    path = plan(tmp_path, "latency-healthy", url)
    code, output = invoke("check", str(path), "--at", AT, "--explain")
    assert code == 0, output
    assert 'avg by (region) (app_latency_ms{flag="latency-healthy",variant="true"})' in output
