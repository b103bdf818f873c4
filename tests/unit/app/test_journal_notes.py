"""A webhook the plan names but this environment does not configure is a quiet note: not
a warning, not a failed delivery, not a decision record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rolloutcli.app.apply import Journal
from rolloutcli.journal import record as audit
from rolloutcli.journal.notify import Delivery, Target
from rolloutcli.plan.notifications import Webhook

AT = datetime(2026, 11, 2, 12, tzinfo=UTC)
SUBJECT = audit.Subject(
    plan="checkout-v2",
    plan_file=None,
    flag="checkout-v2",
    platform="flagfile",
    where="flags/flags.json",
    environment="production",
)
SLACK = [Webhook(format="slack", url_env="SLACK_WEBHOOK_URL")]


def test_an_unset_webhook_variable_is_a_note_and_nothing_is_sent(tmp_path: Path) -> None:
    def send(*_: Any, **__: Any) -> list[Delivery]:
        raise AssertionError("nothing is configured: nothing may be sent")

    journal = Journal(tmp_path / "decisions.jsonl", "alice", "rollback", environ={}, send=send)
    journal.notify("rollback", SUBJECT, SLACK, AT)
    assert journal.notes == [
        "rollback not notified: SLACK_WEBHOOK_URL is not set (the plan names it for a slack "
        "webhook)"
    ]
    assert journal.warnings == []
    assert not (tmp_path / "decisions.jsonl").exists()  # no notify record


def test_the_configured_webhooks_are_still_sent_to(tmp_path: Path) -> None:
    sent: list[list[Target]] = []

    def send(_: Any, targets: list[Target]) -> list[Delivery]:
        sent.append(targets)
        return [Delivery(t.describe(), t.format, True, 1, 200) for t in targets]

    environ = {"ROLLOUT_WEBHOOK_URL": "https://hooks.example.org/x"}
    journal = Journal(tmp_path / "d.jsonl", "alice", "rollback", environ=environ, send=send)
    journal.notify("rollback", SUBJECT, SLACK, AT)
    assert [[t.source for t in targets] for targets in sent] == [["ROLLOUT_WEBHOOK_URL"]]
    assert len(journal.notes) == 1 and journal.warnings == []
    assert [d.ok for d in journal.deliveries] == [True]


def test_an_event_the_webhook_does_not_want_is_not_even_noted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "d.jsonl", "alice", "advance", environ={})
    journal.notify("advance", SUBJECT, SLACK, AT)  # advance is not in the default events
    assert journal.notes == [] and journal.warnings == []
