"""The demo generator: deterministic, in the raw contract, believable, with its stories."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from app.core.errors import DataError
from app.loader import demo_project as rawspec
from app.loader.generate import STORIES, GenerateSummary, generate, planted_stories

SMALL = 30_000
LARGE = 600_000  # enough sessions per month for the stories to stand out from noise


def _digests(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def _connect(directory: Path, fmt: str = "parquet") -> duckdb.DuckDBPyConnection:
    """Views named after the entities, read with the contract's types."""
    con = duckdb.connect()
    for spec in rawspec.RAW_FILES:
        path = directory / f"{spec.entity}.{fmt}"
        if fmt == "parquet":
            source = f"read_parquet('{path}')"
        else:
            types = ", ".join(f"'{c.name}': '{c.type}'" for c in spec.columns)
            source = f"read_csv('{path}', header = true, columns = {{{types}}})"
        con.execute(f"CREATE VIEW {spec.entity} AS SELECT * FROM {source}")
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return row


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> GenerateSummary:
    return generate(tmp_path_factory.mktemp("small"), SMALL, seed=42)


@pytest.fixture(scope="module")
def small_con(small: GenerateSummary) -> duckdb.DuckDBPyConnection:
    return _connect(small.out_dir)


@pytest.fixture(scope="module")
def large_con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _connect(generate(tmp_path_factory.mktemp("large"), LARGE, seed=42).out_dir)


# --------------------------------------------------------------------------- determinism


def test_same_seed_writes_identical_files(small: GenerateSummary, tmp_path: Path) -> None:
    again = generate(tmp_path, SMALL, seed=42)
    first = _digests(small.out_dir)
    assert sorted(first) == sorted(
        [*(f"{s.entity}.parquet" for s in rawspec.RAW_FILES), "pipeline.yaml"]
    )
    assert _digests(again.out_dir) == first
    assert again.rows == small.rows


def test_another_seed_writes_other_data(small: GenerateSummary, tmp_path: Path) -> None:
    other = _digests(generate(tmp_path, SMALL, seed=7).out_dir)
    first = _digests(small.out_dir)
    assert other["interactions.parquet"] != first["interactions.parquet"]
    assert other["users.parquet"] != first["users.parquet"]
    assert other["channels.parquet"] == first["channels.parquet"]  # fixed reference data


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("spec", rawspec.RAW_FILES, ids=lambda s: s.entity)
def test_columns_and_types_follow_rawspec(
    small_con: duckdb.DuckDBPyConnection, spec: rawspec.RawFile
) -> None:
    described = small_con.execute(f"DESCRIBE {spec.entity}").fetchall()
    assert [(name, type_) for name, type_, *_ in described] == [
        (c.name, c.type) for c in spec.columns
    ]
    required = [c.name for c in spec.columns if not c.nullable]
    nulls = _one(
        small_con,
        "SELECT " + ", ".join(f"count(*) - count({c})" for c in required) + f" FROM {spec.entity}",
    )
    assert dict(zip(required, nulls, strict=True)) == dict.fromkeys(required, 0)


def test_row_counts_match_request_and_summary(
    small: GenerateSummary, small_con: duckdb.DuckDBPyConnection
) -> None:
    counted = {
        s.entity: _one(small_con, f"SELECT count(*) FROM {s.entity}")[0] for s in rawspec.RAW_FILES
    }
    assert counted == small.rows
    assert abs(counted["interactions"] / SMALL - 1) <= 0.10
    assert counted["channels"] == 8
    assert counted["users"] == SMALL // 40
    assert 500 <= counted["products"] <= 2_000
    assert 40 <= counted["campaigns"] <= 80
    assert (small.start_date, small.end_date) == (date(2024, 11, 1), date(2026, 10, 31))


