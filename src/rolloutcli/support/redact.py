"""Secrets: registered once when they are read, scrubbed from everything the tool emits.

Every secret the tool reads (a token from the environment, the password in a URL, a webhook
URL) is handed to :func:`register` at the place it is read. From then on :func:`scrub`
replaces it with :data:`MARKER` wherever it appears, and the sinks call it: stdout and
stderr (:func:`install_output_scrubbing`, wired in ``cli.main``), the decision records and
the JSON output (``jsonsafe.json_safe``), notification payloads and delivery errors, the
GitHub step summary and annotations, the change notes written to platforms, and the
server-echoed text in every adapter's error messages (:func:`clip`: scrub *before* cutting,
since a token cut in half by truncation no longer matches). A call site that forgets to
scrub still cannot leak through those sinks.

What is registered for one secret value (its *forms*): the value; its percent-encodings
(``%2F`` and ``%2f``, with and without ``/`` kept, ``+`` for spaces); its JSON string
escaping (``\\u00e9`` and raw, ``\\/`` for ``/``); its HTML escaping; its Python ``repr``
escaping; its percent-decoding. Basic auth registers the password, ``user:pass`` and its
base64 (without padding, so a padded or unpadded echo matches), not the user name alone: it
is often a plain word (``admin``) that scrubbing would cut out of ordinary text, and it is
never sent on its own (a URL's ``user@`` without a password is registered whole).

Limits, stated:

* values shorter than :data:`MIN_LENGTH` (4) characters are not registered: scrubbing them
  would blank out ordinary text, and they are too short to be credentials worth hiding;
* a value made only of digits (a numeric tenant id) is matched only where it does not
  touch another digit, so ``1234`` is not cut out of ``123456``;
* a webhook URL's path, and each of its path segments, count as secret only from
  :data:`MIN_PATH_LENGTH` (16) characters (``/services/T0/B0/XXXX`` yes, ``/hooks`` no); the
  whole URL always does;
* a secret that spans a line break on the console is not caught (output is scrubbed one
  line at a time); environment values are stripped, so tokens hold no line breaks.

Standard library only: ``rollout kill`` imports this and must stay light. Thread-safe: the
watch loop and the query pool read while adapters register.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import html
import io
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, quote_plus, unquote

MARKER = "[redacted]"
MIN_LENGTH = 4
"""Shorter values are not registered (see the module docstring)."""
MIN_PATH_LENGTH = 16
"""A webhook URL's path or path segment is a secret from this many characters."""

SECRET_ENV = (
    "LD_API_TOKEN",
    "UNLEASH_API_TOKEN",
    "PROMETHEUS_TOKEN",
    "PROMETHEUS_PASSWORD",
    "PROMETHEUS_ORG_ID",
    "DD_API_KEY",
    "DD_APP_KEY",
    "DD_APPLICATION_KEY",
)
"""Environment variables whose whole value is a secret (each adapter registers its own when
it reads them; ``cli.main`` registers all of them up front as well). The Basic-auth pair
``PROMETHEUS_USERNAME``/``PROMETHEUS_PASSWORD`` is registered as a pair."""
SECRET_URL_ENV = ("ROLLOUT_WEBHOOK_URL", "ROLLOUT_SLACK_WEBHOOK_URL")
"""Environment variables holding a URL that is a secret as a whole (webhooks)."""
ADDRESS_URL_ENV = ("UNLEASH_URL", "LD_BASE_URL", "PROMETHEUS_URL")
"""Environment variables holding an address whose credentials (``user:pass@``) are secret."""

_DIGITS = re.compile(r"\d+")
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")


@dataclass(frozen=True)
class _Snapshot:
    """The registry at one moment: readers use a snapshot, never a half-updated state."""

    pattern: re.Pattern[str] | None = None
    prefixes: frozenset[str] = frozenset()
    longest: int = 0


_lock = threading.Lock()
_forms: set[str] = set()
_current = _Snapshot()


# ---------------------------------------------------------------------- registering


def register(value: str | None) -> None:
    """Scrub ``value`` and its encoded forms from now on (values under MIN_LENGTH: no-op)."""
    _add(_values_forms([value]))


def register_all(values: Iterable[str | None]) -> None:
    _add(_values_forms(values))


