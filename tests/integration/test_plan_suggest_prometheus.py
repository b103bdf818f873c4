"""`rollout plan suggest` against a real Prometheus 2.42 over 14 days of backfilled history
generated with known parameters (its own server: the shared session fixture's data stay as
they are).

The history, every 5 minutes, for everyone (the control variation, ``variant="false"``, as
metrics label traffic before a rollout):

* requests: Poisson around ``RATE`` per hour with a daily cycle ``1 + CYCLE·sin(2πt/1d)``;
* errors: clustered, so their variance is known to exceed binomial: failures arrive in
  clusters, a cluster of 2 with probability ``PAIR`` (a retried request failing twice), else
  of 1, at an overall error rate ``ERROR_RATE``. Given the requests, the errors' variance is
  ``PHI`` times binomial (derived below);
* p99 latency: one value per 5 minutes, log-normal: ``ln(value) ~ N(ln LATENCY, LOG_SD²)``.

The suggestion is then checked against what these parameters imply, within stated
tolerances that cover the sampling noise of 336 hours of data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rolloutcli.plan.model import MeanGuardrail, RatioGuardrail, load_plan
from rolloutcli.plan.writer import plan_duration
from rolloutcli.stats import sequential
from rolloutcli.stats.sizing import round_count_up, round_window
from rolloutcli.support.durations import parse_duration
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
DAYS = 14
STEP = 300  # seconds between samples
RATE = 60_000.0  # requests per hour on average
CYCLE = 0.5  # daily swing of the request rate
ERROR_RATE = 0.01
PAIR = 0.25  # chance an error cluster is a pair
LATENCY = 250.0  # ms, geometric mean of the p99
LOG_SD = 0.10  # sd of ln(p99) per 5-minute value
STAGES = (1.0, 5.0, 10.0, 25.0, 50.0)  # and 100
DETECT_ERRORS = 1.5  # --detect 50%
DETECT_LATENCY = 1.25  # --detect p99_latency=25%
POWER = 0.9

# Clusters start at rate π = p / (1 + PAIR) per request; a cluster is 1 + Bernoulli(PAIR)
# errors. Given n requests, K ~ Bin(n, π) clusters and D | K ~ Bin(K, PAIR) pairs:
# Var(K + D) = (1 + PAIR)² n π (1 - π) + PAIR (1 - PAIR) n π, over binomial n p (1 - p).
CLUSTER_RATE = ERROR_RATE / (1 + PAIR)
PHI = ((1 + PAIR) ** 2 * CLUSTER_RATE * (1 - CLUSTER_RATE) + PAIR * (1 - PAIR) * CLUSTER_RATE) / (
    ERROR_RATE * (1 - ERROR_RATE)
)

# Tolerances: the estimates from 14 days of data against the true parameters.
TOL_QUIET = 0.02  # hourly counts of ~30,000 are Poisson (sd 0.6%); the 10th percentile moves less
TOL_RATE = 0.02  # ~200,000 errors in all, clustered: relative sd about 0.3%
TOL_PHI = 0.25  # φ from 335 successive-hour pairs: relative sd about √(3/335) ≈ 9.5%
TOL_VARIANCE = 0.08  # a variance from 4,032 normal values: relative sd √(2/4032) ≈ 2.2%
TOL_LEVEL = 0.0065  # the mean of 4,032 values of ln(p99): sd 0.1/√4032 ≈ 0.0016

QUERIES = {
    "requests": 'sum(increase(app_requests_total{flag="{flag}",variant="{cohort}"}[{window}]))',
    "errors": 'sum(increase(app_errors_total{flag="{flag}",variant="{cohort}"}[{window}]))'
    " or vector(0)",
    "latency_p99_ms": 'app_latency_p99_ms{flag="{flag}",variant="{cohort}"}',
}


def rate_at(t: np.ndarray) -> np.ndarray:
    """Requests per second at epoch seconds ``t`` (the known daily cycle)."""
    return RATE / 3600 * (1 + CYCLE * np.sin(2 * math.pi * t / 86_400))


def step_times() -> np.ndarray:
    start = END.timestamp() - DAYS * 86_400
    return start + STEP * np.arange(DAYS * 86_400 // STEP + 1)


def samples(seed: int = 20260101) -> Iterator[Sample]:
    rng = np.random.default_rng(seed)
    times = step_times()
    labels = {"flag": "checkout", "variant": "false"}
    requests = errors = 0
    for i, t in enumerate(times):
        if i:  # the first sample is each counter's zero
            n = int(rng.poisson(rate_at(np.array([t - STEP / 2]))[0] * STEP))
            clusters = int(rng.binomial(n, CLUSTER_RATE))
            requests += n
            errors += clusters + int(rng.binomial(clusters, PAIR))
        yield ("app_requests_total", labels, requests, float(t))
        yield ("app_errors_total", labels, errors, float(t))
        if i:
            value = math.exp(rng.normal(math.log(LATENCY), LOG_SD))
            yield ("app_latency_p99_ms", labels, round(value, 6), float(t))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("suggest-prometheus")
    history = write_openmetrics(
        root / "history.om",
        samples(),
        {"app_requests": "counter", "app_errors": "counter", "app_latency_p99_ms": "gauge"},
    )
    blocks = backfill(history, root / "blocks", max_block_duration="24h")
    with running_prometheus(blocks, root) as server:
        yield server.url


def suggest(url: str, *extra: str) -> tuple[int, str]:
    args = [
        "plan",
        "suggest",
        "checkout",
        "--metrics-source",
        "prometheus",
        "--url",
        url,
        "--ratio",
        "error_rate=errors/requests",
        "--mean",
        "p99_latency=latency_p99_ms",
        "--log",
        "p99_latency",
        "--step",
        "latency_p99_ms=5m",
        "--detect",
        "50%",
        "--detect",
        "p99_latency=25%",
        "--power",
        str(POWER),
        "--flag-file",
        "../flags/flags.json",
        "--at",
        format_timestamp(END),
    ]
    for name, template in QUERIES.items():
        args += ["--query", f"{name}={template}"]
    return invoke(*args, *extra)


# ------------------------------------------------------------------ what the parameters imply


def true_quiet_rate() -> float:
    """The 10th percentile of the expected hourly requests (the cycle, without noise)."""
    times = step_times()[1:]
    expected = rate_at(times - STEP / 2) * STEP
    return float(np.quantile(expected.reshape(-1, 3600 // STEP).sum(axis=1), 0.1))


def information(detect: float) -> float:
    """The mean test's: where its normal mixture (scale = the effect) reaches 1/(1 - power)."""
    effect = math.log(detect)
    return sequential.information_needed(effect, effect, 1 - POWER)


