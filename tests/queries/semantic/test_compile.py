"""The query compiler against hand-written SQL on the support schema, DuckDB and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

from app.core.errors import QueryError
from queries.semantic.compile import CompiledQuery, compile_query, sql_params, sql_text
from queries.semantic.parse import parse_cli
from queries.semantic.query import Filter, Having, MetricQuery
from queries.semantic.types import GRAINS
from tests.queries.conftest import Warehouse, sort_rows
from tests.queries.second_schema import TRICKY_STORE, support_model

TICKETS = """f_ticket_event e
  LEFT JOIN d_calendar c ON e.event_cal_key = c.cal_key
  LEFT JOIN d_store s ON e.store_ref = s.store_ref
  LEFT JOIN d_city ci ON s.city_ref = ci.city_ref
  LEFT JOIN d_country co ON ci.country_iso = co.iso
  LEFT JOIN d_agent a ON e.agent_no = a.agent_no"""
STAFFING = """f_staffing f
  LEFT JOIN d_store s ON f.store_ref = s.store_ref
  LEFT JOIN d_city ci ON s.city_ref = ci.city_ref
  LEFT JOIN d_country co ON ci.country_iso = co.iso"""
RESOLVED = "CASE WHEN e.event_kind = 'resolved' THEN 1 END"
INJECTION = "x'; drop table d_store; --"


def compile_for(wh: Warehouse, query: MetricQuery, **options: object) -> CompiledQuery:
    """Compile for the warehouse's dialect with its column types; no rollups unless asked."""
    options.setdefault("use_rollups", False)
    return compile_query(wh.model, query, dialect=wh.dialect, column_types=wh.kinds, **options)  # type: ignore[arg-type]


def check(
    wh: Warehouse,
    query: MetricQuery,
    expected_sql: str,
    *,
    ordered: bool = False,
    **options: object,
) -> pd.DataFrame:
    """Compiled result == hand-written SQL result (sorted unless ``ordered``); returns it."""
    compiled = compile_for(wh, query, **options)
    got = wh.frame(compiled.statement)
    want = wh.frame(expected_sql)
    assert list(got.columns) == list(compiled.columns)
    if not ordered:
        got, want = sort_rows(got), sort_rows(want)
    assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-9)
    return got


def q(metrics: str, by: str = "", *filters: Filter, **kw: object) -> MetricQuery:
    """Shorthand: comma-separated metrics and dimensions."""
    return MetricQuery(metrics=_names(metrics), dimensions=_names(by), filters=filters, **kw)  # type: ignore[arg-type]


def _names(text: str) -> tuple[str, ...]:
    """'a,b' → ('a', 'b')."""
    return tuple(x for x in text.split(",") if x)


# --------------------------------------------------------------------------- aggregates


def test_aggregate_metrics_by_a_fact_column(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events,tickets_opened,handle_minutes,resolutions,avg_csat,long_events", "channel"),
        f"""
        SELECT e.channel AS channel, COUNT(*) AS events,
               COUNT(DISTINCT CASE WHEN e.event_kind = 'opened' THEN e.ticket_id END)
                 AS tickets_opened,
               SUM(e.minutes_spent) AS handle_minutes, COUNT({RESOLVED}) AS resolutions,
               AVG(CASE WHEN e.event_kind = 'resolved' THEN e.satisfaction END) AS avg_csat,
               SUM(CASE WHEN e.minutes_spent > 30 THEN 1 ELSE 0 END) AS long_events
        FROM f_ticket_event e GROUP BY e.channel""",
    )


def test_totals_without_dimensions_match_the_raw_rows(warehouse: Warehouse) -> None:
    events = warehouse.data.tables["f_ticket_event"]
    got = warehouse.frame(compile_for(warehouse, q("events,handle_minutes,resolutions")).statement)
    assert got.to_dict("records") == [
        {
            "events": float(len(events)),
            "handle_minutes": float(sum(e[7] for e in events if e[7] is not None)),
            "resolutions": float(sum(1 for e in events if e[6] == "resolved")),
        }
    ]


# --------------------------------------------------------------------------- filters

