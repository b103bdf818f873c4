"""What the platform's own SDK serves, for `rollout verify` and `rollout who`: only a
platform whose SDK evaluates flags offline (LaunchDarkly's) can say."""

from __future__ import annotations

from rolloutcli.app.standing import Standing
from rolloutcli.support.errors import InvalidInputError


def require_offline_sdk(standing: Standing, verb: str, command: str) -> None:
    """Refuse ``command`` (InvalidInputError, exit 2) unless the platform has ``verb``."""
    if not callable(getattr(standing.platform, verb, None)):
        raise InvalidInputError(
            f"{command} needs a platform whose SDK evaluates offline (launchdarkly); "
            f"{standing.platform.name} is not one"
        )
