"""Query results as JSON-ready values: cells, rows, and answers capped in rows and bytes."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from queries.semantic.query import MetricQuery


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