FILTER_CASES = [
    (Filter("store", "=", TRICKY_STORE), "s.store_label = 'Smith''s, Main St'"),
    (Filter("channel", "!=", "email"), "e.channel <> 'email'"),
    (Filter("floors", "<", "2"), "s.floors < 2"),
    (Filter("floors", "<=", 2), "s.floors <= 2"),
    (Filter("floors", ">", 1.0), "s.floors > 1"),
    (Filter("floors", ">=", "3"), "s.floors >= 3"),
    (Filter("country", "in", ("Germany", "France")), "co.country_label IN ('Germany', 'France')"),
    (Filter("country", "not_in", ["Germany"]), "co.country_label NOT IN ('Germany')"),
    (Filter("flagship", "=", "true"), "s.is_flagship = TRUE"),
    (
        Filter("store_opened", "between", ("2019-01-01", "2021-12-31")),
        "s.opened_on BETWEEN DATE '2019-01-01' AND DATE '2021-12-31'",
    ),
    (Filter("weekday", "in", ("6", "7")), "c.weekday IN (6, 7)"),
    (
        Filter("period", "between", ("2025-12-01", "2026-01-15")),
        "c.cal_date BETWEEN DATE '2025-12-01' AND DATE '2026-01-15'",
    ),
    (Filter("period", "=", "2026-01-05"), "c.cal_date = DATE '2026-01-05'"),
    (Filter("period", "!=", date(2026, 1, 5)), "c.cal_date <> DATE '2026-01-05'"),
    (Filter("period", "<", "2025-11-15"), "c.cal_date < DATE '2025-11-15'"),
    (Filter("period", "<=", "2025-11-15"), "c.cal_date <= DATE '2025-11-15'"),
    (Filter("period", ">", "2026-03-01"), "c.cal_date > DATE '2026-03-01'"),
    (Filter("period", ">=", "2026-03-01"), "c.cal_date >= DATE '2026-03-01'"),
    (
        Filter("period", "in", ("2026-01-05", "2026-02-10")),
        "c.cal_date IN (DATE '2026-01-05', DATE '2026-02-10')",
    ),
    (Filter("period", "not_in", ("2026-01-05",)), "c.cal_date NOT IN (DATE '2026-01-05')"),
    (
        Filter("period:month", "=", "2026-01-01"),
        "CAST(date_trunc('month', c.cal_date) AS DATE) = DATE '2026-01-01'",
    ),
    (
        Filter("period:quarter", ">=", "2026-01-01"),
        "CAST(date_trunc('quarter', c.cal_date) AS DATE) >= DATE '2026-01-01'",
    ),
]


@pytest.mark.parametrize(
    ("flt", "where"), FILTER_CASES, ids=[f"{f.dimension}{f.op}" for f, _ in FILTER_CASES]
)
def test_filter_ops_match_hand_written_where(warehouse: Warehouse, flt: Filter, where: str) -> None:
    got = check(
        warehouse,
        q("events,handle_minutes", "team", flt),
        f"""
        SELECT a.team AS team, COUNT(*) AS events, SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} WHERE {where} GROUP BY a.team""",
    )
    assert 0 < got["events"].sum() < len(warehouse.data.tables["f_ticket_event"])


@pytest.mark.parametrize(
    ("op", "value", "keep"),
    [
        (
            "between",
            ("2025-12-01", "2025-12-31"),
            lambda d: date(2025, 12, 1) <= d <= date(2025, 12, 31),
        ),
        ("=", "2025-12-24", lambda d: d == date(2025, 12, 24)),
        ("<=", "2025-10-10", lambda d: d <= date(2025, 10, 10)),
        (">", "2026-03-29", lambda d: d > date(2026, 3, 29)),
        ("!=", "2025-12-24", lambda d: d != date(2025, 12, 24)),
        ("in", ("2025-12-24", "2026-01-01"), lambda d: d in (date(2025, 12, 24), date(2026, 1, 1))),
    ],
)
def test_time_filters_take_whole_days_on_a_timestamp_column(
    warehouse: Warehouse, op: str, value: object, keep
) -> None:
    shifts = warehouse.data.tables["f_staffing"]
    expected = Counter(row[1] for row in shifts if keep(row[2].date()))
    assert any(row[2].hour >= 22 for row in shifts if keep(row[2].date()))  # late shifts count
    compiled = compile_for(warehouse, q("shifts", "store", Filter("period", op, value)))
    got = warehouse.frame(compiled.statement)
    labels = {row[0]: row[1] for row in warehouse.data.tables["d_store"]}
    assert dict(zip(got["store"], got["shifts"], strict=True)) == {
        labels[store]: float(n) for store, n in expected.items()
    }


