"""The metadata database on PostgreSQL (STARBOARD_META_DB_URL=postgresql+psycopg://…)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app.core.auth import AccessDenied, AccessError, Users
from app.core.meta import MetaDB
from app.core.stores.problems import recent, report

pytestmark = pytest.mark.postgres


def test_users_tokens_sign_in_and_audit_on_postgresql(pg_empty_url: str) -> None:
    db = MetaDB(pg_empty_url)
    users = Users(db)
    users.add("ana", "analyst", "long-password", (("region", ("EMEA", "APAC")),))
    with pytest.raises(AccessError, match="already exists"):
        users.add("ana", "analyst", "long-password")
    assert users.set_role("ana", "operator").role == "operator"
    assert users.by_name("ana").scopes == (("region", ("APAC", "EMEA")),)
    assert users.authenticate("ana", "long-password", "10.0.0.1").name == "ana"
    with pytest.raises(AccessDenied, match="Wrong user name or password"):
        users.authenticate("ana", "wrong-password", "10.0.0.1")
    token = users.create_token("ana", "etl")
    assert users.by_token(token).name == "ana"
    assert users.set_disabled("ana").disabled is True
    assert users.by_token(token) is None
    events = [row["event"] for row in users.audit_log()]
    assert events[:4] == ["user_disabled", "token_created", "login_failed", "login"]
    assert "user_added" in events and "role_changed" in events
    report_id = report(
        db, reporter="ana", url="/t0/company", period="2026-09", text="Revenue looks doubled"
    )
    assert [(p["id"], p["text"], p["status"]) for p in recent(db)] == [
        (report_id, "Revenue looks doubled", "open")
    ]
    db.dispose()
    # a second process finds the same data
    again = MetaDB(pg_empty_url)
    assert Users(again).by_name("ana").role == "operator"
    again.dispose()


def test_workers_starting_together_create_the_tables_once(pg_empty_url: str) -> None:
    """Several gunicorn workers open an empty metadata database at the same moment."""
    dbs = [MetaDB(pg_empty_url) for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(dbs))

    def open_db(db: MetaDB) -> None:
        start.wait()
        try:
            assert db.engine is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_db, args=(db,)) for db in dbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with dbs[0].engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"sb_user", "sb_token", "sb_login_attempt", "sb_audit", "sb_problem"} <= tables
    for db in dbs:
        db.dispose()
