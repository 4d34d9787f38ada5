"""The SQL page's two walls on PostgreSQL: the parser (postgres dialect) and a READ ONLY
transaction with a statement_timeout. Runs when STARBOARD_TEST_PG_URL is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.errors import QueryError
from app.core.warehouse import DataVersion, Snapshot
from queries import sql as sql_q
from tests.conftest import fresh_schema

LIMITS = sql_q.SqlLimits(timeout_seconds=1, max_rows=3)


@pytest.fixture(scope="module")
def pg_snapshot(pg_url: str) -> Iterator[Snapshot]:
    """A schema of its own with two small tables, read through a search_path engine."""
    with fresh_schema(pg_url, "sb_sql") as (engine, schema):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE {schema}.dim_thing (thing_key int primary key, "
                "name text, email text)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {schema}.dim_thing SELECT g, 'thing ' || g, "
                f"'t' || g || '@example.com' FROM generate_series(1, 10) g"
            )
            conn.exec_driver_sql(
                f"CREATE TABLE {schema}.fct_event AS SELECT g AS event_key, "
                "1 + mod(g, 10) AS thing_key FROM generate_series(1, 2000) g"
            )
        yield Snapshot(engine, DataVersion("pg-test", "database"))


POLICY = sql_q.SqlPolicy(
    "postgres",
    frozenset({"dim_thing", "fct_event"}),
    frozenset({""}),
    (("dim_thing", frozenset({"email"})),),
    (("dim_thing", ("thing_key", "name", "email")), ("fct_event", ("event_key", "thing_key"))),
)
ADMIN = sql_q.SqlPolicy("postgres", POLICY.tables, POLICY.schemas, (), POLICY.columns)


def _counts(snap: Snapshot) -> tuple[int, int]:
    with snap.engine.connect() as conn:
        return (
            conn.exec_driver_sql("SELECT count(*) FROM dim_thing").scalar(),
            conn.exec_driver_sql("SELECT count(*) FROM fct_event").scalar(),
        )


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("DROP TABLE fct_event", "DROP is not allowed"),
        ("INSERT INTO dim_thing VALUES (99, 'x', 'y')", "INSERT is not allowed"),
        ("COPY fct_event TO '/tmp/leak.csv'", "COPY is not allowed"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file() reads files"),
        ("SELECT 1; SELECT 2", "2 statements were given"),
        ("SELECT * FROM pg_catalog.pg_authid", "is not a table of the warehouse"),
        ("SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "dblink"),
        ("SELECT email FROM dim_thing", "personal data"),
    ],
)
def test_postgres_statements_are_refused_by_the_parser(pg_snapshot, statement, reason) -> None:
    with pytest.raises(Exception) as refused:
        sql_q.check_sql(statement, POLICY)
    assert reason in refused.value.message


@pytest.mark.parametrize("policy", [ADMIN, POLICY], ids=["admin", "analyst"])
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO dim_thing VALUES (99, 'x', 'y')",
        "DELETE FROM fct_event",
        "CREATE TABLE planted (a int)",
        "WITH gone AS (DELETE FROM fct_event RETURNING *) SELECT count(*) FROM gone",
    ],
)
def test_postgres_sandbox_is_read_only_past_the_parser(pg_snapshot, statement, policy) -> None:
    before = _counts(pg_snapshot)
    with (
        pytest.raises(QueryError) as refused,
        sql_q.open_sandbox(pg_snapshot, LIMITS, policy) as run,
    ):
        run.start(statement)
    # the analyst's dim_thing is a view without email: a 3-value INSERT fails on its shape
    assert (
        "read-only transaction" in refused.value.message
        or "more expressions than target columns" in refused.value.message
    )
    assert _counts(pg_snapshot) == before


def test_postgres_time_limit_and_row_cap(pg_snapshot) -> None:
    with pytest.raises(QueryError) as stopped:
        sql_q.execute_sql(
            pg_snapshot, "SELECT count(*) FROM fct_event a, fct_event b, fct_event c", LIMITS, ADMIN
        )
    assert "time limit of 1 s" in stopped.value.message
    result = sql_q.execute_sql(
        pg_snapshot, "SELECT thing_key, name FROM dim_thing ORDER BY thing_key", LIMITS, ADMIN
    )
    assert result.truncated and result.rows == [(1, "thing 1"), (2, "thing 2"), (3, "thing 3")]
    modulo = sql_q.execute_sql(pg_snapshot, "SELECT 10 % 3 AS r, 'a%s' AS t", LIMITS, ADMIN)
    assert modulo.rows == [(1, "a%s")]  # the text reaches the server untouched


PG_ATTACKS = [
    ("SELECT e FROM dim_thing AS t(k, n, e)", "dim_thing.email"),
    ("SELECT max(e) FROM dim_thing t(k, n, e) WHERE e LIKE 't%'", "dim_thing.email"),
    ("WITH x(a, b) AS (SELECT email, thing_key FROM dim_thing) SELECT a FROM x", "dim_thing.email"),
    ("SELECT x.e FROM (SELECT thing_key, email FROM dim_thing) AS x(k, e)", "dim_thing.email"),
    ("SELECT name FROM dim_thing ORDER BY email", "dim_thing.email"),
    ("SELECT t FROM dim_thing t", "whole row"),
    ("SELECT row_to_json(t) FROM dim_thing t", "whole row"),
    ("SELECT to_jsonb(t) FROM dim_thing t", "whole row"),
    ("SELECT to_json(t.*) FROM dim_thing t", "personal data"),
]


@pytest.mark.parametrize(("statement", "named"), PG_ATTACKS)
def test_postgres_renamed_and_whole_row_pii_is_refused_by_lineage(
    pg_snapshot, statement, named
) -> None:
    with pytest.raises(Exception) as refused:
        sql_q.check_sql(statement, POLICY)
    assert refused.value.message.startswith("Refused:") and named in refused.value.message
    assert sql_q.check_sql(statement, ADMIN) is not None


def _temp_views(snap: Snapshot) -> int:
    """TEMP relations of any session in this database named like the warehouse's tables."""
    with snap.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname ~ '^pg_temp' AND c.relname IN ('dim_thing', 'fct_event')"
        ).scalar()


