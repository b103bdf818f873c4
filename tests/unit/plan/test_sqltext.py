"""Binding a plan's SQL: placeholders become the driver's markers, never text."""

from __future__ import annotations

import pytest

from rolloutcli.plan.sqltext import Paramstyle, bind, placeholders, query_problems, url_problem

QUERY = (
    "SELECT ts AS time, value FROM t WHERE flag = {flag} AND variant = {cohort} "
    "AND ts >= {start} AND ts < {end}"
)


def test_psycopg_markers_in_order_of_first_use() -> None:
    sql, names = bind(QUERY, "pyformat")
    assert sql == (
        "SELECT ts AS time, value FROM t WHERE flag = %(flag)s AND variant = %(cohort)s "
        "AND ts >= %(start)s AND ts < %(end)s"
    )
    assert names == ("flag", "cohort", "start", "end")


def test_duckdb_markers() -> None:
    sql, names = bind("SELECT {cohort}, {role}, {cohort}, {window}", "dollar")
    assert sql == "SELECT $cohort, $role, $cohort, $window"
    assert names == ("cohort", "role", "window")


def test_a_percent_sign_is_doubled_for_psycopg_only() -> None:
    sql = "SELECT 1 WHERE path LIKE '/api/%' AND {cohort} = 'x' -- 100%"
    assert bind(sql, "pyformat")[0] == (
        "SELECT 1 WHERE path LIKE '/api/%%' AND %(cohort)s = 'x' -- 100%%"
    )
    assert bind(sql, "dollar")[0] == "SELECT 1 WHERE path LIKE '/api/%' AND $cohort = 'x' -- 100%"


@pytest.mark.parametrize(
    "quoted",
    [
        "'{cohort}'",
        '"{cohort}"',
        "-- {cohort}\n",
        "/* {cohort} */",
        "$$ {cohort} $$",
        "$q$ {cohort} $q$",
        "'it''s {cohort}'",
    ],
)
def test_placeholders_in_quotes_and_comments_are_left_as_written(quoted: str) -> None:
    sql = f"SELECT {quoted} FROM t WHERE a = {{role}}"
    bound, names = bind(sql, "dollar")
    assert bound == f"SELECT {quoted} FROM t WHERE a = $role"
    assert names == ("role",)


def test_unknown_words_and_struct_literals_are_left_as_written() -> None:
    sql = "SELECT {'a': 1}, {other} WHERE x = {flag}"
    assert bind(sql, "dollar") == ("SELECT {'a': 1}, {other} WHERE x = $flag", ("flag",))
    assert placeholders(sql) == ({"flag"}, {"other"}, set())


def test_a_query_bound_to_the_window_has_no_problems() -> None:
    assert query_problems(QUERY) == []


def test_problems_name_what_to_fix() -> None:
    sql = "SELECT ts AS time, 1 AS value FROM t WHERE v = '{cohort}' AND {when} AND ts >= {start}"
    assert query_problems(sql) == [
        "{cohort} is inside quotes: write it bare ({cohort}, not '{cohort}'), it is bound as "
        "a parameter",
        "unknown placeholder {when}: use {cohort}, {role}, {flag}, {start}, {end}, {window}",
        "the query names no {end}: filter its rows to the window, e.g. WHERE ts >= {start} "
        "AND ts < {end}",
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://reader@db.internal:5432/analytics", None),
        ("postgres://db/analytics", None),
        ("duckdb:", None),
        ("duckdb:warehouse/events.duckdb", None),
        ("duckdb:///srv/events.duckdb", None),
        ("postgresql://reader:s3cret@db/analytics", "the URL holds a password"),
        ("postgresql://db/analytics?user=r&password=s3cret", "the URL holds a password"),
        ("mysql://db/analytics", "use postgresql://"),
        ("dbapi+sqlite3:events.sqlite", None),
        ("https://db/analytics", "use postgresql://"),
    ],
)
def test_url_problems(url: str, problem: str | None) -> None:
    found = url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


STYLES_QUERY = "SELECT {cohort}, {flag} WHERE a = {cohort} AND p LIKE '5%' AND {start} < {end}"


@pytest.mark.parametrize(
    ("style", "sql", "names"),
    [
        (
            "qmark",
            "SELECT ?, ? WHERE a = ? AND p LIKE '5%' AND ? < ?",
            ("cohort", "flag", "cohort", "start", "end"),
        ),
        (
            "numeric",
            "SELECT :1, :2 WHERE a = :1 AND p LIKE '5%' AND :3 < :4",
            ("cohort", "flag", "start", "end"),
        ),
        (
            "named",
            "SELECT :cohort, :flag WHERE a = :cohort AND p LIKE '5%' AND :start < :end",
            ("cohort", "flag", "start", "end"),
        ),
        (
            "format",
            "SELECT %s, %s WHERE a = %s AND p LIKE '5%%' AND %s < %s",
            ("cohort", "flag", "cohort", "start", "end"),
        ),
        (
            "pyformat",
            "SELECT %(cohort)s, %(flag)s WHERE a = %(cohort)s AND p LIKE '5%%' "
            "AND %(start)s < %(end)s",
            ("cohort", "flag", "start", "end"),
        ),
    ],
)
def test_every_pep_249_paramstyle(style: Paramstyle, sql: str, names: tuple[str, ...]) -> None:
    """Positional styles take one value per marker (qmark, format: a name used twice is
    sent twice) or per number (numeric, by first use); the % styles double a literal %."""
    assert bind(STYLES_QUERY, style) == (sql, names)
