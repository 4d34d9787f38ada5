"""Load and fault benchmark: many simulated users against a real gunicorn.

Starts ``gunicorn -c gunicorn.conf.py app.wsgi:server`` on a free port of 127.0.0.1 with a
temporary STARBOARD_HOME, signs users in through the /login form (CSRF included) and lets
N simulated users (default 50) mix three kinds of work, each followed by a think time
(exponential, mean ``--think``, 10 s: a busy person; with 0–2 s it is a stress test):

- ``t0_open``:   a Tier 0 board opened as a browser does (page HTML, ``_dash-layout``,
                 ``_dash-dependencies``, the router callback that renders the board);
- ``t1_filter``: a Tier 1 filter or date change (the router callback for the new URL);
- ``t2_explore``: a Tier 2 exploration on /t2/explore as the browser runs it: the page's
                 background callback started, then polled every 300 ms (the page's
                 ``interval``) until the result arrives;
- ``t2_query``:  a Tier 2 query as ``POST /api/v1/query`` with an analyst's token.

An action is one of these (a ``t0_open`` is four HTTP requests). Besides actions per
second, each phase reports actions per second of worker CPU (user + system time of the
gunicorn workers): the throughput of one core, even on a machine shared with other work.

Phases (``--phases``): ``load`` (plain), ``refresh`` (a full ``starboard load`` of the same
raw files publishes a new data version mid-run), and three faults: ``redis`` (a private
redis-server holding the cache is shut down mid-run and started again), ``warehouse`` (the
live version file is renamed away mid-run and put back) and ``worker`` (one worker is
SIGKILLed mid-run). Each prints actions/s, p50/p95/p99 per kind, errors, and the RSS of
every worker sampled every few seconds.

The warehouse is always a private copy: ``--db`` names one to copy (the live version file
and its pointer); without it a small demo is generated. Nothing is ever published into
the ``--db`` directory. A full run (default durations) takes about 12 minutes.

    python bench/load.py --users 5 --duration 15 --fault-duration 15     # a short check
    python bench/load.py --db duckdb:////work/bench-data/wh10m/wh.duckdb  # the full run
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as bc  # first of the project imports: puts the repository root on sys.path
import page_load as pl
import psutil
import requests
from rich.console import Console
from rich.table import Table

from app.core.config import load_settings
from app.core.errors import StarboardError
from app.core.pointer import WarehousePaths, duckdb_path, read_pointer
from app.core.runtime import standalone
from queries.boards import tier1
from queries.boards.tier0 import tier0_boards
from queries.explore.state import ExploreState, filter_text_of, state_to_search
from queries.semantic.parse import query_from_json
from queries.semantic.run import current_model, explain, latest_day

console = Console(width=150)
PASSWORD = "load-bench-password-1"
KINDS = ("t0_open", "t1_filter", "t2_explore", "t2_query")
WEIGHTS = (0.4, 0.4, 0.1, 0.1)
EXPLORE_OUTPUT = "..t2-result.children...t2-query.children.."
EXPLORE_POLL = 0.3  # the explorer's background-callback interval
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
PHASES = ("load", "refresh", "redis", "warehouse", "worker")
TARGET_P95 = 1.0


# --------------------------------------------------------------------------- the work plan


@dataclass
class Plan:
    """What simulated users can ask for: Tier 0 boards, Tier 1 URLs, API queries."""

    t0_paths: list[str]
    t1_views: list[tuple[str, str]]  # (path, search)
    t2_queries: list[dict[str, Any]]


def make_plan(url: str, home: Path, rng: random.Random) -> Plan:
    """Board paths, Tier 1 filter URLs and API queries valid for this warehouse."""
    settings = load_settings({"home": str(home), "db_url": url, "cache": "null"}, environ={})
    with standalone(settings) as runtime:
        model = current_model(runtime)
        latest = latest_day(runtime)
        if latest is None:
            raise bc.BenchError("the warehouse holds no dated facts")
        t0 = [f"/t0/{b.name}" for b in tier0_boards(model)]
        views: list[tuple[str, str]] = []
        queries: list[dict[str, Any]] = []
        for board in tier1.tier1_boards(model):
            path = f"/t1/{board.name}"
            dims = tier1.board_dimensions(model, board)
            values = {d: tier1.dimension_values(d, runtime)[:8] for d in dims}
            for key, _label in tier1.PRESETS:
                first, last = tier1.preset_range(key, latest)
                state = tier1.State(first, last)
                views.append((path, tier1.encode_state(state)))
                for dim in dims:
                    for value in values[dim][:4]:
                        views.append((path, tier1.encode_state(state.with_filter(dim, (value,)))))
            metrics = [
                m
                for section in board.sections
                for chart in section.charts
                for m in (*chart.metrics, *([chart.metric] if chart.metric else []))
            ]
            metrics = sorted(set(metrics) or {"revenue"})
            for metric in metrics:
                for dim in dims:
                    for value in values[dim][:3]:
                        queries.append(
                            {
                                "metrics": [metric],
                                "dimensions": ["date:week"],
                                "filters": [{"dimension": dim, "op": "=", "value": value}],
                            }
                        )
                    queries.append({"metrics": [metric], "dimensions": [dim]})
        queries = [q for q in queries if _valid(q, model, runtime)]
    if not t0 or not views or not queries:
        raise bc.BenchError("the model has no Tier 0 or Tier 1 boards to load")
    rng.shuffle(views)
    rng.shuffle(queries)
    return Plan(t0, views, queries)


def _valid(query: dict[str, Any], model: Any, runtime: Any) -> bool:
    """The API would accept it: it compiles against this model and warehouse."""
    try:
        explain(query_from_json(query, model), runtime=runtime)
    except StarboardError:
        return False
    return True


# --------------------------------------------------------------------------- users


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=bc.REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise bc.BenchError(f"starboard {' '.join(args)} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def add_users(env: dict[str, str]) -> str:
    """exec (executive), op (operator), ana (analyst, with an API token): the token."""
    for name, role in (("exec", "executive"), ("op", "operator"), ("ana", "analyst")):
        cli(env, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    token = cli(env, "users", "token", "ana", "--label", "load bench").strip().splitlines()[-1]
    return token.strip()


def sign_in(base: str, name: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/login", timeout=30).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not match:
        raise bc.BenchError("no CSRF token on /login")
    response = session.post(
        base + "/login",
        allow_redirects=False,
        timeout=30,
        data={"csrf_token": match.group(1), "username": name, "password": PASSWORD, "next": "/"},
    )
    if response.status_code != 302:
        raise bc.BenchError(f"sign-in as {name} failed: HTTP {response.status_code}")
    return session


def explore_search(query: dict[str, Any]) -> str:
    """The explorer URL state of an API query (same metrics, dimensions and filters)."""
    where = tuple(
        filter_text_of(f["dimension"], f["op"], str(f["value"])) for f in query.get("filters", ())
    )
    return state_to_search(
        ExploreState(
            metrics=tuple(query["metrics"]), by=tuple(query.get("dimensions", ())), where=where
        )
    )


def explore_body(search: str) -> dict[str, Any]:
    return {
        "output": EXPLORE_OUTPUT,
        "outputs": [
            {"id": "t2-result", "property": "children"},
            {"id": "t2-query", "property": "children"},
        ],
        "inputs": [{"id": "t2-state", "property": "data", "value": search}],
        "changedPropIds": ["t2-state.data"],
        "state": [],
    }


def router_body(path: str, search: str) -> dict[str, Any]:
    return {
        "output": ROUTER_OUTPUT,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


# --------------------------------------------------------------------------- results


@dataclass
class Outcome:
    kind: str
    seconds: float
    ok: bool  # the user got what they asked for
    degraded: bool  # an error tile or a 503: expected during a fault, not a crash
    detail: str = ""


@dataclass
class Recorder:
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


class SimUser(threading.Thread):
    """One person: signs in, then opens boards, changes filters, runs queries, thinks."""

    def __init__(
        self,
        index: int,
        base: str,
        plan: Plan,
        token: str,
        record: Recorder,
        stop: threading.Event,
        think: float,
        seed: int,
    ) -> None:
        super().__init__(name=f"user-{index}", daemon=True)
        self.base, self.plan, self.token, self.record = base, plan, token, record
        self.stop_event, self.think = stop, think
        self.rng = random.Random(seed)
        self.sessions: dict[str, requests.Session] = {}

    def session(self, name: str) -> requests.Session:
        if name not in self.sessions:
            self.sessions[name] = sign_in(self.base, name)
        return self.sessions[name]

    def prepare(self) -> None:
        """Sign in before the clock starts (password hashing is not what is measured)."""
        for name in ("exec", "op", "ana"):
            self.session(name)

    def run(self) -> None:
        time.sleep(self.rng.uniform(0, self.think))  # users do not all arrive at once
        while not self.stop_event.is_set():
            kind = self.rng.choices(KINDS, WEIGHTS)[0]
            started = time.perf_counter()
            try:
                ok, degraded, detail = getattr(self, kind)()
            except (requests.RequestException, bc.BenchError) as exc:
                ok, degraded, detail = False, False, f"{type(exc).__name__}: {exc}"[:200]
                self.sessions.clear()  # sign in again next time
            self.record.add(Outcome(kind, time.perf_counter() - started, ok, degraded, detail))
            self.stop_event.wait(self.rng.expovariate(1 / self.think) if self.think else 0)

    @staticmethod
    def _judge(response: requests.Response, expect: str | None = None) -> tuple[bool, bool, str]:
        if response.status_code == 200:
            text = response.text
            if "sb-error" in text:
                return False, True, "error tile"
            if expect and expect not in text:
                return False, False, f"200 without {expect!r}"
            return True, False, ""
        if response.status_code == 503:
            return False, True, "503"
        return False, False, f"HTTP {response.status_code}: {response.text[:120]}"

    def t0_open(self) -> tuple[bool, bool, str]:
        s = self.session("exec")
        path = self.rng.choice(self.plan.t0_paths)
        for url in (path, "/_dash-layout", "/_dash-dependencies"):
            response = s.get(self.base + url, timeout=60)
            if response.status_code != 200:
                return self._judge(response)
        return self._judge(
            s.post(self.base + "/_dash-update-component", json=router_body(path, ""), timeout=60)
        )

    def t1_filter(self) -> tuple[bool, bool, str]:
        s = self.session("op")
        path, search = self.rng.choice(self.plan.t1_views)
        return self._judge(
            s.post(
                self.base + "/_dash-update-component", json=router_body(path, search), timeout=60
            )
        )

    def t2_explore(self) -> tuple[bool, bool, str]:
        s = self.session("ana")
        search = explore_search(self.rng.choice(self.plan.t2_queries))
        body = explore_body(search)
        started = s.post(self.base + "/_dash-update-component", json=body, timeout=60)
        if started.status_code != 200:
            return self._judge(started)
        handles = started.json()
        if "response" in handles:  # served from the background cache at once
            return self._explored(handles["response"])
        poll = f"?cacheKey={handles['cacheKey']}&job={handles['job']}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(EXPLORE_POLL)
            polled = s.post(self.base + "/_dash-update-component" + poll, json=body, timeout=60)
            if polled.status_code not in (200, 204):
                return self._judge(polled)
            answer = polled.json() if polled.content else {}
            if "response" in answer:
                return self._explored(answer["response"])
        return False, False, "the exploration did not finish in 120 s"

    @staticmethod
    def _explored(response: dict[str, Any]) -> tuple[bool, bool, str]:
        """A result grid or chart is success; the page's error box is a degraded answer."""
        text = json.dumps(response.get("t2-result", {}))
        if (
            any(f'"{id_}"' in text for id_ in ("t2-table", "t2-graph", "t2-pivot"))
            or "No rows match" in text
        ):
            return True, False, ""
        if "sb-error" in text or "could not" in text:
            return False, True, "error box"
        return False, False, f"unexpected explorer answer: {text[:160]}"

    def t2_query(self) -> tuple[bool, bool, str]:
        query = self.rng.choice(self.plan.t2_queries)
        response = requests.post(
            self.base + "/api/v1/query",
            json=query,
            timeout=120,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return self._judge(response, '"rows"')


class MemorySampler(threading.Thread):
    """RSS of every gunicorn worker every ``every`` seconds."""

    def __init__(self, master_pid: int, every: float = 3.0) -> None:
        super().__init__(name="rss", daemon=True)
        self.master = psutil.Process(master_pid)
        self.every = every
        self.samples: dict[int, list[float]] = defaultdict(list)
        self.cpu: dict[int, list[float]] = defaultdict(list)  # user + system seconds
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                for worker in self.master.children():
                    try:
                        rss = worker.memory_info().rss / bc.MB
                        times = worker.cpu_times()
                        self.samples[worker.pid].append(rss)
                        self.cpu[worker.pid].append(times.user + times.system)
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                return
            self.stop_event.wait(self.every)


# --------------------------------------------------------------------------- phases


@dataclass
class PhaseResult:
    name: str
    seconds: float
    outcomes: list[Outcome]
    memory: dict[int, list[float]]
    events: list[str]
    cpu_seconds: float = 0.0  # CPU the workers used during the phase

    @property
    def per_cpu_second(self) -> float | None:
        """Actions served per second of worker CPU: throughput per core, whatever else
        shares the machine."""
        return len(self.outcomes) / self.cpu_seconds if self.cpu_seconds else None


def run_phase(
    name: str,
    base: str,
    plan: Plan,
    token: str,
    users: int,
    duration: float,
    think: float,
    master_pid: int,
    seed: int,
    fault: Any = None,
) -> PhaseResult:
    """``users`` simulated users for ``duration`` seconds; ``fault(stop_event, events)``
    runs beside them (it injects and heals its fault)."""
    record = Recorder()
    stop = threading.Event()
    crowd = [
        SimUser(i, base, plan, token, record, stop, think, seed * 1000 + i) for i in range(users)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda u: u.prepare(), crowd))
    sampler = MemorySampler(master_pid)
    sampler.start()
    events: list[str] = []
    started = time.perf_counter()
    for user in crowd:
        user.start()
    injector = None
    if fault is not None:
        injector = threading.Thread(target=fault, args=(stop, events, started), daemon=True)
        injector.start()
    stop.wait(duration)
    stop.set()
    for user in crowd:
        user.join(150)
    ran = time.perf_counter() - started  # a refresh may outlast the users
    if injector is not None:
        injector.join(600)
    sampler.stop_event.set()
    sampler.join(10)
    cpu = sum(v[-1] - v[0] for v in sampler.cpu.values() if v)
    return PhaseResult(name, ran, record.outcomes, dict(sampler.samples), events, cpu)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def phase_table(result: PhaseResult) -> Table:
    table = Table(
        "kind",
        "done",
        "actions/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "degraded",
        title=f"Phase {result.name}: {result.seconds:.0f} s",
    )
    for kind in (*KINDS, "all"):
        picked = [o for o in result.outcomes if kind in ("all", o.kind)]
        times = [o.seconds for o in picked if o.ok]
        errors = sum(1 for o in picked if not o.ok and not o.degraded)
        degraded = sum(1 for o in picked if o.degraded)

        def ms(q: float, times=times) -> str:
            value = _pct(times, q)
            return "—" if value is None else f"{value * 1000:.0f}"

        table.add_row(
            kind,
            f"{len(picked):,}",
            f"{len(picked) / result.seconds:.1f}",
            ms(0.5),
            ms(0.95),
            ms(0.99),
            str(errors),
            str(degraded),
            style="red" if errors else None,
        )
    return table


