"""A plan's SQL query, bound: its placeholders become the driver's parameter markers.

A metric's SQL names its inputs with the placeholders every query source uses, written
bare (never inside quotes): ``{cohort}`` (the variation served, as text), ``{role}``
(``treatment``/``control``), ``{flag}`` (the flag key), ``{start}`` and ``{end}`` (the
window, UTC timestamps without time zone) and ``{window}`` (the window's or the step's
length in seconds). They are never formatted into the SQL text: each becomes a bound
parameter in the paramstyle of the driver (``%(cohort)s`` for psycopg, ``$cohort`` for
DuckDB, any of PEP 249's five for a DB-API module named by URL), so a cohort label or flag
key can only ever be compared, never run.

Placeholders are found outside string literals, quoted identifiers, comments and
dollar-quoted strings, so ``'{cohort}'`` (quoted, which would compare against the literal
text) is reported as a problem instead of silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from .dbapiurl import FORMS, dbapi_problem, is_dbapi
from .dbapiurl import PASSWORD as PASSWORD  # re-exported: what url_problem's refusal says

NAMES = ("cohort", "role", "flag", "start", "end", "window")
"""The placeholders a SQL query may use."""
Paramstyle = Literal["qmark", "numeric", "named", "format", "pyformat", "dollar"]
"""PEP 249's five, and DuckDB's own: ``qmark`` ``?``, ``numeric`` ``:1``, ``named``
``:name``, ``format`` ``%s``, ``pyformat`` ``%(name)s`` (a literal ``%`` doubles in both
``%`` styles: the driver formats the whole text), ``dollar`` ``$name``."""
DBAPI_STYLES: tuple[Paramstyle, ...] = get_args(Paramstyle)[:5]
"""The paramstyles a DB-API 2.0 module may declare."""
POSITIONAL: tuple[Paramstyle, ...] = ("qmark", "numeric", "format")
"""Styles whose parameters are a sequence (in :func:`bind`'s order), not a mapping."""

_WORD = re.compile(r"\{(\w+)\}")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


@dataclass(frozen=True)
class Piece:
    """A run of SQL text: ``code`` (where placeholders count) or quoted/comment text."""

    text: str
    code: bool


def pieces(sql: str) -> Iterator[Piece]:
    """Split ``sql`` into code and the parts placeholders never reach: '...' strings (with
    '' inside), "..." identifiers, -- and /* */ comments, $tag$...$tag$ strings."""
    i, start, size = 0, 0, len(sql)
    while i < size:
        end = _quoted_end(sql, i)
        if end is None:
            i += 1
            continue
        if i > start:
            yield Piece(sql[start:i], True)
        yield Piece(sql[i:end], False)
        i = start = end
    if start < size:
        yield Piece(sql[start:], True)


def _quoted_end(sql: str, i: int) -> int | None:
    """Where the quoted string or comment starting at ``i`` ends (None: none starts)."""
    ch = sql[i]
    if ch in "'\"":
        j = i + 1
        while True:
            j = sql.find(ch, j)
            if j < 0:
                return len(sql)
            if sql.startswith(ch * 2, j):
                j += 2
                continue
            return j + 1
    if sql.startswith("--", i):
        j = sql.find("\n", i)
        return len(sql) if j < 0 else j + 1
    if sql.startswith("/*", i):
        j = sql.find("*/", i + 2)
        return len(sql) if j < 0 else j + 2
    if ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
        tag = _DOLLAR_TAG.match(sql, i)
        if tag:
            j = sql.find(tag.group(0), tag.end())
            return len(sql) if j < 0 else j + len(tag.group(0))
    return None


def bind(sql: str, style: Paramstyle) -> tuple[str, tuple[str, ...]]:
    """``sql`` with each placeholder as the driver's marker, and the names of the
    parameters in the order the driver takes them: one per marker for ``qmark`` and
    ``format`` (a name used twice is sent twice), else each once in order of first use
    (``numeric`` numbers them so). Unknown ``{words}`` and everything quoted are left as
    written."""
    used: dict[str, None] = {}
    order: list[str] = []
    out: list[str] = []
    for piece in pieces(sql):
        text = piece.text
        if style in ("format", "pyformat"):
            text = text.replace("%", "%%")  # the driver reads % everywhere, quoted or not
        if piece.code:
            text = _WORD.sub(lambda m: _marker(m, style, used, order), text)
        out.append(text)
    return "".join(out), tuple(order if style in ("qmark", "format") else used)


def _marker(
    match: re.Match[str], style: Paramstyle, used: dict[str, None], order: list[str]
) -> str:
    name = match.group(1)
    if name not in NAMES:
        return match.group(0)
    used[name] = None
    order.append(name)
    markers = {
        "qmark": "?",
        "numeric": f":{list(used).index(name) + 1}",
        "named": f":{name}",
        "format": "%s",
        "pyformat": f"%({name})s",
        "dollar": f"${name}",
    }
    return markers[style]


def placeholders(sql: str) -> tuple[set[str], set[str], set[str]]:
    """(known placeholders used bare, unknown ``{words}`` used bare, known ones quoted)."""
    bare: set[str] = set()
    quoted: set[str] = set()
    for piece in pieces(sql):
        found = set(_WORD.findall(piece.text))
        (bare if piece.code else quoted).update(found)
    return bare & set(NAMES), bare - set(NAMES), quoted & set(NAMES)


def query_problems(sql: str) -> list[str]:
    """What keeps ``sql`` from being a metric's query (the cohort is checked by the source
    spec, as for every query source)."""
    known, unknown, quoted = placeholders(sql)
    problems: list[str] = []
    for name in sorted(quoted):
        problems.append(
            f"{{{name}}} is inside quotes: write it bare ({{{name}}}, not '{{{name}}}'), "
            "it is bound as a parameter"
        )
    for name in sorted(unknown):
        problems.append(
            f"unknown placeholder {{{name}}}: use " + ", ".join(f"{{{n}}}" for n in NAMES)
        )
    missing = [f"{{{n}}}" for n in ("start", "end") if n not in known]
    if missing:
        problems.append(
            f"the query names no {' or '.join(missing)}: filter its rows to the window, "
            "e.g. WHERE ts >= {start} AND ts < {end}"
        )
    return problems


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a plan's SQL URL (None: it can): an unknown scheme, or a
    password, which never lives in a plan."""
    if is_dbapi(url):
        return dbapi_problem(url)
    scheme = url.partition(":")[0].lower()
    if scheme not in ("postgresql", "postgres", "duckdb"):
        return f"use postgresql://user@host:port/db, duckdb:path (or duckdb: in memory) or {FORMS}"
    if scheme != "duckdb":
        authority = url.partition("://")[2].split("/", 1)[0]
        userinfo = authority.rpartition("@")[0]
        if ":" in userinfo or re.search(r"[?&]password=", url):
            return (
                f"{PASSWORD}: a plan never does; use PGPASSWORD or ~/.pgpass, "
                "or put the whole URL in the environment variable url_env names"
            )
    return None
