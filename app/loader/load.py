"""``starboard load``: a pipeline project → sources → transforms → gates → rollups → publish.

Everything is built in a new versioned DuckDB file (an incremental run starts from a copy of
the live one). Only when every Risk 1 gate passed and the file is closed does the pointer move
to it; any failure deletes the new file and leaves the live warehouse byte-for-byte as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from app.core.errors import DataError
from app.core.pointer import WarehousePaths, duckdb_path, read_pointer
from app.core.stores.checks import GateResult
from app.loader import gates as gates_mod
from app.loader.gates import GateFailure, GateThresholds
from app.loader.pipeline import TaskRun, plan, run
from app.loader.project import Project, load_project
from app.loader.publish import check_writable, loader_lock, new_version, prune, swap_pointer
from app.loader.sources import first_row, quote

__all__ = ["GateFailure", "LoadResult", "load"]

PUBLISH_TABLE = "starboard_publish"
GATE_TABLE = "starboard_gate"

PUBLISH_DDL = f"""
CREATE TABLE IF NOT EXISTS {PUBLISH_TABLE} (
    version VARCHAR PRIMARY KEY, published_at TIMESTAMP, source VARCHAR,
    row_counts VARCHAR, dq_score DOUBLE, gates_total INTEGER, gates_failed INTEGER,
    risk1_failed INTEGER, seconds DOUBLE, data_from TIMESTAMP, data_to TIMESTAMP
)"""
GATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {GATE_TABLE} (
    version VARCHAR, "check" VARCHAR, table_name VARCHAR, column_name VARCHAR, risk INTEGER,
    passed BOOLEAN, observed DOUBLE, threshold DOUBLE, detail VARCHAR, weight DOUBLE
)"""

Reporter = Callable[[str], AbstractContextManager[None]]
# Builds the model's rollups into the (closed) new file; returns the tables it created. An
# incremental run passes ``since`` (fact → the start of the refreshed days) as well.
RollupBuilder = Callable[..., list[str]]
# Runs the model's data quality checks on the (closed) new file, given the loader's gates and
# the previous row counts (an incremental run adds ``since``: table → (time column, start),
# the rows it refreshed); returns the gates to publish with (app/cli/pipeline.py injects it).
ModelChecks = Callable[..., list[GateResult]]


@dataclass
class LoadResult:
    version: str
    file: Path
    published_at: datetime
    row_counts: dict[str, int]
    gates: list[GateResult]
    dq_score: float
    steps: list[tuple[str, float]] = field(default_factory=list)
    rollups: list[str] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)
    tasks: list[TaskRun] = field(default_factory=list)
    mode: str = "full"  # full | incremental


@contextmanager
def _quiet(_name: str) -> Iterator[None]:
    yield


def _connect(path: Path, memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        str(path),
        config={
            "memory_limit": memory_limit,
            "threads": threads,
            "preserve_insertion_order": False,
        },
    )


def previous_publish(paths: WarehousePaths) -> Path | None:
    """The file of the live version, if any."""
    pointer = read_pointer(paths, strict=False)
    if pointer is None:
        return None
    file = paths.path.with_name(pointer["file"])
    return file if file.exists() else None


