"""A second, differently shaped star schema: store support tickets and staffing.

Nothing like the demo: facts and dimensions are ``f_*``/``d_*``, the ticket fact has a
composite primary key (ticket_id, event_seq) and integer surrogate date keys into its
own calendar (time through ``d_calendar.cal_date``), the staffing fact has its own
TIMESTAMP time column, stores are snowflaked (store → city → country), and some
foreign keys are NULL (events without store or agent, a store without city, a city
without country). Data is small and deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from queries.semantic.model import load_model
from queries.semantic.types import SemanticModel

MODEL_PATH = Path(__file__).parent / "models" / "support.yaml"
FIRST_DAY = date(2025, 10, 1)
LAST_DAY = date(2026, 3, 31)
TRICKY_STORE = "Smith's, Main St"  # a quote and a comma: must survive parsing and binding

# table → [(column, portable SQL type)], then its primary key
SCHEMA: dict[str, tuple[list[tuple[str, str]], tuple[str, ...]]] = {
    "d_country": (
        [("iso", "VARCHAR"), ("country_label", "VARCHAR"), ("continent", "VARCHAR")],
        ("iso",),
    ),
    "d_city": (
        [("city_ref", "INTEGER"), ("city_label", "VARCHAR"), ("country_iso", "VARCHAR")],
        ("city_ref",),
    ),
    "d_store": (
        [
            ("store_ref", "INTEGER"),
            ("store_label", "VARCHAR"),
            ("city_ref", "INTEGER"),
            ("floors", "INTEGER"),
            ("is_flagship", "BOOLEAN"),
            ("opened_on", "DATE"),
        ],
        ("store_ref",),
    ),
    "d_agent": (
        [
            ("agent_no", "INTEGER"),
            ("agent_name", "VARCHAR"),
            ("team", "VARCHAR"),
            ("hired_on", "DATE"),
        ],
        ("agent_no",),
    ),
    "d_calendar": (
        [
            ("cal_key", "INTEGER"),
            ("cal_date", "DATE"),
            ("cal_year", "INTEGER"),
            ("cal_month", "INTEGER"),
            ("weekday", "INTEGER"),
        ],
        ("cal_key",),
    ),
    "f_ticket_event": (
        [
            ("ticket_id", "INTEGER"),
            ("event_seq", "INTEGER"),
            ("event_cal_key", "INTEGER"),
            ("store_ref", "INTEGER"),
            ("agent_no", "INTEGER"),
            ("channel", "VARCHAR"),
            ("event_kind", "VARCHAR"),
            ("minutes_spent", "INTEGER"),
            ("satisfaction", "INTEGER"),
            ("handover_agent_no", "INTEGER"),  # joined to d_agent again, as a role
        ],
        ("ticket_id", "event_seq"),
    ),
    "f_staffing": (
        [
            ("shift_id", "INTEGER"),
            ("store_ref", "INTEGER"),
            ("shift_start", "TIMESTAMP"),
            ("hours", "DOUBLE PRECISION"),
            ("staff_count", "INTEGER"),
        ],
        ("shift_id",),
    ),
    # a balance (semi-additive) fact: open tickets per store per day, with gaps
    "f_backlog": (
        [
            ("snapshot_id", "INTEGER"),
            ("store_ref", "INTEGER"),
            ("snapshot_day", "DATE"),
            ("open_tickets", "INTEGER"),
        ],
        ("snapshot_id",),
    ),
}
BACKLOG_FIRST_DAY = date(2024, 10, 1)  # a longer history than tickets: a year-ago exists
_ARROW = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE PRECISION": pa.float64(),
}


@dataclass(frozen=True)
class SupportData:
    """Rows of every table, as tuples in SCHEMA column order."""

    tables: dict[str, list[tuple]]


def _day_key(day: date) -> int:
    """yyyymmdd surrogate key."""
    return day.year * 10000 + day.month * 100 + day.day


def build_rows(seed: int = 20260101) -> SupportData:
    """Deterministic rows for the support schema (~2,000 events, ~1,200 shifts)."""
    rng = random.Random(seed)
    countries = [
        ("DE", "Germany", "Europe"),
        ("FR", "France", "Europe"),
        ("US", "United States", "America"),
        ("BR", "Brazil", "America"),
        ("JP", "Japan", "Asia"),
    ]  # JP: no city, no store
    cities = [
        (1, "Berlin", "DE"),
        (2, "Munich", "DE"),
        (3, "Paris", "FR"),
        (4, "Austin", "US"),
        (5, "Boston", "US"),
        (6, "São Paulo", "BR"),
        (7, "Atlantis", None),
    ]
    stores = [
        (101, "Berlin Mitte", 1, 3, True, date(2019, 5, 1)),
        (102, "Berlin Ost", 1, 1, False, date(2021, 2, 15)),
        (103, "Munich Central", 2, 2, True, date(2018, 9, 1)),
        (104, "Paris Opéra", 3, 4, True, date(2017, 3, 20)),
        (105, "Austin Downtown", 4, 1, False, date(2022, 6, 1)),
        (106, TRICKY_STORE, 5, 2, False, date(2020, 1, 10)),
        (107, "São Paulo Sul", 6, 2, False, date(2023, 4, 4)),
        (108, "Pop-up", None, 1, False, date(2025, 11, 1)),  # no city; tickets, no shifts
        (109, "Outlet", 7, 1, False, date(2024, 8, 8)),  # city without country
        (110, "Paris Nord", 3, 1, False, date(2025, 9, 1)),  # shifts, no tickets
    ]
    teams = ("Tier 1", "Tier 2", "Escalations")
    agents = [
        (n, f"Agent {n:02d}", teams[n % 3], date(2020 + n % 5, 1 + n % 12, 1)) for n in range(1, 13)
    ]
    calendar = []
    day = date(2025, 1, 1)
    while day <= date(2026, 12, 31):
        calendar.append((_day_key(day), day, day.year, day.month, day.isoweekday()))
        day += timedelta(days=1)

    ticket_stores = [101, 102, 103, 104, 105, 106, 107, 108, 109]
    weights = [9, 4, 6, 7, 5, 3, 2, 1, 1]
    channels = ("email", "chat", "phone", "walk in")
    span = (LAST_DAY - FIRST_DAY).days
    events = []
    for ticket_id in range(1, 701):
        opened = FIRST_DAY + timedelta(days=rng.randrange(span + 1))
        store = None if rng.random() < 0.05 else rng.choices(ticket_stores, weights)[0]
        channel = rng.choice(channels)
        kinds = ["opened"] + ["replied"] * rng.randrange(0, 3)
        if rng.random() < 0.75:
            kinds.append("resolved")
            if rng.random() < 0.1:
                kinds += ["reopened", "resolved"]
        day = opened
        for seq, kind in enumerate(kinds, start=1):
            day = min(day + timedelta(days=rng.randrange(0, 4) if seq > 1 else 0), LAST_DAY)
            agent = None if rng.random() < 0.1 else rng.randrange(1, 13)
            minutes = None if rng.random() < 0.05 else rng.randrange(0, 61)
            csat = rng.randrange(1, 6) if kind == "resolved" and rng.random() < 0.6 else None
            # a third of the events hand over to another agent (no rng: the rows above stay)
            handover = (ticket_id * 5 + seq * 7) % 12 + 1 if (ticket_id + seq) % 3 == 0 else None
            events.append(
                (
                    ticket_id,
                    seq,
                    _day_key(day),
                    store,
                    agent,
                    channel,
                    kind,
                    minutes,
                    csat,
                    handover,
                )
            )

    shifts = []
    shift_id = 0
    for offset in range(span + 1):
        day = FIRST_DAY + timedelta(days=offset)
        for store in (101, 102, 103, 104, 105, 106, 107, 110):
            if day.isoweekday() == 7 and store % 2 == 0:
                continue
            if rng.random() < 0.12:
                continue
            shift_id += 1
            hour = rng.choice((6, 8, 9, 14, 22, 23))
            start = datetime(day.year, day.month, day.day, hour, rng.choice((0, 30)))
            shifts.append(
                (shift_id, store, start, rng.choice((4.0, 6.5, 8.0, 7.25)), rng.randrange(1, 5))
            )
    backlog = _backlog_rows(random.Random(seed + 1))
    return SupportData(
        tables={
            "d_country": countries,
            "d_city": cities,
            "d_store": stores,
            "d_agent": agents,
            "d_calendar": calendar,
            "f_ticket_event": events,
            "f_staffing": shifts,
            "f_backlog": backlog,
        }
    )


def _backlog_rows(rng: random.Random) -> list[tuple]:
    """Open tickets per store per day; a store misses ~1 day in 10, no store reports on
    31 January 2026 (January's last day with data is the 30th), 106 stops on 20 March."""
    rows = []
    day = BACKLOG_FIRST_DAY
    while day <= LAST_DAY:
        for store in (101, 103, 106):  # fewer rows than the ticket events (the main fact)
            gap = day == date(2026, 1, 31) or (store == 106 and day >= date(2026, 3, 20))
            if not gap and rng.random() >= 0.1:
                rows.append((len(rows) + 1, store, day, rng.randrange(0, 40)))
        day += timedelta(days=1)
    return rows


def _ddl(table: str, schema: str | None = None) -> str:
    """CREATE TABLE for one table of SCHEMA."""
    columns, key = SCHEMA[table]
    name = f"{schema}.{table}" if schema else table
    body = ", ".join(f"{c} {t}" for c, t in columns)
    return f"CREATE TABLE {name} ({body}, PRIMARY KEY ({', '.join(key)}))"


def create_duckdb(path: Path, data: SupportData | None = None) -> Path:
    """Write the support schema into a new DuckDB file at ``path``."""
    data = data or build_rows()
    con = duckdb.connect(str(path))
    try:
        for table, rows in data.tables.items():
            columns, _ = SCHEMA[table]
            con.execute(_ddl(table))
            arrow = pa.table(
                {
                    c: pa.array([r[i] for r in rows], type=_ARROW[t])
                    for i, (c, t) in enumerate(columns)
                }
            )
            con.register("rows_in", arrow)
            con.execute(f"INSERT INTO {table} SELECT * FROM rows_in")
            con.unregister("rows_in")
    finally:
        con.close()
    return path


def copy_to_postgres(duckdb_path: Path, engine: sa.Engine, schema: str) -> None:
    """Copy every table of the DuckDB file into a new PostgreSQL ``schema``."""
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            for table, (columns, _) in SCHEMA.items():
                conn.exec_driver_sql(_ddl(table, f'"{schema}"'))
                names = [c for c, _ in columns]
                rows = con.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
                target = sa.table(table, *(sa.column(n) for n in names), schema=schema)
                conn.execute(target.insert(), [dict(zip(names, r, strict=True)) for r in rows])
    finally:
        con.close()


def support_model() -> SemanticModel:
    """The support schema's semantic model, loaded from its YAML file."""
    return load_model(MODEL_PATH)
