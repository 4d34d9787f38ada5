"""Tier 1 board data: the planted outage is flagged, ordinary days are not, URL state
round-trips, and bad URL values become notices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from app.core.config import load_settings
from app.core.runtime import Runtime, standalone
from app.loader.generate import planted_stories
from queries.analysis import anomalies
from queries.boards import tier1
from queries.semantic.query import Filter, MetricQuery
from queries.semantic.run import current_model, run

DEMO_INTERACTIONS = 1_000_000
OUTAGE = planted_stories()[0]
# No planted story between these days (outage 2025-09-17, dip March 2026, spike June 2026).
QUIET = (date(2025, 10, 20), date(2026, 2, 20))


@pytest.fixture(scope="module")
def demo_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The demo at 1M interactions, seed 7, built once for the module."""
    from app.loader.generate import generate
    from tests.conftest import demo_load

    root = tmp_path_factory.mktemp("t1_demo")
    generate(root / "raw", interactions=DEMO_INTERACTIONS, seed=7)
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    demo_load(root / "raw", url, rollups=False)
    settings = load_settings({"db_url": url, "cache": "null", "home": str(root / "home")})
    with standalone(settings) as rt:
        yield rt


def _daily(
    metric: str, first: date, last: date, *filters: Filter
) -> tuple[list[date], list[float]]:
    frame = run(
        MetricQuery(
            (metric,),
            ("date:day",),
            (*filters, Filter("date", "between", (first.isoformat(), last.isoformat()))),
        )
    ).frame
    got = {
        d.date() if hasattr(d, "date") else d: float(v)
        for d, v in zip(frame["date"], frame[metric], strict=True)
    }
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    return days, [got.get(d, 0.0) for d in days]


def test_tablet_outage_is_flagged_on_tablet_visitors_and_interactions_only(
    demo_runtime: Runtime,
) -> None:
    first, last = OUTAGE.start - timedelta(days=60), OUTAGE.start + timedelta(days=60)
    days, values = _daily("visitors", first, last, Filter("device", "=", "tablet"))
    flagged = anomalies.daily_anomalies(days, values)
    assert [a.day for a in flagged] == [OUTAGE.start]
    assert flagged[0].value == 0 and flagged[0].direction == "low"
    days, values = _daily("interactions", first, last, Filter("device", "=", "tablet"))
    assert [a.day for a in anomalies.daily_anomalies(days, values)] == [OUTAGE.start]


def test_ordinary_days_are_not_flagged(demo_runtime: Runtime) -> None:
    checked = flagged = 0
    for metric in ("visitors", "interactions", "active_users", "buyers"):
        series = [()] + [(Filter("device", "=", d),) for d in ("desktop", "mobile", "tablet")]
        for filters in series:
            days, values = _daily(metric, *QUIET, *filters)
            checked += len(days)
            flagged += len(anomalies.daily_anomalies(days, values))
    assert checked > 1500
    assert flagged / checked < 0.01


def test_board_view_marks_the_outage_and_lists_it(demo_runtime: Runtime) -> None:
    params = {
        "from": (OUTAGE.start - timedelta(days=20)).isoformat(),
        "to": (OUTAGE.start + timedelta(days=20)).isoformat(),
    }
    view = tier1.tier1_view("growth", params)
    assert view.notices == ()
    lines = [
        c
        for _, charts in view.sections
        for c in charts
        if c.chart.type == "line" and c.by == "device"
    ][0]
    tablet = next(s for s in lines.series if s.name == "tablet")
    assert [a.day for a in tablet.anomalies] == [OUTAGE.start]
    assert any(s.series == "tablet" and s.anomaly.day == OUTAGE.start for s in view.stand_out)


def test_state_round_trips_through_the_url(demo_runtime: Runtime) -> None:
    model = current_model()
    board = model.boards["channels"]
    state = tier1.State(
        date(2026, 9, 1),
        date(2026, 9, 30),
        (("device", ("mobile", "tablet")),),
        (("channel_group", "Paid Search"),),
    )
    search = tier1.encode_state(state)
    assert search == (
        "?from=2026-09-01&to=2026-09-30&device=mobile,tablet&drill=channel_group:Paid%20Search"
    )
    parsed, notices = tier1.parse_state(model, board, tier1.parse_query(search), date(2026, 10, 31))
    assert parsed == state and notices == []


