"""``starboard load`` and ``starboard refresh``: build a pipeline project and publish it, with
its run recorded in the metadata DB (``/pipeline`` shows the history)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.alerts import alerts_after_load
from app.cli.root import Steps, cli_settings, console, out, progress_bar
from app.core.config import Settings
from app.core.errors import StarboardError


@dataclass
class Layout:
    """What the loader needs to know of the model: outputs, time columns, keys, indexes."""

    outputs: list[str]
    time_columns: dict[str, str]
    primary_keys: dict[str, tuple[str, ...]]
    indexes: dict[str, tuple[str, ...]]


def model_layout(model_path: Path) -> Layout:
    from queries.semantic.model import load_model

    model = load_model(model_path)
    time_columns: dict[str, str] = {}
    indexes: dict[str, tuple[str, ...]] = {}
    for name, table in model.tables.items():
        if table.kind != "fact" or not table.time:
            continue
        if "." not in table.time:
            time_columns[name] = table.time
            indexes[name] = (table.time,)
        else:
            via = table.time.split(".", 1)[0]
            join = next((j for j in table.joins if j.target == via), None)
            if join is not None:
                indexes[name] = (join.from_column,)
    return Layout(
        list(model.tables),
        time_columns,
        {n: t.primary_key for n, t in model.tables.items() if t.primary_key},
        indexes,
    )


def _rollup_builder(settings: Settings) -> Callable[[Path], list[str]] | None:
    """The model's rollups, materialised into a new warehouse file before it is published."""
    from queries.semantic.rollups import build_rollups

    return lambda path, since=None: build_rollups(settings.model, path, since)


def _model_checks(settings: Settings) -> Any:
    """The model's data quality checks (declared and implied), run on a new warehouse file
    before it is published."""
    from queries.quality.checks import PublishChecks

    return PublishChecks(settings.model, freshness_hours=settings.freshness_slo_hours)


def record_checks(settings: Settings, checks: Any, version: str | None, published: bool) -> None:
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


@dataclass
class StepLog:
    """A step reporter that also keeps each step's time and outcome, for the run history."""

    inner: Callable[[str], Any] | None = None
    steps: list[tuple[str, float, str]] = field(default_factory=list)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with self.inner(name) if self.inner is not None else nullcontext():
                yield
        except BaseException as exc:
            message = getattr(exc, "message", None) or str(exc).strip().splitlines()[0:1]
            self.steps.append((name, time.perf_counter() - started, f"failed: {message}"))
            raise
        self.steps.append((name, time.perf_counter() - started, "ok"))


def _history(settings: Settings, project_name: str, trigger: str, mode: str) -> tuple[Any, int]:
    from app.core.meta import MetaDB
    from app.core.stores.checks import warehouse_key
    from app.core.stores.pipeline import start_run

    db = MetaDB(settings.meta_db_url)
    run_id = start_run(
        db,
        project=project_name,
        warehouse=warehouse_key(settings.db_url, settings.pg_schema),
        trigger=trigger,
        mode=mode,
    )
    return db, run_id


def _records(tasks: list[Any], log: StepLog) -> list[Any]:
    from app.core.stores.pipeline import TaskRecord

    out = [
        TaskRecord(t.name, t.kind, t.status, t.rows, t.seconds, tuple(t.inputs), t.detail)
        for t in tasks
    ]
    for name, seconds, outcome in log.steps:
        if name.startswith(("source ", "transform ")):
            continue
        status = "ok" if outcome == "ok" else "failed"
        detail = "" if outcome == "ok" else outcome.removeprefix("failed: ")
        out.append(TaskRecord(name, "step", status, None, round(seconds, 3), (), detail))
    return out


def _project_or_record(path: Path, settings: Settings, trigger: str, incremental: bool) -> Any:
    """The project at ``path``; one that does not load is still a failed run in the history
    (with its problems), so /pipeline and the run list show why nothing was published."""
    from app.core.errors import PipelineError
    from app.core.stores.pipeline import finish_run
    from app.loader.project import load_project, project_name

    try:
        return load_project(path)
    except PipelineError as exc:
        db, run_id = _history(
            settings, project_name(path), trigger, "incremental" if incremental else "full"
        )
        try:
            finish_run(db, run_id, status="failed", tasks=[], error=exc.message)
        finally:
            db.dispose()
        raise