@pytest.mark.parametrize(
    "table, key",
    [
        ("interactions", "event_id"),
        ("users", "user_id"),
        ("products", "sku"),
        ("campaigns", "campaign_id"),
        ("channels", "channel"),
        ("marketing_spend", "date, campaign_id"),
    ],
)
def test_natural_keys_are_unique(
    small_con: duckdb.DuckDBPyConnection, table: str, key: str
) -> None:
    total, distinct = _one(small_con, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
    assert total == distinct > 0


@pytest.mark.parametrize(
    "table, column, dim, dim_key",
    [
        ("interactions", "user_id", "users", "user_id"),
        ("interactions", "sku", "products", "sku"),
        ("interactions", "channel", "channels", "channel"),
        ("interactions", "campaign_id", "campaigns", "campaign_id"),
        ("users", "acquisition_channel", "channels", "channel"),
        ("campaigns", "channel", "channels", "channel"),
        ("marketing_spend", "campaign_id", "campaigns", "campaign_id"),
        ("marketing_spend", "channel", "channels", "channel"),
    ],
)
def test_every_foreign_key_has_a_dimension_row(
    small_con: duckdb.DuckDBPyConnection, table: str, column: str, dim: str, dim_key: str
) -> None:
    used, orphans = _one(
        small_con,
        f"""
        SELECT count(t.{column}), count(t.{column}) FILTER (WHERE d.{dim_key} IS NULL)
        FROM {table} t LEFT JOIN {dim} d ON d.{dim_key} = t.{column}""",
    )
    assert used > 0
    assert orphans == 0


def test_rows_respect_time_and_campaign_windows(small_con: duckdb.DuckDBPyConnection) -> None:
    checks = _one(
        small_con,
        """
        SELECT
          (SELECT count(*) FROM interactions
            WHERE occurred_at < DATE '2024-11-01' OR occurred_at >= DATE '2026-11-01'),
          (SELECT count(*) FROM interactions i JOIN users u USING (user_id)
            WHERE CAST(i.occurred_at AS DATE) < u.signup_date),
          (SELECT count(*) FROM interactions i JOIN products p USING (sku)
            WHERE CAST(i.occurred_at AS DATE) < p.launched_on),
          (SELECT count(*) FROM interactions i JOIN campaigns c USING (campaign_id)
            WHERE CAST(i.occurred_at AS DATE) NOT BETWEEN c.start_date AND c.end_date
               OR i.channel <> c.channel),
          (SELECT count(*) FROM marketing_spend s JOIN campaigns c USING (campaign_id)
            WHERE s.date NOT BETWEEN c.start_date AND c.end_date OR s.channel <> c.channel),
          (SELECT count(*) FROM campaigns c JOIN channels h USING (channel)
            WHERE NOT h.is_paid AND c.channel <> 'Email'),
          (SELECT count(*) FROM (SELECT campaign_id, count(*) AS n,
                                        max(end_date - start_date) + 1 AS days
                                 FROM marketing_spend JOIN campaigns USING (campaign_id)
                                 GROUP BY campaign_id) WHERE n <> days)""",
    )
    assert checks == (0,) * 7


def test_funnel_rows_are_consistent(small_con: duckdb.DuckDBPyConnection) -> None:
    checks = _one(
        small_con,
        """
        SELECT
          count(*) FILTER (WHERE interaction_type = 'purchase'
                           AND (order_id IS NULL OR revenue <= 0 OR quantity < 1)),
          count(*) FILTER (WHERE interaction_type <> 'purchase'
                           AND (order_id IS NOT NULL OR revenue <> 0)),
          count(*) FILTER (WHERE interaction_type IN ('visit', 'email_sent', 'email_open',
                                                      'email_click') AND sku IS NOT NULL),
          count(*) FILTER (WHERE interaction_type IN ('product_view', 'add_to_cart',
                                                      'checkout', 'purchase') AND sku IS NULL),
          count(*) FILTER (WHERE interaction_type LIKE 'email%'
                           AND (channel <> 'Email' OR campaign_id IS NULL)),
          count(*) FILTER (WHERE interaction_type NOT IN
                           ('visit', 'product_view', 'add_to_cart', 'checkout', 'purchase',
                            'email_sent', 'email_open', 'email_click')),
          count(*) FILTER (WHERE device NOT IN ('desktop', 'mobile', 'tablet'))
        FROM interactions""",
    )
    assert checks == (0,) * 7
    orders, distinct_orders = _one(
        small_con, "SELECT count(order_id), count(DISTINCT order_id) FROM interactions"
    )
    assert orders == distinct_orders > 100
    # Every web session opens with exactly one visit and never buys more than it checked out.
    bad_sessions = _one(
        small_con,
        """
        SELECT count(*) FROM (
          SELECT session_id,
                 count(*) FILTER (WHERE interaction_type = 'visit') AS visits,
                 count(*) FILTER (WHERE interaction_type = 'checkout') AS checkouts,
                 count(*) FILTER (WHERE interaction_type = 'purchase') AS purchases,
                 count(*) FILTER (WHERE interaction_type LIKE 'email%') AS mails
          FROM interactions GROUP BY session_id)
        WHERE (mails = 0 AND visits <> 1) OR (mails > 0 AND visits > 0)
           OR purchases > checkouts""",
    )[0]
    assert bad_sessions == 0


def test_csv_and_parquet_hold_the_same_data(small: GenerateSummary, tmp_path: Path) -> None:
    as_csv = generate(tmp_path, SMALL, seed=42, fmt="csv")
    assert as_csv.rows == small.rows
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(f"{s.entity}.csv" for s in rawspec.RAW_FILES), "pipeline.yaml", "transforms"]
    )
    assert "path: interactions*.csv" in (tmp_path / "pipeline.yaml").read_text()
    header = (tmp_path / "interactions.csv").read_text().split("\n", 2)[:2]
    assert header[0].replace('"', "").split(",") == list(rawspec.INTERACTIONS.names)
    assert header[1].split(",")[1].count(":") == 2  # "2024-11-01 04:20:07"
    con = _connect(tmp_path, "csv")
    for spec in rawspec.RAW_FILES:
        parquet = f"read_parquet('{small.out_dir / spec.entity}.parquet')"
        differ = _one(
            con,
            f"""SELECT (SELECT count(*) FROM (SELECT * FROM {spec.entity}
                                                            EXCEPT ALL SELECT * FROM {parquet})),
                                      (SELECT count(*) FROM (SELECT * FROM {parquet}
                                                            EXCEPT ALL SELECT * FROM {spec.entity}))
                            """,
        )
        assert differ == (0, 0), spec.entity


