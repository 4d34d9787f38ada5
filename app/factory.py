"""The composition root: ``create_app(overrides)`` builds the Dash app and its server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dash
import flask
from dash import dcc, html

from app import http
from app.core import background, gate, serving, web
from app.core.config import ensure_secret_key, load_settings
from app.core.errors import StarboardError
from app.core.runtime import init_runtime
from components import shell
from queries import features
from queries.quality import trust as trust_q

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
    web.install(server, settings, runtime.users)  # sessions, sign-in and sign-out
    gate.install(
        server,
        settings,
        callback_map=lambda: app.callback_map,
        page_registry=lambda: dash.page_registry,
        denied_layout=shell.denied,
        failed_layout=_failed_layout,
        missing_feature=lambda need: features.missing(need),
        missing_layout=shell.not_declared,
    )
    http.install(server)  # every JSON/CSV route and the one error handler
    serving.install_api_fallback(server)  # last: it sees every API route
    return app


def _logging(level: str) -> None:
    """Starboard's loggers (one JSON line per query, cache warnings) to stderr, where
    gunicorn's error log and `starboard serve --dev` show them."""
    serving.configure_logging(level)


def _on_callback_error(err: Exception) -> None:
    """Unexpected callback failures are logged with their traceback; the page keeps working."""
    log.exception("callback failed", exc_info=err)


def _failed_layout(page: Mapping[str, Any], exc: StarboardError) -> Any:
    """A page whose layout raised: its frame (header, data status) and one error tile."""
    return shell.page(
        str(page.get("name") or "Starboard"),
        shell.error_tile(exc.title, exc.message),
        path=str(page.get("path") or "/"),
        trust=shell.Trust(**trust_q.trust_summary().__dict__),
        viewer=shell.Viewer(**web.viewer()),
    )
