"""`rollout check` on a guardrail judged per segment (issue 22), on the file source: the
checkout-v2 example's requests and errors split by a region column, one region made worse.

The example's requests (its exposures, so the split stays as planned) are divided among
the regions in fixed shares; errors are drawn per region and cohort from a seeded binomial
at the control's rate, times a factor in the treatment of the region that regresses."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from rolloutcli.cli.main import app

AT = "2026-11-02T12:00Z"
RATE = 0.012  # the example's error rate, in both cohorts


def segmented(
    workspace: Path,
    shares: dict[str, float],
    worse: dict[str, float] | None = None,
    seed: int = 7,
    segments: str = "{by: region}",
) -> None:
    """Rewrite checkout-v2's requests and errors per region (``worse``: the treatment's
    error-rate factor per region), and give its error_rate guardrail ``segments``."""
    rng = np.random.default_rng(seed)
    path = workspace / "metrics" / "checkout-v2.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "cohort", "metric", "value", "region"])
    names = list(shares)
    for row in rows:
        if row["metric"] == "errors":
            continue
        if row["metric"] != "requests":
            writer.writerow([row["time"], row["cohort"], row["metric"], row["value"], ""])
            continue
        total = int(float(row["value"]))
        split = rng.multinomial(total, [shares[n] for n in names])
        for name, requests in zip(names, split, strict=True):
            factor = (worse or {}).get(name, 1.0) if row["cohort"] == "treatment" else 1.0
            errors = rng.binomial(int(requests), min(1.0, RATE * factor))
            writer.writerow([row["time"], row["cohort"], "requests", int(requests), name])
            writer.writerow([row["time"], row["cohort"], "errors", int(errors), name])
    path.write_text(out.getvalue(), encoding="utf-8")
    plan = workspace / "plans" / "checkout-v2.yaml"
    text = plan.read_text(encoding="utf-8")
    anchor = '    detect: "+50%"                 # the regression the rollout must be able to see\n'
    assert text.count(anchor) == 1
    plan.write_text(text.replace(anchor, anchor + f"    segments: {segments}\n"), encoding="utf-8")


REGIONS5 = {"eu-west": 0.1, "us-east": 0.35, "us-west": 0.25, "ap-south": 0.2, "sa-east": 0.1}


def check_json(*extra: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT, "--json", *extra])
    assert result.exit_code in (0, 1), result.output
    found: dict[str, object] = json.loads(result.stdout)
    return found


REGIONS8 = {
    "eu-west": 0.2,
    "eu-north": 0.1,
    "us-east": 0.2,
    "us-west": 0.15,
    "ap-south": 0.1,
    "ap-east": 0.1,
    "sa-east": 0.1,
    "af-south": 0.05,
}


def test_a_regression_in_one_region_rolls_back_naming_it(workspace: Path) -> None:
    segmented(workspace, REGIONS5, worse={"eu-west": 5.0})
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[3] == "verdict ROLLBACK"
    reason = " ".join(line.strip() for line in lines[4:6])
    assert reason.startswith("• error_rate breached rollback 2x: +430.8% in region=eu-west")
    assert "+44.9% overall" in reason
    start = lines.index("error_rate by region: 5 segments, each tested at alpha 0.0028:")
    rows = lines[start + 1 : start + 6]
    assert [row.split()[:2] for row in rows] == [
        ["us-east", "ok"],
        ["us-west", "ok"],
        ["ap-south", "ok"],
        ["eu-west", "rollback"],
        ["sa-east", "ok"],
    ]
    assert all(len(line) <= 80 for line in lines)


def test_check_json_lists_each_segment_of_the_guardrail(workspace: Path) -> None:
    segmented(workspace, REGIONS5, worse={"eu-west": 5.0})
    document = check_json()
    assert document["verdict"] == "rollback"
    metrics = {m["name"]: m for m in document["metrics"]}  # type: ignore[attr-defined]
    error_rate = metrics["error_rate"]
    assert (error_rate["segment_by"], error_rate["breached_segment"]) == ("region", "eu-west")
    segments = {s["name"]: s for s in error_rate["segments"]}
    assert list(segments) == ["us-east", "us-west", "ap-south", "eu-west", "sa-east"]
    eu = segments["eu-west"]
    assert eu["status"] == "rollback"
    assert eu["threshold"] == "rollback 2x"
    assert eu["treatment"] > 4 * eu["control"]
    assert eu["bounds"]["low"] > 1.0  # the whole interval is past 2x
    assert {s["status"] for n, s in segments.items() if n != "eu-west"} == {"ok"}
    assert metrics["p99_latency"]["segments"] is None
    assert error_rate["relative_change"] < 0.5  # over everyone it stays under pause


def test_healthy_rollout_with_eight_regions_is_not_rolled_back(workspace: Path) -> None:
    segmented(workspace, REGIONS8, seed=11)
    document = check_json()
    assert document["verdict"] not in ("rollback", "pause")
    (error_rate,) = [m for m in document["metrics"] if m["name"] == "error_rate"]  # type: ignore[attr-defined]
    assert error_rate["status"] == "ok"
    assert len(error_rate["segments"]) == 8
    assert {s["status"] for s in error_rate["segments"]} == {"ok"}
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT], env={"COLUMNS": "80"})
    assert "error_rate by region: 8 segments, each tested at alpha 0.0019 (all within " in (
        result.output.replace("\n", " ")
    )


def test_a_required_region_missing_holds_and_names_it(workspace: Path) -> None:
    segmented(workspace, REGIONS5, segments="{by: region, require: [eu-west, me-central]}")
    document = check_json()
    assert document["verdict"] == "hold"
    assert (
        "no data for error_rate: region=me-central has no traffic in the stage, and "
        "segments.require names it" in document["reasons"]
    )


def test_small_regions_are_pooled_into_other(workspace: Path) -> None:
    shares = {"eu-west": 0.6, "us-east": 0.385, "tiny-1": 0.01, "tiny-2": 0.005}
    segmented(workspace, shares, segments="{by: region, min_share: 2%}")
    document = check_json()
    (error_rate,) = [m for m in document["metrics"] if m["name"] == "error_rate"]  # type: ignore[attr-defined]
    assert [s["name"] for s in error_rate["segments"]] == ["eu-west", "us-east", "other"]


def test_act_on_total_shows_a_regressed_region_without_acting(workspace: Path) -> None:
    segmented(workspace, REGIONS5, worse={"eu-west": 5.0}, segments="{by: region, act_on: total}")
    document = check_json()
    assert document["verdict"] != "rollback"
    (error_rate,) = [m for m in document["metrics"] if m["name"] == "error_rate"]  # type: ignore[attr-defined]
    assert error_rate["breached_segment"] is None
    assert {s["name"]: s["status"] for s in error_rate["segments"]}["eu-west"] == "rollback"


def test_explain_shows_the_grouped_calls(workspace: Path) -> None:
    segmented(workspace, REGIONS5)
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT, "--explain"])
    assert result.exit_code == 0, result.output
    assert "errors treatment (True): per interval and segment (by region) over the stage" in (
        result.output
    )
    assert "grouped by region" in result.output


def test_a_missing_region_column_holds(workspace: Path) -> None:
    segmented(workspace, REGIONS5, segments="{by: zone}")
    document = check_json()
    assert document["verdict"] == "hold"
    (reason,) = [r for r in document["reasons"] if "zone" in r]  # type: ignore[attr-defined]
    assert reason.startswith(
        "no data for error_rate: requests (treatment) has no zone label or column, so it "
        "cannot be judged per zone (segments.by)"
    )


def test_a_region_label_with_control_bytes_is_shown_quoted(workspace: Path) -> None:
    """A label value comes from the metrics source: an escape sequence in it must not
    reach the terminal, the JSON or the records raw."""
    hostile = "eu\x1b[31mwest\x07"
    segmented(
        workspace,
        {**REGIONS5, hostile: REGIONS5["eu-west"]} | {"eu-west": 0.0},
        worse={hostile: 5.0},
    )
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "in region='eu\\x1b[31mwest\\x07'" in " ".join(result.output.split())
    names = [s["name"] for g in check_json()["metrics"] for s in g.get("segments") or []]
    assert "'eu\\x1b[31mwest\\x07'" in names


def markdown(workspace: Path) -> str:
    result = CliRunner().invoke(app, ["check", "checkout-v2", "--at", AT, "--output", "markdown"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_markdown_folds_the_segments_under_the_table_and_opens_them_on_a_breach(
    workspace: Path,
) -> None:
    segmented(workspace, REGIONS5, worse={"eu-west": 5.0})
    text = markdown(workspace)
    # markdown escapes the name's underscore
    head = r"<details open><summary>error\_rate by region: 5 segments, each tested at alpha 0.0028"
    start = text.index(head)
    assert text.index("| guardrail | status |") < start  # under the guardrails' table
    block = text[start : text.index("</details>", start)]
    lines = block.splitlines()
    assert lines[0] == head + "</summary>"
    assert lines[2].startswith("| segment | status | control | treatment | change |")
    rows = [line.split(" | ") for line in lines[4:9]]
    assert [(row[0], row[1].split(" — ")[0]) for row in rows] == [
        ("| us-east", "ok"),
        ("| us-west", "ok"),
        ("| ap-south", "ok"),
        ("| eu-west", "🔴 rollback"),
        ("| sa-east", "ok"),  # past warn, with the note saying so
    ]
    eu = rows[3]
    assert eu[4].startswith("+430.8%") and eu[6] == "rollback 2x"
    assert len(lines) == 10 and lines[9] == ""  # five rows, then a blank line before the end
    assert text.count("<details") == 1  # p99_latency has no segments


def test_markdown_keeps_healthy_segments_collapsed(workspace: Path) -> None:
    segmented(workspace, REGIONS8, seed=11)
    text = markdown(workspace)
    assert (
        r"<details><summary>error\_rate by region: 8 segments, each tested at alpha 0.0019 "
        "(all within thresholds)</summary>" in text
    )
    block = text[text.index("<details>") : text.index("</details>")]
    assert block.count("\n| ") == 10  # the header, its rule and eight segments
