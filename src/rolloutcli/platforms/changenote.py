"""The one-line note every change carries on a platform, and reading it back.

``rolloutcli plan=checkout-v2 stage=25% pct=25 action=advance · verdict go: …``

Unleash keeps it as the strategy title, LaunchDarkly as the change's audit-log comment. It
names the plan, the stage, the percentage and the action, so the platform's own history
says which plan moved the flag, where to, and why, and the tool can tell its own changes
from hand edits when it reads that history back.

A note is written to a platform, where it outlives the run and is seen by everyone with
access: registered secrets (redact.py) are scrubbed from it *before* it is cut to length
(:func:`note_text`; the flag file's metadata and history comments use it too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rolloutcli.support.redact import scrub

NOTE_LIMIT = 500
_NOTE = re.compile(
    r"^rolloutcli plan=(?P<plan>\S+) (?:(?P<audience>audience)\b|"
    r"stage=(?P<stage>.*?) pct=(?P<pct>[0-9.]+|-) action=(?P<action>[a-z-]+))"
)


@dataclass(frozen=True)
class Title:
    plan: str
    audience: bool
    stage: str | None = None
    percent: float | None = None
    action: str | None = None


def parse_title(text: object) -> Title | None:
    """The plan, stage, percentage and action a rolloutcli change note records."""
    if not isinstance(text, str):
        return None
    match = _NOTE.match(text)
    if match is None:
        return None
    if match["audience"]:
        return Title(match["plan"], True)
    percent = None if match["pct"] == "-" else float(match["pct"])
    return Title(match["plan"], False, match["stage"], percent, match["action"])


def format_title(plan: str, stage: str | None, percent: float | None, action: str, why: str) -> str:
    """The note; ``percent`` None (written ``pct=-``) when the change sets no share, e.g. a
    kill that turns the flag off without reading the split."""
    why = why.removeprefix("rolloutcli: ").strip()
    pct = "-" if percent is None else f"{percent:g}"
    label = stage or ("-" if percent is None else f"{percent:g}%")
    text = f"rolloutcli plan={plan_token(plan)} stage={label} pct={pct} action={action}"
    return note_text(text + (f" · {why}" if why else ""))


def note_text(text: str, limit: int | None = NOTE_LIMIT) -> str:
    """``text`` as a platform may keep it: scrubbed of registered secrets, then cut to
    ``limit`` characters (None: not cut)."""
    text = scrub(text)
    return text if limit is None else text[:limit]


def plan_token(text: str) -> str:
    """A plan name as one word (the note is parsed on spaces)."""
    return re.sub(r"\s+", "_", text.strip()) or "-"
