"""Run a pipeline project's tasks into one build file: sources, then transforms in dependency
order, independent ones concurrently (one DuckDB cursor per thread), then only the outputs kept.

A *full* build makes every table afresh. An *incremental* build starts from a copy of the live
version's file (app/loader/load.py makes it) and refreshes incremental transforms in place:

* ``by: time`` replaces the rows from ``max(column) - lookback_days`` (the day boundary) on,
  reading only that range of every time-stamped source they read;
* ``by: key`` upserts the rows its SELECT returns, reading only the rows of its time-stamped
  sources newer than the previous run's high-water mark (kept in ``starboard_watermark``).

Everything else is rebuilt in full, so the result equals a full rebuild whenever the
incremental transforms are row-wise over their time-stamped inputs (tests/app/loader).
"""

from __future__ import annotations

import graphlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import duckdb

from app.core.errors import DataError
from app.core.stores.checks import GateResult
from app.loader.gates import GateFailure, blocking, source_gates
from app.loader.project import Project, Transform
from app.loader.sources import first_row, quote, stage_source

WATERMARK_TABLE = "starboard_watermark"
FINGERPRINT_TABLE = "starboard_fingerprint"
UNCHANGED = "unchanged: kept from the live version"
Reporter = Callable[[str], AbstractContextManager[None]]


@contextmanager
def quiet(_name: str) -> Iterator[None]:
    yield


@dataclass
class TaskRun:
    """One task of one run, as the run history keeps it."""

    name: str
    kind: str  # source | transform
    status: str = "pending"  # ok | failed | skipped | pending
    rows: int | None = None
    seconds: float = 0.0
    inputs: tuple[str, ...] = ()
    detail: str = ""  # the error, or how it ran ("full", "incremental from 2026-12-01")


@dataclass
class Plan:
    """What an incremental run reads: per source the time it starts from (None: all)."""

    incremental: bool = False
    since: dict[str, datetime] = field(default_factory=dict)  # source → start
    cutoffs: dict[str, datetime] = field(default_factory=dict)  # by-time transform → start
    watermarks: dict[str, datetime] = field(default_factory=dict)  # by-key source → after
    marks: dict[str, datetime] = field(default_factory=dict)  # every stored high-water mark
    reuse: set[str] = field(default_factory=set)  # outputs kept as the live version has them


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def fingerprints(project: Project) -> dict[str, tuple[str, str | None]]:
    """Per task, (code, state): ``code`` hashes its definition (a source's declaration, a
    transform's SQL and options); ``state`` also its inputs' states and, for files, their
    names, sizes and modification times. A database source's state is None: it can change
    at any time, so what reads it is never "unchanged"."""
    out: dict[str, tuple[str, str | None]] = {}
    for name in project.order():
        state: str | None
        if name in project.sources:
            source = project.sources[name]
            code = _digest(replace(source, line=None))
            if source.is_file:
                stats = []
                for file in source.files(project.root):
                    st = file.stat()
                    stats.append((str(file), st.st_size, st.st_mtime_ns))
                state = _digest(code, stats)
            else:
                state = None
        else:
            t = project.transforms[name]
            code = _digest(t.sql, t.incremental, t.ordered)
            inputs = [out[i][1] for i in t.inputs]
            state = None if any(i is None for i in inputs) else _digest(code, inputs)
        out[name] = (code, state)
    return out


