"""Time-aware metrics (window, to_date, cumulative, offset, over_time) against hand-written
SQL on the support schema, DuckDB and PostgreSQL.

The oracle computes each output period's window in Python from the rows (which periods
have data, their last day, the window's first day), and hand-written SQL aggregates the
fact rows in those windows, joined to a VALUES list of them. Semi-additive measures are
checked against SQL written with correlated subqueries.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from pandas.testing import assert_frame_equal

from app.core.errors import ModelError, QueryError
from queries.semantic.compile import compile_query, sql_text
from queries.semantic.model import load_model
from queries.semantic.periods import window_containing
from queries.semantic.query import Filter
from queries.semantic.types import Metric, TimeOp
from tests.queries.conftest import Warehouse
from tests.queries.second_schema import MODEL_PATH, support_model
from tests.queries.semantic.test_compile import STAFFING, TICKETS, check, compile_for, q

DAY = timedelta(days=1)
EARLY = date(1900, 1, 1)
OPENED = "CASE WHEN e.event_kind = 'opened' THEN e.ticket_id END"
RESOLVED = "CASE WHEN e.event_kind = 'resolved' THEN 1 END"
BACKLOG = """f_backlog b
  LEFT JOIN d_store s ON b.store_ref = s.store_ref
  LEFT JOIN d_city ci ON s.city_ref = ci.city_ref
  LEFT JOIN d_country co ON ci.country_iso = co.iso"""
TRICKY = "Smith's, Main St"  # store 106
DEC_TO_FEB = Filter("period", "between", ("2025-12-01", "2026-02-10"))


def _ticket_days(wh: Warehouse) -> list[date]:
    keys = {row[2] for row in wh.data.tables["f_ticket_event"]}
    return sorted(date(k // 10000, k // 100 % 100, k % 100) for k in keys)


def output_periods(
    days: list[date], grain: str | None, low: date | None, high: date | None
) -> list[tuple[date | None, date, date]]:
    """(period, first day, last day) of each output period, as the README defines them."""
    latest = max(days)
    if grain is None:
        return [(None, low or min(days), min(high, latest) if high else latest)]
    out = []
    keys = {
        window_containing(grain, d).start
        for d in days
        if (low is None or d >= low) and (high is None or d <= high)
    }
    for p in sorted(keys):
        period = window_containing(grain, p)
        first = max(p, low) if low else p
        last = min(period.end - DAY, high or latest, latest)
        out.append((p, first, last))
    return out


def windows(days, grain, low, high, op: TimeOp) -> list[tuple[date | None, date, date]]:
    """(period, first day read, last day read) of each output period's window."""
    out = []
    for p, first, last in output_periods(days, grain, low, high):
        if op.op == "window":
            out.append((p, last - timedelta(days=op.days - 1), last))
        elif op.op == "to_date":
            out.append((p, window_containing(op.period, last).start, last))
        elif op.op == "cumulative":
            out.append((p, EARLY, last))
        else:
            by = op.by if op.by != "period" else grain
            if by is None:
                n = (last - first).days + 1
                out.append((p, first - timedelta(days=n), first - DAY))
            else:
                step = {
                    "day": timedelta(days=1),
                    "week": timedelta(days=7),
                    "month": relativedelta(months=1),
                    "quarter": relativedelta(months=3),
                    "year": relativedelta(years=1),
                }[by]
                out.append((p, first - step, last + DAY - step - DAY))
    return out


def values_sql(rows: list[tuple[date | None, date, date]]) -> str:
    """The windows as ``(VALUES …) AS w(p, ws, we)`` (a BAN: no p column)."""
    if rows[0][0] is None:
        body = ", ".join(f"(DATE '{a}', DATE '{b}')" for _, a, b in rows)
        return f"(VALUES {body}) AS w(ws, we)"
    body = ", ".join(f"(DATE '{p}', DATE '{a}', DATE '{b}')" for p, a, b in rows)
    return f"(VALUES {body}) AS w(p, ws, we)"


