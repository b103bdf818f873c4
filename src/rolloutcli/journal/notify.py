"""Notifications: tell webhooks about a pause, rollback, kill or completion.

Three parts, each with one job:

* :class:`Event` and the pure payload builders :func:`json_payload` and :func:`slack_payload`;
* :func:`targets`, which resolves the plan's webhooks and the environment's
  (``ROLLOUT_WEBHOOK_URL``: json, ``ROLLOUT_SLACK_WEBHOOK_URL``: slack) into URLs;
* :func:`send`, which posts an event to every target that wants it, retrying what is worth
  retrying, and which is bounded by a deadline and never raises.

A notification is a side effect of an action, never a condition of it: the caller applies
the rollback first and calls :func:`send` afterwards; every failure comes back as a
:class:`Delivery` with ``ok=False`` for the decision log.

Webhook URLs are secrets (a Slack incoming-webhook URL is a credential): no message,
``repr`` or error text here contains one. A target is described by where its URL came
from: ``slack webhook (SLACK_WEBHOOK_URL)``, ``json webhook (plan, host example.org)``.
A URL from the environment is registered as a secret (redact.py) when it is resolved, a
plan's URL for the credentials it may hold; every payload is scrubbed before it is clipped
and sent, and so is every delivery error (a receiver may echo what it was sent). A URL to a
link-local or cloud-metadata address is never posted to (urlpolicy.py): that target fails
with its reason, and the action it reports on is not affected.

The JSON document (``"schema": "rolloutcli.event/v1"``)
-------------------------------------------------------
Every key is always present (``null`` when unknown); keys may be added in a later v1, never
removed or changed in meaning::

    schema          "rolloutcli.event/v1"
    kind            pause | rollback | kill | done | resume | advance | unkill
    summary         one human line ("checkout-v2 rolled back: 25% → 0% in production (…)")
    plan            the plan's name
    flag            the flag key on the platform
    environment     the platform environment
    platform        where the flag lives (a file path, "Unleash http://…, project default")
    at              when it happened, ISO 8601 UTC with Z ("2026-11-02T10:00:00Z")
    who             who or what acted ("alice", "ci via GitHub Actions")
    stage_before    stage label before (or null)
    stage_after     stage label after (or null)
    percent_before  treatment share before, 0-100 (or null)
    percent_after   treatment share after, 0-100 (or null; null after a kill: the flag is off)
    verdict         the verdict behind the action (go, hold, pause, rollback, done) or null
    reasons         the verdict's reasons, a list of strings (possibly empty)
    result          applied | failed | not applied (e.g. automation says manual)
    error           why it failed (or null)
    phase_before    the rollout's lifecycle phase when the tool acted (judge.lifecycle:
                    not_started, in_stage, paused, rolled_back, killed, done, off_plan), or
                    null where the tool did not read the rollout (kill)
    phase_after     its phase once the change is applied (or null, as phase_before)
    tool            "rolloutcli"
    version         the rolloutcli version that sent it
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from rolloutcli import __version__
from rolloutcli.plan.notifications import NOTIFY_DEFAULT, NotifyEvent, Webhook
from rolloutcli.support.http import BACKOFF, failure_kind, rate_limit_wait, retry_delay
from rolloutcli.support.redact import clip, register_url, scrub, scrub_data
from rolloutcli.support.timeutil import format_timestamp
from rolloutcli.support.urlpolicy import url_problem

SCHEMA = "rolloutcli.event/v1"
USER_AGENT = f"rolloutcli/{__version__}"
ENV_JSON_WEBHOOK = "ROLLOUT_WEBHOOK_URL"
ENV_SLACK_WEBHOOK = "ROLLOUT_SLACK_WEBHOOK_URL"
MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is reported, not waited for

Format = Literal["json", "slack"]
Result = Literal["applied", "failed", "not applied"]
ENV_WEBHOOKS: tuple[tuple[str, Format], ...] = (
    (ENV_JSON_WEBHOOK, "json"),
    (ENV_SLACK_WEBHOOK, "slack"),
)

# Slack's documented Block Kit limits (characters).
SLACK_HEADER_MAX = 150  # header block: plain_text
SLACK_SECTION_MAX = 3000  # section block: text
SLACK_FIELD_MAX = 2000  # section block: each of at most 10 fields
SLACK_TEXT_MAX = 3000  # top-level fallback text (Slack cuts at 40,000; a summary is short)
SUMMARY_DETAIL_MAX = 200  # the parenthesised reason in a summary line

_VERB: dict[str, str] = {
    "pause": "paused",
    "rollback": "rolled back",
    "kill": "killed",
    "done": "done",
    "resume": "resumed",
    "advance": "advanced",
    "unkill": "turned back on",
    "reduce": "reduced",
    "knob": "tuned",
}
_NOUN: dict[str, str] = {
    "pause": "pause",
    "rollback": "rollback",
    "kill": "kill",
    "done": "completion",
    "resume": "resume",
    "advance": "advance",
    "unkill": "unkill",
    "reduce": "reduction",
    "knob": "knob change",
}
EMOJI: dict[str, str] = {
    "pause": ":double_vertical_bar:",
    "rollback": ":rotating_light:",
    "kill": ":rotating_light:",
    "done": ":white_check_mark:",
    "resume": ":arrow_forward:",
    "advance": ":arrow_up:",
    "unkill": ":large_green_circle:",
    "reduce": ":arrow_down:",
    "knob": ":control_knobs:",
}


# --------------------------------------------------------------------------- the event


@dataclass(frozen=True)
class Event:
    """Something a rollout did (or tried to do) that people should hear about."""

    kind: NotifyEvent
    plan: str
    flag: str
    environment: str
    platform: str
    at: datetime
    who: str
    stage_before: str | None = None
    stage_after: str | None = None
    percent_before: float | None = None
    percent_after: float | None = None
    verdict: str | None = None
    reasons: tuple[str, ...] = ()
    result: Result = "applied"
    error: str | None = None
    version: str = __version__
    phase_before: str | None = None
    phase_after: str | None = None

    def __post_init__(self) -> None:
        # A naive time is taken as UTC (as timeutil.parse_timestamp does); keep it in UTC.
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC)
        object.__setattr__(self, "at", at.astimezone(UTC))
        object.__setattr__(self, "reasons", tuple(self.reasons))

    @property
    def summary(self) -> str:
        """One line: ``checkout-v2 rolled back: 25% → 0% in production (reason)``."""
        if self.result == "applied":
            head = f"{self.plan} {_VERB[self.kind]}"
        elif self.result == "failed":
            head = f"{self.plan} {_NOUN[self.kind]} FAILED"
        else:
            head = f"{self.plan} {_NOUN[self.kind]} not applied"
        change = self.change
        line = (
            f"{head}: {change} in {self.environment}" if change else f"{head} in {self.environment}"
        )
        detail = self._detail()
        return f"{line} ({detail})" if detail else line

    @property
    def change(self) -> str:
        """``25% → 0%``, ``25% → off`` (kill), ``at 25%``, or "" when nothing is known."""
        before = _percent(self.percent_before)
        after = _percent(self.percent_after)
        if self.kind == "kill" and self.percent_after is None:
            return f"{before} → off" if before else "flag off"
        if before and after and before != after:
            return f"{before} → {after}"
        if after or before:
            return f"at {after or before}"
        return ""

    def _detail(self) -> str:
        if self.result == "failed" and self.error:
            return _clip(f"error: {self.error}", SUMMARY_DETAIL_MAX)
        if not self.reasons:
            return ""
        more = len(self.reasons) - 1
        first = _clip(_one_line(self.reasons[0]), SUMMARY_DETAIL_MAX)
        return first + (f"; +{more} more" if more else "")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:g}%"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut (registered
    secrets scrubbed first, so no cut leaves half a secret or half a ``[redacted]``)."""
    return text if len(text) <= limit else clip(text, limit - 1) + "…"


