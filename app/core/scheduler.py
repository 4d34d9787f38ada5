"""One pipeline scheduler per deployment, inside ``starboard serve`` (``STARBOARD_SCHEDULER``).

Every web process starts a :class:`PipelineScheduler`; only the one holding the
:class:`DeploymentLock` runs the project's ``schedule:``. The lock is an OS file lock under
``STARBOARD_HOME`` (one machine) and, when the metadata DB is PostgreSQL, also a session
advisory lock there (several machines sharing that DB). The others stand by and try again
every ``retry_seconds``; a process that dies releases both locks with it.

The refresh itself runs in a child process (:func:`run_isolated`): a build needs memory
and opens DuckDB files that a web worker must not open a second time, and a crash of the
build must not take a web worker with it. A failing refresh is logged (the run history
records it) and the scheduler carries on.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from croniter import croniter
from sqlalchemy.pool import NullPool

from app.core import meta
from app.core.errors import StarboardError
from app.core.meta import MetaDB

log = logging.getLogger("starboard.scheduler")

LOCK_FILE = "scheduler.lock"
RETRY_SECONDS = 60.0
JOB_ID = "pipeline-refresh"
WATCH_ID = "scheduler-lock"
ROOT = Path(__file__).resolve().parents[2]  # the folder holding the ``app`` package


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` (same in every process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DeploymentLock:
    """A lock only one process of the deployment holds: ``flock`` on ``path`` and, with
    ``pg_url``, a PostgreSQL session advisory lock named ``name``. Never blocks."""

    def __init__(self, path: Path, pg_url: str | None = None, *, name: str = "starboard") -> None:
        self.path = Path(path)
        self.pg_url = pg_url
        self.key = advisory_key(name)
        self._file: IO[str] | None = None
        self._engine: sa.Engine | None = None
        self._conn: sa.Connection | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this object holds it."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another process (or handle) holds it
            handle.close()
            return False
        if self.pg_url is not None and not self._acquire_pg():
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")  # for whoever looks at it
        handle.flush()
        self._file = handle
        return True

    def _acquire_pg(self) -> bool:
        assert self.pg_url is not None
        engine = sa.create_engine(self.pg_url, poolclass=NullPool)
        try:
            conn = engine.connect()
            got = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(self.key))).scalar())
            conn.commit()  # a session lock outlives the transaction; do not idle in one
        except sa.exc.DBAPIError as exc:
            log.warning("scheduler lock: PostgreSQL unavailable (%s)", exc.orig)
            engine.dispose()
            return False
        if not got:
            conn.close()
            engine.dispose()
            return False
        self._engine, self._conn = engine, conn
        return True

    def alive(self) -> bool:
        """Whether the lock is still held: the PostgreSQL session can drop (a restart, a
        network cut), and its advisory lock with it; then this object lets go of all."""
        if self._file is None:
            return False
        if self._conn is None:
            return True
        try:
            self._conn.execute(sa.text("SELECT 1"))
            self._conn.commit()
        except sa.exc.DBAPIError:
            log.warning("scheduler lock: lost the PostgreSQL session; standing by")
            self.release()
            return False
        return True

    def release(self) -> None:
        """Let go (idempotent)."""
        if self._conn is not None:
            try:
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
                self._conn.commit()
            except sa.exc.DBAPIError:
                pass  # the session is gone, and its lock with it
            finally:
                self._conn.close()
                self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class RefreshFailed(Exception):
    """The refresh's child process exited with an error (it logged why)."""