def windowed_sql(
    rows, aggregate: str, name: str, dims: list[tuple[str, str]], where: str = "", day="c.cal_date"
) -> str:
    """Hand SQL: the ticket rows in each window, aggregated per period and dimensions (a
    grouped query keeps only the rows of a filtered metric: ``where``, as for plain metrics)."""
    ban = rows[0][0] is None
    keys = ([] if ban else ["w.p"]) + [sql for sql, _ in dims]
    where = where if keys else ""
    select = ([] if ban else ["w.p AS period"]) + [f"{sql} AS {label}" for sql, label in dims]
    group = f"GROUP BY {', '.join(keys)}" if keys else ""
    return f"""
        SELECT {", ".join([*select, f"{aggregate} AS {name}"])}
        FROM {TICKETS} JOIN {values_sql(rows)} ON {day} >= w.ws AND {day} <= w.we
        {f"WHERE {where}" if where else ""} {group}"""


IS_OPENED = "e.event_kind = 'opened'"
CASES = [  # metric, its aggregate in hand SQL, the metric's filter
    ("events_7d", "COUNT(*)", ""),
    ("openers_28d", f"COUNT(DISTINCT {OPENED})", IS_OPENED),
    ("resolutions_28d", f"COUNT({RESOLVED})", "e.event_kind = 'resolved'"),
    ("events_mtd", "COUNT(*)", ""),
    ("events_qtd", "COUNT(*)", ""),
    ("events_running", "COUNT(*)", ""),
    ("openers_running", f"COUNT(DISTINCT {OPENED})", IS_OPENED),
    ("events_prev", "COUNT(*)", ""),
    ("events_prev_month", "COUNT(*)", ""),
]
SHAPES = [  # grain (None: a BAN), non-time dimensions, filters
    ("day", [], ()),
    ("month", [], ()),
    ("month", [("e.channel", "channel")], ()),
    ("day", [("co.country_label", "country")], (DEC_TO_FEB,)),
    ("week", [], (DEC_TO_FEB,)),
    (None, [], ()),
    (None, [], (DEC_TO_FEB,)),
    (None, [("e.channel", "channel")], (DEC_TO_FEB,)),
    ("day", [], (Filter("period:month", "=", "2026-01-01"),)),  # a filter at a grain
    (None, [], (Filter("period", ">=", "2026-03-10"),)),
]
BOUNDS = {  # each filter's first and last day
    DEC_TO_FEB: (date(2025, 12, 1), date(2026, 2, 10)),
    Filter("period:month", "=", "2026-01-01"): (date(2026, 1, 1), date(2026, 1, 31)),
    Filter("period", ">=", "2026-03-10"): (date(2026, 3, 10), None),
}


