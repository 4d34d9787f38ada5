"""CSV exports streamed from the server: capped per role, audited, memory flat.

The one function other pages reuse is :func:`csv_response`: "stream these rows as CSV for
the signed-in user". It

* refuses users who may not export (anonymous, executive, operator: AccessDenied),
* caps the rows at the user's role limit (``STARBOARD_EXPORT_MAX_ROWS``, see
  :func:`row_cap`; a caller may pass a lower ``cap`` of its own) and the file's size at
  ``STARBOARD_EXPORT_MAX_BYTES`` (cut after the last whole row that fits),
* pins the request's warehouse snapshot and fetches rows in batches of ``batch_rows``
  (a server-side cursor where the driver has one), writing each batch of CSV text as it
  comes, so memory stays flat however many rows are exported,
* writes an audit event (``export_start``) before the first byte — an export that cannot
  be audited is not delivered (AuditUnavailable, answered 503) — and one (``export``) when
  the stream ends: rows and bytes written, whether a cap cut it short (``truncated_by``
  ``rows`` or ``bytes``), and whether the download was aborted.

Its rows come from a ``RowSource``: a SQLAlchemy statement (bound parameters only), or a
callable returning an iterator of batches (a DataFrame already computed by ``run()``).

The explorer's two download routes (``/api/v1/export/explore`` and
``/api/v1/export/detail``) are in :func:`blueprint`; under ``/api/`` the access gate
already answers 401 to anonymous and 403 to roles without Tier 2.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from flask import Response, stream_with_context
from sqlalchemy.sql.compiler import SQLCompiler

from app.core.auth import User, can, require, signed_in_user
from app.core.errors import AccessDenied, QueryError, StarboardError
from app.core.runtime import current_runtime

log = logging.getLogger("starboard.export")
BATCH_ROWS = 10_000
Batches = Callable[[], Iterator[Sequence[Sequence[Any]]]]


class AuditUnavailable(StarboardError):
    """The audit log cannot be written (the metadata database is locked or down): what
    needs an audit record is not done."""

    title = "Audit log unavailable"
    status = 503


@dataclass(frozen=True)
class StreamEnd:
    """How one CSV stream ended (what :func:`stream_csv` reports to ``on_end``)."""

    rows: int
    truncated: bool
    aborted: bool
    truncated_by: str = ""  # "rows", "bytes" or ""
    bytes: int = 0  # UTF-8 bytes written, header included


@dataclass(frozen=True)
class RowSource:
    """What to export: a statement to run on the pinned snapshot, or ready batches."""

    columns: Sequence[str]  # header labels, in row order
    statement: sa.Executable | None = None  # bound parameters only
    batches: Batches | None = None  # alternative: yields lists of rows
    what: str = "rows"  # for the audit log: explore|detail|sql|…
    detail: dict[str, Any] = field(default_factory=dict)  # audit detail (the query)


def row_cap(user: object) -> int:
    """Most rows ``user`` may export: their role's ``STARBOARD_EXPORT_MAX_ROWS`` entry;
    0 for anyone without Tier 2 (they may not export at all)."""
    if not isinstance(user, User) or not can(user, "tier2"):
        return 0
    caps = dict(current_runtime().settings.export_max_rows)
    return int(caps.get(user.role, 0))


def byte_cap() -> int:
    """Most bytes one CSV file may hold (``STARBOARD_EXPORT_MAX_BYTES``)."""
    return int(current_runtime().settings.export_max_bytes)


def human_bytes(count: int) -> str:
    """``20 MB``, ``1.5 GB``: a byte count as people read it (decimal units)."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{count:,} bytes"


def cap_note(user: object) -> str:
    """The sentence the UI shows next to a download button."""
    cap = row_cap(user)
    role = getattr(user, "role", "anonymous")
    if cap <= 0:
        return f"Your role ({role}) may not export data."
    return f"CSV, at most {cap:,} rows and {human_bytes(byte_cap())} for your role ({role})."


def cell(value: Any) -> Any:
    """A value as CSV text: empty for NULL/NaN, ISO dates, plain numbers."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, pd.Timestamp):
        return "" if pd.isna(value) else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return cell(value.item())
    return value


def safe_filename(text: str) -> str:
    """A download file name from free text: letters, digits, ``-`` and ``_`` only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:80]
    return (name or "export") + ".csv"


