"""Pipeline run history: one row per ``starboard load``/``refresh`` of a project, one per task.

Contract (stable; ``/pipeline``, ``starboard refresh`` and the scheduler read it):

``sb_pipeline_run`` (``app.core.meta.pipeline_runs``): id, project (the project's ``name``),
warehouse (``warehouse_key`` of the target), started_at and finished_at (UTC, naive), status
(``running``, ``published``, ``failed``, or ``killed``: a run whose process is gone), trigger
(``cli``, ``schedule``, ``demo``), mode (``full`` or ``incremental``), version (published or
attempted), error (one message, "" when none), host and pid (to tell a killed run from a live
one), dq_score, seconds.

``sb_pipeline_task`` (``app.core.meta.pipeline_tasks``): run_id, position (run order), name,
kind (``source``, ``transform``, or ``step`` for gates, rollups and publish), status (``ok``,
``failed``, ``skipped``, ``pending``), rows, seconds, inputs (JSON list of the tasks it read),
detail (how it ran, or why it failed).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psutil
import sqlalchemy as sa

from app.core import meta
from app.core.meta import MetaDB

STATUSES = ("running", "published", "failed", "killed")


@dataclass(frozen=True)
class TaskRecord:
    name: str
    kind: str
    status: str
    rows: int | None = None
    seconds: float = 0.0
    inputs: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class RunRecord:
    id: int
    project: str
    warehouse: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    trigger: str
    mode: str
    version: str | None
    error: str
    dq_score: float | None = None
    seconds: float | None = None
    tasks: tuple[TaskRecord, ...] = field(default_factory=tuple)


def start_run(db: MetaDB, *, project: str, warehouse: str, trigger: str, mode: str) -> int:
    """Record a run as ``running`` and return its id; runs of this project whose process is
    gone are marked ``killed`` first."""
    mark_killed(db, project)
    with db.begin() as conn:
        result = conn.execute(
            sa.insert(meta.pipeline_runs).values(
                project=project,
                warehouse=warehouse,
                started_at=meta.now(),
                status="running",
                trigger=trigger,
                mode=mode,
                error="",
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def finish_run(
    db: MetaDB,
    run_id: int,
    *,
    status: str,
    tasks: Sequence[TaskRecord],
    version: str | None = None,
    error: str = "",
    mode: str | None = None,
    dq_score: float | None = None,
) -> None:
    """Close a run with its outcome and every task's record."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with db.begin() as conn:
        started = conn.execute(
            sa.select(meta.pipeline_runs.c.started_at).where(meta.pipeline_runs.c.id == run_id)
        ).scalar_one()
        finished = meta.now()
        values: dict[str, object] = {
            "status": status,
            "finished_at": finished,
            "version": version,
            "error": error[:4000],
            "dq_score": dq_score,
            "seconds": round((finished - started).total_seconds(), 3),
        }
        if mode is not None:
            values["mode"] = mode
        conn.execute(
            sa.update(meta.pipeline_runs).where(meta.pipeline_runs.c.id == run_id).values(**values)
        )
        conn.execute(sa.delete(meta.pipeline_tasks).where(meta.pipeline_tasks.c.run_id == run_id))
        if tasks:
            conn.execute(
                sa.insert(meta.pipeline_tasks),
                [
                    {
                        "run_id": run_id,
                        "position": i,
                        "name": t.name,
                        "kind": t.kind,
                        "status": t.status,
                        "rows": t.rows,
                        "seconds": t.seconds,
                        "inputs": json.dumps(list(t.inputs)),
                        "detail": t.detail[:4000],
                    }
                    for i, t in enumerate(tasks)
                ],
            )


def mark_killed(db: MetaDB, project: str) -> int:
    """Runs of ``project`` still ``running`` on this host whose process is gone become
    ``killed``; returns how many."""
    host = socket.gethostname()
    runs = meta.pipeline_runs
    with db.begin() as conn:
        rows = conn.execute(
            sa.select(runs.c.id, runs.c.pid).where(
                runs.c.project == project, runs.c.status == "running", runs.c.host == host
            )
        ).all()
        dead = [r.id for r in rows if r.pid is None or not psutil.pid_exists(r.pid)]
        if dead:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id.in_(dead))
                .values(
                    status="killed",
                    finished_at=meta.now(),
                    error="The run's process ended before it finished (killed or crashed); "
                    "nothing was published by it.",
                )
            )
    return len(dead)


def _record(row: sa.Row, tasks: tuple[TaskRecord, ...] = ()) -> RunRecord:
    return RunRecord(
        row.id,
        row.project,
        row.warehouse,
        row.started_at,
        row.finished_at,
        row.status,
        row.trigger,
        row.mode,
        row.version,
        row.error or "",
        row.dq_score,
        row.seconds,
        tasks,
    )


def _tasks(conn: sa.Connection, run_ids: Sequence[int]) -> dict[int, tuple[TaskRecord, ...]]:
    if not run_ids:
        return {}
    t = meta.pipeline_tasks
    out: dict[int, list[TaskRecord]] = {}
    for row in conn.execute(
        sa.select(t).where(t.c.run_id.in_(list(run_ids))).order_by(t.c.run_id, t.c.position)
    ):
        out.setdefault(row.run_id, []).append(
            TaskRecord(
                row.name,
                row.kind,
                row.status,
                row.rows,
                row.seconds,
                tuple(json.loads(row.inputs or "[]")),
                row.detail or "",
            )
        )
    return {k: tuple(v) for k, v in out.items()}


def recent_runs(db: MetaDB, project: str, limit: int = 20) -> list[RunRecord]:
    """The newest runs of ``project``, newest first, with their tasks."""
    runs = meta.pipeline_runs
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(runs)
            .where(runs.c.project == project)
            .order_by(runs.c.started_at.desc(), runs.c.id.desc())
            .limit(limit)
        ).all()
        tasks = _tasks(conn, [r.id for r in rows])
    return [_record(r, tasks.get(r.id, ())) for r in rows]


def last_published(db: MetaDB, project: str) -> RunRecord | None:
    """The newest run of ``project`` that published, or None."""
    runs = meta.pipeline_runs
    with db.connect() as conn:
        row = conn.execute(
            sa.select(runs)
            .where(runs.c.project == project, runs.c.status == "published")
            .order_by(runs.c.started_at.desc(), runs.c.id.desc())
            .limit(1)
        ).first()
    return _record(row) if row is not None else None