def test_filter_values_bind_as_given_without_column_types(warehouse: Warehouse) -> None:
    query = q("events", "channel", Filter("channel", "in", ("chat", "phone")))
    compiled = compile_query(warehouse.model, query, dialect=warehouse.dialect)
    got = sort_rows(warehouse.frame(compiled.statement))
    assert list(got["channel"]) == ["chat", "phone"]


# --------------------------------------------------------------------------- time grains


@pytest.mark.parametrize("grain", GRAINS)
def test_time_grains_through_a_calendar_join_and_on_a_timestamp(
    warehouse: Warehouse, grain: str
) -> None:
    check(
        warehouse,
        q("events,resolutions", f"period:{grain}"),
        f"""
        SELECT CAST(date_trunc('{grain}', c.cal_date) AS DATE) AS period,
               COUNT(*) AS events, COUNT({RESOLVED}) AS resolutions
        FROM {TICKETS} GROUP BY 1""",
    )
    check(
        warehouse,
        q("shifts,staffed_hours", f"period:{grain}"),
        f"""
        SELECT CAST(date_trunc('{grain}', f.shift_start) AS DATE) AS period,
               COUNT(*) AS shifts, SUM(f.hours) AS staffed_hours
        FROM f_staffing f GROUP BY 1""",
    )


def test_week_and_month_periods_are_dates_starting_the_period(warehouse: Warehouse) -> None:
    shifts = warehouse.data.tables["f_staffing"]
    for grain, start in (
        ("week", lambda d: d - timedelta(days=d.weekday())),
        ("month", lambda d: d.replace(day=1)),
        ("day", lambda d: d),
    ):
        got = warehouse.frame(compile_for(warehouse, q("shifts", f"period:{grain}")).statement)
        expected = Counter(start(row[2].date()) for row in shifts)
        assert dict(zip(got["period"], got["shifts"], strict=True)) == {
            k: float(v) for k, v in expected.items()
        }
        assert all(type(v) is date for v in got["period"])


# --------------------------------------------------------------------------- ratio and expr


def test_ratio_is_null_on_zero_denominator(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("handle_minutes,resolutions,minutes_per_resolution", "agent,period:day"),
        f"""
        SELECT a.agent_name AS agent, c.cal_date AS period,
               SUM(e.minutes_spent) AS handle_minutes, COUNT({RESOLVED}) AS resolutions,
               CAST(SUM(e.minutes_spent) AS DOUBLE PRECISION) / NULLIF(COUNT({RESOLVED}), 0)
                 AS minutes_per_resolution
        FROM {TICKETS} GROUP BY 1, 2""",
    )
    zero = got[got["resolutions"] == 0]
    assert len(zero) > 50 and zero["minutes_per_resolution"].isna().all()
    assert got.loc[got["resolutions"] > 0, "minutes_per_resolution"].notna().any()


def test_expr_metrics_over_other_metrics(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("resolve_share,net_minutes", "event_kind"),
        f"""
        SELECT e.event_kind AS event_kind,
               CAST(COUNT({RESOLVED}) AS DOUBLE PRECISION) / NULLIF(COUNT(*), 0)
                 AS resolve_share,
               SUM(e.minutes_spent) - 2 * (COUNT({RESOLVED}) + 0.5) AS net_minutes
        FROM f_ticket_event e GROUP BY 1""",
    )
    shares = dict(zip(got["event_kind"], got["resolve_share"], strict=True))
    assert shares["resolved"] == 1.0 and shares["opened"] == 0.0


# --------------------------------------------------------------------------- drill-across