def register_basic_auth(user: str, password: str) -> None:
    """A Basic-auth pair: the password, ``user:pass`` and its base64."""
    _add(_values_forms(_basic_auth_values(user, password)))


def env_secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The stripped value of environment variable ``name`` ("" when unset), registered."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    register(value)
    return value


def register_url(url: str, *, secret: bool = False) -> None:
    """The credentials inside ``url``: ``user:password`` and the password (raw and
    percent-decoded, and the Basic-auth header they become), the query string and each
    query value. With ``secret``
    (a webhook URL) also the whole URL, and its path and path segments from
    MIN_PATH_LENGTH characters."""
    _add(_values_forms(_url_values(url, secret)))


def register_environment(environ: Mapping[str, str]) -> None:
    """Every secret the tool may read from the environment, registered up front."""
    values: list[str] = [environ.get(name, "").strip() for name in SECRET_ENV]
    user = environ.get("PROMETHEUS_USERNAME", "")
    if user:
        values.extend(_basic_auth_values(user, environ.get("PROMETHEUS_PASSWORD", "")))
    for names, secret in ((SECRET_URL_ENV, True), (ADDRESS_URL_ENV, False)):
        for name in names:
            if environ.get(name, "").strip():
                values.extend(_url_values(environ[name], secret))
    _add(_values_forms(values))


def _basic_auth_values(user: str, password: str) -> list[str]:
    pair = f"{user}:{password}"
    encoded = base64.b64encode(pair.encode("utf-8")).decode("ascii").rstrip("=")
    return [password, pair, encoded]


def _url_values(url: str, secret: bool) -> list[str]:
    url = url.strip()
    scheme, userinfo, host, rest = split_url(url)
    values: list[str] = []
    if userinfo:
        user, _, password = userinfo.partition(":")
        values += [userinfo, password, *_basic_auth_values(unquote(user), unquote(password))]
    path, _, query = rest.partition("?")
    query = query.partition("#")[0]
    if query:
        values.append(query)
        values += [value for _, value in parse_qsl(query, keep_blank_values=True)]
    if secret:
        values += [url, url.rstrip("/")]
        if userinfo:
            values.append(f"{scheme}{host}{rest}")
        if len(path) >= MIN_PATH_LENGTH:
            values += [path, path.lstrip("/")]
        values += [part for part in path.split("/") if len(part) >= MIN_PATH_LENGTH]
    return values


def _values_forms(values: Iterable[str | None]) -> set[str]:
    forms: set[str] = set()
    for value in values:
        if value and len(value) >= MIN_LENGTH:
            forms |= forms_of(value)
    return forms


def forms_of(value: str) -> set[str]:
    """``value`` and the encodings a server or a library may echo it in."""
    forms = {value, unquote(value)}
    for encoded in (quote(value, safe=""), quote(value), quote_plus(value)):
        forms.add(encoded)
        forms.add(_PERCENT_HEX.sub(lambda m: m.group().lower(), encoded))
    for ascii_only in (True, False):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms.add(escaped)
        forms.add(escaped.replace("/", "\\/"))
    forms.add(html.escape(value))
    forms.add(html.escape(value, quote=False))
    forms.add(repr(value)[1:-1])
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _add(forms: set[str]) -> None:
    global _current
    with _lock:
        if not forms or forms <= _forms:
            return
        _forms.update(forms)
        _current = _snapshot(_forms)


def _snapshot(forms: set[str]) -> _Snapshot:
    ordered = sorted(forms, key=lambda f: (-len(f), f))  # longest first: no partial scrub
    alternatives = [
        rf"(?<!\d){re.escape(f)}(?!\d)" if _DIGITS.fullmatch(f) else re.escape(f) for f in ordered
    ]
    prefixes = frozenset(f[:k] for f in forms for k in range(1, len(f)))
    return _Snapshot(re.compile("|".join(alternatives)), prefixes, len(ordered[0]))


def reset() -> None:
    """Forget every registered secret (for tests)."""
    global _current
    with _lock:
        _forms.clear()
        _current = _Snapshot()


# ---------------------------------------------------------------------- scrubbing


def scrub(text: str) -> str:
    """``text`` with every registered secret (in any registered form) replaced by MARKER."""
    pattern = _current.pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MARKER, text)


