"""Quoting what a user wrote inside an error message: short, on one line, never a file's body.

A plan's keys and values end up in messages (``bad duration '3x'``). Whatever a file holds
must not turn a message into a dump of that file: a value is clipped, escaped onto one line
by ``repr``, and a key is named only when it looks like a key.
"""

from __future__ import annotations

import re
from typing import Any

MAX_QUOTED = 40
"""Characters of a value shown in a message; longer values end in an ellipsis."""

KEY_LIKE = re.compile(r"^[A-Za-z0-9_\[][A-Za-z0-9_.\-\[\]]{0,63}$")
"""What a key must look like to be named in a message: letters, digits and ``_ . - [ ]``,
at most 64 characters. Anything else (a line of some other file, a secret) stays unnamed."""


def looks_like_key(key: object) -> bool:
    return isinstance(key, str) and KEY_LIKE.match(key) is not None


def quote(value: Any, limit: int = MAX_QUOTED) -> str:
    """``value`` for a message: a string clipped to ``limit`` characters and quoted on one
    line, a number as written (a huge one by its size), anything else by its type."""
    if isinstance(value, str):
        from rolloutcli.support.redact import (
            scrub,  # a server may echo a token: scrub before clipping it
        )

        value = scrub(value)
        shown = value if len(value) <= limit else value[: limit - 1] + "…"
        return repr(shown)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 3 * limit:  # ~ limit decimal digits
            return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return f"a {type(value).__name__}"


MAX_LABEL = 64
"""Characters of a label read from a metrics source (a segment's name) shown as it is."""


def label(value: str) -> str:
    """A name read from outside (a segment's label value from a metrics source) for the
    terminal, the records and the notifications: as it is when printable and short, else
    quoted and clipped (escape sequences and newlines never reach a screen)."""
    if value.isprintable() and len(value) <= MAX_LABEL:
        return value
    return quote(value)


def choices(items: list[str], conjunction: str = "or") -> str:
    """``a, b or c``: a short list of names in a sentence."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
