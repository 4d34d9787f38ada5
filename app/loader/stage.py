"""Raw files → staging tables, with every defect named by file, line and column."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from app.core.errors import DataError
from app.loader.contract import RAW_FILES, RawFile


def first_row(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row an aggregate query always returns (DuckDB types fetchone() as optional)."""
    if row is None:
        raise RuntimeError("an aggregate query returned no row")
    return row


MAX_REPORTED = 5


@dataclass(frozen=True)
class RawSource:
    spec: RawFile
    path: Path

    @property
    def format(self) -> str:
        return "csv" if self.path.suffix == ".csv" else "parquet"


def discover(raw_dir: Path) -> list[RawSource]:
    """Find the six raw files; a missing or doubled one is an error naming it."""
    if not raw_dir.is_dir():
        raise DataError(f"Raw data directory {raw_dir} does not exist or is not a directory.")
    sources: list[RawSource] = []
    missing: list[str] = []
    for spec in RAW_FILES:
        found = [raw_dir / f"{spec.entity}.{ext}" for ext in ("parquet", "csv")]
        found = [p for p in found if p.is_file()]
        if not found:
            missing.append(f"{spec.entity}.parquet or {spec.entity}.csv")
        elif len(found) > 1:
            raise DataError(
                f"Both {found[0].name} and {found[1].name} are in {raw_dir}: "
                "keep one of them so it is clear which to load."
            )
        else:
            sources.append(RawSource(spec, found[0]))
    if missing:
        raise DataError(
            f"Missing raw file(s) in {raw_dir}: {', '.join(missing)}. "
            "See the README, section “Loading your own data”, for the file layout."
        )
    return sources


def _header(source: RawSource, con: duckdb.DuckDBPyConnection) -> list[str]:
    if source.format == "csv":
        with source.path.open(newline="", encoding="utf-8") as handle:
            try:
                return next(csv.reader(handle))
            except StopIteration:
                raise DataError(
                    f"{source.path.name} is empty: it needs a header row with "
                    f"the columns {', '.join(source.spec.names)}."
                ) from None
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{source.path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})."
                ) from exc
    try:
        rows = con.execute(
            "SELECT name FROM parquet_schema(?) WHERE num_children IS NULL OR num_children = 0",
            [str(source.path)],
        ).fetchall()
    except duckdb.Error as exc:
        raise DataError(
            f"{source.path.name} is not a readable Parquet file: {str(exc).splitlines()[0]}"
        ) from exc
    return [r[0] for r in rows]


def check_columns(source: RawSource, con: duckdb.DuckDBPyConnection) -> None:
    """Missing and unexpected columns are errors; order does not matter."""
    header = [h.strip() for h in _header(source, con)]
    expected = list(source.spec.names)
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    if dupes:
        problems.append(f"repeated column(s) {', '.join(dupes)}")
    if problems:
        raise DataError(
            f"{source.path.name}: {'; '.join(problems)}. Expected exactly: {', '.join(expected)}."
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal, for the few DuckDB statements that cannot take parameters."""
    return "'" + text.replace("'", "''") + "'"


def stage(source: RawSource, con: duckdb.DuckDBPyConnection) -> int:
    """Create ``stg_<entity>`` with the contract's types; return its row count."""
    check_columns(source, con)
    table = f"stg_{source.spec.entity}"
    path = str(source.path)
    if source.format == "csv":
        _stage_csv(source, con, table, path)
    else:
        _stage_parquet(source, con, table, path)
    count = first_row(con.execute(f"SELECT count(*) FROM {table}").fetchone())[0]
    if count == 0:
        raise DataError(f"{source.path.name} has no data rows: nothing to load.")
    return int(count)


def _stage_csv(source: RawSource, con: duckdb.DuckDBPyConnection, table: str, path: str) -> None:
    columns = "{" + ", ".join(f"'{c.name}': '{c.type}'" for c in source.spec.columns) + "}"
    con.execute("DROP TABLE IF EXISTS rej_errors; DROP TABLE IF EXISTS rej_scans")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header = true, "
            f"columns = {columns}, auto_detect = false, delim = ',', quote = '\"', "
            "escape = '\"', nullstr = '', store_rejects = true, rejects_table = 'rej_errors', "
            "rejects_scan = 'rej_scans', dateformat = '%Y-%m-%d')",
            [path],
        )
    except duckdb.Error as exc:
        raise DataError(
            f"{source.path.name} could not be read as CSV: {str(exc).splitlines()[0]}"
        ) from exc
    rejects = con.execute(
        "SELECT line, column_name, error_type, error_message FROM rej_errors ORDER BY line LIMIT ?",
        [MAX_REPORTED + 1],
    ).fetchall()
    total = first_row(con.execute("SELECT count(*) FROM rej_errors").fetchone())[0]
    if total:
        lines = []
        for line, column, kind, message in rejects[:MAX_REPORTED]:
            detail = str(message).split(". ")[-1] if message else str(kind)
            where = f"line {line}" + (f", column {column}" if column else "")
            lines.append(f"  {source.path.name} {where}: {detail}")
        more = f"\n  … and {total - MAX_REPORTED} more" if total > MAX_REPORTED else ""
        raise DataError(
            f"{source.path.name} has {total} value(s) that do not parse:\n"
            + "\n".join(lines)
            + more
        )


def _stage_parquet(
    source: RawSource, con: duckdb.DuckDBPyConnection, table: str, path: str
) -> None:
    casts = ", ".join(
        f"TRY_CAST({_quote(c.name)} AS {c.type}) AS {_quote(c.name)}" for c in source.spec.columns
    )
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW raw_{table} AS SELECT * FROM "
            f"read_parquet({_literal(path)}, file_row_number = true)"
        )
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {casts} FROM raw_{table}")
    except duckdb.Error as exc:
        raise DataError(
            f"{source.path.name} could not be read as Parquet: {str(exc).splitlines()[0]}"
        ) from exc
    # A value present in the file but NULL after the cast did not fit its type.
    checks = " OR ".join(
        f"({_quote(c.name)} IS NOT NULL AND TRY_CAST({_quote(c.name)} AS {c.type}) IS NULL)"
        for c in source.spec.columns
    )
    bad = con.execute(
        f"SELECT file_row_number, * EXCLUDE (file_row_number) FROM raw_{table} "
        f"WHERE {checks} LIMIT ?",
        [MAX_REPORTED],
    ).fetchall()
    if bad:
        names = [d[0] for d in con.description][1:]
        lines = []
        for row in bad:
            values = dict(zip(names, row[1:], strict=True))
            for col in source.spec.columns:
                value = values.get(col.name)
                if value is None:
                    continue
                ok = first_row(
                    con.execute(
                        f"SELECT TRY_CAST(? AS {col.type}) IS NOT NULL", [str(value)]
                    ).fetchone()
                )[0]
                if not ok:
                    lines.append(
                        f"  {source.path.name} row {row[0] + 1}, column {col.name}: "
                        f"{value!r} is not a {col.type}"
                    )
                    break
        raise DataError(
            f"{source.path.name} has values that do not fit their column types:\n"
            + "\n".join(lines)
        )
    con.execute(f"DROP VIEW raw_{table}")
