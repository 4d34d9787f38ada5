"""Sources → staged tables in the build, with every rejected value named by file, line, column.

Files (CSV, Parquet, JSON; one file or a glob) are read by DuckDB: declared column types are
applied, the others inferred. A CSV value that does not parse is reported with its file, line
and column (DuckDB's reject tables); a Parquet or JSON value that does not cast, with its file,
row and column. Database sources (any SQLAlchemy URL: PostgreSQL, SQLite, …) are streamed in
Arrow batches. Nothing here writes outside the build file.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from app.core.errors import DataError
from app.loader.project import Project, Source

MAX_REPORTED = 5
DB_BATCH = 50_000


def first_row(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row an aggregate query always returns (DuckDB types fetchone() as optional)."""
    if row is None:
        raise RuntimeError("an aggregate query returned no row")
    return row


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal, for the DuckDB statements that cannot take parameters."""
    return "'" + text.replace("'", "''") + "'"


def _files_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join(literal(str(f)) for f in files) + "]"


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def stage_source(
    project: Project,
    source: Source,
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
) -> int:
    """Create the table ``source.name`` in the build; return its row count.

    ``since`` (an incremental run) keeps only rows whose ``time`` column is at or after it.
    """
    if source.is_file:
        files = source.files(project.root)
        if not files:
            raise DataError(
                f"Source {source.name}: no file matches {source.path} (relative to {project.root})."
            )
        where = _since(source, since)
        if source.format == "csv":
            _stage_csv(source, files, con, where)
        else:
            _stage_typed(source, files, con, where)
    else:
        _stage_db(source, con)
        if since is not None and source.time:
            con.execute(f"DELETE FROM {quote(source.name)} WHERE {quote(source.time)} < ?", [since])
    return int(first_row(con.execute(f"SELECT count(*) FROM {quote(source.name)}").fetchone())[0])


def _since(source: Source, since: datetime | None) -> str:
    """The WHERE clause of an incremental read (pushed down into Parquet row groups)."""
    if since is None or not source.time:
        return ""
    return f" WHERE {quote(source.time)} >= TIMESTAMP {literal(since.isoformat(sep=' '))}"


def _where(source: Source, files: Sequence[Path]) -> str:
    return files[0].name if len(files) == 1 else f"{source.path} ({len(files)} files)"


def _csv_header(source: Source, file: Path) -> list[str]:
    delim = str(dict(source.options).get("delim", ","))
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:  # Excel writes a BOM
            return [h.strip() for h in next(csv.reader(handle, delimiter=delim))]
    except StopIteration:
        raise DataError(
            f"{file.name} (source {source.name}) is empty: it needs a header row"
            + (
                f" with the columns {', '.join(c for c, _ in source.columns)}."
                if source.columns
                else "."
            )
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{file.name} (source {source.name}) is not UTF-8 text ({exc.reason} at byte "
            f"{exc.start})."
        ) from exc
    except OSError as exc:
        raise DataError(
            f"{file.name} (source {source.name}) cannot be read: {exc.strerror}."
        ) from None


def _check_declared(source: Source, file: Path, header: Sequence[str]) -> None:
    missing = [c for c, _ in source.columns if c not in header]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if dupes:
        problems.append(f"repeated column(s) {', '.join(dupes)}")
    if problems:
        raise DataError(
            f"{file.name} (source {source.name}): {'; '.join(problems)}. "
            f"Columns found: {', '.join(header) or 'none'}."
        )


def _stage_csv(
    source: Source, files: Sequence[Path], con: duckdb.DuckDBPyConnection, where: str = ""
) -> None:
    headers: list[list[str]] = []
    for file in files:
        header = _csv_header(source, file)
        _check_declared(source, file, header)
        if headers and header != headers[0]:
            raise DataError(
                f"{file.name} (source {source.name}) has the columns {', '.join(header)}, but "
                f"{files[0].name} has {', '.join(headers[0])}: the files of one source share "
                "one header."
            )
        headers.append(header)
    errors, scans = f"sb_rej_errors_{source.name}", f"sb_rej_scans_{source.name}"
    options = dict(source.options)
    declared = "{" + ", ".join(f"{literal(c)}: {literal(t)}" for c, t in source.columns) + "}"
    extra = ", ".join(
        f"{k} = {literal(str(v)) if isinstance(v, str) else v!r}"
        for k, v in options.items()
        if k in ("delim", "quote", "escape", "dateformat", "timestampformat", "nullstr")
    )
    args = [
        "header = true",
        "store_rejects = true",
        f"rejects_table = {literal(errors)}",
        f"rejects_scan = {literal(scans)}",
    ]
    if source.columns:
        args.append(f"types = {declared}")
    if "nullstr" not in options:
        args.append("nullstr = ''")
    if extra:
        args.append(extra)
    cursor = con.cursor()
    try:
        drop = f"DROP TABLE IF EXISTS {quote(errors)}; DROP TABLE IF EXISTS {quote(scans)}"
        cursor.execute(drop)
        try:
            cursor.execute(
                f"CREATE OR REPLACE TABLE {quote(source.name)} AS SELECT * FROM "
                f"read_csv({_files_list(files)}, {', '.join(args)}){where}"
            )
        except duckdb.Error as exc:
            raise DataError(
                f"{_where(source, files)} (source {source.name}) could not be read as CSV: "
                f"{_first(exc)}"
            ) from exc
        rejects = cursor.execute(
            "SELECT s.file_path, e.line, e.column_name, e.error_type, e.error_message "
            f"FROM {quote(errors)} e JOIN {quote(scans)} s USING (scan_id, file_id) "
            "ORDER BY s.file_path, e.line LIMIT ?",
            [MAX_REPORTED],
        ).fetchall()
        total = first_row(cursor.execute(f"SELECT count(*) FROM {quote(errors)}").fetchone())[0]
        cursor.execute(drop)
    finally:
        cursor.close()
    if total:
        lines = []
        for path, line, column, kind, message in rejects:
            detail = str(message).split(". ")[-1] if message else str(kind)
            where = f"line {line}" + (f", column {column}" if column else "")
            lines.append(f"  {Path(path).name} {where}: {detail}")
        more = f"\n  … and {total - MAX_REPORTED} more" if total > MAX_REPORTED else ""
        raise DataError(
            f"Source {source.name}: {total} value(s) do not parse:\n" + "\n".join(lines) + more
        )


def _stage_typed(
    source: Source, files: Sequence[Path], con: duckdb.DuckDBPyConnection, where: str = ""
) -> None:
    """Parquet or JSON: read as stored, then cast the declared columns, naming any value that
    does not fit by file, row and column."""
    reader = (
        f"read_parquet({_files_list(files)}, union_by_name = true, filename = true, "
        "file_row_number = true)"
        if source.format == "parquet"
        else f"read_json_auto({_files_list(files)}, union_by_name = true, filename = true)"
    )
    raw = f"sb_raw_{source.name}"
    cursor = con.cursor()
    try:
        try:
            cursor.execute(f"CREATE OR REPLACE TEMP VIEW {quote(raw)} AS SELECT * FROM {reader}")
            names = [
                r[0]
                for r in cursor.execute(f"DESCRIBE {quote(raw)}").fetchall()
                if r[0] not in ("filename", "file_row_number")
            ]
        except duckdb.Error as exc:
            raise DataError(
                f"{_where(source, files)} (source {source.name}) could not be read as "
                f"{source.format}: {_first(exc)}"
            ) from exc
        missing = [c for c, _ in source.columns if c not in names]
        if missing:
            raise DataError(
                f"{_where(source, files)} (source {source.name}): missing column(s) "
                f"{', '.join(missing)}. Columns found: {', '.join(names)}."
            )
        types = dict(source.columns)
        select = ", ".join(
            f"TRY_CAST({quote(c)} AS {types[c]}) AS {quote(c)}" if c in types else quote(c)
            for c in names
        )
        if types:
            checks = (
                ("(" + where.removeprefix(" WHERE ") + ") AND (" if where else "(")
                + " OR ".join(
                    f"({quote(c)} IS NOT NULL AND TRY_CAST({quote(c)} AS {t}) IS NULL)"
                    for c, t in source.columns
                )
                + ")"
            )
            row_no = "file_row_number + 1" if source.format == "parquet" else "NULL"
            bad = cursor.execute(
                f"SELECT filename, {row_no}, "
                + ", ".join(quote(c) for c, _ in source.columns)
                + f" FROM {quote(raw)} WHERE {checks} LIMIT ?",
                [MAX_REPORTED],
            ).fetchall()
            if bad:
                lines = []
                for row in bad:
                    for (col, type_), value in zip(source.columns, row[2:], strict=True):
                        if value is None:
                            continue
                        ok = first_row(
                            cursor.execute(
                                f"SELECT TRY_CAST(? AS {type_}) IS NOT NULL", [str(value)]
                            ).fetchone()
                        )[0]
                        if not ok:
                            at = f"row {row[1]}, " if row[1] is not None else ""
                            lines.append(
                                f"  {Path(row[0]).name} {at}column {col}: {value!r} is not a "
                                f"{type_}"
                            )
                            break
                raise DataError(
                    f"Source {source.name}: values that do not fit their column types:\n"
                    + "\n".join(lines)
                )
        cursor.execute(
            f"CREATE OR REPLACE TABLE {quote(source.name)} AS "
            f"SELECT {select} FROM {quote(raw)}{where}"
        )
        cursor.execute(f"DROP VIEW {quote(raw)}")
    finally:
        cursor.close()


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable URL)"


NULL_TYPE = '"NULL"'  # DuckDB's type of a column made from an all-NULL Arrow batch


def _types(cursor: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {r[0]: r[1] for r in cursor.execute(f"DESCRIBE {quote(table)}").fetchall()}


def _widen_null_columns(cursor: duckdb.DuckDBPyConnection, table: str) -> None:
    """A column that was NULL in every row of the earlier batches takes the type of the first
    batch that has values (else its values could not be inserted)."""
    batch = _types(cursor, "sb_batch")
    for column, type_ in _types(cursor, table).items():
        if type_ == NULL_TYPE and batch.get(column, NULL_TYPE) != NULL_TYPE:
            cursor.execute(f"ALTER TABLE {quote(table)} ALTER {quote(column)} TYPE {batch[column]}")


def _stage_db(source: Source, con: duckdb.DuckDBPyConnection) -> None:
    """A table or query of any SQLAlchemy database, streamed in Arrow batches."""
    assert source.db is not None
    try:
        engine = sa.create_engine(source.db)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DataError(
            f"Source {source.name}: {source.db!r} is not a usable database URL: {_first(exc)}"
        ) from exc
    statement: sa.Executable
    if source.query is not None:
        statement = sa.text(source.query)
    else:
        assert source.table is not None
        schema, _, name = source.table.rpartition(".")
        statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
    cursor = con.cursor()
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(statement)
            columns = list(result.keys())
            first = True
            while True:
                rows = result.fetchmany(DB_BATCH)
                if not rows and not first:
                    break
                batch = pa.table(
                    {c: pa.array([r[i] for r in rows]) for i, c in enumerate(columns)}
                    if rows
                    else {c: pa.array([], pa.string()) for c in columns}
                )
                cursor.register("sb_batch", batch)
                if first:
                    cursor.execute(
                        f"CREATE OR REPLACE TABLE {quote(source.name)} AS SELECT * FROM sb_batch"
                    )
                    first = False
                else:
                    _widen_null_columns(cursor, source.name)
                    cursor.execute(f"INSERT INTO {quote(source.name)} SELECT * FROM sb_batch")
                cursor.unregister("sb_batch")
                if not rows:
                    break
            # a column empty in every row has no type of its own: text, unless declared
            for column, type_ in _types(cursor, source.name).items():
                if type_ == NULL_TYPE:
                    cursor.execute(
                        f"ALTER TABLE {quote(source.name)} ALTER {quote(column)} TYPE VARCHAR"
                    )
    except sa.exc.DBAPIError as exc:
        raise DataError(
            f"Source {source.name}: {_safe_url(source.db)} cannot be read: "
            f"{_first(exc.orig or exc)}"
        ) from exc
    except (duckdb.Error, pa.ArrowException) as exc:
        raise DataError(
            f"Source {source.name}: the rows could not be staged: {_first(exc)}"
        ) from exc
    finally:
        cursor.close()
        engine.dispose()
    if source.columns:
        names = [r[0] for r in con.execute(f"DESCRIBE {quote(source.name)}").fetchall()]
        missing = [c for c, _ in source.columns if c not in names]
        if missing:
            raise DataError(
                f"Source {source.name}: missing column(s) {', '.join(missing)} in "
                f"{source.table or 'the query'}. Columns found: {', '.join(names)}."
            )
        for col, type_ in source.columns:
            bad = con.execute(
                f"SELECT {quote(col)} FROM {quote(source.name)} WHERE {quote(col)} IS NOT NULL "
                f"AND TRY_CAST({quote(col)} AS {type_}) IS NULL LIMIT 1"
            ).fetchone()
            if bad:
                raise DataError(
                    f"Source {source.name}: column {col} holds {bad[0]!r}, which is not a {type_}."
                )
            con.execute(
                f"ALTER TABLE {quote(source.name)} ALTER {quote(col)} TYPE {type_} "
                f"USING CAST({quote(col)} AS {type_})"
            )
