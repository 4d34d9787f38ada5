"""Page-load benchmark of a Tier 0 executive one-pager, served by gunicorn, timed in Chromium.

    python bench/page_load.py [--db duckdb:///…/wh.duckdb] [--interactions 10000000]
                              [--board company] [--runs 10] [--warmup 1] [--timeout 15]
                              [--restarts 3]

  what is timed   navigation start → every tile and chart drawn: the browser's own clock,
                  ``performance.getEntriesByName('sb-ready')`` (the mark assets/starboard.js
                  sets once the shell is drawn and every Plotly chart has its SVG; the last
                  one if the signal flapped). ``about:blank`` before each run. The CPU that
                  other processes used meanwhile is printed: the machine may be shared.
  warm            after ``--warmup`` untimed loads, ``--runs`` loads of the same URL,
                  interleaved with the static page's (A B, B A, …).
                  Chromium compiles plotly.min.js (4.8 MB) on a profile's first two loads
                  and uses its code cache from the third: with one warm-up, the first timed
                  run still pays the compile (the runs table shows it as a ~0.7 s task).
  cold            before each of ``--runs`` loads: the app's query cache emptied
                  (<home>/cache) and a fresh data version published (a copy of the version
                  file under a new name, the pointer replaced atomically), 0.3 s to notice.
                  Cold is server-side only: browser assets stay cached in both cases.
  after a start   ``--restarts`` times: gunicorn stopped and started again (until /healthz
                  answers), then the first load of the board, timed like the others:
                  what the first executive after a deploy or a restart waits for.
  baseline (a)    the board's own queries (queries.boards.tier0.board_jobs), compiled with the
                  app's routing and run directly on a read-only DuckDB connection with the
                  app's settings: median of 5 each; their sum and their max.
  baseline (b)    a static HTML page with the same tiles (numbers as text) and the same
                  Plotly figures from inline JSON, the same CSS and the same ready signal,
                  served from loopback with cacheable assets: the browser's rendering floor.

The warehouse is never modified: the served copy lives under bench/out/page_load/serve/
(a hard link to the version file, plus its own pointer) and is removed at the end, with
every cold version. Without --db (or when the warehouse lacks the Tier 0 rollup) a demo
warehouse is built under bench/out/page_load/warehouse/ and deleted unless --keep.
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import _common as bc  # first of the project imports: puts the repository root on sys.path
import duckdb
import sqlalchemy as sa
from rich.table import Table

from app.core.config import ensure_secret_key, load_settings
from app.core.pointer import WarehousePaths, duckdb_path, read_pointer
from app.core.runtime import standalone
from app.loader.publish import new_version
from queries.boards import tier0 as boards
from queries.semantic import periods
from queries.semantic.compile import compile_query
from queries.semantic.run import current_model, latest_day, version_facts

TARGET_WARM = 0.5
TARGET_COLD = 1.0
TARGET_MAX = 10.0
TARGET_FLOOR_RATIO = 1.5
SUPERSET = {"warm": 1.8, "cold": 2.3}  # Apache Superset 6.1, six widgets, 2.9M fact rows
REQUIRED_TABLE = "agg_daily_channel"
SQL_REPS = 5
SWAP_SETTLE = 0.3  # the app checks the pointer at most every 200 ms
HEALTH_TIMEOUT = 90.0
STOP_TIMEOUT = 40.0

console = bc.make_console()


# --------------------------------------------------------------------------- the warehouse


@dataclass(frozen=True)
class Source:
    """The published version file a run reads, and its pointer facts."""

    url: str
    file: Path
    version: str
    published_at: str


def resolve_source(url: str) -> Source:
    """The live version file of ``url`` (pointer or plain DuckDB file)."""
    paths = WarehousePaths(duckdb_path(url))
    pointer = read_pointer(paths)
    if pointer is not None:
        return Source(
            url,
            paths.path.with_name(pointer["file"]),
            str(pointer["version"]),
            str(pointer.get("published_at") or datetime.now(UTC).isoformat()),
        )
    if not paths.path.exists():
        raise bc.BenchError(f"no warehouse at {paths.path}")
    return Source(url, paths.path, new_version(), datetime.now(UTC).isoformat())


def has_table(file: Path, table: str) -> bool:
    try:
        with duckdb.connect(str(file), read_only=True) as conn:
            names = {r[0] for r in conn.execute("SHOW TABLES").fetchall()}
    except duckdb.Error as exc:
        console.log(f"[yellow]cannot read {file}: {exc}[/yellow]")
        return False
    return table in names


class Served:
    """A private pointer directory for gunicorn: the live file is a hard link (or copy) of
    the source version; ``publish_copy`` adds fresh versions for cold runs."""

    def __init__(self, source: Source, directory: Path) -> None:
        bc.remove_tree(directory)
        directory.mkdir(parents=True)
        self.source = source
        self.paths = WarehousePaths(directory / "wh.duckdb")
        self.url = f"duckdb:///{self.paths.path}"
        base = self.paths.version_file(source.version)
        try:
            os.link(source.file, base)
        except OSError:
            shutil.copyfile(source.file, base)
        self._write_pointer(source.version, base.name, None, source.published_at)
        self.extra: list[Path] = []

    def _write_pointer(
        self, version: str, file: str, previous: str | None, published_at: str
    ) -> None:
        tmp = self.paths.pointer.with_name(self.paths.pointer.name + f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "version": version,
                    "file": file,
                    "previous": previous,
                    "published_at": published_at,
                }
            ),
            encoding="utf-8",
        )
        os.replace(tmp, self.paths.pointer)

    def publish_copy(self) -> str:
        """Copy the version file to a new versioned name and point at it (atomic rename);
        copies older than the previous one are deleted. Returns the new version id."""
        version = new_version()
        target = self.paths.version_file(version)
        shutil.copyfile(self.source.file, target)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)  # no write-back of this copy during the timed load
        finally:
            os.close(fd)
        current = read_pointer(self.paths)
        self._write_pointer(
            version,
            target.name,
            current["file"] if current else None,
            datetime.now(UTC).isoformat(),
        )
        self.extra.append(target)
        while len(self.extra) > 2:  # keep the live copy and the one before it
            self.extra.pop(0).unlink(missing_ok=True)
        return version

    def cleanup(self) -> None:
        bc.remove_tree(self.paths.path.parent)


# --------------------------------------------------------------------------- baseline (a), data


@dataclass
class BoardFacts:
    board: str
    title: str
    period: str
    period_label: str
    latest: str
    bans: int
    charts: int
    queries: int
    routed: list[str]
    sql_medians: list[float]
    sql_firsts: list[float]
    rows: dict[str, int]
    static_html: str = ""
    figures: int = 0


def board_facts(
    url: str, home: Path, board_name: str, duck: bc.DuckSettings, static_dir: Path
) -> BoardFacts:
    """Baseline (a) and the static page, from one standalone runtime on the served copy."""
    with bc.uncached_runtime(url, home, duck) as runtime:
        model = current_model(runtime)
        board = model.boards.get(board_name)
        if board is None or board.tier != 0:
            tier0 = ", ".join(b.name for b in boards.tier0_boards(model))
            raise bc.BenchError(f"no Tier 0 board {board_name!r}; Tier 0 boards: {tier0}")
        latest = latest_day(runtime)
        if latest is None:
            raise bc.BenchError("the warehouse holds no dated facts")
        window = periods.default_period(board.period, latest)
        snap = runtime.warehouse.snapshot()
        facts = version_facts(runtime, snap, model)
        jobs = boards.board_jobs(model, board, window)
        rollups = frozenset(model.rollups) & facts.tables
        compiled = [
            compile_query(
                model,
                job.query,
                dialect=snap.engine.dialect,
                use_rollups=True,
                available_rollups=rollups,
                column_types=facts.column_types,
            )
            for job in jobs
        ]
        routed = [
            f"{job.key} → {c.rollup or ', '.join(c.facts)}"
            for job, c in zip(jobs, compiled, strict=True)
        ]
        medians, firsts = sql_times([c.statement for c in compiled], url, duck)
        rows = {}
        with snap.engine.connect() as conn:
            for table in ("fct_interaction", "fct_marketing_spend", *sorted(rollups)):
                if table in facts.tables:
                    rows[table] = conn.execute(
                        sa.text(f'SELECT count(*) FROM "{table}"')
                    ).scalar_one()
        view = boards.tier0_view(board_name, window.key)
        page, figs = static_page(view)
    result = BoardFacts(
        board_name,
        board.title,
        window.key,
        window.label,
        latest.isoformat(),
        sum(len(s.bans) for s in view.sections),
        sum(len(s.charts) for s in view.sections),
        len(jobs),
        routed,
        medians,
        firsts,
        rows,
        page,
        figs,
    )
    write_static_dir(static_dir, page)
    return result


def sql_times(
    statements: list[Any], url: str, duck: bc.DuckSettings
) -> tuple[list[float], list[float]]:
    """Each statement on a fresh read-only DuckDB engine with the app's settings: the first
    (cold) time and the median of ``SQL_REPS`` after it."""
    file = WarehousePaths(duckdb_path(url))
    pointer = read_pointer(file)
    target = file.path.with_name(pointer["file"]) if pointer else file.path
    engine = sa.create_engine(
        f"duckdb:///{target}",
        poolclass=sa.pool.QueuePool,
        connect_args={
            "read_only": True,
            "config": {"memory_limit": duck.memory_limit, "threads": duck.threads},
        },
    )
    firsts: list[float] = []
    medians: list[float] = []
    try:
        with engine.connect() as conn:
            for stmt in statements:
                began = time.perf_counter()
                conn.execute(stmt).all()
                firsts.append(time.perf_counter() - began)
            for stmt in statements:
                samples = []
                for _ in range(SQL_REPS):
                    began = time.perf_counter()
                    conn.execute(stmt).all()
                    samples.append(time.perf_counter() - began)
                medians.append(statistics.median(samples))
    finally:
        engine.dispose()
    return medians, firsts


# --------------------------------------------------------------------------- baseline (b), page


VOID = {"input", "br", "hr", "img", "meta", "link"}
SKIP_PROPS = {
    "children",
    "n_clicks",
    "n_clicks_timestamp",
    "disable_n_clicks",
    "loading_state",
    "key",
    "figure",
    "config",
    "setProps",
}


def _css(style: dict[str, Any]) -> str:
    return ";".join(
        re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), k) + f":{v}" for k, v in style.items()
    )


def _attrs(props: dict[str, Any]) -> str:
    out = []
    for name, value in props.items():
        if name in SKIP_PROPS or value is None or value is False:
            continue
        attr = {"className": "class", "htmlFor": "for"}.get(name, name)
        if name == "style" and isinstance(value, dict):
            value = _css(value)
        elif isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        elif value is True:
            out.append(f" {attr}")
            continue
        out.append(f' {attr}="{html_lib.escape(str(value), quote=True)}"')
    return "".join(out)


def render(node: Any, figs: list[dict[str, Any]]) -> str:
    """Server-side HTML of a Dash component tree; each dcc.Graph becomes an empty
    ``.dash-graph`` box (as dcc.Graph renders it) whose figure goes into ``figs``."""
    if node is None:
        return ""
    if isinstance(node, list | tuple):
        return "".join(render(child, figs) for child in node)
    if isinstance(node, str | int | float):
        return html_lib.escape(str(node))
    props = node.to_plotly_json()["props"]
    kind, namespace = node._type, node._namespace
    children = render(props.get("children"), figs)
    if namespace == "dash_core_components":
        if kind == "Graph":
            index = len(figs)
            figs.append(
                {
                    "id": f"sb-static-graph-{index}",
                    "figure": json.loads(props["figure"].to_json()),
                    "config": props.get("config") or {},
                }
            )
            klass = f"dash-graph {props.get('className', '')}".strip()
            return (
                f'<div class="{klass}" style="{_css(props.get("style") or {})}">'
                f'<div id="sb-static-graph-{index}" style="height:100%;width:100%">'
                "</div></div>"
            )
        if kind == "Textarea":
            return f"<textarea{_attrs(props)}></textarea>"
        if kind == "Input":
            return f"<input{_attrs(props)}>"
        return f"<div{_attrs(props)}>{children}</div>"
    tag = kind.lower()
    if tag in VOID:
        return f"<{tag}{_attrs(props)}>"
    return f"<{tag}{_attrs(props)}>{children}</{tag}>"


def page_components(view: boards.Tier0View) -> Any:
    """The board's page as Dash components, built as pages/t0.py builds it (tiles with
    sparklines, charts, period bar, shell); pages/ is not importable from here."""
    from dash import dcc, html

    from components import ban, figures, shell
    from queries.quality import trust as status_q

    def ban_data(f: boards.BanFigures) -> ban.BanData:  # as pages/t0.py::_ban_data
        status = f.status
        flagged = None
        if f.anomaly is not None:
            flagged = ban.anomaly_note(
                f.anomaly.direction,
                f.anomaly.low,
                f.anomaly.high,
                f.metric.format,
                periods=boards.HISTORY - 1,
            )
        return ban.BanData(
            metric=f.metric.name,
            label=f.metric.label,
            description=f.metric.description,
            fmt=f.metric.format,
            direction=f.metric.direction,
            value=f.value,
            previous=f.previous,
            last_year=f.last_year,
            previous_label=f.previous_window.label if f.previous_window else "",
            last_year_label=f.last_year_window.label if f.last_year_window else "",
            goal=f.goal,
            goal_status=status.status
            if status and status.status in ("on_track", "at_risk", "off_track")
            else None,
            attainment=status.attainment if status else None,
            projected=status.projected if status else None,
            sparkline=tuple(v for _, v in f.history),
            sparkline_labels=tuple(w.short_label for w, _ in f.history),
            anomaly=flagged,
            href=None,
            no_data_reason=f.no_data_reason,
        )

    def chart(c: boards.ChartFigures) -> html.Div:  # as pages/t0.py::_chart
        fmt = c.metric.format if c.metric else "number"
        if c.error:
            body: Any = shell.error_tile(c.title, c.error)
        elif not c.x:
            body = html.P("No data for this period.", className="sb-empty")
        elif c.chart.type == "bar":
            body = figures.graph(figures.bar_chart(list(c.x), list(c.y), fmt=fmt), height=240)
        elif c.chart.type == "area":
            body = figures.graph(
                figures.area_chart(list(c.x), list(c.y), name=c.title, fmt=fmt), height=240
            )
        else:
            compare = (list(c.compare[0]), list(c.compare[1]), c.compare[2]) if c.compare else None
            body = figures.graph(
                figures.line_chart(
                    list(c.x),
                    list(c.y),
                    name=c.metric.label if c.metric else "",
                    compare=compare,
                    fmt=fmt,
                ),
                height=240,
            )
        return html.Div([html.H3(c.title, className="sb-chart-title"), body], className="sb-chart")

    sections = []
    for section in view.sections:
        parts = []
        if section.bans:
            parts.append(ban.tiles([ban_data(b) for b in section.bans]))
        if section.charts:
            parts.append(html.Div([chart(c) for c in section.charts], className="sb-chart-grid"))
        sections.append(
            shell.section(section.title, parts)
            if section.title
            else html.Section(parts, className="sb-section")
        )
    bar = html.Div(
        [
            html.Div(
                [
                    html.A("‹", className="sb-period-step"),
                    html.Span(view.window.label, className="sb-period-label"),
                    html.A("›", className="sb-period-step disabled"),
                ],
                className="sb-period-nav sb-no-print-nav",
            ),
            html.Span(f"Data to {view.latest:%d %b %Y}", className="sb-period-note"),
        ],
        className="sb-t0-bar",
    )
    report = html.Details(
        [
            html.Summary("Report a data problem", className="sb-link-button"),
            html.Div(
                [
                    dcc.Textarea(className="sb-field-wide sb-textarea"),
                    html.Button("Send", className="sb-button"),
                ],
                className="sb-report-form",
            ),
        ],
        className="sb-report sb-no-print",
    )
    trust = shell.Trust(**status_q.trust_summary().__dict__)
    viewer = shell.Viewer(name="bench", role="executive", permissions=frozenset({"tier0"}))
    return shell.page(
        view.board.title,
        html.Div(
            [bar, *sections],
            className="sb-t0",
            **{"data-period": view.window.key, "data-errors": "0"},
        ),
        path=f"/t0/{view.board.name}",
        trust=trust,
        viewer=viewer,
        subtitle=view.board.description or None,
        actions=report,
    )


def static_page(view: boards.Tier0View) -> tuple[str, int]:
    """The board's page as static HTML: the same components as the app, the figures as
    JSON drawn by Plotly on load. Returns the document and the number of figures."""
    figs: list[dict[str, Any]] = []
    body = render(page_components(view), figs)
    payload = json.dumps(figs, separators=(",", ":")).replace("</", "<\\/")
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html_lib.escape(view.board.title)} · static floor</title>
<link rel="stylesheet" href="starboard.css"><link rel="stylesheet" href="tier0.css"></head>
<body><div class="sb-root">{body}</div>
<script type="application/json" id="sb-figures">{payload}</script>
<script src="starboard.js"></script>
<script src="plotly.min.js"></script>
<script>
(function () {{
  var figs = JSON.parse(document.getElementById("sb-figures").textContent);
  Promise.all(figs.map(function (f) {{
    return Plotly.newPlot(document.getElementById(f.id), f.figure.data, f.figure.layout,
                          f.config);
  }})).then(function () {{ window.sbPlotted = performance.now(); }});
}})();
</script></body></html>
"""
    return document, len(figs)


