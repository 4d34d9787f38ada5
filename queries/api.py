"""``POST /api/v1/query``: the query interface as JSON, through the same one door.

Request: ``{"metrics": [...], "dimensions": [...], "filters": [{"dimension", "op",
"value"}], "order_by": [...], "limit": N}``. Response: columns, rows, and how they were
obtained (data version, cost class, cache hit, milliseconds, compiled SQL). Errors are
JSON with the message a user can act on: 400 for a bad query, 503 when the warehouse is
down.

Every answer is bounded, so one request cannot hold a worker or its memory: at most
``STARBOARD_API_MAX_ROWS`` rows (the query is sent with that limit + 1) and
``STARBOARD_API_MAX_BYTES`` bytes of rows. A longer result is cut and says so —
``truncated: true`` with ``row_cap``, ``byte_cap`` and ``truncated_by`` (``rows`` or
``bytes``) — rather than refused: the client keeps what fits, like the SQL page and the CSV
exports, and knows to narrow or page. The warehouse stops the query at
``STARBOARD_API_TIMEOUT_SECONDS`` (400 ``QueryStopped``: running it again would be stopped
again; the message says how to ask for less).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from app.core.errors import AccessDenied, QueryError, StarboardError, WarehouseUnavailable
from app.core.runtime import current_runtime
from queries.semantic.parse import query_from_json
from queries.semantic.query import MetricQuery, RowScope
from queries.semantic.run import QueryStopped, current_model, run

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


def capped_records(
    frame: pd.DataFrame, max_rows: int, max_bytes: int
) -> tuple[list[list[Any]], str | None]:
    """Rows of ``frame`` as JSON-ready lists, at most ``max_rows`` of them and at most
    ``max_bytes`` bytes of their JSON; and what cut them (``"rows"``, ``"bytes"``, None)."""
    out: list[list[Any]] = []
    size = 2  # the brackets of the list
    for row in frame.itertuples(index=False, name=None):
        if len(out) == max_rows:
            return out, "rows"
        values = [json_value(v) for v in row]
        size += len(json.dumps(values, default=str).encode("utf-8")) + 2  # ", "
        if size > max_bytes:
            return out, "bytes"
        out.append(values)
    return out, None


def with_row_cap(query: MetricQuery, max_rows: int) -> MetricQuery:
    """``query`` asking the warehouse for at most ``max_rows`` + 1 rows (one more than the
    cap shows that there were more)."""
    wanted = max_rows + 1
    if query.limit is not None and query.limit <= wanted:
        return query
    return dataclasses.replace(query, limit=wanted)


def _error(exc: StarboardError, status: int) -> tuple[Response, int]:
    return jsonify(
        error={"type": type(exc).__name__, "title": exc.title, "message": exc.message}
    ), status


def blueprint(scope_of_user: ScopeLookup = lambda: ()) -> Blueprint:
    """The API routes; ``scope_of_user`` gives the row scope of the request's user."""
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")

    @api.post("/query")
    def query() -> tuple[Response, int]:
        payload = request.get_json(silent=True)
        if payload is None:
            return _error(
                QueryError(
                    "The request body must be a JSON object (Content-Type: application/json)."
                ),
                400,
            )
        settings = current_runtime().settings
        max_rows, max_bytes = settings.api_max_rows, settings.api_max_bytes
        try:
            parsed = query_from_json(payload, current_model())
            result = run(
                with_row_cap(parsed, max_rows),
                scope_of_user(),
                timeout_seconds=settings.api_timeout_seconds,
            )
        except QueryStopped:
            return _error(
                QueryStopped(
                    f"Stopped: the query ran longer than the API's time limit of "
                    f"{settings.api_timeout_seconds:g} s (STARBOARD_API_TIMEOUT_SECONDS). Ask for "
                    "less: fewer dimensions, a shorter date range, filters, or a limit."
                ),
                400,
            )
        except WarehouseUnavailable as exc:
            return _error(exc, 503)
        except AccessDenied as exc:
            return _error(exc, 403)
        except StarboardError as exc:
            return _error(exc, 400)
        rows, cut = capped_records(result.frame, max_rows, max_bytes)
        notices = list(result.notices)
        if cut:
            notices.append(
                f"Only the first {len(rows):,} rows are returned: the answer is "
                f"capped at {max_rows:,} rows and {max_bytes:,} bytes. Add filters "
                "or a limit, or group by fewer dimensions."
            )
        return jsonify(
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