def memory_table(result: PhaseResult) -> Table:
    table = Table(
        "worker pid",
        "samples",
        "start MB",
        "end MB",
        "max MB",
        title=f"Phase {result.name}: worker RSS",
    )
    for pid, values in sorted(result.memory.items()):
        table.add_row(
            str(pid),
            str(len(values)),
            f"{values[0]:.0f}",
            f"{values[-1]:.0f}",
            f"{max(values):.0f}",
        )
    return table


def error_samples(result: PhaseResult, top: int = 5) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for o in result.outcomes:
        if not o.ok and not o.degraded:
            counts[f"{o.kind}: {o.detail}"] += 1
    return [f"{n}× {text}" for text, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]


# --------------------------------------------------------------------------- set-up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_warehouse(url: str, target_dir: Path) -> str:
    """The live version of ``url`` (pointer + its file) copied to ``target_dir``."""
    source = WarehousePaths(duckdb_path(url))
    target = WarehousePaths(target_dir / source.path.name)
    target_dir.mkdir(parents=True, exist_ok=True)
    pointer = read_pointer(source)
    if pointer is None:
        raise bc.BenchError(f"{url} has no published version (no {source.pointer.name})")
    console.print(f"copying {pointer['file']} to {target_dir} …")
    shutil.copy2(source.path.with_name(pointer["file"]), target.path.with_name(pointer["file"]))
    shutil.copy2(source.pointer, target.pointer)
    return f"duckdb:///{target.path}"


