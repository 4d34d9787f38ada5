"""Benchmark the Tier 2 explorer: a group-by through ``run()``, a detail-grid page, a CSV
export of 1M rows — each against raw SQL of the same question, measured in the same run.

    python bench/explore.py                       # builds a 10M-interaction demo first
    python bench/explore.py --db duckdb:////work/bench-data/wh10m/wh.duckdb
    python bench/explore.py --interactions 200k --reps 3   # a quick look

Figures and targets:

* explore, cold: 2 metrics (revenue, orders) by 2 dimensions (category, segment: no
  rollup fits, so the fact is scanned) over the full range, through ``queries.semantic.run.run``
  with the result cache bypassed — vs the hand-written SQL. Target < 2× and < 1.5 s.
* explore, warm: the same through ``run()`` with the cache (what a reload costs).
* detail page: one 100-row page of the rows behind "orders in the top category", sorted
  by revenue (server-side, AG Grid's infinite model) — built by ``queries.explore.detail`` and
  converted to the grid's JSON, vs the same SQL text run directly. Target < 300 ms.
* CSV export of 1M rows: ``queries.export.stream_csv`` over the detail statement of all
  interactions (no sort asked: no ORDER BY, as the export route builds it), capped at
  1M, in a child process (time; peak RSS, and its growth over the RSS the process had
  before the export began: imports and an open DuckDB) — vs the raw SQL fetching the
  same rows (``fetchall``, no CSV) in another child. Target: growth < 300 MB.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as bc  # noqa: I001 - first: puts the repository root on sys.path
import psutil
import sqlalchemy as sa
from rich.table import Table

from app.core.config import load_settings
from app.core.runtime import standalone

console = bc.make_console()
TARGET_COLD_RATIO = 2.0
TARGET_COLD_SECONDS = 1.5
TARGET_PAGE_SECONDS = 0.3
TARGET_EXPORT_RSS = 300 * bc.MB
EXPORT_ROWS = 1_000_000
PAGE = 100

HAND_EXPLORE = """
SELECT p.category, u.segment, sum(f.revenue) AS revenue, count(DISTINCT f.order_id) AS orders
FROM fct_interaction f
LEFT JOIN dim_product p ON p.product_key = f.product_key
LEFT JOIN dim_user u ON u.user_key = f.user_key
WHERE f.interaction_type = 'purchase'
GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST"""


@dataclass(frozen=True)
class Row:
    figure: str
    seconds: float
    baseline: str
    base_seconds: float
    target: str
    ok: bool | None
    note: str = ""


def _settings(url: str, home: Path, duck: bc.DuckSettings):
    return load_settings(
        {
            "db_url": url,
            "cache": "simple",
            "home": str(home),
            "duckdb_memory_limit": duck.memory_limit,
            "duckdb_threads": duck.threads,
        },
        environ={},
    )


def _same(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float | int) and isinstance(v, float | int):
                if abs(float(u) - float(v)) > 1e-6 * max(1.0, abs(float(v))):
                    return False
            elif u != v:
                return False
    return True


def explore_rows(runtime, args) -> list[Row]:
    from queries.semantic.query import MetricQuery
    from queries.semantic.run import run

    query = MetricQuery(("revenue", "orders"), ("category", "segment"))
    snap = runtime.warehouse.snapshot()
    rows = []
    with snap.engine.connect() as conn:

        def hand() -> list[Any]:
            return [tuple(r) for r in conn.exec_driver_sql(HAND_EXPLORE).all()]

        def cold() -> list[Any]:
            return [
                tuple(r)
                for r in run(query, tier=2, use_cache=False, runtime=runtime).frame.itertuples(
                    index=False
                )
            ]

        same = _same(cold(), hand())
        first = run(query, tier=2, runtime=runtime)  # fills the cache for "warm"
        samples = bc.timed_runs([cold, hand], args.reps, args.warmup)
        cold_s, hand_s = bc.median(samples[0]), bc.median(samples[1])
        warm = bc.timed_runs([lambda: run(query, tier=2, runtime=runtime)], args.reps, 1)
        warm_s = bc.median(warm[0])
    route = f"read {first.rollup}" if first.rollup else "scans the fact"
    rows.append(
        Row(
            "explore: revenue, orders by category × segment, cold (run(), no cache)",
            cold_s,
            "hand SQL",
            hand_s,
            f"< {TARGET_COLD_RATIO:g}× and < {TARGET_COLD_SECONDS:g} s",
            cold_s <= TARGET_COLD_RATIO * hand_s and cold_s < TARGET_COLD_SECONDS,
            ("" if same else "results differ! ") + route,
        )
    )
    rows.append(
        Row(
            "explore: the same, warm (run(), cache hit)",
            warm_s,
            "hand SQL",
            hand_s,
            "",
            None,
            f"{hand_s / warm_s:,.0f}× faster than SQL",
        )
    )
    return rows


def detail_rows(runtime, args) -> list[Row]:
    from queries.explore import detail as dq
    from queries.semantic.query import Filter
    from queries.semantic.run import current_model, version_facts
    from queries.semantic.values import json_value

    model = current_model(runtime)
    snap = runtime.warehouse.snapshot()
    kinds = version_facts(runtime, snap, model).column_types
    with snap.engine.connect() as conn:
        (top,) = conn.exec_driver_sql(
            "SELECT p.category FROM fct_interaction f JOIN dim_product p USING (product_key) "
            "WHERE f.interaction_type = 'purchase' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).one()
        drill = dq.Drill("orders", (Filter("category", "=", top),), (("revenue", True),))

        def page(offset: int = 0) -> list[dict[str, Any]]:
            statement, columns = dq.detail_statement(
                model,
                drill,
                dialect=snap.engine.dialect,
                kinds=kinds,
                role="analyst",
                offset=offset,
                limit=PAGE + 1,
            )
            result = conn.execute(statement)
            keys = list(result.keys())
            return [
                dict(zip(keys, (json_value(v) for v in r), strict=True))
                for r in result.fetchall()[:PAGE]
            ]

        statement, _ = dq.detail_statement(
            model,
            drill,
            dialect=snap.engine.dialect,
            kinds=kinds,
            role="analyst",
            offset=0,
            limit=PAGE + 1,
        )
        sql = str(
            statement.compile(dialect=snap.engine.dialect, compile_kwargs={"literal_binds": True})
        )

        def raw() -> list[Any]:
            return conn.exec_driver_sql(sql).fetchall()

        samples = bc.timed_runs([page, raw], args.reps, args.warmup)
        deep = bc.timed_runs([lambda: page(5_000)], max(3, args.reps // 2), 1)
    page_s, raw_s = bc.median(samples[0]), bc.median(samples[1])
    return [
        Row(
            f"detail page: 100 rows behind orders in {top}, sorted by revenue",
            page_s,
            "same SQL, raw",
            raw_s,
            f"< {TARGET_PAGE_SECONDS * 1000:.0f} ms",
            page_s < TARGET_PAGE_SECONDS,
        ),
        Row(
            "detail page: the same at row 5,000",
            bc.median(deep[0]),
            "",
            0.0,
            f"< {TARGET_PAGE_SECONDS * 1000:.0f} ms",
            bc.median(deep[0]) < TARGET_PAGE_SECONDS,
        ),
    ]


def export_child(args) -> int:
    """In a child process: stream the CSV (or, with --raw, fetch the same rows)."""
    from queries.explore import detail as dq
    from queries.export import BATCH_ROWS, stream_csv
    from queries.semantic.run import current_model, version_facts

    logging.getLogger("starboard").setLevel(logging.WARNING)
    duck = bc.DuckSettings(args.memory_limit, args.threads)
    with standalone(_settings(args.db, args.workdir, duck)) as runtime:
        model = current_model(runtime)
        snap = runtime.warehouse.snapshot()
        kinds = version_facts(runtime, snap, model).column_types
        statement, columns = dq.detail_statement(
            model,
            dq.Drill("interactions"),
            dialect=snap.engine.dialect,
            kinds=kinds,
            role="analyst",
            ordered=False,
        )  # as queries.explore.detail.export_source
        with snap.engine.connect() as conn:  # open DuckDB before the baseline
            conn.exec_driver_sql("SELECT 1").all()
        baseline = psutil.Process().memory_info().rss
        began = time.perf_counter()
        rows = size = 0
        if args.child == "raw":
            with snap.engine.connect() as conn:
                got = conn.execute(statement.limit(args.rows)).fetchall()
                rows = len(got)
        else:
            from queries.export import RowSource

            source = RowSource(columns=[c.key for c in columns], statement=statement)
            for chunk in stream_csv(source, args.rows, BATCH_ROWS):
                size += len(chunk)
                rows += chunk.count("\n")
            rows -= 1  # the header line
        seconds = time.perf_counter() - began
    bc.write_result(
        args.result, {"seconds": seconds, "rows": rows, "bytes": size, "baseline_rss": baseline}
    )
    return 0


def export_rows(args) -> list[Row]:
    runs = {}
    for mode in ("export", "raw"):
        result = args.workdir / f"explore-{mode}.json"
        runs[mode] = bc.run_child(
            [
                str(Path(__file__).resolve()),
                "--child",
                mode,
                "--db",
                args.db,
                "--rows",
                str(args.export_rows),
                "--result",
                str(result),
                "--workdir",
                str(args.workdir),
                "--memory-limit",
                args.memory_limit,
                "--threads",
                str(args.threads),
            ],
            result,
            f"{mode} of {args.export_rows:,} rows",
        )
    exp, raw = runs["export"], runs["raw"]
    growth = max(0, exp.max_rss - exp.payload["baseline_rss"])
    raw_growth = max(0, raw.max_rss - raw.payload["baseline_rss"])
    return [
        Row(
            f"CSV export of {exp.payload['rows']:,} rows (streamed, batches of 10k)",
            exp.payload["seconds"],
            "raw SQL fetch (no CSV)",
            raw.payload["seconds"],
            "",
            None,
            f"{bc.fmt_bytes(exp.payload['bytes'])} of CSV",
        ),
        Row(
            "CSV export: peak RSS of the exporting process",
            exp.max_rss,
            "raw fetchall, peak RSS",
            raw.max_rss,
            "",
            None,
            f"before the export (imports, DuckDB open): "
            f"{bc.fmt_bytes(exp.payload['baseline_rss'])}",
        ),
        Row(
            "CSV export: RSS growth while streaming (peak − before)",
            growth,
            "raw fetchall, growth",
            raw_growth,
            f"< {bc.fmt_bytes(TARGET_EXPORT_RSS)}",
            growth < TARGET_EXPORT_RSS,
            "memory flat: batches of 10k rows",
        ),
    ]


def table(rows: list[Row]) -> Table:
    out = Table(title="Tier 2 explorer (median of timed runs)")
    for name in (
        "figure",
        "Starboard",
        "baseline",
        "baseline value",
        "ratio",
        "target",
        "met",
        "note",
    ):
        out.add_column(
            name, justify="right" if name in ("Starboard", "baseline value", "ratio") else "left"
        )
    for r in rows:
        memory = "RSS" in r.figure
        show = bc.fmt_bytes if memory else bc.fmt_seconds
        ratio = f"{r.seconds / r.base_seconds:.2f}×" if r.base_seconds else "–"
        out.add_row(
            r.figure,
            show(r.seconds),
            r.baseline,
            show(r.base_seconds) if r.base_seconds else "–",
            ratio,
            r.target,
            bc.verdict(r.ok),
            r.note,
        )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--interactions",
        type=bc.parse_count,
        default=10_000_000,
        help="size of the demo to build when --db is not given (10M)",
    )
    parser.add_argument("--db", help="reuse a warehouse: duckdb:///path/wh.duckdb (or a path)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reps", type=int, default=10, help="timed repetitions per figure")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--export-rows", type=bc.parse_count, default=EXPORT_ROWS)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit (2GB)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (2)")
    parser.add_argument("--workdir", type=Path, default=bc.OUT_DIR / "explore")
    parser.add_argument("--keep", action="store_true", help="keep the warehouse it built")
    parser.add_argument("--child", choices=("export", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.db and not args.db.startswith("duckdb:") and "://" not in args.db:
        args.db = f"duckdb:///{Path(args.db).resolve()}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return export_child(args)
    duck = bc.DuckSettings(args.memory_limit, args.threads)
    env = Table.grid(padding=(0, 2))
    for key, value in bc.environment():
        env.add_row(f"[bold]{key}[/bold]", value)
    env.add_row("[bold]DuckDB settings[/bold]", duck.describe())
    console.print(env)
    built = args.db is None
    if built:
        with console.status(
            f"building a {bc.fmt_count(args.interactions)}-interaction warehouse …"
        ):
            args.db, seconds = bc.build_demo_warehouse(
                args.workdir, args.interactions, args.seed, duck
            )
        console.log(f"built {args.db} (load {bc.fmt_seconds(seconds['load'])})")
    args.workdir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("starboard").setLevel(logging.WARNING)
    rows: list[Row] = []
    try:
        with standalone(_settings(args.db, args.workdir, duck)) as runtime:
            snap = runtime.warehouse.snapshot()
            with snap.engine.connect() as conn:
                facts = conn.execute(sa.text("SELECT count(*) FROM fct_interaction")).scalar()
            console.print(f"[bold]warehouse[/bold] {args.db}: {facts:,} interactions")
            for label, step in (
                ("explore", lambda: explore_rows(runtime, args)),
                ("detail page", lambda: detail_rows(runtime, args)),
            ):
                began = time.perf_counter()
                with console.status(f"{label} …"):
                    rows += step()
                console.log(f"{label}: {time.perf_counter() - began:.1f} s")
        with console.status("CSV export in child processes …"):
            rows += export_rows(args)
    except bc.BenchError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    finally:
        if built and not args.keep:
            bc.remove_tree(args.workdir)
    console.print(table(rows))
    misses = [r.figure for r in rows if r.ok is False]
    console.print(f"targets missed: {'; '.join(misses)}" if misses else "every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