# --------------------------------------------------------------------------- payloads


def json_payload(event: Event) -> dict[str, Any]:
    """The ``rolloutcli.event/v1`` document (see the module docstring)."""
    return {
        "schema": SCHEMA,
        "kind": event.kind,
        "summary": event.summary,
        "plan": event.plan,
        "flag": event.flag,
        "environment": event.environment,
        "platform": event.platform,
        "at": format_timestamp(event.at),
        "who": event.who,
        "stage_before": event.stage_before,
        "stage_after": event.stage_after,
        "percent_before": event.percent_before,
        "percent_after": event.percent_after,
        "verdict": event.verdict,
        "reasons": list(event.reasons),
        "result": event.result,
        "error": event.error,
        "phase_before": event.phase_before,
        "phase_after": event.phase_after,
        "tool": "rolloutcli",
        "version": event.version,
    }


def slack_escape(text: str) -> str:
    """Slack's mrkdwn escaping: only ``&``, ``<`` and ``>`` become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_clip(text: str, limit: int) -> str:
    """``text`` escaped for mrkdwn and cut to ``limit`` characters *after* escaping (what
    Slack counts), never through the middle of an entity; "…" marks a cut."""
    escaped = slack_escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = slack_escape(char)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def slack_payload(event: Event) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the notification fallback) and blocks:
    a header, the summary, the facts as fields, the reasons, the error, and a context line."""
    title = f"{EMOJI[event.kind]} {event.plan} {_title_verb(event)} in {event.environment}"
    fields = [("Flag", event.flag), ("Environment", event.environment)]
    if event.change:
        fields.append(("Change", event.change))
    stages = _stages(event)
    if stages:
        fields.append(("Stage", stages))
    if event.verdict is not None:
        fields.append(("Verdict", event.verdict))
    fields.append(("Result", ":x: failed" if event.result == "failed" else event.result))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(title, SLACK_HEADER_MAX), "emoji": True},
        },
        _section(event.summary),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _field(name, value)} for name, value in fields[:10]
            ],
        },
    ]
    if event.reasons:
        bullets = "\n".join(f"• {_one_line(r)}" for r in event.reasons)
        blocks.append(_section(bullets, heading="Reasons"))
    if event.error:
        blocks.append(_section(event.error, heading="Error"))
    context = f"rolloutcli {event.version} · {event.platform} · by {event.who} · " + (
        format_timestamp(event.at)
    )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": slack_clip(context, SLACK_FIELD_MAX)}],
        }
    )
    return {"text": slack_clip(event.summary, SLACK_TEXT_MAX), "blocks": blocks}


