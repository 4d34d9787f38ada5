"""Alert rules judged on the demo data: the planted stories fire, ordinary days do not."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from app.core.config import load_settings
from app.core.errors import QueryError
from app.core.runtime import standalone
from app.core.stores.alerts import CheckFailure
from queries.alerts.evaluate import Window, evaluate, evaluate_risk1
from queries.semantic.alert_rules import AlertRule
from queries.semantic.run import current_model, latest_day

NOW = datetime(2026, 11, 1, 6, 0)  # the demo's data ends 2026-10-31


@pytest.fixture(scope="module")
def runtime(alerts_demo: str, tmp_path_factory: pytest.TempPathFactory):
    settings = load_settings(
        {
            "db_url": alerts_demo,
            "cache": "null",
            "home": str(tmp_path_factory.mktemp("alerts_home")),
        }
    )
    with standalone(settings) as rt:
        yield rt


def _run(
    runtime,
    *,
    since: str | None = None,
    period: str | None = None,
    rules: list[str] | None = None,
    now: datetime = NOW,
    model=None,
):
    return evaluate(
        runtime, model or current_model(runtime), Window.parse(since, period), now=now, rules=rules
    )


def _with_rules(runtime, **rules: AlertRule):
    from dataclasses import replace

    model = current_model(runtime)
    return replace(model, alerts=dict(rules))


def test_tablet_outage_fires_on_its_day_only(runtime) -> None:
    events = _run(runtime, since="2024-01-01", rules=["tablet_tracking_gap"])
    assert [(e.period, e.value) for e in events] == [("2025-09-17", 0.0)]
    [event] = events
    assert event.severity == "critical" and event.metric == "visitors"
    assert event.link == "/t1/growth?from=2025-09-17&to=2025-09-17&device=tablet"
    assert event.message == ("Visitors (device = tablet) was 0 in 17 September 2025: below 1.")


def test_campaign_spike_fires_on_its_week_for_its_campaign_only(runtime) -> None:
    events = _run(runtime, since="2024-01-01", rules=["campaign_spend_spike"])
    spike = [date(2026, 6, 10) + timedelta(days=n) for n in range(7)]
    assert [e.period for e in events] == [d.isoformat() for d in spike]
    assert {e.member for e in events} == {(("campaign", "Summer flash sale 2026"),)}
    for e in events:
        assert e.value > e.high > e.expected > e.low >= 0  # above the normal band
    assert events[0].link == "/t1/channels?from=2026-06-10&to=2026-06-10"


def test_ordinary_months_fire_nothing(runtime) -> None:
    for period in ("2025-03", "2026-02", "2026-09"):
        assert (
            _run(runtime, period=period, rules=["tablet_tracking_gap", "campaign_spend_spike"])
            == []
        )


def test_period_option_judges_exactly_that_period(runtime) -> None:
    assert [e.period for e in _run(runtime, period="2025-09-17")] == ["2025-09-17"]
    assert [
        e.period for e in _run(runtime, period="2025-09-16", rules=["tablet_tracking_gap"])
    ] == []


def test_default_window_is_the_last_two_weeks(runtime) -> None:
    rule = AlertRule("busy_days", "threshold", metric="visitors", grain="day", above=0)
    events = _run(runtime, model=_with_rules(runtime, busy_days=rule))
    last = latest_day(runtime)
    assert [e.period for e in events] == [
        (last - timedelta(days=n)).isoformat() for n in range(13, -1, -1)
    ]


def test_threshold_per_month_and_per_member_with_filters(runtime) -> None:
    rule = AlertRule(
        "big_tablet_months",
        "threshold",
        metric="visitors",
        grain="month",
        where=("device = tablet",),
        above=0,
        by="region",
    )
    events = _run(runtime, period="2026-05", model=_with_rules(runtime, r=rule))
    assert {e.period for e in events} == {"2026-05"}
    regions = sorted(v for e in events for _, v in e.member)
    assert len(regions) >= 3 and len(set(regions)) == len(regions)
    assert all(e.value > 0 and e.low is None and e.high == 0 for e in events)


def test_incomplete_periods_are_not_judged(runtime) -> None:
    rule = AlertRule("low_month", "threshold", metric="visitors", grain="month", below=10**12)
    events = _run(runtime, since="2026-10-01", model=_with_rules(runtime, r=rule))
    assert [e.period for e in events] == ["2026-10"]  # ends on the last day
    short = _run(runtime, period="2026-11", model=_with_rules(runtime, r=rule))
    assert short == []  # no data yet


def test_stale_fires_after_the_slo_and_not_before(runtime) -> None:
    data_to = runtime.warehouse.snapshot().version.data_to
    assert data_to is not None
    hours = _with_rules(runtime, data_stale=AlertRule("data_stale", "stale", hours=36))
    fresh = _run(runtime, model=hours, now=data_to + timedelta(hours=35))
    assert fresh == []
    [stale] = _run(runtime, model=hours, now=data_to + timedelta(hours=40))
    assert stale.value == 40.0 and stale.high == 36.0
    assert "40 hours old" in stale.message
    strict = AlertRule("strict", "stale", hours=2)
    [event] = _run(
        runtime, now=data_to + timedelta(hours=3), model=_with_rules(runtime, strict=strict)
    )
    assert event.high == 2.0


def test_a_stale_rule_without_hours_judges_each_fact_against_its_slo(runtime) -> None:
    """The banner's SLOs: fct_interaction the 36 h default, fct_marketing_spend its model
    ``freshness_hours: 48`` (its latest day counts from 00:00)."""
    from queries.quality.freshness import fact_times

    latest = {t.table: t.latest for t in fact_times(runtime)}
    spend, events = latest["fct_marketing_spend"], latest["fct_interaction"]
    model = _with_rules(runtime, per_fact=AlertRule("per_fact", "stale"))
    assert _run(runtime, now=spend + timedelta(hours=47), model=model) == []
    [late] = _run(runtime, now=spend + timedelta(hours=49), model=model)
    assert late.high == 48.0 and late.value == 49.0
    assert "fct_marketing_spend is 49 hours old (SLO 48 h)" in late.message
    assert "fct_interaction" not in late.message  # its events run to late that day
    [both] = _run(runtime, now=events + timedelta(hours=40), model=model)
    assert "fct_interaction is 40 hours old (SLO 36 h)" in both.message
    assert "fct_marketing_spend" in both.message


def test_risk1_fires_for_a_stopped_load_and_not_for_healthy_live_data(runtime) -> None:
    rule = current_model(runtime).alerts["risk1_check_failed"]
    failures = [
        CheckFailure(1, "unique", "fct_interaction.interaction_key", "12 duplicates"),
        CheckFailure(2, "range", "fct_interaction.quantity", "3 out of range"),
    ]
    [event] = evaluate_risk1(rule, failures, period="2026-11-01", published=False)
    assert event.value == 1.0 and event.severity == "critical"
    assert event.message == (
        "A load was stopped: it failed 1 Risk 1 check(s): unique on "
        "fct_interaction.interaction_key."
    )
    assert event.detail == ("unique · fct_interaction.interaction_key: 12 duplicates",)
    assert evaluate_risk1(rule, failures[1:], period="2026-11-01", published=False) == []
    assert _run(runtime, rules=["risk1_check_failed"]) == []  # the live data passes
    stopped = evaluate(
        runtime, current_model(runtime), now=NOW, kinds=("risk1",), load_failures=failures
    )
    assert [e.period for e in stopped] == ["2026-11-01"]


def test_bad_options_and_unknown_rules_are_named(runtime) -> None:
    with pytest.raises(QueryError, match="--since '2026-13-01' is not a day"):
        Window.parse("2026-13-01", None)
    with pytest.raises(QueryError, match="--period 'June'"):
        Window.parse(None, "June")
    with pytest.raises(QueryError, match="not both"):
        Window.parse("2026-01-01", "2026-01")
    with pytest.raises(QueryError, match="Unknown alert rule.*tablet_gap"):
        _run(runtime, rules=["tablet_gap"])


def test_risk1_fires_once_per_live_version_when_a_recorded_check_run_failed(runtime) -> None:
    from app.core.stores import checks as checkstore

    version = runtime.warehouse.snapshot().version.id
    failed = checkstore.CheckResult(
        "model:fct_interaction.revenue_range",
        "revenue_range",
        "fct_interaction",
        "revenue",
        "range",
        "model",
        1,
        3.0,
        False,
        "7 rows below 0",
    )
    passed = checkstore.CheckResult(
        "model:dim_user.user_key_unique",
        "user_key_unique",
        "dim_user",
        "user_key",
        "unique",
        "model",
        1,
        3.0,
        True,
        "",
    )
    checkstore.record_run(
        runtime.users.db,
        warehouse=checkstore.warehouse_key(runtime.settings.db_url),
        version=version,
        source="quality",
        published=True,
        results=[failed, passed],
    )
    [event] = _run(runtime, rules=["risk1_check_failed"])
    assert event.period == f"version {version}"
    assert event.message == (
        "The live data fails 1 Risk 1 check(s): revenue_range on fct_interaction.revenue."
    )
    assert event.detail == ("revenue_range · fct_interaction.revenue: 7 rows below 0",)