def frame_batches(frame: pd.DataFrame, batch_rows: int = BATCH_ROWS) -> Batches:
    """Batches of an in-memory result (a ``run()`` frame) for :class:`RowSource`."""

    def gen() -> Iterator[Sequence[Sequence[Any]]]:
        for start in range(0, len(frame), batch_rows):
            yield list(frame.iloc[start : start + batch_rows].itertuples(index=False, name=None))

    return gen


def _duckdb_batches(engine: sa.Engine, statement: sa.Executable, batch_rows: int) -> Iterator[Any]:
    """Arrow record batches of ``statement`` on DuckDB: the query runs as they are read,
    so memory stays flat (no ORDER BY: a sort holds its rows in DuckDB until done)."""
    # Every executable statement is a ClauseElement, compiled by the dialect's SQLCompiler; the
    # Executable mixin's type lacks compile() and Compiled lacks positiontup.
    compiled = cast(
        SQLCompiler,
        cast(sa.ClauseElement, statement).compile(
            dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
        ),
    )
    params: Any = (
        [compiled.params[k] for k in compiled.positiontup or ()]
        if engine.dialect.positional
        else dict(compiled.params)
    )
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection has its driver connection
        yield from raw.sql(str(compiled), params=params or None).to_arrow_reader(batch_rows)


def _statement_batches(statement: sa.Executable, cap: int, batch_rows: int) -> Batches:
    snap = current_runtime().warehouse.snapshot()  # pinned for the request
    if isinstance(statement, sa.Select) and statement._limit_clause is None:
        statement = statement.limit(cap + 1)

    def gen() -> Iterator[Sequence[Sequence[Any]]]:
        with snap.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=batch_rows).execute(
                statement
            )
            try:
                while True:
                    rows = result.fetchmany(batch_rows)
                    if not rows:
                        return
                    yield rows
            finally:
                result.close()

    return gen


def _fits(text: str, ends: Sequence[int], room: int) -> int:
    """How many of the rows in ``text`` (row ``i`` ends at character ``ends[i]``) fit in
    ``room`` UTF-8 bytes."""
    low, high = 0, len(ends)
    while low < high:
        mid = (low + high + 1) // 2
        if len(text[: ends[mid - 1]].encode("utf-8")) <= room:
            low = mid
        else:
            high = mid - 1
    return low


def stream_csv(
    source: RowSource,
    cap: int,
    batch_rows: int = BATCH_ROWS,
    on_end: Callable[[StreamEnd], None] | None = None,
    max_bytes: int = 0,
) -> Iterator[str]:
    """CSV text of ``source`` in chunks: the header, then at most ``cap`` rows and (when
    ``max_bytes`` > 0) at most ``max_bytes`` UTF-8 bytes, cut after a whole row.

    ``on_end(StreamEnd)`` runs once when the stream stops (also when the client goes away,
    or the warehouse fails mid-way).
    """
    if (
        source.batches is None
        and source.statement is not None
        and current_runtime().warehouse.is_duckdb
    ):
        yield from _stream_duckdb(source, cap, batch_rows, on_end, max_bytes)
        return
    batches = source.batches
    if not batches:
        assert source.statement is not None  # a source has a statement or rows
        batches = _statement_batches(source.statement, cap, batch_rows)
    written, sent, cut, aborted = 0, 0, "", True
    budget = max_bytes if max_bytes > 0 else None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    try:
        writer.writerow(list(source.columns))
        head = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        sent = len(head.encode("utf-8"))
        yield head
        for batch in batches():
            ends: list[int] = []
            for row in batch:
                if written + len(ends) >= cap:
                    cut = "rows"
                    break
                writer.writerow([cell(v) for v in row])
                ends.append(buffer.tell())
            chunk = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            size = len(chunk.encode("utf-8"))
            if budget is not None and sent + size > budget:
                keep = _fits(chunk, ends, budget - sent)
                chunk = chunk[: ends[keep - 1]] if keep else ""
                size = len(chunk.encode("utf-8"))
                ends, cut = ends[:keep], "bytes"
            written += len(ends)
            sent += size
            if chunk:
                yield chunk
            if cut:
                break
        aborted = False
    finally:
        if on_end is not None:
            on_end(StreamEnd(written, bool(cut), aborted, cut, sent))