def _title_verb(event: Event) -> str:
    if event.result == "applied":
        return _VERB[event.kind]
    return f"{_NOUN[event.kind]} {'FAILED' if event.result == 'failed' else 'not applied'}"


def _stages(event: Event) -> str:
    before, after = event.stage_before, event.stage_after
    if before == after:
        return before or ""
    return f"{before or 'none'} → {after or 'none'}"


def _field(name: str, value: str) -> str:
    head = f"*{name}*\n"
    return head + slack_clip(value, SLACK_FIELD_MAX - len(head))


def _section(body: str, *, heading: str | None = None) -> dict[str, Any]:
    """A mrkdwn section: an optional bold heading (our markup), then ``body`` escaped and
    clipped so the whole text stays within Slack's 3000 characters."""
    prefix = f"*{heading}*\n" if heading else ""
    return {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": prefix + slack_clip(body, SLACK_SECTION_MAX - len(prefix)),
        },
    }


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """Where to post, in which format, for which events. ``url`` is None when it could not
    be resolved; ``problem`` then says why (and :func:`send` reports it as a failed
    delivery). The URL never appears in ``repr``."""

    format: Format
    url: str | None = field(repr=False)
    on: frozenset[NotifyEvent]
    source: str  # where the URL came from: an env var name, or "plan, host example.org"
    problem: str | None = None
    unset: bool = field(default=False, compare=False)
    """The plan names an environment variable for the URL that is not set here: this
    webhook is not configured in this environment (a quiet note, not a failure)."""

    def describe(self) -> str:
        return f"{self.format} webhook ({self.source})"


def targets(plan_hooks: Sequence[Webhook], environ: Mapping[str, str]) -> list[Target]:
    """The plan's webhooks, then the environment-level ones, deduplicated by (url, format)
    (a duplicate's events are merged into the first). A plan webhook whose ``url_env`` is
    unset or empty, or whose URL is not http(s), is kept with its ``problem``; an unset
    environment-level variable just means that webhook is not configured."""
    found: list[Target] = []
    for hook in plan_hooks:
        on = frozenset(hook.events)
        if hook.url_env is not None:
            value = environ.get(hook.url_env, "").strip()
            if not value:
                found.append(
                    Target(
                        hook.format,
                        None,
                        on,
                        hook.url_env,
                        f"{hook.url_env} is not set (the plan names it for a {hook.format} "
                        "webhook)",
                        unset=True,
                    )
                )
                continue
            register_url(value, secret=True)
            found.append(_checked(hook.format, value, on, hook.url_env, environ))
        elif hook.url is not None:
            register_url(hook.url)
            found.append(_checked(hook.format, hook.url.strip(), on, None, environ))
    for name, fmt in ENV_WEBHOOKS:
        value = environ.get(name, "").strip()
        if value:
            register_url(value, secret=True)
            found.append(_checked(fmt, value, frozenset(NOTIFY_DEFAULT), name, environ))
    return _dedup(found)


