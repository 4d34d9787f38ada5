"""The one door: cache keyed by scope and data version, single-flight, cost classes,
degraded cache, and nothing logged as success for a bad query."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from app.core.config import load_settings
from app.core.errors import QueryError
from app.core.runtime import standalone
from queries.semantic import run as run_mod
from queries.semantic.query import Filter, MetricQuery
from queries.semantic.run import cache_key, cost_class, run

REVENUE_BY_GROUP = MetricQuery(("revenue", "orders"), ("channel_group",))
MONTH = Filter("date", "between", ("2026-09-01", "2026-09-30"))


@pytest.fixture
def runtime(tiny_demo: str, tmp_path: Path):
    settings = load_settings({"db_url": tiny_demo, "cache": "simple", "home": str(tmp_path)})
    with standalone(settings) as rt:
        yield rt


def _sql(runtime, sql: str):
    with runtime.warehouse.snapshot().engine.connect() as conn:
        return conn.exec_driver_sql(sql).all()


def test_second_identical_query_is_a_cache_hit_with_the_same_rows(runtime) -> None:
    first = run(REVENUE_BY_GROUP, runtime=runtime)
    second = run(REVENUE_BY_GROUP, runtime=runtime)
    assert not first.cache_hit and second.cache_hit
    assert second.frame.equals(first.frame)
    assert runtime.cache.stats.hits == 1 and runtime.cache.stats.misses == 1


def test_scope_is_part_of_the_cache_key(runtime) -> None:
    query = MetricQuery(("revenue",), ("region",))
    emea = run(query, (("region", ("EMEA",)),), runtime=runtime)
    amer = run(query, (("region", ("AMER",)),), runtime=runtime)
    assert not amer.cache_hit  # never the first user's cached rows
    assert list(emea.frame["region"]) == ["EMEA"] and list(amer.frame["region"]) == ["AMER"]
    expected = _sql(
        runtime,
        "SELECT sum(revenue) FROM fct_interaction f JOIN dim_user u "
        "USING (user_key) WHERE u.region = 'AMER' "
        "AND interaction_type = 'purchase'",
    )[0][0]
    assert amer.frame["revenue"].iloc[0] == pytest.approx(expected)


def test_crafted_filter_cannot_escape_the_scope(runtime) -> None:
    crafted = MetricQuery(("revenue",), ("region",), (Filter("region", "=", "AMER"),))
    result = run(crafted, (("region", ("EMEA",)),), runtime=runtime)
    assert result.frame.empty


def test_scope_that_cannot_reach_a_fact_denies_it_with_a_notice(runtime) -> None:
    result = run(MetricQuery(("spend",)), (("region", ("EMEA",)),), runtime=runtime)
    assert result.frame["spend"].isna().all()
    assert result.notices and "fct_marketing_spend" in result.notices[0]


def test_cache_key_changes_with_version_scope_sql_and_params() -> None:
    base = cache_key("SELECT 1", {"p": 1}, (), "v1")
    assert base == cache_key("SELECT 1", {"p": 1}, (), "v1")
    assert (
        len(
            {
                base,
                cache_key("SELECT 1", {"p": 1}, (), "v2"),
                cache_key("SELECT 1", {"p": 2}, (), "v1"),
                cache_key("SELECT 2", {"p": 1}, (), "v1"),
                cache_key("SELECT 1", {"p": 1}, (("region", ("EMEA",)),), "v1"),
            }
        )
        == 5
    )


def test_a_new_publish_is_never_served_from_the_old_cache(runtime, monkeypatch) -> None:
    first = run(REVENUE_BY_GROUP, runtime=runtime)
    snap = runtime.warehouse.snapshot()
    newer = type(snap)(
        snap.engine, type(snap.version)(id=snap.version.id + "-next", source="pointer")
    )
    monkeypatch.setattr(runtime.warehouse, "snapshot", lambda: newer)
    after = run(REVENUE_BY_GROUP, runtime=runtime)
    assert not after.cache_hit and after.version.endswith("-next")
    assert after.frame.equals(first.frame)


def test_identical_cold_queries_in_flight_run_once(runtime, monkeypatch) -> None:
    computed = []
    real = runtime.cache.get_or_compute

    def held_open(key, compute):
        def compute_when_all_wait():
            computed.append(key)
            # Hold the leader until the five others have joined its flight, however slow
            # the machine is at planning their queries.
            deadline = time.monotonic() + 30
            while runtime.cache.stats.shared < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            return compute()

        return real(key, compute_when_all_wait)

    monkeypatch.setattr(runtime.cache, "get_or_compute", held_open)
    results = []
    from flask import current_app

    app = current_app._get_current_object()

    def worker():
        with app.app_context():
            results.append(run(REVENUE_BY_GROUP, runtime=runtime))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1 and len(results) == 6
    assert runtime.cache.stats.shared == 5
    assert sum(not r.cache_hit for r in results) == 1
    assert all(r.frame.equals(results[0].frame) for r in results)


def test_a_broken_cache_backend_degrades_to_uncached_runs(runtime, monkeypatch, caplog) -> None:
    def boom(*_args, **_kwargs):
        raise ConnectionError("cache is down")

    monkeypatch.setattr(runtime.cache._cache, "get", boom)
    monkeypatch.setattr(runtime.cache._cache, "set", boom)
    with caplog.at_level(logging.WARNING, logger="starboard.cache"):
        result = run(REVENUE_BY_GROUP, runtime=runtime)
    assert not result.frame.empty and not result.cache_hit
    assert "running uncached" in caplog.text and runtime.cache.stats.errors >= 1


def test_bad_queries_are_refused_and_never_logged_as_success(runtime, caplog) -> None:
    bad = [
        MetricQuery(("revnue",)),
        MetricQuery(("revenue",), ("colour",)),
        MetricQuery(("revenue",), (), (Filter("date", "between", ("2026-01-01", "soon")),)),
        MetricQuery(
            ("revenue",),
            (),
            (Filter("country", "=", "x'; drop table dim_user; --"), Filter("nope", "=", "1")),
        ),
    ]
    with caplog.at_level(logging.INFO, logger="starboard.query"):
        for query in bad:
            with pytest.raises(QueryError):
                run(query, runtime=runtime)
    assert "query " not in caplog.text
    assert _sql(runtime, "SELECT count(*) FROM dim_user")[0][0] > 0


def test_injection_in_a_filter_value_is_a_literal(runtime) -> None:
    result = run(
        MetricQuery(
            ("revenue",), ("country",), (Filter("country", "=", "x'; drop table dim_user; --"),)
        ),
        runtime=runtime,
    )
    assert result.frame.empty
    assert "drop table" not in result.sql.lower()
    assert _sql(runtime, "SELECT count(*) FROM dim_user")[0][0] > 0


def test_cost_class_boundaries() -> None:
    assert [cost_class(n) for n in (0, 10**4, 10**4 + 1, 10**6, 10**6 + 1, 10**7, 10**7 + 1)] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "C",
        "D",
    ]


def test_date_range_shrinks_the_estimate_and_rollups_shrink_it_more(runtime) -> None:
    everything = run(MetricQuery(("active_users",)), runtime=runtime)
    # most of a month: a distinct count that no rollup holds for these days
    part = Filter("date", "between", ("2026-09-03", "2026-09-30"))
    month = run(MetricQuery(("active_users",), (), (part,)), runtime=runtime)
    rolled = run(MetricQuery(("revenue",), ("date:month",), (MONTH,)), runtime=runtime)
    whole = run(MetricQuery(("active_users",), (), (MONTH,)), runtime=runtime)
    total = _sql(runtime, "SELECT count(*) FROM fct_interaction")[0][0]
    assert everything.rows_scanned == total and everything.rollup is None
    assert month.rollup is None and month.rows_scanned < total / 12
    assert rolled.rollup == "agg_monthly_users" and rolled.rows_scanned < month.rows_scanned
    # the whole month is one row of the monthly rollup, distinct count included
    assert whole.rollup == "agg_monthly_users" and whole.rows_scanned < month.rows_scanned


def test_tier0_refuses_class_d(runtime, monkeypatch) -> None:
    monkeypatch.setattr(run_mod, "estimate_rows", lambda *_a, **_k: 10**7 + 1)
    with pytest.raises(QueryError, match="cost class D.*Tier 0"):
        run(MetricQuery(("active_users",)), tier=0, runtime=runtime)
    assert run(MetricQuery(("active_users",)), tier=2, runtime=runtime).cost_class == "D"
