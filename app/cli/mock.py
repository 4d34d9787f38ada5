"""``starboard mock``: a realistic warehouse for any semantic model, before real data exists."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.root import out, parse_date
from app.core.errors import DataError


def mock(
    model: Annotated[Path, typer.Option(help="Semantic model YAML.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write a pipeline project: DIR/raw/<table>.* + pipeline.yaml."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Write the tables into this DuckDB file or PostgreSQL database URL."),
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows per fact table.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Same seed and end date, same data.")] = 42,
    end_date: Annotated[
        str | None, typer.Option(help="Last day of data (YYYY-MM-DD); default yesterday.")
    ] = None,
    days: Annotated[int, typer.Option(help="Days of history ending at --end-date.")] = 730,
    format: Annotated[str, typer.Option("--format", help="--out files: parquet or csv.")] = (
        "parquet"
    ),
) -> None:
    """Generate realistic mock data for every table of a model (keys in sync, skewed 1:N,
    seasonal time), as a pipeline project (--out) or straight into a database (--db)."""
    from queries.semantic.model import load_model
    from queries.starter.mock import MockOptions, generate, write_database, write_project

    if (out_dir is None) == (db is None):
        raise DataError("give exactly one of --out DIR (a pipeline project) or --db URL.")
    if format not in ("parquet", "csv"):
        raise DataError(f"--format {format!r}: choose parquet or csv.")
    options = MockOptions(
        rows=rows, seed=seed, end_date=parse_date(end_date, "--end-date"), days=days
    )
    options.check()
    parsed = load_model(model)
    started = time.perf_counter()
    warehouse = generate(parsed, options)
    if out_dir is not None:
        target = str(write_project(warehouse, parsed, out_dir, format))
    else:
        assert db is not None
        write_database(warehouse, db)
        target = db
    seconds = time.perf_counter() - started
    table = Table("table", "rows", "columns")
    for name, data in warehouse.tables.items():
        table.add_row(name, f"{data.num_rows:,}", str(data.num_columns))
    out.print(table)
    out.print(
        f"Mock of {parsed.name}: {warehouse.first_day} … {warehouse.last_day}, "
        f"{seconds:.1f} s → {target}",
        highlight=False,
        soft_wrap=True,
    )