def _checked(
    fmt: Format,
    url: str,
    on: frozenset[NotifyEvent],
    env: str | None,
    environ: Mapping[str, str],
) -> Target:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        parts, host, port = None, None, None
    where = f"host {host}" + (f":{port}" if port else "") if host else "unknown host"
    source = env if env is not None else f"plan, {where}"
    if parts is None or parts.scheme not in ("http", "https") or not host:
        named = env if env is not None else "the plan's url:"
        return Target(fmt, None, on, source, f"{named} is not a valid http(s) URL")
    refused = url_problem(url, environ)
    if refused is not None:
        named = env if env is not None else "the plan's url:"
        return Target(fmt, None, on, source, f"{named}: {refused}")
    return Target(fmt, url, on, source)


def _dedup(found: list[Target]) -> list[Target]:
    out: list[Target] = []
    for target in found:
        twin = next(
            (
                i
                for i, kept in enumerate(out)
                if target.url is not None and (kept.url, kept.format) == (target.url, target.format)
            ),
            None,
        )
        if twin is None:
            out.append(target)
        else:
            kept = out[twin]
            out[twin] = Target(kept.format, kept.url, kept.on | target.on, kept.source)
    return out


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Delivery:
    """How one post went. ``error`` never contains the URL."""

    target: str  # Target.describe()
    format: Format
    ok: bool
    attempts: int
    status: int | None = None  # the last HTTP status, None if no answer
    error: str | None = None
    elapsed: float = 0.0  # seconds

    def describe(self) -> str:
        """One line for the decision log."""
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.ok:
            return f"{self.target}: delivered (HTTP {self.status}, {tries})"
        return f"{self.target}: not delivered after {tries}: {self.error}"


