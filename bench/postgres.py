"""PostgreSQL vs DuckDB: load time and Tier 0 page time for the same generated data.

    python bench/postgres.py --pg postgresql+psycopg://root@127.0.0.1:5432/test
                             [--interactions 2M] [--raw DIR] [--board company] [--runs 5]

  load        ``starboard load`` of the same raw files (with the demo model's rollups) into
              a DuckDB file and into PostgreSQL (built and gated in DuckDB, copied with
              COPY, keys + ANALYZE, schema swap): wall time and the PostgreSQL-only steps.
  page        the Tier 0 board rendered through Dash's page router (the POST a browser
              sends, signed in as an executive) with the null cache, so every run queries
              the warehouse: the first run (cold connections) and the median of ``--runs``;
              then with the in-process cache after one filling render (what executives get
              after ``starboard load`` warms the shared cache).
              Browser drawing is the same for both and is left out (bench/page_load.py).

Everything is built under bench/out/postgres/ and removed at the end; the PostgreSQL
schemas use a prefix of this run's own and are dropped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
import uuid
from pathlib import Path

from _common import OUT_DIR, parse_count  # first: puts the repository root on sys.path
from rich.console import Console
from rich.table import Table

console = Console()


def _render_times(
    url: str, home: Path, board: str, runs: int, cache: str, **overrides: str
) -> tuple[float, float, int]:
    """(first ms, median ms of ``runs``, number of texts) for /t0/<board>."""
    from app.factory import create_app
    from tests.conftest import add_users, render, signed_in, texts

    app = create_app({"home": str(home), "db_url": url, "cache": cache, **overrides})
    add_users(app)
    client = signed_in(app, "erin")
    times = []
    shown = 0
    for _ in range(runs + 1):
        started = time.perf_counter()
        page = render(client, f"/t0/{board}")
        times.append((time.perf_counter() - started) * 1000)
        shown = len(texts(page))
    app.server.extensions["starboard"].warehouse.dispose()
    return times[0], statistics.median(times[1:]), shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="PostgreSQL URL (postgresql+psycopg://…)")
    parser.add_argument("--interactions", type=parse_count, default=2_000_000)
    parser.add_argument("--raw", type=Path, help="existing raw directory (skips generating)")
    parser.add_argument("--board", default="company")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads for the load")
    args = parser.parse_args()

    from app.core.config import DEMO_MODEL
    from app.loader.generate import generate
    from app.loader.load import load
    from app.loader.postgres import drop_all, load_postgres
    from queries.semantic.rollups import build_rollups

    root = OUT_DIR / "postgres"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    prefix = f"sbbench_{uuid.uuid4().hex[:8]}"
    rollups = lambda path: build_rollups(DEMO_MODEL, path)  # noqa: E731
    try:
        raw = args.raw
        if raw is None:
            raw = root / "raw"
            started = time.perf_counter()
            generate(raw, interactions=args.interactions, seed=42)
            console.print(
                f"generated {args.interactions:,} interactions in "
                f"{time.perf_counter() - started:.1f} s"
            )
        duck_url = f"duckdb:///{root / 'duck' / 'warehouse.duckdb'}"
        started = time.perf_counter()
        duck = load(raw, duck_url, rollups=rollups, threads=args.threads)
        duck_s = time.perf_counter() - started
        started = time.perf_counter()
        pg = load_postgres(
            raw,
            args.pg,
            schema_prefix=prefix,
            work_dir=root / "staging",
            rollups=rollups,
            threads=args.threads,
        )
        pg_s = time.perf_counter() - started
        steps = dict(pg.steps)

        loads = Table(
            "warehouse",
            "load s",
            "copy s",
            "keys+analyze s",
            "swap s",
            title=f"Load of {duck.row_counts['fct_interaction']:,} interactions",
        )
        loads.add_row("DuckDB", f"{duck_s:.1f}", "", "", "")
        loads.add_row(
            "PostgreSQL",
            f"{pg_s:.1f}",
            f"{steps['copy to PostgreSQL']:.1f}",
            f"{steps['keys and statistics']:.1f}",
            f"{steps['swap PostgreSQL schema']:.2f}",
        )
        console.print(loads)

        pages = Table(
            "warehouse",
            "first ms",
            f"median of {args.runs} ms",
            "cached median ms",
            "texts",
            title=f"/t0/{args.board} rendered through the page router",
        )
        for name, url, extra in (
            ("DuckDB", duck_url, {}),
            ("PostgreSQL", args.pg, {"pg_schema": prefix}),
        ):
            first, median, shown = _render_times(
                url, root / f"home-{name}", args.board, args.runs, "null", **extra
            )
            _, cached, _ = _render_times(
                url, root / f"home-{name}", args.board, args.runs, "simple", **extra
            )
            pages.add_row(name, f"{first:.0f}", f"{median:.0f}", f"{cached:.0f}", str(shown))
        console.print(pages)
    finally:
        drop_all(args.pg, prefix)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
