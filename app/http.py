"""Every JSON and CSV route of Starboard, and the one error handler (a composition root).

Routes:

- ``GET /healthz``, ``GET /readyz``: liveness and readiness (public).
- ``POST /api/v1/query``: the query interface as JSON (``queries/semantic/values.py`` caps
  the answer; README "Query API").
- ``GET /api/v1/export/explore``, ``GET /api/v1/export/detail``: the explorer's CSVs.
- ``GET|POST /api/v1/sql/export.csv``: the SQL page's CSV.
- ``GET /api/v1/segments/export.csv?segment=N``: one segment's members.

Errors: every ``StarboardError`` carries its HTTP status (``status``) and a message a user
can act on. :func:`install` registers one handler for all of them: JSON
``{"error": {"type", "title", "message"}}`` under ``/api/`` and for Dash's own requests, the
error page elsewhere. Routes here raise; none maps an error to a status itself. The access
gate (``app/core/gate.py``) has already run for every route but the two health checks.
"""

from __future__ import annotations

import json

import flask
from flask import Flask, Response, current_app, g, request

from app.core.auth import signed_in_user
from app.core.errors import AccessDenied, QueryError, StarboardError
from app.core.meta import MetaUnavailable
from app.core.runtime import current_runtime
from app.core.web import csrf_ok, error_page
from queries import segments, sql
from queries.explore import detail
from queries.explore import state as explore
from queries.export import csv_response, row_cap, safe_filename
from queries.semantic.parse import query_from_json
from queries.semantic.run import QueryStopped, current_model, run
from queries.semantic.values import capped_records, with_row_cap

RETRY_AFTER = {503: "60"}  # a busy metadata DB or a warehouse mid-restart: try again soon


def error_json(exc: StarboardError) -> Response:
    """The JSON answer for ``exc``, with its status."""
    body = {"error": {"type": type(exc).__name__, "title": exc.title, "message": exc.message}}
    return Response(json.dumps(body), status=exc.status, mimetype="application/json")


def handle_error(exc: StarboardError) -> Response:
    """The one handler: JSON for API and Dash requests, the error page for the rest."""
    if isinstance(exc, MetaUnavailable):
        # nobody could be signed in: rendering must not try to load the user again
        g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    if request.path.startswith(("/api/", "/_")):
        response = error_json(exc)
    else:
        response = error_page(exc.status, exc.title, exc.message)
    if exc.status in RETRY_AFTER:
        response.headers["Retry-After"] = RETRY_AFTER[exc.status]
    return response


def install(server: Flask) -> None:
    """Mount every route of this module on ``server`` and its error handler."""
    server.register_error_handler(StarboardError, handle_error)
    _health(server)
    server.register_blueprint(_query_api())
    server.register_blueprint(_exports())


def _health(server: Flask) -> None:
    @server.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process answers; the data version when the warehouse is open."""
        try:
            version: str | None = current_runtime().warehouse.snapshot().version.id
        except StarboardError:
            version = None
        return flask.jsonify(status="ok", data_version=version)

    @server.get("/readyz")
    def readyz() -> tuple[Response, int]:
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


def _query_api() -> flask.Blueprint:
    api = flask.Blueprint("api_v1", __name__, url_prefix="/api/v1")

    @api.post("/query")
    def query() -> tuple[Response, int]:
        payload = request.get_json(silent=True)
        if payload is None:
            raise QueryError(
                "The request body must be a JSON object (Content-Type: application/json)."
            )
        settings = current_runtime().settings
        max_rows, max_bytes = settings.api_max_rows, settings.api_max_bytes
        parsed = query_from_json(payload, current_model())
        try:
            result = run(
                with_row_cap(parsed, max_rows), timeout_seconds=settings.api_timeout_seconds
            )
        except QueryStopped as exc:
            raise QueryStopped(
                f"Stopped: the query ran longer than the API's time limit of "
                f"{settings.api_timeout_seconds:g} s (STARBOARD_API_TIMEOUT_SECONDS). Ask for "
                "less: fewer dimensions, a shorter date range, filters, or a limit."
            ) from exc
        rows, cut = capped_records(result.frame, max_rows, max_bytes)
        notices = list(result.notices)
        if cut:
            notices.append(
                f"Only the first {len(rows):,} rows are returned: the answer is "
                f"capped at {max_rows:,} rows and {max_bytes:,} bytes. Add filters "
                "or a limit, or group by fewer dimensions."
            )
        return flask.jsonify(
            columns=list(result.columns),
            rows=rows,
            truncated=cut is not None,
            truncated_by=cut,
            row_cap=max_rows,
            byte_cap=max_bytes,
            data_version=result.version,
            cost_class=result.cost_class,
            cache_hit=result.cache_hit,
            ms=round(result.ms, 1),
            rollup=result.rollup,
            notices=notices,
            sql=result.sql,
        ), 200

    return api


def _exports() -> flask.Blueprint:
    """CSV downloads; each streams, caps and audits through ``queries/export.py``."""
    api = flask.Blueprint("exports_v1", __name__, url_prefix="/api/v1")

    @api.get("/export/explore")
    def explore_csv() -> Response:
        state = explore.state_from_args(request.args)
        source = explore.export_source(state, row_cap(signed_in_user()))
        return csv_response(source, safe_filename("explore-" + "-".join(state.metrics)))

    @api.get("/export/detail")
    def detail_csv() -> Response:
        drill = detail.drill_from_args(request.args)
        return csv_response(detail.export_source(drill), safe_filename(f"detail-{drill.metric}"))

    @api.route("/sql/export.csv", methods=["GET", "POST"])
    def sql_csv() -> Response:
        """``GET ?q=<statement>`` for API clients; the page POSTs a form (``q`` and the
        session's CSRF token), so statements longer than a URL allows download too."""
        if request.method == "POST":
            if not csrf_ok():
                raise AccessDenied("The download form expired: reload the page.")
            return sql.csv_export(request.form.get("q", ""))
        return sql.csv_export(request.args.get("q", ""))

    @api.get("/segments/export.csv")
    def segment_csv() -> Response:
        return segments.csv_export(request.args.get("segment"))

    return api