def send(
    event: Event,
    targets: Sequence[Target],
    *,
    timeout: float = 5.0,
    attempts: int = 3,
    deadline: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Post ``event`` to every target whose ``on`` includes its kind, concurrently.

    Retries connection errors, timeouts, 5xx and 429 (waiting as ``Retry-After`` asks, up
    to 10 s and the time left) with the tool's backoff, at most ``attempts`` tries per
    target; any other answer is final. Returns within ``deadline`` seconds, whatever the
    receivers do, and never raises: every failure is a ``Delivery`` with ``ok=False``.
    One Delivery per target that wanted the event, in the order of ``targets``.
    Registered secrets are scrubbed from the event before any payload is built (and so
    before Slack's length limits clip it)."""
    try:
        event = scrubbed(event)
        chosen = [t for t in targets if event.kind in t.on]
    except Exception as exc:  # a malformed target list: report, never raise
        return [Delivery("webhooks", "json", False, 0, error=f"unexpected {type(exc).__name__}")]
    end = time.monotonic() + deadline
    jobs = [_Job(t) for t in chosen]
    threads: list[threading.Thread | None] = []
    for job in jobs:
        if job.target.url is None:
            job.done = Delivery(
                job.target.describe(), job.target.format, False, 0, error=job.target.problem
            )
            threads.append(None)
            continue
        worker = threading.Thread(
            target=job.run,
            args=(event, end, timeout, max(1, attempts), sleep),
            name=f"rolloutcli-notify-{job.target.format}",
            daemon=True,  # a receiver that never answers must not hold the process open
        )
        try:
            worker.start()
        except RuntimeError:  # no thread to be had: post from here
            job.run(event, end, timeout, max(1, attempts), sleep)
            threads.append(None)
            continue
        threads.append(worker)
    for thread in threads:
        if thread is not None:
            thread.join(max(0.0, end - time.monotonic()))
    return [job.result(deadline) for job in jobs]


def scrubbed(event: Event) -> Event:
    """``event`` with registered secrets scrubbed from every text it carries."""
    return replace(
        event,
        plan=scrub(event.plan),
        flag=scrub(event.flag),
        environment=scrub(event.environment),
        platform=scrub(event.platform),
        who=scrub(event.who),
        stage_before=None if event.stage_before is None else scrub(event.stage_before),
        stage_after=None if event.stage_after is None else scrub(event.stage_after),
        verdict=None if event.verdict is None else scrub(event.verdict),
        reasons=tuple(scrub(r) for r in event.reasons),
        error=None if event.error is None else scrub(event.error),
    )


class _Job:
    """One target's delivery, run in its own thread; the sender reads ``done`` (or, past
    the deadline, the attempts made so far)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.started = time.monotonic()
        self.attempts = 0
        self.status: int | None = None
        self.error: str | None = None
        self.done: Delivery | None = None

    def result(self, deadline: float) -> Delivery:
        if self.done is not None:
            return self.done
        waited = f"no answer within the {deadline:g}s deadline"
        return self._delivery(False, f"{self.error}; {waited}" if self.error else waited)

    def _delivery(self, ok: bool, error: str | None) -> Delivery:
        return Delivery(
            self.target.describe(),
            self.target.format,
            ok,
            self.attempts,
            self.status,
            None if ok else error,
            round(time.monotonic() - self.started, 3),
        )

    def run(
        self,
        event: Event,
        end: float,
        timeout: float,
        attempts: int,
        sleep: Callable[[float], None],
    ) -> None:
        url = self.target.url
        assert url is not None
        try:
            self.done = self._post(event, url, end, timeout, attempts, sleep)
        except Exception as exc:  # never let a notification raise
            text = _scrub(str(exc), url) or type(exc).__name__
            self.done = self._delivery(False, f"unexpected error: {text}")

    def _post(
        self,
        event: Event,
        url: str,
        end: float,
        timeout: float,
        attempts: int,
        sleep: Callable[[float], None],
    ) -> Delivery:
        payload = slack_payload(event) if self.target.format == "slack" else json_payload(event)
        body = json.dumps(scrub_data(payload), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        backoff = tuple(BACKOFF[min(i, len(BACKOFF) - 1)] for i in range(attempts - 1))
        with httpx.Client(headers=headers, follow_redirects=False) as client:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return self._delivery(False, self._gave_up("the deadline passed"))
                self.attempts += 1
                try:
                    response = client.post(url, content=body, timeout=min(timeout, left))
                except httpx.HTTPError as exc:
                    self.status, self.error = None, _transport_text(exc, url)
                    delay = retry_delay(
                        self.attempts,
                        backoff,
                        safe=True,
                        now=time.time(),
                        max_wait=MAX_RETRY_AFTER,
                        failure=failure_kind(exc),
                    )
                else:
                    self.status = response.status_code
                    if response.is_success:
                        return self._delivery(True, None)
                    self.error = _status_text(response, url)
                    delay = self._answer_delay(response, backoff, end)
                if delay is None:
                    return self._delivery(False, self.error)
                if time.monotonic() + delay >= end:
                    return self._delivery(False, self._gave_up("no time left to retry"))
                sleep(delay)

    def _answer_delay(
        self, response: httpx.Response, backoff: tuple[float, ...], end: float
    ) -> float | None:
        """The shared retry policy for an answer, plus: a 429 that names no wait is retried
        with the backoff; one that asks for longer than may be waited is reported as such."""
        now = time.time()
        limit = min(MAX_RETRY_AFTER, max(0.0, end - time.monotonic()))
        delay = retry_delay(
            self.attempts, backoff, safe=True, now=now, max_wait=limit, response=response
        )
        if response.status_code != 429 or delay is not None or self.attempts > len(backoff):
            return delay
        asked = rate_limit_wait(response.headers, now)
        if asked is None:
            return backoff[self.attempts - 1]
        self.error = f"{self.error}; asked to retry after {asked:g}s, longer than it may wait"
        return None

    def _gave_up(self, why: str) -> str:
        return f"{self.error}; {why}" if self.error else why


def _transport_text(exc: httpx.HTTPError, url: str) -> str:
    kind = failure_kind(exc)
    if kind == "timeout":
        return f"timed out ({type(exc).__name__})"
    reason = _scrub(str(exc), url) or type(exc).__name__
    return f"cannot connect ({reason})" if kind == "connect" else f"transport error ({reason})"


def _status_text(response: httpx.Response, url: str) -> str:
    text = f"HTTP {response.status_code}"
    try:
        body = _one_line(response.text)
    except Exception:  # undecodable body: the status says enough
        body = ""
    body = _clip(_scrub(body, url), 200)
    if 300 <= response.status_code < 400:
        return f"{text} (a redirect; webhooks are not redirected)"
    return f"{text}: {body}" if body else text


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL or its secret-bearing parts (path, query, userinfo), nor any
    registered secret (a receiver may echo the request's headers and body)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    secrets = [url, url.rstrip("/")]
    if parts is not None:
        secrets += [parts.path, parts.query, parts.netloc.rpartition("@")[0]]
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "[url]")
    return scrub(text).strip()


__all__ = [
    "ENV_JSON_WEBHOOK",
    "ENV_SLACK_WEBHOOK",
    "SCHEMA",
    "Delivery",
    "Event",
    "Target",
    "json_payload",
    "send",
    "slack_escape",
    "slack_payload",
    "targets",
]
