"""The server's pipeline scheduler: one lock holder per deployment (file lock on one machine,
PostgreSQL advisory lock across machines), stand-by and take-over, refresh when due."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from croniter import croniter

from app.cli.scheduler import deployment_lock, pipeline_scheduler
from app.core.config import load_settings
from app.core.meta import MetaDB
from app.core.scheduler import DeploymentLock, advisory_key
from app.core.stores.pipeline import TaskRecord, finish_run, recent_runs, start_run
from tests.app.loader import rawdata


@pytest.fixture
def settings(tmp_path: Path):
    raw = rawdata.write_csv(tmp_path / "raw")
    return load_settings(
        {
            "home": str(tmp_path / "home"),
            "db_url": f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
            "meta_db_url": f"sqlite:///{tmp_path / 'meta.sqlite'}",
            "pipeline": str(raw),
            "cache": "null",
            "scheduler": True,
        }
    )


def _record(settings, status: str, project: str = "demo") -> None:
    db = MetaDB(settings.meta_db_url)
    try:
        run_id = start_run(db, project=project, warehouse="w", trigger="schedule", mode="full")
        finish_run(
            db, run_id, status=status, tasks=[TaskRecord("channels", "source", "ok", 3, 0.1)]
        )
    finally:
        db.dispose()


def _runs(settings, project: str = "demo"):
    db = MetaDB(settings.meta_db_url)
    try:
        return recent_runs(db, project)
    finally:
        db.dispose()


def test_only_one_lock_holder_per_home_and_release_hands_it_on(tmp_path: Path) -> None:
    first, second = DeploymentLock(tmp_path / "s.lock"), DeploymentLock(tmp_path / "s.lock")
    assert first.acquire() is True
    assert second.acquire() is False and not second.held
    assert first.acquire() is True  # idempotent for the holder
    first.release()
    assert second.acquire() is True
    assert first.acquire() is False
    second.release()


HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.core.scheduler import DeploymentLock
    lock = DeploymentLock(Path(sys.argv[1]))
    print("held" if lock.acquire() else "standby", flush=True)
    sys.stdin.read()  # hold it until the test has heard from both processes
    """
)


def test_of_two_processes_exactly_one_holds_the_lock_and_death_releases_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scheduler.lock"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    said = sorted(p.stdout.readline().strip() for p in procs)  # both alive, both tried
    for p in procs:
        p.communicate(timeout=30)
    assert said == ["held", "standby"]
    after = DeploymentLock(path)  # both processes are gone: their lock went with them
    assert after.acquire() is True
    after.release()


def test_a_postgres_advisory_lock_keeps_one_scheduler_across_machines(
    pg_url: str, tmp_path: Path
) -> None:
    # two "machines": separate homes (file locks never meet), one metadata database
    one = DeploymentLock(tmp_path / "a" / "s.lock", pg_url, name="sched-test")
    two = DeploymentLock(tmp_path / "b" / "s.lock", pg_url, name="sched-test")
    try:
        assert one.acquire() is True
        assert two.acquire() is False
        assert not two.held and two.acquire() is False  # and its file lock was let go
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            held = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": advisory_key("sched-test") & 0xFFFFFFFFFFFFFFFF},
            ).scalar()
        engine.dispose()
        assert held == 1
        assert one.alive() is True
        one.release()
        assert two.acquire() is True
    finally:
        one.release()
        two.release()


def test_the_standby_takes_over_when_the_leader_stops(settings) -> None:
    calls: list[str] = []
    a = pipeline_scheduler(settings, run=lambda: calls.append("a"))
    b = pipeline_scheduler(settings, run=lambda: calls.append("b"))
    try:
        a.tick()
        b.tick()
        assert [a.leading, b.leading] == [True, False]
        assert a.job() is not None and b.job() is None
        assert str(a.job().trigger) == str(CronTrigger.from_crontab("0 6 * * *", timezone="UTC"))
        assert calls == ["a"]  # the new leader caught up on today's slot (no run yet)
        a.stop()
        b.tick()
        assert b.leading and b.job() is not None
        assert calls == ["a", "b"]  # nothing published yet, no run recorded: still due
    finally:
        a.stop()
        b.stop()


