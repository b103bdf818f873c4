"""How values read in every rendering (terminal and markdown alike): numbers with their
units, stage names, the short names of the tests."""

from __future__ import annotations

TEST_ABBREVIATION = {  # the test behind a p-value, in a narrow column
    "z": "z",
    "fisher-exact": "fisher",
    "welch-t": "welch",
    "mann-whitney": "MW",
    "binomial-exact": "binom",
    "one-sample-t": "t",
    "delta-z": "delta",
    "seq-conditional-binomial": "seq",
    "seq-quasi-binomial": "seq",
    "seq-binomial": "seq",
    "seq-normal": "seq",
}


def value_text(value: float | None, kind: str, unit: str | None) -> str:
    """A metric's value as the tables show it: a ratio as a percentage, else with its unit."""
    if value is None:
        return "—"
    if kind == "ratio" or unit in ("ratio",):
        return f"{value:.3%}"
    suffix = {"ms": " ms", "s": " s", "percent": "%"}.get(unit or "", "")
    return f"{value:.4g}{suffix}"


def stage_name(label: str, percent: float) -> str:
    """``10%``, or ``beta (10%)`` for a stage with a name of its own."""
    return label if label == f"{percent:g}%" else f"{label} ({percent:g}%)"


def clustering_consequence(test: object) -> str:
    """What a significant clustering means for a ratio guardrail's verdict, by its test."""
    if test == "seq-quasi-binomial":
        return "its test allows for that (quasi-likelihood), so its p-value holds"
    return "its test assumes independent requests, so its p-value is optimistic"


SEQUENTIAL_TESTS = frozenset(test for test in TEST_ABBREVIATION if test.startswith("seq-"))


def _number(value: float) -> str:
    """Two significant digits below 100 (``0.043``, ``1.2``, ``35``), whole numbers up to
    a million (``4,315``), an exponent above (``2.1e+09``)."""
    if value < 100:
        return f"{value:.2g}"
    return f"{value:,.0f}" if value < 1e6 else f"{value:.1e}"


def evidence_text(p_value: float | None, e_value: float | None, test: str | None) -> str:
    """What a guardrail's evidence reads as in the terminal: ``e=1.2`` for a sequential
    test (its e-value: evidence of a breach grows with it), ``p=0.043`` for a fixed-horizon
    test (its p-value), ``not yet`` when no test ran."""
    if e_value is not None and (test is None or test in SEQUENTIAL_TESTS):
        return f"e={_number(e_value)}"
    if p_value is not None:
        return f"p={_number(p_value)}"
    return "not yet"


EVIDENCE_WORDS = (
    ("p=", "p=p-value (fixed-horizon test)"),
    ("e=", "e=sequential e-value, a breach needs 1/alpha"),
    ("not yet", "not yet=no test ran"),
)


def evidence_legend(cells: list[str]) -> str | None:
    """The one line under a table that says what its evidence notation means (only the
    notations it uses), or None for a table without any."""
    used = [words for mark, words in EVIDENCE_WORDS if any(c.startswith(mark) for c in cells)]
    return "evidence: " + "; ".join(used) if used else None
