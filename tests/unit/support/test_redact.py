"""The secrets registry (redact.py) and the sinks that scrub with it."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest

from rolloutcli.journal.notify import Event, scrubbed
from rolloutcli.journal.store import decode, encode
from rolloutcli.platforms import launchdarkly, unleash
from rolloutcli.platforms.changenote import NOTE_LIMIT, format_title, note_text
from rolloutcli.render.markdown import markdown_report, workflow_command
from rolloutcli.support import redact
from rolloutcli.support.jsonsafe import json_safe
from rolloutcli.support.redact import (
    MARKER,
    ScrubbingStream,
    clip,
    display_url,
    env_secret,
    register,
    register_basic_auth,
    register_environment,
    register_url,
    scrub,
    scrub_data,
)

TOKEN = "tok-0123456789abcdef"


@pytest.fixture(autouse=True)
def _empty_registry() -> None:
    redact.reset()


# ---------------------------------------------------------------------- registering


def test_a_registered_value_is_replaced_by_the_marker() -> None:
    assert MARKER == "[redacted]"
    assert scrub(f"Authorization: Bearer {TOKEN}.") == f"Authorization: Bearer {TOKEN}."
    register(TOKEN)
    assert scrub(f"Authorization: Bearer {TOKEN}.") == "Authorization: Bearer [redacted]."
    assert scrub(f"{TOKEN}{TOKEN}") == "[redacted][redacted]"


def test_nothing_registered_leaves_text_alone() -> None:
    assert scrub(f"a {TOKEN} b") == f"a {TOKEN} b"
    assert scrub("") == ""


@pytest.mark.parametrize("value", ["", "a", "ab", "abc"])
def test_values_under_four_characters_are_not_registered(value: str) -> None:
    assert redact.MIN_LENGTH == 4
    register(value)
    register(None)
    assert scrub("a ab abc abcd") == "a ab abc abcd"


def test_four_characters_are_enough() -> None:
    register("abcd")
    assert scrub("a ab abc abcd") == "a ab abc [redacted]"


SPECIAL = 'p@ss:w/rd+"x é'


@pytest.mark.parametrize(
    "form",
    [
        SPECIAL,
        quote(SPECIAL, safe=""),  # p%40ss%3Aw%2Frd%2B%22x%20%C3%A9
        quote(SPECIAL, safe="").lower(),  # lower-case hex, as some servers write it
        quote(SPECIAL),  # "/" kept
        "p%40ss%3Aw%2Frd%2B%22x+%C3%A9",  # form encoding: space as +
        'p@ss:w/rd+\\"x \\u00e9',  # JSON, ASCII only
        'p@ss:w/rd+\\"x é',  # JSON, UTF-8
        'p@ss:w\\/rd+\\"x \\u00e9',  # JSON with "/" escaped
        "p@ss:w/rd+&quot;x é",  # HTML
    ],
)
def test_every_encoded_form_a_server_may_echo_is_scrubbed(form: str) -> None:
    register(SPECIAL)
    assert scrub(f"<{form}>") == "<[redacted]>"


def test_a_percent_encoded_value_is_also_registered_decoded() -> None:
    register("pa%40ss-word")
    assert scrub("pa@ss-word / pa%40ss-word") == "[redacted] / [redacted]"


def test_the_longest_registered_value_wins() -> None:
    register("abcd-1234")
    register("abcd-1234-efgh")
    assert scrub("abcd-1234-efgh abcd-1234") == "[redacted] [redacted]"


def test_a_numeric_value_is_not_cut_out_of_a_longer_number() -> None:
    register("123456")
    assert scrub("tenant 123456, count 91234567, id=123456x") == (
        "tenant [redacted], count 91234567, id=[redacted]x"
    )


def test_basic_auth_registers_the_pair_and_its_base64() -> None:
    register_basic_auth("alice", "s3cret!")  # "alice:s3cret!" → base64 ends in "=="
    encoded = base64.b64encode(b"alice:s3cret!").decode()
    assert encoded.endswith("==")
    assert scrub(f"Authorization: Basic {encoded}") == "Authorization: Basic [redacted]=="
    assert scrub(f"Basic {encoded.rstrip('=')}") == "Basic [redacted]"
    assert (
        scrub("alice:s3cret! alice s3cret!") == "[redacted] alice [redacted]"
    )  # a name is no secret


def test_env_secret_reads_strips_and_registers() -> None:
    environ = {"X_TOKEN": f"  {TOKEN}\n"}
    assert env_secret("X_TOKEN", environ) == TOKEN
    assert env_secret("UNSET", environ) == ""
    assert scrub(TOKEN) == "[redacted]"


def test_the_credentials_in_a_url_are_registered_and_never_displayed() -> None:
    url = "https://bob:p%40ss-word@prom.example:8443/api/?token=qwerty123&x=1"
    assert display_url(url) == "https://prom.example:8443/api/?[redacted]"  # the whole query
    assert scrub("token=qwerty123") == "token=[redacted]"  # and each value in it
    assert scrub("p@ss-word p%40ss-word") == "[redacted] [redacted]"
    assert scrub(base64.b64encode(b"bob:p@ss-word").decode()) == "[redacted]=="  # padding
    assert scrub("bob:p%40ss-word@") == "[redacted]@"
    assert scrub("bob") == "bob"  # three characters: not registered


def test_display_url_of_a_url_without_credentials_is_the_url() -> None:
    assert display_url("http://127.0.0.1:4242") == "http://127.0.0.1:4242"
    assert display_url("not a url") == "not a url"
    assert scrub("http://127.0.0.1:4242") == "http://127.0.0.1:4242"


def test_a_webhook_url_is_a_secret_with_its_long_path_and_segments() -> None:
    secret = "XXXXXXXXXXXXXXXXXXXXXXXX"
    url = f"https://hooks.slack.com/services/T000/B000/{secret}"
    register_url(url, secret=True)
    assert scrub(f"posting to {url}") == "posting to [redacted]"
    assert scrub(f"no_service: /services/T000/B000/{secret}") == "no_service: [redacted]"
    assert scrub(f"invalid token {secret}") == "invalid token [redacted]"
    assert scrub(quote(url, safe="")) == "[redacted]"
    assert scrub("T000 B000 hooks.slack.com") == "T000 B000 hooks.slack.com"


def test_a_short_webhook_path_is_an_address_not_a_secret() -> None:
    register_url("https://ops.example/hooks", secret=True)
    assert scrub("https://ops.example/hooks") == "[redacted]"
    assert scrub("POST /hooks") == "POST /hooks"


def test_register_environment_covers_every_secret_variable() -> None:
    environ = {
        "LD_API_TOKEN": "ld-token-1",
        "UNLEASH_API_TOKEN": "unleash-token-2",
        "PROMETHEUS_TOKEN": "prom-token-3",
        "PROMETHEUS_USERNAME": "prom-user-4",
        "PROMETHEUS_PASSWORD": "prom-pass-5",
        "PROMETHEUS_ORG_ID": "tenant-6",
        "DD_API_KEY": "dd-api-7",
        "DD_APP_KEY": "dd-app-8",
        "DD_APPLICATION_KEY": "dd-application-9",
        "ROLLOUT_WEBHOOK_URL": "https://bus.example/json-hook-10",
        "ROLLOUT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/slack-secret-11-abcdef",
        "UNLEASH_URL": "https://u:unleash-url-pw-12@unleash.example",
        "LD_BASE_URL": "https://u:ld-url-pw-13@ld.example",
        "PROMETHEUS_URL": "https://u:prom-url-pw-14@prom.example",
        "PLAIN": "not-a-secret-15",
    }
    register_environment(environ)
    text = " ".join(environ.values())
    assert scrub(text) == " ".join(
        ["[redacted]"] * 3
        + ["prom-user-4"]  # a user name alone is no secret ...
        + ["[redacted]"] * 7
        + [
            "https://[redacted]@unleash.example",  # the whole user:password
            "https://[redacted]@ld.example",
            "https://[redacted]@prom.example",
            "not-a-secret-15",
        ]
    )
    pair = base64.b64encode(b"prom-user-4:prom-pass-5").decode().rstrip("=")
    assert scrub(f"prom-user-4:prom-pass-5 {pair}") == "[redacted] [redacted]"  # ... the pair is


def test_registering_from_many_threads_loses_nothing() -> None:
    values = [f"secret-{n:04d}-value" for n in range(200)]

    def add(chunk: list[str]) -> None:
        for value in chunk:
            register(value)
            scrub(value)

    threads = [threading.Thread(target=add, args=(values[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert scrub(" ".join(values)) == " ".join(["[redacted]"] * 200)


# ---------------------------------------------------------------------- clip, data


def test_clip_scrubs_before_it_cuts() -> None:
    register("secret-token-1234")
    text = "x" * 10 + "secret-token-1234" + "y" * 10
    assert scrub(text[:15]) == "xxxxxxxxxxsecre"  # why: cut first, and half the token shows
    assert clip(text, 25) == "x" * 10 + "[redacted]" + "y" * 5
    assert clip(text, 8) == "x" * 8
    assert clip(text, 0) == ""


def test_clip_never_cuts_a_marker_in_half_nor_runs_over() -> None:
    register("secret-token-1234")
    text = "x" * 10 + "secret-token-1234" + "y" * 10
    assert clip(text, 15) == "x" * 10  # not "xxxxxxxxxx[reda"
    assert clip(text, 19) == "x" * 10
    assert clip(text, 20) == "x" * 10 + "[redacted]"
    assert clip(text, 21) == "x" * 10 + "[redacted]y"


def test_python_and_json_escapes_of_a_backslash_are_scrubbed() -> None:
    register("back\\slash-secret")
    assert scrub(repr("back\\slash-secret")) == "'[redacted]'"
    assert scrub(json.dumps("back\\slash-secret")) == '"[redacted]"'


def test_scrub_data_scrubs_every_string_keys_included() -> None:
    register(TOKEN)
    data = {"a": [TOKEN, 3, None, (f"x{TOKEN}",)], TOKEN: {"b": 1.5}}
    assert scrub_data(data) == {
        "a": ["[redacted]", 3, None, ["x[redacted]"]],
        "[redacted]": {"b": 1.5},
    }


# ---------------------------------------------------------------------- the console


def test_the_stream_catches_a_secret_split_across_writes() -> None:
    register(TOKEN)
    target = io.StringIO()
    stream = ScrubbingStream(target)
    stream.write("a tok-0123")
    assert target.getvalue() == ""  # held until the line is complete
    stream.write("456789abcdef b\nnext")
    assert target.getvalue() == "a [redacted] b\n"
    stream.drain()
    assert target.getvalue() == "a [redacted] b\nnext"


def test_flush_passes_on_a_partial_line_but_holds_the_start_of_a_secret() -> None:
    register(TOKEN)
    target = io.StringIO()
    stream = ScrubbingStream(target)
    stream.write("Apply this change? [y/N]: ")
    stream.flush()
    assert target.getvalue() == "Apply this change? [y/N]: "  # a prompt shows before input
    stream.write("token tok-01")
    stream.flush()
    assert target.getvalue() == "Apply this change? [y/N]: token "
    stream.write("23456789abcdef\n")
    assert target.getvalue() == "Apply this change? [y/N]: token [redacted]\n"


def test_drain_passes_on_everything_still_held() -> None:
    register(TOKEN)
    target = io.StringIO()
    stream = ScrubbingStream(target)
    stream.write("tok-01")
    stream.flush()
    assert target.getvalue() == ""
    stream.drain()
    assert target.getvalue() == "tok-01"


def test_an_endless_line_is_passed_on_in_chunks() -> None:
    target = io.StringIO()
    stream = ScrubbingStream(target)
    stream.write("x" * ScrubbingStream.MAX_PENDING)
    assert target.getvalue() == "x" * ScrubbingStream.MAX_PENDING


class _Terminal(io.StringIO):
    encoding = "latin-1"  # type: ignore[assignment]

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 42


def test_the_stream_reports_the_wrapped_streams_terminal_and_encoding() -> None:
    wrapped = ScrubbingStream(_Terminal())
    assert wrapped.isatty() is True
    assert wrapped.fileno() == 42
    assert wrapped.encoding == "latin-1"
    assert wrapped.writable() is True
    plain = ScrubbingStream(io.StringIO())
    assert plain.isatty() is False
    assert plain.encoding == "utf-8"
    assert plain.write("abc") == 3


def test_install_scrubs_stdout_and_stderr_of_the_process() -> None:
    code = (
        "import sys\n"
        "from rolloutcli.support import redact\n"
        f"redact.register({TOKEN!r})\n"
        "redact.install_output_scrubbing()\n"
        "redact.install_output_scrubbing()\n"  # twice: still one wrapper
        f"print('out {TOKEN}')\n"
        f"print('err {TOKEN}', file=sys.stderr)\n"
        "sys.stdout.write('tok-01'); sys.stdout.flush(); sys.stdout.write('23456789abcdef')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out [redacted]\n[redacted]"
    assert done.stderr == "err [redacted]\n"


# ---------------------------------------------------------------------- the sinks


def test_json_output_and_decision_records_are_scrubbed() -> None:
    register(TOKEN)
    assert json_safe({"error": f"HTTP 401: {TOKEN}", "n": float("nan")}) == {
        "error": "HTTP 401: [redacted]",
        "n": None,
    }
    line = encode({"error": f"echo {TOKEN}", TOKEN: [TOKEN]})
    assert TOKEN.encode() not in line
    assert decode(line.rstrip(b"\n")) == {"error": "echo [redacted]", "[redacted]": ["[redacted]"]}


def test_change_notes_are_scrubbed_before_they_are_cut() -> None:
    register("secret-token-1234")
    why = "a" * 450 + " secret-token-1234"
    title = format_title("plan", "10%", 10.0, "rollback", why)
    assert len(title) == NOTE_LIMIT
    assert "secre" not in title
    assert note_text("x secret-token-1234 y", None) == "x [redacted] y"
    assert note_text("secret-token-1234", 4) == "[red"


def test_notification_events_are_scrubbed_field_by_field() -> None:
    register(TOKEN)
    event = Event(
        kind="rollback",
        plan="p",
        flag="f",
        environment="production",
        platform=f"Unleash {TOKEN}",
        at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        who="alice",
        reasons=(f"echo {TOKEN}",),
        error=f"HTTP 401: {TOKEN}",
    )
    clean = scrubbed(event)
    assert clean.platform == "Unleash [redacted]"
    assert clean.reasons == ("echo [redacted]",)
    assert clean.error == "HTTP 401: [redacted]"
    assert clean.who == "alice"


def test_ci_summaries_and_annotations_scrub_before_escaping() -> None:
    register("tok_en*secret|x")  # markdown escaping would turn it into tok\_en\*secret\|x
    report = markdown_report([{"plan": "p", "error": "HTTP 401: tok_en*secret|x"}])
    assert report == "## rollout check\n\n### ❌ p: **ERROR**\n\nHTTP 401: \\[redacted\\]\n"
    register("50%secret-value")  # a workflow command would percent-encode the %
    assert workflow_command("error", "50%secret-value 5%", title="50%secret-value") == (
        "::error title=[redacted]::[redacted] 5%25"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "x" * 290 + TOKEN}, "x" * 290 + "[redacted]"),
        ({"details": [{"message": TOKEN + " expired"}]}, "[redacted] expired"),
    ],
)
def test_unleash_errors_scrub_before_cutting(body: dict[str, object], expected: str) -> None:
    register(TOKEN)
    response = httpx.Response(401, json=body)
    assert unleash._error_message(response) == expected


def test_launchdarkly_errors_scrub_before_cutting() -> None:
    register(TOKEN)
    response = httpx.Response(401, json={"code": "unauthorized", "message": "y" * 270 + TOKEN})
    assert launchdarkly._error_message(response) == "unauthorized: " + "y" * 270 + "[redacted]"
    text = httpx.Response(502, text="z" * 190 + TOKEN)
    assert launchdarkly._error_message(text) == "z" * 190 + "[redacted]"


def test_a_notification_delivery_error_never_holds_the_secret() -> None:
    from rolloutcli.journal.notify import _status_text

    register(TOKEN)
    url = "https://hooks.example/services/T/B/abcdefghijklmnopqrstuvwx"
    response = httpx.Response(500, text="e" * 190 + f"{TOKEN} at {url}")
    text = _status_text(response, url)
    assert TOKEN[:6] not in text
    assert "abcdefghijklmnop" not in text
    assert text == "HTTP 500: " + "e" * 190 + "…"  # no room for [redacted]: left out whole


def test_json_forms_in_a_record_stay_valid_json() -> None:
    register('quo"te-token')
    line = encode({"a": 'x quo"te-token y', "b": json.dumps('quo"te-token')})
    assert decode(line.rstrip(b"\n")) == {"a": "x [redacted] y", "b": '"[redacted]"'}