def build_demo(env: dict[str, str], work: Path, interactions: int) -> tuple[str, Path]:
    raw = work / "raw"
    url = f"duckdb:///{work / 'wh' / 'warehouse.duckdb'}"
    console.print(f"generating a {interactions:,}-interaction demo in {work} …")
    cli(env, "generate", str(raw), "--interactions", str(interactions))
    cli(env, "load", str(raw), "--db", url)
    return url, raw


def live_file(url: str) -> Path:
    paths = WarehousePaths(duckdb_path(url))
    pointer = read_pointer(paths)
    assert pointer is not None
    return paths.path.with_name(pointer["file"])


def data_version(base: str) -> str | None:
    try:
        return requests.get(base + "/healthz", timeout=5).json().get("data_version")
    except (requests.RequestException, ValueError):
        return None


def readiness(base: str) -> int:
    try:
        return requests.get(base + "/readyz", timeout=5).status_code
    except requests.RequestException:
        return 0


# --------------------------------------------------------------------------- faults


def refresh_fault(env: dict[str, str], raw: Path, url: str, base: str, at: float):
    def inject(stop: threading.Event, events: list[str], started: float) -> None:
        stop.wait(at)
        before = data_version(base)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "app", "load", str(raw), "--db", url],
            cwd=bc.REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            events.append(f"starboard load FAILED after {took:.0f} s: {proc.stderr.strip()[-300:]}")
            return
        time.sleep(0.5)
        events.append(
            f"starboard load published {before} → {data_version(base)} in "
            f"{took:.0f} s (started at +{at:.0f} s)"
        )

    return inject