def point_information(detect: float) -> float:
    """The rate test's: the median information at which the likelihood ratio of no effect
    against ``detect`` first reaches 1/(1 - power). Its log climbs d²/2 per unit of
    information with variance d², so the passage is inverse Gaussian (mean a/(d²/2), shape
    a²/d², a = log(1/(1 - power))), whose median scipy gives."""
    d, a = math.log(detect), math.log(1 / (1 - POWER))
    mean, shape = a / (d * d / 2), a * a / (d * d)
    return float(stats.invgauss.median(mean / shape, scale=shape))


def true_hours(share: float) -> dict[str, float]:
    """Hours each guardrail needs at ``share``, from the true parameters."""
    s = share
    quiet = true_quiet_rate()
    return {
        "error_rate": point_information(DETECT_ERRORS) / (quiet * ERROR_RATE * s * (1 - s)),
        "p99_latency": information(DETECT_LATENCY) * LOG_SD**2 / (12 * s * (1 - s)),
    }


def true_noise(name: str, share: float, hours: float) -> float:
    s = share
    if name == "error_rate":
        return math.sqrt(PHI / (true_quiet_rate() * ERROR_RATE * s * (1 - s) * hours))
    return math.sqrt(LOG_SD**2 / (s * (1 - s)) / (12 * hours))


def warn_percent(sigma: float) -> float:
    """warn as a percentage, unrounded: z(0.95)·sd on the log scale."""
    return 100 * (math.exp(1.6448536269514722 * sigma) - 1)


# ------------------------------------------------------------------ the tests


