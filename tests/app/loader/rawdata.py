"""A small hand-written raw dataset in the demo project's raw layout, for loader and gate tests."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

from app.loader.demo_project import RAW_FILES, write_project

CHANNELS = [
    {"channel": "Direct", "channel_group": "Direct", "is_paid": "false"},
    {"channel": "Email", "channel_group": "Email", "is_paid": "false"},
    {"channel": "Paid Search", "channel_group": "Paid Search", "is_paid": "true"},
]
USERS = [
    {
        "user_id": i,
        "signup_date": f"2026-0{1 + i % 3}-1{i % 10}",
        "country": c,
        "region": r,
        "device": d,
        "acquisition_channel": ch,
        "segment": "consumer",
        "age_band": "25-34",
        "email": f"user{i}@example.com",
        "is_internal": "false",
    }
    for i, (c, r, d, ch) in enumerate(
        [
            ("DE", "EMEA", "desktop", "Direct"),
            ("FR", "EMEA", "mobile", "Email"),
            ("US", "AMER", "mobile", "Paid Search"),
            ("JP", "APAC", "tablet", "Direct"),
        ],
        start=1,
    )
]
PRODUCTS = [
    {
        "sku": "SKU-1",
        "name": "Trail shoe",
        "category": "Shoes",
        "subcategory": "Running",
        "brand": "Acme",
        "list_price": "120.0",
        "launched_on": "2024-03-01",
    },
    {
        "sku": "SKU-2",
        "name": "Rain jacket",
        "category": "Apparel",
        "subcategory": "Outerwear",
        "brand": "Borealis",
        "list_price": "80.5",
        "launched_on": "2023-09-15",
    },
]
CAMPAIGNS = [
    {
        "campaign_id": "CMP-1",
        "name": "Spring search",
        "channel": "Paid Search",
        "objective": "acquisition",
        "start_date": "2026-03-01",
        "end_date": "2026-03-31",
    },
]


def interactions(days: int = 10, end: date = date(2026, 3, 20)) -> list[dict]:
    """Each user visits daily; user 1 buys SKU-1 every other day."""
    rows: list[dict] = []
    event = 0
    for d in range(days):
        day = end - timedelta(days=days - 1 - d)
        for user in USERS:
            uid = user["user_id"]
            session = d * 100 + uid
            at = datetime(day.year, day.month, day.day, 9 + uid)
            channel = "Paid Search" if uid == 3 else "Direct"
            campaign = "CMP-1" if uid == 3 else ""
            for step, kind in enumerate(("visit", "product_view")):
                event += 1
                rows.append(
                    {
                        "event_id": event,
                        "occurred_at": f"{at + timedelta(minutes=step)}",
                        "user_id": uid,
                        "sku": "SKU-1" if kind != "visit" else "",
                        "channel": channel,
                        "campaign_id": campaign,
                        "session_id": session,
                        "order_id": "",
                        "interaction_type": kind,
                        "device": user["device"],
                        "quantity": 0,
                        "revenue": 0.0,
                    }
                )
            if uid == 1 and d % 2 == 0:
                event += 1
                rows.append(
                    {
                        "event_id": event,
                        "occurred_at": f"{at + timedelta(minutes=5)}",
                        "user_id": uid,
                        "sku": "SKU-1",
                        "channel": channel,
                        "campaign_id": "",
                        "session_id": session,
                        "order_id": 1000 + d,
                        "interaction_type": "purchase",
                        "device": user["device"],
                        "quantity": 1,
                        "revenue": 120.0,
                    }
                )
    return rows


def spend(days: int = 10, end: date = date(2026, 3, 20)) -> list[dict]:
    return [
        {
            "date": f"{end - timedelta(days=days - 1 - d)}",
            "campaign_id": "CMP-1",
            "channel": "Paid Search",
            "spend": 50.0,
            "impressions": 1000,
            "clicks": 20,
        }
        for d in range(days)
    ]


def tables() -> dict[str, list[dict]]:
    """Entity name → rows, in the raw contract."""
    return {
        "channels": CHANNELS,
        "users": USERS,
        "products": PRODUCTS,
        "campaigns": CAMPAIGNS,
        "interactions": interactions(),
        "marketing_spend": spend(),
    }


def write_csv(directory: Path, data: dict[str, list[dict]] | None = None) -> Path:
    """Write the dataset as six CSV files and the demo's pipeline project; returns the
    directory."""
    directory.mkdir(parents=True, exist_ok=True)
    data = data or tables()
    for spec in RAW_FILES:
        rows = data[spec.entity]
        columns = list(rows[0]) if rows else list(spec.names)
        with (directory / f"{spec.entity}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    write_project(directory, "csv")
    return directory