DRILL_BY_STORE = f"""
    WITH t AS (SELECT s.store_label AS store, SUM(e.minutes_spent) AS handle_minutes
               FROM {TICKETS} GROUP BY 1),
         f AS (SELECT s.store_label AS store, SUM(f.hours) AS staffed_hours
               FROM {STAFFING} GROUP BY 1)
    SELECT COALESCE(t.store, f.store) AS store, t.handle_minutes, f.staffed_hours,
           CAST(t.handle_minutes AS DOUBLE PRECISION) / NULLIF(f.staffed_hours, 0)
             AS minutes_per_staffed_hour,
           CAST(t.handle_minutes AS DOUBLE PRECISION) / NULLIF(f.staffed_hours * 60, 0)
             AS utilisation
    FROM t FULL OUTER JOIN f ON t.store = f.store"""


def test_drill_across_keeps_keys_found_on_one_side_only(warehouse: Warehouse) -> None:
    query = q("handle_minutes,staffed_hours,minutes_per_staffed_hour,utilisation", "store")
    got = check(warehouse, query, DRILL_BY_STORE)
    rows = {r["store"]: r for r in got.to_dict("records")}
    assert pd.isna(rows["Pop-up"]["staffed_hours"]) and rows["Pop-up"]["handle_minutes"] > 0
    assert pd.isna(rows["Paris Nord"]["handle_minutes"])
    assert rows["Paris Nord"]["staffed_hours"] > 0
    assert pd.isna(rows[None]["staffed_hours"])  # events without a store
    assert compile_for(warehouse, query).facts == ("f_ticket_event", "f_staffing")


def test_drill_across_by_month_and_country(warehouse: Warehouse) -> None:
    query = q(
        "events,shifts,utilisation",
        "period:month,country",
        Filter("period", "between", ("2025-11-01", "2026-02-28")),
    )
    check(
        warehouse,
        query,
        f"""
        WITH t AS (SELECT CAST(date_trunc('month', c.cal_date) AS DATE) AS period,
                          co.country_label AS country, COUNT(*) AS events,
                          SUM(e.minutes_spent) AS handle_minutes
                   FROM {TICKETS}
                   WHERE c.cal_date BETWEEN DATE '2025-11-01' AND DATE '2026-02-28'
                   GROUP BY 1, 2),
             f AS (SELECT CAST(date_trunc('month', f.shift_start) AS DATE) AS period,
                          co.country_label AS country, COUNT(*) AS shifts,
                          SUM(f.hours) AS staffed_hours
                   FROM {STAFFING}
                   WHERE CAST(f.shift_start AS DATE) BETWEEN DATE '2025-11-01'
                                                         AND DATE '2026-02-28'
                   GROUP BY 1, 2)
        SELECT COALESCE(t.period, f.period) AS period, COALESCE(t.country, f.country) AS country,
               t.events, f.shifts,
               CAST(t.handle_minutes AS DOUBLE PRECISION) / NULLIF(f.staffed_hours * 60, 0)
                 AS utilisation
        FROM t FULL OUTER JOIN f ON t.period = f.period AND t.country = f.country""",
    )


# --------------------------------------------------------------------------- joins


def test_snowflake_join_three_hops_and_null_keys_grouped_as_null(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("events", "continent"),
        f"""
        SELECT co.continent AS continent, COUNT(*) AS events FROM {TICKETS} GROUP BY 1""",
    )
    data = warehouse.data.tables
    city_of = {s[0]: s[2] for s in data["d_store"]}
    country_of = {c[0]: c[2] for c in data["d_city"]}
    unknown = sum(
        1
        for e in data["f_ticket_event"]
        if e[3] is None or city_of[e[3]] is None or country_of[city_of[e[3]]] is None
    )
    assert got[got["continent"].isna()]["events"].tolist() == [unknown]
    assert unknown > 0
    assert "Asia" not in set(got["continent"])  # JP has no stores


