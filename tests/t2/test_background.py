"""The background-callback manager: threads by default, Celery with Redis; results keyed
by who asks, so a job runs as the user whose session started it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dash

from app import background
from app.config import load_settings
from tests.conftest import find, signed_in
from tests.t2.test_callbacks import _explore


def test_threads_and_a_diskcache_under_home_by_default(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path)}, environ={})
    mgr = background.manager(settings)
    assert isinstance(mgr, background.ThreadJobManager)
    assert Path(mgr.handle.directory) == tmp_path / "background"
    assert background.celery_app_of(dash.Dash(__name__, background_callback_manager=mgr)
                                    ) is None


def test_celery_on_redis_when_configured(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path), "redis_url": "redis://127.0.0.1:6379/15"},
                             environ={})
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

