"""/t2/sql: what is refused and why, the sandbox behind the parser, limits, CSV, audit."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from plotly.utils import PlotlyJSONEncoder

from app.core.errors import AccessDenied, QueryError
from queries import export
from queries import sql as sql_q
from tests.conftest import add_users, find, find_all, make_app, render, signed_in, texts
from tests.fixtures.t2 import acting

FORBIDDEN = [
    ("DROP TABLE fct_interaction", "DROP is not allowed"),
    ("INSERT INTO dim_channel SELECT * FROM dim_channel", "INSERT is not allowed"),
    ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH is not allowed"),
    ("COPY fct_interaction TO '/tmp/leak.csv'", "COPY is not allowed"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
    ("SELECT * FROM '/etc/passwd'", "'/etc/passwd' looks like a file"),
    ("PRAGMA database_list", "PRAGMA is not allowed"),
    ("SELECT 1; SELECT 2", "2 statements were given"),
    (
        "WITH gone AS (DELETE FROM dim_channel RETURNING *) SELECT * FROM gone",
        "DELETE is not allowed",
    ),
    ("SELECT * FROM glob('/etc/*')", "glob() reads files"),
    ("SET memory_limit = '100GB'", "SET is not allowed"),
    ("INSTALL httpfs", "INSTALL is not allowed"),
    ("SELECT * FROM range(10)", "is not allowed in FROM"),
    ("SELECT * FROM pg_catalog.pg_tables", "is not a table of the warehouse"),
]
CROSS_JOIN = (
    "SELECT count(*), sum(a.revenue * b.quantity * c.quantity) FROM fct_interaction a "
    "CROSS JOIN fct_interaction b CROSS JOIN fct_interaction c"
)


def _fingerprint(app) -> tuple[str, dict[str, int]]:
    """Checksums of the warehouse's files and every table's row count (live version)."""
    runtime = app.server.extensions["starboard"]
    directory = Path(runtime.warehouse.url.removeprefix("duckdb:///")).parent
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.duckdb")) + sorted(directory.glob("*.json")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    with runtime.warehouse.snapshot().engine.connect() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY 1"
            ).all()
        ]
        counts = {t: conn.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar() for t in tables}
    return digest.hexdigest(), counts


def _direct(app, statement: str) -> list[tuple]:
    """``statement`` run straight on the app's own warehouse engine."""
    with app.server.extensions["starboard"].warehouse.snapshot().engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(statement).all()]


@pytest.fixture(scope="module")
def sql_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """The tiny demo with a 2 s statement limit and a 50-row page cap."""
    app = make_app(
        tiny_demo, tmp_path_factory.mktemp("sql_app"), sql_timeout_seconds=2, sql_max_rows=50
    )
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def _audit(app, event: str) -> list[dict]:
    rows = app.server.extensions["starboard"].users.audit_log(50)
    return [dict(r, detail=json.loads(r["detail"])) for r in rows if r["event"] == event]


@pytest.mark.parametrize(("statement", "reason"), FORBIDDEN)
def test_forbidden_statements_are_refused_by_name_and_change_nothing(
    sql_app, tiny_demo, statement, reason
) -> None:
    before = _fingerprint(sql_app)
    with acting(sql_app, "ana"), pytest.raises(QueryError) as refused:
        sql_q.run_sql(statement)
    assert reason in refused.value.message
    assert refused.value.message.startswith("Refused:")
    assert _fingerprint(sql_app) == before
    last = _audit(sql_app, "sql_run")[0]
    assert last["actor"] == "ana" and last["detail"]["statement"] == statement
    assert last["detail"]["outcome"] == "refused" and last["detail"]["rows"] == 0


def test_a_long_cross_join_is_stopped_by_the_time_limit(sql_app, tiny_demo) -> None:
    before = _fingerprint(sql_app)
    started = time.monotonic()
    with acting(sql_app, "ana"), pytest.raises(QueryError) as stopped:
        sql_q.run_sql(CROSS_JOIN)
    elapsed = time.monotonic() - started
    assert "time limit of 2 s" in stopped.value.message
    assert 1.5 < elapsed < 15
    assert _fingerprint(sql_app) == before
    assert _audit(sql_app, "sql_run")[0]["detail"]["outcome"] == "timeout"


