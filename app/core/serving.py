"""Production HTTP: request ids, one JSON log line per request, compression, static cache
headers and the reverse-proxy fix.

Every request gets an id (an incoming ``X-Request-ID`` when it is sane, else a new one),
returned in the response's ``X-Request-ID`` header and carried by every log line written
while it is served, including the query lines of ``queries.semantic.run``
(``app/core/requestlog.py``). When the request ends,
one line on the ``starboard.request`` logger says who asked for what, how it went, how
long it took and which queries it ran (with their cache hits and misses).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from dash.fingerprint import check_fingerprint
from flask import Flask, Request, Response, g, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import Map, Rule

from app.core import requestlog
from app.core.config import Settings

log = logging.getLogger("starboard.request")

IMMUTABLE = "public, max-age=31536000, immutable"
COMPRESSED_TYPES = (
    "text/html",
    "text/css",
    "text/plain",
    "application/json",
    "application/javascript",
    "text/javascript",
    "image/svg+xml",
)


# --------------------------------------------------------------------------- JSON logs


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = requestlog.request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message, and the
    record's ``fields`` (passed as ``extra={"fields": {...}}``) at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            # "query %s" with the fields as its argument: the fields say it all.
            line["message"] = str(record.msg).split(" %", 1)[0] if record.args else record.msg
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure_logging(level: str | int) -> None:
    """Log lines as JSON on stderr (gunicorn's error log, `serve --dev`), each one once.

    The one handler sits on the root logger, and Starboard's loggers propagate to it. With
    it on the ``starboard`` logger instead, the first module-level ``logging.warning()`` of
    a library (cachelib's file cache does that) ran ``logging.basicConfig()`` on an empty
    root logger, and from then on every Starboard line was written twice: as JSON, and
    again in plain text by that root handler. A root logger with a handler makes
    ``basicConfig`` a no-op, and the library's own warnings become JSON lines too.
    """
    root = logging.getLogger()
    if not any(getattr(h, "_starboard", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        handler._starboard = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("starboard").setLevel(level.upper() if isinstance(level, str) else level)


# --------------------------------------------------------------------------- compression


class StaticCompressed:
    """flask-compress's cache: keeps the gzip of files that cannot change while this process
    lives (Dash's component files, fingerprinted or not, and stamped ``/assets/`` files), so
    the 4.8 MB plotly.min.js is compressed once per worker, not on every page load (not
    even its 304 revalidations skip the compression otherwise). Everything else (callback
    JSON, pages) is compressed per response and not kept."""

    MAX_ITEMS = 64

    def __init__(self) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._items.get(key)

    def set(self, key: str, value: bytes) -> None:
        if key.endswith(";"):  # not a versioned static file
            return
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.MAX_ITEMS:
                self._items.popitem(last=False)


def immutable_static(req: Request) -> bool:
    """A URL whose content never changes: Dash's fingerprinted component files
    (``…/dash_table.v6_0_0m1700000000.min.js``) and ``/assets/`` files with Dash's ``?m=``
    modification stamp."""
    path = req.path
    if path.startswith("/_dash-component-suites/"):
        return check_fingerprint(path)[1]
    return path.startswith("/assets/") and bool(req.args.get("m"))


def _compress_key(req: Request) -> str:
    """The cache key of a response whose bytes only change with a restart ("" otherwise):
    component files come from installed packages, stamped assets from their mtime."""
    if req.path.startswith("/_dash-component-suites/") or immutable_static(req):
        return req.full_path
    return ""


def _install_compression(server: Flask) -> None:
    from flask_compress import Compress

    server.config.update(
        COMPRESS_ALGORITHM=["gzip"],
        COMPRESS_LEVEL=6,
        COMPRESS_MIN_SIZE=500,
        COMPRESS_MIMETYPES=list(COMPRESSED_TYPES),
        # Files sent from disk stream; the reverse proxy compresses those better.
        COMPRESS_STREAMS=False,
        COMPRESS_CACHE_BACKEND=StaticCompressed,
        COMPRESS_CACHE_KEY=_compress_key,
    )
    Compress(server)


# --------------------------------------------------------------------------- /api errors

API_PREFIX = "/api/"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def install_api_fallback(server: Flask) -> None:
    """JSON 404 and 405 for ``/api/…`` URLs no API route answers.

    Without it Dash's catch-all page route (``/<path:path>``, GET) answers them: an unknown
    API path, or a GET to a POST-only one, got the HTML index page with 200. Call after
    every API blueprint is registered: the routes under ``/api/`` at that moment decide
    between "no such route" (404) and "not with this method" (405, with ``Allow``).
    """
    api_rules = Map(
        [
            Rule(rule.rule, methods=rule.methods, endpoint=rule.endpoint)
            for rule in server.url_map.iter_rules()
            if rule.rule.startswith(API_PREFIX)
        ]
    )

    def api_not_found(rest: str) -> tuple[Response, int] | Response:
        try:
            api_rules.bind("").match(request.path, method=request.method)
        except MethodNotAllowed as exc:
            allowed = sorted(set(exc.valid_methods or ()))
            response = jsonify(
                error={
                    "type": "MethodNotAllowed",
                    "title": "Method not allowed",
                    "message": f"{request.method} is not allowed on "
                    f"{request.path}; use {', '.join(allowed)}.",
                }
            )
            response.status_code = 405
            response.headers["Allow"] = ", ".join(allowed)
            return response
        except NotFound:
            pass
        return jsonify(
            error={
                "type": "NotFound",
                "title": "Not found",
                "message": f"No API route {request.path}.",
            }
        ), 404

    server.add_url_rule(
        API_PREFIX + "<path:rest>",
        "starboard_api_not_found",
        api_not_found,
        methods=ALL_METHODS,
        provide_automatic_options=False,
    )


# --------------------------------------------------------------------------- install


def install(server: Flask, settings: Settings) -> None:
    """Request ids and logs, static cache headers, compression and ProxyFix on ``server``."""
    if settings.proxy_fix:
        n = settings.proxy_fix
        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app,
            x_for=n,
            x_proto=n,
            x_host=n,
            x_port=n,
            x_prefix=n,
        )

    @server.before_request
    def start() -> None:
        requestlog.begin(request)

    # Registered before Compress: Flask runs after_request hooks last-registered first, so
    # this one sees the final (compressed) response.
    @server.after_request
    def finish(response: Response) -> Response:
        record = requestlog.begin(request)
        rid = record.id
        response.headers[requestlog.HEADER] = rid
        if immutable_static(request) and response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
        elif request.path.startswith("/assets/"):
            response.headers["Cache-Control"] = "no-cache"
        started = record.started
        queries = list(record.queries)
        user = g.get("_login_user")
        fields: dict[str, Any] = {
            "request_id": rid,
            "method": request.method,
            "route": request.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "user": getattr(user, "name", None),
            "remote": request.remote_addr,
            "bytes": response.content_length,
            "encoding": response.headers.get("Content-Encoding"),
            "queries": [q for q, _hit in queries],
            "cache_hits": sum(1 for _q, hit in queries if hit),
            "cache_misses": sum(1 for _q, hit in queries if not hit),
        }
        if request.path == "/_dash-update-component":
            body = request.get_json(silent=True)
            if isinstance(body, dict) and isinstance(body.get("output"), str):
                fields["callback"] = body["output"][:200]
        log.info("request", extra={"fields": fields, "request_id": rid})
        return response

    if settings.compress:
        _install_compression(server)
