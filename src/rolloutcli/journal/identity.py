"""Who is acting, for decision records and notifications: the CI identity when running in
CI, else the local user. ``ROLLOUT_ACTOR`` overrides both (e.g. a bot's name)."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping


def actor(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("ROLLOUT_ACTOR"):
        return env["ROLLOUT_ACTOR"]
    if env.get("GITHUB_ACTIONS") == "true":
        who = env.get("GITHUB_ACTOR") or "unknown"
        run = env.get("GITHUB_RUN_ID")
        repo = env.get("GITHUB_REPOSITORY")
        where = " ".join(p for p in (repo, f"run {run}" if run else None) if p)
        return f"github-actions:{who}" + (f" ({where})" if where else "")
    if env.get("GITLAB_CI") == "true":
        who = env.get("GITLAB_USER_LOGIN") or "unknown"
        job = env.get("CI_JOB_ID")
        project = env.get("CI_PROJECT_PATH")
        where = " ".join(p for p in (project, f"job {job}" if job else None) if p)
        return f"gitlab-ci:{who}" + (f" ({where})" if where else "")
    if env.get("JENKINS_URL"):
        return f"jenkins:{env.get('BUILD_TAG') or 'unknown'}"
    if env.get("BUILDKITE") == "true":
        return f"buildkite:{env.get('BUILDKITE_BUILD_CREATOR') or 'unknown'}"
    user = _user(env)
    if env.get("CI") in ("true", "1"):
        return f"ci:{user}"
    return f"{user}@{socket.gethostname()}"


def _user(env: Mapping[str, str]) -> str:
    for name in ("USER", "LOGNAME", "USERNAME"):
        if env.get(name):
            return env[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
