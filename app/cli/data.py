"""``starboard generate``, ``load`` and ``demo``: raw files → gated, published warehouse."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.alerts import alerts_after_load
from app.cli.root import Steps, cli_settings, console, out, parse_date, progress_bar
from app.cli.serve import serve_app
from app.cli.users import ensure_demo_users
from app.core.config import Settings
from app.core.errors import DataError, StarboardError


def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the raw files.")],
    interactions: Annotated[int, typer.Option(help="About how many interaction rows.")] = 2_000_000,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 42,
    format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    end_date: Annotated[str | None, typer.Option(help="Last day of data (YYYY-MM-DD).")] = None,
) -> None:
    """Write the demo's raw files (users, products, channels, campaigns, interactions, spend)."""
    from app.loader.generate import generate as run_generate

    end = parse_date(end_date, "--end-date")
    with progress_bar() as progress:
        task = progress.add_task("generate", total=1.0)
        summary = run_generate(
            out_dir,
            interactions=interactions,
            seed=seed,
            fmt=format,
            **({"end_date": end} if end else {}),
            progress=lambda _step, frac: progress.update(task, completed=frac),
        )
    table = Table("file", "rows", title=f"Generated in {summary.seconds:.1f} s → {out_dir}")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)


def _rollup_builder(settings: Settings) -> Callable[[Path], list[str]] | None:
    """The model's rollups, materialised into a new warehouse file before it is published."""
    try:
        from queries.semantic.rollups import build_rollups
    except ImportError:
        return None
    return lambda path: build_rollups(settings.model, path)


def _publisher(settings: Settings) -> Callable[..., Any]:
    """The DuckDB loader, or the PostgreSQL one (same steps, then a schema swap)."""
    from app.loader.load import load
    from app.loader.postgres import is_postgres, load_postgres

    if not is_postgres(settings.db_url):
        return load
    return lambda *args, **kw: load_postgres(
        *args, schema_prefix=settings.pg_schema, work_dir=settings.home / "staging", **kw
    )


def _model_checks(settings: Settings):
    """The model's data quality checks, run on a new warehouse file before it is published."""
    try:
        from queries.quality.checks import PublishChecks
    except ImportError:
        return None
    return PublishChecks(settings.model)


def record_checks(settings: Settings, checks, version: str | None, published: bool) -> None:
    """Keep a publish's check results in the metadata DB (history for /quality)."""
    if checks is None or not checks.results:
        return
    from app.core.meta import MetaDB
    from app.core.stores.checks import record_run, warehouse_key

    db = MetaDB(settings.meta_db_url)
    try:
        record_run(
            db,
            warehouse=warehouse_key(settings.db_url, settings.pg_schema),
            version=version or checks.version or "unknown",
            source="publish",
            published=published,
            results=checks.results,
        )
    finally:
        db.dispose()


def run_load(raw_dir: Path, settings: Settings):
    """Load ``raw_dir`` into the settings' warehouse with progress and a summary table."""
    from app.loader.gates import GateThresholds
    from app.loader.load import GateFailure

    thresholds = GateThresholds(freshness_hours=settings.freshness_slo_hours)
    checks = _model_checks(settings)  # PostgreSQL too: they run on the staged DuckDB build
    try:
        with progress_bar() as progress:
            result = _publisher(settings)(
                raw_dir,
                settings.db_url,
                thresholds=thresholds,
                memory_limit=settings.duckdb_memory_limit,
                threads=settings.duckdb_threads,
                rollups=_rollup_builder(settings),
                step=Steps(progress),
                **({"checks": checks} if checks else {}),
            )
    except GateFailure as failure:
        record_checks(settings, checks, None, published=False)
        print_gates(failure.results)
        alerts_after_load(settings, failed_gates=failure.failed)
        raise
    record_checks(settings, checks, result.version, published=True)
    rows = Table("table", "rows", title=f"Published version {result.version}")
    for name, count in result.row_counts.items():
        rows.add_row(name, f"{count:,}")
    for name in result.rollups:
        rows.add_row(f"{name} (rollup)", "")
    steps = Table("step", "seconds", title="Time per step")
    for name, seconds in result.steps:
        steps.add_row(name, f"{seconds:.2f}")
    steps.add_row("total", f"{sum(s for _, s in result.steps):.2f}")
    out.print(rows)
    out.print(steps)
    print_gates(result.gates)
    out.print(f"DQ score {result.dq_score:.1f}%  ·  {settings.db_url}")
    warm(settings)
    alerts_after_load(settings)
    return result


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


def print_gates(gates) -> None:
    failed = [g for g in gates if not g.passed]
    table = Table(
        "risk",
        "check",
        "target",
        "detail",
        title=f"Quality gates: {len(gates) - len(failed)} of {len(gates)} passed",
    )
    for g in failed:
        table.add_row(
            str(g.risk),
            g.check,
            f"{g.table}{'.' + g.column if g.column else ''}",
            g.detail,
            style="red" if g.risk == 1 else "yellow",
        )
    if failed:
        out.print(table)
    else:
        out.print(table.title)


def load(
    raw_dir: Annotated[Path, typer.Argument(help="Directory of CSV or Parquet raw files.")],
    db: Annotated[str | None, typer.Option(help="Warehouse URL (duckdb:///path.duckdb).")] = None,
    model: Annotated[Path | None, typer.Option(help="Semantic model (for rollups).")] = None,
) -> None:
    """Load raw files: staging → star schema → quality gates → rollups → atomic publish."""
    run_load(raw_dir, cli_settings(db_url=db, model=str(model) if model else None))


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
    check_writable(demo_dir)
    raw = demo_dir / "raw"
    where = published_demo(settings)
    if rebuild or where is None:
        if rebuild and raw.exists():
            shutil.rmtree(raw)
        started = time.perf_counter()
        if not (raw / "interactions.parquet").exists():
            generate(raw, interactions=interactions, seed=seed, format="parquet", end_date=None)
        run_load(raw, settings)
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