def test_join_pruning_emits_only_needed_joins(warehouse: Warehouse) -> None:
    def joins(query: MetricQuery) -> list[str]:
        text = sql_text(compile_for(warehouse, query), warehouse.dialect)
        return [
            t
            for t in ("d_calendar", "d_store", "d_city", "d_country", "d_agent")
            if f"JOIN {t} " in text
        ]

    assert joins(q("events", "channel")) == []
    assert joins(q("events", "team")) == ["d_agent"]
    assert joins(q("events", "country")) == ["d_store", "d_city", "d_country"]
    assert joins(q("events", "city", Filter("period", ">=", "2026-01-01"))) == [
        "d_calendar",
        "d_store",
        "d_city",
    ]
    assert joins(q("shifts", "period:month")) == []  # the fact's own time column
    scoped = sql_text(
        compile_for(warehouse, q("events", "channel"), scope=(("team", ("Tier 1",)),)),
        warehouse.dialect,
    )
    assert "JOIN d_agent " in scoped and "d_store" not in scoped


def test_null_foreign_keys_are_kept_and_grouped_as_null(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("events", "agent,store"),
        f"""
        SELECT a.agent_name AS agent, s.store_label AS store, COUNT(*) AS events
        FROM {TICKETS} GROUP BY 1, 2""",
    )
    events = warehouse.data.tables["f_ticket_event"]
    assert got["events"].sum() == len(events)
    no_agent = got[got["agent"].isna()]["events"].sum()
    assert no_agent == sum(1 for e in events if e[4] is None) > 0


# --------------------------------------------------------------------------- scope


def test_row_scope_equals_hand_filtered_sql(warehouse: Warehouse) -> None:
    scope = (("country", ("Germany", "France")), ("team", ("Tier 1", "Tier 2")))
    compiled = compile_for(warehouse, q("events,handle_minutes", "store"), scope=scope)
    assert compiled.denied_facts == ()
    check(
        warehouse,
        q("events,handle_minutes", "store"),
        f"""
        SELECT s.store_label AS store, COUNT(*) AS events, SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS}
        WHERE co.country_label IN ('Germany', 'France') AND a.team IN ('Tier 1', 'Tier 2')
        GROUP BY 1""",
        scope=scope,
    )


def test_scope_unreachable_from_a_fact_denies_it(warehouse: Warehouse) -> None:
    scope = (("team", ("Tier 1",)),)  # staffing has no agents
    compiled = compile_for(warehouse, q("shifts", "store"), scope=scope)
    assert compiled.denied_facts == ("f_staffing",)
    assert warehouse.frame(compiled.statement).empty
    got = check(
        warehouse,
        q("handle_minutes,staffed_hours", "city"),
        f"""
        SELECT ci.city_label AS city, SUM(e.minutes_spent) AS handle_minutes,
               CAST(NULL AS DOUBLE PRECISION) AS staffed_hours
        FROM {TICKETS} WHERE a.team = 'Tier 1' GROUP BY 1""",
        scope=scope,
    )
    assert got["staffed_hours"].isna().all() and got["handle_minutes"].notna().any()


def test_unknown_scope_dimension_or_unmatchable_values_yield_nothing(warehouse: Warehouse) -> None:
    compiled = compile_for(warehouse, q("events", "channel"), scope=(("region", ("EMEA",)),))
    assert compiled.denied_facts == ("f_ticket_event",)
    assert warehouse.frame(compiled.statement).empty
    compiled = compile_for(warehouse, q("events", "channel"), scope=(("floors", ("abc",)),))
    assert compiled.denied_facts == () and warehouse.frame(compiled.statement).empty


# --------------------------------------------------------------------------- rollups


def routed_equals_base(
    wh: Warehouse, query: MetricQuery, rollup: str | None, **options: object
) -> None:
    """The query reads ``rollup`` (or no rollup) and returns what the base tables return."""
    base = compile_for(wh, query, **options)
    routed = compile_for(wh, query, use_rollups=True, **options)
    assert base.rollup is None and routed.rollup == rollup
    text = sql_text(routed, wh.dialect)
    if rollup:
        assert f"FROM {rollup}" in text and "f_ticket_event" not in text
    assert_frame_equal(
        sort_rows(wh.frame(routed.statement)),
        sort_rows(wh.frame(base.statement)),
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
    )


