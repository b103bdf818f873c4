"""The flag `rollout kill` turns off, and the words for what the kill did.

The flag is named one of two ways:

- a plan or a flag key: :func:`rolloutcli.app.killswitch.find_target` reads the plans, as
  tolerantly as it can;
- its address alone, no plan at all: ``--flag-file FILE``, or ``--platform
  flagfile|unleash|launchdarkly --flag KEY --environment ENV [--project P] [--url URL]``
  (tokens still come only from the environment). Nothing is guessed: an environment or
  project the platform needs and was not given is an error, never a default.

Imported by `rollout kill` alone: no statistics, no metrics.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rolloutcli.platforms.base import Platform
from rolloutcli.support.deadlines import Budget
from rolloutcli.support.errors import InvalidInputError

DEFAULT_KIND = "flagfile"
"""What `kill --flag-file` opens with no --platform: the embedded default."""
KILL_BACKOFF = (0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0)
"""Seconds before each retry of a kill's calls: up to 12 attempts, the deadline permitting
(a kill is worth more patience than a read)."""
KILL_READ_SHARE = 0.5
"""A platform's read of the flag before the kill's write may take half the time left: a
server too slow to answer it must still get the write."""


@dataclass(frozen=True)
class Address:
    """What the command line says about the flag, besides PLAN_OR_FLAG."""

    platform: str | None = None
    flag: str | None = None
    environment: str | None = None
    project: str | None = None
    url: str | None = None
    flag_file: Path | None = None

    @property
    def plan_less(self) -> bool:
        return self.platform is not None or self.flag_file is not None


@dataclass(frozen=True)
class Target:
    flag: str
    plan: str | None
    platform: Platform
    kind: str
    path: Path | None = None
    """The plan file, when the target came from one."""
    environment: str | None = None
    """None: a flag file named on the command line with no environment (it has none)."""

    @property
    def label(self) -> str:
        """The environment for records and notifications: the one given, else the file."""
        return self.environment or self.platform.describe()


def find(ref: str | None, address: Address, plans_dir: Path | None) -> Target:
    """The flag to kill: from its address alone when one is given, else from the plans."""
    if address.plan_less:
        return _plan_less(ref, address)
    given = [
        name
        for name, value in (
            ("--flag", address.flag),
            ("--environment", address.environment),
            ("--project", address.project),
            ("--url", address.url),
        )
        if value is not None
    ]
    if given:
        raise InvalidInputError(
            f"{given[0]} names a flag with no plan: add --platform (flagfile, unleash or "
            "launchdarkly), or leave it out to use the plan's"
        )
    if ref is None:
        raise InvalidInputError(
            "kill needs a PLAN_OR_FLAG, or a flag's address: --platform KIND --flag KEY "
            "--environment ENV (or --flag-file FILE)"
        )
    from rolloutcli.app.killswitch import find_target

    found = find_target(ref, None, plans_dir)
    platform = found.platform
    return Target(
        flag=found.flag,
        plan=found.plan,
        platform=platform,
        kind=getattr(platform, "name", "unknown"),
        path=found.path,
        environment=platform.environment,
    )


def _plan_less(ref: str | None, address: Address) -> Target:
    flag = _flag_key(ref, address.flag)
    kind = address.platform or DEFAULT_KIND
    if kind == DEFAULT_KIND:
        return _flag_file(flag, address)  # the embedded default: no pydantic, no network
    from rolloutcli.plan.platform_specs import PLATFORM_SPECS, platform_kinds_text, platform_spec
    from rolloutcli.platforms import open_platform

    if kind not in PLATFORM_SPECS:
        raise InvalidInputError(
            f"--platform {kind!r} is not a platform: use {platform_kinds_text()}"
        )
    if address.flag_file is not None:
        raise InvalidInputError(f"--flag-file is for --platform flagfile, not {kind}")
    if not address.environment:
        raise InvalidInputError(
            f"--environment is required with --platform {kind}: a kill never guesses where"
        )
    spec = platform_spec(
        {
            "kind": kind,
            "environment": address.environment,
            "url": address.url,
            "project": address.project,
        }
    )
    platform = open_platform(spec, flag, Path("."), None)
    return Target(flag, None, platform, kind, None, address.environment)


def _flag_file(flag: str, address: Address) -> Target:
    if address.flag_file is None:
        raise InvalidInputError("--platform flagfile needs --flag-file FILE")
    for option, value in (("--project", address.project), ("--url", address.url)):
        if value is not None:
            raise InvalidInputError(f"{option} is not used with a flag file")
    from rolloutcli.platforms.flagfile import FlagFilePlatform

    platform = FlagFilePlatform(address.flag_file, flag, address.environment or "", plan_less=True)
    return Target(flag, None, platform, "flagfile", None, address.environment or None)


def _flag_key(ref: str | None, flag: str | None) -> str:
    if ref is not None and flag is not None and ref != flag:
        raise InvalidInputError(
            "the flag is named twice, differently (PLAN_OR_FLAG and --flag): give it once"
        )
    key = flag if flag is not None else ref
    if not key:
        raise InvalidInputError("name the flag: --flag KEY (or PLAN_OR_FLAG)")
    return key


# ---------------------------------------------------------------------- what it did


def place(target: Target) -> str:
    """``Unleash http://…, project default`` or ``flagd file flags/flags.json``."""
    described = target.platform.describe()
    return f"flagd file {described}" if target.kind == "flagfile" else described


def in_environment(target: Target) -> str:
    """`` in production``, or nothing for a flag file named with no environment."""
    return f" in {target.environment}" if target.environment else ""


def tried(scope: Budget) -> str:
    """``3 requests (2 got HTTP 429), 1.3 s``; with no request at all, ``0.0 s``."""
    seconds = f"{scope.elapsed():.1f} s"
    if not scope.attempts:
        return seconds
    count = len(scope.attempts)
    text = f"{count} request{'s' if count != 1 else ''}"
    failed = Counter(a.outcome for a in scope.attempts if not a.ok)
    if failed:
        text += " (" + ", ".join(_outcome(n, outcome) for outcome, n in failed.items()) + ")"
    return f"{text}, {seconds}"


def _outcome(count: int, outcome: str) -> str:
    return f"{count} got {outcome}" if outcome.startswith("HTTP ") else f"{count} {outcome}"


def attempts_note(scope: Budget) -> str:
    """For a failed kill: each call and how each attempt ended, in order."""
    calls: dict[str, list[str]] = {}
    for attempt in scope.attempts:
        calls.setdefault(f"{attempt.method} {attempt.path}", []).append(attempt.outcome)
    listed = "; ".join(f"{call}: {', '.join(outcomes)}" for call, outcomes in calls.items())
    head = f"kill tried for {scope.elapsed():.1f} s of its {scope.seconds:g} s deadline"
    return f"{head}: {listed}" if listed else head
