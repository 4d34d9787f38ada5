"""A small flights warehouse unlike the demo: other names, no calendar table, a DATE time
column, text keys, and two columns (origin, dest) that both point to airports.

``create_duckdb`` declares no keys at all (``starboard init`` must infer them from the data);
``create_postgres`` declares primary and foreign keys. Rows are deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import sqlalchemy as sa

FIRST_DAY = date(2026, 1, 1)
DAYS = 120  # 2026-01-01 … 2026-04-30

COLUMNS: dict[str, list[tuple[str, str]]] = {
    "carriers": [("code", "VARCHAR"), ("name", "VARCHAR")],
    "airports": [("faa", "VARCHAR"), ("name", "VARCHAR"), ("tz", "VARCHAR")],
    "planes": [("tailnum", "VARCHAR"), ("seats", "INTEGER"), ("manufacturer", "VARCHAR")],
    "flights": [
        ("id", "INTEGER"),
        ("flew_on", "DATE"),
        ("carrier_code", "VARCHAR"),
        ("origin", "VARCHAR"),
        ("dest", "VARCHAR"),
        ("plane_tailnum", "VARCHAR"),
        ("distance", "INTEGER"),
        ("dep_delay_minutes", "INTEGER"),
    ],
}
KEYS = {"carriers": "code", "airports": "faa", "planes": "tailnum", "flights": "id"}
FOREIGN = [  # (column of flights, table, column)
    ("carrier_code", "carriers", "code"),
    ("origin", "airports", "faa"),
    ("dest", "airports", "faa"),
    ("plane_tailnum", "planes", "tailnum"),
]


@dataclass(frozen=True)
class Flights:
    tables: dict[str, list[tuple]]


def build_rows(seed: int = 7, flights: int = 3000, orphans: bool = True) -> Flights:
    """Rows of every table; ``orphans``: 1% of plane_tailnum values have no plane."""
    rng = np.random.default_rng(seed)
    carriers = [
        ("AA", "American"),
        ("DL", "Delta"),
        ("UA", "United"),
        ("WN", "Southwest"),
        ("B6", "JetBlue"),
        ("AS", "Alaska"),
    ]
    zones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
    codes = ["JFK", "LGA", "EWR", "BOS", "ORD", "MDW", "DEN", "LAX", "SFO", "SEA", "ATL", "DFW"]
    airports = [(c, f"{c} International", zones[i % 4]) for i, c in enumerate(codes)]
    makers = ["Airbus", "Boeing", "Embraer"]
    planes = [
        (f"N{100 + i}XY", int(rng.choice([76, 150, 180, 220])), makers[i % 3]) for i in range(40)
    ]
    rows = []
    weights = np.array([5, 4, 4, 3, 2, 1], dtype=float)
    for i in range(1, flights + 1):
        day = FIRST_DAY + timedelta(days=int(rng.integers(0, DAYS)))
        carrier = carriers[int(rng.choice(len(carriers), p=weights / weights.sum()))][0]
        origin, dest = (codes[int(j)] for j in rng.choice(len(codes), size=2, replace=False))
        roll = rng.random()
        if roll < 0.04:
            tail = None
        elif orphans and roll < 0.05:
            tail = f"N{900 + i % 7}ZZ"  # a plane missing from planes
        else:
            tail = planes[int(rng.integers(0, len(planes)))][0]
        distance = int(rng.integers(150, 2600))
        delay = None if rng.random() < 0.03 else int(rng.normal(12, 25))
        rows.append((i, day, carrier, origin, dest, tail, distance, delay))
    return Flights({"carriers": carriers, "airports": airports, "planes": planes, "flights": rows})


def create_duckdb(path: Path, data: Flights | None = None) -> Path:
    """The flights warehouse in a new DuckDB file, without any declared key."""
    data = data or build_rows()
    con = duckdb.connect(str(path))
    try:
        for table, columns in COLUMNS.items():
            con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
            marks = ", ".join("?" for _ in columns)
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", data.tables[table])
    finally:
        con.close()
    return path


def create_postgres(engine: sa.Engine, schema: str, data: Flights | None = None) -> None:
    """The flights warehouse in an existing PostgreSQL ``schema``, keys declared."""
    data = data or build_rows(orphans=False)
    with engine.begin() as conn:
        for table, columns in COLUMNS.items():
            body = [f"{c} {t}" for c, t in columns] + [f"PRIMARY KEY ({KEYS[table]})"]
            if table == "flights":
                body += [f"FOREIGN KEY ({c}) REFERENCES {schema}.{t} ({k})" for c, t, k in FOREIGN]
            conn.exec_driver_sql(f"CREATE TABLE {schema}.{table} ({', '.join(body)})")
            names = [c for c, _ in columns]
            target = sa.table(table, *(sa.column(n) for n in names), schema=schema)
            conn.execute(
                target.insert(), [dict(zip(names, r, strict=True)) for r in data.tables[table]]
            )
