"""The metadata database: users, API tokens, login attempts, audit log, reported problems.

SQLite under the home directory by default, PostgreSQL (or any SQLAlchemy database) by
``STARBOARD_META_DB_URL``. Tables are created on first use.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from app.errors import ConfigError

metadata = sa.MetaData()

users = sa.Table(
    "sb_user", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False, default="{}"),   # JSON {dimension: [values]}
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("password_changed_at", sa.DateTime, nullable=False),
)

tokens = sa.Table(
    "sb_token", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("sb_user.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(100), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

login_attempts = sa.Table(
    "sb_login_attempt", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
)

audit = sa.Table(
    "sb_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("event", sa.String(50), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("ip", sa.String(64), nullable=False, default=""),
)

problems = sa.Table(
    "sb_problem", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("reporter", sa.String(100), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("period", sa.String(40), nullable=False, default=""),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("assignee", sa.String(100), nullable=False, default=""),
    sa.Column("comment", sa.Text, nullable=False, default=""),
)


def now() -> datetime:
    """UTC now without tzinfo: one convention for SQLite and PostgreSQL columns."""
    return datetime.now(UTC).replace(tzinfo=None)


class MetaDB:
    """The metadata database of one process; tables created on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._open()
        return self._engine

    def _open(self) -> sa.Engine:
        url = sa.engine.make_url(self.url)
        kwargs: dict = {"pool_pre_ping": True}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                from pathlib import Path

                try:
                    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(f"Cannot create the metadata database directory for "
                                      f"{self.url}: {exc.strerror}.") from exc
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        engine = sa.create_engine(self.url, **kwargs)
        if url.get_backend_name() == "sqlite":
            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # several gunicorn workers share it
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=15000")
                cursor.close()
        try:
            metadata.create_all(engine)
        except sa.exc.OperationalError as exc:
            raise ConfigError(f"The metadata database {self.url} cannot be opened: "
                              f"{str(exc.orig).splitlines()[0]}") from exc
        return engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