def load(
    project: Path | str | Project,
    db_url: str,
    *,
    outputs: Sequence[str] | None = None,
    time_columns: Mapping[str, str] | None = None,
    incremental: bool = False,
    thresholds: GateThresholds | None = None,
    memory_limit: str = "2GB",
    threads: int = 2,
    rollups: RollupBuilder | None = None,
    step: Reporter = _quiet,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    fail_after: str | None = None,
    previous_counts: dict[str, int] | None = None,
    checks: ModelChecks | None = None,
    tasks: list[TaskRun] | None = None,
) -> LoadResult:
    """Build the pipeline ``project`` and publish it as a new version of the warehouse at
    ``db_url``.

    ``outputs`` are the tables to publish (the model's tables; default: the project's
    ``outputs:`` or every transform); ``time_columns`` (table → own time column) give the
    data's span. ``incremental`` starts from a copy of the live version and refreshes the
    project's incremental transforms in place (a full build when nothing is live).
    ``fail_after`` names a step after which the load raises, for tests of atomicity.
    ``previous_counts`` (table → rows of the live version) stands in for the previous file
    when the live version is elsewhere (a PostgreSQL warehouse staged through DuckDB).
    ``tasks`` receives each task's record as it runs, for the run history.
    """
    if not isinstance(project, Project):
        project = load_project(Path(project))
    names = project.output_names(outputs)
    project.check_outputs(names)
    paths = WarehousePaths(duckdb_path(db_url))
    check_writable(paths.path.parent)
    with loader_lock(paths):
        prune(paths)  # files of loads that died half-way
        version = new_version(now())
        target = paths.version_file(version)
        steps: list[tuple[str, float]] = []

        @contextmanager
        def timed(name: str) -> Iterator[None]:
            started = time.perf_counter()
            with step(name):
                yield
            steps.append((name, time.perf_counter() - started))
            if fail_after == name:
                raise DataError(f"Load stopped on purpose after step {name!r}.")

        try:
            return _build(
                paths,
                project,
                names,
                dict(time_columns or {}),
                incremental,
                target,
                version,
                memory_limit,
                threads,
                rollups,
                timed,
                step,
                now,
                steps,
                previous_counts,
                checks,
                tasks if tasks is not None else [],
            )
        except BaseException:
            pointer = read_pointer(paths, strict=False)
            if pointer is None or pointer["file"] != target.name:  # never delete the live file
                for leftover in (target, target.with_name(target.name + ".wal")):
                    leftover.unlink(missing_ok=True)
            raise


