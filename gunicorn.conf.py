"""gunicorn settings for ``gunicorn -c gunicorn.conf.py app.wsgi:server``.

Everything comes from ``STARBOARD_*`` variables (see the README). The app is not preloaded:
each worker opens the warehouse after the fork (DuckDB must not be shared across a fork).
"""

from app.config import ensure_secret_key, load_settings

_settings = load_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
timeout = _settings.timeout
graceful_timeout = 30
keepalive = 5
preload_app = False
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}i)s'
errorlog = "-"
# gunicorn's control socket defaults to one path per OS user; keep it with this install.
control_socket = str(_settings.home / "gunicorn.ctl")
loglevel = _settings.log_level


def on_starting(server):
    """Create the session key once, in the master, before any worker starts."""
    _settings.home.mkdir(parents=True, exist_ok=True)
    ensure_secret_key(_settings)


def post_worker_init(worker):
    """Warm Dash once per worker before it takes traffic: concurrent first requests to a
    cold worker can fail with '"dash" is not a registered library' (plotly/dash#3971)."""
    with worker.wsgi.test_client() as client:
        client.get("/_dash-layout")
        client.get("/_dash-dependencies")