def redis_fault(port: int, redis_dir: Path, at: float, back_after: float, start_redis):
    def inject(stop: threading.Event, events: list[str], started: float) -> None:
        stop.wait(at)
        subprocess.run(
            ["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True, timeout=10
        )
        events.append(f"redis on port {port} shut down at +{time.perf_counter() - started:.0f} s")
        stop.wait(back_after)
        start_redis()
        events.append(f"redis started again at +{time.perf_counter() - started:.0f} s")

    return inject


def warehouse_fault(url: str, base: str, at: float, back_after: float):
    def inject(stop: threading.Event, events: list[str], started: float) -> None:
        stop.wait(at)
        live = live_file(url)
        away = live.with_name(live.name + ".away")
        live.rename(away)
        time.sleep(1.0)
        events.append(
            f"{live.name} renamed away at +{time.perf_counter() - started:.0f} s; "
            f"/readyz → {readiness(base)}"
        )
        stop.wait(back_after)
        away.rename(live)
        time.sleep(1.0)
        events.append(
            f"put back at +{time.perf_counter() - started:.0f} s; /readyz → {readiness(base)}"
        )

    return inject


def worker_fault(master_pid: int, at: float):
    def inject(stop: threading.Event, events: list[str], started: float) -> None:
        stop.wait(at)
        master = psutil.Process(master_pid)
        victim = master.children()[0]
        victim.send_signal(signal.SIGKILL)
        events.append(f"SIGKILL worker {victim.pid} at +{time.perf_counter() - started:.0f} s")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = [w.pid for w in master.children()]
            if victim.pid not in pids and len(pids) >= 1 and len(pids) == WORKERS[0]:
                events.append(
                    f"replaced by {sorted(set(pids))} after {time.perf_counter() - started:.0f} s"
                )
                return
            time.sleep(0.2)
        events.append("the killed worker was NOT replaced within 60 s")

    return inject


WORKERS = [2]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--db", help="warehouse to copy: duckdb:///path/wh.duckdb (or a path)")
    parser.add_argument(
        "--raw", type=Path, help="raw files for the refresh phase (default: <db dir>/raw)"
    )
    parser.add_argument(
        "--interactions",
        type=bc.parse_count,
        default=200_000,
        help="size of the generated demo without --db (default 200k)",
    )
    parser.add_argument("--users", type=int, default=50, help="simulated users (50)")
    parser.add_argument(
        "--duration", type=float, default=180, help="seconds of the load and refresh phases (180)"
    )
    parser.add_argument(
        "--fault-duration", type=float, default=60, help="seconds of each fault phase (60)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=10.0,
        help="mean think time of a user between actions, seconds (10: a busy "
        "person; 0-2 is a stress test)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help="STARBOARD_MAX_REQUESTS of the served gunicorn (default: the app's, 10000)",
    )
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; use {', '.join(PHASES)}")
    if args.users < 1 or args.duration <= 0 or args.fault_duration <= 0 or args.think < 0:
        parser.error("--users, --duration and --fault-duration must be positive, --think ≥ 0")
    if args.db and not args.db.startswith("duckdb:///"):
        args.db = f"duckdb:///{Path(args.db).resolve()}"
    args.phases = phases
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    WORKERS[0] = args.workers
    work = Path(tempfile.mkdtemp(prefix="sb-load-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("STARBOARD_")}
    results: list[PhaseResult] = []
    redis_procs: list[subprocess.Popen] = []
    try:
        home = work / "home"
        home.mkdir()
        env0 = dict(
            base_env, STARBOARD_HOME=str(home), XDG_RUNTIME_DIR=str(home), PYTHONUNBUFFERED="1"
        )
        if args.db:
            url = copy_warehouse(args.db, work / "wh")
            raw = args.raw or duckdb_path(args.db).parent / "raw"
        else:
            url, raw = build_demo(env0, work / "demo", args.interactions)
        port = free_port()
        env = pl.app_env(home, url, port, args.workers)
        env["STARBOARD_THREADS"] = str(args.threads)
        if args.max_requests is not None:
            env["STARBOARD_MAX_REQUESTS"] = str(args.max_requests)
        pl.prepare_home(home)
        token = add_users(env)
        plan = make_plan(url, work / "plan-home", random.Random(args.seed))
        console.print(
            f"plan: {len(plan.t0_paths)} Tier 0 boards, {len(plan.t1_views)} "
            f"Tier 1 views, {len(plan.t2_queries)} API queries; {args.users} users, "
            f"{args.workers} workers × {args.threads} threads; "
            f"{os.cpu_count()} CPUs"
        )

        def serve(extra: dict[str, str], label: str) -> pl.Gunicorn:
            app = pl.Gunicorn(dict(env, **extra), work / f"gunicorn-{label}.log")
            app.start()
            return app

        for phase in args.phases:
            extra: dict[str, str] = {}
            fault = None
            duration = args.duration if phase in ("load", "refresh") else args.fault_duration
            redis_port = free_port()
            if phase == "redis":
                if not shutil.which("redis-server"):
                    console.print("[yellow]redis phase skipped: no redis-server[/]")
                    continue

                def start_redis(p=redis_port) -> None:
                    proc = subprocess.Popen(
                        [
                            "redis-server",
                            "--port",
                            str(p),
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            str(work),
                        ],
                        stdout=subprocess.DEVNULL,
                    )
                    redis_procs.append(proc)
                    time.sleep(0.5)

                start_redis()
                extra = {
                    "STARBOARD_CACHE": "redis",
                    "STARBOARD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                }
            if (
                phase == "refresh"
                and not (raw / "interactions.parquet").exists()
                and not any(raw.glob("interactions*"))
            ):
                console.print(f"[yellow]refresh phase skipped: no raw files in {raw}[/]")
                continue
            app = serve(extra, phase)
            base = app.base
            try:
                assert app.proc is not None
                if phase == "refresh":
                    fault = refresh_fault(env, raw, url, base, duration / 4)
                elif phase == "redis":
                    fault = redis_fault(redis_port, work, duration / 3, duration / 3, start_redis)
                elif phase == "warehouse":
                    fault = warehouse_fault(url, base, duration / 3, duration / 3)
                elif phase == "worker":
                    fault = worker_fault(app.proc.pid, duration / 3)
                console.print(f"[bold]phase {phase}[/]: {duration:.0f} s …")
                result = run_phase(
                    phase,
                    base,
                    plan,
                    token,
                    args.users,
                    duration,
                    args.think,
                    app.proc.pid,
                    args.seed,
                    fault,
                )
                log = app.log_since(0)
                crashes = sum(
                    1
                    for *_x, status, _ms in pl.access_lines(log)
                    if status >= 500 and status != 503
                )
                result.events.append(
                    f"5xx other than 503 in the access log: {crashes}"
                    f"; tracebacks: {log.count('Traceback')}; cache warnings: "
                    f"{log.count('running uncached')}; tier0 warms: "
                    f"{log.count('tier0 warm:')}"
                )
                results.append(result)
                console.print(phase_table(result))
                console.print(memory_table(result))
                for line in result.events + error_samples(result):
                    console.print("  " + line, highlight=False)
            finally:
                app.stop()
                for proc in redis_procs:
                    if proc.poll() is None:
                        proc.terminate()
                        proc.wait(10)
        summary(results)
        out = bc.OUT_DIR / "load.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([_jsonable(r) for r in results], indent=1))
        console.print(f"results: {out}")
        return 0 if all(_passed(r) for r in results) else 1
    finally:
        for proc in redis_procs:
            if proc.poll() is None:
                proc.terminate()
        if args.keep:
            console.print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _passed(result: PhaseResult) -> bool:
    errors = sum(1 for o in result.outcomes if not o.ok and not o.degraded)
    if result.name in ("load", "refresh"):
        degraded = sum(1 for o in result.outcomes if o.degraded)
        return (
            errors == 0
            and degraded == 0
            and all(
                (_pct([o.seconds for o in result.outcomes if o.kind == k and o.ok], 0.95) or 0)
                < TARGET_P95
                for k in ("t0_open", "t1_filter")
            )
        )
    return True  # faults are judged by reading their table and events


def summary(results: list[PhaseResult]) -> None:
    table = Table(
        "phase",
        "actions",
        "actions/s",
        "per CPU-s",
        "t0 p95 ms",
        "t1 p95 ms",
        "explore p95 ms",
        "API p95 ms",
        "errors",
        "degraded",
        "RSS start→half→end (max) MB",
        "verdict",
        title="Summary (targets: 0 errors in load/refresh, Tier 0/1 p95 < 1 s)",
    )
    for r in results:

        def p95(kind: str, r=r) -> str:
            value = _pct([o.seconds for o in r.outcomes if o.kind == kind and o.ok], 0.95)
            return "—" if value is None else f"{value * 1000:.0f}"

        starts = [v[0] for v in r.memory.values() if v]
        halves = [v[len(v) // 2] for v in r.memory.values() if v]  # growth after half-time
        ends = [v[-1] for v in r.memory.values() if v]  # is what "stable" rules out
        peak = max((max(v) for v in r.memory.values() if v), default=0)
        rss = (
            f"{statistics.mean(starts):.0f}→{statistics.mean(halves):.0f}→"
            f"{statistics.mean(ends):.0f} ({peak:.0f})"
            if starts
            else "—"
        )
        errors = sum(1 for o in r.outcomes if not o.ok and not o.degraded)
        degraded = sum(1 for o in r.outcomes if o.degraded)
        verdict = (
            ("pass" if _passed(r) else "FAIL") if r.name in ("load", "refresh") else "see events"
        )
        per_cpu = r.per_cpu_second
        table.add_row(
            r.name,
            f"{len(r.outcomes):,}",
            f"{len(r.outcomes) / r.seconds:.1f}",
            "—" if per_cpu is None else f"{per_cpu:.1f}",
            p95("t0_open"),
            p95("t1_filter"),
            p95("t2_explore"),
            p95("t2_query"),
            str(errors),
            str(degraded),
            rss,
            verdict,
        )
    console.print(table)


def _jsonable(r: PhaseResult) -> dict[str, Any]:
    by_kind = {}
    for kind in KINDS:
        times = [o.seconds for o in r.outcomes if o.kind == kind and o.ok]
        by_kind[kind] = {
            "n": sum(1 for o in r.outcomes if o.kind == kind),
            "p50": _pct(times, 0.5),
            "p95": _pct(times, 0.95),
            "p99": _pct(times, 0.99),
            "errors": sum(1 for o in r.outcomes if o.kind == kind and not o.ok and not o.degraded),
            "degraded": sum(1 for o in r.outcomes if o.kind == kind and o.degraded),
        }
    return {
        "phase": r.name,
        "seconds": r.seconds,
        "kinds": by_kind,
        "events": r.events,
        "worker_cpu_seconds": r.cpu_seconds,
        "actions_per_cpu_second": r.per_cpu_second,
        "rss_mb": {
            str(pid): {"start": v[0], "half": v[len(v) // 2], "end": v[-1], "max": max(v)}
            for pid, v in r.memory.items()
            if v
        },
    }


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bc.BenchError as exc:
        console.print(f"[red]{exc}[/]")
        sys.exit(2)
