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
  and the data version, so one user's run never computes another's result. A key is not
  a lock, though: the three handles a page polls with (``endId``, ``cacheKey``, ``job``)
  travel in URLs, so both managers also store the owner (the signed-in user's id) beside
  each result and each job, and check it on every read: a result, its progress and its
  side updates go only to the user who started the job, and only that user can cancel
  it. Anyone else replaying the handles gets "no update" and a warning in the log.
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

The access gate (``app/core/gate.py``) checks the start request and every polling request
(they carry the same ``output``), and gives Dash's own cancel callback the access of the
page whose callback it cancels.
"""

from __future__ import annotations

import abc
import functools
import logging
import os
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

import dash
from flask import Flask, has_request_context

from app.core.auth import require, signed_in_user
from app.core.config import Settings
from app.core.errors import AccessDenied, ConfigError
from app.core.runtime import current_runtime
from app.core.warehouse import Warehouse

log = logging.getLogger("starboard.background")
F = TypeVar("F", bound=Callable[..., Any])
RESULT_EXPIRE_SECONDS = 3600
CELERY_EXTENSION = "starboard.celery"
_RESET_PID: list[int] = []  # the job process whose inherited engines were replaced
_SERVER_PID: list[int] = []  # the process that built the app (jobs there share it)
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
        version = current_runtime().warehouse.snapshot().version.id
    except Exception:  # noqa: BLE001 - a warehouse that is down fails later, with a message
        version = None
    return (user.id, user.role, user.scopes, version)


def _requester() -> str | None:
    """Who is asking for a job or its result: ``user:<id>`` of the signed-in user; None in
    a request nobody is signed in to (owns nothing, reads nothing); ``process`` outside
    any request (a CLI or a test driving the manager directly)."""
    if not has_request_context():
        return "process"
    user = signed_in_user()
    return f"user:{user.id}" if user is not None else None


def _text(value: object) -> str | None:
    """A stored owner as text (Redis hands back bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


class _OwnedJobs(abc.ABC):
    """The owner check both managers share: a result key and a job each have an owner,
    stored when the job starts; a read or a cancel by anyone else is refused. Mixed in
    before a Dash manager, whose reads it guards."""

    OWNER_PREFIX = "starboard-owner:"
    UNDEFINED: Any

    @abc.abstractmethod
    def _owner_of_key(self, key: str) -> str | None:
        """The name stored as the owner of result ``key``, None when there is none."""

    @abc.abstractmethod
    def _owner_of_job(self, job: object) -> str | None:
        """The name stored as the owner of ``job``, None when there is none."""

    def result_ready(self, key: str) -> bool:
        return self._owns_key(key) and super().result_ready(key)  # type: ignore[misc]

    def get_progress(self, key: str) -> Any:
        return super().get_progress(key) if self._owns_key(key) else None  # type: ignore[misc]

    def get_updated_props(self, key: str) -> dict:
        return super().get_updated_props(key) if self._owns_key(key) else {}  # type: ignore[misc]

    @classmethod
    def _key_owner_name(cls, key: str) -> str:
        return f"{cls.OWNER_PREFIX}key:{key}"

    @classmethod
    def _job_owner_name(cls, job: object) -> str:
        return f"{cls.OWNER_PREFIX}job:{job}"

    def _refused(self, what: str, stored: str | None, asking: str | None) -> bool:
        """True (and a warning) when ``asking`` does not own what it asks for."""
        if asking is not None and stored is not None and stored == asking:
            return False
        # The handles themselves stay out of the log: they are what an attacker replays.
        log.warning(
            "background %s refused: it belongs to %s, asked by %s",
            what,
            stored or "nobody known",
            asking or "a request with nobody signed in",
        )
        return True

    def _owns_key(self, key: str) -> bool:
        return not self._refused("result", self._owner_of_key(key), _requester())

    def _owns_job(self, job: object, owner: str | None = None) -> bool:
        """``owner``: the job's owner when the caller has read it already."""
        stored = owner if owner is not None else self._owner_of_job(job)
        return not self._refused("job", stored, _requester())


class ThreadJobManager(_OwnedJobs, dash.DiskcacheManager):
    """Dash's diskcache manager with jobs on a thread pool instead of forked processes.

    Job ids are random; "running" is a diskcache entry (shared by all workers, so a poll
    that reaches another worker sees the job) that also names the job's owner. Cancel stops
    the page waiting and drops the job's "running" mark; a query already sent to the
    warehouse finishes on its own (Python cannot kill a thread) and its result is only
    cached. Every read and cancel is checked against the owner (see the module docstring).
    """

    RUNNING_TTL = 900

    def __init__(
        self,
        cache: Any,
        *,
        cache_by: list[Callable[[], Any]] | None = None,
        expire: int | None = None,
        workers: int = 4,
        server: Flask | None = None,
    ) -> None:
        super().__init__(cache, cache_by=cache_by, expire=expire)
        self.server = server
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="starboard-job"
        )

    @staticmethod
    def _running(job: object) -> str:
        return f"starboard-job-running:{int(job)}"  # type: ignore[call-overload]

    def _owner_ttl(self) -> int:
        return max(self.expire or 0, self.RUNNING_TTL)

    def _owner_of_key(self, key: str) -> str | None:
        return _text(self.handle.get(self._key_owner_name(key)))

    def _owner_of_job(self, job: object) -> str | None:
        try:
            mark = self.handle.get(self._running(job))
        except (TypeError, ValueError):  # not a job id this manager hands out
            return None
        return _text(mark.get("owner")) if isinstance(mark, dict) else None

    def call_job_fn(self, key: str, job_fn: Callable[..., Any], args: Any, context: Any) -> int:
        job = secrets.randbits(62) or 1
        owner = _requester()
        self.handle.set(self._key_owner_name(key), owner, expire=self._owner_ttl())
        self.handle.set(
            self._running(job), {"pid": os.getpid(), "owner": owner}, expire=self.RUNNING_TTL
        )

        def work() -> None:
            _JOB_SERVER.set(self.server)  # job_fn copies this context: in_request reads it
            try:
                job_fn(key, self._make_progress_key(key), args, context)
            finally:
                self.handle.delete(self._running(job))

        self._pool.submit(work)
        return job

    def job_running(self, job: object) -> bool:
        # A finished job has no "running" mark left, so no owner: not running, for anyone.
        owner = self._owner_of_job(job) if job else None
        return owner is not None and self._owns_job(job, owner)

    def terminate_job(self, job: object) -> None:
        owner = self._owner_of_job(job) if job else None
        if owner is not None and self._owns_job(job, owner):
            self.handle.delete(self._running(job))

    def terminate_unhealthy_job(self, job: object) -> bool:
        return False

    def get_result(self, key: str, job: object) -> Any:
        if not self._owns_key(key):
            return self.UNDEFINED
        result = super().get_result(key, job)
        if result is not self.UNDEFINED:  # the owner lives as long as the result it guards
            self.handle.touch(self._key_owner_name(key), expire=self._owner_ttl())
        return result


class OwnedCeleryManager(_OwnedJobs, dash.CeleryManager):
    """Dash's Celery manager with the owner check: the owners sit in the Celery result
    backend (Redis) beside the results, and expire with them."""

    def _owner_of_key(self, key: str) -> str | None:
        return _text(self.handle.backend.get(self._key_owner_name(key)))

    def _owner_of_job(self, job: object) -> str | None:
        return _text(self.handle.backend.get(self._job_owner_name(job)))

    def call_job_fn(self, key: str, job_fn: Any, args: Any, context: Any) -> str:
        # The task id is chosen here so that the job's owner is stored before it can run.
        task_id = uuid.uuid4().hex
        owner = _requester() or ""
        backend = self.handle.backend
        backend.set(self._key_owner_name(key), owner, expires=self._owner_ttl())
        backend.set(self._job_owner_name(task_id), owner, expires=self._owner_ttl())
        job_fn.apply_async(args=(key, self._make_progress_key(key), args, context), task_id=task_id)
        return task_id

    def _owner_ttl(self) -> int:
        return int(self.expire or RESULT_EXPIRE_SECONDS)

    def job_running(self, job: object) -> bool:
        return bool(job) and self._owns_job(job) and bool(super().job_running(job))

    def terminate_job(self, job: object) -> None:
        if job and self._owns_job(job):
            super().terminate_job(job)

    def terminate_unhealthy_job(self, job: object) -> bool:
        return bool(job) and self._owns_job(job) and bool(super().terminate_unhealthy_job(job))

    def get_result(self, key: str, job: object) -> Any:
        if not self._owns_key(key):
            return self.UNDEFINED
        result = super().get_result(key, job)
        if result is not self.UNDEFINED and self.expire:
            self.handle.backend.expire(self._key_owner_name(key), self.expire)
        return result


def manager(
    settings: Settings, server: Flask | None = None
) -> ThreadJobManager | OwnedCeleryManager:
    """The background-callback manager for these settings (see the module docstring);
    ``server`` is the Flask app whose requests the jobs run in."""
    if settings.background == "celery":
        try:
            from celery import Celery
        except ImportError as exc:
            raise ConfigError(
                "STARBOARD_BACKGROUND=celery needs Celery: pip install 'starboard[celery]'."
            ) from exc

        celery_app = Celery("starboard", broker=settings.redis_url, backend=settings.redis_url)
        celery_app.conf.update(
            task_track_started=True,
            result_expires=RESULT_EXPIRE_SECONDS,
            broker_connection_retry_on_startup=True,
        )
        return OwnedCeleryManager(
            celery_app, cache_by=[_caller_identity], expire=RESULT_EXPIRE_SECONDS
        )
    import diskcache

    _SERVER_PID[:] = [os.getpid()]
    cache = diskcache.Cache(background_dir(settings))
    return ThreadJobManager(
        cache,
        cache_by=[_caller_identity],
        expire=RESULT_EXPIRE_SECONDS,
        workers=settings.threads,
        server=server,
    )


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

    runtime = current_runtime()
    old = runtime.warehouse
    runtime.warehouse = Warehouse(
        old.url,
        memory_limit=old.memory_limit,
        threads=old.threads,
        check_interval=old.check_interval,
    )
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
            headers = {
                k: v
                for k, v in (ctx.headers or {}).items()
                if k.lower() in ("cookie", "authorization", "user-agent", "host")
            }
            server = _JOB_SERVER.get(None) or dash.get_app().server
            with server.test_request_context(
                "/_dash-update-component", method="POST", headers=headers
            ):
                _fresh_engines()
                user = signed_in_user()
                if user is None:
                    raise AccessDenied("Your session ended: sign in again.")
                require(user, permission)
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