@pytest.mark.parametrize(("metric", "aggregate", "where"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(("grain", "dims", "filters"), SHAPES, ids=range(len(SHAPES)))
def test_time_metrics_match_hand_windows(
    warehouse: Warehouse, metric: str, aggregate: str, where: str, grain, dims, filters
) -> None:
    op = warehouse.model.metrics[metric].time_op
    assert op is not None
    low, high = BOUNDS[filters[0]] if filters else (None, None)
    rows = windows(_ticket_days(warehouse), grain, low, high, op)
    by = ([f"period:{grain}"] if grain else []) + [label for _, label in dims]
    got = check(
        warehouse,
        q(metric, ",".join(by), *filters),
        windowed_sql(rows, aggregate, metric, dims, where),
    )
    assert len(got) > 0


def test_a_window_of_a_ratio_windows_each_side(warehouse: Warehouse) -> None:
    rows = windows(_ticket_days(warehouse), "month", None, None, TimeOp("window", "x", days=28))
    check(
        warehouse,
        q("minutes_per_resolution_28d", "period:month,channel"),
        windowed_sql(
            rows,
            f"CAST(SUM(e.minutes_spent) AS DOUBLE PRECISION) / NULLIF(COUNT({RESOLVED}), 0)",
            "minutes_per_resolution_28d",
            [("e.channel", "channel")],
        ),
    )


def test_window_rows_take_the_non_time_filters_and_the_scope(warehouse: Warehouse) -> None:
    rows = windows(_ticket_days(warehouse), "month", None, None, TimeOp("window", "x", days=7))
    check(
        warehouse,
        q("events_7d", "period:month,channel", Filter("channel", "in", ("chat", "phone"))),
        windowed_sql(
            rows,
            "COUNT(*)",
            "events_7d",
            [("e.channel", "channel")],
            "e.channel IN ('chat', 'phone') AND co.country_label = 'Germany'",
        ),
        scope=(("country", ("Germany",)),),
    )


def test_period_over_period_change_as_an_expr(warehouse: Warehouse) -> None:
    rows = windows(_ticket_days(warehouse), "month", None, None, TimeOp("offset", "x", by="period"))
    check(
        warehouse,
        q("events,events_prev,events_change", "period:month"),
        f"""
        WITH cur AS (
          SELECT CAST(date_trunc('month', c.cal_date) AS DATE) AS period, COUNT(*) AS events
          FROM {TICKETS} GROUP BY 1),
        prev AS ({windowed_sql(rows, "COUNT(*)", "events_prev", [])})
        SELECT cur.period, cur.events, prev.events_prev,
               (cur.events - prev.events_prev)
                 / CAST(NULLIF(prev.events_prev, 0) AS DOUBLE PRECISION) AS events_change
        FROM cur LEFT JOIN prev ON prev.period = cur.period""",
    )


def _backlog_days(wh: Warehouse) -> list[date]:
    return sorted({row[2] for row in wh.data.tables["f_backlog"]})


@pytest.mark.parametrize("grain", ["month", "quarter", None])
def test_offset_by_year_and_year_over_year(warehouse: Warehouse, grain: str | None) -> None:
    rows = windows(_backlog_days(warehouse), grain, None, None, TimeOp("offset", "x", by="year"))
    ban = grain is None
    key = "" if ban else f"CAST(date_trunc('{grain}', b.snapshot_day) AS DATE)"
    last_year = f"""
        SELECT {"" if ban else "w.p AS period, "}SUM(b.open_tickets) AS ly
        FROM f_backlog b JOIN {values_sql(rows)}
          ON b.snapshot_day >= w.ws AND b.snapshot_day <= w.we
        {"" if ban else "GROUP BY w.p"}"""
    if ban:
        expected = f"""
            SELECT cur.s AS backlog_sum, ly.ly AS backlog_sum_last_year,
                   (cur.s - ly.ly) / CAST(NULLIF(ly.ly, 0) AS DOUBLE PRECISION) AS backlog_sum_yoy
            FROM (SELECT SUM(open_tickets) AS s FROM f_backlog) cur, ({last_year}) ly"""
    else:
        expected = f"""
            WITH cur AS (SELECT {key} AS period, SUM(b.open_tickets) AS s FROM f_backlog b
                         GROUP BY 1),
                 ly AS ({last_year})
            SELECT cur.period, cur.s AS backlog_sum, ly.ly AS backlog_sum_last_year,
                   (cur.s - ly.ly) / CAST(NULLIF(ly.ly, 0) AS DOUBLE PRECISION) AS backlog_sum_yoy
            FROM cur LEFT JOIN ly ON ly.period = cur.period"""
    got = check(
        warehouse,
        q("backlog_sum,backlog_sum_last_year,backlog_sum_yoy", "" if ban else f"period:{grain}"),
        expected,
    )
    assert got["backlog_sum_last_year"].notna().sum() >= (1 if ban else 2)


def test_offset_on_a_timestamp_time_column(warehouse: Warehouse) -> None:
    """f_staffing's time is a TIMESTAMP: rows are compared by their day."""
    metrics = dict(warehouse.model.metrics)
    metrics["shifts_7d"] = Metric(
        "shifts_7d", "Shifts 7d", "time", time_op=TimeOp("window", "shifts", days=7)
    )
    model = dataclasses.replace(warehouse.model, metrics=metrics)
    days = sorted({row[2].date() for row in warehouse.data.tables["f_staffing"]})
    rows = windows(days, "month", None, None, TimeOp("window", "shifts", days=7))
    compiled = compile_query(
        model,
        q("shifts_7d", "period:month,store"),
        dialect=warehouse.dialect,
        column_types=warehouse.kinds,
    )
    got = warehouse.frame(compiled.statement)
    want = warehouse.frame(
        f"""SELECT w.p AS period, s.store_label AS store, COUNT(*) AS shifts_7d
        FROM {STAFFING} JOIN {values_sql(rows)}
          ON CAST(f.shift_start AS DATE) >= w.ws AND CAST(f.shift_start AS DATE) <= w.we
        GROUP BY w.p, s.store_label ORDER BY 1, 2"""
    )
    assert got.to_dict("records") == want.to_dict("records")


# --------------------------------------------------------------------------- semi-additive


def _mark(grain: str | None, pick: str, where: str = "") -> str:
    """Hand SQL: b's day is the first/last day with data (matching ``where``) of its period."""
    same = (
        ""
        if grain is None
        else f" AND date_trunc('{grain}', b2.snapshot_day) = date_trunc('{grain}', b.snapshot_day)"
    )
    inner = where.replace("b.", "b2.").replace("s.", "s2.")
    return f"""b.snapshot_day = (
        SELECT {pick}(b2.snapshot_day) FROM f_backlog b2
        LEFT JOIN d_store s2 ON b2.store_ref = s2.store_ref
        WHERE TRUE{same}{f" AND {inner}" if inner else ""})"""


BAN_DEC_FEB = "b.snapshot_day BETWEEN DATE '2025-12-01' AND DATE '2026-02-10'"
SEMI_SHAPES = [  # grain, dimensions, hand WHERE, the query's filters
    ("day", [], "", ()),
    ("month", [], "", ()),
    ("month", [("s.store_label", "store")], "", ()),
    (
        "quarter",
        [("s.store_label", "store")],
        "s.store_label <> 'Munich Central'",
        (Filter("store", "!=", "Munich Central"),),
    ),
    # 106 stops on 20 March: its March value is the 19th's
    ("month", [], "s.store_label = 'Smith''s, Main St'", (Filter("store", "=", TRICKY),)),
    ("month", [], BAN_DEC_FEB, (DEC_TO_FEB,)),  # February's value is the 10th's
    (None, [], "", ()),
    (None, [("s.store_label", "store")], "", ()),
    (None, [], BAN_DEC_FEB, (DEC_TO_FEB,)),
]


@pytest.mark.parametrize("pick", ["max", "min"])
@pytest.mark.parametrize(
    ("grain", "dims", "where", "filters"), SEMI_SHAPES, ids=range(len(SEMI_SHAPES))
)
def test_semi_additive_first_and_last(
    warehouse: Warehouse, pick, grain, dims, where, filters
) -> None:
    metric = "backlog" if pick == "max" else "backlog_first"
    key = [] if grain is None else [f"CAST(date_trunc('{grain}', b.snapshot_day) AS DATE)"]
    keys = key + [sql for sql, _ in dims]
    select = [f"{k} AS period" for k in key] + [f"{sql} AS {label}" for sql, label in dims]
    by = ([f"period:{grain}"] if grain else []) + [label for _, label in dims]
    conditions = " AND ".join(x for x in (_mark(grain, pick, where), where) if x)
    got = check(
        warehouse,
        q(metric, ",".join(by), *filters),
        f"""SELECT {", ".join([*select, f"SUM(b.open_tickets) AS {metric}"])}
        FROM {BACKLOG} WHERE {conditions}
        {f"GROUP BY {', '.join(keys)}" if keys else ""}""",
    )
    assert len(got) > 0 and got[metric].notna().all()


def test_last_day_with_data_is_shared_by_every_group(warehouse: Warehouse) -> None:
    """No store reports on 31 January 2026: January's value is the 30th's; stores add up
    to the total, and store 106 (which stopped on 20 March) has no March value."""
    by_store = warehouse.frame(compile_for(warehouse, q("backlog", "period:month,store")).statement)
    total = warehouse.frame(compile_for(warehouse, q("backlog", "period:month")).statement)
    jan = by_store[by_store["period"] == date(2026, 1, 1)]
    rows = warehouse.data.tables["f_backlog"]
    assert jan["backlog"].sum() == sum(r[3] for r in rows if r[2] == date(2026, 1, 30))
    sums = by_store.groupby("period")["backlog"].sum()
    assert list(sums) == list(total.set_index("period")["backlog"])
    march = by_store[by_store["period"] == date(2026, 3, 1)]
    assert TRICKY not in set(march["store"])


@pytest.mark.parametrize(
    ("grain", "dims"),
    [
        ("day", []),
        ("month", []),
        ("month", [("s.store_label", "store")]),
        (None, []),
        (None, [("s.store_label", "store")]),
    ],
)
def test_semi_additive_average_of_daily_values(warehouse: Warehouse, grain, dims) -> None:
    key = [] if grain is None else [f"CAST(date_trunc('{grain}', b.snapshot_day) AS DATE)"]
    inner = key + [sql for sql, _ in dims]
    labels = (["period"] if key else []) + [label for _, label in dims]
    inner_select = [f"{k} AS {n}" for k, n in zip(inner, labels, strict=True)]
    by = ([f"period:{grain}"] if grain else []) + [label for _, label in dims]
    check(
        warehouse,
        q("backlog_avg", ",".join(by), Filter("period", ">=", "2025-06-01")),
        f"""SELECT {", ".join([*labels, "AVG(daily) AS backlog_avg"])} FROM (
              SELECT {", ".join([*inner_select, "SUM(b.open_tickets) AS daily"])}
              FROM {BACKLOG} WHERE b.snapshot_day >= DATE '2025-06-01'
              GROUP BY {", ".join([*inner, "b.snapshot_day"])}) d
            {f"GROUP BY {', '.join(labels)}" if labels else ""}""",
    )


def test_semi_additive_in_an_expr_across_facts(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("backlog,shifts,backlog_per_shift", "period:month", Filter("period", ">=", "2025-10-01")),
        f"""
        WITH b AS (SELECT CAST(date_trunc('month', b.snapshot_day) AS DATE) AS period,
                          SUM(b.open_tickets) AS backlog
                   FROM {BACKLOG}
                   WHERE {_mark("month", "max", "b.snapshot_day >= DATE '2025-10-01'")}
                     AND b.snapshot_day >= DATE '2025-10-01'
                   GROUP BY 1),
             f AS (SELECT CAST(date_trunc('month', f.shift_start) AS DATE) AS period,
                          COUNT(*) AS shifts
                   FROM f_staffing f WHERE f.shift_start >= TIMESTAMP '2025-10-01 00:00:00'
                   GROUP BY 1)
        SELECT b.period, b.backlog, f.shifts,
               CAST(b.backlog AS DOUBLE PRECISION) / NULLIF(f.shifts, 0) AS backlog_per_shift
        FROM b FULL JOIN f ON b.period = f.period""",
    )


# --------------------------------------------------------------------------- routing, cost


ROUTED = [  # only sums and counts windowed, every dimension and filter in the day rollup
    (q("events_7d", "period:month,country"), {}),
    (q("events_running,events_mtd", "period:day,channel", DEC_TO_FEB), {}),
    (q("minutes_per_resolution_28d", "channel,team"), {}),
    (q("events_prev,events_prev_month", "", Filter("channel", "=", "chat")), {}),
    (q("events_qtd", "period:week"), {"scope": (("country", ("Germany",)),)}),
    (q("resolutions_28d", "period:day,team"), {}),  # a filtered count: matched days only
]
NOT_ROUTED = [
    (q("openers_28d", "period:month"), {}),  # a distinct count
    (q("events,events_7d", "period:month,country"), {}),  # with a plain metric
    (q("events_7d", "period:month,store"), {}),  # store is not in the rollup
    (q("events_7d", "period:month"), {"scope": (("store", ("Pop-up",)),)}),  # nor the scope
    (q("events_7d", "period:month"), {"available_rollups": frozenset()}),  # not built
    (q("backlog,staffed_hours", "period:month"), {}),  # a balance; another fact
    (q("backlog_sum_last_year", "period:month"), {}),  # no rollup of f_backlog
]


@pytest.mark.parametrize(
    ("query", "options", "rollup"),
    [(qq, o, "r_daily_support") for qq, o in ROUTED] + [(qq, o, None) for qq, o in NOT_ROUTED],
)
def test_time_aware_queries_route_to_a_day_rollup_only_when_exact(
    warehouse: Warehouse, query, options, rollup
) -> None:
    base = compile_for(warehouse, query, **options)
    routed = compile_for(warehouse, query, use_rollups=True, **options)
    assert base.rollup is None and routed.rollup == rollup
    if rollup:
        assert "f_ticket_event" not in sql_text(routed, warehouse.dialect)
    got, want = warehouse.frame(routed.statement), warehouse.frame(base.statement)
    assert len(want) > 0
    assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-9)


def test_date_range_reaches_back_to_the_rows_windows_read() -> None:
    model = support_model()
    duck = __import__("sqlalchemy").create_engine("duckdb://").dialect

    def bounds(metric: str, by: str = "") -> tuple:
        return compile_query(model, q(metric, by, DEC_TO_FEB), dialect=duck).date_range

    high = date(2026, 2, 10)
    assert bounds("events") == (date(2025, 12, 1), high)
    assert bounds("events_7d") == (date(2025, 11, 25), high)
    assert bounds("events_qtd") == (date(2025, 10, 1), high)
    assert bounds("events_running") == (None, high)
    assert bounds("events_prev", "period:month") == (date(2025, 10, 31), high)
    assert bounds("backlog_sum_last_year")[0] <= date(2024, 12, 1)
    assert bounds("backlog") == (date(2025, 12, 1), high)  # reads only its periods
    assert set(compile_query(model, q("backlog_per_shift"), dialect=duck).facts) == {
        "f_backlog",
        "f_staffing",
    }


def test_sql_is_portable_text_with_bound_dates(warehouse: Warehouse) -> None:
    text = sql_text(
        compile_for(warehouse, q("events_mtd", "period:day", DEC_TO_FEB)), warehouse.dialect
    )
    assert "2026-02-10" not in text and "2025-12-01" not in text
    assert "date_trunc('month', output_periods.period_last)" in text


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (q("events_7d", "period:month", Filter("period", "!=", "2026-01-05")), "bound one range"),
        (q("backlog", "", Filter("period", "in", ("2026-01-05", "2026-01-09"))), "bound one range"),
        (q("events_7d", "agent,period"), None),  # fine: a plain grouping
        (q("backlog", "channel"), "not reachable from f_backlog"),
        (q("events_running", "", Filter("channel", "=", "chat")), None),
    ],
)
def test_time_filters_that_do_not_bound_a_range_are_refused(warehouse, query, message) -> None:
    if message is None:
        assert len(warehouse.frame(compile_for(warehouse, query).statement)) > 0
        return
    with pytest.raises(QueryError, match=message):
        compile_for(warehouse, query)