def write_static_dir(directory: Path, page: str) -> None:
    import plotly.offline

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text(page, encoding="utf-8")
    (directory / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    for name in ("starboard.css", "tier0.css", "starboard.js"):
        shutil.copyfile(bc.REPO_ROOT / "assets" / name, directory / name)


class _StaticHandler(SimpleHTTPRequestHandler):
    """Assets cacheable (as Dash serves its fingerprinted bundles), the page revalidated."""

    def end_headers(self) -> None:
        cacheable = not self.path.split("?", 1)[0].endswith((".html", "/"))
        self.send_header("Cache-Control", "public, max-age=3600" if cacheable else "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_StaticHandler, directory=str(directory))
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(home: Path, url: str, port: int, workers: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARBOARD_")}
    env.update(
        STARBOARD_HOME=str(home),
        STARBOARD_DB_URL=url,
        STARBOARD_PORT=str(port),
        STARBOARD_HOST="127.0.0.1",
        STARBOARD_WORKERS=str(workers),
        STARBOARD_CACHE="filesystem",
        PYTHONUNBUFFERED="1",
        # gunicorn ≥ 25 puts its control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else
        # $HOME/.gunicorn/gunicorn.ctl: shared by every gunicorn of this user, and
        # deleted when one stops. Keep ours in the temporary home.
        XDG_RUNTIME_DIR=str(home),
    )
    return env


def prepare_home(home: Path) -> None:
    """Generate the home's secret key once, before gunicorn starts: workers that start
    together on a fresh home race in app.core.config.ensure_secret_key (one can read the file
    after the other created it but before it wrote the key, and run with an empty key:
    no sessions on that worker)."""
    ensure_secret_key(load_settings({"home": str(home)}, environ={}))


def add_user(env: dict[str, str], name: str, password: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "users",
            "add",
            name,
            "--role",
            "executive",
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


class Gunicorn:
    """``gunicorn -c gunicorn.conf.py app.wsgi:server`` in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.base = f"http://127.0.0.1:{env['STARBOARD_PORT']}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:server"],
            cwd=bc.REPO_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise bc.BenchError(f"gunicorn exited ({self.proc.returncode}):\n" + self.tail())
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
                    body = json.loads(resp.read())
                if body.get("status") == "ok" and body.get("data_version"):
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.25)
        raise bc.BenchError(
            f"/healthz did not answer within {HEALTH_TIMEOUT:.0f} s:\n" + self.tail()
        )

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # our own session: master + workers
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \S+ '
    r"(?P<ms>\d+)ms"
)


def access_lines(text: str) -> list[tuple[str, str, int, int]]:
    """(method, path without query, status, ms) of each access-log line."""
    out = []
    for match in ACCESS.finditer(text):
        out.append(
            (
                match["method"],
                match["path"].split("?", 1)[0],
                int(match["status"]),
                int(match["ms"]),
            )
        )
    return out


# --------------------------------------------------------------------------- the browser


LONGTASKS = """
window.__sbLong = [];
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) { window.__sbLong.push([e.startTime, e.duration]); });
  }).observe({type: 'longtask', buffered: true});
} catch (e) {}
"""

PROBE = """
const nav = performance.getEntriesByType('navigation')[0] || {};
const res = performance.getEntriesByType('resource').map(r => ({
  name: r.name, type: r.initiatorType, start: r.startTime, reqStart: r.requestStart,
  respStart: r.responseStart, end: r.responseEnd, size: r.transferSize,
  body: r.encodedBodySize}));