@pytest.mark.parametrize(
    "statement",
    [s for s, _ in PG_ATTACKS]
    + [
        "SELECT * FROM dim_thing",
        "SELECT d.* FROM dim_thing d",
        "SELECT (SELECT string_agg(email, ',') FROM dim_thing)",
        "SELECT e.thing_key, t.* FROM fct_event e JOIN dim_thing t USING (thing_key)",
    ],
)
def test_postgres_analysts_sandbox_has_no_pii_even_past_the_parser(pg_snapshot, statement) -> None:
    try:
        with sql_q.open_sandbox(pg_snapshot, LIMITS, POLICY) as run:
            columns = run.start(statement)
            rows = run.fetch(10_000)
    except QueryError:
        rows, columns = [], ()  # refused by the server: nothing read
    assert "email" not in columns
    assert "@example.com" not in repr(rows)
    assert _temp_views(pg_snapshot) == 0  # gone with the rollback
    with sql_q.open_sandbox(pg_snapshot, LIMITS, ADMIN) as run:  # admins read the table
        run.start("SELECT email FROM dim_thing ORDER BY thing_key")
        assert run.fetch(1) == [("t1@example.com",)]


def test_postgres_analysts_star_lists_the_visible_columns(pg_snapshot) -> None:
    sql_q.check_sql("SELECT * FROM dim_thing", POLICY)
    result = sql_q.execute_sql(
        pg_snapshot, "SELECT * FROM dim_thing ORDER BY thing_key", LIMITS, POLICY
    )
    assert result.columns == ("thing_key", "name") and result.rows[0] == (1, "thing 1")


def test_postgres_demo_app_hides_pii_from_analysts_and_not_admins(pg_demo_app) -> None:
    """End to end on the demo published to PostgreSQL: the analyst's policy, check and
    TEMP views; the admin reads e-mails."""
    from urllib.parse import quote

    from tests.conftest import signed_in

    renamed = "SELECT e FROM dim_user AS t(k, uid, sd, c, r, d, ch, seg, age, e) LIMIT 3"
    ana = signed_in(pg_demo_app, "ana")
    refused = ana.get("/api/v1/sql/export.csv?q=" + quote(renamed))
    assert refused.status_code == 403
    assert "dim_user.email" in refused.get_json()["error"]["message"]
    star = ana.get("/api/v1/sql/export.csv?q=" + quote("SELECT * FROM dim_user LIMIT 50"))
    body = star.get_data(as_text=True)
    assert star.status_code == 200 and "country" in body.splitlines()[0]
    assert "email" not in body.splitlines()[0] and "@" not in body
    runtime = pg_demo_app.server.extensions["starboard"]
    with pg_demo_app.server.test_request_context("/"):
        snap = runtime.warehouse.snapshot()
        policy = sql_q.policy_for(runtime, snap, runtime.users.by_name("ana"))
        past = sql_q.execute_sql(snap, renamed, LIMITS, policy)  # past the parser
    assert past.rows and "@" not in repr(past.rows)
    ada = signed_in(pg_demo_app, "ada").get("/api/v1/sql/export.csv?q=" + quote(renamed))
    assert ada.status_code == 200 and ada.get_data(as_text=True).count("@") == 3
