"""``POST /api/v1/query``: the query interface as JSON, through the same one door.

Request: ``{"metrics": [...], "dimensions": [...], "filters": [{"dimension", "op",
"value"}], "order_by": [...], "limit": N}``. Response: columns, rows, and how they were
obtained (data version, cost class, cache hit, milliseconds, compiled SQL). Errors are
JSON with the message a user can act on: 400 for a bad query, 503 when the warehouse is
down.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from app.errors import AccessDenied, QueryError, StarboardError, WarehouseUnavailable
from queries.parse import query_from_json
from queries.query import RowScope
from queries.run import current_model, run

ScopeLookup = Callable[[], RowScope]


def json_value(value: Any) -> Any:
    """A cell as JSON: NaN/NaT → null, dates → ISO text, numpy scalars → Python."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item"):
        return json_value(value.item())
    return value


def records(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows of ``frame`` as JSON-ready lists."""
    return [[json_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def _error(exc: StarboardError, status: int) -> tuple[Response, int]:
    return jsonify(error={"type": type(exc).__name__, "title": exc.title,
                          "message": exc.message}), status


def blueprint(scope_of_user: ScopeLookup = lambda: ()) -> Blueprint:
    """The API routes; ``scope_of_user`` gives the row scope of the request's user."""
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")

    @api.post("/query")
    def query() -> tuple[Response, int]:
        payload = request.get_json(silent=True)
        if payload is None:
            return _error(QueryError("The request body must be a JSON object (Content-Type: "
                                     "application/json)."), 400)
        try:
            parsed = query_from_json(payload, current_model())
            result = run(parsed, scope_of_user())
        except WarehouseUnavailable as exc:
            return _error(exc, 503)
        except AccessDenied as exc:
            return _error(exc, 403)
        except StarboardError as exc:
            return _error(exc, 400)
        return jsonify(columns=list(result.columns), rows=records(result.frame),
                       data_version=result.version, cost_class=result.cost_class,
                       cache_hit=result.cache_hit, ms=round(result.ms, 1),
                       rollup=result.rollup, notices=list(result.notices),
                       sql=result.sql), 200

    return api
