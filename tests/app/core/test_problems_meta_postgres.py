"""The metadata tables of triage and alerts on PostgreSQL: migration, dedup, listing."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.core.auth import Users
from app.core.meta import MetaDB
from app.core.stores import alerts, problems
from app.core.stores.alerts import AlertEvent


def test_old_problem_table_migrates_and_alerts_dedupe_on_postgres(pg_empty_url: str) -> None:
    engine = sa.create_engine(pg_empty_url)
    with engine.begin() as conn:  # sb_problem as the first release created it
        conn.execute(
            sa.text(
                "CREATE TABLE sb_problem (id SERIAL PRIMARY KEY, at TIMESTAMP NOT NULL, "
                "reporter VARCHAR(100) NOT NULL, url TEXT NOT NULL, period VARCHAR(40) NOT NULL, "
                "text TEXT NOT NULL, status VARCHAR(20) NOT NULL, assignee VARCHAR(100) NOT NULL, "
                "comment TEXT NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sb_problem"
                " (at, reporter, url, period, text, status, assignee, comment) VALUES"
                " ('2026-01-02 03:04:05', 'erin', '/t0/company?period=2025-12', '2025-12', "
                "'Old report', 'open', '', '')"
            )
        )
    engine.dispose()
    db = MetaDB(pg_empty_url)
    try:
        users = Users(db)
        users.add("ana", "analyst", "correct-horse-battery")
        row = problems.triage(
            users, 1, actor="ana", status="acknowledged", assignee="ana", comment="On it"
        )
        assert (row["status"], row["updated_by"], row["text"]) == (
            "acknowledged",
            "ana",
            "Old report",
        )
        event = AlertEvent(
            rule="r",
            kind="stale",
            severity="warning",
            metric=None,
            metric_label="",
            period="2026-10-31 23:59",
            period_label="",
            member=(),
            value=40.0,
            low=None,
            high=36.0,
            message="old",
            link="/quality",
        )
        now = datetime(2026, 11, 2)
        first = alerts.fire(db, [event], {}, public_url="http://x", data_version="v", now=now)
        second = alerts.fire(db, [event], {}, public_url="http://x", data_version="v", now=now)
        assert (len(first.new), second.new, second.duplicates) == (1, [], 1)
        [stored] = alerts.recent(db)
        assert (stored.value, stored.high, stored.delivery_status) == (40.0, 36.0, "no webhook")
    finally:
        db.dispose()
