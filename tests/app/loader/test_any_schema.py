"""The second schema (support desk) from raw files through a pipeline project to every page.

tests/queries/second_schema.py builds the support warehouse directly; here the same data is
written in a *different raw shape* — natural codes instead of surrogate keys, yes/no flags,
countries as JSON, agents in a SQLite database, no calendar at all — and a pipeline project
(pipeline.yaml + transforms/*.sql) rebuilds exactly the model's tables. `starboard load`'s
code path (``run_load``) publishes it; the tables equal the direct build row for row, the
model's implied checks ran and passed, the run history has every task, and every page renders.
Then the same project publishes to PostgreSQL, and bad input there leaves the live version.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from app.cli.pipeline import run_load
from app.core.config import Settings, load_settings
from app.core.errors import DataError, PipelineError
from app.core.meta import MetaDB
from app.core.pointer import read_pg_pointer
from app.core.stores.pipeline import recent_runs
from app.loader.gates import GateFailure
from app.loader.postgres import drop_all
from app.loader.project import load_project
from tests.conftest import PASSWORD, make_app, render, sign_in, texts
from tests.pages.test_other_model import BOARDS, PAGES
from tests.queries.second_schema import MODEL_PATH, SCHEMA, SupportData, build_rows, create_duckdb

PIPELINE = """
version: 1
name: support
model: model.yaml
schedule: "0 5 * * *"
sources:
  tickets:
    path: raw/tickets/*.csv            # one export per quarter
    columns:
      ticket_code: VARCHAR
      step: INTEGER
      happened_on: DATE
      store_code: VARCHAR
      agent: INTEGER
      minutes: INTEGER
      csat: INTEGER
      handover: INTEGER
    key: [ticket_code, step]
    required: [ticket_code, step, happened_on, kind]
  stores:
    path: raw/stores.csv
    columns: {store_code: VARCHAR, city_id: INTEGER, floors: INTEGER, opened: DATE}
    key: store_code
    required: [store_code, name]
  cities:
    path: raw/cities.csv
    columns: {city_id: INTEGER}
    key: city_id
  countries:
    path: raw/countries.json
    key: code
  agents:
    db: sqlite:///crm/agents.sqlite      # relative to this folder
    table: agents
    columns: {hired: DATE}
    key: agent_no
  staffing:
    path: raw/staffing_export.csv
    columns: {shift: INTEGER, store_code: VARCHAR, starts: TIMESTAMP, hours: DOUBLE}
    key: shift
    time: starts
  backlog:
    path: raw/backlog.csv
    columns: {id: INTEGER, store_code: VARCHAR, day: DATE, open: INTEGER}
    key: id
outputs:
  f_ticket_event: {}
  f_staffing: {}
  f_backlog: {}
  d_calendar: {}
  d_store: {}
  d_city: {}
  d_country: {}
  d_agent: {}
"""

TRANSFORMS = {
    "d_calendar": """
        -- no calendar in the raw data: one row per day, 2025–2026
        WITH days AS (
            SELECT CAST(d AS DATE) AS cal_date
            FROM generate_series(DATE '2025-01-01', DATE '2026-12-31', INTERVAL 1 DAY) AS t(d)
        )
        SELECT CAST(strftime(cal_date, '%Y%m%d') AS INTEGER) AS cal_key,
               cal_date,
               CAST(year(cal_date) AS INTEGER) AS cal_year,
               CAST(month(cal_date) AS INTEGER) AS cal_month,
               CAST(isodow(cal_date) AS INTEGER) AS weekday
        FROM days
    """,
    "d_country": """
        SELECT code AS iso, label AS country_label, continent FROM countries
    """,
    "d_city": """
        SELECT city_id AS city_ref, city AS city_label, country AS country_iso FROM cities
    """,
    "store_keys": """
        -- an intermediate transform (not published): store code → integer key
        SELECT store_code, CAST(substr(store_code, 3) AS INTEGER) AS store_ref FROM stores
    """,
    "d_store": """
        SELECT k.store_ref, s.name AS store_label, s.city_id AS city_ref, s.floors,
               s.flagship = 'yes' AS is_flagship, s.opened AS opened_on
        FROM stores s
        JOIN store_keys k USING (store_code)
    """,
    "d_agent": """
        SELECT CAST(agent_no AS INTEGER) AS agent_no, full_name AS agent_name, team,
               hired AS hired_on
        FROM agents
    """,
    "f_ticket_event": """
        SELECT CAST(substr(t.ticket_code, 3) AS INTEGER) AS ticket_id,
               t.step AS event_seq,
               c.cal_key AS event_cal_key,
               k.store_ref,
               t.agent AS agent_no,
               t.channel,
               t.kind AS event_kind,
               t.minutes AS minutes_spent,
               t.csat AS satisfaction,
               t.handover AS handover_agent_no
        FROM tickets t
        JOIN d_calendar c ON c.cal_date = t.happened_on
        LEFT JOIN store_keys k ON k.store_code = t.store_code
    """,
    "f_staffing": """
        SELECT s.shift AS shift_id, k.store_ref, s.starts AS shift_start, s.hours,
               CAST(s.staff AS INTEGER) AS staff_count
        FROM staffing s
        JOIN store_keys k USING (store_code)
    """,
    "f_backlog": """
        SELECT b.id AS snapshot_id, k.store_ref, b.day AS snapshot_day, b.open AS open_tickets
        FROM backlog b
        JOIN store_keys k USING (store_code)
    """,
}


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)


def _code(store_ref: int | None) -> str | None:
    return None if store_ref is None else f"S-{store_ref}"


def write_project(root: Path, data: SupportData) -> Path:
    """The support data as a raw export would deliver it, plus the pipeline project."""
    t = data.tables
    raw = root / "raw"
    calendar = {key: day for key, day, *_ in t["d_calendar"]}
    by_quarter: dict[str, list[list[Any]]] = {}
    for ticket, seq, cal_key, store, agent, channel, kind, minutes, csat, handover in t[
        "f_ticket_event"
    ]:
        day = calendar[cal_key]
        by_quarter.setdefault(f"{day.year}-q{(day.month - 1) // 3 + 1}", []).append(
            [f"T-{ticket:05d}", seq, day.isoformat(), _code(store), agent, channel, kind,
             minutes, csat, handover]
        )  # fmt: skip
    for quarter, rows in by_quarter.items():
        _csv(
            raw / "tickets" / f"tickets_{quarter}.csv",
            ["ticket_code", "step", "happened_on", "store_code", "agent", "channel", "kind",
             "minutes", "csat", "handover"],
            rows,
        )  # fmt: skip
    _csv(
        raw / "stores.csv",
        ["store_code", "name", "city_id", "floors", "flagship", "opened"],
        [
            [_code(ref), label, city, floors, "yes" if flag else "no", opened.isoformat()]
            for ref, label, city, floors, flag, opened in t["d_store"]
        ],
    )
    _csv(raw / "cities.csv", ["city_id", "city", "country"], [list(r) for r in t["d_city"]])
    (raw / "countries.json").write_text(
        json.dumps([{"code": c, "label": n, "continent": k} for c, n, k in t["d_country"]]),
        encoding="utf-8",
    )
    _csv(
        raw / "staffing_export.csv",
        ["shift", "store_code", "starts", "hours", "staff"],
        [
            [shift, _code(store), start.isoformat(sep=" "), hours, staff]
            for shift, store, start, hours, staff in t["f_staffing"]
        ],
    )
    _csv(
        raw / "backlog.csv",
        ["id", "store_code", "day", "open"],
        [[i, _code(store), day.isoformat(), n] for i, store, day, n in t["f_backlog"]],
    )
    (root / "crm").mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "crm" / "agents.sqlite") as conn:
        conn.execute(
            "CREATE TABLE agents (agent_no INTEGER, full_name TEXT, team TEXT, hired TEXT)"
        )
        conn.executemany(
            "INSERT INTO agents VALUES (?, ?, ?, ?)",
            [(n, name, team, hired.isoformat()) for n, name, team, hired in t["d_agent"]],
        )
    conn.close()
    (root / "model.yaml").write_text(MODEL_PATH.read_text(encoding="utf-8") + BOARDS, "utf-8")
    (root / "pipeline.yaml").write_text(PIPELINE.lstrip(), encoding="utf-8")
    (root / "transforms").mkdir(exist_ok=True)
    for name, sql in TRANSFORMS.items():
        (root / "transforms" / f"{name}.sql").write_text(textwrap.dedent(sql).lstrip(), "utf-8")
    return root


def settings_for(home: Path, project: Path, db_url: str, **extra: Any) -> Settings:
    return load_settings(
        {
            "home": str(home),
            "db_url": db_url,
            "model": str(project / "model.yaml"),
            "meta_db_url": f"sqlite:///{home / 'meta.sqlite'}",
            "pipeline": str(project),
            "cache": "null",
            **extra,
        }
    )


def _table_rows(con: duckdb.DuckDBPyConnection, table: str) -> tuple[list[str], list[tuple]]:
    columns, key = SCHEMA[table]
    names = [c for c, _ in columns]
    order = ", ".join(key)
    got = con.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {order}").fetchall()
    described = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    return described, got


@pytest.fixture(scope="module")
def support(tmp_path_factory: pytest.TempPathFactory):
    """The support project loaded into DuckDB through ``run_load``, and the direct build."""
    base = tmp_path_factory.mktemp("any_schema")
    data = build_rows()
    project = write_project(base / "project", data)
    settings = settings_for(base / "home", project, f"duckdb:///{base / 'wh' / 'warehouse.duckdb'}")
    result = run_load(project, settings)
    direct = create_duckdb(base / "direct.duckdb", data)
    return {
        "base": base,
        "project": project,
        "settings": settings,
        "result": result,
        "direct": direct,
        "data": data,
    }


def test_every_published_table_equals_the_direct_build(support) -> None:
    result = support["result"]
    assert sorted(result.row_counts) == sorted(SCHEMA)
    built = duckdb.connect(str(result.file), read_only=True)
    direct = duckdb.connect(str(support["direct"]), read_only=True)
    try:
        published = {
            r[0] for r in built.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        # sources and the intermediate transform are dropped; rollups are built
        assert not published & {"tickets", "stores", "cities", "countries", "agents", "staffing",
                                "store_keys"}  # fmt: skip
        assert {"r_daily_support", "r_monthly_staffing"} <= published
        for table, (columns, _) in SCHEMA.items():
            names, rows = _table_rows(built, table)
            assert names == [c for c, _ in columns], table
            assert rows == _table_rows(direct, table)[1], table
            assert result.row_counts[table] == len(support["data"].tables[table]), table
    finally:
        built.close()
        direct.close()


def test_the_numbers_match_the_direct_build(support) -> None:
    sql = (
        "SELECT co.continent, count(*), sum(e.minutes_spent), count(DISTINCT e.ticket_id), "
        "avg(e.satisfaction) FROM f_ticket_event e "
        "JOIN d_calendar c ON c.cal_key = e.event_cal_key "
        "LEFT JOIN d_store s USING (store_ref) LEFT JOIN d_city ci USING (city_ref) "
        "LEFT JOIN d_country co ON co.iso = ci.country_iso "
        "WHERE c.cal_date >= DATE '2026-01-01' GROUP BY 1 ORDER BY 1 NULLS FIRST"
    )
    staffing = (
        "SELECT store_ref, sum(hours), sum(staff_count) FROM f_staffing GROUP BY 1 ORDER BY 1"
    )
    answers = []
    for path in (support["result"].file, support["direct"]):
        con = duckdb.connect(str(path), read_only=True)
        try:
            answers.append((con.execute(sql).fetchall(), con.execute(staffing).fetchall()))
        finally:
            con.close()
    assert answers[0] == answers[1]
    # events without store, city or country count under NULL; Asia has no store
    assert [r[0] for r in answers[0][0]] == [None, "America", "Europe"]
    assert sum(r[1] for r in answers[0][0]) > 100


def test_the_models_implied_checks_ran_and_passed(support) -> None:
    gates = {(g.check, g.table): g for g in support["result"].gates}
    for table in SCHEMA:
        for kind in ("primary_key", "primary_key_filled"):
            assert gates[(kind, table)].passed, (kind, table, gates[(kind, table)].detail)
    for check, table in (
        ("event_cal_key_found", "f_ticket_event"),
        ("store_ref_found", "f_ticket_event"),
        ("agent_no_found", "f_ticket_event"),
        ("store_ref_found", "f_staffing"),
        ("city_ref_found", "d_store"),
        ("country_iso_found", "d_city"),
    ):
        assert gates[(check, table)].passed, (check, table, gates[(check, table)].detail)
    # and the sources' own gates
    for source in ("tickets", "stores", "cities", "countries", "agents", "staffing"):
        assert gates[("natural_key_unique", source)].passed
        assert gates[("not_empty", source)].passed
    assert not [g for g in support["result"].gates if g.risk == 1 and not g.passed]


def test_the_run_history_has_every_task(support) -> None:
    db = MetaDB(support["settings"].meta_db_url)
    try:
        runs = recent_runs(db, "support")
    finally:
        db.dispose()
    assert len(runs) == 1
    run = runs[0]
    assert (run.status, run.version, run.error) == ("published", support["result"].version, "")
    tasks = {t.name: t for t in run.tasks}
    expected = {*TRANSFORMS, "tickets", "stores", "cities", "countries", "agents", "staffing"}
    assert expected <= set(tasks)
    for name in expected:
        assert tasks[name].status == "ok", (name, tasks[name].detail)
        assert tasks[name].kind == ("transform" if name in TRANSFORMS else "source")
    data = support["data"].tables
    assert tasks["tickets"].rows == len(data["f_ticket_event"])
    assert tasks["d_calendar"].rows == len(data["d_calendar"])
    assert set(tasks["f_ticket_event"].inputs) == {"tickets", "d_calendar", "store_keys"}
    assert set(tasks["d_store"].inputs) == {"stores", "store_keys"}
    positions = [t.name for t in run.tasks]
    assert positions.index("store_keys") < positions.index("f_staffing")
    assert any(t.kind == "step" and t.name == "model checks" for t in run.tasks)


def test_a_facts_freshness_slo_in_the_model_gates_the_publish(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", build_rows())
    model = project / "model.yaml"
    text = model.read_text(encoding="utf-8")
    # the newest shift is 2026-03-31: some thousand hours old, well within 100,000 h
    text = text.replace(
        "    time: shift_start\n", "    time: shift_start\n    freshness_hours: 100000\n"
    )
    model.write_text(text, encoding="utf-8")
    settings = settings_for(tmp_path / "home", project, f"duckdb:///{tmp_path / 'wh' / 'w.duckdb'}")
    result = run_load(project, settings)
    gates = {(g.check, g.table): g for g in result.gates}
    assert gates[("freshness", "f_staffing")].passed
    assert gates[("freshness", "f_staffing")].threshold == 100000
    # a fact timed through a calendar join is judged by the pages (queries/quality/
    # freshness.py), not at publish: the calendar's own column would read its last day
    assert ("freshness", "f_ticket_event") not in gates


def test_a_freshness_slo_in_pipeline_yaml_points_at_the_model(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", build_rows())
    text = (project / "pipeline.yaml").read_text(encoding="utf-8")
    text = text.replace("  f_staffing: {}", "  f_staffing: {freshness_hours: 24}")
    (project / "pipeline.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PipelineError, match=r"tables\.f_staffing\.freshness_hours"):
        load_project(project)


@pytest.fixture(scope="module")
def admin(support):
    settings = support["settings"]
    app = make_app(settings.db_url, support["base"] / "app", model=str(settings.model))
    yield _signed_in(app), app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.mark.parametrize(("path", "search"), PAGES)
def test_every_page_renders_on_the_loaded_project(admin, path: str, search: str) -> None:
    client, _ = admin
    page = render(client, path, search)
    shown = " ".join(texts(page))
    assert shown, path
    for bad in ("Query error", "Traceback", "Something went wrong", "Warehouse unavailable",
                "unknown dimension", "Invalid query"):  # fmt: skip
        assert bad not in shown, (path, search, bad, shown[:2000])
    assert "sb-error" not in json.dumps(page), (path, search, shown[:2000])


def test_tier0_shows_the_direct_builds_number(admin, support) -> None:
    client, _ = admin
    shown = " ".join(texts(render(client, "/t0/desk", "?period=2026-03")))
    con = duckdb.connect(str(support["direct"]), read_only=True)
    try:
        opened = con.execute(
            "SELECT count(DISTINCT ticket_id) FROM f_ticket_event e "
            "JOIN d_calendar c ON c.cal_key = e.event_cal_key WHERE e.event_kind = 'opened' "
            "AND c.cal_date BETWEEN DATE '2026-03-01' AND DATE '2026-03-31'"
        ).fetchone()[0]
    finally:
        con.close()
    assert opened > 0 and f"{opened:,}" in shown, (opened, shown[:1500])


# ------------------------------------------------------------------------------- PostgreSQL


def _pg(url: str, prefix: str) -> tuple[dict | None, list[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pointer = read_pg_pointer(conn, prefix)
            schemas = conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p ORDER BY 1"),
                {"p": prefix + "%"},
            ).scalars()
            return pointer, list(schemas)
    finally:
        engine.dispose()


def _pg_scalar(url: str, sql: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def pg_support(tmp_path: Path, pg_url: str, prefix: str):
    """The support project published once to PostgreSQL under this test's prefix."""
    project = write_project(tmp_path / "project", build_rows())
    settings = settings_for(tmp_path / "home", project, pg_url, pg_schema=prefix)
    result = run_load(project, settings)
    yield project, settings, result
    drop_all(pg_url, prefix)


def _pg_rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]
    finally:
        engine.dispose()


def _signed_in(app) -> Any:
    app.server.extensions["starboard"].users.add("ada", "admin", PASSWORD)
    client = app.server.test_client()
    assert sign_in(client, "ada").status_code == 302
    client.get("/_dash-layout")
    return client


def test_the_same_project_publishes_to_postgresql(
    pg_support, support, admin, pg_url, prefix, tmp_path
) -> None:
    _, settings, result = pg_support
    pointer, _ = _pg(pg_url, prefix)
    assert pointer is not None and pointer["version"] == result.version
    schema = pointer["schema_name"]
    assert result.row_counts == support["result"].row_counts
    direct = duckdb.connect(str(support["direct"]), read_only=True)
    try:
        for table, (columns, key) in SCHEMA.items():
            sql = (
                f"SELECT {', '.join(c for c, _ in columns)} FROM {{}}{table} "
                f"ORDER BY {', '.join(key)}"
            )
            expected = direct.execute(sql.format("")).fetchall()
            assert _pg_rows(pg_url, sql.format(f'"{schema}".')) == expected, table
    finally:
        direct.close()

    app = make_app(pg_url, tmp_path / "app", pg_schema=prefix, model=str(settings.model))
    try:
        page = render(_signed_in(app), "/t0/desk", "?period=2026-03")
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
    shown = " ".join(texts(page))
    assert "sb-error" not in json.dumps(page) and "Query error" not in shown, shown[:2000]
    duck_shown = " ".join(texts(render(admin[0], "/t0/desk", "?period=2026-03")))
    assert shown == duck_shown  # the same numbers, read from PostgreSQL


def _live_state(url: str, prefix: str) -> tuple[dict | None, list[str], int, float]:
    pointer, schemas = _pg(url, prefix)
    assert pointer is not None
    schema = pointer["schema_name"]
    events = _pg_scalar(url, f'SELECT count(*) FROM "{schema}".f_ticket_event')
    minutes = _pg_scalar(url, f'SELECT sum(minutes_spent) FROM "{schema}".f_ticket_event')
    return pointer, schemas, events, minutes


def test_a_failed_gate_on_postgresql_leaves_the_live_version(pg_support, pg_url, prefix) -> None:
    project, settings, result = pg_support
    before = _live_state(pg_url, prefix)
    quarter = sorted((project / "raw" / "tickets").glob("*.csv"))[0]
    lines = quarter.read_text(encoding="utf-8").splitlines()
    quarter.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")  # a repeated row
    with pytest.raises(GateFailure) as err:
        run_load(project, settings)
    ticket, step = lines[1].split(",")[:2]
    assert f"ticket_code='{ticket}', step={step}" in err.value.message
    assert _live_state(pg_url, prefix) == before
    db = MetaDB(settings.meta_db_url)
    try:
        runs = recent_runs(db, "support")
    finally:
        db.dispose()
    assert [r.status for r in runs] == ["failed", "published"]
    assert "natural_key_unique" in runs[0].error or "duplicate" in runs[0].error


def test_a_transform_error_on_postgresql_leaves_the_live_version(
    pg_support, pg_url, prefix
) -> None:
    project, settings, result = pg_support
    before = _live_state(pg_url, prefix)
    sql = project / "transforms" / "f_staffing.sql"
    sql.write_text(sql.read_text().replace("s.hours", "s.hours / 'x'"), encoding="utf-8")
    with pytest.raises(DataError, match=r"Transform f_staffing\.sql failed"):
        run_load(project, settings)
    assert _live_state(pg_url, prefix) == before
    assert not list((settings.home / "staging").glob("*/*.duckdb"))
    db = MetaDB(settings.meta_db_url)
    try:
        failed = recent_runs(db, "support")[0]
    finally:
        db.dispose()
    assert failed.status == "failed" and "f_staffing.sql failed" in failed.error
    tasks = {t.name: t for t in failed.tasks}
    assert tasks["f_staffing"].status == "failed"
    assert tasks["f_staffing"].detail.startswith("Transform f_staffing.sql failed")
    assert tasks["staffing"].status == "ok" and tasks["store_keys"].status == "ok"
