"""gunicorn settings for ``gunicorn -c gunicorn.conf.py app.wsgi:server``.

Everything comes from ``STARBOARD_*`` variables (see the README). The app is not preloaded:
each worker opens the warehouse after the fork (DuckDB must not be shared across a fork).
``kill -HUP <master pid>`` reloads gracefully: new workers with the current code and
settings start, old ones finish their requests (up to ``graceful_timeout``) and exit.
"""

import logging
import os
import threading
import time

from app.core.config import ensure_secret_key, load_settings
from app.core.private import PRIVATE_UMASK, private_home, private_umask

_settings = load_settings()
private_umask()  # the master and every worker it forks create private files (app/core/private.py)
# gunicorn's own files (its control socket, the workers' heartbeat files) too.
umask = PRIVATE_UMASK

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
# A gthread worker keeps heart-beating while its threads run long queries, so this only
# restarts a worker that hangs as a whole; long Tier 2 work runs as background callbacks.
timeout = _settings.timeout
graceful_timeout = 30
# Replace a worker after this many requests (jittered so they do not all go at once): a
# worker's native memory (DuckDB, allocator) creeps up slowly under load even though the
# Python heap and DuckDB's buffer pool stay flat; a fresh worker starts from ~0.3 GB.
max_requests = _settings.max_requests
max_requests_jitter = max_requests // 10
# Idle keep-alive connections stay open longer than the proxy keeps its own (nginx's
# upstream keepalive_timeout, 60 s): the side that closes an idle connection must be the
# client, or a request sent as the server closes it is reset (seen under load with 5 s).
keepalive = 75
preload_app = False
accesslog = "-"
# Method, path and protocol, never the query string: Dash polls a background callback with
# its handles in the URL (``endId``, ``cacheKey``, ``job``), and other query strings carry
# SQL or filter values. Then the duration in ms and the request id the app returns (its
# JSON log line for the request carries the same id).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
# gunicorn's control socket defaults to one path per OS user; keep it with this install.
control_socket = str(_settings.home / "gunicorn.ctl")
loglevel = _settings.log_level


def _warm_marker(master_pid: int):
    return _settings.home / f"warm-tier0.{master_pid}"


def on_starting(server):
    """Make the home private and create the session key once, in the master, before any
    worker starts."""
    private_home(_settings.home)
    ensure_secret_key(_settings)
    for marker in _settings.home.glob("warm-tier0.*"):  # left by a master that was killed
        pid = marker.suffix.lstrip(".")
        if pid.isdigit() and not _alive(int(pid)):
            marker.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# glibc gives each thread that contends for malloc an arena of its own (up to 8 per core),
# and a threaded worker's RSS grows as they fragment: with 2 arenas a 50-user, 10-minute
# run on 10M interactions sat 40-120 MB lower per worker (bench/load.py); max_requests
# bounds what growth remains. MALLOC_ARENA_MAX in the environment, if set, wins.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number (glibc malloc.h)


def post_fork(server, worker):
    """Cap malloc arenas in the worker before its threads start (see MALLOC_ARENAS)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        pass


def post_worker_init(worker):
    """Warm Dash once per worker before it takes traffic: concurrent first requests to a
    cold worker can fail with '"dash" is not a registered library' (plotly/dash#3971).
    With STARBOARD_SCHEDULER, start the worker's pipeline scheduler (one worker of the
    deployment holds its lock and runs the schedule). Then the first worker to claim this
    master's marker file fills the shared query cache with the Tier 0 boards, in a
    background thread (the worker serves meanwhile)."""
    with worker.wsgi.test_client() as client:
        client.get("/_dash-layout")
        client.get("/_dash-dependencies")
    if _settings.scheduler:
        # Every worker stands by for the deployment's scheduler lock; one runs the schedule.
        from app.cli.scheduler import start_scheduler

        start_scheduler(worker.wsgi.extensions["starboard"].settings)
    if _settings.cache in ("null", "simple"):
        return  # nothing another worker could read
    try:
        fd = os.open(_warm_marker(worker.ppid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another worker of this master warms (or warmed) the shared cache
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    threading.Thread(
        target=_warm_tier0, args=(worker.wsgi,), name="tier0-warm", daemon=True
    ).start()


def _warm_tier0(server) -> None:
    from app.core.errors import StarboardError
    from queries.boards.tier0 import warm_tier0

    log = logging.getLogger("starboard.warm")
    started = time.perf_counter()
    try:
        with server.app_context():
            count = warm_tier0(server.extensions["starboard"])
    except StarboardError as exc:
        log.warning("Tier 0 boards not warmed: %s", exc.message)
        return
    except Exception:
        log.exception("Tier 0 warm failed")
        return
    log.info(
        "tier0 warm: %d queries in %.1f s (pid %d)",
        count,
        time.perf_counter() - started,
        os.getpid(),
    )


def worker_exit(server, worker):
    """Release the scheduler lock at once, so a standing-by worker takes over."""
    if _settings.scheduler:
        from app.cli.scheduler import stop_scheduler

        stop_scheduler()


def on_exit(server):
    """The next start warms again."""
    _warm_marker(os.getpid()).unlink(missing_ok=True)
