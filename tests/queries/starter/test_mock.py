"""``queries.starter.mock`` on three unlike models (the demo, the support desk, a library):
every referenced column, keys in sync, skewed 1:N, seasonal time, values by role and
hint, the model's own checks passing, determinism and speed. Every number is read back
from the written DuckDB file with plain SQL."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from queries.quality.checks import run_checks
from queries.semantic.against_warehouse import check_model_against_warehouse
from queries.semantic.model import load_model
from queries.semantic.types import SemanticModel
from queries.starter.mock import (
    WEEKEND_FACTOR,
    YEARLY_GROWTH,
    MockOptions,
    generate,
    write_database,
)
from tests.queries.second_schema import MODEL_PATH as SUPPORT_PATH
from tests.queries.starter.library import write_library

DEMO_PATH = Path(__file__).parents[3] / "queries" / "models" / "demo.yaml"
END = date(2026, 11, 30)
ROWS = 20_000
OPTIONS = MockOptions(rows=ROWS, seed=7, end_date=END, days=730)


@pytest.fixture(scope="module")
def mocks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[SemanticModel, Path]]:
    root = tmp_path_factory.mktemp("mock")
    out = {}
    for path in (DEMO_PATH, SUPPORT_PATH, write_library(root)):
        model = load_model(path)
        file = root / f"{model.name}.duckdb"
        write_database(generate(model, OPTIONS), f"duckdb:///{file}")
        out[model.name] = (model, file)
    return out


def sql(file: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(file), read_only=True) as con:
        return con.execute(query).fetchall()


def one(file: Path, query: str):
    return sql(file, query)[0][0]


def referenced(model: SemanticModel) -> dict[str, set[str]]:
    """Every column the model names, found independently of the generator."""
    cols: dict[str, set[str]] = {t: set() for t in model.tables}
    for table in model.tables.values():
        cols[table.name] |= set(table.primary_key)
        for join in table.joins:
            cols[table.name].add(join.from_column)
            cols[join.table].add(join.to_column)  # a role: its physical table
        if table.time:
            owner, _, column = table.time.rpartition(".")
            cols[model.physical(owner) if owner else table.name].add(column)
    for dim in model.dimensions.values():
        if dim.table and dim.column:
            cols[model.physical(dim.table)].add(dim.column)
    for metric in model.metrics.values():
        for text in (metric.sql, metric.filter):
            if metric.fact and text:
                for c in sqlglot.parse_one(text).find_all(exp.Column):
                    cols[model.physical(c.table) if c.table else metric.fact].add(c.name)
    for check in model.checks:
        cols[check.table] |= set(check.columns)
        if check.sql:
            cols[check.table] |= {c.name for c in sqlglot.parse_one(check.sql).find_all(exp.Column)}
    return cols


NAMES = ["shop", "support", "library"]


@pytest.mark.parametrize("name", NAMES)
def test_every_table_and_referenced_column_exists_and_starboard_check_passes(mocks, name) -> None:
    model, file = mocks[name]
    tables = {
        t: {c for (c,) in sql(file, f'SELECT column_name FROM (DESCRIBE "{t}")')}
        for (t,) in sql(file, "SELECT table_name FROM information_schema.tables")
    }
    assert set(tables) == set(model.tables)
    for table, columns in referenced(model).items():
        assert columns <= tables[table], (table, columns - tables[table])
        assert one(file, f'SELECT count(*) FROM "{table}"') > 0
    engine = sa.create_engine(f"duckdb:///{file}", connect_args={"read_only": True})
    try:
        assert check_model_against_warehouse(model, engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", NAMES)
def test_keys_are_unique_and_every_foreign_key_resolves(mocks, name) -> None:
    model, file = mocks[name]
    joins = 0
    for table in model.tables.values():
        key = ", ".join(f'"{c}"' for c in table.primary_key)
        total, distinct = sql(
            file, f'SELECT count(*), count(DISTINCT ({key})) FROM "{table.name}"'
        )[0]
        assert total == distinct, (table.name, total, distinct)
        for join in table.joins:
            orphans = one(
                file,
                f'SELECT count(*) FROM "{table.name}" f LEFT JOIN "{join.table}" d '
                f'ON f."{join.from_column}" = d."{join.to_column}" '
                f'WHERE d."{join.to_column}" IS NULL',
            )
            assert orphans == 0, (table.name, join)
            joins += 1
    assert joins >= 4


def test_composite_keys_unique_and_key_columns_agree(mocks) -> None:
    shop, shop_file = mocks["shop"]
    _support, support_file = mocks["support"]
    # (date_key, campaign_key) of the spend fact, (ticket_id, event_seq) of the ticket events
    assert (
        one(
            shop_file,
            "SELECT count(*) - count(DISTINCT (date_key, campaign_key)) FROM fct_marketing_spend",
        )
        == 0
    )
    assert (
        one(
            support_file,
            "SELECT count(*) - count(DISTINCT (ticket_id, event_seq)) FROM f_ticket_event",
        )
        == 0
    )
    tickets, events = sql(
        support_file, "SELECT count(DISTINCT ticket_id), count(*) FROM f_ticket_event"
    )[0]
    assert 1.5 < events / tickets < 5  # several events per ticket
    # a row's keys agree: the spend row's channel is its campaign's channel
    assert (
        one(
            shop_file,
            "SELECT count(*) FROM fct_marketing_spend s JOIN dim_campaign c USING (campaign_key) "
            "WHERE s.channel_key <> c.channel_key",
        )
        == 0
    )
    # an interaction's date_key is the day it occurred on
    assert (
        one(
            shop_file,
            "SELECT count(*) FROM fct_interaction f JOIN dim_date d USING (date_key) "
            "WHERE d.date <> CAST(f.occurred_at AS DATE)",
        )
        == 0
    )


@pytest.mark.parametrize(
    ("name", "fact", "column"),
    [
        ("shop", "fct_interaction", "user_key"),
        ("support", "f_ticket_event", "store_ref"),
        ("library", "loans", "book_id"),
    ],
)
def test_fact_rows_are_skewed_towards_a_few_members(mocks, name, fact, column) -> None:
    _model, file = mocks[name]
    counts = [
        n
        for (n,) in sql(
            file, f'SELECT count(*) AS n FROM "{fact}" GROUP BY "{column}" ORDER BY n DESC'
        )
    ]
    top = counts[: max(1, len(counts) // 10)]
    assert sum(top) / sum(counts) > 0.3, counts[:10]  # uniform would give 10 %
    assert counts[0] > 5 * counts[len(counts) // 2]


@pytest.mark.parametrize(
    ("name", "day_sql"),
    [
        ("shop", "SELECT CAST(occurred_at AS DATE) AS day FROM fct_interaction"),
        (
            "support",
            "SELECT c.cal_date AS day FROM f_ticket_event e "
            "JOIN d_calendar c ON c.cal_key = e.event_cal_key",
        ),
        ("library", "SELECT CAST(loaned_at AS DATE) AS day FROM loans"),
    ],
)
def test_time_spans_the_days_with_weekly_seasonality_and_growth(mocks, name, day_sql) -> None:
    _model, file = mocks[name]
    first, last = sql(file, f"SELECT min(day), max(day) FROM ({day_sql})")[0]
    assert last <= END and first >= END - timedelta(days=729)
    assert (END - last).days < 3 and (first - (END - timedelta(days=729))).days < 3
    weekend, weekday = sql(
        file,
        f"SELECT avg(n) FILTER (WHERE isodow(day) >= 6), avg(n) FILTER (WHERE isodow(day) < 6) "
        f"FROM (SELECT day, count(*) AS n FROM ({day_sql}) GROUP BY day)",
    )[0]
    assert abs(weekend / weekday - WEEKEND_FACTOR) < 0.08, weekend / weekday
    recent, before = sql(
        file,
        f"SELECT count(*) FILTER (WHERE day > DATE '{END - timedelta(days=365)}'), "
        f"count(*) FILTER (WHERE day <= DATE '{END - timedelta(days=365)}') FROM ({day_sql})",
    )[0]
    assert abs(recent / before - YEARLY_GROWTH) < 0.08, recent / before


def test_yearly_seasonality_peaks_in_winter(mocks) -> None:
    _model, file = mocks["library"]
    by_month = dict(
        sql(
            file,
            "SELECT month(loaned_at), count(*) FROM loans "
            "WHERE loaned_at >= TIMESTAMP '2025-01-01' AND loaned_at < TIMESTAMP '2026-01-01' "
            "GROUP BY 1",
        )
    )
    assert by_month[12] > 1.2 * by_month[6], by_month  # growth and the December peak


def test_values_follow_roles_checks_and_filters(mocks) -> None:
    _shop, file = mocks["shop"]
    types = dict(sql(file, "SELECT interaction_type, count(*) FROM fct_interaction GROUP BY 1"))
    listed = [
        "visit",
        "product_view",
        "add_to_cart",
        "checkout",
        "purchase",
        "email_sent",
        "email_open",
        "email_click",
    ]
    assert set(types) == set(listed)  # every accepted value, nothing else
    assert [types[v] for v in listed] == sorted(types.values(), reverse=True)  # funnel narrows
    assert one(file, "SELECT min(revenue) FROM fct_interaction") > 0
    assert sql(file, "SELECT min(quantity), max(quantity) FROM fct_interaction")[0] >= (0, 1)
    assert one(file, "SELECT max(quantity) FROM fct_interaction") <= 1000
    assert one(file, "SELECT count(*) FROM fct_marketing_spend WHERE clicks > impressions") == 0
    assert (
        one(file, "SELECT avg(clicks / impressions) FROM fct_marketing_spend WHERE impressions > 0")
        < 0.5
    )
    assert one(file, "SELECT count(*) FROM dim_user WHERE email NOT LIKE '%_@example.com'") == 0
    assert one(file, "SELECT count(*) - count(DISTINCT sku) FROM dim_product") == 0
    assert sql(file, "SELECT DISTINCT typeof(is_paid) FROM dim_channel") == [("BOOLEAN",)]
    assert (
        one(
            file,
            "SELECT count(*) FROM dim_date WHERE day_name <> dayname(date) "
            "OR is_weekend <> (isodow(date) >= 6)",
        )
        == 0
    )
    names = [n for (n,) in sql(file, "SELECT name FROM dim_product ORDER BY product_key LIMIT 2")]
    assert names == ["Product 1", "Product 2"]
    # a filtered metric is non-zero
    assert (
        one(file, "SELECT sum(revenue) FROM fct_interaction WHERE interaction_type = 'purchase'")
        > 0
    )


def test_support_values_come_from_filters_and_names(mocks) -> None:
    _model, file = mocks["support"]
    kinds = dict(sql(file, "SELECT event_kind, count(*) FROM f_ticket_event GROUP BY 1"))
    assert set(kinds) == {"opened", "resolved", "other"} and kinds["opened"] > kinds["resolved"]
    assert sql(file, "SELECT DISTINCT typeof(is_flagship), typeof(opened_on) FROM d_store") == [
        ("BOOLEAN", "DATE")
    ]
    assert one(file, "SELECT typeof(shift_start) FROM f_staffing LIMIT 1") == "TIMESTAMP"
    assert one(file, "SELECT min(weekday) = 1 AND max(weekday) = 7 FROM d_calendar")
    labels = {label for (label,) in sql(file, "SELECT store_label FROM d_store")}
    assert "Store 1" in labels and len(labels) == one(file, "SELECT count(*) FROM d_store")


def test_hints_shape_the_columns(mocks) -> None:
    _model, file = mocks["library"]
    tiers = {t for (t,) in sql(file, "SELECT DISTINCT tier FROM members")}
    assert tiers == {"standard", "student", "senior"}
    low, high, mean = sql(file, "SELECT min(age), max(age), avg(age) FROM members")[0]
    assert 12 <= low and high <= 90 and 40 < mean < 62  # normal around the middle
    assert one(file, "SELECT typeof(age) FROM members LIMIT 1") == "INTEGER"
    null_share = one(file, "SELECT avg(CASE WHEN fee IS NULL THEN 1 ELSE 0 END) FROM loans")
    assert 0.17 < null_share < 0.23
    # the sql check's WHERE says what must not happen: renewals > 5, fee < 0
    assert sql(file, "SELECT max(renewals), min(fee) FROM loans")[0][0] <= 5
    assert one(file, "SELECT min(fee) FROM loans") >= 0
    assert sql(file, "SELECT min(loan_days), max(loan_days) FROM loans")[0] >= (1, 1)
    assert one(file, "SELECT max(loan_days) FROM loans") <= 60
    # hinted key values are the dimension's rows; a hinted column nothing else names exists
    branches = sql(file, "SELECT branch_id, opened_year FROM branches ORDER BY branch_id")
    assert [b for b, _ in branches] == ["CEN", "EST", "NTH", "STH"]
    assert all(1890 <= year <= 2020 and isinstance(year, int) for _, year in branches)
    assert one(file, "SELECT count(DISTINCT branch_code) FROM loans") >= 2


def test_ratio_metrics_are_plausible(mocks) -> None:
    _model, file = mocks["library"]
    returns, loans, late = sql(
        file,
        "SELECT count(*) FILTER (WHERE status IN ('returned', 'returned_late')), count(*), "
        "count(*) FILTER (WHERE status = 'returned_late') FROM loans",
    )[0]
    assert 0.5 < returns / loans < 1 and 0 < late / returns < 1
    _shop, shop_file = mocks["shop"]
    opens, sent = sql(
        shop_file,
        "SELECT count(*) FILTER (WHERE interaction_type = 'email_open'), "
        "count(*) FILTER (WHERE interaction_type = 'email_sent') FROM fct_interaction",
    )[0]
    assert 0 < opens / sent < 1


@pytest.mark.parametrize("name", NAMES)
def test_the_models_own_checks_pass(mocks, name) -> None:
    model, file = mocks[name]
    engine = sa.create_engine(f"duckdb:///{file}", connect_args={"read_only": True})
    try:
        results = run_checks(model, engine)
    finally:
        engine.dispose()
    assert len(results) == len(model.checks)
    failed = [(r.name, r.message) for r in results if not r.passed]
    assert failed == [], failed
    assert not [r for r in results if r.error]


def test_same_seed_and_end_date_same_data_other_seed_other_data() -> None:
    model = load_model(SUPPORT_PATH)
    small = MockOptions(rows=3_000, seed=3, end_date=END, days=400)
    first, again = generate(model, small), generate(model, small)
    assert all(first.tables[t].equals(again.tables[t]) for t in first.tables)
    other = generate(model, MockOptions(rows=3_000, seed=4, end_date=END, days=400))
    assert not other.tables["f_ticket_event"].equals(first.tables["f_ticket_event"])
    assert first.first_day == END - timedelta(days=399) and first.last_day == END


def test_default_end_is_yesterday_and_days_default_to_two_years() -> None:
    options = MockOptions()
    assert options.last_day() < date.today() + timedelta(days=1)
    assert (options.last_day() - options.first_day()).days == 729


def test_a_million_fact_rows_in_a_few_seconds(tmp_path: Path) -> None:
    model = load_model(write_library(tmp_path))
    started = time.perf_counter()
    mock = generate(model, MockOptions(rows=1_000_000, end_date=END))
    seconds = time.perf_counter() - started
    assert mock.tables["loans"].num_rows == 1_000_000
    assert seconds < 8, seconds


@pytest.mark.parametrize(
    ("name", "table", "parent", "child"),
    [
        ("shop", "dim_product", "category", "subcategory"),
        ("shop", "dim_user", "region", "country"),
        ("shop", "dim_channel", "channel_group", "channel"),
    ],
)
def test_drill_downs_in_one_table_form_a_hierarchy(mocks, name, table, parent, child) -> None:
    _model, file = mocks[name]
    parents_per_child, children, parents = sql(
        file,
        f'SELECT max(n), count(*), count(DISTINCT p) FROM (SELECT "{child}", '
        f'any_value("{parent}") AS p, count(DISTINCT "{parent}") AS n FROM "{table}" GROUP BY 1)',
    )[0]
    assert parents_per_child == 1  # each child value sits under one parent value
    assert children > parents >= 2
