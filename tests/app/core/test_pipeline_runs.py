"""The pipeline run history: runs and tasks recorded, read back, dead runs marked killed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from app.core import meta
from app.core.meta import MetaDB
from app.core.stores.pipeline import (
    TaskRecord,
    finish_run,
    last_published,
    mark_killed,
    recent_runs,
    start_run,
)


def _db(tmp_path: Path) -> MetaDB:
    return MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite'}")


def test_a_run_and_its_tasks_are_kept_in_order(tmp_path: Path) -> None:
    db = _db(tmp_path)
    run = start_run(db, project="shop", warehouse="/srv/wh", trigger="cli", mode="full")
    assert recent_runs(db, "shop")[0].status == "running"
    tasks = [
        TaskRecord("orders", "source", "ok", 10, 0.1, (), "full"),
        TaskRecord("fct_order", "transform", "failed", None, 0.2, ("orders",), "boom"),
        TaskRecord("publish", "step", "skipped"),
    ]
    finish_run(db, run, status="failed", tasks=tasks, error="Transform fct_order.sql failed")
    [record] = recent_runs(db, "shop")
    assert (record.status, record.error, record.mode) == (
        "failed",
        "Transform fct_order.sql failed",
        "full",
    )
    assert record.tasks == tuple(tasks) and record.seconds is not None
    assert last_published(db, "shop") is None
    again = start_run(db, project="shop", warehouse="/srv/wh", trigger="schedule", mode="full")
    finish_run(db, again, status="published", tasks=[], version="v2", mode="incremental")
    latest = last_published(db, "shop")
    assert latest is not None and (latest.version, latest.mode) == ("v2", "incremental")
    assert [r.id for r in recent_runs(db, "shop")] == [again, run]
    assert recent_runs(db, "other") == []
    db.dispose()


def test_a_run_whose_process_died_is_marked_killed(tmp_path: Path) -> None:
    db = _db(tmp_path)
    run = start_run(db, project="shop", warehouse="/srv/wh", trigger="cli", mode="full")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with db.begin() as conn:
        conn.execute(
            sa.update(meta.pipeline_runs)
            .where(meta.pipeline_runs.c.id == run)
            .values(pid=int(dead.stdout))
        )
    alive = start_run(db, project="shop", warehouse="/srv/wh", trigger="cli", mode="full")
    runs = {r.id: r for r in recent_runs(db, "shop")}
    assert runs[run].status == "killed" and "nothing was published" in runs[run].error
    assert runs[alive].status == "running"  # this process is alive
    assert mark_killed(db, "shop") == 0
    db.dispose()


def test_a_project_that_does_not_load_is_a_failed_run_with_its_problems(tmp_path: Path) -> None:
    import pytest

    from app.cli.pipeline import run_load
    from app.core.config import load_settings
    from app.core.errors import PipelineError

    project = tmp_path / "shop"
    (project / "transforms").mkdir(parents=True)
    (project / "pipeline.yaml").write_text("name: shop\nsources:\n  orders: orders.csv\n")
    (project / "transforms" / "fct.sql").write_text("SELECT * FROM ordres\n")
    settings = load_settings(
        {
            "home": str(tmp_path / "home"),
            "db_url": f"duckdb:///{tmp_path / 'wh.duckdb'}",
            "meta_db_url": f"sqlite:///{tmp_path / 'meta.sqlite'}",
            "pipeline": str(project),
        }
    )
    with pytest.raises(PipelineError, match="did you mean orders"):
        run_load(project, settings)
    db = MetaDB(settings.meta_db_url)
    [run] = recent_runs(db, "shop")
    assert run.status == "failed" and run.tasks == ()
    assert "fct.sql:1: transforms.fct: reads ordres" in run.error
    db.dispose()
