"""The json metrics source's request templates: a URL and an optional JSON body.

Placeholders: ``{metric}`` (the plan's metric name), ``{cohort}`` (the variation served),
``{role}`` (treatment/control), ``{flag}``, ``{start}`` and ``{end}`` (the window, epoch
seconds), ``{start_iso}`` and ``{end_iso}`` (the same, RFC 3339 UTC) and ``{window}`` (what
one value covers, in seconds: the whole window for a total, else the step; ``{step}`` is the
same number).

In the URL each value is percent-encoded whole (``/``, ``?``, ``#``, ``&`` and ``=``
included), and placeholders may only appear after the host: a cohort label or flag key can
change a query parameter's value, never the host, the path's shape or another parameter.
In the body they are replaced inside JSON strings, which the encoder escapes; a string that
is exactly one numeric placeholder (``"{start}"``) becomes that number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rolloutcli.support.redact import split_url

NAMES = (
    "metric",
    "cohort",
    "role",
    "flag",
    "start",
    "end",
    "start_iso",
    "end_iso",
    "window",
    "step",
)
NUMERIC = frozenset({"start", "end", "window", "step"})
PLACEHOLDER = re.compile(r"\{(" + "|".join(NAMES) + r")\}")
_ANY_WORD = re.compile(r"\{(\w+)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def url_value(value: str) -> str:
    """``value`` as it goes into the URL: percent-encoded whole, so it stays one value; a
    value of only dots is encoded too (``..`` would climb the path)."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if value and set(value) == {"."} else encoded


def render_url(template: str, values: Mapping[str, str]) -> tuple[str, str]:
    """The base (scheme and host, from the template as written) and the rest (path and
    query, placeholders substituted and encoded)."""
    scheme, _, host, rest = split_url(template.strip())
    return scheme + host, PLACEHOLDER.sub(lambda m: url_value(values[m.group(1)]), rest)


def render_body(template: Any, values: Mapping[str, str]) -> Any:
    """A copy of the JSON ``template`` with placeholders replaced in its strings (keys too)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole and whole.group(1) in NUMERIC:
            return int(values[whole.group(1)])
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if isinstance(template, list):
        return [render_body(item, values) for item in template]
    if isinstance(template, dict):
        return {render_body(k, values): render_body(v, values) for k, v in template.items()}
    return template


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    return []


def request_problems(
    url: str | None, method: str, body: Any, headers_env: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    """What is wrong with the request templates, as (field, problem)."""
    if not url:
        return [("url", "a json source needs url: (the request's URL template)")]
    problems: list[tuple[str, str]] = []
    scheme, userinfo, host, _ = split_url(url.strip())
    if scheme.lower() not in ("http://", "https://") or not host:
        problems.append(("url", "must start with http:// or https:// and name a host"))
    if "{" in scheme + userinfo + host:
        problems.append(("url", "placeholders may only follow the host, never form it"))
    if userinfo:
        problems.append(("url", "no credentials in the URL: send them with headers_env"))
    texts = [url, *_strings(body)]
    unknown = sorted({w for t in texts for w in _ANY_WORD.findall(t)} - set(NAMES))
    if unknown:
        known = ", ".join("{" + n + "}" for n in NAMES)
        problems.append(("url", f"unknown placeholder {{{unknown[0]}}} (known: {known})"))
    if not {w for t in texts for w in PLACEHOLDER.findall(t)} & {"cohort", "role"}:
        problems.append(
            (
                "url",
                "the request names no cohort: add {cohort} or {role} to the URL or the "
                "body, or both cohorts get the same numbers",
            )
        )
    if body is not None and method != "POST":
        problems.append(("body", "a body is sent with method: POST only"))
    for header, env in (headers_env or {}).items():
        if not _HEADER_NAME.fullmatch(header):
            problems.append(("headers_env", f"{header!r} is not an HTTP header name"))
        if not _ENV_NAME.fullmatch(env):
            problems.append(("headers_env", f"{env!r} is not an environment variable name"))
    return problems


def expression_problem(expression: str) -> str | None:
    """Why a metric's JMESPath expression does not compile (None: it does)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        return f"not a JMESPath expression: {' '.join(str(exc).split())}"
    return None
