"""The one-line note every change carries on a platform, and reading it back.

``rolloutcli plan=checkout-v2 stage=25% pct=25 action=advance record=<id> · verdict go: …``

Unleash keeps it as the strategy title, LaunchDarkly as the change's audit-log comment. It
names the plan, the stage, the percentage, the action and the id of the decision record the
change is written with (minted before the platform write, so both carry it), so the
platform's own history says which plan moved the flag, where to, and why, the tool can tell
its own changes from hand edits when it reads that history back, and `rollout history`
pairs each change with its record exactly. ``record=`` comes after ``action=``: notes
written before it existed still parse (``record`` None), and older readers, which match the
head up to the action, read new notes too. The flag file keeps its comment free-form and
carries the id at its end (:func:`with_record`, :func:`split_record`).

A note is written to a platform, where it outlives the run and is seen by everyone with
access: registered secrets (redact.py) are scrubbed from it *before* it is cut to length
(:func:`note_text`; the flag file's metadata and history comments use it too). The record
id is never scrubbed and never cut: the note gives way around it (:func:`_fit`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rolloutcli.support.redact import scrub

NOTE_LIMIT = 500
_NOTE = re.compile(
    r"^rolloutcli plan=(?P<plan>\S+) (?:(?P<audience>audience)\b|"
    r"stage=(?P<stage>.*?) pct=(?P<pct>[0-9.]+|-) action=(?P<action>[a-z-]+)"
    r"(?: record=(?P<record>[0-9a-f]{8,64})\b)?)"
)
_TAIL = re.compile(r" \(record (?P<record>[0-9a-f]{8,64})\)$")
"""The record id at the end of a free-form comment (the flag file's)."""


@dataclass(frozen=True)
class Title:
    plan: str
    audience: bool
    stage: str | None = None
    percent: float | None = None
    action: str | None = None
    record: str | None = None
    """The id of the decision record written with the change; None in older notes."""


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
    return Title(match["plan"], False, match["stage"], percent, match["action"], match["record"])


def format_title(
    plan: str,
    stage: str | None,
    percent: float | None,
    action: str,
    why: str,
    record: str | None = None,
) -> str:
    """The note; ``percent`` None (written ``pct=-``) when the change sets no share, e.g. a
    kill that turns the flag off without reading the split. ``record``: the decision
    record's id, right after the action, before the free-text why."""
    why = why.removeprefix("rolloutcli: ").strip()
    pct = "-" if percent is None else f"{percent:g}"
    label = stage or ("-" if percent is None else f"{percent:g}%")
    head = f"rolloutcli plan={plan_token(plan)} stage={label} pct={pct} action={action}"
    tag = f" record={record}" if record else ""
    return _fit(scrub(head), tag, scrub(f" · {why}") if why else "", NOTE_LIMIT)


def with_record(comment: str, record: str | None, limit: int | None = NOTE_LIMIT) -> str:
    """A free-form comment (the flag file's) as :func:`note_text` keeps it, ending with
    ``(record <id>)`` when ``record`` is given: the comment is cut, never the id."""
    if not record:
        return note_text(comment, limit)
    return _fit(scrub(comment), f" (record {record})", "", limit)


def split_record(comment: str) -> tuple[str, str | None]:
    """A free-form comment without the ``(record <id>)`` :func:`with_record` ends it with,
    and that id (None: the comment names none)."""
    match = _TAIL.search(comment)
    if match is None:
        return comment, None
    return comment[: match.start()], match["record"]


def _fit(head: str, keep: str, tail: str, limit: int | None) -> str:
    """``head + keep + tail`` cut to ``limit`` characters, ``keep`` whole: the tail gives
    way first, then the end of the head."""
    text = head + keep + tail
    if limit is None or len(text) <= limit:
        return text
    if len(head) + len(keep) <= limit:
        return text[:limit]
    return head[: max(0, limit - len(keep))] + keep


def note_text(text: str, limit: int | None = NOTE_LIMIT) -> str:
    """``text`` as a platform may keep it: scrubbed of registered secrets, then cut to
    ``limit`` characters (None: not cut)."""
    text = scrub(text)
    return text if limit is None else text[:limit]


def plan_token(text: str) -> str:
    """A plan name as one word (the note is parsed on spaces)."""
    return re.sub(r"\s+", "_", text.strip()) or "-"
