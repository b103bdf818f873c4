"""notify's pure parts: summary lines, the JSON and Slack payloads (exact), Slack escaping and
Slack's length limits, resolving webhook targets, and who acted. Posting is tested against a
real receiver in tests/integration/test_notify_receiver.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from rolloutcli import __version__
from rolloutcli.journal.notify import (
    SLACK_FIELD_MAX,
    SLACK_HEADER_MAX,
    SLACK_SECTION_MAX,
    SLACK_TEXT_MAX,
    Delivery,
    Event,
    Target,
    json_payload,
    send,
    slack_clip,
    slack_escape,
    slack_payload,
    targets,
)
from rolloutcli.plan.notifications import Webhook

AT = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)
REASON = "error_rate breached rollback +50%: treatment 0.024 vs control 0.01 (+140%), p = 0.0003"
UNLEASH = "Unleash http://127.0.0.1:4242, project default"
SLACK_URL = "https://hooks.example.com/services/T000/B000/SECRETSECRET"
JSON_URL = "http://hooks.example.org:8080/rollouts?token=abc"


def rollback_event(**changes: Any) -> Event:
    values: dict[str, Any] = {
        "kind": "rollback",
        "plan": "checkout-v2",
        "flag": "checkout-v2",
        "environment": "production",
        "platform": UNLEASH,
        "at": AT,
        "who": "alice",
        "stage_before": "25%",
        "stage_after": None,
        "percent_before": 25.0,
        "percent_after": 0.0,
        "verdict": "rollback",
        "reasons": (REASON,),
        "phase_before": "in_stage",
        "phase_after": "rolled_back",
    }
    values.update(changes)
    return Event(**values)


def done_event() -> Event:
    return Event(
        kind="done",
        plan="search-ranking",
        flag="search.ranking-v3",
        environment="staging",
        platform="flags/flags.json",
        at=AT,
        who="ci via GitHub Actions",
        stage_before="full",
        stage_after="full",
        percent_before=100.0,
        percent_after=100.0,
        verdict="done",
        reasons=(),
    )


# --------------------------------------------------------------------------- summary


def test_summary_of_an_applied_rollback_names_the_change_and_the_reason() -> None:
    assert rollback_event().summary == (
        f"checkout-v2 rolled back: 25% → 0% in production ({REASON})"
    )


def test_summary_counts_further_reasons() -> None:
    event = rollback_event(reasons=(REASON, "latency breached rollback", "third"))
    assert event.summary == (f"checkout-v2 rolled back: 25% → 0% in production ({REASON}; +2 more)")


def test_summary_of_a_failed_rollback_shows_the_error_not_the_reason() -> None:
    event = rollback_event(result="failed", error="unleash: HTTP 503 from the Admin API")
    assert event.summary == (
        "checkout-v2 rollback FAILED: 25% → 0% in production "
        "(error: unleash: HTTP 503 from the Admin API)"
    )


def test_summary_of_a_pause_not_applied() -> None:
    event = rollback_event(
        kind="pause",
        percent_before=10.0,
        percent_after=10.0,
        stage_after="10%",
        result="not applied",
        reasons=("latency breached pause +10%",),
    )
    assert event.summary == (
        "checkout-v2 pause not applied: at 10% in production (latency breached pause +10%)"
    )


def test_summary_of_a_kill_says_off() -> None:
    event = rollback_event(kind="kill", percent_after=None, verdict=None, reasons=())
    assert event.summary == "checkout-v2 killed: 25% → off in production"
    unknown = rollback_event(kind="kill", percent_before=None, percent_after=None, reasons=())
    assert unknown.summary == "checkout-v2 killed: flag off in production"


def test_summary_of_done_and_of_an_event_without_percentages() -> None:
    assert done_event().summary == "search-ranking done: at 100% in staging"
    resumed = rollback_event(kind="resume", percent_before=None, percent_after=None, reasons=())
    assert resumed.summary == "checkout-v2 resumed in production"
    advanced = rollback_event(
        kind="advance", percent_before=12.5, percent_after=25.0, reasons=("all good\n  really",)
    )
    assert advanced.summary == "checkout-v2 advanced: 12.5% → 25% in production (all good really)"


def test_summary_clips_a_long_reason_to_one_short_line() -> None:
    event = rollback_event(reasons=("x" * 500,))
    assert event.summary == ("checkout-v2 rolled back: 25% → 0% in production (" + "x" * 199 + "…)")


def test_event_times_are_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert rollback_event(at=datetime(2026, 11, 2, 11, 0, tzinfo=cet)).at == AT
    assert rollback_event(at=datetime(2026, 11, 2, 10, 0)).at == AT  # naive means UTC
    assert json_payload(rollback_event(at=datetime(2026, 11, 2, 11, 0, tzinfo=cet)))["at"] == (
        "2026-11-02T10:00:00Z"
    )


# --------------------------------------------------------------------------- json


def test_json_payload_of_a_rollback() -> None:
    assert json_payload(rollback_event()) == {
        "schema": "rolloutcli.event/v1",
        "kind": "rollback",
        "summary": f"checkout-v2 rolled back: 25% → 0% in production ({REASON})",
        "plan": "checkout-v2",
        "flag": "checkout-v2",
        "environment": "production",
        "platform": UNLEASH,
        "at": "2026-11-02T10:00:00Z",
        "who": "alice",
        "stage_before": "25%",
        "stage_after": None,
        "percent_before": 25.0,
        "percent_after": 0.0,
        "verdict": "rollback",
        "reasons": [REASON],
        "result": "applied",
        "error": None,
        "phase_before": "in_stage",
        "phase_after": "rolled_back",
        "tool": "rolloutcli",
        "version": __version__,
    }


def test_json_payload_of_done() -> None:
    assert json_payload(done_event()) == {
        "schema": "rolloutcli.event/v1",
        "kind": "done",
        "summary": "search-ranking done: at 100% in staging",
        "plan": "search-ranking",
        "flag": "search.ranking-v3",
        "environment": "staging",
        "platform": "flags/flags.json",
        "at": "2026-11-02T10:00:00Z",
        "who": "ci via GitHub Actions",
        "stage_before": "full",
        "stage_after": "full",
        "percent_before": 100.0,
        "percent_after": 100.0,
        "verdict": "done",
        "reasons": [],
        "result": "applied",
        "error": None,
        "phase_before": None,
        "phase_after": None,
        "tool": "rolloutcli",
        "version": __version__,
    }


# --------------------------------------------------------------------------- slack


def _field(name: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{name}*\n{value}"}


def test_slack_payload_of_a_rollback() -> None:
    summary = f"checkout-v2 rolled back: 25% → 0% in production ({REASON})"
    assert slack_payload(rollback_event()) == {
        "text": summary,
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":rotating_light: checkout-v2 rolled back in production",
                    "emoji": True,
                },
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {
                "type": "section",
                "fields": [
                    _field("Flag", "checkout-v2"),
                    _field("Environment", "production"),
                    _field("Change", "25% → 0%"),
                    _field("Stage", "25% → none"),
                    _field("Verdict", "rollback"),
                    _field("Result", "applied"),
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Reasons*\n• {REASON}"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"rolloutcli {__version__} · {UNLEASH} · by alice · "
                        "2026-11-02T10:00:00Z",
                    }
                ],
            },
        ],
    }


def test_slack_payload_of_done() -> None:
    summary = "search-ranking done: at 100% in staging"
    assert slack_payload(done_event()) == {
        "text": summary,
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":white_check_mark: search-ranking done in staging",
                    "emoji": True,
                },
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {
                "type": "section",
                "fields": [
                    _field("Flag", "search.ranking-v3"),
                    _field("Environment", "staging"),
                    _field("Change", "at 100%"),
                    _field("Stage", "full"),
                    _field("Verdict", "done"),
                    _field("Result", "applied"),
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"rolloutcli {__version__} · flags/flags.json · by ci via "
                        "GitHub Actions · 2026-11-02T10:00:00Z",
                    }
                ],
            },
        ],
    }


def test_slack_payload_of_a_failed_kill_has_an_error_block_and_no_optional_fields() -> None:
    event = rollback_event(
        kind="kill",
        percent_before=None,
        percent_after=None,
        stage_before=None,
        verdict=None,
        reasons=(),
        result="failed",
        error="flagfile: cannot write flags.json <permission denied>",
    )
    payload = slack_payload(event)
    escaped_error = "flagfile: cannot write flags.json &lt;permission denied&gt;"
    assert (
        payload["text"]
        == f"checkout-v2 kill FAILED: flag off in production (error: {escaped_error})"
    )
    assert (
        payload["blocks"][0]["text"]["text"]
        == ":rotating_light: checkout-v2 kill FAILED in production"
    )
    assert payload["blocks"][2]["fields"] == [
        _field("Flag", "checkout-v2"),
        _field("Environment", "production"),
        _field("Change", "flag off"),
        _field("Result", ":x: failed"),
    ]
    assert payload["blocks"][3] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"*Error*\n{escaped_error}"},
    }
    assert payload["blocks"][4]["type"] == "context"
    assert len(payload["blocks"]) == 5


def test_slack_emoji_per_kind() -> None:
    headers = {
        kind: slack_payload(rollback_event(kind=kind))["blocks"][0]["text"]["text"].split()[0]
        for kind in (
            "pause",
            "rollback",
            "kill",
            "done",
            "resume",
            "advance",
            "unkill",
            "reduce",
            "knob",
        )
    }
    assert headers == {
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


def test_slack_escapes_only_ampersand_and_angle_brackets_in_mrkdwn() -> None:
    assert slack_escape("a & b <@U123> > c 'quoted' \"x\" *bold*") == (
        "a &amp; b &lt;@U123&gt; &gt; c 'quoted' \"x\" *bold*"
    )
    event = rollback_event(
        flag="a<b>&c", environment="prod & co", reasons=("p99 > 300ms <!channel>",)
    )
    payload = slack_payload(event)
    summary = "checkout-v2 rolled back: 25% → 0% in prod &amp; co (p99 &gt; 300ms &lt;!channel&gt;)"
    assert payload["text"] == summary
    assert payload["blocks"][1]["text"]["text"] == summary
    assert payload["blocks"][2]["fields"][0] == _field("Flag", "a&lt;b&gt;&amp;c")
    assert payload["blocks"][3]["text"]["text"] == "*Reasons*\n• p99 &gt; 300ms &lt;!channel&gt;"
    # the header is plain_text: not parsed by Slack, so not escaped
    assert payload["blocks"][0]["text"]["text"] == (
        ":rotating_light: checkout-v2 rolled back in prod & co"
    )


def test_slack_clip_never_cuts_an_entity() -> None:
    assert slack_clip("abc", 3) == "abc"
    assert slack_clip("abcd", 3) == "ab…"
    assert slack_clip("a&b", 5) == "a…"  # "a&amp;" would be 6; "&a…" would break the entity
    assert slack_clip("a&b", 7) == "a&amp;b"
    assert slack_clip("<<<<", 10) == "&lt;&lt;…"


def test_slack_payload_respects_slack_length_limits() -> None:
    long = "é<" * 4000
    event = rollback_event(
        plan="p" * 400,
        flag=long,
        environment="e" * 5000,
        reasons=tuple(f"{i} {long}" for i in range(5)),
        result="failed",
        error=long,
    )
    payload = slack_payload(event)
    assert len(payload["text"]) <= SLACK_TEXT_MAX
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == SLACK_HEADER_MAX
    assert header.endswith("…")
    sections = [b for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    assert len(sections) == 3  # summary, reasons, error
    for block in sections:
        assert len(block["text"]["text"]) <= SLACK_SECTION_MAX
        assert block["text"]["text"].endswith("…")
    assert sections[1]["text"]["text"].startswith("*Reasons*\n• 0 é&lt;é&lt;")
    assert sections[2]["text"]["text"].startswith("*Error*\né&lt;")
    fields = next(b for b in payload["blocks"] if "fields" in b)["fields"]
    assert len(fields) <= 10
    assert all(len(f["text"]) <= SLACK_FIELD_MAX for f in fields)
    assert fields[0]["text"].startswith("*Flag*\né&lt;")
    context = payload["blocks"][-1]["elements"][0]["text"]
    assert len(context) <= SLACK_FIELD_MAX


# --------------------------------------------------------------------------- targets


def test_plan_url_target_is_described_by_host_never_by_url() -> None:
    [target] = targets([Webhook(url=JSON_URL)], {})
    assert target == Target(
        "json",
        JSON_URL,
        frozenset(["pause", "rollback", "kill", "done", "unkill", "reduce", "knob"]),
        "plan, host hooks.example.org:8080",
    )
    assert target.describe() == "json webhook (plan, host hooks.example.org:8080)"
    assert "token" not in repr(target) and JSON_URL not in repr(target)


def test_url_env_present_and_missing() -> None:
    hooks = [
        Webhook(format="slack", url_env="SLACK_WEBHOOK_URL", events=["rollback", "kill"]),
        Webhook(url_env="OPS_HOOK"),
        Webhook(url_env="EMPTY_HOOK"),
    ]
    found = targets(hooks, {"SLACK_WEBHOOK_URL": f" {SLACK_URL}\n", "EMPTY_HOOK": "  "})
    assert found == [
        Target("slack", SLACK_URL, frozenset(["rollback", "kill"]), "SLACK_WEBHOOK_URL"),
        Target(
            "json",
            None,
            frozenset(["pause", "rollback", "kill", "done", "unkill", "reduce", "knob"]),
            "OPS_HOOK",
            "OPS_HOOK is not set (the plan names it for a json webhook)",
        ),
        Target(
            "json",
            None,
            frozenset(["pause", "rollback", "kill", "done", "unkill", "reduce", "knob"]),
            "EMPTY_HOOK",
            "EMPTY_HOOK is not set (the plan names it for a json webhook)",
        ),
    ]
    assert found[0].describe() == "slack webhook (SLACK_WEBHOOK_URL)"


def test_a_url_that_is_not_http_is_a_problem_without_the_url() -> None:
    found = targets(
        [Webhook(url_env="HOOK"), Webhook(url="ftp://files.example.org/x")],
        {"HOOK": "hooks.slack.com/services/SECRET"},
    )
    assert [(t.url, t.problem) for t in found] == [
        (None, "HOOK is not a valid http(s) URL"),
        (None, "the plan's url: is not a valid http(s) URL"),
    ]
    assert found[1].describe() == "json webhook (plan, host files.example.org)"
    assert all("SECRET" not in (t.problem or "") for t in found)


def test_environment_level_webhooks_fire_on_the_default_events() -> None:
    found = targets([], {"ROLLOUT_WEBHOOK_URL": JSON_URL, "ROLLOUT_SLACK_WEBHOOK_URL": SLACK_URL})
    default = frozenset(["pause", "rollback", "kill", "done", "unkill", "reduce", "knob"])
    assert found == [
        Target("json", JSON_URL, default, "ROLLOUT_WEBHOOK_URL"),
        Target("slack", SLACK_URL, default, "ROLLOUT_SLACK_WEBHOOK_URL"),
    ]
    assert targets([], {"ROLLOUT_WEBHOOK_URL": "", "ROLLOUT_SLACK_WEBHOOK_URL": " "}) == []


def test_identical_url_and_format_are_posted_once_with_their_events_merged() -> None:
    hooks = [
        Webhook(format="slack", url_env="SLACK_WEBHOOK_URL", events=["advance"]),
        Webhook(format="slack", url=SLACK_URL, events=["resume"]),
        Webhook(format="json", url=SLACK_URL, events=["resume"]),  # same URL, other format: kept
    ]
    found = targets(hooks, {"SLACK_WEBHOOK_URL": SLACK_URL, "ROLLOUT_SLACK_WEBHOOK_URL": SLACK_URL})
    assert found == [
        Target(
            "slack",
            SLACK_URL,
            frozenset(
                [
                    "advance",
                    "resume",
                    "pause",
                    "rollback",
                    "kill",
                    "done",
                    "unkill",
                    "reduce",
                    "knob",
                ]
            ),
            "SLACK_WEBHOOK_URL",
        ),
        Target("json", SLACK_URL, frozenset(["resume"]), "plan, host hooks.example.com"),
    ]


def test_send_posts_only_to_targets_that_want_the_event() -> None:
    quiet = Target("json", "http://127.0.0.1:9/never", frozenset(["advance"]), "plan")
    assert send(done_event(), [quiet]) == []
    assert send(done_event(), []) == []


def test_send_reports_an_unresolved_target_without_posting() -> None:
    missing = Target("slack", None, frozenset(["done"]), "SLACK_HOOK", "SLACK_HOOK is not set")
    [delivery] = send(done_event(), [missing])
    assert delivery == Delivery(
        "slack webhook (SLACK_HOOK)", "slack", False, 0, None, "SLACK_HOOK is not set", 0.0
    )
    assert delivery.describe() == (
        "slack webhook (SLACK_HOOK): not delivered after 0 attempts: SLACK_HOOK is not set"
    )


def test_delivery_describe_when_delivered() -> None:
    delivery = Delivery("json webhook (plan, host a.example)", "json", True, 1, 200)
    assert (
        delivery.describe()
        == "json webhook (plan, host a.example): delivered (HTTP 200, 1 attempt)"
    )


def test_the_journal_knows_the_environment_webhooks() -> None:
    from rolloutcli.app.apply import ENVIRONMENT_WEBHOOKS
    from rolloutcli.journal.notify import ENV_JSON_WEBHOOK, ENV_SLACK_WEBHOOK

    assert set(ENVIRONMENT_WEBHOOKS) == {ENV_JSON_WEBHOOK, ENV_SLACK_WEBHOOK}