# --------------------------------------------------------------------------- believable


def test_desktop_dips_and_mobile_lifts_at_weekends(large_con: duckdb.DuckDBPyConnection) -> None:
    ratios = dict(
        large_con.execute("""
        SELECT device,
               (count(*) FILTER (WHERE isodow(occurred_at) >= 6) / 2.0)
               / (count(*) FILTER (WHERE isodow(occurred_at) < 6) / 5.0)
        FROM interactions WHERE interaction_type = 'visit' GROUP BY device""").fetchall()
    )
    assert ratios["desktop"] < 0.8
    assert ratios["mobile"] > 1.0


def test_traffic_grows_and_peaks_before_christmas(large_con: duckdb.DuckDBPyConnection) -> None:
    first, second, peak, rest = _one(
        large_con,
        """
        SELECT count(*) FILTER (WHERE occurred_at < DATE '2025-11-01'),
               count(*) FILTER (WHERE occurred_at >= DATE '2025-11-01'),
               count(*) FILTER (WHERE month(occurred_at) IN (11, 12)
                                AND occurred_at >= DATE '2025-11-01') / 61.0,
               count(*) FILTER (WHERE month(occurred_at) IN (9, 10)
                                AND occurred_at >= DATE '2025-09-01'
                                AND occurred_at < DATE '2025-11-01') / 61.0
        FROM interactions WHERE interaction_type = 'visit'""",
    )
    assert 1.2 < second / first < 1.6
    assert peak > 1.15 * rest


def test_few_users_make_most_purchases(large_con: duckdb.DuckDBPyConnection) -> None:
    top_share = _one(
        large_con,
        """
        WITH per_user AS (SELECT u.user_id, count(i.order_id) AS orders
                          FROM users u LEFT JOIN interactions i USING (user_id)
                          GROUP BY u.user_id),
             ranked AS (SELECT orders, row_number() OVER (ORDER BY orders DESC) AS r,
                               count(*) OVER () AS n FROM per_user)
        SELECT sum(orders) FILTER (WHERE r <= n / 10) / sum(orders) FROM ranked""",
    )[0]
    assert top_share > 0.5


