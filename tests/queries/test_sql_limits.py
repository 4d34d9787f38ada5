"""/t2/sql and CSV exports under hostile sizes: deep nesting, huge rows, huge files.

* 500 nested parentheses (sqlglot's parser recursed into a 500) get a clear refusal;
* ``SELECT repeat('x', 50000) FROM dim_date LIMIT 10000`` (500 MB) is cut by the page's byte
  cap (``STARBOARD_SQL_MAX_BYTES``) with a notice, and its CSV by
  ``STARBOARD_EXPORT_MAX_BYTES`` after the last whole row that fits, audited as truncated;
  the same byte cap holds for the explorer's exports.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from plotly.utils import PlotlyJSONEncoder

from app.core.config import load_settings
from app.core.errors import ConfigError, QueryError
from queries import export
from queries import sql as sql_q
from tests.conftest import add_users, find, make_app, render, signed_in, texts
from tests.fixtures.t2 import acting, page_module

REPEAT = "SELECT repeat('x', 50000) AS x FROM dim_date LIMIT 10000"
PAGE_BYTES = 1_000_000
CSV_BYTES = 2_000_000


@pytest.fixture(scope="module")
def small_caps(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """The tiny demo with a 1 MB page result and 2 MB CSV files."""
    app = make_app(
        tiny_demo,
        tmp_path_factory.mktemp("sql_limits"),
        sql_max_bytes="1MB",
        export_max_bytes=CSV_BYTES,
    )
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def _audits(app, event: str) -> list[dict]:
    rows = app.server.extensions["starboard"].users.audit_log(50)
    return [dict(r, detail=json.loads(r["detail"])) for r in rows if r["event"] == event]


NESTED = "SELECT " + "(" * 500 + "1" + ")" * 500


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        (NESTED, "nested 500 levels deep; at most 30"),
        ("SELECT " + "[" * 200 + "1" + "]" * 200, "nested 200 levels deep"),
        ("SELECT 1 WHERE " + "NOT " * 3000 + "TRUE", "nested too deeply"),
    ],
)
def test_deeply_nested_sql_is_refused_clearly(small_caps, statement, reason) -> None:
    with acting(small_caps, "ana"), pytest.raises(QueryError) as refused:
        sql_q.run_sql(statement)
    assert refused.value.message.startswith("Refused:") and reason in refused.value.message
    with acting(small_caps, "ana"):
        shown = json.dumps(
            page_module("/t2/sql").run_statement(1, statement), cls=PlotlyJSONEncoder
        )
    assert "Not run" in shown and reason in shown
    client = signed_in(small_caps, "ana")
    got = client.get("/api/v1/sql/export.csv?q=" + quote(statement))
    assert got.status_code == 400 and reason in got.get_json()["error"]["message"]


def test_nesting_within_the_bound_still_runs(small_caps) -> None:
    with acting(small_caps, "ana"):
        result = sql_q.run_sql("SELECT " + "(" * 25 + "1" + ")" * 25 + " AS one")
    assert result.rows == [(1,)]


def test_the_repeat_attack_is_cut_by_the_page_byte_cap_with_a_notice(small_caps) -> None:
    with acting(small_caps, "ana"):
        result = sql_q.run_sql(REPEAT)
    assert result.truncated and result.truncated_by == "bytes"
    assert 0 < len(result.rows) < 25 and result.size <= PAGE_BYTES
    assert all(len(r[0]) == 50000 for r in result.rows)  # whole values only
    audit = _audits(small_caps, "sql_run")[0]["detail"]
    assert audit["truncated_by"] == "bytes" and audit["rows"] == len(result.rows)
    with acting(small_caps, "ana"):
        shown = json.dumps(page_module("/t2/sql").run_statement(1, REPEAT), cls=PlotlyJSONEncoder)
    assert len(shown) < 1.2 * PAGE_BYTES  # what the browser and cache get
    assert (
        f"First {len(result.rows)} rows shown (the page's limit of 1 MB of results, "
        "STARBOARD_SQL_MAX_BYTES)"
    ) in shown


def test_a_single_row_larger_than_the_page_cap_says_so(small_caps) -> None:
    with acting(small_caps, "ana"):
        result = sql_q.run_sql("SELECT repeat('y', 2000000) AS y")
        shown = json.dumps(
            page_module("/t2/sql").run_statement(1, "SELECT repeat('y', 2000000)"),
            cls=PlotlyJSONEncoder,
        )
    assert result.rows == [] and result.truncated_by == "bytes"
    assert "the first row alone is larger than" in shown and len(shown) < 100_000


def test_the_row_cap_still_cuts_small_rows(small_caps) -> None:
    with acting(small_caps, "ana"):
        result = sql_q.run_sql("SELECT interaction_key FROM fct_interaction")
    assert result.truncated_by == "rows" and len(result.rows) == result.row_cap


def test_the_sql_csv_is_cut_at_the_export_byte_cap_and_audited(small_caps) -> None:
    client = signed_in(small_caps, "ana")
    got = client.get("/api/v1/sql/export.csv?q=" + quote(REPEAT))
    body = got.get_data()
    assert got.status_code == 200 and got.headers["X-Starboard-Byte-Cap"] == str(CSV_BYTES)
    assert CSV_BYTES - 50_002 < len(body) <= CSV_BYTES
    rows = export.rows_of([body.decode()])
    assert rows[0] == ["x"] and all(r == ["x" * 50000] for r in rows[1:])  # whole rows
    end = _audits(small_caps, "export")[0]["detail"]
    assert end["truncated"] is True and end["truncated_by"] == "bytes"
    assert end["rows"] == len(rows) - 1 and end["bytes"] == len(body)
    assert _audits(small_caps, "export_start")[0]["detail"]["byte_cap"] == CSV_BYTES


def test_the_page_states_both_caps(small_caps) -> None:
    page = render(signed_in(small_caps, "ana"), "/t2/sql")
    limits = texts(find(page, "t2sql-limits"))[0]
    assert "first 10,000 rows or 1 MB shown" in limits and "or 2 MB" in limits


@pytest.mark.parametrize(
    ("url", "cap"),
    [
        ("/api/v1/export/detail?metric=orders", 20_000),  # a statement: Arrow on DuckDB
        ("/api/v1/export/explore?metrics=orders,revenue&by=user", 2_000),  # a computed frame
    ],
)
def test_every_export_is_cut_at_the_byte_cap(tiny_demo, tmp_path, url, cap) -> None:
    app = make_app(tiny_demo, tmp_path, export_max_bytes=f"{cap // 1000}kB")
    add_users(app)
    try:
        client = signed_in(app, "ana")
        got = client.get(url)
        body = got.get_data()
        assert got.status_code == 200 and 0.75 * cap < len(body) <= cap
        rows = export.rows_of([body.decode()])
        assert all(len(r) == len(rows[0]) for r in rows)  # no half row
        end = _audits(app, "export")[0]["detail"]
        assert end["truncated_by"] == "bytes" and end["rows"] == len(rows) - 1
        assert f"and {cap // 1000} kB for your role" in " ".join(
            texts(render(client, "/t2/explore", "?metrics=orders"))
        )
    finally:
        app.server.extensions["starboard"].warehouse.dispose()


def test_byte_settings_parse_sizes_and_refuse_bad_ones() -> None:
    base = {"home": "/tmp/x"}
    settings = load_settings(base, {})
    assert settings.sql_max_bytes == 20_000_000 and settings.export_max_bytes == 500_000_000
    env = {"STARBOARD_SQL_MAX_BYTES": "5 MB", "STARBOARD_EXPORT_MAX_BYTES": "1GiB"}
    settings = load_settings(base, env)
    assert settings.sql_max_bytes == 5_000_000 and settings.export_max_bytes == 2**30
    for env, message in (
        ({"STARBOARD_SQL_MAX_BYTES": "lots"}, "STARBOARD_SQL_MAX_BYTES='lots'"),
        ({"STARBOARD_EXPORT_MAX_BYTES": "5 parsecs"}, "a size such as"),
        ({"STARBOARD_SQL_MAX_BYTES": "0"}, "must be a positive number"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_settings(base, env)
    with pytest.raises(ConfigError, match="STARBOARD_EXPORT_MAX_BYTES='huge'"):
        load_settings({**base, "export_max_bytes": "huge"}, {})