def test_nested_time_metrics_are_refused_by_the_compiler() -> None:
    model = support_model()
    metrics = dict(model.metrics)
    metrics["x"] = Metric("x", "X", "time", time_op=TimeOp("window", "events_running", days=7))
    model = dataclasses.replace(model, metrics=metrics)
    duck = __import__("sqlalchemy").create_engine("duckdb://").dialect
    with pytest.raises(QueryError, match="itself time-aware"):
        compile_query(model, q("x"), dialect=duck)


BAD_METRICS = [
    ("w: {window: {metric: nope, days: 7}}", "metrics.w.window.metric", "unknown metric 'nope'"),
    ("w: {window: {metric: events, days: 0}}", "metrics.w.window.days", "whole number from 1"),
    ("w: {window: {metric: events, days: 7.5}}", "metrics.w.window.days", "whole number"),
    ("w: {window: {metric: events}}", "metrics.w.window", "missing required key 'days'"),
    ("w: {to_date: {metric: events, period: day}}", "metrics.w.to_date.period", "not one of"),
    ("w: {offset: {metric: events, by: decade}}", "metrics.w.offset.by", "not one of"),
    ("w: {cumulative: {metric: events, days: 3}}", "metrics.w.cumulative.days", "unknown key"),
    ("w: {window: {metric: untimed, days: 7}}", "metrics.w.window.metric", "no time column"),
    ("w: {window: {metric: events_running, days: 7}}", "metrics.w.window.metric", "itself"),
    ("w: {cumulative: {metric: backlog}}", "metrics.w.cumulative.metric", "semi-additive"),
    ("w: {window: {metric: events, days: 7}, sql: count(*)}", "metrics.w.window", "not sql and"),
    ("w: {fact: f_untimed, sql: sum(x), over_time: last}", "metrics.w.over_time", "no time column"),
    (
        "w: {fact: f_backlog, sql: sum(open_tickets), over_time: max}",
        "metrics.w.over_time",
        "not one of",
    ),
    ("w: {ratio: [events, shifts], over_time: last}", "metrics.w.over_time", "only to sql"),
]