def test_conversion_differs_by_device_and_channel(large_con: duckdb.DuckDBPyConnection) -> None:
    def conversion(column: str) -> dict[str, float]:
        return dict(
            large_con.execute(f"""
            SELECT {column}, count(order_id) / count(*) FILTER (WHERE interaction_type = 'visit')
            FROM interactions WHERE occurred_at < DATE '2026-03-01' GROUP BY {column}
        """).fetchall()
        )

    device, channel = conversion("device"), conversion("channel")
    assert device["mobile"] < 0.7 * device["desktop"]
    assert min(channel["Email"], channel["Direct"]) > max(
        channel["Social Paid"], channel["Display"]
    )


def test_paid_signups_follow_spend(large_con: duckdb.DuckDBPyConnection) -> None:
    correlation = _one(
        large_con,
        """
        WITH spend AS (SELECT date, channel, sum(spend) AS spend FROM marketing_spend
                       WHERE channel IN ('Social Paid', 'Paid Search') GROUP BY ALL),
             signups AS (SELECT signup_date AS date, acquisition_channel AS channel,
                                count(*) AS n FROM users GROUP BY ALL)
        SELECT corr(spend, coalesce(n, 0))
        FROM spend LEFT JOIN signups USING (date, channel)""",
    )[0]
    assert correlation > 0.5
    ctr_low, ctr_high = _one(
        large_con,
        """
        SELECT min(ctr), max(ctr) FROM (SELECT sum(clicks) / sum(impressions) AS ctr
                                        FROM marketing_spend WHERE channel <> 'Email'
                                        GROUP BY campaign_id)""",
    )
    assert 0.004 < ctr_low and ctr_high < 0.035


# --------------------------------------------------------------------------- stories


def test_stories_have_the_documented_default_dates(small: GenerateSummary) -> None:
    assert small.stories == STORIES == planted_stories(date(2026, 10, 31))
    outage, dip, spike = STORIES
    assert (outage.start, outage.end, outage.device) == (date(2025, 9, 17),) * 2 + ("tablet",)
    assert (dip.start, dip.end, dip.device) == (date(2026, 3, 1), date(2026, 3, 31), "mobile")
    assert (spike.start, spike.end) == (date(2026, 6, 10), date(2026, 6, 16))
    moved = planted_stories(date(2027, 10, 31))
    assert [s.start for s in moved] == [date(2026, 9, 17), date(2027, 3, 1), date(2027, 6, 10)]


def test_tablet_outage_day_has_no_tablet_rows(large_con: duckdb.DuckDBPyConnection) -> None:
    day = STORIES[0].start
    rows = dict(
        large_con.execute(
            """
        SELECT CAST(occurred_at AS DATE), count(*) FROM interactions
        WHERE device = 'tablet' AND CAST(occurred_at AS DATE) BETWEEN ? AND ?
        GROUP BY ALL""",
            [day - timedelta(days=7), day + timedelta(days=7)],
        ).fetchall()
    )
    assert day not in rows
    around = [rows.get(day + timedelta(days=offset), 0) for offset in (-7, -1, 1, 7)]
    assert min(around) > 15 and sum(around) > 150  # a normal day has ~50-100 tablet rows
    desktop = _one(
        large_con,
        "SELECT count(*) FROM interactions WHERE device = 'desktop' "
        "AND CAST(occurred_at AS DATE) = ?",
        [day],
    )[0]
    assert desktop > 200


