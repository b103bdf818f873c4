"""notify.send against a real local webhook receiver: what arrives (bodies, headers), what is
retried and how often, what is given up at once, and that the deadline holds and nothing raises.

Where a test only counts retries, the backoff sleep is replaced by a recorder so it does not
wait; the deadline tests use the real sleep and a receiver that really hangs. Their time
bounds are generous: they check that send is bounded, not how fast it is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rolloutcli import __version__
from rolloutcli.journal.notify import (
    Event,
    Target,
    json_payload,
    send,
    slack_payload,
    targets,
)
from rolloutcli.plan.notifications import Webhook
from tests.integration.webhook_receiver import Reply, WebhookReceiver, refused_url

pytestmark = pytest.mark.integration

DEFAULT_EVENTS = frozenset(["pause", "rollback", "kill", "done", "unkill"])
SECRET = "T0001/B0002/s3cr3tTOKEN"


@pytest.fixture
def rx() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


class Sleeps:
    """Records the backoff waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def event(kind: str = "rollback") -> Event:
    return Event(
        kind=kind,  # type: ignore[arg-type]
        plan="checkout-v2",
        flag="checkout-v2",
        environment="production",
        platform="flags/flags.json",
        at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        who="alice",
        stage_before="25%",
        stage_after=None,
        percent_before=25.0,
        percent_after=0.0,
        verdict="rollback",
        reasons=("error_rate breached rollback +50%: treatment 0.024 vs control 0.01 <&>",),
    )


def target(url: str, fmt: str = "json", source: str = "TEST_HOOK") -> Target:
    return Target(fmt, url, DEFAULT_EVENTS, source)  # type: ignore[arg-type]


def test_json_and_slack_bodies_arrive_exactly_with_their_headers(rx: WebhookReceiver) -> None:
    ev = event()
    found = targets(
        [
            Webhook(format="json", url=rx.url_for("/json")),
            Webhook(format="slack", url_env="SLACK_WEBHOOK_URL"),
        ],
        {"SLACK_WEBHOOK_URL": rx.url_for(f"/services/{SECRET}")},
    )
    deliveries = send(ev, found)
    assert [(d.target, d.format, d.ok, d.attempts, d.status, d.error) for d in deliveries] == [
        (
            "json webhook (plan, host 127.0.0.1:" + rx.url.rsplit(":", 1)[1] + ")",
            "json",
            True,
            1,
            200,
            None,
        ),
        ("slack webhook (SLACK_WEBHOOK_URL)", "slack", True, 1, 200, None),
    ]
    by_path = {r.path: r for r in rx.requests}
    assert len(rx.requests) == 2
    json_req, slack_req = by_path["/json"], by_path[f"/services/{SECRET}"]
    assert json_req.method == slack_req.method == "POST"
    assert json_req.json() == json_payload(ev)
    assert slack_req.json() == slack_payload(ev)
    for req in (json_req, slack_req):
        assert req.header("content-type") == "application/json"
        assert req.header("user-agent") == f"rolloutcli/{__version__}"
    assert "&lt;&amp;&gt;" in slack_req.body.decode()  # escaped for Slack on the wire
    assert "<&>" in json_req.json()["reasons"][0]  # the JSON document is not


def test_a_500_is_retried_with_backoff_and_then_delivered(rx: WebhookReceiver) -> None:
    rx.script(Reply(500, "rollup_error"), Reply(200))
    sleeps = Sleeps()
    [delivery] = send(event(), [target(rx.url_for("/hook"))], sleep=sleeps)
    assert (delivery.ok, delivery.attempts, delivery.status, delivery.error) == (
        True,
        2,
        200,
        None,
    )
    assert sleeps.waits == [0.25]
    assert len(rx.requests) == 2
    assert rx.requests[0].body == rx.requests[1].body
    assert rx.requests[1].json() == json_payload(event())


def test_persistent_5xx_gives_up_after_the_attempts(rx: WebhookReceiver) -> None:
    rx.default = Reply(503, "unavailable")
    sleeps = Sleeps()
    [delivery] = send(event(), [target(rx.url_for("/hook"))], attempts=3, sleep=sleeps)
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 3, 503)
    assert delivery.error == "HTTP 503: unavailable"
    assert sleeps.waits == [0.25, 0.5]
    assert len(rx.requests) == 3


def test_a_429_waits_as_retry_after_asks(rx: WebhookReceiver) -> None:
    rx.script(Reply(429, "rate_limited", headers={"Retry-After": "2"}), Reply(200))
    sleeps = Sleeps()
    [delivery] = send(event(), [target(rx.url_for("/hook"), "slack")], sleep=sleeps)
    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 2, 200)
    assert sleeps.waits == [2.0]
    assert [r.json() for r in rx.requests] == [slack_payload(event())] * 2


def test_a_429_asking_too_long_is_reported_not_waited(rx: WebhookReceiver) -> None:
    rx.script(Reply(429, "rate_limited", headers={"Retry-After": "120"}))
    sleeps = Sleeps()
    [delivery] = send(event(), [target(rx.url_for("/hook"))], sleep=sleeps)
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, 429)
    assert delivery.error == (
        "HTTP 429: rate_limited; asked to retry after 120s, longer than it may wait"
    )
    assert sleeps.waits == []
    assert len(rx.requests) == 1


def test_a_429_without_retry_after_is_retried_with_the_backoff(rx: WebhookReceiver) -> None:
    rx.script(Reply(429, "slow down"), Reply(200))
    sleeps = Sleeps()
    [delivery] = send(event(), [target(rx.url_for("/hook"))], sleep=sleeps)
    assert (delivery.ok, delivery.attempts) == (True, 2)
    assert sleeps.waits == [0.25]