const t0 = document.querySelector('.sb-t0');
return {
  marks: performance.getEntriesByName('sb-ready').map(m => m.startTime),
  nav: {respStart: nav.responseStart, end: nav.responseEnd, size: nav.transferSize,
        dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd},
  res: res,
  bans: document.querySelectorAll('.sb-ban').length,
  charts: document.querySelectorAll('.sb-chart').length,
  svgs: document.querySelectorAll('.main-svg').length,
  errors: document.querySelectorAll('.sb-error').length,
  period: t0 ? t0.dataset.period : null,
  denied: !!document.getElementById('sb-denied'),
  plotted: window.sbPlotted || null,
  long: window.__sbLong || [],
  values: [...document.querySelectorAll('.sb-ban-value')].map(e => e.textContent),
};
"""


@dataclass
class Load:
    seconds: float | None  # None: no ready signal within the timeout
    probe: dict[str, Any] = field(default_factory=dict)
    access: list[tuple[str, str, int, int]] = field(default_factory=list)
    version: str = ""


class Browser:
    def __init__(self, timeout: float) -> None:
        from screenshots import driver

        self.timeout = timeout
        self.driver = driver()
        self.driver.set_window_size(1440, 900)
        self.driver.set_page_load_timeout(max(30, timeout * 2))
        self.driver.set_script_timeout(10)
        # Main-thread tasks over 50 ms, recorded from the start of every document.
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LONGTASKS})

    def load(self, url: str, expect: BoardFacts | None) -> Load:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get("about:blank")
        self.driver.get(url)
        try:
            WebDriverWait(self.driver, self.timeout, poll_frequency=0.02).until(
                lambda d: d.execute_script(
                    "return !!document.body && document.body.dataset.sbReady === '1'"
                )
            )
        except TimeoutException:
            return Load(None, self.driver.execute_script(PROBE))
        probe = self.driver.execute_script(PROBE)
        if expect is not None:
            check_page(probe, expect, url)
        # The last mark: the signal can flap (ready, then a chart box appears, then ready
        # again); once the page is whole nothing changes, so the last one is the real one.
        return Load(probe["marks"][-1] / 1000, probe)

    def quit(self) -> None:
        self.driver.quit()


def check_page(probe: dict[str, Any], expect: BoardFacts, url: str) -> None:
    """The ready signal must mean the whole board: every tile, every chart, no error."""
    problems = []
    if probe["denied"]:
        problems.append("the page says 'No access'")
    if probe["bans"] != expect.bans:
        problems.append(f"{probe['bans']} BAN tiles, expected {expect.bans}")
    if probe["charts"] != expect.charts:
        problems.append(f"{probe['charts']} charts, expected {expect.charts}")
    if probe["svgs"] < expect.figures:
        problems.append(f"{probe['svgs']} Plotly SVGs, expected ≥ {expect.figures}")
    if probe["errors"]:
        problems.append(f"{probe['errors']} error tiles")
    if probe["period"] is not None and probe["period"] != expect.period:
        problems.append(f"period {probe['period']}, expected {expect.period}")
    if problems:
        raise bc.BenchError(f"{url}: the page set its ready signal but " + "; ".join(problems))


# --------------------------------------------------------------------------- neighbours


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS


def _tree_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its descendants (with the children they reaped):
    this script, gunicorn and its workers, chromedriver and Chromium."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        used[int(entry)] = sum(int(v) for v in fields[11:15]) / CLOCK_TICKS
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += used.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


class Neighbours:
    """How many cores other processes used while a phase ran (a shared machine)."""

    def __init__(self) -> None:
        self.began = (time.monotonic(), _busy_seconds(), _tree_seconds(os.getpid()))

    def cores(self) -> float:
        wall = time.monotonic() - self.began[0]
        busy = _busy_seconds() - self.began[1]
        ours = _tree_seconds(os.getpid()) - self.began[2]
        return max(0.0, busy - ours) / wall if wall > 0 else 0.0


# --------------------------------------------------------------------------- runs


def run_loads(
    browser: Browser,
    app: Gunicorn,
    served: Served,
    url: str,
    static_url: str,
    facts: BoardFacts,
    home: Path,
    runs: int,
    warmup: int,
    others: dict[str, float],
) -> tuple[list[Load], list[Load], list[Load]]:
    """Warm app loads interleaved with static-page loads (A B, B A, …: a busy neighbour
    slows both alike), then the cold app loads. Returns (warm, cold, static)."""
    warm: list[Load] = []
    cold: list[Load] = []
    static: list[Load] = []

    def app_load() -> Load:
        offset = app.log_size()
        load = browser.load(url, facts)
        time.sleep(0.05)  # the access-log line is written after
        load.access = access_lines(app.log_since(offset))
        return load

    for _ in range(warmup):
        browser.load(url, facts)
        browser.load(static_url, facts)
    neighbours = Neighbours()
    for rep in range(runs):
        for which in ("app", "static") if rep % 2 == 0 else ("static", "app"):
            if which == "app":
                warm.append(app_load())
            else:
                static.append(browser.load(static_url, facts))
    others["warm + static"] = neighbours.cores()
    neighbours = Neighbours()
    cache_dir = home / "cache"
    for _ in range(runs):
        version = served.publish_copy()
        if cache_dir.exists():
            for entry in cache_dir.iterdir():
                if entry.is_file():
                    entry.unlink(missing_ok=True)
        time.sleep(SWAP_SETTLE)
        load = app_load()
        load.version = version
        cold.append(load)
    others["cold"] = neighbours.cores()
    return warm, cold, static


TARGET_FIRST_OPEN = 1.0  # seconds: the first open after a start


def first_opens(
    browser: Browser, app: Gunicorn, url: str, facts: BoardFacts, runs: int
) -> list[Load]:
    """``runs`` times: stop gunicorn, start it (until /healthz answers with the data
    version), then time the first load of ``url``: what an executive who opens the board
    right after a deploy or a restart waits for. Browser assets stay cached."""
    loads = []
    for _ in range(runs):
        app.stop()
        app.start()
        loads.append(browser.load(url, facts))
    return loads


# --------------------------------------------------------------------------- server profile


def server_profile(
    served: Served, board: str, period: str, duck: bc.DuckSettings, reps: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """What the page router callback does on the server, phase by phase, in this process
    (a standalone runtime on the served warehouse, filesystem cache in a temporary home):
    ``reps`` cold rounds (fresh version + empty cache) and ``reps`` warm rounds, after one
    untimed round (imports, model, first figures). Seconds per phase."""
    import logging

    import plotly.io.json as pjson

    from queries.quality import trust as status_q

    lines: list[dict[str, Any]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if text.startswith("query "):
                lines.append(json.loads(text[len("query ") :]))

    log = logging.getLogger("starboard.query")
    handler, level, propagate = Capture(), log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        with tempfile.TemporaryDirectory(prefix="starboard-profile-") as tmp:
            settings = load_settings(
                {
                    "db_url": served.url,
                    "cache": "filesystem",
                    "home": tmp,
                    "duckdb_memory_limit": duck.memory_limit,
                    "duckdb_threads": duck.threads,
                },
                environ={},
            )
            with standalone(settings) as runtime:

                def one() -> dict[str, float]:
                    lines.clear()
                    t = [time.perf_counter()]
                    runtime.warehouse.snapshot()
                    t.append(time.perf_counter())
                    status_q.trust_summary()
                    t.append(time.perf_counter())
                    view = boards.tier0_view(board, period)
                    t.append(time.perf_counter())
                    page = page_components(view)
                    t.append(time.perf_counter())
                    pjson.to_json_plotly(page)
                    t.append(time.perf_counter())
                    misses = [x["ms"] / 1e3 for x in lines if x["cache"] == "miss"]
                    return {
                        "open the data version (snapshot)": t[1] - t[0],
                        "trust_summary (header: tables, counts, gates)": t[2] - t[1],
                        "tier0_view (all queries, 8 threads)": t[3] - t[2],
                        "  queries: slowest one (run(), incl. planning)": max(
                            (x["ms"] / 1e3 for x in lines), default=0.0
                        ),
                        "  queries: sum (run(), incl. planning)": sum(x["ms"] / 1e3 for x in lines),
                        "  queries: cache misses": float(len(misses)),
                        "components + Plotly figures": t[4] - t[3],
                        "JSON of the layout (as Dash sends it)": t[5] - t[4],
                        "total": t[5] - t[0],
                    }

                one()
                cold, warm = [], []
                for _ in range(reps):
                    served.publish_copy()
                    runtime.cache.clear()
                    time.sleep(SWAP_SETTLE)
                    cold.append(one())
                for _ in range(reps):
                    warm.append(one())
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate
    keys = list(cold[0])
    return ({k: [c[k] for c in cold] for k in keys}, {k: [w[k] for w in warm] for k in keys})


def profile_table(cold: dict[str, list[float]], warm: dict[str, list[float]], reps: int) -> Table:
    table = Table(
        title=f"Server side of the page router callback, in-process (medians of {reps})",
        title_justify="left",
    )
    for column in ("phase", "cold", "warm"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for key in cold:
        if key.endswith("cache misses"):
            table.add_row(
                key, f"{statistics.median(cold[key]):.0f}", f"{statistics.median(warm[key]):.0f}"
            )
        else:
            table.add_row(
                key,
                bc.fmt_seconds(statistics.median(cold[key])),
                bc.fmt_seconds(statistics.median(warm[key])),
            )
    table.caption = (
        "Not in gunicorn: Dash's callback dispatch, the access gate and the "
        "HTTP round trip are missing here (compare with the access-log POST)."
    )
    table.caption_justify = "left"
    return table


# --------------------------------------------------------------------------- reporting


def stats(loads: list[Load]) -> tuple[float | None, float | None, float | None, int]:
    """median, min, max of the loads that finished, and how many did not."""
    done = [x.seconds for x in loads if x.seconds is not None]
    missing = len(loads) - len(done)
    if not done:
        return None, None, None, missing
    return statistics.median(done), min(done), max(done), missing


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else ""


def results_table(
    warm: list[Load], cold: list[Load], static: list[Load], facts: BoardFacts
) -> tuple[Table, list[str]]:
    wmed, wmin, wmax, wmiss = stats(warm)
    cmed, cmin, cmax, cmiss = stats(cold)
    smed, smin, smax, smiss = stats(static)
    everything = [x.seconds for x in warm + cold]
    worst = None if any(s is None for s in everything) else max(everything)  # type: ignore
    sql_sum, sql_max = sum(facts.sql_medians), max(facts.sql_medians)
    table = Table(
        title=f"Tier 0 page load: /t0/{facts.board}?period={facts.period} "
        f"({facts.title}, {facts.bans} tiles + {facts.charts} charts, "
        f"{facts.figures} Plotly figures, {facts.queries} queries)",
        title_justify="left",
    )
    for column in ("figure", "median", "min", "max", "target", "ratio", "status", "note"):
        table.add_column(
            column, justify="right" if column in ("median", "min", "max", "ratio") else "left"
        )
    misses: list[str] = []

    def verdict(name: str, ok: bool | None) -> str:
        if ok is False:
            misses.append(name)
        return bc.verdict(ok)

    f = bc.fmt_seconds
    n = len(warm)
    table.add_row("[bold]Starboard (gunicorn, 2 workers, Chromium)[/bold]")
    table.add_row(
        "  warm load",
        f(wmed),
        f(wmin),
        f(wmax),
        f"median < {TARGET_WARM} s",
        ratio(wmed, smed) + " floor" if smed else "",
        verdict("warm median", None if wmed is None else wmed < TARGET_WARM),
        f"{n} runs after warm-up" + (f"; {wmiss} timed out" if wmiss else ""),
    )
    table.add_row(
        "  cold load",
        f(cmed),
        f(cmin),
        f(cmax),
        f"median < {TARGET_COLD} s",
        ratio(cmed, smed) + " floor" if smed else "",
        verdict("cold median", None if cmed is None else cmed < TARGET_COLD),
        f"{len(cold)} runs: cache emptied + fresh data version each"
        + (f"; {cmiss} timed out" if cmiss else ""),
    )
    table.add_row(
        "  max over all runs",
        f(worst) if worst is not None else "> timeout",
        "",
        "",
        f"never > {TARGET_MAX:.0f} s",
        "",
        verdict("max over all", worst is not None and worst <= TARGET_MAX),
        f"{len(everything)} warm + cold runs",
    )
    table.add_row(
        "  warm / static floor",
        "",
        "",
        "",
        f"≤ {TARGET_FLOOR_RATIO}×",
        ratio(wmed, smed),
        verdict(
            "warm vs floor", None if wmed is None or not smed else wmed / smed <= TARGET_FLOOR_RATIO
        ),
        "medians",
    )
    table.add_section()
    table.add_row("[bold]Baselines, same run[/bold]")
    table.add_row(
        "  (a) board SQL, sum",
        f(sql_sum),
        "",
        "",
        "",
        ratio(cmed, sql_sum) + " cold" if cmed else "",
        bc.verdict(None),
        f"{facts.queries} queries, each median of {SQL_REPS}, one after the other; "
        f"first runs sum {f(sum(facts.sql_firsts))}",
    )
    table.add_row(
        "  (a) board SQL, max",
        f(sql_max),
        "",
        "",
        "",
        ratio(cmed, sql_max) + " cold" if cmed else "",
        bc.verdict(None),
        "the slowest query: the floor if all ran in parallel",
    )
    table.add_row(
        "  (b) static page (floor)",
        f(smed),
        f(smin),
        f(smax),
        "",
        "",
        bc.verdict(None),
        "same tiles as text, same figures drawn by Plotly, same "
        "CSS + ready signal" + (f"; {smiss} timed out" if smiss else ""),
    )
    table.add_section()
    table.add_row("[bold]For scale, not measured here[/bold]")
    table.add_row(
        "  Superset 6.1, warm",
        f(SUPERSET["warm"]),
        "",
        "",
        "",
        ratio(wmed, SUPERSET["warm"]),
        bc.verdict(None),
        "six-widget executive dashboard, 2.9M fact rows, comparable machine",
    )
    table.add_row(
        "  Superset 6.1, cold",
        f(SUPERSET["cold"]),
        "",
        "",
        "",
        ratio(cmed, SUPERSET["cold"]),
        bc.verdict(None),
        "ratio = Starboard / Superset",
    )
    table.caption = (
        "Time = performance mark 'sb-ready' (navigation start → every tile and "
        "chart drawn), Chromium's clock. Browser HTTP cache kept in every run "
        "(cold = server side: query cache and data version); about:blank before "
        "each run. Cold versions are copies under new version ids, so their "
        "gate rows (keyed by the original id) do not match: the header shows "
        "DQ 'unknown' on cold runs."
    )
    table.caption_justify = "left"
    return table, misses


def runs_table(warm: list[Load], cold: list[Load], static: list[Load]) -> Table:
    """Every run in order, with the router callback's server time from the access log."""
    table = Table(
        title="Every run: seconds to sb-ready [server ms of POST "
        "/_dash-update-component | longest main-thread task, ms]",
        title_justify="left",
    )
    for column in ("run", "warm", "cold", "static"):
        table.add_column(column, justify="right")

    def cell(load: Load | None) -> str:
        if load is None:
            return ""
        shown = "timeout" if load.seconds is None else f"{load.seconds:.3f}"
        posts = [
            ms
            for method, path, _, ms in load.access
            if method == "POST" and path.endswith("/_dash-update-component")
        ]
        longest = max((d for _, d in load.probe.get("long", [])), default=0.0)
        post = "+".join(str(ms) for ms in posts) if posts else "–"
        marks = len(load.probe.get("marks", []))
        return f"{shown} [{post} | {longest:.0f}]" + (f" {marks} marks" if marks > 1 else "")

    for i in range(max(len(warm), len(cold), len(static))):
        table.add_row(
            str(i + 1),
            *[cell(group[i] if i < len(group) else None) for group in (warm, cold, static)],
        )
    table.caption = (
        "A longest task of ~0.7 s is Chromium compiling plotly.min.js (4.8 MB): "
        "V8 caches the compiled code from a script's third load only, so the "
        "first two loads of a browser profile pay it. 'N marks': the ready "
        "signal flapped; the last mark is used."
    )
    table.caption_justify = "left"
    return table


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def phases(load: Load) -> dict[str, float | None]:
    """Milestones of one load (ms since navigation start) from the resource timings."""
    probe = load.probe
    res = probe.get("res", [])

    def pick(pattern: str) -> list[dict[str, Any]]:
        return [r for r in res if pattern in r["name"]]

    scripts = [r for r in res if r["type"] == "script"]
    posts = pick("/_dash-update-component")
    layout = pick("/_dash-layout")
    deps = pick("/_dash-dependencies")
    graph_js = pick("async-graph.js")
    plotly_js = pick("plotly.min.js")
    ready = probe["marks"][-1] if probe.get("marks") else None
    long = probe.get("long", [])
    after = max((r["end"] for r in posts), default=0.0)
    return {
        "html TTFB": probe["nav"].get("respStart"),
        "html end": probe["nav"].get("end"),
        "scripts end": max((r["end"] for r in scripts), default=None),
        "DOMContentLoaded": probe["nav"].get("dcl"),
        "_dash-layout end": layout[0]["end"] if layout else None,
        "_dash-dependencies end": deps[0]["end"] if deps else None,
        "update POST start": min((r["start"] for r in posts), default=None),
        "update POST end": max((r["end"] for r in posts), default=None),
        "update POST duration": (
            max(r["end"] for r in posts) - min(r["start"] for r in posts) if posts else None
        ),
        "async-graph.js end": graph_js[0]["end"] if graph_js else None,
        "plotly.min.js start": plotly_js[0]["start"] if plotly_js else None,
        "plotly.min.js end": plotly_js[0]["end"] if plotly_js else None,
        "sb-ready": ready,
        "main-thread long tasks before sb-ready (duration)": sum(
            d for t, d in long if ready is None or t < ready
        ),
        "  of which after the update POST ended (duration)": sum(
            d for t, d in long if t >= after and (ready is None or t < ready)
        )
        if posts
        else None,
        "longest task (duration)": max((d for _, d in long), default=0.0),
        "sb-ready − plotly.min.js end": (
            ready - plotly_js[0]["end"] if ready is not None and plotly_js else None
        ),
    }