@pytest.mark.parametrize(
    ("line", "key", "message"), BAD_METRICS, ids=[b[1] + ":" + b[2][:12] for b in BAD_METRICS]
)
def test_bad_time_metrics_name_file_line_and_key(tmp_path: Path, line, key, message) -> None:
    text = MODEL_PATH.read_text()
    text = text.replace(
        "  d_calendar:\n    kind: dimension",
        "  f_untimed:\n    kind: fact\n    primary_key: x\n  d_calendar:\n    kind: dimension",
        1,
    )
    text = text.replace(
        "\nrollups:", f"\n  untimed: {{fact: f_untimed, sql: count(*)}}\n  {line}\n\nrollups:", 1
    )
    path = tmp_path / "support.yaml"
    path.write_text(text)
    with pytest.raises(ModelError) as info:
        load_model(path)
    found = [p for p in info.value.problems if p.key == key]
    assert found, [(p.key, p.message) for p in info.value.problems]
    assert message in found[0].message
    assert found[0].line == text.splitlines().index(f"  {line}") + 1
    assert str(path) in str(found[0].file)


def test_time_metrics_need_a_time_dimension(tmp_path: Path) -> None:
    text = MODEL_PATH.read_text().replace("  period:        {time: true, label: Period}\n", "")
    path = tmp_path / "support.yaml"
    path.write_text(text)
    with pytest.raises(ModelError) as info:
        load_model(path)
    keys = {p.key: p.message for p in info.value.problems}
    assert "needs a time dimension" in keys["metrics.events_7d.window"]
    assert "needs a time dimension" in keys["metrics.backlog.over_time"]