def test_rollup_routing_gives_the_same_results(warehouse: Warehouse) -> None:
    routed_equals_base(
        warehouse,
        q(
            "events,handle_minutes,resolve_share",
            "country,period:month",
            Filter("channel", "in", ("chat", "email")),
            Filter("period", "between", ("2025-11-03", "2026-02-11")),
        ),
        "r_daily_support",
    )
    routed_equals_base(
        warehouse, q("long_events", "team"), "r_daily_support", scope=(("country", ("Germany",)),)
    )
    routed_equals_base(
        warehouse, q("staffed_hours,shifts", "city,period:quarter"), "r_monthly_staffing"
    )
    routed_equals_base(
        warehouse,
        q("staffed_hours", "store", Filter("period:month", ">=", "2026-01-01")),
        "r_monthly_staffing",
    )


@pytest.mark.parametrize(
    ("query", "options"),
    [
        (q("tickets_opened", "country"), {}),  # count distinct
        (q("events", "store"), {}),  # not in the rollup
        (q("events", "country"), {"available_rollups": frozenset()}),  # not built
        (q("events", "country"), {"scope": (("store", ("Pop-up",)),)}),  # scope not in it
        (q("shifts", "period:week"), {}),  # weeks ⊄ months
        (q("shifts", "", Filter("period", "<", "2026-01-15")), {}),  # day filter, month grain
    ],
)
def test_queries_that_do_not_fit_a_rollup_read_the_facts(
    warehouse: Warehouse, query: MetricQuery, options
) -> None:
    routed_equals_base(warehouse, query, None, **options)


@pytest.mark.parametrize(
    ("query", "routes"),
    [
        (  # each fact's branch reads its own rollup
            q("events,shifts", "period:month"),
            (("f_ticket_event", "r_monthly_distinct"), ("f_staffing", "r_monthly_staffing")),
        ),
        (  # a ratio across facts
            q("utilisation,shifts", "period:quarter"),
            (("f_ticket_event", "r_effort_monthly"), ("f_staffing", "r_monthly_staffing")),
        ),
        (  # a filtered metric: its branch keeps only the groups with a matching row
            q("resolutions,shifts", "period:month"),
            (("f_ticket_event", "r_daily_support"), ("f_staffing", "r_monthly_staffing")),
        ),
        (  # weeks do not nest in months: the staffing branch reads its fact
            q("events,shifts", "period:week"),
            (("f_ticket_event", "r_daily_support"),),
        ),
        (  # HAVING on the outer select, over branches read from rollups
            q("events,staffed_hours", "period:month", having=(Having("events", ">", 350),)),
            (("f_ticket_event", "r_monthly_distinct"), ("f_staffing", "r_monthly_staffing")),
        ),
    ],
)
def test_a_drill_across_routes_each_fact_to_its_own_rollup(
    warehouse: Warehouse, query: MetricQuery, routes: tuple[tuple[str, str], ...]
) -> None:
    base = compile_for(warehouse, query)
    routed = compile_for(warehouse, query, use_rollups=True)
    assert base.routes == () and routed.routes == routes
    assert routed.rollup == ", ".join(r for _, r in routes)
    text = sql_text(routed, warehouse.dialect)
    for fact, rollup in routes:
        assert f"FROM {rollup}" in text and f"FROM {fact}" not in text
    if "resolutions" in query.metrics:  # a group exists only where a row matched the filter
        assert "HAVING sum(r_daily_support.resolutions) >" in text
    got, want = warehouse.frame(routed.statement), warehouse.frame(base.statement)
    assert len(want) > 1
    if query.having:  # the condition keeps some groups, not all
        assert len(want) < len(
            warehouse.frame(compile_for(warehouse, q("events", "period:month")).statement)
        )
    assert_frame_equal(
        sort_rows(got), sort_rows(want), check_dtype=False, check_exact=False, rtol=1e-9
    )


def test_rollup_tables_hold_the_fact_totals(warehouse: Warehouse) -> None:
    total = warehouse.scalar("SELECT SUM(events) FROM r_daily_support")
    assert float(total) == len(warehouse.data.tables["f_ticket_event"])
    assert float(warehouse.scalar("SELECT SUM(shifts) FROM r_monthly_staffing")) == len(
        warehouse.data.tables["f_staffing"]
    )
    months = warehouse.scalar("SELECT COUNT(DISTINCT period) FROM r_monthly_staffing")
    assert months == 6


