"""Tier 1 interaction benchmark: a board served by gunicorn, driven in headless Chromium.

    python bench/interaction.py [--db duckdb:///…/wh.duckdb] [--board channels]
                                [--runs 5] [--timeout 20]

  page open      navigation start → every chart drawn (the ``sb-ready`` mark of
                 assets/starboard.js) for ``/t1/<board>?from=…&to=…``; warm (cache filled)
                 and cold (query cache emptied and a fresh data version published first).
  interaction    a person's action → the new state's charts all drawn: the action's
                 ``performance.now()`` to the last ``sb-ready`` mark once ``#t1-ready``
                 shows the new state. One cycle is four actions: the "Last 90 days" preset,
                 the "Last 28 days" preset (links: the router re-renders), a click on the
                 first bar of the first drillable bar chart (the page's callback writes the
                 URL, then the router re-renders) and the breadcrumb back to the top.
                 Warm: repeated cycles; cold: the cache emptied and a new version published
                 before each action.
  baseline       the raw SQL of the queries each state runs (queries.boards.tier1.chart_jobs,
                 compiled with the app's routing), on a read-only DuckDB connection: the sum
                 of the first (cold) runs and of the medians of 5 (warm), per action.

The warehouse is never modified: gunicorn serves a private pointer to a hard link of its
version file (bench/page_load.py's ``Served``), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as bc  # first of the project imports: puts the repository root on sys.path
import page_load as pl
from rich.table import Table

from queries.boards import tier1
from queries.semantic.compile import compile_query
from queries.semantic.run import current_model, latest_day, version_facts

TARGET_WARM = 0.3
TARGET_COLD = 1.5
TARGET_OPEN_WARM = 1.0
DEFAULT_DB = "duckdb:////work/main/bench/out/queries/wh.duckdb"
console = bc.make_console()

MARK = """
return (function () {
  var marks = performance.getEntriesByName('sb-ready');
  return marks.length ? marks[marks.length - 1].startTime : null; })();
"""


@dataclass
class Action:
    name: str
    target: str  # the state (query string) the action leads to
    script: str  # JS that performs it; returns performance.now() before acting


def add_operator(env: dict[str, str], name: str, password: str) -> None:
    """An operator (Tier 1) user for the benchmark's browser."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "users",
            "add",
            name,
            "--role",
            "operator",
            "--password-stdin",
        ],
        cwd=bc.REPO_ROOT,
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise bc.BenchError(f"starboard users add failed: {proc.stderr.strip()[-500:]}")


def plan(
    url: str, home: Path, board_name: str, duck: bc.DuckSettings
) -> tuple[str, list[tuple[str, tier1.State]], dict[str, list[Any]]]:
    """The start state, the states the actions lead to, and each state's compiled SQL."""
    with bc.uncached_runtime(url, home, duck) as runtime:
        model = current_model(runtime)
        board = model.boards.get(board_name)
        if board is None or board.tier != 1:
            names = ", ".join(b.name for b in tier1.tier1_boards(model))
            raise bc.BenchError(f"no Tier 1 board {board_name!r}; Tier 1 boards: {names}")
        latest = latest_day(runtime)
        if latest is None:
            raise bc.BenchError("the warehouse holds no dated facts")
        start = tier1.State(*tier1.preset_range("28d", latest))
        wide = tier1.State(*tier1.preset_range("90d", latest))
        snap = runtime.warehouse.snapshot()
        facts = version_facts(runtime, snap, model)
        rollups = frozenset(model.rollups) & facts.tables
        drill_dim = next(
            (
                c.by
                for s in board.sections
                for c in s.charts
                if c.type == "bar" and c.by and model.dimensions[c.by].drill
            ),
            None,
        )
        if drill_dim is None:
            raise bc.BenchError(f"board {board_name} has no bar chart on a drillable dimension")
        values = tier1.dimension_values(drill_dim, runtime)
        if not values:
            raise bc.BenchError(f"no values of {drill_dim}")
        states = [
            ("preset 90 days", wide),
            ("preset 28 days", start),
            ("click a bar (drill)", start.with_drill(((drill_dim, "?"),))),
            ("breadcrumb up", start),
        ]

        def statements(state: tier1.State) -> list[Any]:
            return [
                compile_query(
                    model,
                    job.query,
                    dialect=snap.engine.dialect,
                    use_rollups=True,
                    available_rollups=rollups,
                    column_types=facts.column_types,
                ).statement
                for job in tier1.chart_jobs(model, board, state, latest)
            ]

        # the bar clicked is the chart's first (largest) value: its SQL, with that value
        first_value = _first_bar_value(model, board, start, drill_dim, runtime)
        states[2] = ("click a bar (drill)", start.with_drill(((drill_dim, first_value),)))
        sql = {name: statements(state) for name, state in states}
    return tier1.encode_state(start), states, sql


