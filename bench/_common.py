"""Shared helpers of the benchmark scripts (``bench/warehouse.py``, ``bench/queries.py``).

Importing this module puts the repository root on ``sys.path`` so that the scripts run as
``python bench/X.py`` from a checkout that is not installed.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

REPO_ROOT = Path(__file__).resolve().parent.parent
# First on the path: ``python bench/queries.py`` puts bench/ at sys.path[0], where this
# script's own name would otherwise hide the ``queries`` package. Import _common first.
if sys.path[:1] != [str(REPO_ROOT)]:
    sys.path.insert(0, str(REPO_ROOT))

OUT_DIR = REPO_ROOT / "bench" / "out"
GB = 1024**3
MB = 1024**2


class BenchError(RuntimeError):
    """A benchmark phase failed; the message says which and why."""


# --------------------------------------------------------------------------- arguments


def parse_count(text: str) -> int:
    """``10000000``, ``10_000_000``, ``10M``, ``500k`` or ``1e7`` as an int."""
    raw = text.strip().replace("_", "").replace(",", "")
    factor = 1
    suffixes = {"k": 10**3, "m": 10**6, "g": 10**9}
    if raw and raw[-1].lower() in suffixes:
        factor = suffixes[raw[-1].lower()]
        raw = raw[:-1]
    try:
        value = float(raw) * factor
    except ValueError:
        raise ValueError(f"not a count: {text!r}") from None
    if value <= 0 or value != int(value):
        raise ValueError(f"not a positive whole count: {text!r}")
    return int(value)


# ------------------------------------------------------------------- the loader's DuckDB settings


@dataclass(frozen=True)
class DuckSettings:
    memory_limit: str
    threads: int

    def config(self) -> dict[str, Any]:
        """The connection config ``app.loader.load`` opens its build file with."""
        # preserve_insertion_order=False is what app.loader.load._connect sets as well.
        return {
            "memory_limit": self.memory_limit,
            "threads": self.threads,
            "preserve_insertion_order": False,
        }

    def describe(self) -> str:
        return (
            f"memory_limit={self.memory_limit}, threads={self.threads}, "
            "preserve_insertion_order=false"
        )


def uncached_runtime(url: str, home: Path, duck: DuckSettings):
    """A standalone runtime on ``url`` with no query cache and the given DuckDB settings,
    for measuring the queries a page would run (a context manager)."""
    from app.core.config import load_settings
    from app.core.runtime import standalone

    return standalone(
        load_settings(
            {
                "db_url": url,
                "cache": "null",
                "home": str(home),
                "duckdb_memory_limit": duck.memory_limit,
                "duckdb_threads": duck.threads,
            },
            environ={},
        )
    )


def loader_defaults() -> DuckSettings:
    """``load()``'s own defaults for memory_limit and threads, read from its signature."""
    from app.loader.load import load

    params = inspect.signature(load).parameters
    return DuckSettings(
        memory_limit=str(params["memory_limit"].default), threads=int(params["threads"].default)
    )


# --------------------------------------------------------------------------- child processes


@dataclass(frozen=True)
class ChildRun:
    """One phase run in its own interpreter: its payload, wall time and peak RSS."""

    payload: dict[str, Any]
    wall_seconds: float  # includes interpreter start-up and imports
    max_rss: int  # bytes, ru_maxrss of that child alone (os.wait4)


def run_child(args: Sequence[str], result_file: Path, label: str) -> ChildRun:
    """Run ``python <args>`` and read the JSON it writes to ``result_file``.

    The child is reaped with ``os.wait4`` so its ``ru_maxrss`` is its own peak, not the
    maximum over every child this process ever waited for (what RUSAGE_CHILDREN gives).
    """
    result_file.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise BenchError(
            f"phase {label!r} failed with exit code {proc.returncode} "
            f"(command: python {' '.join(args)})"
        )
    try:
        payload = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"phase {label!r} wrote no readable result: {exc}") from exc
    finally:
        result_file.unlink(missing_ok=True)
    return ChildRun(payload, wall, usage.ru_maxrss * 1024)  # Linux reports KiB


def write_result(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, default=str), encoding="utf-8")


# --------------------------------------------------------------------------- timing


def timed_runs(fns: Sequence[Callable[[], object]], reps: int, warmup: int) -> list[list[float]]:
    """Seconds per call of each of ``fns``, interleaved (A B, B A, A B, …) so that a noisy
    neighbour slows every side alike; ``warmup`` untimed rounds first."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    order = list(range(len(fns)))
    for rep in range(reps):
        for i in order if rep % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            fns[i]()
            samples[i].append(time.perf_counter() - began)
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- formatting


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 100:
        return f"{seconds:,.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_bytes(size: float | None) -> str:
    if size is None:
        return "–"
    if size >= GB:
        return f"{size / GB:.2f} GB"
    if size >= MB:
        return f"{size / MB:.1f} MB"
    return f"{size / 1024:.1f} KB"


def fmt_count(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def verdict(ok: bool | None) -> str:
    """Rich markup for a target's outcome (None: the target does not apply here)."""
    if ok is None:
        return "[dim]n/a[/dim]"
    return "[bold green]PASS[/bold green]" if ok else "[bold red]MISS[/bold red]"


def environment() -> list[tuple[str, str]]:
    """Versions and machine facts to print above the results."""
    import duckdb
    import sqlalchemy

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    load1, load5, _ = os.getloadavg()
    return [
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("DuckDB", duckdb.__version__),
        ("SQLAlchemy", sqlalchemy.__version__),
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores ({usable} usable), {_total_memory()}",
        ),
        ("load average", f"{load1:.2f} (1 min), {load5:.2f} (5 min) at start"),
    ]


def _total_memory() -> str:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return "memory unknown"
    return f"{fmt_bytes(pages * size)} RAM"


def make_console() -> Console:
    """A rich console; 190 columns wide when the output is not a terminal (files, pipes)."""
    console = Console()
    return console if console.is_terminal else Console(width=190)


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- the demo warehouse


def build_demo_warehouse(
    workdir: Path, interactions: int, seed: int, duck: DuckSettings
) -> tuple[str, dict[str, float]]:
    """Generate Parquet raw files and load them (gates, rollups, publish) under
    ``workdir``; returns the warehouse URL and the seconds of each part."""
    from app.core.config import DEMO_MODEL
    from app.loader.generate import generate
    from app.loader.load import load
    from queries.semantic.rollups import build_rollups

    remove_tree(workdir)
    raw = workdir / "raw"
    url = f"duckdb:///{workdir / 'wh.duckdb'}"
    began = time.perf_counter()
    generate(raw, interactions=interactions, seed=seed, fmt="parquet")
    generated = time.perf_counter()
    load(
        raw,
        url,
        memory_limit=duck.memory_limit,
        threads=duck.threads,
        rollups=lambda path: build_rollups(DEMO_MODEL, path),
    )
    loaded = time.perf_counter()
    remove_tree(raw)
    return url, {"generate": generated - began, "load": loaded - generated}