def run_load(
    project_path: Path,
    settings: Settings,
    *,
    incremental: bool = False,
    trigger: str = "cli",
) -> Any:
    """Build ``project_path`` into the settings' warehouse with progress, gates, a summary,
    warm-up and alerts; the run and its tasks go into the metadata DB."""
    from app.core.stores.pipeline import finish_run
    from app.loader.gates import GateFailure
    from app.loader.load import load
    from app.loader.pipeline import TaskRun
    from app.loader.postgres import is_postgres, load_postgres

    project = _project_or_record(project_path, settings, trigger, incremental)
    layout = model_layout(settings.model)
    checks = _model_checks(settings)  # PostgreSQL too: they run on the staged DuckDB build
    tasks: list[TaskRun] = []
    db, run_id = _history(settings, project.name, trigger, "incremental" if incremental else "full")
    status, version, error, mode, score = "failed", None, "", None, None
    log = StepLog()
    try:
        with progress_bar() as progress:
            log.inner = Steps(progress)
            common: dict[str, Any] = {
                "outputs": layout.outputs if not project.outputs else None,
                "time_columns": layout.time_columns,
                "incremental": incremental,
                "memory_limit": settings.duckdb_memory_limit,
                "threads": settings.duckdb_threads,
                "rollups": _rollup_builder(settings),
                "step": log,
                "checks": checks,
                "tasks": tasks,
            }
            if is_postgres(settings.db_url):
                result = load_postgres(
                    project,
                    settings.db_url,
                    schema_prefix=settings.pg_schema,
                    work_dir=settings.home / "staging",
                    primary_keys=layout.primary_keys,
                    indexes=layout.indexes,
                    **common,
                )
            else:
                result = load(project, settings.db_url, **common)
        status, version, mode, score = "published", result.version, result.mode, result.dq_score
    except GateFailure as failure:
        error = failure.message
        record_checks(settings, checks, None, published=False)
        print_gates(failure.results)
        alerts_after_load(settings, failed_gates=failure.failed)
        raise
    except StarboardError as exc:
        error = exc.message
        raise
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            finish_run(
                db,
                run_id,
                status=status,
                tasks=_records(tasks, log),
                version=version,
                error=error,
                mode=mode,
                dq_score=score,
            )
        finally:
            db.dispose()
    record_checks(settings, checks, result.version, published=True)
    _summary(result, settings)
    from app.cli.data import warm

    warm(settings)
    alerts_after_load(settings)
    return result


def _summary(result: Any, settings: Settings) -> None:
    rows = Table("table", "rows", title=f"Published version {result.version} ({result.mode})")
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


def print_gates(gates: list[Any]) -> None:
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


def load_cmd(
    project: Annotated[
        Path, typer.Argument(help="Pipeline project: a folder with pipeline.yaml, or the file.")
    ],
    db: Annotated[str | None, typer.Option(help="Warehouse URL (duckdb:///path.duckdb).")] = None,
    model: Annotated[
        Path | None, typer.Option(help="Semantic model (default: the project's model:).")
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental/--full",
            help="Refresh incremental transforms from the live version (default: full).",
        ),
    ] = False,
) -> None:
    """Build a pipeline project: sources → staging → transforms → gates → rollups → publish."""
    settings = cli_settings(db_url=db, model=str(model) if model else None, pipeline=str(project))
    run_load(project, settings, incremental=incremental)


def due(schedule: str, last: datetime | None, now: datetime) -> tuple[bool, datetime]:
    """Whether a run is due for cron ``schedule`` given the last published run (UTC, naive),
    and the latest scheduled time at or before ``now``."""
    from croniter import croniter

    previous = croniter(schedule, now).get_prev(datetime)
    return (last is None or last < previous), previous


def refresh_cmd(
    project: Annotated[
        Path | None,
        typer.Argument(help="Pipeline project (default: STARBOARD_PIPELINE, or the demo's)."),
    ] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
    force: Annotated[bool, typer.Option(help="Run now, due or not.")] = False,
    full: Annotated[bool, typer.Option(help="A full build instead of an incremental one.")] = False,
) -> None:
    """Run the project if its schedule says it is due (for cron or a systemd timer):
    incremental transforms refresh from the live version, the rest is rebuilt."""
    settings = cli_settings(db_url=db, pipeline=str(project) if project else None)
    refresh(settings, force=force, full=full)


def refresh(
    settings: Settings, *, force: bool = False, full: bool = False, trigger: str = "cli"
) -> Any:
    """What ``starboard refresh`` and the server's scheduler run; None when nothing was due."""
    from app.core.meta import MetaDB
    from app.core.stores.pipeline import last_published

    project = _project_or_record(settings.pipeline, settings, trigger, not full)
    if not force:
        if project.schedule is None:
            console.print(
                f"{project.file} has no schedule: refreshing now (add schedule: to run only "
                "when due).",
                highlight=False,
            )
        else:
            db = MetaDB(settings.meta_db_url)
            try:
                last = last_published(db, project.name)
            finally:
                db.dispose()
            now = datetime.now(UTC).replace(tzinfo=None)
            is_due, slot = due(project.schedule, last.started_at if last else None, now)
            if not is_due:
                from croniter import croniter

                upcoming = croniter(project.schedule, now).get_next(datetime)
                out.print(
                    f"Nothing due: the {slot:%Y-%m-%d %H:%M} UTC run of {project.name} "
                    f"published; next at {upcoming:%Y-%m-%d %H:%M} UTC."
                )
                return None
    return run_load(settings.pipeline, settings, incremental=not full, trigger=trigger)