def _first_bar_value(model, board, state, dim, runtime) -> str:
    jobs = tier1.chart_jobs(model, board, state, latest_day(runtime) or state.end)
    charts = [c for s in board.sections for c in s.charts]
    for job in jobs:
        index = job.key.split(":")[0]
        chart = charts[int(index)]
        if chart.type == "bar" and chart.by == dim and ":" not in job.key:
            frame = tier1.run_all([job], runtime)[job.key]
            if hasattr(frame, "empty") and not frame.empty:
                return str(frame[dim].iloc[0])
    raise bc.BenchError("the drillable bar chart has no bars")


def actions(path: str) -> list[Action]:
    """The four actions of one cycle, as scripts the browser runs."""

    def click(selector: str) -> str:
        return (
            "var el = document.querySelector(" + repr(selector) + ");"
            "el.scrollIntoView({block: 'center'}); var t = performance.now(); el.click();"
            " return t;"
        )

    bar = (
        "var card = [...document.querySelectorAll('.sb-t1-card[data-type=\"bar\"]')]"
        ".find(c => c.querySelector('.sb-t1-hint') &&"
        " c.querySelector('.sb-t1-hint').textContent.includes('drill'));"
        "var gd = card.querySelector('.js-plotly-plot');"
        "var pt = gd.data[0];"
        "var t = performance.now();"
        "gd.emit('plotly_click', {points: [{curveNumber: 0, pointNumber: 0, x: pt.x[0],"
        " y: pt.y[0], customdata: pt.customdata[0]}]});"
        "return t;"
    )
    return [
        Action("preset 90 days", "", click("#t1-preset-90d")),
        Action("preset 28 days", "", click("#t1-preset-28d")),
        Action("click a bar (drill)", "", bar),
        Action("breadcrumb up", "", click("#t1-crumb-0")),
    ]


