"""The metadata database: users, API tokens, login attempts, audit log, reported problems,
data quality runs and check results (``app/core/stores/checks.py``).

SQLite under the home directory by default, PostgreSQL (or any SQLAlchemy database) by
``STARBOARD_META_DB_URL``. Tables are created on first use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa

from app.core.errors import ConfigError, StarboardError

log = logging.getLogger("starboard.meta")

metadata = sa.MetaData()

users = sa.Table(
    "sb_user",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False, default="{}"),  # JSON {dimension: [values]}
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("password_changed_at", sa.DateTime, nullable=False),
    # Bumped by sign-out, password reset, disabling and role or scope changes: a session
    # carries the value it signed in with and is refused once it differs (app/core/web.py).
    # NULL (a database older than the column) counts as 0.
    sa.Column("session_gen", sa.Integer),
)

tokens = sa.Table(
    "sb_token",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("sb_user.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(100), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    # added later, so nullable (add_missing_columns): no expiry / never revoked
    sa.Column("expires_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
)

login_attempts = sa.Table(
    "sb_login_attempt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
)

audit = sa.Table(
    "sb_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("event", sa.String(50), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("ip", sa.String(64), nullable=False, default=""),
)

problems = sa.Table(
    "sb_problem",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("reporter", sa.String(100), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("period", sa.String(40), nullable=False, default=""),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("assignee", sa.String(100), nullable=False, default=""),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    # triage (app/core/stores/problems.py); added to older databases by add_missing_columns()
    sa.Column("updated_at", sa.DateTime),
    sa.Column("updated_by", sa.String(100)),
)

# Alerts fired by the model's `alerts:` rules, one per rule, period and member (the key),
# and their webhook deliveries (app/core/stores/alerts.py).
alerts = sa.Table(
    "sb_alert",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(500), nullable=False, unique=True),
    sa.Column("fired_at", sa.DateTime, nullable=False, index=True),
    sa.Column("rule", sa.String(100), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("metric", sa.String(100)),
    sa.Column("period", sa.String(60), nullable=False),
    sa.Column("member", sa.Text, nullable=False, default=""),  # JSON {dimension: value}
    sa.Column("value", sa.Float),
    sa.Column("low", sa.Float),
    sa.Column("high", sa.Float),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=False, default=""),
    sa.Column("data_version", sa.String(100), nullable=False, default=""),
    sa.Column("payload", sa.Text, nullable=False),  # the JSON webhooks receive
)

alert_deliveries = sa.Table(
    "sb_alert_delivery",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("sb_alert.id"), nullable=False, index=True),
    sa.Column("webhook", sa.String(200), nullable=False),  # name, or URL host (no secret)
    sa.Column("status", sa.String(20), nullable=False),  # delivered|failed|skipped
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("http_status", sa.Integer),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Data quality runs and their check results (app/core/stores/checks.py documents the contract).
check_runs = sa.Table(
    "sb_check_run",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("warehouse", sa.String(500), nullable=False, index=True),
    sa.Column("version", sa.String(100), nullable=False, index=True),
    sa.Column("source", sa.String(20), nullable=False),  # publish | quality
    sa.Column("published", sa.Boolean, nullable=False),  # False: the publish was stopped
    sa.Column("dq_score", sa.Float, nullable=False),
    sa.Column("checks_total", sa.Integer, nullable=False),
    sa.Column("checks_failed", sa.Integer, nullable=False),
    sa.Column("risk1_failed", sa.Integer, nullable=False),
)

check_results = sa.Table(
    "sb_check_result",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("sb_check_run.id"), nullable=False, index=True),
    sa.Column("check_id", sa.String(300), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(200), nullable=False),
    sa.Column("column_name", sa.String(300), nullable=False, default=""),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),  # gate | model
    sa.Column("risk", sa.Integer, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("error", sa.Boolean, nullable=False, default=False),
    sa.Column("failing_rows", sa.BigInteger),
    sa.Column("total_rows", sa.BigInteger),
    sa.Column("observed", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("sample", sa.Text, nullable=False, default=""),  # JSON; see app/core/stores/checks.py
)

# Pipeline runs and their tasks (app/core/stores/pipeline.py documents the contract).
pipeline_runs = sa.Table(
    "sb_pipeline_run",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.String(200), nullable=False, index=True),
    sa.Column("warehouse", sa.String(500), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False, index=True),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(20), nullable=False),  # running|published|failed|killed
    sa.Column("trigger", sa.String(20), nullable=False),  # cli | schedule | demo
    sa.Column("mode", sa.String(20), nullable=False),  # full | incremental
    sa.Column("version", sa.String(100)),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("host", sa.String(200), nullable=False, default=""),
    sa.Column("pid", sa.Integer),
    sa.Column("dq_score", sa.Float),
    sa.Column("seconds", sa.Float),
)

pipeline_tasks = sa.Table(
    "sb_pipeline_task",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("sb_pipeline_run.id"), nullable=False, index=True
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # source | transform | step
    sa.Column("status", sa.String(20), nullable=False),  # ok | failed | skipped | pending
    sa.Column("rows", sa.BigInteger),
    sa.Column("seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("inputs", sa.Text, nullable=False, default="[]"),  # JSON list of task names
    sa.Column("detail", sa.Text, nullable=False, default=""),
)


def create_tables(engine: sa.Engine) -> None:
    """Create missing tables. On PostgreSQL under an advisory lock: workers starting together
    would otherwise race on CREATE TABLE (a unique violation in pg_type)."""
    if engine.dialect.name != "postgresql":
        metadata.create_all(engine)
        return
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('starboard-meta-tables'))"))
        metadata.create_all(conn)


def add_missing_columns(engine: sa.Engine) -> list[str]:
    """Add columns declared here but absent from an older database (nullable ones only:
    a column added later must be nullable). Returns "table.column" for each one added."""
    added = []
    inspector = sa.inspect(engine)
    existing_tables = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(
                        sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )
            except sa.exc.DBAPIError:
                # another worker added it first: fine; anything else is a real error
                columns = sa.inspect(engine).get_columns(table.name)
                if column.name not in {c["name"] for c in columns}:
                    raise
                continue
            added.append(f"{table.name}.{column.name}")
    return added


def now() -> datetime:
    """UTC now without tzinfo: one convention for SQLite and PostgreSQL columns."""
    return datetime.now(UTC).replace(tzinfo=None)


class MetaUnavailable(StarboardError):
    """The metadata database does not answer (locked past the busy timeout, server down)."""

    title = "Service unavailable"
    status = 503


UNAVAILABLE_MESSAGE = (
    "The user database is not answering (it may be busy or down), so "
    "sign-in and access checks cannot be made: try again in a minute."
)
# The errors that mean "the database did not answer", not "the statement is wrong".
UNAVAILABLE_ERRORS = (sa.exc.OperationalError, sa.exc.TimeoutError)


class MetaDB:
    """The metadata database of one process; tables created on first use.

    ``busy_timeout`` is how long (seconds) a SQLite connection waits for another writer
    before it gives up.
    """

    def __init__(self, url: str, *, busy_timeout: float = 15.0) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection; MetaUnavailable when the database does not answer."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except UNAVAILABLE_ERRORS as exc:
            raise self._unavailable(exc) from exc

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection in a transaction committed at the end; MetaUnavailable when the
        database does not answer (the transaction is rolled back)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except UNAVAILABLE_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> MetaUnavailable:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.warning("metadata database unavailable: %s", reason)
        return MetaUnavailable(UNAVAILABLE_MESSAGE)

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
                    raise ConfigError(
                        f"Cannot create the metadata database directory for "
                        f"{self.url}: {exc.strerror}."
                    ) from exc
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": self.busy_timeout}
        engine = sa.create_engine(self.url, **kwargs)
        if url.get_backend_name() == "sqlite":
            busy_ms = max(int(self.busy_timeout * 1000), 0)

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # several gunicorn workers share it
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
                cursor.close()

        try:
            create_tables(engine)
            add_missing_columns(engine)
        except sa.exc.OperationalError as exc:
            raise ConfigError(
                f"The metadata database {self.url} cannot be opened: "
                f"{str(exc.orig).splitlines()[0]}"
            ) from exc
        return engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
