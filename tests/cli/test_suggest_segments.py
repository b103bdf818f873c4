"""``rollout plan suggest`` proposing a guardrail's breakdown by segment (issue 22) on the
file source: a week of hourly history with region and platform columns, the regions' error
rates known (eu-west at twice the others'), the platforms' the same."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.plan.model import RatioGuardrail, load_plan

END = datetime(2026, 3, 1, tzinfo=UTC)
REGIONS = {"us-east": 0.45, "eu-west": 0.30, "ap-south": 0.20, "sa-east": 0.045, "af-south": 0.005}
PLATFORMS = {"ios": 0.5, "android": 0.5}
BASE = (
    "plan",
    "suggest",
    "checkout",
    "--metrics-source",
    "file",
    "--metrics-file",
    "metrics.csv",
    "--flag-file",
    "flags.json",
    "--at",
    "2026-03-01T00:00Z",
    "--ratio",
    "error_rate=errors/requests",
)


BY_REGION = ("--segments-by", "region")


def write_history(path: Path, eu_west: float, labels: bool = True, hours: int = 168) -> None:
    """Hourly requests (Poisson, 4,000/h split by region and platform) and errors (1%;
    ``eu_west`` in eu-west), for the control cohort, ending at END."""
    rng = np.random.default_rng(22)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["time", "cohort", "metric", "value", "region", "platform"])
        for h in range(hours):
            at = (END - timedelta(hours=hours - h)).isoformat()
            for region, share in REGIONS.items():
                rate = eu_west if region == "eu-west" else 0.01
                for platform, half in PLATFORMS.items():
                    n = int(rng.poisson(4000 * share * half))
                    e = int(rng.binomial(n, rate))
                    tags = [region, platform] if labels else ["", ""]
                    out.writerow([at, "false", "requests", n, *tags])
                    out.writerow([at, "false", "errors", e, *tags])


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*BASE, *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def unwrapped(text: str) -> str:
    """The comments' words on one line."""
    return " ".join(" ".join(ln.strip()[2:] for ln in text.splitlines() if "# " in ln).split())


def test_a_region_with_twice_the_error_rate_is_proposed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv", eu_west=0.02)
    code, output = run()  # the file's own columns: region and platform
    assert code == 0, output
    (tmp_path / "checkout.yaml").write_text(output)
    guardrail = load_plan(tmp_path / "checkout.yaml").plan.guardrails[0]
    assert isinstance(guardrail, RatioGuardrail) and guardrail.segments is not None
    segments = guardrail.segments
    # the three regions with at least 10% of the requests are required; af-south (0.5%)
    # is pooled as other
    assert (segments.by, segments.require) == ("region", ["us-east", "eu-west", "ap-south"])
    assert (segments.min_share, segments.act_on) == (1.0, "any")
    words = unwrapped(output)
    assert "segments: error_rate differs by region: eu-west 2." in words
    assert "% elsewhere (x2." in words and "on 4 df, p < 0.0001" in words
    assert "Also tested: platform (" in words
    validated = CliRunner().invoke(app, ["validate", "checkout.yaml"])
    assert validated.exit_code == 0, validated.output


def test_json_gives_the_tests_behind_the_proposal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv", eu_west=0.02)
    code, output = run("--segments-by", "region,device", "--json")
    assert code == 0, output
    document = json.loads(output)
    assert document["plan"]["guardrails"][0]["segments"]["by"] == "region"
    found = document["evidence"]["guardrails"][0]["segments"]
    assert found["proposed_by"] == "region" and found["absent"] == ["device"]
    region, platform = found["tested"]
    assert (region["by"], region["furthest"], region["df"]) == ("region", "eu-west", 4)
    assert [s["name"] for s in region["segments"]][-1] == "other"
    # recomputed from the segments' totals: Cochran's Q with each segment's dispersion
    rows = region["segments"]
    p = sum(s["events"] for s in rows) / sum(s["trials"] for s in rows)
    weights = [s["trials"] / (s["dispersion"] * p * (1 - p)) for s in rows]
    mean = sum(w * s["rate"] for w, s in zip(weights, rows, strict=True)) / sum(weights)
    q = sum(w * (s["rate"] - mean) ** 2 for w, s in zip(weights, rows, strict=True))
    assert region["statistic"] == pytest.approx(q, rel=1e-9)
    assert platform["by"] == "platform" and platform["p_value"] > 0.005


def test_segments_that_do_not_differ_are_not_proposed_and_the_note_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv", eu_west=0.01)
    code, output = run()
    assert code == 0, output
    assert "\n    segments:" not in output
    words = unwrapped(output)
    assert "segments: not proposed; error_rate does not differ by segment" in words
    assert "region: " in words and "platform: " in words


def test_without_labels_nothing_is_said_and_a_label_asked_for_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv", eu_west=0.02, labels=False)
    code, output = run()
    assert code == 0, output
    assert "segments" not in output
    code, output = run("--segments-by", "region")
    assert code == 0, output
    assert "not tested: region (no requests in the history carry it)" in unwrapped(output)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--segments-by", "2region"), "--segments-by: '2region' is not a plain label name"),
        (("--segments-by", "cohort"), "--segments-by: 'cohort' is reserved"),
    ],
)
def test_bad_labels_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "metrics.csv", eu_west=0.02, hours=30)
    code, output = run(*extra)
    assert code == 2, output
    assert message in " ".join(output.split())


def test_segments_on_a_source_that_cannot_group_or_without_a_ratio_exit_2() -> None:
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "suggest",
            "checkout",
            "--metrics-source",
            "cloudwatch",
            "--query",
            "requests=x",
            "--query",
            "errors=y",
            "--ratio",
            "error_rate=errors/requests",
            "--segments-by",
            "region",
            "--flag-file",
            "flags.json",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--segments-by: the cloudwatch source cannot group by segment yet" in result.output
    result = CliRunner().invoke(
        app,
        [
            *BASE[:-2],
            "--mean",
            "latency=latency_ms",
            "--exposures",
            "requests",
            "--segments-by",
            "region",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "plan suggest breaks ratio guardrails down by segment, not means" in result.output