@pytest.fixture(scope="module")
def suggested(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    code, output = suggest(prometheus)
    assert code == 0, output
    root = tmp_path_factory.mktemp("suggested")
    (root / "plans").mkdir()
    path = root / "plans" / "checkout.yaml"
    path.write_text(output)
    return output, path


def comment_after(text: str, key: str, occurrence: int = 0) -> str:
    """The history note above ``detect:`` of the ``occurrence``-th guardrail, unwrapped."""
    blocks = text.split("  - name: ")[1:]
    lines = blocks[occurrence].splitlines()
    note = [line.strip()[2:] for line in lines if line.strip().startswith("# ")]
    joined = " ".join(note)
    assert key in joined, joined
    return joined


def test_history_readings_match_the_known_parameters(suggested: tuple[str, Path]) -> None:
    text, _ = suggested
    note = comment_after(text, "history:", 0)
    found = re.search(
        r"history: errors ([\d.]+)% of requests, ([\d,]+) requests/h on average, "
        r"([\d,]+)/h at the quiet hour, over (\d+)h; hour-to-hour variance ([\d.]+)x binomial",
        note,
    )
    assert found, note
    rate, mean_rate, quiet, hours, phi = found.groups()
    assert int(hours) == DAYS * 24
    assert float(rate) / 100 == pytest.approx(ERROR_RATE, rel=TOL_RATE)
    assert float(mean_rate.replace(",", "")) == pytest.approx(RATE, rel=TOL_QUIET)
    assert float(quiet.replace(",", "")) == pytest.approx(true_quiet_rate(), rel=TOL_QUIET)
    assert float(phi) == pytest.approx(PHI, rel=TOL_PHI)
    note = comment_after(text, "history:", 1)
    found = re.search(r"ln values average ([\d.]+) .* sd ([\d.]+) \(ln\) per value", note)
    assert found, note
    assert float(found.group(1)) == pytest.approx(math.log(LATENCY), abs=TOL_LEVEL)
    assert float(found.group(2)) ** 2 == pytest.approx(LOG_SD**2, rel=TOL_VARIANCE)
    assert "12 values/h at the quiet hour" in note


def test_stage_windows_and_samples_match_the_power_calculation(
    suggested: tuple[str, Path],
) -> None:
    _, path = suggested
    plan = load_plan(path).plan
    assert [s.percent for s in plan.stages] == [*STAGES, 100.0]
    tol = max(TOL_QUIET + TOL_RATE, TOL_VARIANCE)
    for stage in plan.stages[:-1]:
        s = stage.percent / 100
        needed = true_hours(s)
        slowest = max(needed.values())
        # the window is the slowest guardrail's hours, floored at 30m and rounded up; the
        # estimate may sit anywhere within the tolerance of the true requirement
        low, high = round_window(slowest * (1 - tol)), round_window(slowest * (1 + tol))
        assert low <= stage.window <= high, (stage.percent, stage.window, slowest)
        # min_samples: the smaller cohort's requests over those hours at the quiet rate
        expected = min(s, 1 - s) * true_quiet_rate() * slowest
        assert stage.min_samples == pytest.approx(expected, rel=tol + 0.01), stage.percent
        assert stage.min_samples == round_count_up(stage.min_samples)
    # the numbers exercise each rounding rule: the 30m floor, 15m, 30m and 1h grains; the
    # true requirements (10.2h, 2.1h, 1.13h, 32m, 24m: p99 latency's, the slower guardrail
    # at every stage) round to the same windows
    truth = [plan_duration(round_window(max(true_hours(p / 100).values()))) for p in STAGES]
    assert truth == ["11h", "2h30m", "1h30m", "45m", "30m"]
    assert [stage.min_duration for stage in plan.stages] == [
        "11h",
        "2h30m",
        "1h30m",
        "45m",
        "30m",
        "1d",
    ]
    assert plan.stages[-1].window == parse_duration("1d")


def test_thresholds_sit_above_healthy_noise_and_below_detect(
    suggested: tuple[str, Path],
) -> None:
    _, path = suggested
    plan = load_plan(path).plan
    by_name = {g.name: g for g in plan.guardrails}
    for name, detect in (("error_rate", DETECT_ERRORS), ("p99_latency", DETECT_LATENCY)):
        g = by_name[name]
        assert g.detect == f"+{round(100 * (detect - 1)):g}%"
        assert g.significant == ["pause", "rollback"]
        # the noisiest stage's sd at its window end, from the true parameters
        sigma = max(
            true_noise(name, s.percent / 100, s.window.total_seconds() / 3600)
            for s in plan.stages[:-1]
        )
        tol = TOL_PHI / 2 + TOL_QUIET if name == "error_rate" else TOL_VARIANCE / 2
        warn = g.tiers["warn"][0].factor
        low, high = warn_percent(sigma * (1 - tol)), warn_percent(sigma * (1 + tol))
        # rounded outwards to a whole percent (or 0.5 below 10%)
        grain = 1.0 if low >= 10 else 0.5
        assert low - 1e-9 <= 100 * (warn - 1) <= high + grain, (name, warn, low, high)
        assert 1 < warn < detect
        assert g.tiers["pause"][0].factor == warn
        assert g.tiers["rollback"][0].factor == pytest.approx(detect)
    assert isinstance(by_name["error_rate"], RatioGuardrail)
    latency = by_name["p99_latency"]
    assert isinstance(latency, MeanGuardrail) and latency.scale == "log"


def test_the_output_validates_and_every_number_has_a_comment(
    suggested: tuple[str, Path],
) -> None:
    text, path = suggested
    code, output = invoke("validate", str(path))
    assert code == 0, output
    assert "(6 stages, 2 guardrails)" in " ".join(output.split())
    in_queries = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if line.startswith("  queries:"):
            in_queries = True
            continue
        if in_queries and not line.startswith("    "):
            in_queries = False
        if in_queries:
            continue  # query templates (their digits are PromQL)
        value = line.split("#", 1)[0].split(":", 1)[-1]
        if re.match(r"\s*[\"']?[+-]?\d", value):  # a number, duration or threshold
            assert "# " in line, line
    assert "{cohort} = false" in text  # says which cohort's history was read


def test_too_little_history_is_refused(prometheus: str) -> None:
    # the data begin 14 days before END: ask for a suggestion 6 hours after they begin
    early = END - timedelta(days=DAYS) + timedelta(hours=6)
    code, output = suggest(prometheus, "--at", format_timestamp(early))
    assert code == 3, output
    assert "only 6h of history" in output
    assert "need at least 24h" in output


def test_no_data_is_refused_naming_the_query(prometheus: str) -> None:
    code, output = suggest(prometheus, "--control", "off")
    assert code == 3, output
    assert 'variant="off"' in output
    assert "no data for" in output
