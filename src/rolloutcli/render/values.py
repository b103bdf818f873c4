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
    "seq-conditional-binomial": "seq",
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
