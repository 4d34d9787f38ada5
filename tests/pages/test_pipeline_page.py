"""/pipeline on a small warehouse built by ``run_load`` from the hand-written raw dataset: one
published run, then one that failed on a bad CSV value (so both show in the history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.app.loader import rawdata
from tests.conftest import add_users, find, find_all, make_app, render, signed_in, texts

BAD_LINE = 5  # interactions.csv: header is line 1, so the 4th row is line 5


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from app.cli.pipeline import run_load
    from app.core.config import load_settings
    from app.core.errors import DataError

    root = tmp_path_factory.mktemp("pipeline_page")
    raw = rawdata.write_csv(root / "raw")
    home = root / "home"
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    meta = f"sqlite:///{root / 'meta.sqlite'}"
    settings = load_settings(
        {
            "home": str(home),
            "db_url": url,
            "meta_db_url": meta,
            "pipeline": str(raw),
            "cache": "null",
        }
    )
    published = run_load(raw, settings)
    data = rawdata.tables()
    data["interactions"][BAD_LINE - 2]["quantity"] = "lots"
    rawdata.write_csv(raw, data)
    with pytest.raises(DataError):
        run_load(raw, settings)
    return {
        "root": root,
        "raw": raw,
        "home": home,
        "url": url,
        "meta": meta,
        "version": published.version,
    }


@pytest.fixture(scope="module")
def pipeline_app(built: dict):
    app = make_app(
        built["url"], built["home"], meta_db_url=built["meta"], pipeline=str(built["raw"])
    )
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture(scope="module")
def page(pipeline_app) -> dict:
    return render(signed_in(pipeline_app, "ana"), "/pipeline")


def _rows(node: dict | None) -> list[list[str]]:
    assert node is not None
    return [
        [" ".join(texts(td)) for td in find_all(tr, lambda n: n.get("type") == "Td")]
        for tr in find_all(node, lambda n: n.get("type") == "Tr")
        if find_all(tr, lambda n: n.get("type") == "Td")
    ]


def _runs(built: dict) -> list[sa.Row]:
    engine = sa.create_engine(built["meta"])
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT id, status, mode, trigger, version, error FROM sb_pipeline_run ORDER BY id"
            ).all()
    finally:
        engine.dispose()


def test_the_dag_lists_every_task_by_layer_and_draws_it(page, built) -> None:
    from app.loader.project import load_project

    project = load_project(built["raw"])
    listed = find(page, "pipeline-dag-list")
    items = find_all(listed, lambda n: "data-task" in n.get("props", {}))
    assert sorted(i["props"]["data-task"] for i in items) == sorted(project.tasks)
    status = {i["props"]["data-task"]: i["props"]["data-status"] for i in items}
    # the last run failed on the interactions source: it is red, what reads it was skipped
    assert status["interactions"] == "failed"
    assert status["fct_interaction"] == "skipped"
    assert status["channels"] == "ok"
    figure = find(page, "pipeline-dag")["props"]["figure"]
    drawn = [t for tr in figure["data"] for t in (tr.get("text") or [])]
    names = {t.replace("<b>", "").replace("</b>", "") for t in drawn}
    assert names == set(project.tasks)
    assert "<b>fct_interaction</b>" in drawn and "interactions" in drawn  # outputs in bold
    # layers: sources at 0, fct_interaction after dim_campaign, which reads dim_channel
    where = {
        t.replace("<b>", "").replace("</b>", ""): x
        for tr in figure["data"]
        if tr.get("text")
        for t, x in zip(tr["text"], tr["x"], strict=True)
    }
    assert where["interactions"] == 0 and where["dim_channel"] == 1
    assert where["dim_date"] == 1  # a transform that reads nothing still comes after sources
    assert where["dim_campaign"] == 2 and where["fct_interaction"] == 3


def test_the_runs_table_shows_both_runs_with_status_and_mode(page, built) -> None:
    runs = _runs(built)
    assert [r.status for r in runs] == ["published", "failed"]
    shown = _rows(find(page, "pipeline-runs"))
    assert [row[0] for row in shown] == [f"#{runs[1].id}", f"#{runs[0].id}"]  # newest first
    failed, published = shown
    assert [failed[1], *failed[3:5]] == ["failed", "cli", "full"]
    assert [published[1], *published[3:5]] == ["published", "cli", "full"]
    assert published[6] == built["version"] == runs[0].version
    assert published[7].endswith("%") and failed[7] == "—"
    assert "lots" in failed[8]


def test_a_failed_run_shows_its_error_and_the_failed_tasks_detail(page) -> None:
    alert = " ".join(texts(find(page, "pipeline-last-error")))
    assert "failed" in alert
    assert f"interactions.csv line {BAD_LINE}, column quantity" in alert
    tasks = _rows(find(page, "pipeline-tasks"))
    by_name = {row[1]: row for row in tasks}
    assert by_name["interactions"][3] == "failed"
    assert (
        f'line {BAD_LINE}, column quantity: Could not convert string "lots"'
        in by_name["interactions"][7]
    )
    assert by_name["fct_interaction"][3] == "skipped"
    assert by_name["channels"][3:5] == ["ok", "3"]  # rows read from channels.csv


def test_selecting_a_run_shows_its_tasks(pipeline_app, built) -> None:
    first = _runs(built)[0]
    page = render(signed_in(pipeline_app, "ada"), "/pipeline", f"?run={first.id}")
    tasks = {row[1]: row for row in _rows(find(page, "pipeline-tasks"))}
    assert tasks["interactions"][3:5] == ["ok", str(len(rawdata.interactions()))]
    assert tasks["publish"][2:4] == ["step", "ok"]
    assert f"Tasks of run #{first.id}" in texts(page)
    odd = render(signed_in(pipeline_app, "ada"), "/pipeline", "?run=abc")
    assert "pipeline-tasks" in json.dumps(odd)  # an odd run id shows the last run


def test_freshness_rows_hold_each_output_fact_to_its_slo(page, pipeline_app) -> None:
    engine = pipeline_app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        latest = conn.exec_driver_sql("SELECT max(occurred_at) FROM fct_interaction").scalar()
    rows = {row[1]: row for row in _rows(find(page, "pipeline-freshness"))}
    assert set(rows) == {"fct_interaction", "fct_marketing_spend"}
    fact = rows["fct_interaction"]
    assert fact[3] == f"{latest:%Y-%m-%d %H:%M}"
    age = (datetime.now(UTC).replace(tzinfo=None) - latest).total_seconds() / 3600
    assert abs(float(fact[4].removesuffix(" h").replace(",", "")) - age) < 0.2
    assert fact[5] == "36 h" and fact[6] == "default (STARBOARD_FRESHNESS_SLO_HOURS)"
    assert fact[0] == "breached"  # March data, read in December
    spend = rows["fct_marketing_spend"]
    assert spend[5] == "48 h" and spend[6] == "model tables.fct_marketing_spend.freshness_hours"


def test_the_schedule_is_shown_with_its_next_time_and_who_runs_it(page) -> None:
    from croniter import croniter

    shown = " ".join(texts(find(page, "pipeline-schedule")))
    upcoming = croniter("0 6 * * *", datetime.now(UTC).replace(tzinfo=None)).get_next(datetime)
    assert "0 6 * * *" in shown and "every day at 06:00 UTC" in shown
    assert f"{upcoming:%d %b %H:%M}" in shown
    assert "cron / systemd" in shown and "STARBOARD_SCHEDULER is off" in shown


def test_a_deployment_without_a_project_says_how_to_start(built, tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    app = make_app(built["url"], tmp_path / "home", pipeline=str(empty))
    add_users(app)
    try:
        page = render(signed_in(app, "ada"), "/pipeline")
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
    shown = " ".join(texts(find(page, "pipeline-missing")))
    assert str(empty) in shown and "holds no pipeline.yaml" in shown
    assert "Loading your own data" in shown and "starboard load DIR" in shown
    assert "sb-error" not in json.dumps(page)


def test_a_project_with_problems_lists_them_with_file_and_line(built, tmp_path: Path) -> None:
    broken = rawdata.write_csv(tmp_path / "raw")
    file = broken / "pipeline.yaml"
    text = file.read_text(encoding="utf-8").replace('schedule: "0 6 * * *"', 'schedule: "daily"')
    file.write_text(text, encoding="utf-8")
    line = text.splitlines().index('schedule: "daily"') + 1
    app = make_app(built["url"], tmp_path / "home", pipeline=str(broken))
    add_users(app)
    try:
        page = render(signed_in(app, "ada"), "/pipeline")
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
    shown = " ".join(texts(find(page, "pipeline-problems")))
    assert f"{file}:{line}: schedule: 'daily' is not a cron expression" in shown


@pytest.mark.parametrize("name", ["erin", "oscar"])
def test_executives_and_operators_may_not_open_it(pipeline_app, name: str) -> None:
    client = signed_in(pipeline_app, name)
    assert client.get("/pipeline").status_code == 403
    shown = texts(render(client, "/pipeline"))
    assert "No access" in shown and "interactions" not in " ".join(shown)