def plan(project: Project, con: duckdb.DuckDBPyConnection | None, outputs: Sequence[str]) -> Plan:
    """Decide the incremental plan from the live tables in ``con`` (a copy of the live file);
    ``con`` None or a missing table means a full build of that transform."""
    if con is None:
        return Plan()
    existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    marks: dict[str, datetime] = {}
    if WATERMARK_TABLE in existing:
        marks = dict(con.execute(f"SELECT source, high FROM {WATERMARK_TABLE}").fetchall())
    stored: dict[str, tuple[str, str | None]] = {}
    if FINGERPRINT_TABLE in existing:
        stored = {
            task: (code, state)
            for task, code, state in con.execute(
                f"SELECT task, code, state FROM {FINGERPRINT_TABLE}"
            ).fetchall()
        }
    now = fingerprints(project)
    result = Plan(incremental=True, marks=marks)
    # an output whose definition and inputs are as the live version built them is kept
    result.reuse = {
        t.name
        for t in project.transforms.values()
        if t.name in existing
        and t.name in outputs
        and now[t.name][1] is not None
        and stored.get(t.name) == now[t.name]
    }
    # a transform whose SQL changed since the live version is rebuilt in full
    existing = {
        n for n in existing if n not in project.transforms or stored.get(n, ("",))[0] == now[n][0]
    }
    consumers: dict[str, list[Transform]] = {}
    for t in project.transforms.values():
        for name in t.inputs:
            consumers.setdefault(name, []).append(t)
    for t in project.transforms.values():
        inc = t.incremental
        if inc is None or t.name not in existing or t.name not in outputs or t.name in result.reuse:
            continue
        if inc.by == "time":
            assert inc.column is not None
            high = first_row(
                con.execute(f"SELECT max({quote(inc.column)}) FROM {quote(t.name)}").fetchone()
            )[0]
            if high is None:
                continue
            day = datetime(high.year, high.month, high.day)
            result.cutoffs[t.name] = day - timedelta(days=inc.lookback_days)
    for name, source in project.sources.items():
        readers = consumers.get(name, [])
        if not source.time or not readers or name in outputs:
            continue
        if all(r.name in result.cutoffs for r in readers):
            result.since[name] = min(result.cutoffs[r.name] for r in readers)
        elif (
            all(
                r.incremental is not None and r.incremental.by == "key" and r.name in existing
                for r in readers
            )
            and name in marks
        ):
            result.watermarks[name] = marks[name]
            result.since[name] = marks[name]
    return result


def run(
    project: Project,
    con: duckdb.DuckDBPyConnection,
    *,
    outputs: Sequence[str],
    incremental: Plan | None = None,
    threads: int = 2,
    step: Reporter = quiet,
    tasks: list[TaskRun] | None = None,
    gates: list[GateResult] | None = None,
) -> list[TaskRun]:
    """Build ``outputs`` (and what they need) into ``con``; drop everything else.

    ``tasks`` receives the task records as they run, so a caller sees them after a failure;
    ``gates`` the sources' gates (a Risk 1 failure stops the run with GateFailure).
    """
    gates = gates if gates is not None else []
    p = incremental or Plan()
    tasks_of = project.tasks
    todo: set[str] = set()
    pending = [n for n in outputs if n in tasks_of and n not in p.reuse]
    while pending:  # what the outputs need, stopping at the outputs kept as they are
        name = pending.pop()
        if name not in todo:
            todo.add(name)
            pending.extend(i for i in tasks_of[name] if i not in p.reuse)
    graph = {n: tuple(i for i in tasks_of[n] if i in todo) for n in todo}
    records = {
        n: TaskRun(n, "source" if n in project.sources else "transform", inputs=tasks_of[n])
        for n in graph
    }
    for name in sorted(p.reuse):
        rows = first_row(con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone())[0]
        records[name] = TaskRun(name, "transform", "ok", int(rows), 0.0, tasks_of[name], UNCHANGED)
    if tasks is not None:
        tasks.extend(records[n] for n in sorted(p.reuse))
        tasks.extend(records[n] for n in graphlib.TopologicalSorter(graph).static_order())
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sb-task") as pool:
        running: dict[Future[int], str] = {}
        while sorter.is_active() and failure is None:
            for name in sorter.get_ready():
                running[pool.submit(_task, project, con, name, p, step, records[name], gates)] = (
                    name
                )
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                exc = future.exception()
                if exc is not None:
                    failure = failure or exc
                else:
                    sorter.done(name)
        for future in running:  # let the tasks already running finish before raising
            future.exception()
    if failure is not None:
        for record in records.values():
            if record.status == "pending":
                record.status = "skipped"
                record.detail = "not run: an earlier task failed"
        raise failure
    _keep_outputs(project, con, outputs, p)
    return list(records.values())


