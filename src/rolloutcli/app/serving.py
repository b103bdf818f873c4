"""What the platform's own SDK serves, for `rollout verify` and `rollout who`: only a
platform that declares it evaluates flags offline (LaunchDarkly's) can say."""

from __future__ import annotations

from rolloutcli.app.standing import Standing, evaluates_offline
from rolloutcli.support.errors import InvalidInputError


def require_offline_sdk(standing: Standing, command: str) -> None:
    """Refuse ``command`` (InvalidInputError, exit 2) unless the platform evaluates offline
    (:class:`~rolloutcli.platforms.base.EvaluatesOffline`)."""
    if not evaluates_offline(standing):
        raise InvalidInputError(
            f"{command} needs a platform whose SDK evaluates offline (launchdarkly); "
            f"{standing.platform.name} is not one"
        )
