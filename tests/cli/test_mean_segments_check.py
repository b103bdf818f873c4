"""`rollout check` on a mean guardrail judged per segment (issue 22), on the file source:
the checkout-v2 example's p99 latency rewritten as one value per region, cohort and
5-minute interval, one region made slower in the treatment."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rolloutcli.cli.main import app

AT = "2026-11-02T12:00Z"
REGIONS = ("eu-west", "us-east", "us-west", "ap-south", "sa-east")
LEVEL = 420.0  # ms
SD = 25.0


def by_region(workspace: Path, slower: float = 1.0, scale: str = "linear") -> None:
    """Rewrite checkout-v2's p99 latency per region (normal around LEVEL; eu-west's
    treatment times ``slower``) and give its p99_latency guardrail ``segments``."""
    rng = np.random.default_rng(5)
    path = workspace / "metrics" / "checkout-v2.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "cohort", "metric", "value", "region"])
    for row in rows:
        if row["metric"] != "latency_p99_ms":
            writer.writerow([row["time"], row["cohort"], row["metric"], row["value"], ""])
            continue
        for region in REGIONS:
            factor = slower if region == "eu-west" and row["cohort"] == "treatment" else 1.0
            value = round(float(rng.normal(LEVEL, SD)) * factor, 1)
            writer.writerow([row["time"], row["cohort"], "latency_p99_ms", value, region])
    path.write_text(out.getvalue(), encoding="utf-8")
    plan = workspace / "plans" / "checkout-v2.yaml"
    text = plan.read_text(encoding="utf-8")
    anchor = '    detect: "+25%"\n'
    assert text.count(anchor) == 1
    block = f"    scale: {scale}\n    segments: {{by: region, require: [eu-west]}}\n"
    plan.write_text(text.replace(anchor, anchor + block), encoding="utf-8")


def check_json() -> dict[str, object]:
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT, "--json"])
    assert result.exit_code in (0, 1), result.output
    found: dict[str, object] = json.loads(result.stdout)
    return found


def latency(document: dict[str, object]) -> dict[str, object]:
    (found,) = [m for m in document["metrics"] if m["name"] == "p99_latency"]  # type: ignore[attr-defined]
    return found  # type: ignore[no-any-return]


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_a_slower_region_rolls_back_naming_it(workspace: Path, scale: str) -> None:
    by_region(workspace, slower=1.8, scale=scale)
    document = check_json()
    assert document["verdict"] == "rollback", document["reasons"]
    p99 = latency(document)
    assert (p99["segment_by"], p99["breached_segment"]) == ("region", "eu-west")
    segments = {s["name"]: s for s in p99["segments"]}  # type: ignore[attr-defined]
    assert sorted(segments) == sorted(REGIONS)
    eu = segments["eu-west"]
    assert eu["status"] == "rollback" and eu["threshold"] == "rollback +50%"
    # 24 values a cohort in each region over the 2-hour stage
    assert (eu["treatment_n"], eu["control_n"]) == (24, 24)
    assert 1.6 < eu["treatment"] / eu["control"] < 2.0
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    # over everyone eu-west is a fifth of the values: +16%, under the pause tier
    assert p99["relative_change"] < 0.25
    (reason,) = [r for r in document["reasons"] if "eu-west" in r]  # type: ignore[attr-defined]
    assert reason.startswith("p99_latency breached rollback +50%: ")
    assert "in region=eu-west" in reason and "overall" in reason


def test_regions_alike_are_not_rolled_back_and_share_the_alpha(workspace: Path) -> None:
    by_region(workspace)
    document = check_json()
    assert document["verdict"] not in ("rollback", "pause"), document["reasons"]
    p99 = latency(document)
    assert p99["status"] == "ok"
    assert {s["status"] for s in p99["segments"]} == {"ok"}  # type: ignore[attr-defined]
    # the total and 5 regions share the guardrail's level (Bonferroni, 6 comparisons);
    # that level is Holm's across the plan's three guardrails: alpha / 3, / 2 or / 1
    levels = [pytest.approx(0.05 / rank / 6) for rank in (3, 2, 1)]
    assert p99["segment_alpha"] in levels


def test_a_latency_without_the_region_column_holds(workspace: Path) -> None:
    by_region(workspace)
    path = workspace / "metrics" / "checkout-v2.csv"
    text = path.read_text(encoding="utf-8").replace("region", "zone", 1)
    path.write_text(text, encoding="utf-8")
    document = check_json()
    assert document["verdict"] == "hold"
    p99 = latency(document)
    assert "latency_p99_ms (treatment) has no region label or column" in str(p99["note"])
