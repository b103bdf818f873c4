"""Which layout a table takes at which width, and exactly what it reads: the guardrails'
table or blocks, the evidence notation and its legend, history's changes, and the live
view that keeps its footer."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console, Group
from rich.text import Text
from typer.testing import CliRunner

from rolloutcli.cli.main import app
from rolloutcli.render.console import history_change
from rolloutcli.render.guardrails import without_query
from rolloutcli.render.layout import AboveFooter
from rolloutcli.render.values import evidence_legend, evidence_text

AT = "2026-11-02T12:00Z"

BLOCKS = """\
error_rate  ok
  control 1.009% n=228,357 · treatment 1.088% n=12,045
  change +7.7% [-19.0%, +53.6%] · evidence e=1
  warn +20% · pause +50% · rollback 2x
p99_latency  ok
  control 419.8 ms n=24 · treatment 422.2 ms n=24
  change +0.6% [-12.7 ms, +29.7 ms] · evidence e=1
  warn +10% · pause +25% · rollback +50%, < 800ms
conversion  ok
  control 52.074% n=68,201 · treatment 52.678% n=3,603
  change +1.2% [-6.9%, +22.9%] · evidence e=1
  warn -3% · pause -8% · rollback -15%
evidence: e=sequential e-value, a breach needs 1/alpha
"""

TABLE = """\
┏━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━┓
┃ metric      ┃ control   ┃ treatment ┃      change [bounds] ┃ warn / pause / rollback     ┃ evidence ┃ status ┃
┡━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━┩
│ error_rate  │ 1.009%    │ 1.088%    │                +7.7% │ +20% / +50% / 2x            │      e=1 │ ok     │
│             │ n=228,357 │ n=12,045  │     [-19.0%, +53.6%] │                             │          │        │
│ p99_latency │ 419.8 ms  │ 422.2 ms  │                +0.6% │ +10% / +25% / +50%, < 800ms │      e=1 │ ok     │
│             │ n=24      │ n=24      │ [-12.7 ms, +29.7 ms] │                             │          │        │
│ conversion  │ 52.074%   │ 52.678%   │                +1.2% │ -3% / -8% / -15%            │      e=1 │ ok     │
│             │ n=68,201  │ n=3,603   │      [-6.9%, +22.9%] │                             │          │        │
└─────────────┴───────────┴───────────┴──────────────────────┴─────────────────────────────┴──────────┴────────┘
evidence: e=sequential e-value, a breach needs 1/alpha
"""  # noqa: E501


def check_output(columns: str | None, *args: str) -> str:
    env = {"COLUMNS": columns} if columns else {}
    result = CliRunner().invoke(app, ["check", "checkout-v2", *args], env=env)
    return result.output


def guardrail_lines(output: str) -> str:
    """The guardrails' part of a check: from the first table or block line to the legend."""
    lines = output.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(("┏", "error_rate")))
    end = next(i for i, line in enumerate(lines) if line.startswith("evidence:"))
    return "".join(lines[start : end + 1])


@pytest.mark.parametrize("columns", ["60", "80", "111"])
def test_below_the_tables_width_each_guardrail_is_a_block(workspace: Path, columns: str) -> None:
    assert guardrail_lines(check_output(columns, "--at", AT)) == BLOCKS


@pytest.mark.parametrize("columns", ["112", "200"])
def test_where_the_table_fits_it_is_the_table(workspace: Path, columns: str) -> None:
    assert guardrail_lines(check_output(columns, "--at", AT)) == TABLE


def test_without_a_terminal_or_columns_the_output_fits_80_columns(workspace: Path) -> None:
    output = check_output(None, "--at", AT)
    assert guardrail_lines(output) == BLOCKS
    assert max(len(line) for line in output.splitlines()) <= 80


def test_no_data_reads_no_data_and_its_detail_is_one_line_without_the_query(
    workspace: Path,
) -> None:
    output = check_output("120", "--at", "2026-11-02T10:00Z")
    assert "│ error_rate  │ —       │ —         │               — │ +20% / +50% / 2x" in output
    assert "│  not yet │ no data │" in output
    assert "  • no data for error_rate: requests (treatment) has no data in the window\n" in (
        output
    )
    assert "  (the queries: rollout check checkout-v2 --explain)\n" in output
    assert "checkout-v2.csv: metric=" not in output  # the query: check --explain prints it


