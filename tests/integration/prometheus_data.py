"""The history the Prometheus integration tests query: three rollouts of 4 hours each, ending
at END, with known truth.

Every 15 s, per flag: 400 requests, 10% to the treatment (variant="true") and 90% to control
(variant="false"), as a rollout at its 10% stage serves them. Errors, checkouts, orders and
latencies are drawn with a fixed seed, so the history is the same on every machine:

* ``healthy``: 1% errors in both cohorts throughout.
* ``regression``: the treatment's error rate triples (3%) from END - 2h, when its 10%
  stage began; control stays at 1%.
* ``incident``: both cohorts go from 1% to 8% errors at END - 1h (a shared outage: not the
  treatment's fault).

* ``payments-v2``: healthy like ``healthy``; the flag of the shipped example plan
  ``plans/payments-prometheus.yaml``.
* ``watch-healthy``, ``watch-pause``, ``watch-regression``: the scripted rollouts of
  ``tests/watch_world.py`` (requests and errors only), watched from ``WATCH_T0``.

Conversion (orders / checkouts) is 50% and latency the same lognormal in every cohort.

Two rollouts carry a ``region`` label on ``http_requests_total`` (requests only), at 2,000
requests per 15 s split among the regions in :data:`REGIONS_5` / :data:`REGIONS_8`:

* ``region-regression``: 1% errors everywhere, except the treatment in eu-west (10% of
  the traffic), at 3% from END - 2h (+20% over everyone);
* ``region-healthy``: 1% errors in every region and cohort, 8 regions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tests.integration.prometheus_server import Sample, write_openmetrics

END = 1704067200  # 2024-01-01T00:00:00Z
END_TIME = datetime.fromtimestamp(END, UTC)
HOURS = 4
STEP = 15
PER_STEP = 400
TREATMENT_SHARE = 0.10
FLAGS = ("healthy", "regression", "incident", "payments-v2")
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TYPES = {
    "http_requests": "counter",
    "checkout_started": "counter",
    "checkout_completed": "counter",
    "http_request_duration_seconds": "histogram",
}


def error_rate(flag: str, variant: str, t: int) -> float:
    if flag == "regression" and variant == "true" and t > END - 2 * 3600:
        return 0.03
    if flag == "incident" and t > END - 3600:
        return 0.08
    return 0.01


def samples(seed: int = 20240101) -> Iterator[Sample]:
    rng = np.random.default_rng(seed)
    times = range(END - HOURS * 3600, END + 1, STEP)
    for flag in FLAGS:
        for variant, share in (("true", TREATMENT_SHARE), ("false", 1 - TREATMENT_SHARE)):
            requests = round(PER_STEP * share)
            ok = bad = started = completed = count = 0
            total = 0.0
            buckets = [0] * (len(BUCKETS) + 1)
            labels = {"flag": flag, "variant": variant}
            for i, t in enumerate(times):
                if i:  # the first sample is each counter's zero
                    errors = int(rng.binomial(requests, error_rate(flag, variant, t)))
                    bad += errors
                    ok += requests - errors
                    new_started = int(rng.binomial(requests, 0.2))
                    started += new_started
                    completed += int(rng.binomial(new_started, 0.5))
                    latencies = rng.lognormal(np.log(0.12), 0.5, requests)
                    count += requests
                    total += float(latencies.sum())
                    for j, le in enumerate(BUCKETS):
                        buckets[j] += int((latencies <= le).sum())
                    buckets[-1] += requests
                yield ("http_requests_total", {**labels, "status": "200"}, ok, t)
                yield ("http_requests_total", {**labels, "status": "500"}, bad, t)
                yield ("checkout_started_total", labels, started, t)
                yield ("checkout_completed_total", labels, completed, t)
                for le, value in zip((*BUCKETS, "+Inf"), buckets, strict=True):
                    yield (
                        "http_request_duration_seconds_bucket",
                        {**labels, "le": str(le)},
                        value,
                        t,
                    )
                yield ("http_request_duration_seconds_count", labels, count, t)
                yield ("http_request_duration_seconds_sum", labels, round(total, 6), t)


REGION_PER_STEP = 2000
REGIONS_5 = {"eu-west": 0.1, "us-east": 0.35, "us-west": 0.25, "ap-south": 0.2, "sa-east": 0.1}
REGIONS_8 = {
    "eu-west": 0.2,
    "eu-north": 0.1,
    "us-east": 0.2,
    "us-west": 0.15,
    "ap-south": 0.1,
    "ap-east": 0.1,
    "sa-east": 0.1,
    "af-south": 0.05,
}
REGION_FLAGS = {"region-regression": REGIONS_5, "region-healthy": REGIONS_8}


def region_error_rate(flag: str, region: str, variant: str, t: int) -> float:
    regressed = flag == "region-regression" and region == "eu-west" and variant == "true"
    return 0.03 if regressed and t > END - 2 * 3600 else 0.01


def region_samples(seed: int = 20261207) -> Iterator[Sample]:
    """``http_requests_total`` with a ``region`` label for the REGION_FLAGS rollouts."""
    rng = np.random.default_rng(seed)
    times = range(END - HOURS * 3600, END + 1, STEP)
    for flag, regions in REGION_FLAGS.items():
        for region, region_share in regions.items():
            for variant, share in (("true", TREATMENT_SHARE), ("false", 1 - TREATMENT_SHARE)):
                requests = round(REGION_PER_STEP * region_share * share)
                labels = {"flag": flag, "variant": variant, "region": region}
                ok = bad = 0
                for i, t in enumerate(times):
                    if i:  # the first sample is each counter's zero
                        rate = region_error_rate(flag, region, variant, t)
                        errors = int(rng.binomial(requests, rate))
                        bad += errors
                        ok += requests - errors
                    yield ("http_requests_total", {**labels, "status": "200"}, ok, t)
                    yield ("http_requests_total", {**labels, "status": "500"}, bad, t)


WATCH_T0 = datetime.fromtimestamp(END - 3 * 3600, UTC)
"""When the rollouts of tests/watch_world.py (flags ``watch-*``) are first watched."""


def write(path: Path) -> Path:
    from tests import watch_world

    start = datetime.fromtimestamp(END - HOURS * 3600, UTC)
    watched = watch_world.prometheus_samples(WATCH_T0, start, END_TIME)
    history = itertools.chain(samples(), region_samples(), watched)
    return write_openmetrics(path, history, TYPES)


QUERIES = {
    "requests": 'sum(increase(http_requests_total{flag="{flag}",variant="{cohort}"}[{window}]))',
    "errors": 'sum(increase(http_requests_total{flag="{flag}",variant="{cohort}",status="500"}'
    "[{window}]))",
    "checkouts": 'sum(increase(checkout_started_total{flag="{flag}",variant="{cohort}"}'
    "[{window}]))",
    "orders": 'sum(increase(checkout_completed_total{flag="{flag}",variant="{cohort}"}[{window}]))',
    "latency_p99_ms": "1000 * histogram_quantile(0.99, sum by (le) (rate("
    'http_request_duration_seconds_bucket{flag="{flag}",variant="{cohort}"}[{window}])))',
    "latency_mean_ms": '1000 * sum(rate(http_request_duration_seconds_sum{flag="{flag}",'
    'variant="{cohort}"}[{window}])) / sum(rate(http_request_duration_seconds_count{'
    'flag="{flag}",variant="{cohort}"}[{window}]))',
}
