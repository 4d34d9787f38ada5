"""Benchmark of the metric tree page: compute and render a full tree with top movers.

    python bench/tree.py [--db duckdb:///…/wh.duckdb] [--interactions 10000000]
                         [--metric revenue] [--period 2026-10] [--reps 5] [--keep]

  cold      queries.tree.tree_view in a fresh standalone runtime with the ``null`` cache:
            every query compiled and executed (the first run also opens the warehouse and
            learns its column types, as a new data version does); first run and the median
            of --reps further null-cache runs.
  warm      the same in a runtime with the ``simple`` cache, after one untimed run.
  render    the page's layout (pages/tree.py, through the app's page registry) called in a
            test request context as a signed-in executive, simple cache warm: compute +
            building the component tree; "render only" subtracts the warm compute.
  raw SQL   baseline: every query the view runs (queries.tree.tree_jobs), compiled with the
            app's routing and executed directly on the warehouse connection: sum and max.

Targets: warm < 1 s, cold < 3 s. Without --db the benchmark reuses
bench/out/queries/wh.duckdb when it exists, else builds a demo warehouse (with rollups)
under bench/out/tree/ and deletes it unless --keep.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as bc  # first: puts the repository root on sys.path
from rich.table import Table

from app.core.config import load_settings
from app.core.runtime import Runtime, standalone
from queries import tree
from queries.semantic import periods
from queries.semantic.run import current_model, latest_day, plan_query

TARGET_WARM = 1.0
TARGET_COLD = 3.0
DEFAULT_DB = bc.OUT_DIR / "queries" / "wh.duckdb"
console = bc.make_console()


def _settings(url: str, cache: str, home: Path) -> Any:
    return load_settings({"db_url": url, "cache": cache, "home": str(home)})


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def _raw_sql(runtime: Runtime, metric: str, period: str | None) -> tuple[float, float, int]:
    """Every query of the view compiled with the app's routing, executed directly."""
    model = current_model(runtime)
    latest = latest_day(runtime)
    assert latest is not None
    window, _ = periods.parse_board_period(period, tree.DEFAULT_GRAIN, latest)
    jobs = tree.tree_jobs(model, metric, window, periods.previous(window))
    snap = runtime.warehouse.snapshot()
    seconds = []
    with snap.engine.connect() as conn:
        for job in jobs:
            compiled, _sql, _params, _rows = plan_query(runtime, model, snap, job.query, (), True)
            began = time.perf_counter()
            conn.execute(compiled.statement).all()
            seconds.append(time.perf_counter() - began)
    return sum(seconds), max(seconds), len(jobs)


def _render(url: str, home: Path, metric: str, period: str | None, reps: int) -> tuple[float, int]:
    """Median seconds of the page's layout call (simple cache, warm) and its node count."""
    import dash
    from flask_login import login_user

    from app.factory import create_app

    app = create_app({"home": str(home), "db_url": url, "cache": "simple"})
    users = app.server.extensions["starboard"].users
    if users.by_name("bench") is None:
        users.add("bench", "executive", "bench-password-123")
    page = next(
        p for p in dash.page_registry.values() if p.get("path_template") == "/tree/<metric>"
    )
    layout = page["layout"]
    samples = []
    nodes = 0
    try:
        for i in range(reps + 1):
            with app.server.test_request_context(f"/tree/{metric}"):
                login_user(users.by_name("bench"))
                seconds, component = _timed(lambda: layout(metric=metric, period=period))
            if i:
                samples.append(seconds)
            nodes = str(component).count("'tree-node'")
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
    return bc.median(samples), nodes


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="warehouse URL (default: bench/out/queries/wh.duckdb)")
    parser.add_argument("--interactions", type=bc.parse_count, default=10_000_000)
    parser.add_argument("--metric", default="revenue")
    parser.add_argument("--period", default=None, help="default: the last complete month")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    built = None
    url = args.db
    if url is None and (DEFAULT_DB.parent / "wh.current.json").exists():
        url = f"duckdb:///{DEFAULT_DB}"
    if url is None:
        built = bc.OUT_DIR / "tree"
        console.print(f"building a {bc.fmt_count(args.interactions)} demo warehouse …")
        url, _ = bc.build_demo_warehouse(built, args.interactions, 42, bc.loader_defaults())
    home = Path(tempfile.mkdtemp(prefix="sb-bench-tree-"))
    try:
        with standalone(_settings(url, "null", home / "cold")) as runtime:
            cold_first, view = _timed(lambda: tree.tree_view(args.metric, args.period))
            cold = [
                _timed(lambda: tree.tree_view(args.metric, args.period))[0]
                for _ in range(args.reps)
            ]
            raw = [_raw_sql(runtime, args.metric, args.period) for _ in range(3)]
        with standalone(_settings(url, "simple", home / "warm")) as runtime:
            tree.tree_view(args.metric, args.period)
            warm = [
                _timed(lambda: tree.tree_view(args.metric, args.period))[0]
                for _ in range(args.reps)
            ]
        render, nodes = _render(url, home / "app", args.metric, args.period, args.reps)
    finally:
        bc.remove_tree(home)
        if built is not None and not args.keep:
            bc.remove_tree(built)

    assert isinstance(view, tree.TreeView)
    raw_sum = bc.median([r[0] for r in raw])
    raw_max = bc.median([r[1] for r in raw])
    warm_median = bc.median(warm)
    for name, value in bc.environment():
        console.print(f"[dim]{name}:[/dim] {value}")
    console.print(f"[dim]warehouse:[/dim] {url}")
    console.print(
        f"[dim]view:[/dim] /tree/{args.metric}?period={view.window.key} · "
        f"{nodes} nodes · {len(view.movers)} movers · {raw[0][2]} queries"
    )
    table = Table(
        title=f"Metric tree ({args.metric}, {view.window.label} vs {view.base_window.label})"
    )
    for column in ("measure", "seconds", "target", "vs raw SQL sum", "verdict"):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def row(name: str, seconds: float, target: float | None) -> None:
        table.add_row(
            name,
            bc.fmt_seconds(seconds),
            f"< {target:g} s" if target is not None else "–",
            f"{seconds / raw_sum:.2f}×" if raw_sum else "–",
            bc.verdict(None if target is None else seconds < target),
        )

    row("cold: first run, fresh runtime (null cache)", cold_first, TARGET_COLD)
    row(f"cold: median of {args.reps} null-cache runs", bc.median(cold), TARGET_COLD)
    row(f"warm: median of {args.reps} (simple cache)", warm_median, TARGET_WARM)
    row("render: page layout, warm (compute + components)", render, TARGET_WARM)
    row("render only (layout − warm compute)", max(0.0, render - warm_median), None)
    row("raw SQL: sum of the view's queries", raw_sum, None)
    row("raw SQL: slowest query", raw_max, None)
    console.print(table)
    console.print("[dim]Narrative:[/dim] " + " ".join(view.narrative))
    ok = (
        cold_first < TARGET_COLD
        and bc.median(cold) < TARGET_COLD
        and warm_median < TARGET_WARM
        and render < TARGET_WARM
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
