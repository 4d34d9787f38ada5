"""Every page renders on a model `starboard init` wrote, and its Tier 0 tiles count right.

The same three warehouses as tests/queries/starter/test_init.py: flights in DuckDB (keys
inferred), the support desk (calendar, snowflake) and flights in PostgreSQL (keys declared).
Nothing here is written by hand but the warehouse: the model, its boards and their names are
what ``starter_model`` guessed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from queries.semantic.model import load_model
from queries.starter.init import starter_model
from tests.conftest import PASSWORD, fresh_schema, make_app, render, sign_in, texts
from tests.queries import second_schema
from tests.queries.starter import flights

# The number on one BAN of the Tier 0 board for one month, by hand-written SQL ({s}: schema).
BAN_SQL = {
    "flights": (
        "flights",
        "SELECT count(*) FROM {s}flights "
        "WHERE flew_on >= DATE '2026-03-01' AND flew_on < DATE '2026-04-01'",
    ),
    "support": (
        "tickets",
        "SELECT count(DISTINCT ticket_id) FROM f_ticket_event e "
        "JOIN d_calendar c ON c.cal_key = e.event_cal_key "
        "WHERE c.cal_date >= DATE '2026-03-01' AND c.cal_date < DATE '2026-04-01'",
    ),
}
BAN_SQL["flights_pg"] = BAN_SQL["flights"]


@pytest.fixture(scope="module", params=["flights", "support", "flights_pg"])
def starter_app(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    kind = request.param
    root = tmp_path_factory.mktemp(kind)
    with _warehouse(kind, root, request) as (url, init_url, schema):
        starter = starter_model(init_url, schema)
        model = root / "model.yaml"
        model.write_text(starter.text, encoding="utf-8")
        app = make_app(url, root / "home", model=str(model))
        app.server.extensions["starboard"].users.add("ada", "admin", PASSWORD)
        client = app.server.test_client()
        assert sign_in(client, "ada").status_code == 302
        client.get("/_dash-layout")
        try:
            yield kind, app, client, load_model(model), schema
        finally:
            app.server.extensions["starboard"].warehouse.dispose()


class _warehouse:
    """(URL to serve, URL to init, schema) of one test warehouse; a PostgreSQL schema is
    dropped afterwards."""

    def __init__(self, kind: str, root: Path, request) -> None:
        self.kind, self.root, self.request = kind, root, request
        self.schema_cm = None

    def __enter__(self) -> tuple[str, str, str | None]:
        if self.kind == "flights":
            url = f"duckdb:///{flights.create_duckdb(self.root / 'flights.duckdb')}"
            return url, url, None
        if self.kind == "support":
            url = f"duckdb:///{second_schema.create_duckdb(self.root / 'support.duckdb')}"
            return url, url, None
        server = self.request.getfixturevalue("pg_server")
        self.schema_cm = fresh_schema(server, "sbinit")
        engine, schema = self.schema_cm.__enter__()
        flights.create_postgres(engine, schema)
        served = (
            sa.engine.make_url(server)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        return served, server, schema

    def __exit__(self, *exc) -> None:
        if self.schema_cm is not None:
            self.schema_cm.__exit__(None, None, None)


def _pages(model) -> list[tuple[str, str]]:
    t0 = next(b.name for b in model.boards.values() if b.tier == 0)
    t1 = next(b.name for b in model.boards.values() if b.tier == 1)
    rows = next(m.name for m in model.metrics.values() if m.sql == "count(*)")
    time = model.time_name()
    filters = [f for f in model.boards[t1].filters if f != time]
    return [
        ("/", ""),
        (f"/t0/{t0}", ""),
        (f"/t0/{t0}", "?period=2026-03"),
        (f"/t1/{t1}", ""),
        (f"/t1/{t1}", "?from=2026-02-01&to=2026-03-31"),
        ("/t2/explore", f"?metrics={rows}&by={time}:month"),
        ("/t2/explore", f"?metrics={rows}&by={filters[0]}&view=table"),
        ("/quality", ""),
    ]


BAD = (
    "Invalid query",
    "unknown dimension",
    "Query error",
    "Traceback",
    "Something went wrong",
    "Warehouse unavailable",
    "No data for this period",
)


def test_every_page_renders_on_a_written_model(starter_app) -> None:
    kind, _app, client, model, _schema = starter_app
    for path, search in _pages(model):
        page = render(client, path, search)
        shown = " ".join(texts(page))
        assert shown, (kind, path)
        for bad in BAD:
            assert bad not in shown, (kind, path, search, bad, shown[:3000])
        assert "sb-error" not in json.dumps(page), (kind, path, search, shown[:3000])


def test_tier0_tile_matches_direct_sql(starter_app) -> None:
    kind, app, client, model, schema = starter_app
    metric, sql = BAN_SQL[kind]
    t0 = next(b for b in model.boards.values() if b.tier == 0)
    assert metric in t0.sections[0].bans
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        want = conn.exec_driver_sql(sql.format(s=f'"{schema}".' if schema else "")).scalar()
    assert want and want > 100  # a real month of data, not an empty one
    shown = " ".join(texts(render(client, f"/t0/{t0.name}", "?period=2026-03")))
    assert f"{want:,}" in shown, (kind, want, shown[:1500])
