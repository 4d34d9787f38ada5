"""The server's pipeline scheduler (``STARBOARD_SCHEDULER=true``): ``starboard serve`` starts
one in every process (gunicorn workers, the dev server); the one holding the deployment's
lock runs ``refresh(settings, trigger="schedule")`` on the project's ``schedule:``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from app.core.config import Settings
from app.core.scheduler import (
    LOCK_FILE,
    RETRY_SECONDS,
    DeploymentLock,
    PipelineScheduler,
    run_isolated,
)
from app.core.stores.checks import warehouse_key

_running: list[PipelineScheduler] = []  # this process's scheduler, stopped at exit


def _project(settings: Settings) -> tuple[str, str | None]:
    from app.loader.project import load_project

    project = load_project(settings.pipeline)
    return project.name, project.schedule


def scheduled_refresh(settings: Settings) -> None:
    """What the scheduler runs, in a child process: ``starboard refresh`` for the schedule."""
    from app.cli.pipeline import refresh

    refresh(settings, trigger="schedule")


def deployment_lock(settings: Settings) -> DeploymentLock:
    """The file lock under STARBOARD_HOME, plus an advisory lock in a PostgreSQL metadata DB
    (one per warehouse: two deployments sharing a metadata DB each get a scheduler)."""
    pg = settings.meta_db_url if settings.meta_db_url.startswith("postgresql") else None
    return DeploymentLock(
        settings.home / LOCK_FILE,
        pg,
        name=f"starboard-scheduler:{warehouse_key(settings.db_url, settings.pg_schema)}",
    )


def pipeline_scheduler(
    settings: Settings,
    *,
    run: Callable[[], object] | None = None,
    clock: Callable[[], datetime] | None = None,
    retry_seconds: float = RETRY_SECONDS,
    lock: DeploymentLock | None = None,
) -> PipelineScheduler:
    """A scheduler for ``settings``' project (not started); tests pass ``run`` and ``clock``."""
    extra = {"clock": clock} if clock is not None else {}
    return PipelineScheduler(
        lock=lock or deployment_lock(settings),
        project=partial(_project, settings),
        run=run or partial(run_isolated, partial(scheduled_refresh, settings)),
        meta_db_url=settings.meta_db_url,
        retry_seconds=retry_seconds,
        **extra,
    )


def start_scheduler(settings: Settings) -> PipelineScheduler | None:
    """Start this process's scheduler when STARBOARD_SCHEDULER is on (once per process)."""
    if not settings.scheduler:
        return None
    if _running:
        return _running[0]
    scheduler = pipeline_scheduler(settings)
    scheduler.start()
    _running.append(scheduler)
    return scheduler


def stop_scheduler() -> None:
    """Stop this process's scheduler and release its lock (a worker about to exit)."""
    while _running:
        _running.pop().stop()
