"""Every metric of the demo model against hand-written SQL, on DuckDB and PostgreSQL.

MetricFlow's tenet (STYLE §4): a metric is right before it is fast. Each metric of
``queries/models/demo.yaml`` — read from the model, so a new one is covered without editing
this file — is compiled by channel group and by month (inside a date window with partial
months at both ends) and compared with SQL written here by hand from the metric's meaning.
A metric without hand-written SQL fails, saying to add it.

Also on the demo: rollup routing (answers equal the fact's), the one door ``run()``
(cache, row scope) and the planted stories as a user would see them.

The demo star schema of the ``tiny_demo`` fixture is copied into a fresh PostgreSQL schema
per session (types kept), its rollup tables built there with ``rollup_statements``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

from app.core.config import DEMO_MODEL, load_settings
from app.core.runtime import Runtime, standalone
from app.core.warehouse import Warehouse
from app.loader.generate import planted_stories
from queries.semantic.compile import (
    CompiledQuery,
    compile_query,
    rollup_statements,
    warehouse_column_types,
)
from queries.semantic.model import load_model
from queries.semantic.query import Filter, MetricQuery, RowScope
from queries.semantic.run import run
from queries.semantic.types import SemanticModel
from tests.queries.conftest import normalise, sort_rows

MODEL = load_model(DEMO_MODEL)
# a time-aware or share metric is not one aggregate per group: each has its own test below
METRICS = tuple(m for m, spec in MODEL.metrics.items() if spec.kind not in ("time", "share"))

# --------------------------------------------------------------------------- hand-written SQL
#
# Aliases: i = fct_interaction (iu = its user, ch = its channel), s = fct_marketing_spend
# (d = its day, ch = its channel), u = dim_user as the fact of new_users (ch = the user's
# acquisition channel). Placeholders: {x_key} is the grouping expression and {x_where} the
# WHERE clause for fact x (i, s or u), {interactions}/{spend}/{users} the FROM clauses.

INTERACTIONS = """fct_interaction i
    LEFT JOIN dim_channel ch ON ch.channel_key = i.channel_key
    LEFT JOIN dim_user iu ON iu.user_key = i.user_key
    LEFT JOIN dim_product pr ON pr.product_key = i.product_key"""
SPEND = """fct_marketing_spend s
    LEFT JOIN dim_date d ON d.date_key = s.date_key
    LEFT JOIN dim_channel ch ON ch.channel_key = s.channel_key"""
USERS = """dim_user u
    LEFT JOIN dim_channel ch ON ch.channel_key = u.acquisition_channel_key"""
DAY = {"i": "CAST(i.occurred_at AS DATE)", "s": "d.date", "u": "u.signup_date"}

PURCHASE = "i.interaction_type = 'purchase'"
REVENUE = f"SUM(CASE WHEN {PURCHASE} THEN i.revenue END)"
ORDERS = f"COUNT(DISTINCT CASE WHEN {PURCHASE} THEN i.order_id END)"
UNITS = f"SUM(CASE WHEN {PURCHASE} THEN i.quantity END)"
LIST_VALUE = f"SUM(CASE WHEN {PURCHASE} THEN pr.list_price * i.quantity END)"
BUYERS = f"COUNT(DISTINCT CASE WHEN {PURCHASE} THEN i.user_key END)"
VISITORS = "COUNT(DISTINCT CASE WHEN i.interaction_type = 'visit' THEN i.user_key END)"
PRODUCT_VIEWERS = (
    "COUNT(DISTINCT CASE WHEN i.interaction_type = 'product_view' THEN i.user_key END)"
)
CART_ADDERS = "COUNT(DISTINCT CASE WHEN i.interaction_type = 'add_to_cart' THEN i.user_key END)"
CHECKOUT_STARTERS = "COUNT(DISTINCT CASE WHEN i.interaction_type = 'checkout' THEN i.user_key END)"
EMAILS_SENT = "SUM(CASE WHEN i.interaction_type = 'email_sent' THEN 1 ELSE 0 END)"
EMAIL_OPENS = "SUM(CASE WHEN i.interaction_type = 'email_open' THEN 1 ELSE 0 END)"
EMAIL_CLICKS = "SUM(CASE WHEN i.interaction_type = 'email_click' THEN 1 ELSE 0 END)"


def per(numerator: str, denominator: str) -> str:
    """A ratio as the SQL standard wants it: float division, NULL when dividing by 0."""
    return f"CAST({numerator} AS DOUBLE PRECISION) / NULLIF({denominator}, 0)"


def on_interactions(aggregate: str, rows: str | None = None) -> str:
    """One aggregate by the cut's key; ``rows``: the only rows the metric reads, when every
    part of it is filtered (a group with none of them has no value, so no row)."""
    only = f" AND ({rows})" if rows else ""
    return (
        f"SELECT {{i_key}} AS k, {aggregate} AS v FROM {{interactions}} WHERE {{i_where}}"
        f"{only} GROUP BY 1"
    )


EMAIL = "i.interaction_type IN ('email_sent', 'email_open', 'email_click')"


def on_spend(aggregate: str) -> str:
    return f"SELECT {{s_key}} AS k, {aggregate} AS v FROM {{spend}} WHERE {{s_where}} GROUP BY 1"


# metric → SQL template returning (k, v): the grouping key and the metric's value.
HAND_WRITTEN: dict[str, str] = {
    # commerce
    "revenue": on_interactions(REVENUE),
    "orders": on_interactions(ORDERS),
    "units": on_interactions(UNITS),
    "aov": on_interactions(per(REVENUE, ORDERS)),
    "list_value": on_interactions(LIST_VALUE),
    "discount_rate": on_interactions(per(f"{LIST_VALUE} - {REVENUE}", LIST_VALUE)),
    "median_line_value": on_interactions(
        "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY i.revenue)", rows=PURCHASE
    ),
    "units_per_order": on_interactions(per(UNITS, ORDERS)),
    "price_per_unit": on_interactions(per(REVENUE, UNITS)),
    "buyers": on_interactions(BUYERS),
    "repeat_purchase_rate": on_interactions(per(f"{ORDERS} - {BUYERS}", ORDERS)),
    # traffic and funnel
    "interactions": on_interactions("COUNT(*)"),
    "visitors": on_interactions(VISITORS),
    # a session is anything done on the site: every interaction but the email events
    "sessions": on_interactions(
        "COUNT(DISTINCT CASE WHEN i.interaction_type NOT LIKE 'email%' THEN i.session_id END)"
    ),
    # users who did something themselves: opening or clicking an email counts, receiving not
    "active_users": on_interactions(
        "COUNT(DISTINCT CASE WHEN i.interaction_type <> 'email_sent' THEN i.user_key END)"
    ),
    "conversion_rate": on_interactions(per(ORDERS, VISITORS)),
    "product_views": on_interactions(
        "SUM(CASE WHEN i.interaction_type = 'product_view' THEN 1 ELSE 0 END)"
    ),
    "cart_adds": on_interactions(
        "SUM(CASE WHEN i.interaction_type = 'add_to_cart' THEN 1 ELSE 0 END)"
    ),
    "checkouts": on_interactions(
        "SUM(CASE WHEN i.interaction_type = 'checkout' THEN 1 ELSE 0 END)"
    ),
    "purchase_lines": on_interactions(f"SUM(CASE WHEN {PURCHASE} THEN 1 ELSE 0 END)"),
    "product_viewers": on_interactions(PRODUCT_VIEWERS),
    "cart_adders": on_interactions(CART_ADDERS),
    "checkout_starters": on_interactions(CHECKOUT_STARTERS),
    "product_view_rate": on_interactions(per(PRODUCT_VIEWERS, VISITORS)),
    "add_to_cart_rate": on_interactions(per(CART_ADDERS, PRODUCT_VIEWERS)),
    "checkout_rate": on_interactions(per(CHECKOUT_STARTERS, CART_ADDERS)),
    "checkout_completion_rate": on_interactions(per(BUYERS, CHECKOUT_STARTERS)),
    # users: sign-ups, by signup date and acquisition channel
    "new_users": "SELECT {u_key} AS k, COUNT(*) AS v FROM {users} WHERE {u_where} GROUP BY 1",
    # email
    # Every part of these is filtered to e-mail events, so a channel group with no e-mail
    # events has no row at all (not a row of zeros): the metric reads only its own rows.
    "emails_sent": on_interactions(EMAILS_SENT, "i.interaction_type = 'email_sent'"),
    "email_opens": on_interactions(EMAIL_OPENS, "i.interaction_type = 'email_open'"),
    "email_clicks": on_interactions(EMAIL_CLICKS, "i.interaction_type = 'email_click'"),
    "email_open_rate": on_interactions(per(EMAIL_OPENS, EMAILS_SENT), EMAIL),
    "email_click_rate": on_interactions(per(EMAIL_CLICKS, EMAIL_OPENS), EMAIL),
    # marketing
    "spend": on_spend("SUM(s.spend)"),
    "impressions": on_spend("SUM(s.impressions)"),
    "clicks": on_spend("SUM(s.clicks)"),
    "ctr": on_spend(per("SUM(s.clicks)", "SUM(s.impressions)")),
    "cpc": on_spend(per("SUM(s.spend)", "SUM(s.clicks)")),
    # drill-across: each fact aggregated on its own, joined on every key either side has
    "cac": """
        WITH sp AS (SELECT {s_key} AS k, SUM(s.spend) AS spend
                    FROM {spend} WHERE {s_where} GROUP BY 1),
             nu AS (SELECT {u_key} AS k, COUNT(*) AS new_users
                    FROM {users} WHERE {u_where} GROUP BY 1),
             keys AS (SELECT k FROM sp UNION SELECT k FROM nu)
        SELECT keys.k AS k, CAST(sp.spend AS DOUBLE PRECISION) / NULLIF(nu.new_users, 0) AS v
        FROM keys
        LEFT JOIN sp ON sp.k IS NOT DISTINCT FROM keys.k
        LEFT JOIN nu ON nu.k IS NOT DISTINCT FROM keys.k""",
    "roas": f"""
        WITH r AS (SELECT {{i_key}} AS k, {REVENUE} AS revenue
                   FROM {{interactions}} WHERE {{i_where}} GROUP BY 1),
             sp AS (SELECT {{s_key}} AS k, SUM(s.spend) AS spend
                    FROM {{spend}} WHERE {{s_where}} GROUP BY 1),
             keys AS (SELECT k FROM r UNION SELECT k FROM sp)
        SELECT keys.k AS k, CAST(r.revenue AS DOUBLE PRECISION) / NULLIF(sp.spend, 0) AS v
        FROM keys
        LEFT JOIN r ON r.k IS NOT DISTINCT FROM keys.k
        LEFT JOIN sp ON sp.k IS NOT DISTINCT FROM keys.k""",
}


@dataclass(frozen=True)
class Slice:
    """One way of cutting a metric: the query's side and the hand-written side."""

    id: str
    dimensions: tuple[str, ...]
    filters: tuple[Filter, ...]
    column: str  # the compiled query's output column for the grouping
    key: str  # hand-written grouping; {day} = the fact's day
    where: str  # hand-written WHERE; {day} = the fact's day
    keys: frozenset[object] = field(default_factory=frozenset)  # every key expected


