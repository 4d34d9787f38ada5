"""The background-callback manager: threads by default, Celery with Redis; results keyed
by who asks, so a job runs as the user whose session started it."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import dash
import pytest

from app.core import background
from app.core.config import load_settings
from app.core.errors import ConfigError
from tests.conftest import add_users, find, make_app, signed_in, unavailable
from tests.fixtures.t2 import as_user
from tests.pages.test_t2_callbacks import RESULT, _call, _explore

REDIS_URL = os.environ.get("STARBOARD_TEST_REDIS_URL", "")


def test_threads_and_a_diskcache_under_home_by_default(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path)}, environ={})
    mgr = background.manager(settings)
    assert isinstance(mgr, background.ThreadJobManager)
    assert Path(mgr.handle.directory) == tmp_path / "background"
    assert background.celery_app_of(dash.Dash(__name__, background_callback_manager=mgr)) is None


def test_redis_for_the_cache_alone_keeps_jobs_on_threads(tmp_path: Path) -> None:
    settings = load_settings(
        {"home": str(tmp_path), "redis_url": "redis://127.0.0.1:6379/15"}, environ={}
    )
    assert settings.cache == "redis"
    assert isinstance(background.manager(settings), background.ThreadJobManager)


def test_celery_without_redis_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STARBOARD_BACKGROUND=celery needs STARBOARD_REDIS"):
        load_settings({"home": str(tmp_path)}, environ={"STARBOARD_BACKGROUND": "celery"})
    with pytest.raises(ConfigError, match="STARBOARD_BACKGROUND='rq' is not valid"):
        load_settings({"home": str(tmp_path)}, environ={"STARBOARD_BACKGROUND": "rq"})


def test_celery_on_redis_when_configured(tmp_path: Path) -> None:
    settings = load_settings(
        {"home": str(tmp_path), "redis_url": "redis://127.0.0.1:6379/15", "background": "celery"},
        environ={},
    )
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
    second.terminate_job(other)  # Cancel from another worker
    assert not first.job_running(other)


def test_jobs_run_as_the_user_whose_session_started_them(t2_app) -> None:
    search = "?metrics=orders&by=region"
    emea = _explore(signed_in(t2_app, "emea"), search)
    ada = _explore(signed_in(t2_app, "ada"), search)  # same inputs, another user
    regions = [
        [r["region"] for r in find(res, "t2-table")["props"]["rowData"]] for res in (emea, ada)
    ]
    assert regions == [["EMEA"], ["AMER", "APAC", "EMEA"]]


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_only_the_user_who_started_a_job_reads_or_cancels_it(t2_app, tmp_path: Path) -> None:
    mgr = background.manager(load_settings({"home": str(tmp_path)}, environ={}))
    release, reported = threading.Event(), threading.Event()

    def job_fn(key, progress_key, args, context) -> None:
        mgr.handle.set(progress_key, ["half way"])
        mgr.handle.set(f"{key}-set_props", {"t2-status": {"children": "ada's side update"}})
        reported.set()
        release.wait(10)
        mgr.handle.set(key, {"rows": ["ada@example.com"]})

    with as_user(t2_app, "ada"):
        job = mgr.call_job_fn("ada-key", job_fn, [], {})
    assert reported.wait(10)  # ada's job has progress for emea to steal
    with as_user(t2_app, "emea"):  # the handles of ada's job, replayed
        assert not mgr.job_running(job)
        mgr.terminate_job(job)  # Cancel, as Dash's cancel callback calls it
        mgr.terminate_job(str(job))
        assert mgr.get_progress("ada-key") is None
        assert mgr.get_updated_props("ada-key") == {}
    with t2_app.server.test_request_context("/"):  # nobody signed in
        assert not mgr.job_running(job) and mgr.get_progress("ada-key") is None
    with as_user(t2_app, "ada"):
        assert mgr.job_running(job)  # emea's cancel did not stop it
        assert mgr.get_progress("ada-key") == ["half way"]
    release.set()
    with as_user(t2_app, "ada"):
        _wait_until(lambda: not mgr.job_running(job))
    with as_user(t2_app, "emea"):
        assert not mgr.result_ready("ada-key")
        assert mgr.get_result("ada-key", job) is mgr.UNDEFINED
    with as_user(t2_app, "ada"):
        assert mgr.result_ready("ada-key")
        assert mgr.get_result("ada-key", job) == {"rows": ["ada@example.com"]}
        assert mgr.get_updated_props("ada-key") == {"t2-status": {"children": "ada's side update"}}
    with as_user(t2_app, "emea"):  # still not after the owner has read it
        assert mgr.get_result("ada-key", job) is mgr.UNDEFINED


def _end_id(client) -> str:
    """The per-page-load ``endId`` the renderer sends with every callback (Dash's config)."""
    page = client.get("/t2/explore").get_data(as_text=True)
    match = re.search(r'"end_id":\s*"([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def test_another_users_replayed_poll_gets_nothing_and_cannot_cancel(
    t2_app, monkeypatch, caplog
) -> None:
    """The attack of issue #14: a scoped analyst posts an admin's ``endId``, ``cacheKey``
    and ``job`` (as the access log used to show them) to poll and to cancel."""
    mgr = t2_app._background_manager
    held: list = []
    monkeypatch.setattr(mgr._pool, "submit", held.append)  # the job waits until we run it
    ada, emea = signed_in(t2_app, "ada"), signed_in(t2_app, "emea")
    inputs = [("t2-state", "data", "?metrics=orders&by=email&order=-orders&limit=3")]
    end_id = _end_id(ada)
    started = _call(ada, RESULT, inputs, query=f"?endId={end_id}").get_json()
    handles = urlencode({"endId": end_id, "cacheKey": started["cacheKey"], "job": started["job"]})
    with caplog.at_level(logging.WARNING, logger="starboard.background"):
        cancelled = _call(
            emea,
            "t2-cancel.id",
            [("t2-cancel", "n_clicks", 1)],
            query="?" + urlencode({"endId": end_id, "cancelJob": started["job"]}),
        )
        assert cancelled.status_code in (200, 204)
        restarted = _call(
            emea, RESULT, inputs, query="?" + urlencode({"endId": end_id, "oldJob": started["job"]})
        )
        assert restarted.status_code == 200  # emea's own run (and emea's own job)
        assert len(held) == 2
        held[0]()  # ada's job runs: it was not cancelled
        stolen = _call(emea, RESULT, inputs, query="?" + handles)
    assert stolen.status_code == 204 and stolen.get_data() == b""
    assert (
        sum("background" in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
        >= 3
    )
    own = _call(ada, RESULT, inputs, query="?" + handles)
    assert own.status_code == 200
    rows = find(own.get_json()["response"]["t2-result"]["children"], "t2-table")
    assert rows is not None and all("@" in r["email"] for r in rows["props"]["rowData"])
    again = _call(emea, RESULT, inputs, query="?" + handles)  # after ada read it, too
    assert again.status_code == 204 and b"@" not in again.get_data()


@pytest.mark.redis
def test_on_celery_too_only_the_owner_reads_or_cancels(t2_app, tmp_path: Path, monkeypatch) -> None:
    if not REDIS_URL:
        unavailable("STARBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    settings = load_settings(
        {"home": str(tmp_path), "redis_url": REDIS_URL, "background": "celery"}, environ={}
    )
    mgr = background.manager(settings)
    assert isinstance(mgr, background.OwnedCeleryManager)
    sent, terminated = [], []

    class Task:  # the task Dash registers; the broker is not needed here
        def apply_async(self, args, task_id):
            sent.append((args, task_id))

    monkeypatch.setattr(mgr.handle.control, "terminate", terminated.append)
    key = f"celery-key-{uuid.uuid4().hex}"
    with as_user(t2_app, "ada"):
        job = mgr.call_job_fn(key, Task(), ["x"], {})
    assert sent == [((key, key + "-progress", ["x"], {}), job)]
    backend = mgr.handle.backend
    backend.set(key + "-progress", json.dumps(["half way"]))
    backend.set(key, json.dumps({"rows": ["ada@example.com"]}))
    with as_user(t2_app, "emea"):
        assert not mgr.job_running(job)
        mgr.terminate_job(job)
        assert terminated == []
        assert mgr.get_progress(key) is None and not mgr.result_ready(key)
        assert mgr.get_result(key, job) is mgr.UNDEFINED
    with as_user(t2_app, "ada"):
        assert mgr.job_running(job)  # PENDING: nobody cancelled it
        assert mgr.get_progress(key) == ["half way"]
        assert mgr.get_result(key, job) == {"rows": ["ada@example.com"]}
        assert terminated == [job]  # the owner's read ends the job, as Dash does


@pytest.fixture
def celery_app(tiny_demo: str, pii_model: Path, tmp_path: Path):
    """An app whose background callbacks go to Celery, and a real Celery worker process
    started from ``app.wsgi:celery_app`` with the same environment (as ops run it)."""
    if not REDIS_URL:
        unavailable("STARBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    home = tmp_path / "home"
    env_settings = {
        "STARBOARD_HOME": str(home),
        "STARBOARD_DB_URL": tiny_demo,
        "STARBOARD_MODEL": str(pii_model),
        "STARBOARD_CACHE": "null",
        "STARBOARD_REDIS_URL": REDIS_URL,
        "STARBOARD_BACKGROUND": "celery",
    }
    app = make_app(tiny_demo, home, model=str(pii_model), redis_url=REDIS_URL, background="celery")
    add_users(app)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.wsgi:celery_app",
            "worker",
            "--pool=solo",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
        ],
        env={**os.environ, **env_settings},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[3],
    )
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
        raise AssertionError(
            "no result from the worker; its log:\n" + worker_log.read_text()[-3000:]
        ) from None
    regions = [
        [r["region"] for r in find(res, "t2-table")["props"]["rowData"]] for res in (emea, ada)
    ]
    assert regions == [["EMEA"], ["AMER", "APAC", "EMEA"]]
    assert "succeeded" in worker_log.read_text()  # the worker ran them, not the web app
