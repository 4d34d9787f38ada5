"""The composition root: ``create_app(overrides)`` builds the Dash app and its server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dash
import flask
from dash import dcc, html

from app.core import background, serving, web
from app.core.config import ensure_secret_key, load_settings
from app.core.errors import StarboardError
from app.core.runtime import current_runtime, init_runtime
from components import shell
from queries.api import blueprint as api_blueprint
from queries.export import blueprint as export_blueprint
from queries.segments import blueprint as segments_blueprint
from queries.sql import blueprint as sql_blueprint

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("starboard")


def create_app(overrides: Mapping[str, Any] | None = None) -> dash.Dash:
    """Build the app: defaults → ``STARBOARD_*`` environment → ``overrides``."""
    settings = load_settings(overrides)
    _logging(settings.log_level)
    server = flask.Flask("starboard", root_path=str(ROOT))
    runtime = init_runtime(server, settings)  # first: the home is private before any write
    server.secret_key = ensure_secret_key(settings)
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(ROOT / "pages"),
        assets_folder=str(ROOT / "assets"),
        title="Starboard",
        update_title=None,
        suppress_callback_exceptions=True,
        on_error=_on_callback_error,
        background_callback_manager=background.manager(settings, server),
    )
    app.layout = html.Div(
        [dcc.Location(id="sb-url", refresh="callback-nav"), dash.page_container],
        className="sb-root",
    )
    serving.install(server, settings)  # first: request ids and timing cover the gate
    web.install(
        server,
        settings,
        runtime.users,
        callback_map=lambda: app.callback_map,
        page_registry=lambda: dash.page_registry,
        denied_layout=shell.denied,
    )
    _health_routes(server)
    server.register_blueprint(api_blueprint())
    server.register_blueprint(export_blueprint())
    server.register_blueprint(sql_blueprint())
    server.register_blueprint(segments_blueprint())
    serving.install_api_fallback(server)  # last: it sees every API route
    return app


def _logging(level: str) -> None:
    """Starboard's loggers (one JSON line per query, cache warnings) to stderr, where
    gunicorn's error log and `starboard serve --dev` show them."""
    serving.configure_logging(level)


def _on_callback_error(err: Exception) -> None:
    """Unexpected callback failures are logged with their traceback; the page keeps working."""
    log.exception("callback failed", exc_info=err)


def _health_routes(server: flask.Flask) -> None:
    @server.get("/healthz")
    def healthz() -> flask.Response:
        """Liveness: the process answers; the data version when the warehouse is open."""
        try:
            version: str | None = current_runtime().warehouse.snapshot().version.id
        except StarboardError:
            version = None
        return flask.jsonify(status="ok", data_version=version)

    @server.get("/readyz")
    def readyz() -> tuple[flask.Response, int]:
        """Readiness: the warehouse opens and its last publish passed every Risk 1 gate."""
        try:
            snap = current_runtime().warehouse.snapshot()
            with snap.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
        except StarboardError as exc:
            return flask.jsonify(status="unavailable", reason=exc.message), 503
        version = snap.version
        body = {
            "status": "ready",
            "data_version": version.id,
            "published_at": version.published_at.isoformat() if version.published_at else None,
            "dq_score": version.dq_score,
        }
        if version.risk1_failed:
            body.update(status="gate_failed", reason="the last publish failed a Risk 1 gate")
            return flask.jsonify(body), 503
        return flask.jsonify(body), 200