def _task(
    project: Project,
    con: duckdb.DuckDBPyConnection,
    name: str,
    p: Plan,
    step: Reporter,
    record: TaskRun,
    gates: list[GateResult],
) -> int:
    started = time.perf_counter()
    cursor = con.cursor()
    try:
        with step(f"{record.kind} {name}"):
            if name in project.sources:
                since = p.since.get(name)
                source = project.sources[name]
                rows = stage_source(project, source, cursor, since=since)
                record.detail = f"from {since:%Y-%m-%d %H:%M}" if since else "full"
                found = source_gates(source, cursor, rows, partial=since is not None)
                gates.extend(found)
                if blocking(found):
                    record.rows = rows
                    raise GateFailure(blocking(found), list(gates))
            else:
                rows, record.detail = _transform(project.transforms[name], cursor, p)
        record.rows, record.status = rows, "ok"
        return rows
    except BaseException as exc:
        record.status = "failed"
        record.detail = getattr(exc, "message", None) or str(exc).strip().splitlines()[0]
        raise
    finally:
        record.seconds = round(time.perf_counter() - started, 3)
        cursor.close()


def _transform(t: Transform, cursor: duckdb.DuckDBPyConnection, p: Plan) -> tuple[int, str]:
    body = t.sql  # one SELECT, no trailing ';' or comment (app/loader/project.py)
    target = quote(t.name)
    if t.ordered:
        cursor.execute("SET SESSION preserve_insertion_order = true")
    try:
        try:
            if t.name in p.cutoffs:
                assert t.incremental is not None and t.incremental.column is not None
                column = quote(t.incremental.column)
                since = p.cutoffs[t.name]
                cursor.execute(f"DELETE FROM {target} WHERE {column} >= ?", [since])
                cursor.execute(
                    f"INSERT INTO {target} SELECT * FROM (\n{body}\n) AS t WHERE {column} >= ?",
                    [since],
                )
                how = f"incremental from {since:%Y-%m-%d}"
            elif (
                t.incremental is not None
                and t.incremental.by == "key"
                and any(s in p.watermarks for s in t.inputs)
            ):
                keys = ", ".join(quote(k) for k in t.incremental.key)
                cursor.execute(f"CREATE OR REPLACE TEMP TABLE sb_delta AS\n{body}")
                cursor.execute(
                    f"DELETE FROM {target} WHERE ({keys}) IN (SELECT ({keys}) FROM sb_delta)"
                )
                cursor.execute(f"INSERT INTO {target} SELECT * FROM sb_delta")
                delta = first_row(cursor.execute("SELECT count(*) FROM sb_delta").fetchone())[0]
                cursor.execute("DROP TABLE sb_delta")
                how = f"upserted {delta:,} row(s)"
            else:
                cursor.execute(f"CREATE OR REPLACE TABLE {target} AS\n{body}")
                how = "full"
        except duckdb.Error as exc:
            raise DataError(
                f"Transform {t.file.name} failed: {str(exc).strip().splitlines()[0]}"
            ) from exc
    finally:
        if t.ordered:
            cursor.execute("RESET SESSION preserve_insertion_order")
    rows = first_row(cursor.execute(f"SELECT count(*) FROM {target}").fetchone())[0]
    return int(rows), how


def _keep_outputs(
    project: Project, con: duckdb.DuckDBPyConnection, outputs: Sequence[str], p: Plan
) -> None:
    """Drop sources and intermediate transforms; remember the sources' high-water marks."""
    marks = []
    staged = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    needed = project.upstream(outputs)
    for name, source in project.sources.items():
        if not source.time or name not in needed:
            continue
        before = p.watermarks.get(name, p.marks.get(name))
        high = None
        if name in staged:
            high = first_row(
                con.execute(f"SELECT max({quote(source.time)}) FROM {quote(name)}").fetchone()
            )[0]
        if high is None or (before is not None and high < before):
            high = before
        if high is not None:
            marks.append((name, high))
    keep = set(outputs)
    for name in needed:
        if name not in keep:
            con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
    con.execute(f"CREATE OR REPLACE TABLE {WATERMARK_TABLE} (source VARCHAR, high TIMESTAMP)")
    if marks:
        con.executemany(f"INSERT INTO {WATERMARK_TABLE} VALUES (?, ?)", marks)
    con.execute(
        f"CREATE OR REPLACE TABLE {FINGERPRINT_TABLE} (task VARCHAR, code VARCHAR, state VARCHAR)"
    )
    con.executemany(
        f"INSERT INTO {FINGERPRINT_TABLE} VALUES (?, ?, ?)",
        [[task, code, state] for task, (code, state) in fingerprints(project).items()],
    )
