"""Plan labels (``labels: {team: payments}``) and the ``--select KEY=VALUE`` filters that
pick plans by them. Pure: no files, no pydantic (the plan model checks labels with
:func:`label_problem`).

A label key and a label value are both short label-like words: a letter or digit first,
then letters, digits, ``_``, ``.`` or ``-``, 63 characters at most (as Kubernetes label
names), so a selector is always ``KEY=VALUE`` or ``KEY!=VALUE`` without quoting. A value
written as a YAML number (``tier: 1``) is kept as the text the number reads as (``"1"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.quoting import quote

LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
MAX_LABELS = 64
LABEL_RULE = "a letter or digit, then letters, digits, '_', '.' or '-' (at most 63 characters)"


def label_problem(text: str) -> str | None:
    """Why ``text`` is no label key or value, or None when it is one."""
    if LABEL.fullmatch(text):
        return None
    return f"{quote(text)} is not a label: use {LABEL_RULE}"


def label_value(raw: object) -> str:
    """A label value as written in YAML: a string, or a number kept as its text. Anything
    else (true, null, a list) raises ValueError naming what to write instead."""
    if isinstance(raw, bool) or raw is None:
        shown = "null" if raw is None else str(raw).lower()
        raise ValueError(f"{shown} is not a label value: quote it ('{shown}') or use a word")
    if isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):  # YAML's .nan / .inf: not a number anyone labels with
            raise ValueError(f"{raw} is not a label value: quote it ('{raw}') or use a word")
        text = f"{raw:g}" if raw.is_integer() else repr(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        raise ValueError("a label value is a word or a number, not a list or a mapping")
    problem = label_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


@dataclass(frozen=True)
class Selector:
    """One ``--select``: ``key=value`` (the plan has that label with that value) or
    ``key!=value`` (it does not: another value, or no such label)."""

    key: str
    value: str
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.key}{'!=' if self.negated else '='}{self.value}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return (labels.get(self.key) == self.value) != self.negated


def parse_selector(text: str) -> Selector:
    """``KEY=VALUE`` or ``KEY!=VALUE``; InvalidInputError (exit 2) naming what is wrong."""
    negated = "!=" in text
    key, sep, value = text.partition("!=" if negated else "=")
    if not sep:
        raise InvalidInputError(
            f"--select {quote(text)}: give KEY=VALUE or KEY!=VALUE (e.g. team=payments)"
        )
    for part in (key.strip(), value.strip()):
        problem = label_problem(part)
        if problem is not None:
            raise InvalidInputError(f"--select {quote(text)}: {problem}")
    return Selector(key.strip(), value.strip(), negated)


def parse_selectors(texts: Iterable[str]) -> tuple[Selector, ...]:
    return tuple(parse_selector(text) for text in texts)


def selected(selectors: Iterable[Selector], labels: Mapping[str, str]) -> bool:
    """Whether a plan with ``labels`` passes every selector (no selector: every plan)."""
    return all(selector.matches(labels) for selector in selectors)


def selection_text(selectors: Iterable[Selector]) -> str:
    """``team=payments, tier!=critical``: the selectors as typed, for messages."""
    return ", ".join(str(selector) for selector in selectors)
