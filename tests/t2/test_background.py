"""The background-callback manager: threads by default, Celery with Redis; results keyed
by who asks, so a job runs as the user whose session started it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dash
import pytest

from app import background
from app.config import load_settings
from app.errors import ConfigError
from tests.conftest import add_users, find, make_app, signed_in, unavailable
from tests.t2.test_callbacks import _explore

REDIS_URL = os.environ.get("STARBOARD_TEST_REDIS_URL", "")


def test_threads_and_a_diskcache_under_home_by_default(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path)}, environ={})
    mgr = background.manager(settings)
    assert isinstance(mgr, background.ThreadJobManager)
    assert Path(mgr.handle.directory) == tmp_path / "background"
    assert background.celery_app_of(dash.Dash(__name__, background_callback_manager=mgr)
                                    ) is None


def test_redis_for_the_cache_alone_keeps_jobs_on_threads(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path), "redis_url": "redis://127.0.0.1:6379/15"},
                             environ={})
    assert settings.cache == "redis"
    assert isinstance(background.manager(settings), background.ThreadJobManager)


def test_celery_without_redis_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STARBOARD_BACKGROUND=celery needs STARBOARD_REDIS"):
        load_settings({"home": str(tmp_path)}, environ={"STARBOARD_BACKGROUND": "celery"})
    with pytest.raises(ConfigError, match="STARBOARD_BACKGROUND='rq' is not valid"):
        load_settings({"home": str(tmp_path)}, environ={"STARBOARD_BACKGROUND": "rq"})


def test_celery_on_redis_when_configured(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path), "redis_url": "redis://127.0.0.1:6379/15",
                              "background": "celery"}, environ={})
    mgr = background.manager(settings)
    assert isinstance(mgr, dash.CeleryManager)
    app = dash.Dash(__name__, background_callback_manager=mgr)
    celery = background.celery_app_of(app)
    assert celery is mgr.handle
    assert celery.conf.broker_url == "redis://127.0.0.1:6379/15"


def test_a_job_is_seen_running_by_every_worker(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path)}, environ={})
    first, second = background.manager(settings), background.manager(settings)  # 2 workers
    release, done = threading.Event(), threading.Event()

    def job_fn(key, progress_key, args, context) -> None:
        release.wait(10)
        first.handle.set(key, args)
        done.set()

    job = first.call_job_fn("result-key", job_fn, ["x"], {})
    assert second.job_running(job) and first.job_running(str(job))
    release.set()
    assert done.wait(10)
    deadline = time.monotonic() + 5
    while second.job_running(job) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not second.job_running(job)
    assert second.handle.get("result-key") == ["x"]
    other = first.call_job_fn("k2", lambda *a: release.wait(10), [], {})
    second.terminate_job(other)                     # Cancel from another worker
    assert not first.job_running(other)


def test_jobs_run_as_the_user_whose_session_started_them(t2_app) -> None:
    search = "?metrics=orders&by=region"
    emea = _explore(signed_in(t2_app, "emea"), search)
    ada = _explore(signed_in(t2_app, "ada"), search)   # same inputs, another user
    regions = [[r["region"] for r in find(res, "t2-table")["props"]["rowData"]]
               for res in (emea, ada)]
    assert regions == [["EMEA"], ["AMER", "APAC", "EMEA"]]



@pytest.fixture
def celery_app(tiny_demo: str, pii_model: Path, tmp_path: Path):
    """An app whose background callbacks go to Celery, and a real Celery worker process
    started from ``app.wsgi:celery_app`` with the same environment (as ops run it)."""
    if not REDIS_URL:
        unavailable("STARBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    home = tmp_path / "home"
    env_settings = {"STARBOARD_HOME": str(home), "STARBOARD_DB_URL": tiny_demo,
                    "STARBOARD_MODEL": str(pii_model), "STARBOARD_CACHE": "null",
                    "STARBOARD_REDIS_URL": REDIS_URL, "STARBOARD_BACKGROUND": "celery"}
    app = make_app(tiny_demo, home, model=str(pii_model), redis_url=REDIS_URL,
                   background="celery")
    add_users(app)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app.wsgi:celery_app", "worker",
         "--pool=solo", "--loglevel=info", "--without-gossip", "--without-mingle",
         f"--hostname=test-{uuid.uuid4().hex[:8]}@%h"],
        env={**os.environ, **env_settings}, stdout=log, stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2])
    try:
        yield app, tmp_path / "worker.log"
    finally:
        worker.terminate()
        worker.wait(20)
        log.close()
        app.server.extensions["starboard"].warehouse.dispose()


@pytest.mark.redis
def test_a_real_celery_worker_runs_the_explorer_as_the_signed_in_user(celery_app) -> None:
    app, worker_log = celery_app
    search = "?metrics=orders&by=region"
    try:
        emea = _explore(signed_in(app, "emea"), search, timeout=60)
        ada = _explore(signed_in(app, "ada"), search, timeout=30)
    except AssertionError:
        raise AssertionError("no result from the worker; its log:\n"
                             + worker_log.read_text()[-3000:]) from None
    regions = [[r["region"] for r in find(res, "t2-table")["props"]["rowData"]]
               for res in (emea, ada)]
    assert regions == [["EMEA"], ["AMER", "APAC", "EMEA"]]
    assert "succeeded" in worker_log.read_text()     # the worker ran them, not the web app
