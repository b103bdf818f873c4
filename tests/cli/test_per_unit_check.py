"""`rollout check` on a per-unit ratio guardrail (issue 20): the shipped SQL example plan
(DuckDB over CSV) with one more guardrail whose events: and trials: name one query that
returns a row per user; the counts shown are the users' sums, and the test is the delta
method's (sequential or fixed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from rolloutcli.cli.main import app

AT = "2026-11-02T12:00Z"

QUERY = (
    "SELECT min(ts) AS time, sum(failed) AS events, sum(sent) AS trials FROM "
    "read_csv('../metrics/users.csv', types={'cohort': 'VARCHAR'}) WHERE cohort = {role} "
    "AND ts >= {start} AND ts < {end} GROUP BY user_id"
)
GUARDRAIL = """  - name: errors_per_user
    kind: ratio
    events: errors_per_user
    trials: errors_per_user
    thresholds: {warn: "+20%", pause: "+2pp", rollback: ["2x", "< 20%"]}
"""


def users(treatment_rate: float) -> list[tuple[str, str, str, int, int]]:
    """Every 5 minutes from 10:00 to 11:55 five new treatment users and 95 control ones,
    each with its own error rate (Beta, mean 1%, or ``treatment_rate`` in the treatment)
    and 1 to 20 requests."""
    rng = np.random.default_rng(7)
    rows = []
    for slot in range(24):
        stamp = f"2026-11-02 {10 + slot // 12:02d}:{slot % 12 * 5:02d}:00"
        for cohort, count, rate in (("treatment", 5, treatment_rate), ("control", 95, 0.01)):
            sent = rng.integers(1, 21, count)
            failed = rng.binomial(sent, rng.beta(rate * 10, (1 - rate) * 10, count))
            for i in range(count):
                rows.append((stamp, cohort, f"{cohort}-{slot}-{i}", int(sent[i]), int(failed[i])))
    return rows


def add_per_unit(
    workspace: Path, rows: list[tuple[str, str, str, int, int]], method: str = "sequential"
) -> None:
    with (workspace / "metrics" / "users.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("ts", "cohort", "user_id", "sent", "failed"))
        writer.writerows(rows)
    plan = workspace / "plans" / "checkout-v2-sql.yaml"
    text = plan.read_text(encoding="utf-8")
    text = text.replace("  queries:\n", f"  queries:\n    errors_per_user: {json.dumps(QUERY)}\n")
    text = text.replace("guardrails:\n", "guardrails:\n" + GUARDRAIL)
    text = text.replace("  method: sequential\n", f"  method: {method}\n")
    plan.write_text(text, encoding="utf-8")


def check(*extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["check", "checkout-v2-sql", "--at", AT, "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def sums(rows: list[tuple[str, str, str, int, int]], cohort: str) -> tuple[int, int]:
    mine = [r for r in rows if r[1] == cohort]
    return sum(r[3] for r in mine), sum(r[4] for r in mine)


def per_unit(result: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in result["metrics"] if m["name"] == "errors_per_user")
    return found


def test_a_healthy_per_unit_ratio_is_ok_with_the_users_sums(workspace: Path) -> None:
    rows = users(0.01)
    add_per_unit(workspace, rows)
    code, result = check()
    assert code == 0, result
    found = per_unit(result)
    assert found["status"] == "ok" and found["test"] == "seq-normal"
    requests, errors = sums(rows, "treatment")
    assert (found["treatment_n"], found["treatment"]) == (requests, errors / requests)
    requests, errors = sums(rows, "control")
    assert (found["control_n"], found["control"]) == (requests, errors / requests)
    assert result["verdict"] == "go", result["reasons"]


def test_a_regression_rolls_back_on_the_fixed_delta_test(workspace: Path) -> None:
    add_per_unit(workspace, users(0.06), method="fixed")
    code, result = check("--fail-on-breach")
    assert result["verdict"] == "rollback", result["reasons"]
    assert code == 1
    found = per_unit(result)
    assert (found["status"], found["test"], found["threshold"]) == (
        "rollback",
        "delta-z",
        "rollback 2x",
    )
    assert found["p_value"] < 0.05


def test_explain_shows_the_per_unit_query(workspace: Path) -> None:
    add_per_unit(workspace, users(0.01))
    result = CliRunner().invoke(
        app, ["check", "checkout-v2-sql", "--at", AT, "--explain", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["queries"]
    verbs = {r["verb"] for r in rows if r["metric"] == "errors_per_user"}
    assert verbs == {"unit_series"}
    request = next(r for r in rows if r["metric"] == "errors_per_user")["requests"][0]
    assert "GROUP BY user_id" in request["query"] and "$role" in request["query"]
