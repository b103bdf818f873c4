"""A DB-API 2.0 (PEP 249) module named by URL: which module, and what its ``connect()``
is given. Two forms, as SQLAlchemy's ``dialect+driver://`` names a driver:

* ``dbapi+MODULE:PATH?NAME=VALUE&...`` calls ``MODULE.connect(PATH, NAME=VALUE, ...)``: a
  database file (``dbapi+sqlite3:events.sqlite``, relative to the plan file;
  ``dbapi+sqlite3:///srv/events.sqlite`` absolute). Without a PATH only the keywords are
  passed (``dbapi+snowflake.connector:?account=acme&user=rollout``).
* ``dbapi+MODULE://USER@HOST:PORT/DATABASE?NAME=VALUE&...`` calls ``MODULE.connect(host=,
  port=, user=, database=, NAME=VALUE, ...)``, the keyword names PEP 249 suggests, each
  only when the URL has it (a module that calls the database ``dbname`` takes
  ``?dbname=...`` instead of the path).

Every part is percent-decoded. A value of digits is passed as an integer and ``true`` or
``false`` as a boolean; every other value as text. A password (``USER:PASSWORD@``, or a
query name holding ``pass``, ``pwd``, ``secret`` or ``token``, or a PATH that is a
connection string with ``PWD=``) never lives in a plan: the whole URL may come from the
environment variable ``url_env`` names instead, and is then registered as a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

PREFIX = "dbapi+"
PASSWORD = "the URL holds a password"
"""How a password's problem starts: the caller registers such a URL as a secret."""
FORMS = "dbapi+MODULE:PATH or dbapi+MODULE://user@host:port/database (any DB-API 2.0 module)"

Value = str | int | bool

_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_SECRET_NAME = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)
_SECRET_IN_PATH = re.compile(r"(?:pass|pwd|secret|token)\w*\s*=", re.IGNORECASE)
"""A connection string as PATH (``DSN=x;PWD=y``) holding a credential."""
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class DbapiUrl:
    """A parsed ``dbapi+`` URL: the module to import, the file form's path (None: the
    network form, or no path), the keyword arguments, and the URL as it may be shown
    (without user, password and query string)."""

    module: str
    path: str | None
    kwargs: dict[str, Value]
    shown: str


def is_dbapi(url: str) -> bool:
    return url[: len(PREFIX)].lower() == PREFIX


def parse_dbapi(url: str) -> DbapiUrl:
    """``url`` parsed; ValueError with one line naming what to fix."""
    module, colon, rest = url[len(PREFIX) :].partition(":")
    if not colon or not _MODULE.fullmatch(module):
        raise ValueError(f"name a Python module after dbapi+: {FORMS}")
    rest, _, query = rest.partition("?")
    kwargs = _query(query)
    if rest.startswith("//") and not rest.startswith("///"):
        kwargs = _authority(rest[2:]) | kwargs
        shown = f"{PREFIX}{module}://{_shown_authority(rest[2:])}"
        return DbapiUrl(module, None, kwargs, shown)
    path = unquote(rest.removeprefix("//")) or None
    return DbapiUrl(module, path, kwargs, f"{PREFIX}{module}:{path or ''}")


def _authority(rest: str) -> dict[str, Value]:
    """host, port, user, password and database from ``user:password@host:port/database``."""
    authority, _, database = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    out: dict[str, Value] = {}
    if host:
        out["host"] = unquote(host)
    if colon:
        if not port.isdigit():
            raise ValueError(f"the port {port!r} is not a number: {FORMS}")
        out["port"] = int(port)
    if at:
        user, colon, password = userinfo.partition(":")
        out["user"] = unquote(user)
        if colon:
            out["password"] = unquote(password)
    if database:
        out["database"] = unquote(database)
    return out


def _shown_authority(rest: str) -> str:
    authority, slash, database = rest.partition("/")
    return authority.rpartition("@")[2] + slash + database


def _query(query: str) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for name, text in parse_qsl(query, keep_blank_values=True):
        if not name.isidentifier():
            raise ValueError(f"{name!r} in the query string is not a keyword argument name")
        if name in out:
            raise ValueError(f"{name!r} is given twice in the query string")
        out[name] = _value(text)
    return out


def _value(text: str) -> Value:
    if _INTEGER.fullmatch(text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def secrets(parsed: DbapiUrl) -> list[str]:
    """The credentials in a parsed URL: the values of names holding ``pass``, ``pwd``,
    ``secret`` or ``token``, and a PATH that is a connection string holding one."""
    found = [str(v) for name, v in parsed.kwargs.items() if _SECRET_NAME.search(name)]
    if parsed.path and _SECRET_IN_PATH.search(parsed.path):
        found.append(parsed.path)
    return found


def dbapi_problem(url: str) -> str | None:
    """Why ``url`` cannot be a plan's ``dbapi+`` URL (None: it can)."""
    try:
        parsed = parse_dbapi(url)
    except ValueError as exc:
        return str(exc)
    if secrets(parsed):
        return (
            f"{PASSWORD}: a plan never does; put the whole URL in the environment variable "
            "url_env names"
        )
    return None
