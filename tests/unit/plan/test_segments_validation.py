"""``segments:`` on a guardrail (issue 22): what loads, and each mistake as one line with
the file, the line and the key to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutcli.plan.model import load_plan
from tests.unit.plan.test_plan_validation import base_plan, plan_problems, write_plan

RATIO = '      rollback: "+50%"\n'


def with_segments(block: str, text: str | None = None) -> str:
    text = text or base_plan()
    assert text.count(RATIO) == 1
    return text.replace(RATIO, RATIO + block)


def test_segments_load_with_their_defaults(tmp_path: Path) -> None:
    path = write_plan(tmp_path, with_segments("    segments: {by: region}\n"))
    spec = load_plan(path).plan.guardrails[0].segments
    assert spec is not None
    assert (spec.by, spec.require, spec.min_share, spec.act_on) == ("region", [], 1.0, "any")
    assert spec.min_fraction == 0.01


def test_segments_take_every_key(tmp_path: Path) -> None:
    block = (
        "    segments:\n      by: platform\n      require: [ios, android]\n"
        "      min_share: 2%\n      act_on: total\n"
    )
    spec = load_plan(write_plan(tmp_path, with_segments(block))).plan.guardrails[0].segments
    assert spec is not None
    assert (spec.by, spec.require, spec.min_share, spec.act_on) == (
        "platform",
        ["ios", "android"],
        2.0,
        "total",
    )


@pytest.mark.parametrize(
    ("block", "line", "problem"),
    [
        (
            "    segments: {by: region-code}\n",
            29,
            "guardrails[0].segments.by: 'region-code' is not a plain label name (letters, "
            "digits and _, not starting with a digit)",
        ),
        (
            "    segments: {by: cohort}\n",
            29,
            "guardrails[0].segments.by: 'cohort' is reserved: name the segment's own label",
        ),
        (
            "    segments: {by: region, min_share: 60%}\n",
            29,
            "guardrails[0].segments.min_share: min_share must be below 50%",
        ),
        (
            "    segments:\n      by: region\n      require: [eu, eu]\n",
            31,
            "guardrails[0].segments.require[1]: 'eu' is listed twice",
        ),
        (
            "    segments:\n      by: region\n      require: [other]\n",
            31,
            "guardrails[0].segments.require[0]: other is the pooled segment, not one to require",
        ),
        (
            '    segments:\n      by: region\n      require: ["eu\\e[2Jwest"]\n',
            31,
            "guardrails[0].segments.require[0]: 'eu\\x1b[2Jwest' is not printable text: name "
            "a segment",
        ),
    ],
)
def test_segment_mistakes_name_the_line_and_key(
    tmp_path: Path, block: str, line: int, problem: str
) -> None:
    path = write_plan(tmp_path, with_segments(block))
    assert plan_problems(path) == [f"{path}:{line}: {problem}"]


def test_segments_need_a_ratio_guardrail_the_sequential_method_and_a_grouping_source(
    tmp_path: Path,
) -> None:
    text = with_segments("    segments: {by: region}\n")
    text = text.replace(
        "  source:\n    kind: file\n    path: metrics.csv\n",
        (
            "  source:\n    kind: cloudwatch\n  queries:\n"
            "    errors: {query: 'Checkout Errors Sum Variant={cohort}'}\n"
            "    requests: {query: 'Checkout Requests Sum Variant={cohort}'}\n"
        ),
    )
    text += "statistics:\n  method: fixed\n"
    problems = plan_problems(write_plan(tmp_path, text))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "guardrails[0].segments: judging per segment needs statistics.method: sequential",
        "guardrails[0].segments: the cloudwatch source cannot group by segment yet "
        "(file, prometheus, datadog and sql can)",
    ]


MEAN = (
    "  - name: latency\n    kind: mean\n    metric: latency_ms\n    thresholds:\n"
    '      rollback: "+50%"\n    segments: {by: region}\n'
)


def test_segments_on_a_mean_guardrail_load_on_the_file_source(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, base_plan() + MEAN)).plan
    spec = plan.guardrails[1].segments
    assert spec is not None and spec.by == "region"


def test_segments_on_a_mean_guardrail_load_on_datadog(tmp_path: Path) -> None:
    text = (base_plan() + MEAN).replace(
        "  source:\n    kind: file\n    path: metrics.csv\n",
        "  source:\n    kind: datadog\n  queries:\n"
        "    errors: 'sum:e{v:{cohort}}'\n    requests: 'sum:r{v:{cohort}}'\n"
        "    latency_ms: 'avg:l{v:{cohort}}'\n",
    )
    spec = load_plan(write_plan(tmp_path, text)).plan.guardrails[1].segments
    assert spec is not None and spec.by == "region"


WINDOWED = "WHERE v = {cohort} AND ts >= {start} AND ts < {end}"
SQL_SOURCE = (
    "  source:\n    kind: sql\n    url: 'duckdb:'\n  queries:\n"
    f"    errors: {{query: 'SELECT ts AS time, region, value FROM e {WINDOWED}'}}\n"
    f"    requests: {{query: 'SELECT ts AS time, region, value FROM r {WINDOWED}'}}\n"
)


def sql_plan(tmp_path: Path, by: str) -> Path:
    text = with_segments(f"    segments: {{by: {by}}}\n")
    text = text.replace("  source:\n    kind: file\n    path: metrics.csv\n", SQL_SOURCE)
    return write_plan(tmp_path, text)


def test_the_sql_source_takes_segments(tmp_path: Path) -> None:
    spec = load_plan(sql_plan(tmp_path, "region")).plan.guardrails[0].segments
    assert spec is not None and spec.by == "region"


@pytest.mark.parametrize("by", ["Events", "trials", "TIME"])
def test_the_sql_source_refuses_a_segment_column_of_its_own(tmp_path: Path, by: str) -> None:
    found = plan_problems(sql_plan(tmp_path, by))
    assert [p.split(": ", 1)[1] for p in found] == [
        f"guardrails[0].segments.by: '{by}' is reserved: name the segment's own label"
    ]