FIRST_DAY, LAST_DAY = date(2025, 2, 10), date(2025, 7, 20)  # partial months at both ends
BY_CHANNEL_GROUP = Slice(
    "by_channel_group", ("channel_group",), (), "channel_group", "ch.channel_group", "TRUE"
)
BY_MONTH = Slice(
    "by_month_in_window",
    ("date:month",),
    (Filter("date", "between", (FIRST_DAY.isoformat(), LAST_DAY.isoformat())),),
    "date",
    "CAST(DATE_TRUNC('month', {day}) AS DATE)",
    f"{{day}} BETWEEN DATE '{FIRST_DAY}' AND DATE '{LAST_DAY}'",
    frozenset(date(2025, m, 1) for m in range(2, 8)),
)
SLICES = (BY_CHANNEL_GROUP, BY_MONTH)


def hand_written(metric: str, cut: Slice, *, region: str | None = None) -> str:
    """The hand-written SQL of ``metric`` for ``cut`` (interactions of ``region`` only)."""
    if metric not in HAND_WRITTEN:
        pytest.fail(
            f"metric {metric!r} of {DEMO_MODEL} has no hand-written SQL: add one to "
            f"HAND_WRITTEN in {Path(__file__).name} (every metric is tested against "
            "a query written by hand, STYLE §4)",
            pytrace=False,
        )
    parts: dict[str, str] = {}
    for fact, day in DAY.items():
        parts[f"{fact}_key"] = cut.key.format(day=day)
        parts[f"{fact}_where"] = cut.where.format(day=day)
    if region is not None:
        parts["i_where"] = f"({parts['i_where']}) AND iu.region = '{region}'"
    return HAND_WRITTEN[metric].format(interactions=INTERACTIONS, spend=SPEND, users=USERS, **parts)


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    """The demo star schema (and its rollup tables) on one database."""

    name: str
    engine: sa.Engine
    model: SemanticModel
    kinds: dict[str, str]
    tables: frozenset[str]

    def compile(
        self, query: MetricQuery, *, use_rollups: bool = True, scope: RowScope = ()
    ) -> CompiledQuery:
        """Compile as ``run()`` does: this dialect, its column types and rollup tables."""
        return compile_query(
            self.model,
            query,
            dialect=self.engine.dialect,
            scope=scope,
            use_rollups=use_rollups,
            available_rollups=frozenset(self.model.rollups) & self.tables,
            column_types=self.kinds,
        )

    def frame(self, statement: sa.Executable | str) -> pd.DataFrame:
        """Rows of a statement or of hand-written SQL, numbers as float64."""
        if isinstance(statement, str):
            statement = sa.text(statement)
        with self.engine.connect() as conn:
            result = conn.execute(statement)
            return normalise(list(result.keys()), [tuple(r) for r in result])

    def run(self, query: MetricQuery, **options: object) -> tuple[CompiledQuery, pd.DataFrame]:
        compiled = self.compile(query, **options)  # type: ignore[arg-type]
        return compiled, self.frame(compiled.statement)