@pytest.mark.parametrize(
    ("p_value", "e_value", "test", "expected"),
    [
        (0.04321, None, "welch-t", "p=0.043"),
        (0.5, None, "z", "p=0.5"),
        (1.0, 1.0, "seq-binomial", "e=1"),
        (0.00023, 4315.2, "seq-conditional-binomial", "e=4,315"),
        (1e-12, 2.5e9, "seq-normal", "e=2.5e+09"),
        (None, 3.25, None, "e=3.2"),
        (None, None, None, "not yet"),
    ],
)
def test_evidence_says_what_it_is(
    p_value: float | None, e_value: float | None, test: str | None, expected: str
) -> None:
    assert evidence_text(p_value, e_value, test) == expected


def test_the_legend_names_only_the_notations_used() -> None:
    assert evidence_legend(["e=1", "not yet"]) == (
        "evidence: e=sequential e-value, a breach needs 1/alpha; not yet=no test ran"
    )
    assert evidence_legend(["p=0.043"]) == "evidence: p=p-value (fixed-horizon test)"
    assert evidence_legend([]) is None


def test_a_data_problem_without_its_query() -> None:
    sentence = "requests (treatment) has no data in the window · f.csv: metric=requests"
    assert without_query(sentence) == "requests (treatment) has no data in the window"
    assert without_query("all guardrails within thresholds") == "all guardrails within thresholds"


def entry(
    event: str, before: float | None, after: float | None, stage: str | None = None
) -> object:
    return SimpleNamespace(event=event, percent_before=before, percent_after=after, stage=stage)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (entry("advance", 5, 10, "10%"), "5% → 10% (10%)"),
        (entry("pause", 10, 10), "at 10%"),
        (entry("pause", 0, None), "at 0%"),  # was "0% →", with nothing after the arrow
        (entry("resume", None, 25), "at 25%"),
        (entry("kill", 25, None), "25% → off"),
        (entry("kill", None, None), "flag off"),
        (entry("notify", None, None), ""),
        (entry("advance", None, None, "beta"), "stage beta"),
    ],
)
def test_a_history_change_is_complete_or_absent(item: object, expected: str) -> None:
    assert history_change(item) == expected


def render(renderable: object, width: int = 40) -> str:
    console = Console(file=StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def test_a_view_taller_than_the_screen_keeps_its_footer() -> None:
    body = Group(*(Text(f"line {n}") for n in range(1, 11)))
    view = AboveFooter(body, Text("next check soon · Ctrl-C stops"), height=6)
    assert render(view) == (
        "line 1\nline 2\nline 3\nline 4\n"
        "… 6 more lines: a taller terminal shows…\n"
        "next check soon · Ctrl-C stops\n"
    )


def test_a_view_that_fits_is_whole() -> None:
    body = Group(Text("line 1"), Text("line 2"))
    assert render(AboveFooter(body, Text("footer"), height=6)) == "line 1\nline 2\nfooter\n"


def test_history_turns_to_blocks_where_its_table_would_squeeze(live_workspace: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["advance", "checkout-v2", "--yes"]).exit_code == 0
    narrow = runner.invoke(app, ["history", "checkout-v2"], env={"COLUMNS": "80"}).output
    wide = runner.invoke(app, ["history", "checkout-v2"], env={"COLUMNS": "200"}).output
    assert "┏" not in narrow and "┏" in wide
    lines = narrow.splitlines()
    advance = next(i for i, line in enumerate(lines) if "  advance  5% → 10% (10%)" in line)
    assert lines[advance + 1].startswith("  go / applied · by ")
    assert lines[advance + 1].endswith(" · from record+platform")
    assert datetime.now(UTC).strftime("%Y-%m-%d") in lines[advance]


def test_a_long_reason_wraps_under_its_own_words(workspace: Path) -> None:
    lines = [line.rstrip() for line in check_output("60", "--at", "2026-11-02T10:00Z").splitlines()]
    start = lines.index("verdict HOLD") + 1
    assert lines[start : start + 3] == [
        "  • no data for error_rate: requests (treatment) has no data",
        "    in the window",
        "  • no data for p99_latency: latency_p99_ms (treatment) has",
    ]
