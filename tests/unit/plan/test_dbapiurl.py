"""A DB-API module named by URL: the module, the arguments its connect() is given, and
what is shown; a password never in a plan."""

from __future__ import annotations

import pytest

from rolloutcli.plan.dbapiurl import DbapiUrl, dbapi_problem, is_dbapi, parse_dbapi
from rolloutcli.plan.sqltext import url_problem


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "dbapi+sqlite3:events.sqlite",
            DbapiUrl("sqlite3", "events.sqlite", {}, "dbapi+sqlite3:events.sqlite"),
        ),
        (
            "dbapi+sqlite3:///srv/events.sqlite",
            DbapiUrl("sqlite3", "/srv/events.sqlite", {}, "dbapi+sqlite3:/srv/events.sqlite"),
        ),
        (
            "dbapi+sqlite3:my%20db.sqlite?timeout=5",
            DbapiUrl("sqlite3", "my db.sqlite", {"timeout": 5}, "dbapi+sqlite3:my db.sqlite"),
        ),
        (
            "dbapi+snowflake.connector:?account=acme&user=rollout&client_session_keep_alive=true",
            DbapiUrl(
                "snowflake.connector",
                None,
                {"account": "acme", "user": "rollout", "client_session_keep_alive": True},
                "dbapi+snowflake.connector:",
            ),
        ),
        (
            "dbapi+pymysql://reader@db.internal:3306/analytics?charset=utf8mb4",
            DbapiUrl(
                "pymysql",
                None,
                {
                    "host": "db.internal",
                    "port": 3306,
                    "user": "reader",
                    "database": "analytics",
                    "charset": "utf8mb4",
                },
                "dbapi+pymysql://db.internal:3306/analytics",
            ),
        ),
        (
            "dbapi+psycopg://rollout%40corp@127.0.0.1?dbname=metrics",
            DbapiUrl(
                "psycopg",
                None,
                {"host": "127.0.0.1", "user": "rollout@corp", "dbname": "metrics"},
                "dbapi+psycopg://127.0.0.1",
            ),
        ),
    ],
)
def test_a_url_names_the_module_and_its_connect_arguments(url: str, parsed: DbapiUrl) -> None:
    assert is_dbapi(url)
    assert parse_dbapi(url) == parsed
    assert url_problem(url) is None


def test_a_password_is_passed_from_the_environment_but_never_shown() -> None:
    parsed = parse_dbapi("dbapi+pymysql://reader:s3cret@db/analytics")
    assert parsed.kwargs["password"] == "s3cret"
    assert parsed.shown == "dbapi+pymysql://db/analytics"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("dbapi+pymysql://reader:s3cret@db/analytics", "the URL holds a password: a plan never"),
        ("dbapi+pymysql://db/analytics?passwd=s3cret", "the URL holds a password"),
        ("dbapi+snowflake.connector:?account=a&token=abc", "the URL holds a password"),
        ("dbapi+pyodbc:DSN=warehouse;UID=rollout;PWD=s3cret", "the URL holds a password"),
        ("dbapi+:events.sqlite", "name a Python module after dbapi+: dbapi+MODULE:PATH or"),
        ("dbapi+my-driver:events.sqlite", "name a Python module after dbapi+"),
        ("dbapi+sqlite3", "name a Python module after dbapi+"),
        ("dbapi+pymysql://db:mysql/analytics", "the port 'mysql' is not a number"),
        ("dbapi+sqlite3:x.sqlite?timeout=1&timeout=2", "'timeout' is given twice"),
        ("dbapi+sqlite3:x.sqlite?not-a-name=1", "'not-a-name' in the query string is not a"),
    ],
)
def test_url_problems_name_what_to_fix(url: str, problem: str) -> None:
    found = dbapi_problem(url)
    assert found is not None and found.startswith(problem), found
    assert url_problem(url) == found
