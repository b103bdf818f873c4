"""A file path as messages name it."""

from __future__ import annotations

import os
from pathlib import Path


def shown_path(path: Path | str) -> str:
    """``path`` with ``..`` folded (``plans/../flags/flags.json`` → ``flags/flags.json``),
    relative to the current directory when it lies under it, else absolute. Lexical, as
    ``os.path.abspath`` is: a symlink is not followed (who reads the path sees the name
    the plan gave, not where the link points)."""
    absolute = os.path.abspath(os.path.expanduser(str(path)))
    try:
        relative = os.path.relpath(absolute, os.getcwd())
    except ValueError:  # another drive (Windows)
        return absolute
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return absolute
    return relative
