"""The SQL page's two walls on PostgreSQL: the parser (postgres dialect) and a READ ONLY
transaction with a statement_timeout. Runs when STARBOARD_TEST_PG_URL is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.errors import QueryError
from app.warehouse import DataVersion, Snapshot
from queries import sql as sql_q
from tests.conftest import fresh_schema

LIMITS = sql_q.SqlLimits(timeout_seconds=1, max_rows=3)


@pytest.fixture(scope="module")
def pg_snapshot(pg_url: str) -> Iterator[Snapshot]:
    """A schema of its own with two small tables, read through a search_path engine."""
    with fresh_schema(pg_url, "sb_sql") as (engine, schema):
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {schema}.dim_thing (thing_key int primary key, "
                                 "name text, email text)")
            conn.exec_driver_sql(f"INSERT INTO {schema}.dim_thing SELECT g, 'thing ' || g, "
                                 f"'t' || g || '@example.com' FROM generate_series(1, 10) g")
            conn.exec_driver_sql(f"CREATE TABLE {schema}.fct_event AS SELECT g AS event_key, "
                                 "1 + mod(g, 10) AS thing_key FROM generate_series(1, 2000) g")
        yield Snapshot(engine, DataVersion("pg-test", "database"))


POLICY = sql_q.SqlPolicy("postgres", frozenset({"dim_thing", "fct_event"}), frozenset({""}),
                         (("dim_thing", frozenset({"email"})),),
                         (("dim_thing", ("thing_key", "name", "email")),
                          ("fct_event", ("event_key", "thing_key"))))
ADMIN = sql_q.SqlPolicy("postgres", POLICY.tables, POLICY.schemas, (), POLICY.columns)


def _counts(snap: Snapshot) -> tuple[int, int]:
    with snap.engine.connect() as conn:
        return (conn.exec_driver_sql("SELECT count(*) FROM dim_thing").scalar(),
                conn.exec_driver_sql("SELECT count(*) FROM fct_event").scalar())


@pytest.mark.parametrize(("statement", "reason"), [
    ("DROP TABLE fct_event", "DROP is not allowed"),
    ("INSERT INTO dim_thing VALUES (99, 'x', 'y')", "INSERT is not allowed"),
    ("COPY fct_event TO '/tmp/leak.csv'", "COPY is not allowed"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file() reads files"),
    ("SELECT 1; SELECT 2", "2 statements were given"),
    ("SELECT * FROM pg_catalog.pg_authid", "is not a table of the warehouse"),
    ("SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "dblink"),
    ("SELECT email FROM dim_thing", "personal data"),
])
def test_postgres_statements_are_refused_by_the_parser(pg_snapshot, statement, reason) -> None:
    with pytest.raises(Exception) as refused:
        sql_q.check_sql(statement, POLICY)
    assert reason in refused.value.message


@pytest.mark.parametrize("policy", [ADMIN, POLICY], ids=["admin", "analyst"])
@pytest.mark.parametrize("statement", [
    "INSERT INTO dim_thing VALUES (99, 'x', 'y')",
    "DELETE FROM fct_event",
    "CREATE TABLE planted (a int)",
    "WITH gone AS (DELETE FROM fct_event RETURNING *) SELECT count(*) FROM gone",
])
def test_postgres_sandbox_is_read_only_past_the_parser(pg_snapshot, statement, policy) -> None:
    before = _counts(pg_snapshot)
    with pytest.raises(QueryError) as refused, \
            sql_q.open_sandbox(pg_snapshot, LIMITS, policy) as run:
        run.start(statement)
    # the analyst's dim_thing is a view without email: a 3-value INSERT fails on its shape
    assert ("read-only transaction" in refused.value.message
            or "more expressions than target columns" in refused.value.message)
    assert _counts(pg_snapshot) == before


def test_postgres_time_limit_and_row_cap(pg_snapshot) -> None:
    with pytest.raises(QueryError) as stopped:
        sql_q.execute_sql(pg_snapshot, "SELECT count(*) FROM fct_event a, fct_event b, "
                                       "fct_event c", LIMITS, ADMIN)
    assert "time limit of 1 s" in stopped.value.message
    result = sql_q.execute_sql(pg_snapshot, "SELECT thing_key, name FROM dim_thing "
                                            "ORDER BY thing_key", LIMITS, ADMIN)
    assert result.truncated and result.rows == [(1, "thing 1"), (2, "thing 2"),
                                                (3, "thing 3")]
    modulo = sql_q.execute_sql(pg_snapshot, "SELECT 10 % 3 AS r, 'a%s' AS t", LIMITS,
                               ADMIN)
    assert modulo.rows == [(1, "a%s")]   # the text reaches the server untouched
