"""Medians, percentiles and share of total against hand-written SQL, DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.errors import ModelError
from queries.semantic.compile import rollup_statements, sql_text
from queries.semantic.model import load_model
from queries.semantic.query import Filter
from tests.queries.conftest import Warehouse
from tests.queries.second_schema import MODEL_PATH, support_model
from tests.queries.semantic.test_compile import TICKETS, check, compile_for, q, routed_equals_base

MONTH = "CAST(date_trunc('month', c.cal_date) AS DATE)"
RESOLVED_MINUTES = "CASE WHEN e.event_kind = 'resolved' THEN e.minutes_spent END"


def pct(fraction: float, expr: str, kind: str = "cont", desc: bool = False) -> str:
    """The standard ordered-set form, which both engines accept."""
    return f"percentile_{kind}({fraction}) WITHIN GROUP (ORDER BY {expr}{' DESC' if desc else ''})"


# --------------------------------------------------------------------------- order statistics


def test_median_and_percentiles_by_channel(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("median_minutes,p90_minutes,p25_minutes_desc", "channel"),
        f"""
        SELECT e.channel AS channel,
               {pct(0.5, "e.minutes_spent")} AS median_minutes,
               {pct(0.9, "e.minutes_spent")} AS p90_minutes,
               {pct(0.25, "e.minutes_spent", "disc", desc=True)} AS p25_minutes_desc
        FROM f_ticket_event e GROUP BY e.channel
        """,
    )


def test_percentiles_by_month_with_a_metric_filter_and_a_query_filter(
    warehouse: Warehouse,
) -> None:
    got = check(
        warehouse,
        q(
            "p90_resolve_minutes,median_resolve_minutes,events",
            "period:month",
            Filter("channel", "!=", "phone"),
        ),
        f"""
        SELECT {MONTH} AS period,
               {pct(0.9, RESOLVED_MINUTES)} AS p90_resolve_minutes,
               {pct(0.5, RESOLVED_MINUTES)} AS median_resolve_minutes,
               COUNT(*) AS events
        FROM {TICKETS} WHERE e.channel <> 'phone' GROUP BY {MONTH}
        """,
    )
    assert len(got) == 6 and got["p90_resolve_minutes"].notna().all()


def test_only_filtered_percentiles_push_the_filter_to_where(warehouse: Warehouse) -> None:
    compiled = compile_for(warehouse, q("p90_resolve_minutes,median_resolve_minutes", "store"))
    text = sql_text(compiled, warehouse.dialect)
    assert "CASE" not in text  # the one shared filter went to WHERE
    check(
        warehouse,
        q("p90_resolve_minutes,median_resolve_minutes", "store"),
        f"""
        SELECT s.store_label AS store,
               {pct(0.9, "e.minutes_spent")} AS p90_resolve_minutes,
               {pct(0.5, "e.minutes_spent")} AS median_resolve_minutes
        FROM {TICKETS} WHERE e.event_kind = 'resolved' GROUP BY s.store_label
        """,
    )


def test_each_dialect_gets_sql_it_accepts(warehouse: Warehouse) -> None:
    text = sql_text(compile_for(warehouse, q("median_minutes,p90_minutes")), warehouse.dialect)
    if warehouse.name == "postgresql":
        assert "median(" not in text.lower()
        assert "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY" in text
    else:
        assert "MEDIAN(" in text and "QUANTILE_CONT(f_ticket_event.minutes_spent, 0.9)" in text


def test_a_median_in_drill_across_takes_its_own_branch(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("median_minutes,staffed_hours", "country"),
        f"""
        WITH t AS (SELECT co.country_label AS country, {pct(0.5, "e.minutes_spent")} AS m
                   FROM {TICKETS} GROUP BY co.country_label),
             s AS (SELECT co.country_label AS country, SUM(f.hours) AS h
                   FROM f_staffing f LEFT JOIN d_store s ON f.store_ref = s.store_ref
                   LEFT JOIN d_city ci ON s.city_ref = ci.city_ref
                   LEFT JOIN d_country co ON ci.country_iso = co.iso
                   GROUP BY co.country_label),
             k AS (SELECT country FROM t UNION SELECT country FROM s)
        SELECT k.country, t.m AS median_minutes, s.h AS staffed_hours
        FROM k LEFT JOIN t ON t.country IS NOT DISTINCT FROM k.country
               LEFT JOIN s ON s.country IS NOT DISTINCT FROM k.country
        """,
    )


def test_a_median_never_reads_a_rollup(warehouse: Warehouse) -> None:
    # country and channel are in r_daily_support; the median must still read the facts
    routed_equals_base(warehouse, q("median_minutes,events", "country,period:month"), None)
    routed_equals_base(warehouse, q("p90_minutes", "channel"), None)


def test_median_is_not_additive() -> None:
    model = support_model()
    for name in ("median_minutes", "p90_minutes", "p90_resolve_minutes", "p25_minutes_desc"):
        assert not model.metrics[name].additive
    assert model.metrics["events"].additive and model.metrics["long_events"].additive
    assert not model.metrics["tickets_opened"].additive


def _load_with(tmp_path: Path, old: str, new: str) -> ModelError:
    text = MODEL_PATH.read_text()
    assert old in text
    path = tmp_path / "support.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ModelError) as caught:
        load_model(path)
    return caught.value


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("percentile_cont(1.5) within group (order by minutes_spent)", "1.5 is not between"),
        ("percentile_disc(-0.1) within group (order by minutes_spent)", "not between 0 and 1"),
        ("percentile_cont(satisfaction) within group (order by minutes_spent)", "a number from 0"),
        ("quantile_cont(minutes_spent, 2)", "2 is not between 0 and 1"),
        ("quantile_disc(minutes_spent)", "takes two arguments"),
        ("percentile_cont(minutes_spent, 0.5)", "WITHIN GROUP (ORDER BY column)"),
        ("median(distinct minutes_spent)", "no DISTINCT"),
    ],
)
def test_a_bad_percentile_is_a_load_error_with_file_line_key(
    tmp_path: Path, sql: str, message: str
) -> None:
    err = _load_with(
        tmp_path,
        'p90_minutes: {fact: f_ticket_event, sql: "percentile_cont(0.9) within group '
        '(order by minutes_spent)"}',
        f'p90_minutes: {{fact: f_ticket_event, sql: "{sql}"}}',
    )
    line = _line_of(tmp_path / "support.yaml", "p90_minutes:")
    text = str(err)
    assert f"support.yaml:{line}: metrics.p90_minutes.sql" in text, text
    assert message in text, text


def test_a_rollup_may_store_a_median_read_only_where_groups_are_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "support.yaml"
    path.write_text(
        MODEL_PATH.read_text().replace(
            "metrics: [events, handle_minutes, resolutions, long_events]",
            "metrics: [events, handle_minutes, resolutions, long_events, median_minutes]",
        )
    )
    model = load_model(path)
    assert "median_minutes" in model.rollups["r_daily_support"].metrics
    names = [name for name, _ in rollup_statements(model, sa.create_engine("duckdb://").dialect)]
    assert "r_daily_support" in names


# --------------------------------------------------------------------------- share of total

MINUTES_BY_MONTH_AND_CHANNEL = f"""
    SELECT {MONTH} AS period, e.channel AS channel, SUM(e.minutes_spent) AS m
    FROM {TICKETS} {{where}} GROUP BY {MONTH}, e.channel"""


def test_share_by_channel_per_month(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("minutes_share,handle_minutes", "period:month,channel"),
        f"""
        WITH g AS ({MINUTES_BY_MONTH_AND_CHANNEL.format(where="")}),
             t AS (SELECT period, SUM(m) AS total FROM g GROUP BY period)
        SELECT g.period, g.channel, CAST(g.m AS DOUBLE PRECISION) / t.total AS minutes_share,
               g.m AS handle_minutes
        FROM g JOIN t ON t.period = g.period
        """,
    )
    assert got.groupby("period")["minutes_share"].sum().round(9).eq(1).all()


def test_share_is_of_the_filtered_total(warehouse: Warehouse) -> None:
    where = "WHERE e.channel IN ('chat', 'email')"
    got = check(
        warehouse,
        q("minutes_share", "period:month,channel", Filter("channel", "in", ("chat", "email"))),
        f"""
        WITH g AS ({MINUTES_BY_MONTH_AND_CHANNEL.format(where=where)})
        SELECT period, channel,
               CAST(m AS DOUBLE PRECISION) / SUM(m) OVER (PARTITION BY period) AS minutes_share
        FROM g
        """,
    )
    assert set(got["channel"]) == {"chat", "email"}
    assert got.groupby("period")["minutes_share"].sum().round(9).eq(1).all()


def test_share_is_computed_before_the_limit(warehouse: Warehouse) -> None:
    query = q("minutes_share", "store", order_by=("-minutes_share",), limit=3)
    got = check(
        warehouse,
        query,
        f"""
        WITH g AS (SELECT s.store_label AS store, SUM(e.minutes_spent) AS m
                   FROM {TICKETS} GROUP BY s.store_label)
        SELECT store, CAST(m AS DOUBLE PRECISION) / (SELECT SUM(m) FROM g) AS minutes_share
        FROM g ORDER BY minutes_share DESC, store LIMIT 3
        """,
        ordered=True,
    )
    assert len(got) == 3 and got["minutes_share"].sum() < 0.999


def test_share_within_a_dimension_and_without_it(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("events_share_in_country", "country,city"),
        f"""
        WITH g AS (SELECT co.country_label AS country, ci.city_label AS city, COUNT(*) AS n
                   FROM {TICKETS} GROUP BY co.country_label, ci.city_label)
        SELECT country, city,
               CAST(n AS DOUBLE PRECISION) / SUM(n) OVER (PARTITION BY country)
                 AS events_share_in_country
        FROM g
        """,
    )
    by_country = got.groupby("country", dropna=False)["events_share_in_country"].sum()
    assert by_country.round(9).eq(1).all() and len(by_country) > 1
    # `within` a dimension the query does not group by: the share of the whole total
    check(
        warehouse,
        q("events_share_in_country", "city"),
        f"""
        WITH g AS (SELECT ci.city_label AS city, COUNT(*) AS n FROM {TICKETS}
                   GROUP BY ci.city_label)
        SELECT city, CAST(n AS DOUBLE PRECISION) / SUM(n) OVER () AS events_share_in_country
        FROM g
        """,
    )


def test_share_in_drill_across(warehouse: Warehouse) -> None:
    staffing = """f_staffing f LEFT JOIN d_store s ON f.store_ref = s.store_ref
                  LEFT JOIN d_city ci ON s.city_ref = ci.city_ref
                  LEFT JOIN d_country co ON ci.country_iso = co.iso"""
    check(
        warehouse,
        q("workload_share,minutes_share,staffed_hours", "country"),
        f"""
        WITH t AS (SELECT co.country_label AS country, SUM(e.minutes_spent) AS m
                   FROM {TICKETS} GROUP BY co.country_label),
             s AS (SELECT co.country_label AS country, SUM(f.hours) AS h
                   FROM {staffing} GROUP BY co.country_label),
             k AS (SELECT country FROM t UNION SELECT country FROM s),
             j AS (SELECT k.country, t.m, s.h, t.m + s.h * 60 AS w
                   FROM k LEFT JOIN t ON t.country IS NOT DISTINCT FROM k.country
                          LEFT JOIN s ON s.country IS NOT DISTINCT FROM k.country)
        SELECT country,
               CAST(w AS DOUBLE PRECISION) / (SELECT SUM(w) FROM j) AS workload_share,
               CAST(m AS DOUBLE PRECISION) / (SELECT SUM(m) FROM j) AS minutes_share,
               h AS staffed_hours
        FROM j
        """,
    )


def test_share_within_the_row_scope(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("minutes_share", "channel"),
        f"""
        WITH g AS (SELECT e.channel AS channel, SUM(e.minutes_spent) AS m FROM {TICKETS}
                   WHERE co.country_label IN ('Germany') GROUP BY e.channel)
        SELECT channel, CAST(m AS DOUBLE PRECISION) / SUM(m) OVER () AS minutes_share FROM g
        """,
        scope=(("country", ("Germany",)),),
    )
    assert round(got["minutes_share"].sum(), 9) == 1


def test_share_gives_the_same_answer_with_and_without_rollups(warehouse: Warehouse) -> None:
    routed_equals_base(
        warehouse,
        q(
            "minutes_share,events_share_in_country,events",
            "country,period:month",
            Filter("channel", "in", ("chat", "email")),
        ),
        "r_daily_support",
    )
    routed_equals_base(
        warehouse,
        q("minutes_share", "channel", order_by=("-minutes_share",), limit=2),
        "r_daily_support",
    )


def test_a_share_is_a_percent_and_reads_its_base() -> None:
    model = support_model()
    share = model.metrics["minutes_share"]
    assert share.format == "percent" and share.kind == "share" and not share.additive
    assert model.metrics["events_share_in_country"].within == ("country",)


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ("{metric: tickets_opened}", "share.metric", "does not add up across groups"),
        ("{metric: median_minutes}", "share.metric", "does not add up across groups"),
        ("{metric: minutes_per_resolution}", "share.metric", "is a ratio"),
        ("{metric: net_minutes}", "share.metric", "not a sum or difference"),
        ("{metric: events_share_in_country}", "share.metric", "is a share"),
        ("{metric: evnts}", "share.metric", "unknown metric 'evnts'; did you mean 'events'"),
        ("{metric: events, within: [contry]}", "share.within.0", "unknown dimension 'contry'"),
        ("{metric: events, within: [period]}", "share.within.0", "is the time dimension"),
        ("{metric: events, over: [period]}", "share.over", "unknown key 'over'"),
        ("{within: [country]}", "share", "missing required key 'metric'"),
        ("events", "share", "expected a mapping"),
    ],
)
def test_a_bad_share_is_a_load_error_with_file_line_key(
    tmp_path: Path, body: str, key: str, message: str
) -> None:
    err = _load_with(
        tmp_path,
        "minutes_share: {share: {metric: handle_minutes}}",
        f"minutes_share:\n    share: {body}",
    )
    line = _line_of(tmp_path / "support.yaml", "share: " + body)
    text = str(err)
    assert f"support.yaml:{line}: metrics.minutes_share.{key}" in text, text
    assert message in text, text


# --------------------------------------------------------------------------- no re-aggregation


def test_a_breakdown_gives_shares_of_sums_only(warehouse: Warehouse) -> None:
    """A Tier 1 breakdown's share column divides by the queried total: for a sum that is a
    share, for a median it would mean nothing, so there is none."""
    from queries.boards.tier1 import breakdown_frame

    model = warehouse.model
    by_channel = wh_frame(warehouse, q("handle_minutes,median_minutes", "channel"))
    total = wh_frame(warehouse, q("handle_minutes,median_minutes"))
    metrics = (model.metrics["handle_minutes"], model.metrics["median_minutes"])
    frame = breakdown_frame(by_channel, None, total, metrics, "channel")
    assert "median_minutes__share" not in frame.columns
    assert round(frame["handle_minutes__share"].sum(), 9) == 1
    # the total row of a median is its own query, not a sum or mean of the channels' medians
    overall = warehouse.scalar(f"SELECT {pct(0.5, 'minutes_spent')} FROM f_ticket_event")
    assert total["median_minutes"].iloc[0] == pytest.approx(float(overall))
    assert total["median_minutes"].iloc[0] < by_channel["median_minutes"].sum()


def wh_frame(wh: Warehouse, query):  # type: ignore[no-untyped-def]
    return wh.frame(compile_for(wh, query).statement)