def test_a_400_is_not_retried_and_its_error_hides_the_url(rx: WebhookReceiver) -> None:
    rx.script(Reply(400, "invalid_payload"))
    sleeps = Sleeps()
    url = rx.url_for(f"/services/{SECRET}")
    [delivery] = send(event(), [target(url, "slack", "SLACK_WEBHOOK_URL")], sleep=sleeps)
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, 400)
    assert delivery.error == "HTTP 400: invalid_payload"
    assert delivery.describe() == (
        "slack webhook (SLACK_WEBHOOK_URL): not delivered after 1 attempt: "
        "HTTP 400: invalid_payload"
    )
    assert sleeps.waits == []
    assert len(rx.requests) == 1


def test_an_answer_echoing_the_url_is_scrubbed(rx: WebhookReceiver) -> None:
    url = rx.url_for(f"/services/{SECRET}")
    rx.script(Reply(404, f"no hook at {url} (path /services/{SECRET})"))
    [delivery] = send(event(), [target(url)], sleep=Sleeps())
    assert delivery.error == "HTTP 404: no hook at [url] (path [url])"


def test_a_refused_connection_is_retried_then_reported_without_the_url() -> None:
    url = refused_url(f"/services/{SECRET}")
    sleeps = Sleeps()
    [delivery] = send(event(), [target(url)], sleep=sleeps)
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 3, None)
    assert delivery.error is not None
    assert delivery.error.startswith("cannot connect (")
    assert SECRET not in delivery.error and "127.0.0.1" not in delivery.error
    assert sleeps.waits == [0.25, 0.5]


def test_a_hanging_receiver_times_out_each_attempt(rx: WebhookReceiver) -> None:
    rx.default = Reply(200, delay=30)
    started = time.monotonic()
    [delivery] = send(event(), [target(rx.url_for("/hook"))], timeout=0.5, attempts=2)
    elapsed = time.monotonic() - started
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 2, None)
    assert delivery.error == "timed out (ReadTimeout)"
    assert len(rx.wait_for(2)) == 2
    assert elapsed < 10  # 2 x 0.5 s + 0.25 s backoff; generous for a loaded machine


def test_the_deadline_bounds_the_call_and_a_hang_does_not_delay_the_others() -> None:
    with WebhookReceiver() as hung, WebhookReceiver() as fine:
        hung.default = Reply(200, delay=30)
        started = time.monotonic()
        deliveries = send(
            event(),
            [target(hung.url_for("/hook"), source="HUNG"), target(fine.url_for("/hook"), "slack")],
            timeout=60,
            deadline=5.0,  # room for the fine receiver on a loaded machine
        )
        elapsed = time.monotonic() - started
        assert elapsed < 20  # the deadline is 5 s; the receiver holds its answer for 30 s
        hung_delivery, fine_delivery = deliveries
        assert (hung_delivery.ok, hung_delivery.attempts, hung_delivery.status) == (
            False,
            1,
            None,
        )
        assert hung_delivery.error is not None
        assert "timed out" in hung_delivery.error or "deadline" in hung_delivery.error
        assert (fine_delivery.ok, fine_delivery.attempts, fine_delivery.status) == (True, 1, 200)
        assert [r.json() for r in fine.requests] == [slack_payload(event())]


def test_the_deadline_stops_retries_it_has_no_time_for(rx: WebhookReceiver) -> None:
    rx.default = Reply(500)
    rx.script(Reply(429, headers={"Retry-After": "5"}))
    started = time.monotonic()
    [delivery] = send(event(), [target(rx.url_for("/hook"))], deadline=2.0)
    assert time.monotonic() - started < 6
    # the 5 s the server asks for do not fit in the 2 s left: reported at once
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, 429)
    assert delivery.error == "HTTP 429: ok; asked to retry after 5s, longer than it may wait"


def test_events_a_target_does_not_want_are_not_posted(rx: WebhookReceiver) -> None:
    found = targets([Webhook(url=rx.url_for("/hook"), events=["rollback"])], {})
    assert send(event("done"), found) == []
    assert send(event("advance"), found) == []
    [delivery] = send(event("rollback"), found)
    assert delivery.ok
    assert [r.json()["kind"] for r in rx.requests] == ["rollback"]


def test_a_missing_env_var_is_reported_and_the_others_still_post(rx: WebhookReceiver) -> None:
    found = targets(
        [Webhook(format="slack", url_env="SLACK_WEBHOOK_URL")],
        {"ROLLOUT_WEBHOOK_URL": rx.url_for("/env")},
    )
    missing, env_level = send(event(), found)
    assert (missing.ok, missing.attempts, missing.error) == (
        False,
        0,
        "SLACK_WEBHOOK_URL is not set (the plan names it for a slack webhook)",
    )
    assert (env_level.target, env_level.ok) == ("json webhook (ROLLOUT_WEBHOOK_URL)", True)
    assert [r.path for r in rx.requests] == ["/env"]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://[::1/x/" + SECRET, "unexpected error: Invalid port: ':1'"),
        ("http://\x00/" + SECRET, "unexpected error: Invalid non-printable ASCII character in URL"),
    ],
)
def test_send_never_raises_on_a_url_httpx_rejects(url: str, error: str) -> None:
    bad = Target("json", url, DEFAULT_EVENTS, "BAD")
    [delivery] = send(event(), [bad], sleep=Sleeps())
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, None)
    assert delivery.error is not None
    assert delivery.error.startswith(error)
    assert SECRET not in delivery.error
