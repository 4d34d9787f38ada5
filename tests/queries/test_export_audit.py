"""Exports and SQL runs while the metadata database cannot be written.

A second connection holds ``BEGIN EXCLUSIVE`` on the SQLite metadata database; the app's
connections get a 200 ms busy timeout instead of 15 s (a listener added by the test, so
the suite stays fast). An export that cannot be audited must not be delivered: every
download route answers 503 with a clear message and sends no CSV; the SQL page says why it
did not run instead of showing nothing. Once the lock is gone, the same export is
delivered with its ``export_start`` and ``export`` records.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from plotly.utils import PlotlyJSONEncoder

from app.core.errors import QueryError
from queries import sql as sql_q
from queries.export import AuditUnavailable
from tests.conftest import add_users, find_all, make_app, render, signed_in
from tests.fixtures.t2 import acting, page_module

STATEMENT = "SELECT channel FROM dim_channel ORDER BY channel"
DOWNLOADS = [
    "/api/v1/sql/export.csv?q=" + quote(STATEMENT),
    "/api/v1/export/detail?metric=orders",
    "/api/v1/export/explore?metrics=orders&by=channel",
    "/api/v1/segments/export.csv?segment=1",
]


@pytest.fixture(scope="module")
def audit_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("audit_lock")
    app = make_app(tiny_demo, home)
    add_users(app)
    engine = app.server.extensions["starboard"].users.db.engine

    @sa.event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record) -> None:  # after app/core/meta.py's 15 s
        dbapi_conn.execute("PRAGMA busy_timeout = 200")

    engine.dispose()  # new connections get it
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@contextmanager
def meta_locked(app) -> Iterator[None]:
    """Another connection holds the metadata database's write lock."""
    url = sa.engine.make_url(app.server.extensions["starboard"].settings.meta_db_url)
    holder = sqlite3.connect(Path(str(url.database)), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _csrf(client) -> str:
    page = render(client, "/t2/sql")
    fields = find_all(page, lambda n: n.get("props", {}).get("name") == "csrf_token")
    return fields[0]["props"]["value"]


def _audits(app, event: str) -> list[dict]:
    rows = app.server.extensions["starboard"].users.audit_log(50)
    return [dict(r, detail=json.loads(r["detail"])) for r in rows if r["event"] == event]


def test_no_export_leaves_unaudited(audit_app) -> None:
    client = signed_in(audit_app, "ana")
    token = _csrf(client)
    before = len(_audits(audit_app, "export"))
    with meta_locked(audit_app):
        started = time.monotonic()
        answers = [client.get(url) for url in DOWNLOADS]
        answers.append(
            client.post("/api/v1/sql/export.csv", data={"q": STATEMENT, "csrf_token": token})
        )
        elapsed = time.monotonic() - started
    for response in answers:
        assert response.status_code == 503, response.get_data(as_text=True)[:300]
        assert "text/csv" not in response.content_type
        message = response.get_json()["error"]["message"]
        assert message.startswith("Not delivered") and "audit log" in message
    assert elapsed < 10  # 200 ms busy timeouts, not 15 s each
    assert len(_audits(audit_app, "export")) == before

    delivered = client.get(DOWNLOADS[0])  # the lock is gone: delivered
    assert delivered.status_code == 200 and delivered.get_data(as_text=True).startswith("channel\n")
    start, end = _audits(audit_app, "export_start")[0], _audits(audit_app, "export")[0]
    assert start["id"] < end["id"] and start["detail"]["statement"] == STATEMENT
    assert end["detail"]["rows"] > 0 and end["detail"]["aborted"] is False


def test_a_sql_run_on_a_locked_meta_db_says_why_it_did_not_run(audit_app) -> None:
    runs = len(_audits(audit_app, "sql_start"))
    with meta_locked(audit_app):
        with acting(audit_app, "ana"), pytest.raises(AuditUnavailable) as stopped:
            sql_q.run_sql(STATEMENT)
        assert stopped.value.message.startswith("Not run: the audit log cannot be written")
        with acting(audit_app, "ana"):
            shown = json.dumps(
                page_module("/t2/sql").run_statement(1, STATEMENT), cls=PlotlyJSONEncoder
            )
            # a refusal is still shown, although its record cannot be written
            with pytest.raises(QueryError, match="DROP is not allowed"):
                sql_q.run_sql("DROP TABLE dim_user")
    assert "Not run" in shown and "audit log cannot be written" in shown
    assert "t2sql-grid" not in shown  # the statement did not run
    assert len(_audits(audit_app, "sql_start")) == runs
    with acting(audit_app, "ana"):
        assert sql_q.run_sql(STATEMENT).rows
