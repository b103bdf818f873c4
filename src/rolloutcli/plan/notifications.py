"""A plan's webhooks: who is told of a pause, a rollback, a kill (and its undoing), a
rollout done.

Apart from the plan model so that `rollout kill`, which must notify when the plan asks
and must not wait for anything else, validates this section alone instead of building the
whole plan model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictStr, StringConstraints

from rolloutcli.plan.fields import Key, PlanModel

MAX_WEBHOOKS = 20

NotifyEvent = Literal[
    "pause", "rollback", "kill", "done", "resume", "advance", "unkill", "reduce", "knob"
]
NOTIFY_DEFAULT: list[NotifyEvent] = [
    "pause",
    "rollback",
    "kill",
    "done",
    "unkill",
    "reduce",
    "knob",
]
"""``unkill`` (a killed flag turned back on) is told by default, as the kill was: whoever
heard of the kill hears the flag serves the treatment again; ``reduce`` (a step back to an
earlier stage, paused there) as a rollback is; ``knob`` (a knob tuned, issue 21) as it
changes what the treatment serves."""


class Webhook(PlanModel):
    """A webhook to post to. The URL is a secret (a Slack URL is a credential), so a plan
    names the environment variable that holds it; ``url`` is for local receivers."""

    format: Literal["json", "slack"] = Field(
        "json", description="json: rolloutcli's event document; slack: an incoming webhook."
    )
    url_env: Key | None = Field(
        None, description="Environment variable holding the URL (e.g. SLACK_WEBHOOK_URL)."
    )
    url: Annotated[StrictStr, StringConstraints(max_length=2048)] | None = Field(
        None, description="The URL itself (only for non-secret, e.g. internal, receivers)."
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_DEFAULT),
        max_length=12,
        description="Events that post: pause, rollback, kill, done, unkill, reduce, knob "
        "(default), resume, advance.",
    )


class Notifications(PlanModel):
    webhooks: list[Webhook] = Field(
        default_factory=list, max_length=MAX_WEBHOOKS, description=f"At most {MAX_WEBHOOKS}."
    )