def breakdown_table(groups: dict[str, list[Load]]) -> Table:
    table = Table(
        title="Where the time goes (medians over the runs, ms since navigation "
        "start unless a duration)",
        title_justify="left",
    )
    table.add_column("milestone")
    for name in groups:
        table.add_column(name, justify="right")
    per = {name: [phases(x) for x in loads if x.probe] for name, loads in groups.items()}
    keys = list(next(iter(per.values()))[0]) if any(per.values()) else []
    for key in keys:
        cells = []
        for name in groups:
            values = [p[key] for p in per[name] if p.get(key) is not None]
            med = _median(values)
            cells.append("–" if med is None else f"{med:,.0f}")
        table.add_row(key, *cells)
    table.add_section()
    for name, loads in groups.items():
        if not any(x.probe for x in loads):
            continue
        res = [r for x in loads for r in x.probe.get("res", [])]
        runs = max(1, len([x for x in loads if x.probe]))
        cached = sum(1 for r in res if r["size"] == 0)
        table.add_row(
            f"requests per load ({name})",
            *[
                f"{len(res) / runs:.1f} ({cached / runs:.1f} from cache)" if n == name else ""
                for n in groups
            ],
        )
    table.add_section()
    server: dict[str, dict[str, list[int]]] = {}
    for name, loads in groups.items():
        for x in loads:
            for method, path, _status, ms in x.access:
                key = f"{method} {path}"
                server.setdefault(key, {}).setdefault(name, []).append(ms)
    for key in sorted(server, key=lambda k: -max(max(v) for v in server[k].values())):
        cells = []
        for name in groups:
            values = server[key].get(name, [])
            med = _median([float(v) for v in values])
            cells.append("" if med is None else f"{med:,.0f} (n={len(values)})")
        table.add_row(f"server: {key}", *cells)
    table.caption = (
        "server: gunicorn access-log request durations (%(M)s ms), median "
        "and number of requests over all runs of that kind."
    )
    table.caption_justify = "left"
    return table


