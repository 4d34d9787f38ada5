"""Background callbacks: long Dash callbacks run outside the web request, with progress
and a Cancel button.

Two pieces, both used by any page with a slow callback (the explorer, the SQL page):

* :func:`manager` builds the app's background-callback manager — a
  :class:`ThreadJobManager` (jobs run on a small thread pool of the web process, results
  and job state in a diskcache under ``STARBOARD_HOME/background`` that every worker
  shares) by default, or a ``CeleryManager`` on Redis with ``STARBOARD_BACKGROUND=celery``
  (run a worker with ``celery -A app.wsgi:celery_app worker``). The factory passes it to
  ``dash.Dash``. Dash's own ``DiskcacheManager`` forks a process per job; forking a
  threaded web worker can copy a lock another thread holds (SQLite's, DuckDB's) and the
  job then hangs for ever, so it is not used.
  Results are keyed by the callback's inputs *and* by who asks (user, role, row scope)
  and the data version, so one user's result is never served to another.
* :func:`in_request` wraps the body of a ``background=True`` callback. A job runs in
  another process without Flask's request, so ``current_runtime()``, the signed-in user
  and the row scope would be missing; the wrapper rebuilds the request from the caller's
  cookies and headers (the signed session cookie: a client cannot choose who it is),
  re-checks that the user is still signed in, and, in a Celery worker process, gives the
  job its own warehouse and metadata engines (never connections inherited through
  ``fork``).

Page usage::

    @callback(Output(...), Input(...), background=True, cancel=[Input("x-cancel", "n_clicks")],
              running=[(Output("x-status", "children"), "Running…", "")])
    @background.in_request(permission="tier2")
    def slow(value):
        ...

The access gate (``app/web.py``) checks the start request and every polling request
(they carry the same ``output``), and gives Dash's own cancel callback the access of the
page whose callback it cancels.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

import dash
from flask import Flask, has_request_context

from app.auth import require, signed_in_user
from app.config import Settings
from app.errors import AccessDenied, ConfigError

F = TypeVar("F", bound=Callable[..., Any])
RESULT_EXPIRE_SECONDS = 3600
CELERY_EXTENSION = "starboard.celery"
_RESET_PID: list[int] = []      # the job process whose inherited engines were replaced
_SERVER_PID: list[int] = []     # the process that built the app (jobs there share it)
_JOB_SERVER: ContextVar[Flask | None] = ContextVar("starboard_job_server", default=None)


def background_dir(settings: Settings) -> str:
    """Where the diskcache manager keeps job results and progress."""
    return str(settings.home / "background")


def _caller_identity() -> tuple[Any, ...]:
    """Who asks and which data they would see: part of every background result key."""
    user = signed_in_user()
    if user is None:
        return ("anonymous",)
    try:
        from app.runtime import current_runtime

        version = current_runtime().warehouse.snapshot().version.id
    except Exception:  # noqa: BLE001 - a warehouse that is down fails later, with a message
        version = None
    return (user.id, user.role, user.scopes, version)


class ThreadJobManager(dash.DiskcacheManager):
    """Dash's diskcache manager with jobs on a thread pool instead of forked processes.

    Job ids are random; "running" is a diskcache entry (shared by all workers, so a poll
    that reaches another worker sees the job). Cancel stops the page waiting and drops
    the job's "running" mark; a query already sent to the warehouse finishes on its own
    (Python cannot kill a thread) and its result is only cached.
    """

    RUNNING_TTL = 900

    def __init__(self, cache: Any, *, cache_by: list[Callable[[], Any]] | None = None,
                 expire: int | None = None, workers: int = 4,
                 server: Flask | None = None) -> None:
        super().__init__(cache, cache_by=cache_by, expire=expire)
        self.server = server
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix="starboard-job")

    @staticmethod
    def _running(job: object) -> str:
        return f"starboard-job-running:{int(job)}"  # type: ignore[call-overload]

    def call_job_fn(self, key: str, job_fn: Callable[..., Any], args: Any,
                    context: Any) -> int:
        job = secrets.randbits(62) or 1
        self.handle.set(self._running(job), os.getpid(), expire=self.RUNNING_TTL)

        def work() -> None:
            _JOB_SERVER.set(self.server)     # job_fn copies this context: in_request reads it
            try:
                job_fn(key, self._make_progress_key(key), args, context)
            finally:
                self.handle.delete(self._running(job))

        self._pool.submit(work)
        return job

    def job_running(self, job: object) -> bool:
        return bool(job) and self.handle.get(self._running(job)) is not None

    def terminate_job(self, job: object) -> None:
        if job:
            self.handle.delete(self._running(job))

    def terminate_unhealthy_job(self, job: object) -> bool:
        return False


def manager(settings: Settings, server: Flask | None = None
            ) -> ThreadJobManager | dash.CeleryManager:
    """The background-callback manager for these settings (see the module docstring);
    ``server`` is the Flask app whose requests the jobs run in."""
    if settings.background == "celery":
        try:
            from celery import Celery
        except ImportError as exc:
            raise ConfigError("STARBOARD_BACKGROUND=celery needs Celery: "
                              "pip install 'starboard[celery]'.") from exc

        celery_app = Celery("starboard", broker=settings.redis_url, backend=settings.redis_url)
        celery_app.conf.update(task_track_started=True, result_expires=RESULT_EXPIRE_SECONDS,
                               broker_connection_retry_on_startup=True)
        return dash.CeleryManager(celery_app, cache_by=[_caller_identity],
                                  expire=RESULT_EXPIRE_SECONDS)
    import diskcache

    _SERVER_PID[:] = [os.getpid()]
    cache = diskcache.Cache(background_dir(settings))
    return ThreadJobManager(cache, cache_by=[_caller_identity], expire=RESULT_EXPIRE_SECONDS,
                            workers=settings.threads, server=server)


def celery_app_of(app: dash.Dash) -> Any:
    """The Celery application of ``app``'s manager (for ``celery -A app.wsgi:celery_app``),
    or None when the app runs background callbacks with the diskcache manager."""
    mgr = getattr(app, "_background_manager", None)
    return mgr.handle if isinstance(mgr, dash.CeleryManager) else None


def _fresh_engines() -> None:
    """In a job process (a Celery worker's child): replace engines inherited from the
    parent through fork with new ones. Jobs on the web process's own threads share its."""
    if _RESET_PID == [os.getpid()] or _SERVER_PID == [os.getpid()]:
        return
    from app.runtime import current_runtime
    from app.warehouse import Warehouse

    runtime = current_runtime()
    old = runtime.warehouse
    runtime.warehouse = Warehouse(old.url, memory_limit=old.memory_limit, threads=old.threads,
                                  check_interval=old.check_interval)
    runtime.users.db.engine.dispose(close=False)
    _RESET_PID[:] = [os.getpid()]


def in_request(permission: str = "signed_in") -> Callable[[F], F]:
    """Run the wrapped callback body inside the caller's request (see the module docstring).

    Inside a web request it only checks ``permission``; in a job process it rebuilds the
    request from the caller's cookies and headers first. A caller who is no longer signed
    in, or lacks ``permission``, gets AccessDenied.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            if has_request_context():
                require(signed_in_user(), permission)
                return fn(*args, **kwargs)
            ctx = dash.callback_context
            headers = {k: v for k, v in (ctx.headers or {}).items()
                       if k.lower() in ("cookie", "authorization", "user-agent", "host")}
            server = _JOB_SERVER.get(None) or dash.get_app().server
            with server.test_request_context("/_dash-update-component", method="POST",
                                             headers=headers):
                _fresh_engines()
                user = signed_in_user()
                if user is None:
                    raise AccessDenied("Your session ended: sign in again.")
                require(user, permission)
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