def _backend(name: str, engine: sa.Engine) -> Backend:
    with engine.connect() as conn:
        kinds = warehouse_column_types(conn, MODEL)
        tables = frozenset(sa.inspect(conn).get_table_names())
    return Backend(name, engine, MODEL, kinds, tables)


@pytest.fixture(scope="module")
def duck(tiny_demo: str) -> Iterator[Backend]:
    """The tiny demo, read-only, rollups as published (opened as ``run()`` opens it: DuckDB
    refuses a second connection to a file with another configuration)."""
    settings = load_settings({"db_url": tiny_demo})
    warehouse = Warehouse(
        tiny_demo, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads
    )
    try:
        yield _backend("duckdb", warehouse.snapshot().engine)
    finally:
        warehouse.dispose()


PG_TYPES = {
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE PRECISION",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "BOOLEAN": "BOOLEAN",
    "VARCHAR": "TEXT",
}


def _copy_star_schema(source: sa.Engine, target: sa.Engine, schema: str) -> None:
    """CREATE SCHEMA and copy the model's tables (dim_*, fct_*) into it with COPY."""
    with source.connect() as src, target.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for table in sorted(MODEL.tables):
            columns = src.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = :t AND table_schema = current_schema() "
                    "ORDER BY ordinal_position"
                ),
                {"t": table},
            ).all()
            body = ", ".join(f'"{c}" {PG_TYPES[t]}' for c, t in columns)
            conn.exec_driver_sql(f'CREATE TABLE "{schema}"."{table}" ({body})')
            names = ", ".join(f'"{c}"' for c, _ in columns)
            rows = src.exec_driver_sql(f'SELECT {names} FROM "{table}"').all()
            with cursor.copy(f'COPY "{schema}"."{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(tuple(row))
        cursor.close()


@pytest.fixture(scope="module")
def pg(pg_url: str, duck: Backend) -> Iterator[Backend]:
    """The tiny demo's star schema in a fresh PostgreSQL schema, rollups built there."""
    schema = f"sb_demo_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    try:
        _copy_star_schema(duck.engine, admin, schema)
    except sa.exc.OperationalError as err:
        admin.dispose()
        if os.environ.get("STARBOARD_STRICT") == "1":
            pytest.fail(f"PostgreSQL at STARBOARD_TEST_PG_URL is unreachable: {err}")
        pytest.skip(f"PostgreSQL at STARBOARD_TEST_PG_URL is unreachable: {err}")
    engine = sa.create_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        with engine.begin() as conn:
            for name, select in rollup_statements(MODEL, engine.dialect):
                body = select.compile(
                    dialect=engine.dialect, compile_kwargs={"literal_binds": True}
                )
                conn.exec_driver_sql(f'CREATE TABLE "{name}" AS {body}')
            conn.exec_driver_sql("ANALYZE")
        yield _backend("postgresql", engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn, with identical expectations."""
    return request.getfixturevalue({"duckdb": "duck", "postgresql": "pg"}[request.param])


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal as sets of rows; floats to rtol 1e-9."""
    assert_frame_equal(
        sort_rows(got), sort_rows(want), check_dtype=False, check_exact=False, rtol=1e-9
    )


def expected(
    backend: Backend, metric: str, cut: Slice, *, region: str | None = None
) -> pd.DataFrame:
    """The hand-written result, named like the compiled query's output."""
    want = backend.frame(hand_written(metric, cut, region=region))
    want.columns = [cut.column, metric]
    return want


# --------------------------------------------------------------------------- 1. every metric


def test_every_hand_written_query_belongs_to_a_metric_of_the_model() -> None:
    assert sorted(set(HAND_WRITTEN) - set(METRICS)) == []


@pytest.mark.parametrize("cut", SLICES, ids=lambda c: c.id)
@pytest.mark.parametrize("metric", METRICS)
def test_metric_equals_its_hand_written_sql(backend: Backend, metric: str, cut: Slice) -> None:
    want = expected(backend, metric, cut)
    assert want[metric].notna().any(), "the hand-written query returned no value: vacuous"
    if cut.keys:  # every month, or (for metrics reading only their own rows) some of them
        months = set(want[cut.column])
        assert months == cut.keys or (metric.startswith("email") and months < cut.keys)
    query = MetricQuery((metric,), cut.dimensions, filters=cut.filters)
    routes = [True, False] if backend.compile(query).rollup else [False]
    for use_rollups in routes:
        compiled, got = backend.run(query, use_rollups=use_rollups)
        assert list(got.columns) == [cut.column, metric]
        assert_same(got, want)


@pytest.mark.postgres
@pytest.mark.parametrize("cut", SLICES, ids=lambda c: c.id)
@pytest.mark.parametrize("metric", METRICS)
def test_metric_is_identical_on_duckdb_and_postgresql(
    duck: Backend, pg: Backend, metric: str, cut: Slice
) -> None:
    query = MetricQuery((metric,), cut.dimensions, filters=cut.filters)
    _, on_duck = duck.run(query)
    _, on_pg = pg.run(query)
    assert len(on_duck) > 0
    assert_same(on_pg, on_duck)


def test_the_time_aware_and_share_metrics_are_tested_below() -> None:
    others = {m for m, spec in MODEL.metrics.items() if spec.kind in ("time", "share")}
    assert others == {"active_users_28d", "revenue_share"}


def test_active_users_28d_counts_each_user_once_over_the_28_days(backend: Backend) -> None:
    # by channel group over the window: the 28 days that end on its last day
    query = MetricQuery(("active_users_28d",), ("channel_group",), BY_MONTH.filters)
    _, got = backend.run(query)
    start = LAST_DAY - timedelta(days=27)
    want = backend.frame(
        f"""SELECT ch.channel_group AS k, COUNT(DISTINCT i.user_key) AS v FROM {INTERACTIONS}
            WHERE i.interaction_type <> 'email_sent'
              AND CAST(i.occurred_at AS DATE) BETWEEN DATE '{start}' AND DATE '{LAST_DAY}'
            GROUP BY 1"""
    )
    want.columns = ["channel_group", "active_users_28d"]
    assert len(want) > 1
    assert_same(got, want)
    # by week: each week's value is the 28 days to its last day (a week is not a sum of days)
    weekly = MetricQuery(("active_users_28d",), ("date:week",), BY_MONTH.filters)
    _, weeks = backend.run(weekly)
    week = weeks.iloc[3]
    end = min(pd.Timestamp(week["date"]).date() + timedelta(days=6), LAST_DAY)
    one = backend.frame(
        f"""SELECT COUNT(DISTINCT i.user_key) FROM fct_interaction i
            WHERE i.interaction_type <> 'email_sent' AND CAST(i.occurred_at AS DATE)
              BETWEEN DATE '{end - timedelta(days=27)}' AND DATE '{end}'"""
    )
    assert week["active_users_28d"] == one.iloc[0, 0]


def test_revenue_share_is_each_groups_part_of_the_period(backend: Backend) -> None:
    query = MetricQuery(("revenue_share",), ("date:month", "channel_group"), BY_MONTH.filters)
    _, got = backend.run(query)
    want = backend.frame(
        f"""WITH g AS (
              SELECT CAST(DATE_TRUNC('month', i.occurred_at) AS DATE) AS date,
                     ch.channel_group, {REVENUE} AS revenue
              FROM {INTERACTIONS}
              WHERE {PURCHASE} AND CAST(i.occurred_at AS DATE)
                BETWEEN DATE '{FIRST_DAY}' AND DATE '{LAST_DAY}'
              GROUP BY 1, 2)
            SELECT date, channel_group,
                   revenue / SUM(revenue) OVER (PARTITION BY date) AS revenue_share FROM g"""
    )
    assert len(want) > 6
    assert_same(got, want)
    sums = got.groupby("date")["revenue_share"].sum()
    assert sums.round(9).eq(1.0).all()


# --------------------------------------------------------------------------- 2. rollups

WINDOW = BY_MONTH.filters[0]
ROUTED = {
    "revenue_by_group_and_month": (
        MetricQuery(("revenue",), ("channel_group", "date:month"), (WINDOW,)),
        "agg_daily_channel",
    ),  # the narrowest rollup that fits
    "spend_by_channel": (MetricQuery(("spend",), ("channel",)), "agg_daily_spend"),
    "ctr_cpc_by_campaign_and_quarter_of_paid_search": (
        MetricQuery(
            ("ctr", "cpc"),
            ("campaign", "date:quarter"),
            (Filter("channel_group", "=", "Paid Search"),),
        ),
        "agg_daily_spend",
    ),
    "price_per_unit_by_device_and_week_in_emea": (
        MetricQuery(
            ("price_per_unit", "purchase_lines"),
            ("device", "date:week"),
            (Filter("region", "=", "EMEA"), WINDOW),
        ),
        "agg_daily_interaction",
    ),
    "email_rates_by_country_since_a_day": (
        MetricQuery(
            ("email_open_rate", "email_click_rate"),
            ("country",),
            (Filter("date", ">=", "2026-01-15"),),
        ),
        "agg_daily_interaction",
    ),
    "orders_are_distinct_counts": (MetricQuery(("revenue", "orders"), ("channel_group",)), None),
    # distinct counts by whole months: each month is one row of the monthly rollup
    "active_users_and_conversion_by_whole_month": (
        MetricQuery(
            ("active_users", "conversion_rate"),
            ("date:month",),
            (Filter("date", "between", ("2025-03-01", "2025-06-30")),),
        ),
        "agg_monthly_users",
    ),
    "active_users_of_one_region_by_whole_month": (
        MetricQuery(
            ("active_users", "aov"),
            ("date:month",),
            (
                Filter("date", "between", ("2025-03-01", "2025-06-30")),
                Filter("region", "=", "EMEA"),
            ),
        ),
        "agg_monthly_region_users",
    ),
    "active_users_of_two_regions_read_the_fact": (
        MetricQuery(
            ("active_users",),
            ("date:month",),
            (
                Filter("date", "between", ("2025-03-01", "2025-06-30")),
                Filter("region", "in", ("EMEA", "AMER")),
            ),
        ),
        None,
    ),
    "new_users_by_whole_month": (
        MetricQuery(
            ("new_users",),
            ("date:month",),
            (Filter("date", "between", ("2025-03-01", "2025-06-30")),),
        ),
        "agg_monthly_signups",
    ),
    "brand_is_not_in_a_rollup": (MetricQuery(("revenue",), ("brand",)), None),
    # a drill-across: each fact's branch reads its own rollup
    "roas_spans_two_facts": (
        MetricQuery(("roas",), ("channel",)),
        "agg_daily_channel, agg_daily_spend",
    ),
    "cac_spans_two_facts_and_new_users_has_no_rollup": (
        MetricQuery(("cac",), ("channel_group", "date:month"), (WINDOW,)),
        "agg_daily_spend",
    ),
}


@pytest.mark.parametrize("case", ROUTED)
def test_rollup_routing_gives_the_facts_answer(backend: Backend, case: str) -> None:
    query, rollup = ROUTED[case]
    compiled, routed = backend.run(query)
    assert compiled.rollup == rollup
    assert backend.compile(query, use_rollups=False).rollup is None
    _, direct = backend.run(query, use_rollups=False)
    assert len(direct) > 1
    assert_same(routed, direct)


def test_a_count_over_no_rows_is_zero_through_a_rollup_too(backend: Backend) -> None:
    # Found by this suite: a rollup's SUM of pre-counted rows was NULL over no rows.
    # Tablets on the tracking-outage day: no row at all, so the count a user sees is 0.
    query = MetricQuery(
        ("interactions", "product_views"),
        (),
        (Filter("device", "=", "tablet"), Filter("date", "=", "2025-09-17")),
    )
    _, direct = backend.run(query, use_rollups=False)
    assert direct.to_dict("records") == [{"interactions": 0.0, "product_views": 0.0}]
    compiled, routed = backend.run(query)
    assert compiled.rollup == "agg_daily_channel"
    assert_same(routed, direct)


# --------------------------------------------------------------------------- 3. the one door


@pytest.fixture
def runtime(tiny_demo: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings({"db_url": tiny_demo, "cache": "simple", "home": str(tmp_path)})
    with standalone(settings) as rt:
        yield rt


def door_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``run()``'s frame in the normalised form of ``Backend.frame``."""
    return normalise(list(frame.columns), list(frame.itertuples(index=False, name=None)))


@pytest.mark.parametrize(
    "query",
    [
        MetricQuery(("revenue", "orders", "conversion_rate", "roas"), ("channel_group",)),
        ROUTED["revenue_by_group_and_month"][0],
    ],
    ids=["drill_across", "rollup"],
)
def test_run_returns_the_compiled_frame_and_caches_the_second_run(
    runtime: Runtime, duck: Backend, query: MetricQuery
) -> None:
    compiled, direct = duck.run(query)
    first = run(query, runtime=runtime)
    assert not first.cache_hit and first.rollup == compiled.rollup
    assert first.columns == compiled.columns
    assert_frame_equal(door_frame(first.frame), direct, check_exact=False, rtol=1e-9)
    second = run(query, runtime=runtime)
    assert second.cache_hit
    assert_frame_equal(second.frame, first.frame)
    assert runtime.cache.stats.hits == 1 and runtime.cache.stats.misses == 1


@pytest.mark.parametrize("metric", ["revenue", "conversion_rate"])
def test_row_scope_gives_the_hand_written_regional_numbers_never_anothers_cache(
    runtime: Runtime, duck: Backend, metric: str
) -> None:
    query = MetricQuery((metric,), ("channel_group",))
    emea = run(query, (("region", ("EMEA",)),), runtime=runtime)
    assert not emea.cache_hit
    want_emea = expected(duck, metric, BY_CHANNEL_GROUP, region="EMEA")
    assert_same(door_frame(emea.frame), want_emea)
    amer = run(query, (("region", ("AMER",)),), runtime=runtime)
    assert not amer.cache_hit  # never EMEA's cached rows
    want_amer = expected(duck, metric, BY_CHANNEL_GROUP, region="AMER")
    assert_same(door_frame(amer.frame), want_amer)
    assert not sort_rows(want_amer).equals(sort_rows(want_emea))  # the scopes do differ
    assert run(query, (("region", ("EMEA",)),), runtime=runtime).cache_hit
    if metric == "revenue":
        assert emea.rollup == amer.rollup == "agg_daily_interaction"


# --------------------------------------------------------------------------- 4. planted stories

STORIES = {story.name: story for story in planted_stories()}
OUTAGE = STORIES["tablet_tracking_outage"]
DIP = STORIES["mobile_checkout_dip"]
TABLET = Filter("device", "=", OUTAGE.device)
MOBILE = Filter("device", "=", DIP.device)


def value(runtime: Runtime, metric: str, *filters: Filter) -> object:
    """The one number a tile would show for ``metric`` under ``filters``."""
    frame = run(MetricQuery((metric,), (), filters), runtime=runtime).frame
    assert len(frame) == 1
    return frame[metric].iloc[0]


def daily(
    runtime: Runtime, metric: str, first: date, last: date, *filters: Filter
) -> dict[date, float]:
    frame = run(
        MetricQuery((metric,), ("date",), (*filters, Filter("date", "between", (first, last)))),
        runtime=runtime,
    ).frame
    return {day: float(v) for day, v in zip(frame["date"], frame[metric], strict=True)}


def monthly(
    runtime: Runtime, metric: str, months: list[date], *filters: Filter
) -> dict[date, float]:
    last = (months[-1] + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    frame = run(
        MetricQuery(
            (metric,), ("date:month",), (*filters, Filter("date", "between", (months[0], last)))
        ),
        runtime=runtime,
    ).frame
    return {day: float(v) for day, v in zip(frame["date"], frame[metric], strict=True)}


def test_tablet_outage_day_shows_no_tablet_visitors_on_the_tiny_demo(runtime: Runtime) -> None:
    day = Filter("date", "=", OUTAGE.start)
    assert value(runtime, "visitors", TABLET, day) == 0
    assert value(runtime, "visitors", day) > 0  # the other devices were there
    # At 40k interactions tablets bring ~2 visitors a day and, for seed 7, none at all on
    # the day before the outage either; the week before is the reliable comparison here.
    week = daily(
        runtime,
        "visitors",
        OUTAGE.start - timedelta(days=7),
        OUTAGE.start - timedelta(days=1),
        TABLET,
    )
    assert sum(week.values()) > 0


STORY_INTERACTIONS = 400_000


@pytest.fixture(scope="module")
def story_demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo at 400k interactions (seed 7, no rollups): big enough for the dip.

    At 40k a month has ~6 mobile orders and the dip drowns in noise (seed 7: March 4.3%
    against 3.9% in February). At 400k March is below both neighbours for seeds 1–20
    (at most 0.83 × the lower one), so this is not a lucky seed.
    """
    from app.loader.generate import generate
    from tests.conftest import demo_load

    root = tmp_path_factory.mktemp("story_demo")
    generate(root / "raw", interactions=STORY_INTERACTIONS, seed=7)
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    demo_load(root / "raw", url, rollups=False)
    return url


@pytest.fixture
def story_runtime(story_demo: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings({"db_url": story_demo, "cache": "null", "home": str(tmp_path)})
    with standalone(settings) as rt:
        yield rt


def test_tablet_outage_day_shows_no_tablet_visitors_after_a_normal_day(
    story_runtime: Runtime,
) -> None:
    days = daily(
        story_runtime,
        "visitors",
        OUTAGE.start - timedelta(days=1),
        OUTAGE.start + timedelta(days=1),
        TABLET,
    )
    assert days[OUTAGE.start - timedelta(days=1)] > 0
    assert days[OUTAGE.start + timedelta(days=1)] > 0
    assert OUTAGE.start not in days  # no row at all: the tile shows 0
    assert value(story_runtime, "visitors", TABLET, Filter("date", "=", OUTAGE.start)) == 0


def test_mobile_conversion_dips_in_the_planted_month(story_runtime: Runtime) -> None:
    before = (DIP.start - timedelta(days=1)).replace(day=1)
    after = DIP.end + timedelta(days=1)
    rates = monthly(story_runtime, "conversion_rate", [before, DIP.start, after], MOBILE)
    assert sorted(rates) == [before, DIP.start, after]
    assert rates[DIP.start] < rates[before]
    assert rates[DIP.start] < rates[after]