def scrub_data(value: Any) -> Any:
    """A JSON-like value with every string in it (keys included) scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub_data(k): scrub_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_data(v) for v in value]
    return value


def clip(text: str, limit: int) -> str:
    """Server-echoed ``text``, scrubbed *then* cut to its first ``limit`` characters: a
    secret cut in half first would no longer be recognised. A marker the cut would split
    goes whole (never more than ``limit`` characters: some limits are the receiver's)."""
    text = scrub(text)
    limit = max(0, limit)
    start = text.rfind(MARKER, max(0, limit - len(MARKER) + 1), limit + len(MARKER) - 1)
    if 0 <= start < limit < start + len(MARKER):
        limit = start
    return text[:limit]


def split_url(url: str) -> tuple[str, str, str, str]:
    """``(scheme + "://", userinfo, host[:port], the rest)``, by plain string rules (no
    exception for a malformed URL). A URL without ``//`` has no authority: all in the rest."""
    scheme, sep, after = url.partition("://")
    if not sep:
        return "", "", "", url
    cut = min((i for i in (after.find(c) for c in "/?#") if i >= 0), default=len(after))
    authority, rest = after[:cut], after[cut:]
    userinfo, at, host = authority.rpartition("@")
    return scheme + sep, userinfo if at else "", host, rest


def display_url(url: str) -> str:
    """``url`` as it may be shown: without ``user:pass@`` (which is registered), scrubbed."""
    register_url(url)
    scheme, _, host, rest = split_url(url.strip())
    return scrub(f"{scheme}{host}{rest}")


# ---------------------------------------------------------------------- the console


class ScrubbingStream(io.TextIOBase):
    """A text stream that scrubs what is written before passing it on.

    Text is passed on a line at a time, so a secret split across two writes is still
    caught. ``flush`` passes on the incomplete last line too (a prompt must show before
    input is read), except a tail that could be the start of a secret, which waits for the
    next write; :meth:`drain` (at exit) passes on everything. ``isatty``, ``fileno`` and
    ``encoding`` are the wrapped stream's, so rich and click see the real terminal."""

    MAX_PENDING = 65536  # an endless line is passed on in chunks this large

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.wrapped = stream
        self._pending = ""
        self._write_lock = threading.RLock()

    # what rich, click and input() ask of a stream
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", None) or "strict"

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._write_lock:
            self._pending += text
            cut = self._pending.rfind("\n") + 1
            if not cut and len(self._pending) >= self.MAX_PENDING:
                cut = len(self._pending) - _held_back(self._pending)
            if cut:
                ready, self._pending = self._pending[:cut], self._pending[cut:]
                self.wrapped.write(scrub(ready))
        return len(text)

    def flush(self) -> None:
        with self._write_lock:
            if self._pending:
                keep = _held_back(self._pending)
                ready = self._pending[: len(self._pending) - keep]
                self._pending = self._pending[len(ready) :]
                if ready:
                    self.wrapped.write(scrub(ready))
            self.wrapped.flush()

    def drain(self) -> None:
        """Pass on everything still pending, then flush."""
        with self._write_lock:
            if self._pending:
                ready, self._pending = self._pending, ""
                self.wrapped.write(scrub(ready))
            self.wrapped.flush()


def _held_back(text: str) -> int:
    """The length of the longest tail of ``text`` that could be the start of a secret."""
    snapshot = _current
    if not snapshot.prefixes:
        return 0
    start = max(0, len(text) - snapshot.longest + 1)
    for i in range(start, len(text)):
        if text[i:] in snapshot.prefixes:
            return len(text) - i
    return 0


def install_output_scrubbing() -> None:
    """Route ``sys.stdout`` and ``sys.stderr`` through :class:`ScrubbingStream` (once), and
    pass on what is pending when the process exits."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, ScrubbingStream):
            continue
        wrapper = ScrubbingStream(stream)
        setattr(sys, name, wrapper)
        atexit.register(_drain_quietly, wrapper)


def _drain_quietly(stream: ScrubbingStream) -> None:
    with contextlib.suppress(OSError, ValueError):  # the terminal went away (a closed pipe)
        stream.drain()