def test_sums_and_counts_window_their_daily_values_distinct_counts_the_rows(
    warehouse: Warehouse,
) -> None:
    """A sum or count reads one row per day and group; a distinct count reads every row."""
    additive = sql_text(compile_for(warehouse, q("events_7d", "period:month")), warehouse.dialect)
    distinct = sql_text(compile_for(warehouse, q("openers_28d", "period:month")), warehouse.dialect)
    assert "AS daily" in additive and "sum(daily.v)" in additive
    assert "AS daily" not in distinct and "count(DISTINCT" in distinct.replace("COUNT", "count")


def test_time_metrics_take_their_bases_format_and_direction_unless_given(tmp_path: Path) -> None:
    text = MODEL_PATH.read_text().replace(
        "\nrollups:",
        "\n  minutes_mtd: {to_date: {metric: handle_minutes, period: month}}"
        "\n  minutes_mtd_ly: {offset: {metric: minutes_mtd_base, by: year}, format: number}"
        "\n  minutes_mtd_base: {sql: sum(minutes_spent), fact: f_ticket_event, direction: down,"
        " format: duration}\n\nrollups:",
        1,
    )
    path = tmp_path / "support.yaml"
    path.write_text(text)
    model = load_model(path)
    assert model.metrics["minutes_mtd"].format == "duration"  # handle_minutes is a duration
    assert model.metrics["resolve_share"].format == "percent"  # untouched
    ly = model.metrics["minutes_mtd_ly"]
    assert (ly.format, ly.direction) == ("number", "down")  # its own format, the base's direction


@pytest.mark.parametrize("metric", ["backlog", "backlog_avg", "backlog_sum_last_year"])
def test_a_row_scope_the_fact_cannot_reach_denies_its_time_aware_leaves(
    warehouse: Warehouse, metric: str
) -> None:
    """f_backlog has no agent: a user scoped to one agent sees no balance, not everyone's."""
    compiled = compile_for(warehouse, q(metric, "period:month"), scope=(("agent", ("Agent 01",)),))
    assert compiled.denied_facts == ("f_backlog",)
    assert warehouse.frame(compiled.statement).empty
    ban = compile_for(warehouse, q(metric), scope=(("agent", ("Agent 01",)),))
    assert warehouse.frame(ban.statement)[metric].isna().all()