# --------------------------------------------------------------------------- order, limit


def test_order_by_metric_desc_then_dimensions_and_limit(warehouse: Warehouse) -> None:
    query = q("events,handle_minutes", "store,channel", order_by=("-events", "channel"), limit=7)
    check(
        warehouse,
        query,
        f"""
        SELECT s.store_label AS store, e.channel AS channel, COUNT(*) AS events,
               SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} GROUP BY 1, 2
        ORDER BY events DESC, channel ASC, store ASC NULLS LAST LIMIT 7""",
        ordered=True,
    )


def test_nulls_sort_last_both_ways(warehouse: Warehouse) -> None:
    for order in ("-minutes_per_staffed_hour", "minutes_per_staffed_hour"):
        got = warehouse.frame(
            compile_for(
                warehouse, q("minutes_per_staffed_hour", "store", order_by=(order,))
            ).statement
        )
        values = list(got["minutes_per_staffed_hour"])
        nulls = [pd.isna(v) for v in values]
        assert nulls == sorted(nulls) and any(nulls)  # all NULLs at the end
        present = [v for v in values if not pd.isna(v)]
        assert present == sorted(present, reverse=order.startswith("-"))


def test_without_order_by_rows_follow_the_dimensions(warehouse: Warehouse) -> None:
    got = warehouse.frame(compile_for(warehouse, q("events", "team,channel")).statement)
    keys = [(t is None, t or "", c) for t, c in zip(got["team"], got["channel"], strict=True)]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- safety


def test_injection_strings_stay_literal_values(warehouse: Warehouse) -> None:
    for query, scope in [
        (q("events", "store", Filter("store", "=", INJECTION)), ()),
        (q("events", "store", Filter("store", "in", (INJECTION, "y' OR '1'='1"))), ()),
        (q("events", "store"), (("store", (INJECTION,)),)),
    ]:
        compiled = compile_for(warehouse, query, scope=scope)
        assert INJECTION not in sql_text(compiled, warehouse.dialect)
        assert INJECTION in sql_params(compiled, warehouse.dialect).values()
        assert warehouse.frame(compiled.statement).empty
    assert warehouse.scalar("SELECT COUNT(*) FROM d_store") == 10


def test_cli_text_compiles_with_quotes_commas_and_coercion(warehouse: Warehouse) -> None:
    quoted = TRICKY_STORE.replace("'", "''")
    query = parse_cli(
        metrics="events,shifts",
        by="store",
        where=[
            f"store in ('{quoted}', Pop-up, {INJECTION})",
            "floors <= 2",
            "period between 2025-12-01 and 2025-12-31",
        ],
        order="-events",
    )
    check(
        warehouse,
        query,
        f"""
        WITH t AS (SELECT s.store_label AS store, COUNT(*) AS events FROM {TICKETS}
                   WHERE s.store_label IN ('{quoted}', 'Pop-up') AND s.floors <= 2
                     AND c.cal_date BETWEEN DATE '2025-12-01' AND DATE '2025-12-31'
                   GROUP BY 1),
             f AS (SELECT s.store_label AS store, COUNT(*) AS shifts FROM {STAFFING}
                   WHERE s.store_label IN ('{quoted}', 'Pop-up') AND s.floors <= 2
                     AND CAST(f.shift_start AS DATE) BETWEEN DATE '2025-12-01'
                                                         AND DATE '2025-12-31'
                   GROUP BY 1)
        SELECT COALESCE(t.store, f.store) AS store, t.events, f.shifts
        FROM t FULL OUTER JOIN f ON t.store = f.store
        ORDER BY t.events DESC NULLS LAST, 1""",
        ordered=True,
    )