def _build(
    paths: WarehousePaths,
    project: Project,
    outputs: list[str],
    time_columns: dict[str, str],
    incremental: bool,
    target: Path,
    version: str,
    memory_limit: str,
    threads: int,
    rollups: RollupBuilder | None,
    timed: Callable[[str], AbstractContextManager[None]],
    step: Reporter,
    now: Callable[[], datetime],
    steps: list[tuple[str, float]],
    previous_counts: dict[str, int] | None,
    checks: ModelChecks | None,
    tasks: list[TaskRun],
) -> LoadResult:
    started = time.perf_counter()
    previous = previous_publish(paths)
    if previous_counts is None:
        previous_counts = _previous_counts(previous)
    mode = "incremental" if incremental and previous is not None else "full"
    if mode == "incremental":
        assert previous is not None
        with timed("copy the live version"):
            shutil.copyfile(previous, target)
            os.chmod(target, 0o600)
    con = _connect(target, memory_limit, threads)
    results: list[GateResult] = []
    try:
        if mode == "incremental":
            for table in (PUBLISH_TABLE, GATE_TABLE):
                con.execute(f"DROP TABLE IF EXISTS {table}")
        chosen = plan(project, con if mode == "incremental" else None, outputs)

        def task_step(name: str) -> AbstractContextManager[None]:
            return timed(name)

        run(
            project,
            con,
            outputs=outputs,
            incremental=chosen,
            threads=threads,
            step=task_step,
            tasks=tasks,
            gates=results,
        )
        row_counts = {
            t: int(first_row(con.execute(f"SELECT count(*) FROM {quote(t)}").fetchone())[0])
            for t in outputs
        }
        span = _span(con, time_columns)
        score = gates_mod.dq_score(results)
        con.execute("CHECKPOINT")
    finally:
        con.close()

    if checks is not None:  # a Risk 1 model check stops the publish like a Risk 1 gate
        with timed("model checks"):
            scopes = {
                name: (inc.column, start)
                for name, start in chosen.cutoffs.items()
                if (inc := project.transforms[name].incremental) is not None and inc.column
            }
            results = (
                checks(target, results, previous_counts or {}, since=scopes)
                if scopes
                else checks(target, results, previous_counts or {})
            )
        if gates_mod.blocking(results):
            raise GateFailure(gates_mod.blocking(results), results)
        score = gates_mod.dq_score(results)

    built: list[str] = []
    if rollups is not None:
        with timed("build rollups"):
            built = rollups(target, since=chosen.cutoffs) if chosen.cutoffs else rollups(target)

    published_at = now()
    with timed("publish"):
        con = _connect(target, memory_limit, threads)
        try:
            _write_metadata(
                con,
                previous,
                version,
                published_at,
                str(project.root),
                row_counts,
                results,
                score,
                time.perf_counter() - started,
                span,
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        swap_pointer(paths, version, published_at)
    pruned = prune(paths)
    return LoadResult(
        version,
        target,
        published_at,
        row_counts,
        results,
        score,
        steps,
        built,
        pruned,
        tasks,
        mode,
    )


def _span(
    con: duckdb.DuckDBPyConnection, time_columns: Mapping[str, str]
) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest time over the facts' own time columns."""
    lows, highs = [], []
    for table, column in time_columns.items():
        try:
            low, high = first_row(
                con.execute(
                    f"SELECT CAST(min({quote(column)}) AS TIMESTAMP), "
                    f"CAST(max({quote(column)}) AS TIMESTAMP) FROM {quote(table)}"
                ).fetchone()
            )
        except duckdb.Error:
            continue  # not an own column of a published table: the span skips it
        if low is not None:
            lows.append(low)
            highs.append(high)
    return (min(lows) if lows else None, max(highs) if highs else None)


def _previous_counts(previous: Path | None) -> dict[str, int]:
    if previous is None:
        return {}
    try:
        con = duckdb.connect(str(previous), read_only=True)
    except duckdb.Error:
        return {}
    try:
        row = con.execute(
            f"SELECT row_counts FROM {PUBLISH_TABLE} ORDER BY published_at DESC LIMIT 1"
        ).fetchone()
    except duckdb.Error:
        return {}
    finally:
        con.close()
    return json.loads(row[0]) if row else {}


def _write_metadata(
    con: duckdb.DuckDBPyConnection,
    previous: Path | None,
    version: str,
    published_at: datetime,
    source: str,
    row_counts: dict[str, int],
    results: list[GateResult],
    score: float,
    seconds: float,
    span: tuple[datetime | None, datetime | None],
) -> None:
    con.execute(PUBLISH_DDL)
    con.execute(GATE_DDL)
    if previous is not None:
        try:  # keep the history of earlier publishes for /quality
            con.execute(f"ATTACH '{previous}' AS prev (READ_ONLY)")
            con.execute(
                f"INSERT INTO {PUBLISH_TABLE} SELECT * FROM prev.{PUBLISH_TABLE} "
                "ORDER BY published_at DESC LIMIT 199"
            )
            con.execute(
                f"INSERT INTO {GATE_TABLE} SELECT g.* FROM prev.{GATE_TABLE} g "
                f"JOIN {PUBLISH_TABLE} p USING (version)"
            )
            con.execute("DETACH prev")
        except duckdb.Error:
            pass  # an older or foreign file: start the history afresh
    failed = [r for r in results if not r.passed]
    con.execute(
        f"INSERT INTO {PUBLISH_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            version,
            published_at.replace(tzinfo=None),
            source,
            json.dumps(row_counts),
            score,
            len(results),
            len(failed),
            sum(1 for r in failed if r.risk == 1),
            round(seconds, 3),
            span[0],
            span[1],
        ],
    )
    if not results:
        return
    con.executemany(
        f"INSERT INTO {GATE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                version,
                r.check,
                r.table,
                r.column,
                r.risk,
                r.passed,
                r.observed,
                r.threshold,
                r.detail,
                r.weight,
            ]
            for r in results
        ],
    )