@pytest.mark.parametrize("who", ["ana", "ada"])
@pytest.mark.parametrize(
    ("statement", "errors"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", ("file system operations are disabled",)),
        ("SELECT * FROM '/etc/passwd'", ("does not exist",)),
        ("COPY (SELECT 1) TO '/tmp/starboard-leak.csv'", ("file system operations are disabled",)),
        ("ATTACH '/tmp/starboard-other.duckdb' AS other", ("file system operations are disabled",)),
        # ana's sandbox has no catalog called warehouse, and its tables are views
        ("CREATE TABLE warehouse.main.planted AS SELECT 1 AS x", ("read-only", "warehouse")),
        ("DELETE FROM dim_channel", ("read-only", "Can only delete from base table")),
        ("SET enable_external_access = true", ("configuration has been locked",)),
        ("LOAD httpfs", ("disabled",)),
    ],
)
def test_the_sandbox_refuses_files_and_writes_even_past_the_parser(
    sql_app, tiny_demo, statement, errors, who
) -> None:
    before = _fingerprint(sql_app)
    with acting(sql_app, who) as runtime:
        snap = runtime.warehouse.snapshot()
        limits = sql_q.limits_of(runtime)
        policy = sql_q.policy_for(runtime, snap, runtime.users.by_name(who))
        assert policy.hides == (who == "ana")
        with (
            pytest.raises(QueryError) as refused,
            sql_q.open_sandbox(snap, limits, policy) as runner,
        ):
            runner.start(statement)
            runner.fetch(10)
    assert any(error in refused.value.message for error in errors), refused.value.message
    assert not Path("/tmp/starboard-leak.csv").exists()
    assert _fingerprint(sql_app) == before


def test_a_select_returns_what_duckdb_returns(sql_app, tiny_demo) -> None:
    statement = (
        "SELECT channel_group, count(*) AS n FROM dim_channel GROUP BY channel_group "
        "ORDER BY channel_group"
    )
    with acting(sql_app, "ana"):
        result = sql_q.run_sql(statement)
    expected = _direct(sql_app, statement)
    assert result.columns == ("channel_group", "n")
    assert result.rows == expected and not result.truncated
    last = _audit(sql_app, "sql_run")[0]["detail"]
    assert last["outcome"] == "ok" and last["rows"] == len(expected) and last["ms"] > 0


def test_the_row_cap_is_stated(sql_app) -> None:
    from components.sqlpage import result_note

    with acting(sql_app, "ana"):
        result = sql_q.run_sql("SELECT interaction_key FROM fct_interaction")
    assert result.truncated and len(result.rows) == 50 and result.row_cap == 50
    note = texts(
        json.loads(
            json.dumps(
                result_note(len(result.rows), result.truncated, result.row_cap, result.ms, "n"),
                cls=PlotlyJSONEncoder,
            )
        )
    )
    assert note[0].startswith("First 50 rows shown")


def test_pii_columns_are_refused_to_analysts_but_not_admins(sql_app) -> None:
    for statement in (
        "SELECT email FROM dim_user",
        "SELECT u FROM dim_user u",
        "SELECT f.revenue, u.email FROM fct_interaction f JOIN dim_user u USING (user_key)",
    ):
        with acting(sql_app, "ana"), pytest.raises(AccessDenied) as refused:
            sql_q.run_sql(statement)
        assert "personal data" in refused.value.message
    with acting(sql_app, "ana"):
        assert sql_q.run_sql("SELECT count(*), min(country) FROM dim_user").rows
        # * and u.* expand to the columns the analyst may see: the PII ones are absent
        for statement in ("SELECT * FROM dim_user", "SELECT u.* FROM dim_user u"):
            result = sql_q.run_sql(statement)
            assert "email" not in result.columns and "country" in result.columns
            assert result.rows and not any("@" in str(v) for r in result.rows for v in r)
    with acting(sql_app, "ada"):
        rows = sql_q.run_sql("SELECT email FROM dim_user ORDER BY user_key LIMIT 3").rows
        assert "email" in sql_q.run_sql("SELECT * FROM dim_user LIMIT 1").columns
    assert len(rows) == 3 and all("@" in r[0] for r in rows)


def test_csv_download_equals_direct_sql_and_is_audited(sql_app, tiny_demo) -> None:
    statement = "SELECT user_key, country, signup_date FROM dim_user ORDER BY user_key LIMIT 500"
    client = signed_in(sql_app, "ana")
    response = client.get("/api/v1/sql/export.csv?q=" + quote(statement))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = export.rows_of([response.get_data(as_text=True)])
    expected = _direct(sql_app, statement)
    assert rows[0] == ["user_key", "country", "signup_date"]
    assert rows[1:] == [[str(k), c, d.isoformat()] for k, c, d in expected]
    audited = _audit(sql_app, "export")[0]
    assert audited["actor"] == "ana" and audited["detail"]["what"] == "sql"
    assert audited["detail"]["rows"] == 500 and audited["detail"]["statement"] == statement


