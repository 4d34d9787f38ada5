"""The raw-file contract: what `starboard generate` writes and `starboard load` reads.

Six files, CSV or Parquet, named ``<entity>.csv`` or ``<entity>.parquet`` in one
directory. Natural keys only; the loader assigns surrogate keys. Column order in a CSV
does not matter, names do: a missing or unexpected column is an error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawColumn:
    name: str
    type: str  # DuckDB type the loader casts to
    nullable: bool = False


@dataclass(frozen=True)
class RawFile:
    entity: str
    columns: tuple[RawColumn, ...]
    natural_key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(*specs: str) -> tuple[RawColumn, ...]:
    out = []
    for spec in specs:
        name, type_ = spec.split(":")
        nullable = type_.endswith("?")
        out.append(RawColumn(name, type_.rstrip("?"), nullable))
    return tuple(out)


CHANNELS = RawFile(
    "channels", _cols("channel:VARCHAR", "channel_group:VARCHAR", "is_paid:BOOLEAN"), ("channel",)
)

USERS = RawFile(
    "users",
    _cols(
        "user_id:BIGINT",
        "signup_date:DATE",
        "country:VARCHAR",
        "region:VARCHAR",
        "device:VARCHAR",
        "acquisition_channel:VARCHAR",
        "segment:VARCHAR",
        "age_band:VARCHAR",
        "email:VARCHAR",
        "is_internal:BOOLEAN",
    ),
    ("user_id",),
)

PRODUCTS = RawFile(
    "products",
    _cols(
        "sku:VARCHAR",
        "name:VARCHAR",
        "category:VARCHAR",
        "subcategory:VARCHAR",
        "brand:VARCHAR",
        "list_price:DOUBLE",
        "launched_on:DATE",
    ),
    ("sku",),
)

CAMPAIGNS = RawFile(
    "campaigns",
    _cols(
        "campaign_id:VARCHAR",
        "name:VARCHAR",
        "channel:VARCHAR",
        "objective:VARCHAR",
        "start_date:DATE",
        "end_date:DATE",
    ),
    ("campaign_id",),
)

INTERACTIONS = RawFile(
    "interactions",
    _cols(
        "event_id:BIGINT",
        "occurred_at:TIMESTAMP",
        "user_id:BIGINT",
        "sku:VARCHAR?",
        "channel:VARCHAR",
        "campaign_id:VARCHAR?",
        "session_id:BIGINT",
        "order_id:BIGINT?",
        "interaction_type:VARCHAR",
        "device:VARCHAR",
        "quantity:INTEGER",
        "revenue:DOUBLE",
    ),
    ("event_id",),
)

MARKETING_SPEND = RawFile(
    "marketing_spend",
    _cols(
        "date:DATE",
        "campaign_id:VARCHAR",
        "channel:VARCHAR",
        "spend:DOUBLE",
        "impressions:BIGINT",
        "clicks:BIGINT",
    ),
    ("date", "campaign_id"),
)

RAW_FILES: tuple[RawFile, ...] = (
    CHANNELS,
    USERS,
    PRODUCTS,
    CAMPAIGNS,
    INTERACTIONS,
    MARKETING_SPEND,
)

INTERACTION_TYPES = (
    "visit",
    "product_view",
    "add_to_cart",
    "checkout",
    "purchase",
    "email_sent",
    "email_open",
    "email_click",
)
DEVICES = ("desktop", "mobile", "tablet")