def test_bad_url_values_are_notices(demo_runtime: Runtime) -> None:
    model = current_model()
    board = model.boards["growth"]
    known = {"country": set(tier1.dimension_values("country"))}
    state, notices = tier1.parse_state(
        model,
        board,
        {
            "from": "2026-13-45",
            "to": "2026-09-30",
            "nope": "x",
            "country": "DE,'; DROP TABLE dim_user; --",
            "drill": "device:mobile,category",
        },
        date(2026, 10, 31),
        known,
    )
    assert state.end == date(2026, 9, 30) and state.start == date(2026, 9, 3)
    assert state.filters == (("country", ("DE",)),) and state.drill == ()
    text = " ".join(notices)
    assert "2026-13-45" in text and "“nope” is not a filter" in text
    assert "DROP TABLE" in text and "not a drill step" in text


def test_presets_are_relative_to_the_last_day() -> None:
    latest = date(2026, 10, 31)
    assert tier1.preset_range("7d", latest) == (date(2026, 10, 25), latest)
    assert tier1.preset_range("mtd", latest) == (date(2026, 10, 1), latest)
    assert tier1.preset_range("last_month", latest) == (date(2026, 9, 1), date(2026, 9, 30))
    assert tier1.preset_range("qtd", latest) == (date(2026, 10, 1), latest)


def test_a_drill_below_a_metrics_reach_leaves_that_metric_out_and_says_so(
    demo_runtime: Runtime,
) -> None:
    # channels' breakdown shows cac (new users, which have an acquisition channel but no
    # campaign); drilled down to campaigns it keeps the other metrics, with a note
    spend = run(MetricQuery(("spend",), ("campaign",), (Filter("channel", "=", "Social Paid"),)))
    params = {
        "from": QUIET[0].isoformat(),
        "to": QUIET[1].isoformat(),
        "drill": "channel_group:Paid Social,channel:Social Paid",
    }
    view = tier1.tier1_view("channels", params)
    breakdown = next(
        c for _, charts in view.sections for c in charts if c.chart.type == "breakdown"
    )
    assert breakdown.by == "campaign"
    assert breakdown.error is None
    assert [m.name for m in breakdown.metrics] == ["spend", "clicks", "ctr", "roas"]
    assert "Customer acquisition cost not shown by campaign" in breakdown.note
    assert breakdown.frame is not None and len(breakdown.frame) > 0
    assert set(breakdown.frame["campaign"].dropna()) <= set(spend.frame["campaign"])
    # undrilled, every metric is there and nothing is said
    whole = tier1.tier1_view("channels", {"from": QUIET[0].isoformat(), "to": QUIET[1].isoformat()})
    top = next(c for _, charts in whole.sections for c in charts if c.chart.type == "breakdown")
    assert [m.name for m in top.metrics] == ["spend", "clicks", "ctr", "cac", "roas"]
    assert "not shown by" not in top.note


def test_a_trailing_window_is_drawn_by_day_and_not_judged_for_anomalies(
    demo_runtime: Runtime,
) -> None:
    params = {"from": QUIET[0].isoformat(), "to": QUIET[1].isoformat()}
    view = tier1.tier1_view("growth", params)
    line = next(
        c
        for _, charts in view.sections
        for c in charts
        if [m.name for m in c.metrics] == ["active_users_28d"]
    )
    (series,) = line.series
    assert series.x[0] == QUIET[0] and series.anomalies == ()
    day = date(2026, 1, 15)
    value = series.y[series.x.index(day)]
    direct = run(
        MetricQuery(
            ("active_users",),
            (),
            (Filter("date", "between", ((day - timedelta(days=27)).isoformat(), day.isoformat())),),
        )
    ).frame
    assert value == direct["active_users"].iloc[0]
    assert not any(s.series == "Active users (28 days)" for s in view.stand_out)
