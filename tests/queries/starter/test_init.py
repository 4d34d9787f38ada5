"""``starter_model``: the guesses it writes for warehouses unlike the demo, and that the model
it writes loads, passes the checks against the same warehouse and counts right.

Three warehouses: the flights schema in DuckDB without any declared key (keys, joins and the
fact inferred from the data), the support-desk schema (composite key, calendar, snowflake), and
the flights schema in PostgreSQL with declared keys. Pages on these models:
tests/pages/test_starter_models.py; the command line: tests/app/test_cli_init.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from queries.semantic.against_warehouse import check
from queries.semantic.model import load_model
from queries.starter import catalog
from queries.starter.init import Starter, base_name, starter_model
from tests.conftest import fresh_schema
from tests.queries import second_schema
from tests.queries.starter import flights


def write(starter: Starter, path: Path) -> Path:
    path.write_text(starter.text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def flights_duckdb(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Starter]:
    root = tmp_path_factory.mktemp("flights")
    url = f"duckdb:///{flights.create_duckdb(root / 'flights.duckdb')}"
    starter = starter_model(url)
    return url, write(starter, root / "model.yaml"), starter


@pytest.fixture(scope="module")
def support_duckdb(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Starter]:
    root = tmp_path_factory.mktemp("support")
    url = f"duckdb:///{second_schema.create_duckdb(root / 'support.duckdb')}"
    starter = starter_model(url)
    return url, write(starter, root / "model.yaml"), starter


@pytest.fixture(scope="module")
def flights_pg(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Starter, str]]:
    """The flights schema with declared keys in a temporary schema of the server's db."""
    with fresh_schema(pg_server, "sbinit") as (engine, schema):
        flights.create_postgres(engine, schema)
        starter = starter_model(pg_server, schema)
        path = write(starter, tmp_path_factory.mktemp("flights_pg") / "model.yaml")
        served = (
            sa.engine.make_url(pg_server)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        yield served, path, starter, schema


def duck(url: str, sql: str) -> list[tuple]:
    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_metrics(url: str, model: Path, metrics: str, by: str | None = None) -> list[dict]:
    """The metrics through the semantic layer, as ``starboard query`` runs them."""
    from app.core.config import load_settings
    from app.core.runtime import standalone
    from queries.semantic.parse import parse_cli
    from queries.semantic.run import current_model, run
    from queries.semantic.values import records

    settings = load_settings({"db_url": url, "model": str(model), "cache": "null"})
    with standalone(settings) as runtime:
        query = parse_cli(metrics, by, (), by, None, model=current_model(runtime))
        result = run(query, runtime=runtime)
    return [dict(zip(result.columns, row, strict=True)) for row in records(result.frame)]


# --------------------------------------------------------------------------- flights, DuckDB


def test_flights_keys_joins_and_the_fact_are_inferred_from_the_data(flights_duckdb) -> None:
    _url, path, starter = flights_duckdb
    model = load_model(path)
    assert model.tables["flights"].kind == "fact"
    assert model.tables["flights"].primary_key == ("id",)
    assert model.tables["flights"].time == "flew_on"
    joins = {j.target: (j.from_column, j.to_column) for j in model.tables["flights"].joins}
    assert joins == {
        "carriers": ("carrier_code", "code"),
        "airports": ("origin", "faa"),
        "planes": ("plane_tailnum", "tailnum"),
    }
    for name, key in (("carriers", "code"), ("airports", "faa"), ("planes", "tailnum")):
        assert model.tables[name].kind == "dimension"
        assert model.tables[name].primary_key == (key,)
    text = starter.text
    assert (
        "# join by containment only (the names differ): 100.0% of origin found in airports.faa"
        in text
    )
    assert "dest also points to airports (100.0% found in airports.faa)" in text
    assert "add a role: dest: {table: airports, from: dest, to: faa}" in text
    # 1% of the tail numbers have no plane: still a join, and the comment says how much
    orphans = duck(
        _url,
        "SELECT avg(CASE WHEN p.tailnum IS NULL THEN 0 ELSE 1 END) FROM flights f "
        "LEFT JOIN planes p ON p.tailnum = f.plane_tailnum WHERE f.plane_tailnum IS NOT NULL",
    )[0][0]
    assert 0.95 < orphans < 1
    assert f"{orphans:.1%} of plane_tailnum found in planes.tailnum" in text
    assert "# unique and never null in all 3,000 rows and named like a key" in text
    assert "# fact: 3 joins to other tables, 3,000 rows, time column flew_on" in text
    assert starter.facts == ["flights"] and sorted(starter.dimension_tables) == [
        "airports",
        "carriers",
        "planes",
    ]


def test_flights_metrics_formats_and_dimensions(flights_duckdb) -> None:
    _url, path, _starter = flights_duckdb
    model = load_model(path)
    m = model.metrics
    assert m["flights"].sql == "count(*)"
    assert m["distance"].sql == "sum(distance)" and m["distance"].format == "number"
    assert m["avg_distance"].sql == "avg(distance)"
    delay = m["dep_delay_minutes"]  # minutes → seconds for the duration format; lower is better
    assert (delay.sql, delay.format, delay.direction) == (
        "sum(dep_delay_minutes * 60)",
        "duration",
        "down",
    )
    assert not any(x.format == "percent" for x in m.values())
    # keys and join columns are no measures
    assert not {"id", "avg_id", "seats"} & set(m)
    dims = {d.name: (d.table, d.column) for d in model.dimensions.values() if not d.is_time}
    assert dims["carrier_name"] == ("carriers", "name")
    assert dims["manufacturer"] == ("planes", "manufacturer")
    assert dims["dest"] == ("flights", "dest")  # the second airport stays a plain column
    assert "origin" not in dims and "plane_tailnum" not in dims and "id" not in dims
    assert model.dimensions["airport_name"].label == "Airport name (origin)"
    assert model.time_dimension() is not None
    t0 = [b for b in model.boards.values() if b.tier == 0]
    t1 = [b for b in model.boards.values() if b.tier == 1]
    assert len(t0) == 1 and len(t1) == 1
    assert t0[0].sections[0].bans[0] == "flights"
    assert t0[0].sections[1].charts[0].type == "line"
    assert t1[0].filters[0] == "date" and 3 <= len(t1[0].filters) <= 4
    assert {c.type for s in t1[0].sections for c in s.charts} == {"line", "bar"}


def test_flights_model_passes_the_checks_against_its_warehouse(flights_duckdb) -> None:
    url, path, _starter = flights_duckdb
    engine = sa.create_engine(url, connect_args={"read_only": True})
    try:
        assert check(path, engine) == []
    finally:
        engine.dispose()


def test_flights_metrics_match_hand_written_sql(flights_duckdb) -> None:
    url, path, _starter = flights_duckdb
    got = run_metrics(url, path, "flights,distance,dep_delay_minutes,avg_distance", "carrier_name")
    want = duck(
        url,
        "SELECT c.name, count(*), sum(f.distance), sum(f.dep_delay_minutes) * 60, "
        "avg(f.distance) FROM flights f LEFT JOIN carriers c ON c.code = f.carrier_code "
        "GROUP BY c.name ORDER BY c.name",
    )
    assert [
        (r["carrier_name"], r["flights"], r["distance"], r["dep_delay_minutes"]) for r in got
    ] == [w[:4] for w in want]
    assert [r["avg_distance"] for r in got] == pytest.approx([w[4] for w in want])
    assert sum(r["flights"] for r in got) == 3000


def test_big_tables_are_probed_on_a_sample(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(catalog, "SAMPLE_ROWS", 500)
    url = f"duckdb:///{flights.create_duckdb(tmp_path / 'flights.duckdb')}"
    starter = starter_model(url)
    path = write(starter, tmp_path / "model.yaml")
    assert "# unique and never null in a sample of 500 rows and named like a key" in starter.text
    model = load_model(path)  # the same joins hold on the sample
    assert {(j.target, j.from_column) for j in model.tables["flights"].joins} == {
        ("carriers", "carrier_code"),
        ("airports", "origin"),
        ("planes", "plane_tailnum"),
    }
    assert any("probed on a sample" in n for n in starter.notes)
    engine = sa.create_engine(url, connect_args={"read_only": True})
    try:
        assert check(path, engine) == []
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- support desk


def test_support_desk_calendar_composite_key_and_snowflake(support_duckdb) -> None:
    _url, path, starter = support_duckdb
    model = load_model(path)
    events = model.tables["f_ticket_event"]
    assert events.kind == "fact" and events.primary_key == ("ticket_id", "event_seq")
    assert events.time == "d_calendar.cal_date"  # only a date key into the calendar
    assert {(j.target, j.from_column, j.to_column) for j in events.joins} == {
        ("d_calendar", "event_cal_key", "cal_key"),
        ("d_store", "store_ref", "store_ref"),
        ("d_agent", "agent_no", "agent_no"),
    }
    assert model.tables["f_staffing"].time == "shift_start"
    # the snowflake: store → city → country, as support.yaml has it
    assert [(j.target, j.from_column, j.to_column) for j in model.tables["d_store"].joins] == [
        ("d_city", "city_ref", "city_ref")
    ]
    assert [(j.target, j.from_column, j.to_column) for j in model.tables["d_city"].joins] == [
        ("d_country", "country_iso", "iso")
    ]
    for name in ("d_calendar", "d_store", "d_city", "d_country", "d_agent"):
        assert model.tables[name].kind == "dimension"
    assert model.metrics["tickets"].sql == "count(distinct ticket_id)"
    assert model.metrics["agents"].sql == "count(distinct agent_no)"  # agents look like people
    assert model.metrics["avg_satisfaction"].sql == "avg(satisfaction)"
    assert "satisfaction" not in model.metrics  # a score is averaged, never summed
    assert model.dimensions["continent"].table == "d_country"
    assert not any(d.table == "d_calendar" for d in model.dimensions.values())
    assert "a calendar (one row per day)" in starter.text
    assert "no DATE/TIMESTAMP column of its own; event_cal_key joins the calendar" in starter.text


def test_support_desk_model_passes_the_checks_and_counts_right(support_duckdb) -> None:
    url, path, _starter = support_duckdb
    engine = sa.create_engine(url, connect_args={"read_only": True})
    try:
        assert check(path, engine) == []
    finally:
        engine.dispose()
    got = run_metrics(url, path, "tickets,minutes_spent,ticket_events", "continent")
    want = duck(
        url,
        "SELECT co.continent, count(DISTINCT e.ticket_id), sum(e.minutes_spent) * 60, count(*) "
        "FROM f_ticket_event e LEFT JOIN d_store s ON s.store_ref = e.store_ref "
        "LEFT JOIN d_city ci ON ci.city_ref = s.city_ref "
        "LEFT JOIN d_country co ON co.iso = ci.country_iso "
        "GROUP BY co.continent ORDER BY co.continent NULLS LAST",
    )
    assert [
        (r["continent"], r["tickets"], r["minutes_spent"], r["ticket_events"]) for r in got
    ] == want


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_declared_keys_become_the_joins(flights_pg) -> None:
    _url, path, starter, schema = flights_pg
    model = load_model(path)
    joins = {j.target: (j.from_column, j.to_column) for j in model.tables["flights"].joins}
    assert joins == {
        "carriers": ("carrier_code", "code"),
        "airports": ("origin", "faa"),
        "planes": ("plane_tailnum", "tailnum"),
    }
    assert "# declared foreign key (100.0% of origin found in airports.faa)" in starter.text
    assert "dest also points to airports" in starter.text
    assert starter.text.count("# declared primary key") == 4
    assert f"(schema {schema})" in starter.source
    assert starter.serve_url is not None and f"search_path%3D{schema}" in starter.serve_url


@pytest.mark.postgres
def test_postgres_model_passes_the_checks_and_counts_right(flights_pg) -> None:
    url, path, _starter, schema = flights_pg
    engine = sa.create_engine(url)
    try:
        assert check(path, engine) == []
        with engine.connect() as conn:
            want = conn.exec_driver_sql(
                "SELECT p.manufacturer, count(*), sum(f.distance), avg(f.dep_delay_minutes) * 60 "
                f'FROM "{schema}".flights f LEFT JOIN "{schema}".planes p '
                "ON p.tailnum = f.plane_tailnum GROUP BY 1 ORDER BY 1 NULLS LAST"
            ).all()
    finally:
        engine.dispose()
    got = run_metrics(url, path, "flights,distance,avg_dep_delay_minutes", "manufacturer")
    assert [(r["manufacturer"], r["flights"], r["distance"]) for r in got] == [
        (w[0], w[1], w[2]) for w in want
    ]
    assert [r["avg_dep_delay_minutes"] for r in got] == pytest.approx([float(w[3]) for w in want])


@pytest.mark.postgres
def test_postgres_large_tables_are_counted_from_the_planner(
    pg_server: str, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(catalog, "EXACT_COUNT_UP_TO", 100)
    with fresh_schema(pg_server, "sbinit") as (engine, schema):
        flights.create_postgres(engine, schema)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'ANALYZE "{schema}".flights')
        starter = starter_model(pg_server, schema)
    assert "~3,000 rows" in starter.text  # the estimate of an analysed table is exact here


def test_table_names_lose_prefixes_and_plurals() -> None:
    assert [base_name(n) for n in ("dim_store", "d_calendar", "stores", "f_ticket_event")] == [
        "store",
        "calendar",
        "store",
        "ticket_event",
    ]
    assert base_name("categories") == "category" and base_name("status") == "status"


def test_duckdb_declared_keys_are_read_from_its_catalog(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE shops (shop_no INTEGER PRIMARY KEY, region VARCHAR)")
    # a declared key whose name names nothing: only the declaration can make it a join
    con.execute(
        "CREATE TABLE sales (sold_at TIMESTAMP, seller INTEGER REFERENCES shops (shop_no), "
        "amount DECIMAL(10, 2), line INTEGER, PRIMARY KEY (sold_at, line))"
    )
    con.execute("INSERT INTO shops VALUES (1, 'North'), (2, 'South'), (3, 'North')")
    con.execute(
        "INSERT INTO sales SELECT TIMESTAMP '2026-01-01' + INTERVAL (i) HOUR, i % 3 + 1, "
        "i * 1.5, i FROM range(200) t(i)"
    )
    con.close()
    url = f"duckdb:///{path}"
    starter = starter_model(url)
    model = load_model(write(starter, tmp_path / "model.yaml"))
    sales = model.tables["sales"]
    assert sales.primary_key == ("sold_at", "line") and sales.time == "sold_at"
    assert [(j.target, j.from_column, j.to_column) for j in sales.joins] == [
        ("shops", "seller", "shop_no")
    ]
    assert "# declared foreign key (100.0% of seller found in shops.shop_no)" in starter.text
    assert model.metrics["amount"].format == "currency"  # named like money
    assert model.dimensions["region"].table == "shops"
    got = run_metrics(url, tmp_path / "model.yaml", "amount,sales", "region")
    assert [(r["region"], float(r["amount"]), r["sales"]) for r in got] == [
        tuple(row)
        for row in duck(
            url,
            "SELECT s.region, sum(x.amount)::DOUBLE, count(*) FROM sales x "
            "JOIN shops s ON s.shop_no = x.seller GROUP BY 1 ORDER BY 1",
        )
    ]


@pytest.mark.postgres
def test_postgres_published_warehouse_is_read_at_its_live_version(pg_server: str) -> None:
    """No --schema and a pointer table under the prefix: the schema it names is read."""
    with (
        fresh_schema(pg_server, "sbinitv") as (engine, version_schema),
        fresh_schema(pg_server, "sbinitp") as (_, prefix),
    ):
        flights.create_postgres(engine, version_schema)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f'CREATE TABLE "{prefix}".current (id INTEGER PRIMARY KEY, version VARCHAR, '
                "schema_name VARCHAR, previous VARCHAR, published_at TIMESTAMP)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO \"{prefix}\".current VALUES (1, 'v42', '{version_schema}', "
                "NULL, TIMESTAMP '2026-05-01 00:00')"
            )
        starter = starter_model(pg_server, pg_prefix=prefix)
    assert f"(schema {version_schema})" in starter.source
    assert f"# Read the live version v42 (schema {version_schema})" in starter.text
    assert f"STARBOARD_PG_SCHEMA={prefix}" in starter.text
    assert starter.facts == ["flights"] and starter.serve_url is None