def run_isolated(job: Callable[[], object]) -> None:
    """Run ``job`` (picklable) in a fresh Python process; raise RefreshFailed when it fails.
    The child inherits stdout and stderr, so its progress and errors land in the server log."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "app.core.scheduler"],
        input=pickle.dumps(job),
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RefreshFailed(f"the refresh process exited with status {done.returncode}")


def child_main() -> int:
    """The child of :func:`run_isolated`: read the job from stdin and run it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    job = pickle.loads(sys.stdin.buffer.read())
    try:
        job()
    except StarboardError as exc:
        log.error("scheduled refresh failed: %s", exc.message)
        return 1
    except Exception:
        log.exception("scheduled refresh failed")
        return 2
    return 0


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class PipelineScheduler:
    """Stand by for the lock; once held, run ``run`` on the project's cron schedule.

    ``project()`` returns the project's name and schedule (re-read every ``retry_seconds``,
    so a changed ``schedule:`` is picked up); ``run()`` refreshes it (raises on failure);
    ``meta_db_url`` holds the run history that says whether a scheduled time is done.
    """

    def __init__(
        self,
        *,
        lock: DeploymentLock,
        project: Callable[[], tuple[str, str | None]],
        run: Callable[[], object],
        meta_db_url: str,
        clock: Callable[[], datetime] = _utcnow,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.lock = lock
        self.project = project
        self.run = run
        self.meta_db_url = meta_db_url
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        self.current: tuple[str, str | None] | None = None
        self._caught_up = False
        self._said: str | None = None  # the last standby or problem message, said once

    @property
    def leading(self) -> bool:
        return self.lock.held

    def start(self) -> None:
        """Start the background thread: the lock watch runs now and every retry_seconds."""
        self.scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.retry_seconds, timezone=UTC),
            id=WATCH_ID,
            next_run_time=datetime.now(UTC),
            max_instances=1,
        )
        self.scheduler.start()
        log.info(
            "scheduler started in pid %d: taking the lock %s, or standing by",
            os.getpid(),
            self.lock.path,
        )

    def stop(self) -> None:
        """Stop the thread (if started) and let go of the lock."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._drop_job()
        self.lock.release()
        self.current = None
        self._caught_up = False

    def _say(self, level: int, message: str, *args: Any) -> None:
        text = message % args
        if text != self._said:
            log.log(level, text)
            self._said = text

    def tick(self) -> None:
        """Take (or keep) the lock; follow the project's schedule; catch up once on a
        scheduled time that passed while nobody led."""
        if not self.lock.held:
            if not self.lock.acquire():
                self._say(logging.INFO, "scheduler: another process holds the lock; standing by")
                return
            log.info(
                "scheduler: pid %d on %s leads the schedule", os.getpid(), socket.gethostname()
            )
            self._caught_up = False
            self._said = None
        elif not self.lock.alive():
            self._drop_job()
            self.current = None
            return
        try:
            name, schedule = self.project()
        except StarboardError as exc:
            self._say(logging.ERROR, "scheduler: cannot read the pipeline project: %s", exc.message)
            return
        if (name, schedule) != self.current:
            self._follow(name, schedule)
        if schedule is not None and not self._caught_up:
            self._caught_up = True
            self.run_if_due()

    def _follow(self, name: str, schedule: str | None) -> None:
        self.current = (name, schedule)
        if schedule is None:
            self._drop_job()
            self._say(logging.INFO, "scheduler: %s has no schedule: nothing to run", name)
            return
        trigger = CronTrigger.from_crontab(schedule, timezone=UTC)
        if self.scheduler.get_job(JOB_ID) is None:
            self.scheduler.add_job(self.run_if_due, trigger, id=JOB_ID)
        else:
            self.scheduler.reschedule_job(JOB_ID, trigger=trigger)
        log.info("scheduler: refreshing %s on %r (UTC)", name, schedule)

    def _drop_job(self) -> None:
        if self.scheduler.get_job(JOB_ID) is not None:
            self.scheduler.remove_job(JOB_ID)

    def job(self) -> Any:
        """The cron job as scheduled (None when there is none)."""
        return self.scheduler.get_job(JOB_ID)

    def run_if_due(self) -> bool:
        """Refresh when the latest scheduled time has no published run and no attempt yet;
        True when a refresh ran (whether or not it succeeded). Never raises."""
        if self.current is None or self.current[1] is None:
            return False
        name, schedule = self.current
        now = self.clock()
        # a second past the slot: the cron job fires on it, and get_prev of the exact slot
        # time would give the one before
        slot = croniter(schedule, now + timedelta(seconds=1)).get_prev(datetime)
        try:
            published, attempted = self._history(name)
        except (sa.exc.DBAPIError, meta.MetaUnavailable) as exc:
            log.error("scheduler: cannot read the run history of %s: %s", name, exc)
            return False
        if published is not None and published >= slot:
            log.info("scheduler: %s run of %s already published", f"{slot:%Y-%m-%d %H:%M}", name)
            return False
        if attempted is not None and attempted >= slot:
            log.info(
                "scheduler: the %s run of %s was already attempted (see /pipeline); next at "
                "its next scheduled time",
                f"{slot:%Y-%m-%d %H:%M}",
                name,
            )
            return False
        log.info("scheduler: refreshing %s for %s UTC", name, f"{slot:%Y-%m-%d %H:%M}")
        try:
            self.run()
        except Exception as exc:  # a failed refresh never stops the scheduler or the server
            log.error("scheduler: refresh of %s failed: %s", name, exc, exc_info=True)
        else:
            log.info("scheduler: refresh of %s done", name)
        return True

    def _history(self, name: str) -> tuple[datetime | None, datetime | None]:
        """When the newest published run, and the newest run of any outcome, started."""
        runs = meta.pipeline_runs
        db = MetaDB(self.meta_db_url)
        try:
            with db.connect() as conn:
                published = conn.execute(
                    sa.select(sa.func.max(runs.c.started_at)).where(
                        runs.c.project == name, runs.c.status == "published"
                    )
                ).scalar()
                attempted = conn.execute(
                    sa.select(sa.func.max(runs.c.started_at)).where(runs.c.project == name)
                ).scalar()
        finally:
            db.dispose()
        return published, attempted


if __name__ == "__main__":
    sys.exit(child_main())