def test_backends_agree(request: pytest.FixtureRequest) -> None:
    duck = request.getfixturevalue("duckdb_warehouse")
    pg = request.getfixturevalue("postgres_warehouse")
    for query in (
        q("events,avg_csat,minutes_per_resolution", "country,period:week"),
        q("handle_minutes,staffed_hours,utilisation", "city,period:month"),
        q("resolve_share", "flagship", Filter("period", "<=", "2025-12-31")),
    ):
        frames = [sort_rows(wh.frame(compile_for(wh, query).statement)) for wh in (duck, pg)]
        assert_frame_equal(*frames, check_dtype=False, check_exact=False, rtol=1e-9)


# --------------------------------------------------------------------------- errors

ERRORS = [
    (q("evnets"), "unknown metric 'evnets' (did you mean 'events'?)"),
    (q("events", "contry"), "unknown dimension 'contry' (did you mean 'country'?)"),
    (q("events", "period:fortnight"), "unknown grain 'fortnight'"),
    (q("events", "store:month"), "'store' is not the time dimension and takes no grain"),
    (q("events", "", Filter("store", "like", "B%")), "unknown operator 'like'"),
    (q("events", "", Filter("floors", "=", "abc")), "'abc' is not an integer"),
    (q("events", "", Filter("period", "=", "2026-02-30")), "'2026-02-30' is not a date"),
    (q("events", "", Filter("store_opened", ">", "yesterday")), "is not a date"),
    (q("events", "", Filter("flagship", "=", "maybe")), "'maybe' is not a boolean"),
    (q("events", "", Filter("store", "in", "Berlin Mitte")), "in needs a list of values"),
    (
        q("events", "", Filter("period", "between", ("2026-01-01",))),
        "between needs exactly 2 values, got 1",
    ),
    (
        q("events", "", Filter("period", "between", ("2026-02-01", "2026-01-01"))),
        "between bounds are reversed",
    ),
    (q("events", "", Filter("store", "=", ("a", "b"))), "needs a single value"),
    (q("events", "", Filter("store", "not_in", ())), "not_in needs at least one value"),
    (q("events", "", Filter("events", ">", 10)), "'events' is a metric, not a dimension"),
    (q("shifts", "team"), "dimension 'team' is not reachable from f_staffing"),
    (q("events,shifts", "channel"), "dimension 'channel' is not reachable from f_staffing"),
    (q("events", "", limit=0), "limit must be a positive integer, got 0"),
    (q("events", "", limit="10"), "limit must be a positive integer, got '10'"),
    (q("events", "", limit=True), "limit must be a positive integer"),
    (q("events", "store", order_by=("-revenue",)), "order_by: 'revenue' is not a metric"),
    (q(""), "a query needs at least one metric"),
    (q("events", "store,store"), "dimension 'store' is asked for twice"),
    (q("store"), "unknown metric 'store' (it is a dimension"),
]


@pytest.mark.parametrize(("query", "message"), ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_bad_queries_raise_query_error_naming_the_problem(query: MetricQuery, message: str) -> None:
    model = support_model()
    kinds = {
        "d_store.floors": "integer",
        "d_store.opened_on": "date",
        "d_store.is_flagship": "boolean",
    }
    with pytest.raises(QueryError) as err:
        compile_query(
            model, query, dialect=sa.create_engine("duckdb://").dialect, column_types=kinds
        )
    assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    query = q("evnets,shifts", "team", Filter("floors", "in", 3), limit=-1)
    with pytest.raises(QueryError) as err:
        compile_query(support_model(), query, dialect=sa.create_engine("duckdb://").dialect)
    text = str(err.value)
    for part in (
        "unknown metric 'evnets'",
        "in needs a list",
        "not reachable from f_staffing",
        "limit must be a positive integer",
    ):
        assert part in text


def test_date_range_and_columns_describe_the_query() -> None:
    query = q(
        "events,resolve_share",
        "period:month,country",
        Filter("period", ">=", "2025-11-03"),
        Filter("period:month", "<=", "2026-01-01"),
        Filter("period", "<", "2026-02-10"),
    )
    compiled = compile_query(support_model(), query, dialect=sa.create_engine("duckdb://").dialect)
    assert compiled.columns == ("period", "country", "events", "resolve_share")
    assert compiled.date_range == (date(2025, 11, 3), date(2026, 1, 31))
    assert compiled.facts == ("f_ticket_event",) and compiled.denied_facts == ()