def _stream_duckdb(
    source: RowSource,
    cap: int,
    batch_rows: int,
    on_end: Callable[[StreamEnd], None] | None,
    max_bytes: int = 0,
) -> Iterator[str]:
    """:func:`stream_csv` on DuckDB: Arrow batches written by Arrow's CSV writer (fast),
    cut at ``cap`` rows and ``max_bytes`` bytes."""
    import pyarrow.csv as pa_csv

    assert source.statement is not None
    statement = source.statement
    if isinstance(statement, sa.Select) and statement._limit_clause is None:
        statement = statement.limit(cap + 1)
    engine = current_runtime().warehouse.snapshot().engine  # pinned for the request
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    budget = max_bytes if max_bytes > 0 else None
    written, sent, cut, aborted = 0, 0, "", True

    def encoded(batch: Any) -> bytes:
        sink = io.BytesIO()
        if batch.num_rows:
            pa_csv.write_csv(batch, sink, options)
        return sink.getvalue()

    try:
        head = io.StringIO()
        csv.writer(head, lineterminator="\n").writerow(list(source.columns))
        sent = len(head.getvalue().encode("utf-8"))
        yield head.getvalue()
        for batch in _duckdb_batches(engine, statement, batch_rows):
            if written + batch.num_rows > cap:
                batch, cut = batch.slice(0, cap - written), "rows"
            data = encoded(batch)
            if budget is not None and sent + len(data) > budget:
                low, high = 0, batch.num_rows  # most rows that fit
                while low < high:
                    mid = (low + high + 1) // 2
                    if sent + len(encoded(batch.slice(0, mid))) <= budget:
                        low = mid
                    else:
                        high = mid - 1
                batch, cut = batch.slice(0, low), "bytes"
                data = encoded(batch)
            written += batch.num_rows
            sent += len(data)
            if data:
                yield data.decode("utf-8")
            if cut:
                break
        aborted = False
    finally:
        if on_end is not None:
            on_end(StreamEnd(written, bool(cut), aborted, cut, sent))


def csv_response(
    source: RowSource, filename: str, *, cap: int | None = None, batch_rows: int = BATCH_ROWS
) -> Response:
    """Stream ``source`` as a CSV download for the signed-in user (see module docstring).

    ``cap`` lowers the user's role cap (never raises it). AccessDenied for a user who may
    not export; AuditUnavailable (nothing is sent) when the start of the export cannot be
    audited. The response carries ``X-Starboard-Row-Cap`` and ``X-Starboard-Byte-Cap`` so
    clients know the limits.
    """
    user = signed_in_user()
    require(user, "tier2")
    assert user is not None
    limit = row_cap(user) if cap is None else min(cap, row_cap(user))
    if limit <= 0:
        raise AccessDenied(f"Your role ({user.role}) may not export data.")
    if source.statement is None and source.batches is None:
        raise QueryError("Nothing to export: no statement and no rows were given.")
    runtime = current_runtime()
    version = runtime.warehouse.snapshot().version.id
    max_bytes = byte_cap()
    started = time.perf_counter()
    base = {
        "what": source.what,
        "cap": limit,
        "byte_cap": max_bytes,
        "data_version": version,
        "file": filename,
        **source.detail,
    }
    try:
        runtime.users.audit(user.name, "export_start", base)
    except Exception as exc:  # noqa: BLE001 - whatever the cause, no audit: no export
        log.error(
            "export %s not delivered: could not audit its start (%s)",
            source.what,
            str(getattr(exc, "orig", None) or exc).splitlines()[0]
            if str(exc)
            else type(exc).__name__,
        )
        raise AuditUnavailable(
            "Not delivered: the export could not be recorded in the audit log (the metadata "
            "database is busy or unavailable), and no export leaves unaudited. Try again in "
            "a moment."
        ) from exc

    def on_end(end: StreamEnd) -> None:
        detail = {
            **base,
            "rows": end.rows,
            "bytes": end.bytes,
            "truncated": end.truncated,
            "truncated_by": end.truncated_by,
            "aborted": end.aborted,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        try:
            runtime.users.audit(user.name, "export", detail)
        except Exception:  # noqa: BLE001 - the start is audited; log the end loudly
            log.exception("could not audit the end of export %s", detail)
        log.info(
            "export %s rows=%s bytes=%s truncated=%s aborted=%s",
            source.what,
            end.rows,
            end.bytes,
            end.truncated_by or False,
            end.aborted,
        )

    body = stream_with_context(stream_csv(source, limit, batch_rows, on_end, max_bytes))
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Starboard-Row-Cap": str(limit),
            "X-Starboard-Byte-Cap": str(max_bytes),
            "Cache-Control": "no-store",
        },
    )


def rows_of(lines: Iterable[str]) -> list[list[str]]:
    """Parse CSV text chunks back into rows (tests, benchmarks)."""
    return list(csv.reader(io.StringIO("".join(lines))))