def test_mobile_checkout_conversion_dips_for_one_month(
    large_con: duckdb.DuckDBPyConnection,
) -> None:
    dip = STORIES[1]
    rate = {
        (device, bool(in_dip)): value
        for device, in_dip, value in large_con.execute(
            """
        SELECT device, occurred_at >= ? AND occurred_at < ? + INTERVAL 1 DAY,
               count(*) FILTER (WHERE interaction_type = 'purchase')
               / count(*) FILTER (WHERE interaction_type = 'checkout')
        FROM interactions
        WHERE occurred_at >= DATE '2026-01-01' AND occurred_at < DATE '2026-06-01'
        GROUP BY ALL""",
            [dip.start, dip.end],
        ).fetchall()
    }
    assert rate["mobile", True] < 0.75 * rate["mobile", False]
    assert rate["desktop", True] > 0.9 * rate["desktop", False]
    orders_per_visit = dict(
        large_con.execute("""
        SELECT month(occurred_at), count(order_id) / count(*) FILTER (WHERE interaction_type =
                                                                      'visit')
        FROM interactions WHERE device = 'mobile' AND occurred_at >= DATE '2026-02-01'
          AND occurred_at < DATE '2026-05-01' GROUP BY ALL""").fetchall()
    )
    assert orders_per_visit[3] < 0.8 * (orders_per_visit[2] + orders_per_visit[4]) / 2


def test_spike_campaign_spends_five_times_as_much_for_a_week(
    large_con: duckdb.DuckDBPyConnection,
) -> None:
    spike = STORIES[2]
    name, start, end = _one(
        large_con,
        "SELECT name, start_date, end_date FROM campaigns WHERE campaign_id = ?",
        [spike.campaign_id],
    )
    assert name.startswith("Summer flash sale") and start < spike.start and end > spike.end
    week = "date BETWEEN ? AND ?"
    spend_week, spend_usual = _one(
        large_con,
        f"""
        SELECT avg(spend) FILTER (WHERE {week}), avg(spend) FILTER (WHERE NOT ({week}))
        FROM marketing_spend WHERE campaign_id = ?""",
        [spike.start, spike.end] * 2 + [spike.campaign_id],
    )
    assert 3.5 < spend_week / spend_usual < 7
    week = "CAST(occurred_at AS DATE) BETWEEN ? AND ?"
    visits_week, visits_usual = _one(
        large_con,
        f"""
        SELECT count(*) FILTER (WHERE {week}) / 7.0,
               count(*) FILTER (WHERE NOT ({week})) / ({(end - start).days + 1} - 7.0)
        FROM interactions WHERE campaign_id = ? AND interaction_type = 'visit'""",
        [spike.start, spike.end] * 2 + [spike.campaign_id],
    )
    assert 2 < visits_week / visits_usual < 4.5


def test_stories_follow_another_end_date(tmp_path: Path) -> None:
    # The spike campaign then starts in December, next to the fixed holiday campaigns.
    summary = generate(tmp_path, 5_000, end_date=date(2027, 5, 15), years=3)
    outage, _, spike = summary.stories
    assert summary.start_date == date(2024, 5, 16)
    assert spike.campaign_id == "SP-2612-01"
    con = _connect(tmp_path)
    assert _one(con, "SELECT name FROM campaigns WHERE campaign_id = ?", [spike.campaign_id])[
        0
    ].startswith("Summer flash sale")
    assert (
        _one(
            con,
            "SELECT count(*) FROM interactions WHERE device = 'tablet' "
            "AND CAST(occurred_at AS DATE) = ?",
            [outage.start],
        )[0]
        == 0
    )


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"interactions": 999}, "interactions must be at least 1,000"),
        ({"fmt": "xlsx"}, "format must be one of parquet, csv"),
        ({"seed": -1}, "seed must be a non-negative whole number"),
        ({"years": 1}, "years must be a whole number from 2 to 10"),
    ],
)
def test_bad_arguments_raise_a_clear_data_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        generate(tmp_path / "out", **{"interactions": 5_000, **kwargs})
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_unwritable_output_raises_a_data_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for target in (blocker, blocker / "below"):
        with pytest.raises(DataError, match="output directory"):
            generate(target, 5_000)


def test_a_crash_midway_leaves_no_complete_looking_file(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []

    def crash_halfway(step: str, fraction: float) -> None:
        seen.append((step, fraction))
        if step == "interactions" and fraction >= 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, 5_000, progress=crash_halfway)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "campaigns.parquet",
        "channels.parquet",
        "products.parquet",
        "users.parquet",
    ]
    fractions = [f for step, f in seen if step == "interactions"]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] < 1