def perform(driver, action: Action, target: str, timeout: float) -> float | None:
    """Run the action; seconds until the target state is drawn (None: timed out)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    began = driver.execute_script(action.script)
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.02).until(
            lambda d: d.execute_script(
                "var b = document.getElementById('t1-ready');"
                "return !!b && b.dataset.state === arguments[0] &&"
                " document.body.dataset.sbReady === '1';",
                target,
            )
        )
    except TimeoutException:
        return None
    mark = driver.execute_script(MARK)
    return None if mark is None else max(0.0, (mark - began) / 1000)


def open_page(browser: pl.Browser, url: str) -> float | None:
    load = browser.load(url, None)
    return load.seconds


def summary(values: list[float | None]) -> tuple[float | None, float | None, int]:
    got = [v for v in values if v is not None]
    if not got:
        return None, None, len(values)
    return statistics.median(got), max(got), len(values) - len(got)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--board", default="channels")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default=bc.loader_defaults().memory_limit)
    parser.add_argument("--threads", type=int, default=bc.loader_defaults().threads)
    parser.add_argument("--workdir", type=Path, default=bc.OUT_DIR / "interaction")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    duck = bc.DuckSettings(args.memory_limit, args.threads)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="starboard-interaction-"))
    served: pl.Served | None = None
    app: pl.Gunicorn | None = None
    browser: pl.Browser | None = None
    misses: list[str] = []
    try:
        source = pl.resolve_source(args.db)
        if not pl.has_table(source.file, pl.REQUIRED_TABLE):
            raise bc.BenchError(
                f"{args.db} has no {pl.REQUIRED_TABLE}: build it with bench/queries.py or pass --db"
            )
        served = pl.Served(source, workdir / "serve")
        with console.status("planning the states and compiling their SQL …"):
            start, states, sql = plan(served.url, home, args.board, duck)
        with console.status("baseline: the raw SQL of every state …"):
            baseline = {name: pl.sql_times(stmts, served.url, duck) for name, stmts in sql.items()}
        password = os.urandom(12).hex()
        env = pl.app_env(home, served.url, pl.free_port(), args.workers)
        pl.prepare_home(home)
        add_operator(env, "bench", password)
        app = pl.Gunicorn(env, workdir / "gunicorn.log")
        with console.status("starting gunicorn …"):
            app.start()
        browser = pl.Browser(args.timeout)
        from screenshots import sign_in

        sign_in(browser.driver, app.base, "bench", password)
        path = f"/t1/{args.board}"
        url = app.base + path + start
        targets = [tier1.encode_state(state) for _, state in states]
        steps = actions(path)
        cache_dir = home / "cache"

        def cold_reset() -> None:
            served.publish_copy()
            if cache_dir.exists():
                for entry in cache_dir.iterdir():
                    if entry.is_file():
                        entry.unlink(missing_ok=True)
            time.sleep(pl.SWAP_SETTLE)

        open_cold: list[float | None] = []
        open_warm: list[float | None] = []
        warm: dict[str, list[float | None]] = {a.name: [] for a in steps}
        cold: dict[str, list[float | None]] = {a.name: [] for a in steps}
        with console.status(
            f"{args.runs} cold and warm opens, {args.runs} cold and warm interaction cycles …"
        ):
            for _ in range(args.runs):
                cold_reset()
                open_cold.append(open_page(browser, url))
            open_page(browser, url)  # warm-up: fills the cache of every worker's view
            for _ in range(args.runs):
                open_warm.append(open_page(browser, url))
            for rep in range(args.runs + 1):
                open_page(browser, url)
                for step, target in zip(steps, targets, strict=True):
                    seconds = perform(browser.driver, step, target, args.timeout)
                    if rep:  # the first cycle warms the cache
                        warm[step.name].append(seconds)
            for _ in range(args.runs):
                open_page(browser, url)
                for step, target in zip(steps, targets, strict=True):
                    cold_reset()
                    cold[step.name].append(perform(browser.driver, step, target, args.timeout))

        table = Table(
            title=f"Tier 1 interactions: /t1/{args.board} (warehouse "
            f"{source.url}, {args.runs} runs each)"
        )
        for column in (
            "what",
            "cold median",
            "cold max",
            "warm median",
            "warm max",
            "raw SQL cold / warm",
            "targets",
            "verdict",
        ):
            table.add_column(column, justify="left" if column == "what" else "right")

        def row(
            name: str,
            c: list[float | None],
            w: list[float | None],
            sql_times: tuple[list[float], list[float]] | None,
            cold_t: float,
            warm_t: float,
        ) -> None:
            c_med, c_max, c_fail = summary(c)
            w_med, w_max, w_fail = summary(w)
            ok = (
                c_med is not None
                and c_med < cold_t
                and w_med is not None
                and w_med < warm_t
                and not c_fail
                and not w_fail
            )
            if not ok:
                misses.append(name)
            raw = "—"
            if sql_times is not None:
                medians, firsts = sql_times
                raw = f"{bc.fmt_seconds(sum(firsts))} / {bc.fmt_seconds(sum(medians))}"
            table.add_row(
                name,
                bc.fmt_seconds(c_med),
                bc.fmt_seconds(c_max),
                bc.fmt_seconds(w_med),
                bc.fmt_seconds(w_max),
                raw,
                f"< {cold_t:.1f} s / < {warm_t * 1000:.0f} ms"
                if warm_t < 1
                else f"< {cold_t:.1f} s / < {warm_t:.1f} s",
                bc.verdict(ok) + (f" ({c_fail + w_fail} timed out)" if c_fail + w_fail else ""),
            )

        row("open the board URL", open_cold, open_warm, None, TARGET_COLD, TARGET_OPEN_WARM)
        every_cold: list[float | None] = []
        every_warm: list[float | None] = []
        for step in steps:
            row(
                step.name,
                cold[step.name],
                warm[step.name],
                baseline.get(step.name),
                TARGET_COLD,
                TARGET_WARM,
            )
            every_cold += cold[step.name]
            every_warm += warm[step.name]
        row("every interaction", every_cold, every_warm, None, TARGET_COLD, TARGET_WARM)
        console.print(table)
    except bc.BenchError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    finally:
        if browser is not None:
            browser.quit()
        if app is not None:
            app.stop()
        if served is not None:
            served.cleanup()
        shutil.rmtree(home, ignore_errors=True)
    console.print(f"targets missed: {', '.join(misses)}" if misses else "every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
