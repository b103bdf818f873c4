"""The change note every platform keeps, with the id of the decision record it was written
with (issue 19): read back exactly, old notes still read, the id never cut nor scrubbed."""

from __future__ import annotations

from rolloutcli.judge.lifecycle import kill_reason
from rolloutcli.platforms.changenote import (
    NOTE_LIMIT,
    Title,
    format_title,
    parse_title,
    split_record,
    with_record,
)
from rolloutcli.support.redact import register

RID = "0123456789abcdef0123456789abcdef"


def test_the_record_id_comes_right_after_the_action() -> None:
    text = format_title("checkout v2", "25%", 25, "advance", "rolloutcli: verdict go", RID)
    assert (
        text
        == f"rolloutcli plan=checkout_v2 stage=25% pct=25 action=advance record={RID} · verdict go"
    )


def test_a_note_round_trips_with_its_record_id() -> None:
    text = format_title("p", "internal beta", 0.5, "rollback", "why", RID)
    assert parse_title(text) == Title("p", False, "internal beta", 0.5, "rollback", RID)


def test_a_note_without_a_why_ends_with_the_record_id() -> None:
    text = format_title("p", None, None, "kill", "", RID)
    assert text == f"rolloutcli plan=p stage=- pct=- action=kill record={RID}"
    assert parse_title(text) == Title("p", False, "-", None, "kill", RID)


def test_an_old_note_without_an_id_still_parses() -> None:
    old = "rolloutcli plan=p stage=10% pct=10 action=advance · verdict go"
    assert parse_title(old) == Title("p", False, "10%", 10.0, "advance", None)
    assert parse_title("rolloutcli plan=p stage=- pct=- action=kill") == Title(
        "p", False, "-", None, "kill", None
    )


def test_a_why_that_looks_like_an_id_is_not_taken_for_one() -> None:
    text = f"rolloutcli plan=p stage=10% pct=10 action=advance · record={RID}"
    assert parse_title(text) == Title("p", False, "10%", 10.0, "advance", None)


def test_a_long_why_is_cut_and_the_id_kept_whole() -> None:
    text = format_title("p", "5%", 5, "advance", "x" * 600, RID)
    assert len(text) == NOTE_LIMIT
    assert parse_title(text) == Title("p", False, "5%", 5.0, "advance", RID)
    head = f"rolloutcli plan=p stage=5% pct=5 action=advance record={RID} · "
    assert text == head + "x" * (NOTE_LIMIT - len(head))


def test_a_head_longer_than_the_limit_gives_way_before_the_id() -> None:
    text = format_title("p", "s" * 600, 5, "advance", "why", RID)
    assert len(text) == NOTE_LIMIT
    assert text.endswith(f" record={RID}")


def test_secrets_are_scrubbed_from_the_note_but_never_from_the_id() -> None:
    register("89abcdef")  # a secret that happens to appear inside the id
    text = format_title("p", "10%", 10, "rollback", "token 89abcdef leaked", RID)
    assert text == (
        f"rolloutcli plan=p stage=10% pct=10 action=rollback record={RID} · token [redacted] leaked"
    )
    assert parse_title(text) == Title("p", False, "10%", 10.0, "rollback", RID)


def test_a_long_why_with_a_secret_at_the_cut_is_scrubbed_and_keeps_the_id() -> None:
    register("secret-token-1234")
    why = "a" * 420 + " secret-token-1234"
    text = format_title("plan", "10%", 10.0, "rollback", why, RID)
    assert len(text) == NOTE_LIMIT
    assert "secre" not in text
    title = parse_title(text)
    assert title is not None and title.record == RID


def test_the_kill_reason_drops_the_head_with_its_id() -> None:
    assert kill_reason(format_title("p", None, None, "kill", "error rate", RID)) == "error rate"
    assert kill_reason("rolloutcli plan=p stage=- pct=- action=kill · error rate") == "error rate"


def test_a_free_form_comment_ends_with_its_record_id_and_splits_back() -> None:
    text = with_record("rolloutcli kill: checkout errors", RID)
    assert text == f"rolloutcli kill: checkout errors (record {RID})"
    assert split_record(text) == ("rolloutcli kill: checkout errors", RID)
    assert split_record("rolloutcli kill: checkout errors") == (
        "rolloutcli kill: checkout errors",
        None,
    )
    assert with_record("no id", None) == "no id"


def test_a_long_free_form_comment_is_cut_before_its_id() -> None:
    register("secret-token-1234")
    text = with_record("b" * 400 + " secret-token-1234 " + "c" * 100, RID)
    assert len(text) == NOTE_LIMIT
    assert "secre" not in text
    assert split_record(text) == ("b" * 400 + " [redacted] " + "c" * 46, RID)
    assert with_record("d" * 600, RID, None) == "d" * 600 + f" (record {RID})"