def test_it_runs_when_due_and_not_again_for_the_same_slot(settings) -> None:
    now = [datetime.now().replace(microsecond=0)]
    calls: list[datetime] = []

    def run() -> None:
        calls.append(now[0])
        _record(settings, "published")

    sched = pipeline_scheduler(settings, run=run, clock=lambda: now[0])
    try:
        sched.tick()  # leads, follows "0 6 * * *", catches up
        assert len(calls) == 1
        assert sched.run_if_due() is False  # the slot's run is published
        slot = croniter("0 6 * * *", now[0]).get_next(datetime)
        now[0] = slot - timedelta(minutes=1)
        assert sched.run_if_due() is False  # the next slot has not come
        now[0] = slot  # the cron job fires on the slot
        assert sched.run_if_due() is True and calls[-1] == slot
        sched.tick()  # a later tick does not run it again
        assert len(calls) == 2
    finally:
        sched.stop()


def test_a_failed_attempt_is_not_retried_before_the_next_slot(settings, caplog) -> None:
    calls: list[int] = []

    def run() -> None:
        calls.append(1)
        _record(settings, "failed")
        raise RuntimeError("the build broke")

    sched = pipeline_scheduler(settings, run=run)
    try:
        with caplog.at_level(logging.INFO, logger="starboard.scheduler"):
            sched.tick()  # runs, fails: logged, never raised
            assert calls == [1]
            assert "refresh of demo failed: the build broke" in caplog.text
            assert sched.run_if_due() is False
            assert "already attempted" in caplog.text
        assert sched.leading and sched.job() is not None  # the scheduler carries on
    finally:
        sched.stop()


def test_a_project_without_schedule_runs_nothing(settings, caplog) -> None:
    file = settings.pipeline / "pipeline.yaml"
    file.write_text(
        file.read_text(encoding="utf-8").replace('schedule: "0 6 * * *"\n', ""), encoding="utf-8"
    )
    calls: list[int] = []
    sched = pipeline_scheduler(settings, run=lambda: calls.append(1))
    try:
        with caplog.at_level(logging.INFO, logger="starboard.scheduler"):
            sched.tick()
        assert sched.leading and sched.job() is None and calls == []
        assert "demo has no schedule" in caplog.text
        file.write_text(file.read_text(encoding="utf-8") + 'schedule: "30 5 * * *"\n')
        sched.tick()  # a schedule added later is picked up on the next tick
        assert sched.job() is not None and calls == [1]
    finally:
        sched.stop()


def test_started_schedulers_elect_one_leader_in_the_background(settings) -> None:
    calls: list[str] = []
    a = pipeline_scheduler(settings, run=lambda: calls.append("a"), retry_seconds=0.2)
    b = pipeline_scheduler(settings, run=lambda: calls.append("b"), retry_seconds=0.2)
    try:
        a.start()
        b.start()
        deadline = time.monotonic() + 3
        while a.job() is None and b.job() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # both have ticked a few times
        assert [a.leading, b.leading].count(True) == 1
        leader, standby = (a, b) if a.leading else (b, a)
        leader.stop()
        deadline = time.monotonic() + 3
        while standby.job() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standby.leading and standby.job() is not None
    finally:
        a.stop()
        b.stop()


def test_the_real_refresh_runs_in_a_child_process_and_is_recorded(settings) -> None:
    sched = pipeline_scheduler(settings, lock=deployment_lock(settings))
    try:
        sched.tick()  # leads; nothing published: runs refresh(settings, trigger="schedule")
    finally:
        sched.stop()
    runs = _runs(settings)
    assert [(r.status, r.trigger, r.mode) for r in runs] == [
        ("published", "schedule", "full")  # incremental with nothing live: a full build
    ]
    assert {t.name: t.rows for t in runs[0].tasks}["interactions"] == len(rawdata.interactions())
