"""``starboard generate`` and ``demo``: the demo's pipeline project, built and served."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.alerts import alerts_after_load
from app.cli.pipeline import run_load
from app.cli.root import cli_settings, console, out, parse_date, progress_bar
from app.cli.serve import serve_app
from app.cli.users import ensure_demo_users
from app.core.config import Settings
from app.core.errors import DataError, StarboardError


def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the raw files.")],
    interactions: Annotated[int, typer.Option(help="About how many interaction rows.")] = 2_000_000,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 42,
    format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    end_date: Annotated[
        str | None, typer.Option(help="Last day of data (YYYY-MM-DD; default: yesterday, UTC).")
    ] = None,
) -> None:
    """Write the demo's pipeline project: its raw files (users, products, channels, campaigns,
    interactions, spend), pipeline.yaml and SQL transforms."""
    from app.loader.generate import generate as run_generate

    end = parse_date(end_date, "--end-date") or yesterday()
    with progress_bar() as progress:
        task = progress.add_task("generate", total=1.0)
        summary = run_generate(
            out_dir,
            interactions=interactions,
            seed=seed,
            fmt=format,
            end_date=end,
            progress=lambda _step, frac: progress.update(task, completed=frac),
        )
    table = Table("file", "rows", title=f"Generated in {summary.seconds:.1f} s → {out_dir}")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)


def warm(settings: Settings) -> None:
    """Fill the shared query cache with every Tier 0 board's default and previous period,
    so the first executive after a publish gets cached numbers."""
    if settings.cache in ("null", "simple"):
        return  # nothing another process could read
    from app.core.runtime import standalone
    from queries.boards.tier0 import warm_tier0

    started = time.perf_counter()
    try:
        with standalone(settings) as runtime:
            count = warm_tier0(runtime)
    except StarboardError as exc:
        console.print(f"[yellow]Tier 0 boards not warmed:[/] {exc.message}", highlight=False)
        return
    out.print(f"Warmed {count} Tier 0 queries in {time.perf_counter() - started:.1f} s.")


def demo(
    interactions: Annotated[int, typer.Option(help="About how many interactions.")] = 2_000_000,
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after loading.")] = True,
    rebuild: Annotated[bool, typer.Option(help="Regenerate and reload the demo data.")] = False,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    db: Annotated[
        str | None,
        typer.Option(help="Warehouse URL (default: the demo DuckDB; or postgresql+psycopg://…)."),
    ] = None,
) -> None:
    """Generate, load and publish the demo warehouse under STARBOARD_HOME, then serve it."""
    settings = cli_settings(port=port, db_url=db)
    from app.loader.publish import check_writable

    demo_dir = settings.demo_dir
    settings = cli_settings(port=port, db_url=db, pipeline=str(demo_dir / "raw"))
    check_writable(demo_dir)
    raw = demo_dir / "raw"
    where = published_demo(settings)
    if rebuild or where is None:
        if rebuild and raw.exists():
            shutil.rmtree(raw)
        started = time.perf_counter()
        if not (raw / "interactions.parquet").exists() or not (raw / "pipeline.yaml").exists():
            generate(raw, interactions=interactions, seed=seed, format="parquet", end_date=None)
        run_load(raw, settings, trigger="demo")
        alerts_after_load(settings, since="1900-01-01")  # the demo's whole history
        out.print(f"Demo ready in {time.perf_counter() - started:.1f} s.")
    else:
        out.print(f"Reusing the demo warehouse at {where} (--rebuild to regenerate).")
    table = Table("user", "role", "password", "row scope", title="Demo users")
    for row in ensure_demo_users(settings):
        table.add_row(*row)
    out.print(table)
    if serve:
        serve_app(settings)


def yesterday() -> date:
    """The demo's default last day: its first view is not a stale-data warning."""
    return datetime.now(UTC).date() - timedelta(days=1)


def published_demo(settings: Settings) -> str | None:
    """Where the published warehouse of ``settings`` is, or None when nothing is published."""
    from app.loader.postgres import is_postgres

    if is_postgres(settings.db_url):
        import sqlalchemy as sa

        from app.core.pointer import read_pg_pointer

        engine = sa.create_engine(settings.db_url)
        try:
            with engine.connect() as conn:
                pointer = read_pg_pointer(conn, settings.pg_schema)
        except sa.exc.DBAPIError as exc:
            safe = sa.engine.make_url(settings.db_url).render_as_string(hide_password=True)
            raise DataError(
                f"PostgreSQL at {safe} is not reachable: {str(exc.orig).strip().splitlines()[0]}"
            ) from exc
        finally:
            engine.dispose()
        return f"PostgreSQL schema {pointer['schema_name']}" if pointer else None
    from app.core.pointer import WarehousePaths, duckdb_path

    paths = WarehousePaths(duckdb_path(settings.db_url))
    return str(paths.path) if paths.pointer.exists() else None