def slowest_requests(loads: list[Load], top: int = 6) -> list[str]:
    """The largest resource timings of the slowest load."""
    worst = max((x for x in loads if x.probe), key=lambda x: x.seconds or 1e9, default=None)
    if worst is None:
        return []
    res = sorted(worst.probe.get("res", []), key=lambda r: r["end"] - r["start"], reverse=True)[
        :top
    ]
    lines = [
        f"{r['end'] - r['start']:7.0f} ms  {r['start']:7.0f} → {r['end']:7.0f}  "
        f"{'cache' if r['size'] == 0 else bc.fmt_bytes(r['size'])}  "
        f"{r['name'].split('?', 1)[0][-70:]}"
        for r in res
    ]
    lines += [
        f"{d:7.0f} ms  {t:7.0f} → {t + d:7.0f}  main-thread long task"
        for t, d in worst.probe.get("long", [])
    ]
    return [f"(load of {bc.fmt_seconds(worst.seconds)})", *lines]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", help="reuse a warehouse: duckdb:///path/wh.duckdb (or a path)")
    parser.add_argument(
        "--interactions",
        type=bc.parse_count,
        default=10_000_000,
        help="size of the warehouse built when --db is not given",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--board", default="company", help="the Tier 0 board (company)")
    parser.add_argument("--runs", type=int, default=10, help="timed loads per kind (10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm loads first (1)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=15.0,
        help="seconds to wait for the ready signal per load (15)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--restarts",
        type=int,
        default=3,
        help="timed first opens after a gunicorn restart (3; 0 skips them)",
    )
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit (2GB)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (2)")
    parser.add_argument("--workdir", type=Path, default=bc.OUT_DIR / "page_load")
    parser.add_argument("--keep", action="store_true", help="keep a warehouse it built")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the server side even when every target is met",
    )
    parser.add_argument("--profile-reps", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.db and "://" not in args.db:
        args.db = f"duckdb:///{Path(args.db).resolve()}"
    if not 1 <= args.runs <= 100 or not 0 <= args.warmup <= 10:
        parser.error("--runs must be 1..100 and --warmup 0..10")
    if not 1 <= args.profile_reps <= 10:
        parser.error("--profile-reps must be 1..10")
    if not 1 <= args.timeout <= 120:
        parser.error("--timeout must be 1..120 s")
    return args


def print_environment(duck: bc.DuckSettings, chromium: str) -> None:
    import dash
    import gunicorn
    import plotly
    import selenium

    env = Table.grid(padding=(0, 2))
    for key, value in bc.environment():
        env.add_row(f"[bold]{key}[/bold]", value)
    env.add_row("[bold]Dash / Plotly[/bold]", f"{dash.__version__} / {plotly.__version__}")
    env.add_row("[bold]gunicorn[/bold]", f"{gunicorn.__version__}, gthread")
    env.add_row(
        "[bold]browser[/bold]",
        f"Chromium {chromium} headless, selenium {selenium.__version__}, 1440×900",
    )
    env.add_row(
        "[bold]DuckDB settings[/bold]",
        f"memory_limit={duck.memory_limit}, threads={duck.threads}, read-only",
    )
    console.print(env)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    duck = bc.DuckSettings(args.memory_limit, args.threads)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    built_dir = workdir / "warehouse"
    built = False
    home = Path(tempfile.mkdtemp(prefix="starboard-page-load-"))
    served: Served | None = None
    app: Gunicorn | None = None
    browser: Browser | None = None
    misses: list[str] = []
    try:
        source = None
        if args.db:
            source = resolve_source(args.db)
            if not has_table(source.file, REQUIRED_TABLE):
                console.log(
                    f"[yellow]{args.db} has no {REQUIRED_TABLE}: building a demo "
                    "warehouse instead[/yellow]"
                )
                source = None
        if source is None:
            with console.status(
                f"building a {bc.fmt_count(args.interactions)}-interaction "
                "warehouse (generate + load + rollups) …"
            ):
                url, seconds = bc.build_demo_warehouse(
                    built_dir, args.interactions, args.seed, duck
                )
            built = True
            console.log(
                f"built {url}: generate {bc.fmt_seconds(seconds['generate'])}, "
                f"load {bc.fmt_seconds(seconds['load'])}"
            )
            source = resolve_source(url)
        served = Served(source, workdir / "serve")
        with console.status("baseline (a): the board's SQL; the static page …"):
            facts = board_facts(served.url, home, args.board, duck, workdir / "static")
        info = Table.grid(padding=(0, 2))
        info.add_row(
            "[bold]warehouse[/bold]",
            f"{source.url} (version {source.version}), "
            f"served from a private pointer in {served.paths.path.parent}",
        )
        for table, count in facts.rows.items():
            info.add_row(f"[bold]{table}[/bold]", f"{count:,} rows")
        info.add_row(
            "[bold]board[/bold]",
            f"{facts.board} ({facts.title}), period "
            f"{facts.period} = {facts.period_label} (last complete month; data to "
            f"{facts.latest})",
        )
        info.add_row("[bold]queries[/bold]", "; ".join(facts.routed))
        info.add_row(
            "[bold]SQL medians[/bold]",
            ", ".join(f"{s * 1e3:.1f}" for s in facts.sql_medians) + " ms",
        )

        password = os.urandom(12).hex()
        env = app_env(home, served.url, free_port(), args.workers)
        prepare_home(home)
        add_user(env, "bench", password)
        app = Gunicorn(env, workdir / "gunicorn.log")
        with console.status("starting gunicorn …"):
            app.start()
        browser = Browser(args.timeout)
        print_environment(duck, browser.driver.capabilities.get("browserVersion", "?"))
        console.print(info)
        from screenshots import sign_in

        sign_in(browser.driver, app.base, "bench", password)
        others: dict[str, float] = {}
        page = f"{app.base}/t0/{facts.board}?period={facts.period}"
        began = time.perf_counter()
        with (
            static_server(workdir / "static") as static_url,
            console.status(
                f"{args.runs} warm loads of {page} interleaved with the static "
                f"page, then {args.runs} cold loads …"
            ),
        ):
            warm, cold, static = run_loads(
                browser, app, served, page, static_url, facts, home, args.runs, args.warmup, others
            )
        console.log(f"page loads: {time.perf_counter() - began:.1f} s")
        if args.restarts:
            with console.status(f"{args.restarts} first opens after a restart …"):
                after_start = first_opens(browser, app, page, facts, args.restarts)
            median, low, high, missing = stats(after_start)
            shown_runs = ", ".join(
                "—" if x.seconds is None else f"{x.seconds:.2f}" for x in after_start
            )
            met = median is not None and median < TARGET_FIRST_OPEN and not missing
            console.print(
                f"first open after a start (gunicorn restarted, /healthz answered): median "
                f"{'—' if median is None else f'{median:.2f} s'} of {shown_runs} s, target < "
                f"{TARGET_FIRST_OPEN:.1f} s: {'PASS' if met else 'MISS'}"
            )
            if not met:
                misses.append("first open after a start")
        shown = {
            name: next((x.probe["values"] for x in group if x.probe), None)
            for name, group in (("app", warm), ("static", static))
        }
        if shown["app"] != shown["static"]:
            console.print(
                f"[red]the static page shows other numbers than the app: "
                f"{shown['static']} vs {shown['app']}[/red]"
            )
        table, misses = results_table(warm, cold, static, facts)
        console.print(runs_table(warm, cold, static))
        console.print(
            "CPU used by other processes on this machine while the runs were "
            "timed: "
            + ", ".join(f"{k} {v:.2f}" for k, v in others.items())
            + f" cores (of {os.cpu_count()})"
        )
        console.print(table)
        console.print(breakdown_table({"warm": warm, "cold": cold, "static": static}))
        if misses or args.profile:
            with console.status("profiling the server side in-process …"):
                cold_p, warm_p = server_profile(
                    served, facts.board, facts.period, duck, args.profile_reps
                )
            console.print(profile_table(cold_p, warm_p, args.profile_reps))
            console.print("[bold]Slowest requests of the slowest cold load:[/bold]")
            for line in slowest_requests(cold):
                console.print("  " + line)
            console.print("[bold]… of the slowest warm load:[/bold]")
            for line in slowest_requests(warm):
                console.print("  " + line)
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
        if built and not args.keep:
            bc.remove_tree(built_dir)
        elif built:
            console.print(
                f"kept; reuse with: python bench/page_load.py --db "
                f"duckdb:///{built_dir / 'wh.duckdb'}"
            )
    load1, load5, _ = os.getloadavg()
    console.print(f"load average at the end: {load1:.2f} (1 min), {load5:.2f} (5 min)")
    console.print(f"targets missed: {'; '.join(misses)}" if misses else "every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