def test_the_page_downloads_by_form_post_with_its_csrf_token(sql_app) -> None:
    client = signed_in(sql_app, "ana")
    page = render(client, "/t2/sql")
    form = find_all(page, lambda n: n.get("props", {}).get("action") == "/api/v1/sql/export.csv")
    assert len(form) == 1 and form[0]["props"]["method"] == "POST"
    csrf = find_all(form, lambda n: n.get("props", {}).get("name") == "csrf_token")
    token = csrf[0]["props"]["value"]
    statement = "SELECT channel FROM dim_channel ORDER BY channel" + " " * 6000  # > a URL
    response = client.post("/api/v1/sql/export.csv", data={"q": statement, "csrf_token": token})
    assert response.status_code == 200
    rows = export.rows_of([response.get_data(as_text=True)])
    assert rows[0] == ["channel"] and rows[1:] == [[c] for (c,) in _direct(sql_app, statement)]
    forged = client.post("/api/v1/sql/export.csv", data={"q": statement, "csrf_token": "x"})
    assert forged.status_code == 403 and "expired" in forged.get_json()["error"]["message"]


def test_csv_download_refuses_what_the_page_refuses(sql_app) -> None:
    client = signed_in(sql_app, "ana")
    response = client.get("/api/v1/sql/export.csv?q=" + quote("SELECT email FROM dim_user"))
    assert (
        response.status_code == 403 and "personal data" in response.get_json()["error"]["message"]
    )
    response = client.get("/api/v1/sql/export.csv?q=" + quote("DROP TABLE dim_user"))
    assert response.status_code == 400 and "DROP" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("who", ["erin", "oscar", "emea"])
def test_only_unscoped_analysts_and_admins_reach_the_sql_page(sql_app, who) -> None:
    client = signed_in(sql_app, who)
    assert client.get("/t2/sql").status_code == 403
    page = render(client, "/t2/sql")
    assert find(page, "sb-denied") is not None and find(page, "t2sql-editor") is None
    output = next(o for o in sql_app.callback_map if "t2sql-result.children" in o)
    response = client.post(
        "/_dash-update-component",
        json={
            "output": output,
            "outputs": [],
            "changedPropIds": ["t2sql-run.n_clicks"],
            "inputs": [{"id": "t2sql-run", "property": "n_clicks", "value": 1}],
            "state": [{"id": "t2sql-editor", "property": "value", "value": "SELECT 1"}],
        },
    )
    assert response.status_code == 403
    download = client.get("/api/v1/sql/export.csv?q=SELECT%201")
    assert download.status_code == 403
    if who == "emea":
        assert "row scope" in download.get_json()["error"]["message"]


def test_an_analyst_sees_the_editor_limits_and_tables_with_pii_marked(sql_app) -> None:
    client = signed_in(sql_app, "ana")
    assert client.get("/t2/sql").status_code == 200
    page = render(client, "/t2/sql")
    editor = find(page, "t2sql-editor")
    assert editor is not None and editor["props"]["value"].startswith("SELECT ")
    limits = texts(find(page, "t2sql-limits"))[0]
    assert "stops after 2 s" in limits and "first 50 rows or 20 MB shown" in limits
    assert "CSV up to 1,000,000 rows or 500 MB" in limits
    assert "columns marked PII are hidden from your role" in limits
    schema = texts(find(page, "t2sql-schema"))
    assert "fct_interaction" in schema and "dim_user" in schema
    email = schema.index("email")
    assert schema[email + 2] == "PII"
    assert "PII" not in schema[schema.index("country") : schema.index("country") + 3]


def test_the_navigation_offers_sql_only_to_those_who_may_run_it(sql_app) -> None:
    def nav(name: str) -> list[str]:
        page = render(signed_in(sql_app, name), "/")
        links = find_all(
            page, lambda n: "sb-nav-link" in str(n.get("props", {}).get("className", ""))
        )
        return [texts(link)[0] for link in links]

    assert "SQL" in nav("ana") and "SQL" in nav("ada")
    assert "SQL" not in nav("emea") and "Segments" in nav("emea")
    assert "SQL" not in nav("oscar")
