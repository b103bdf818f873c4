"""The records store interface: which store a URL selects, and the JSON Lines store through it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rolloutcli.journal.pgstore import PostgresStore, record_id
from rolloutcli.journal.records import (
    SPOOL_NAME,
    JsonlStore,
    open_store,
    records_location,
)
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.redact import scrub

URL = "postgresql://rollout:hunter2secret@db.example:5432/records"


def config(base: Path, text: str) -> None:
    (base / ".rollout").mkdir(parents=True, exist_ok=True)
    (base / ".rollout" / "config.toml").write_text(text)


def test_default_is_the_file_beside_the_plans(tmp_path: Path) -> None:
    assert records_location(tmp_path, None, {}) == tmp_path / ".rollout" / "decisions.jsonl"


def test_option_beats_environment_beats_config(tmp_path: Path) -> None:
    config(tmp_path, 'records = "shared.jsonl"\n')
    env = {"ROLLOUT_RECORDS": URL}
    assert records_location(tmp_path, "mine.jsonl", env) == Path("mine.jsonl")
    assert records_location(tmp_path, None, env) == URL
    assert records_location(tmp_path, None, {}) == tmp_path / "shared.jsonl"


def test_config_url_and_empty_values(tmp_path: Path) -> None:
    config(tmp_path, f'records = "{URL}"\n')
    assert records_location(tmp_path, None, {"ROLLOUT_RECORDS": ""}) == URL
    config(tmp_path, 'records = ""\n')
    assert records_location(tmp_path, None, {}) == tmp_path / ".rollout" / "decisions.jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [("records = 3\n", "records must be a file path or a postgresql:// URL"), ("records =", "")],
)
def test_a_bad_config_is_one_invalid_input_line(tmp_path: Path, text: str, message: str) -> None:
    config(tmp_path, text)
    with pytest.raises(InvalidInputError) as caught:
        records_location(tmp_path, None, {})
    assert str(caught.value).startswith(str(tmp_path / ".rollout" / "config.toml") + ": ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_url_scheme_selects_the_store(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "d.jsonl"), JsonlStore)
    for url in (URL, "postgres://h/db", "POSTGRESQL://h/db"):
        chosen = open_store(url, tmp_path)
        assert isinstance(chosen, PostgresStore)
        assert chosen.spool == tmp_path / SPOOL_NAME


def test_the_postgres_store_never_shows_its_password(tmp_path: Path) -> None:
    chosen = open_store(URL, tmp_path)
    assert chosen.describe() == "postgresql://db.example:5432/records"
    assert scrub(f"failed: {URL}") == "failed: postgresql://[redacted]@db.example:5432/records"


def rec(n: int, plan: str | None, flag: str, at: str) -> dict[str, object]:
    return {"id": f"r{n}", "time": at, "plan": plan, "flag": flag, "event": "advance"}


def test_jsonl_store_reads_by_plan_flag_and_time(tmp_path: Path) -> None:
    store = open_store(tmp_path / "d.jsonl")
    store.append(rec(1, "checkout", "checkout-v2", "2026-11-02T10:00:00Z"))
    store.append(rec(2, "search", "search-v3", "2026-11-02T11:00:00Z"))
    store.append(rec(3, None, "checkout-v2", "2026-11-02T12:00:00Z"))
    store.append(rec(4, "checkout", "checkout-v2", "2026-11-02T13:00:00Z"))

    def ids(**kw: object) -> list[object]:
        return [r["id"] for r in store.read(**kw).entries]  # type: ignore[arg-type]

    assert ids() == ["r1", "r2", "r3", "r4"]
    assert ids(plan="checkout") == ["r1", "r4"]
    assert ids(plan="checkout", flag="checkout-v2") == ["r1", "r3", "r4"]
    assert ids(flag="search-v3") == ["r2"]
    assert ids(
        since=datetime(2026, 11, 2, 11, tzinfo=UTC), until=datetime(2026, 11, 2, 12, tzinfo=UTC)
    ) == ["r2", "r3"]
    assert store.describe() == str(tmp_path / "d.jsonl")


def test_a_record_without_an_id_gets_a_stable_one() -> None:
    old = {"time": "2026-11-02T10:00:00Z", "plan": "checkout", "event": "advance"}
    assert record_id(old) == record_id(dict(old))
    assert record_id(old).startswith("sha256:") and len(record_id(old)) == 7 + 64
    assert record_id({**old, "event": "rollback"}) != record_id(old)
    assert record_id({**old, "id": "abc"}) == "abc"
