"""Deterministic demo data: the six raw files of the demo project (``app.loader.demo_project``),
with planted stories.

Everything is drawn from one ``numpy.random.default_rng(seed)`` in a fixed order and is
vectorised; Python loops run over months, days of the week, channels and campaigns only.

How the shop works, in the order the generator builds it:

* Campaigns run on the paid channels and on Email; a campaign's daily weight is its
  budget while it runs. Web traffic is split into *slots* (one per channel with no
  campaign, one per campaign) and each day's slot intensity follows growth, yearly and
  weekly seasonality and, for paid slots, the campaign weights. Sessions and signups are
  drawn from those intensities, so paid signups follow paid spend.
* Users: a base of older users plus signups over the window, each with a first session on
  the signup day through its acquisition channel. Returning sessions pick a user with
  probability activity (Pareto) x device-by-weekday affinity x retention (decays with
  months since signup).
* Each web session emits ``visit``, then ``product_view`` (Zipf products), ``add_to_cart``,
  ``checkout``, ``purchase`` with drop-offs by device, channel and user propensity. The
  cart, checkout and purchase rows carry the cart's sku and quantity; only purchases carry
  ``order_id`` and revenue (list price x quantity, minus an occasional discount). Visits,
  product views and email rows have quantity 0 and revenue 0.
* Email campaigns send on fixed days; each message is its own session
  (``email_sent`` → ``email_open`` → ``email_click``) and every click opens a web session on
  channel Email with that campaign.
* ``marketing_spend`` has one row per campaign per running day: paid clicks are the
  campaign's expected visits over a landing rate, impressions follow a per-campaign CTR,
  spend is clicks x CPC; email rows count messages sent and clicks drawn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from app.core.errors import DataError
from app.loader import demo_project as rawspec

DEFAULT_END_DATE = date(2026, 10, 31)
FORMATS = ("parquet", "csv")
MIN_INTERACTIONS = 1_000

# progress(step, fraction): steps "dimensions", "interactions" (once per month written),
# "marketing_spend"; fraction runs from 0 to 1 within each step.
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Story:
    """A pattern planted in the demo data for the analysis features to find."""

    name: str
    description: str
    start: date
    end: date
    device: str | None
    campaign_id: str | None


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate`` wrote: row counts per entity, timing, window and stories."""

    out_dir: Path
    rows: dict[str, int]
    seconds: float
    start_date: date
    end_date: date
    stories: tuple[Story, ...]


# --------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class _Channel:
    name: str
    group: str
    is_paid: bool
    code: str
    acquisition: float  # share of signups
    returning: float  # share of returning sessions
    cart: float  # add-to-cart multiplier
    cpc: float  # cost per click, paid channels only
    ctr: tuple[float, float]  # click-through-rate range, paid channels only


_CHANNELS = (
    _Channel("Organic Search", "Organic", False, "OS", 0.30, 0.26, 1.00, 0.0, (0, 0)),
    _Channel("Paid Search", "Paid Search", True, "PS", 0.20, 0.16, 1.10, 0.55, (0.020, 0.030)),
    _Channel("Social Paid", "Paid Social", True, "SP", 0.15, 0.10, 0.70, 0.40, (0.009, 0.015)),
    _Channel("Social Organic", "Organic Social", False, "SO", 0.08, 0.07, 0.75, 0.0, (0, 0)),
    _Channel("Email", "Email", False, "EM", 0.00, 0.01, 1.50, 0.0, (0, 0)),
    _Channel("Direct", "Direct", False, "DR", 0.15, 0.25, 1.35, 0.0, (0, 0)),
    _Channel("Affiliate", "Partners", True, "AF", 0.08, 0.06, 1.20, 0.70, (0.015, 0.025)),
    _Channel("Display", "Display", True, "DI", 0.04, 0.04, 0.55, 0.40, (0.005, 0.008)),
)
_CH = {c.name: i for i, c in enumerate(_CHANNELS)}
_EMAIL = _CH["Email"]
_PAID_SLOT_BASE = 0.1  # share of a paid channel's traffic that carries no campaign

_COUNTRIES = (  # ISO code, region, share of users
    ("US", "AMER", 0.27),
    ("CA", "AMER", 0.05),
    ("BR", "AMER", 0.05),
    ("MX", "AMER", 0.03),
    ("GB", "EMEA", 0.10),
    ("DE", "EMEA", 0.10),
    ("FR", "EMEA", 0.08),
    ("ES", "EMEA", 0.04),
    ("NL", "EMEA", 0.03),
    ("JP", "APAC", 0.08),
    ("AU", "APAC", 0.06),
    ("IN", "APAC", 0.11),
)
_SEGMENTS = (("consumer", 0.80), ("small_business", 0.15), ("enterprise", 0.05))
_AGE_BANDS = (
    ("18-24", 0.16),
    ("25-34", 0.29),
    ("35-44", 0.23),
    ("45-54", 0.16),
    ("55-64", 0.10),
    ("65+", 0.06),
)

DEVICES = rawspec.DEVICES
_DESKTOP, _MOBILE, _TABLET = (DEVICES.index(d) for d in ("desktop", "mobile", "tablet"))
_DEVICE_MIX = np.array([0.45, 0.45, 0.10])  # primary device of users
_SWITCH_MIX = np.array([0.40, 0.45, 0.15])  # device of a session off the user's own
_STAY_ON_DEVICE = 0.85
# Affinity of a device's users to visit on each weekday (Mon..Sun): desktop dips at the
# weekend, mobile and tablet lift.
_DEVICE_WEEKDAY = np.array(
    [
        [1.08, 1.10, 1.10, 1.06, 1.00, 0.72, 0.70],
        [0.94, 0.94, 0.95, 0.96, 1.02, 1.22, 1.26],
        [0.92, 0.92, 0.92, 0.94, 1.00, 1.25, 1.30],
    ]
)
_WEEKDAY_VOLUME = np.array([1.00, 1.02, 1.01, 0.99, 0.95, 0.87, 0.91])
_HOURS = np.array(
    [  # sessions by hour of day
        [1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 13, 13, 12, 12, 13, 13, 12, 10, 8, 7, 6, 5, 3, 2],
        [2, 1, 1, 1, 1, 2, 4, 7, 8, 7, 7, 8, 10, 9, 7, 7, 8, 9, 11, 13, 14, 13, 9, 5],
        [1, 1, 0.5, 0.5, 0.5, 1, 2, 4, 5, 5, 5, 6, 7, 6, 5, 5, 6, 8, 11, 14, 15, 13, 8, 4],
    ],
    dtype=float,
)
_HOURS /= _HOURS.sum(axis=1, keepdims=True)

_GROWTH_PER_YEAR = 1.35
_OLD_USER_SHARE = 0.30
_INTERACTIONS_PER_USER = 40  # ~50k users per 2M interactions
_EMAIL_ROW_SHARE = 0.10

# Funnel by device (desktop, mobile, tablet).
_P_VIEW = np.array([0.72, 0.66, 0.70])
_MEAN_EXTRA_VIEWS = 1.4
_P_CART = np.array([0.13, 0.09, 0.11])
_P_CHECKOUT = np.array([0.58, 0.46, 0.52])
_P_PURCHASE = np.array([0.78, 0.70, 0.74])
_GAP_SECONDS = np.array([0.0, 40.0, 50.0, 70.0, 60.0])  # mean wait before each web step
_TYPES = rawspec.INTERACTION_TYPES
_VISIT, _VIEW, _CART, _CHECKOUT, _PURCHASE, _SENT, _OPEN, _CLICK = range(8)

_DIP_FACTOR = 0.6  # mobile checkout → purchase during the dip month
_SPIKE_VISITS = 3.0
_SPIKE_SPEND = 5.0
_LANDING_RATE = 0.88  # share of paid clicks that land as a session

_CATALOG = (  # category, subcategories, median list price
    ("Electronics", ("Headphones", "Speakers", "Smartwatches", "Chargers", "Cameras"), 139.0),
    ("Home & Kitchen", ("Cookware", "Coffee", "Storage", "Bedding", "Lighting"), 59.0),
    ("Apparel", ("T-shirts", "Jackets", "Jeans", "Sneakers", "Accessories"), 49.0),
    ("Sports & Outdoors", ("Running", "Cycling", "Camping", "Yoga", "Fitness"), 69.0),
    ("Beauty", ("Skincare", "Haircare", "Fragrance", "Makeup"), 29.0),
    ("Toys & Games", ("Board games", "Puzzles", "Building sets", "Outdoor toys"), 35.0),
    ("Books", ("Fiction", "Cookbooks", "Business", "Children"), 18.0),
    ("Garden", ("Tools", "Planters", "Seeds", "Outdoor furniture"), 59.0),
)
_BRANDS = (
    "Northwind",
    "Aurora",
    "Kestrel",
    "Lumen",
    "Bramble",
    "Cobalt",
    "Fjord",
    "Halcyon",
    "Juniper",
    "Marlow",
    "Nimbus",
    "Orchard",
    "Pioneer",
    "Quill",
    "Redwood",
    "Sable",
    "Tidewater",
    "Umbra",
    "Vesper",
    "Willow",
    "Yarrow",
    "Zephyr",
    "Atlas",
    "Beacon",
    "Cedar",
    "Drift",
    "Ember",
    "Foxglove",
    "Granite",
    "Harbor",
)
_BRANDS_PER_CATEGORY = 6
_ZIPF_EXPONENT = 0.9

_THEMES = {  # channel → (campaign themes, objective, duration range in days)
    "Paid Search": (
        ("Category search", "Competitor search", "Shopping ads", "Long-tail search"),
        "conversion",
        (21, 60),
    ),
    "Social Paid": (
        (
            "Lookalike prospecting",
            "Retargeting",
            "Video awareness",
            "Influencer boost",
            "New collection launch",
        ),
        "acquisition",
        (14, 45),
    ),
    "Display": (
        ("Programmatic prospecting", "Display retargeting", "Homepage takeover"),
        "awareness",
        (14, 40),
    ),
    "Affiliate": (
        ("Coupon partners", "Cashback partners", "Review sites"),
        "acquisition",
        (30, 60),
    ),
    "Email": (
        ("Newsletter", "Win-back", "New arrivals", "VIP preview", "Back in stock"),
        "retention",
        (14, 42),
    ),
}
_RANDOM_CAMPAIGN_CHANNELS = (
    ("Paid Search", 0.20),
    ("Social Paid", 0.30),
    ("Display", 0.15),
    ("Affiliate", 0.10),
    ("Email", 0.25),
)
_RANDOM_CAMPAIGNS_PER_YEAR = 23

_EMAIL_OPEN = (0.20, 0.35)
_EMAIL_CLICK = (0.12, 0.28)  # of opens
_EMAIL_COST = 0.002  # per message sent


# --------------------------------------------------------------------------- stories


def _month_shift(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def planted_stories(end_date: date = DEFAULT_END_DATE) -> tuple[Story, ...]:
    """The three stories, dated relative to ``end_date``."""
    outage = end_date - timedelta(days=409)
    dip_start = _month_shift(end_date, -7)
    dip_end = _month_shift(dip_start, 1) - timedelta(days=1)
    spike_start = end_date - timedelta(days=143)
    spike_end = spike_start + timedelta(days=6)
    spike_name = _spike_campaign_name(spike_start)
    return (
        Story(
            "tablet_tracking_outage",
            "Tracking outage: no interactions at all were recorded from tablets that day.",
            outage,
            outage,
            "tablet",
            None,
        ),
        Story(
            "mobile_checkout_dip",
            "Mobile checkout → purchase conversion about 40% below normal for the month; "
            "desktop and tablet unaffected.",
            dip_start,
            dip_end,
            "mobile",
            None,
        ),
        Story(
            "campaign_spike",
            f"'{spike_name}' flash-sale week: about 5x its usual daily spend and 3x its visits.",
            spike_start,
            spike_end,
            None,
            _spike_campaign_id(spike_start),
        ),
    )


def _spike_campaign_name(spike_start: date) -> str:
    return f"Summer flash sale {spike_start.year}"


def _spike_campaign_window(spike_start: date) -> tuple[date, date]:
    return spike_start - timedelta(days=21), spike_start + timedelta(days=20)


def _spike_campaign_id(spike_start: date) -> str:
    # Campaign IDs number campaigns within (channel, start month); the spike campaign first.
    start, _ = _spike_campaign_window(spike_start)
    return f"SP-{start:%y%m}-01"


STORIES: tuple[Story, ...] = planted_stories(DEFAULT_END_DATE)


# --------------------------------------------------------------------------- arguments


def _window(end_date: date, years: int) -> tuple[date, int]:
    after = end_date + timedelta(days=1)
    try:
        start = after.replace(year=after.year - years)
    except ValueError:  # 29 February
        start = date(after.year - years, 3, 1)
    return start, (end_date - start).days + 1


def _check_arguments(
    out_dir: Path, interactions: int, seed: int, fmt: str, end_date: date, years: int
) -> None:
    problems = []
    if isinstance(interactions, bool) or not isinstance(interactions, int | np.integer):
        problems.append(f"interactions must be a whole number, got {interactions!r}")
    elif interactions < MIN_INTERACTIONS:
        problems.append(f"interactions must be at least {MIN_INTERACTIONS:,}, got {interactions:,}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        problems.append(f"seed must be a non-negative whole number, got {seed!r}")
    if fmt not in FORMATS:
        problems.append(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if type(end_date) is not date:  # a datetime would not subtract from a date
        problems.append(f"end_date must be a date, got {end_date!r}")
    if isinstance(years, bool) or not isinstance(years, int) or not 2 <= years <= 10:
        problems.append(
            f"years must be a whole number from 2 to 10 (the planted stories need "
            f"two), got {years!r}"
        )
    if problems:
        raise DataError("Cannot generate demo data: " + "; ".join(problems) + ".")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Cannot generate demo data: cannot create output directory "
            f"{out_dir} ({exc.strerror or exc})."
        ) from exc
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK | os.X_OK):
        raise DataError(
            f"Cannot generate demo data: output directory {out_dir} is not a writable directory."
        )


# --------------------------------------------------------------------------- writing


def _arrow_type(duck_type: str) -> pa.DataType:
    return {
        "VARCHAR": pa.string(),
        "BIGINT": pa.int64(),
        "INTEGER": pa.int32(),
        "DOUBLE": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
        "BOOLEAN": pa.bool_(),
    }[duck_type]


def _schema(spec: rawspec.RawFile) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, _arrow_type(c.type), nullable=c.nullable) for c in spec.columns]
    )


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    # Whole seconds, so the CSV reads "2026-03-01 09:15:02" rather than with microseconds.
    return pa.schema(
        [f.with_type(pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f for f in schema]
    )


class _Sink:
    """One raw file written as ``<name>.tmp`` and renamed into place when complete."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self._writer: pq.ParquetWriter | pacsv.CSVWriter
        # Created private before pyarrow opens it (raw data holds personal data), whatever
        # the process umask; pyarrow truncates the file and keeps its mode.
        os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.chmod(self.tmp, 0o600)
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(
                self.tmp, schema, compression="zstd", compression_level=1, write_statistics=True
            )
        else:
            self._writer = pacsv.CSVWriter(self.tmp, _csv_schema(schema))

    def write(self, columns: dict[str, pa.Array | np.ndarray]) -> None:
        table = pa.Table.from_arrays(
            [pa.array(columns[f.name], type=f.type) for f in self.schema], schema=self.schema
        )
        if self.fmt == "csv":
            table = table.cast(_csv_schema(self.schema))
        self._writer.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> None:
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._writer.close()
        self.tmp.unlink(missing_ok=True)


@contextmanager
def _sink(out_dir: Path, spec: rawspec.RawFile, fmt: str) -> Iterator[_Sink]:
    sink = _Sink(out_dir / f"{spec.entity}.{fmt}", _schema(spec), fmt)
    try:
        yield sink
    except BaseException:
        sink.abort()
        raise
    sink.commit()


def _strings(values: tuple[str, ...] | list[str] | np.ndarray, index: np.ndarray) -> pa.Array:
    """Strings picked by index from a small dictionary; a negative index is NULL."""
    index = np.asarray(index)
    indices = pa.array(index.astype(np.int32), mask=index < 0)
    return pa.array(list(values), type=pa.string()).take(indices)


def _dates(start: date, day_index: np.ndarray) -> pa.Array:
    epoch = (start - date(1970, 1, 1)).days
    return pa.array(np.asarray(day_index, dtype=np.int32) + epoch, type=pa.date32())


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class _Calendar:
    start: date
    n_days: int
    epoch_day: np.ndarray  # days since 1970-01-01
    weekday: np.ndarray  # Monday = 0
    month: np.ndarray  # months since the window's first month
    volume: np.ndarray  # relative daily web traffic: growth x yearly x weekly

    @classmethod
    def build(cls, start: date, n_days: int) -> _Calendar:
        days = np.arange(n_days)
        stamps = np.datetime64(start, "D") + days
        epoch_day = stamps.astype(np.int64)
        weekday = (epoch_day + 3) % 7
        months = stamps.astype("datetime64[M]").astype(np.int64)
        doy = (stamps - stamps.astype("datetime64[Y]")).astype(np.int64)
        growth = _GROWTH_PER_YEAR ** (days / 365.25)
        gap = np.abs(doy - 338)
        gap = np.minimum(gap, 365 - gap)
        yearly = (
            1.0
            + 0.45 * np.exp(-0.5 * (gap / 18.0) ** 2)
            + 0.06 * np.cos(2 * np.pi * (doy - 20) / 365.25)
        )
        volume = growth * yearly * _WEEKDAY_VOLUME[weekday]
        return cls(start, n_days, epoch_day, weekday, months - months[0], volume)

    def index(self, day: date) -> int:
        return (day - self.start).days


# --------------------------------------------------------------------------- campaigns


@dataclass(frozen=True)
class _Campaign:
    name: str
    channel: int
    objective: str
    start: int  # day index, inclusive
    end: int  # day index, inclusive
    budget: float
    send_every: int  # email campaigns: days between sends
    rank: int  # numbering order within a channel and month: 0 spike, 1 fixed, 2 random


def _black_friday(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 21)


def _campaigns(
    cal: _Calendar, stories: tuple[Story, ...], rng: np.random.Generator
) -> tuple[list[_Campaign], list[str]]:
    last = cal.n_days - 1
    out: list[_Campaign] = []

    def add(
        name: str,
        channel: str,
        objective: str,
        first: date,
        final: date,
        budget: float,
        send_every: int = 0,
        rank: int = 1,
    ) -> None:
        lo, hi = max(cal.index(first), 0), min(cal.index(final), last)
        if lo <= hi:
            out.append(_Campaign(name, _CH[channel], objective, lo, hi, budget, send_every, rank))

    window_end = cal.start + timedelta(days=last)
    add("Brand search (always on)", "Paid Search", "conversion", cal.start, window_end, 1.6)
    add("Generic search (always on)", "Paid Search", "acquisition", cal.start, window_end, 1.2)
    add("Affiliate network (always on)", "Affiliate", "acquisition", cal.start, window_end, 1.0)
    for year in range(cal.start.year, window_end.year + 1):
        friday = _black_friday(year)
        first, final = friday - timedelta(days=7), friday + timedelta(days=3)
        add(f"Black Friday {year} (search)", "Paid Search", "conversion", first, final, 3.0)
        add(f"Black Friday {year} (social)", "Social Paid", "conversion", first, final, 3.0)
        add(f"Black Friday {year} (email)", "Email", "conversion", first, final, 1.0, send_every=3)
        add(
            f"Holiday gifts {year} (social)",
            "Social Paid",
            "conversion",
            date(year, 12, 1),
            date(year, 12, 22),
            2.0,
        )
        add(
            f"Holiday gifts {year} (display)",
            "Display",
            "awareness",
            date(year, 12, 1),
            date(year, 12, 22),
            1.5,
        )
    spike = stories[2]
    first, final = _spike_campaign_window(spike.start)
    add(_spike_campaign_name(spike.start), "Social Paid", "conversion", first, final, 1.5, rank=0)

    n_random = _RANDOM_CAMPAIGNS_PER_YEAR * round(cal.n_days / 365.25)
    names = [channel for channel, _ in _RANDOM_CAMPAIGN_CHANNELS]
    shares = [share for _, share in _RANDOM_CAMPAIGN_CHANNELS]
    channels = rng.choice(len(names), size=n_random, p=np.array(shares))
    themes = rng.integers(0, 1 << 30, size=n_random)
    budgets = rng.lognormal(0.0, 0.4, size=n_random)
    durations = rng.random(n_random)
    starts = rng.integers(0, max(cal.n_days - 14, 1), size=n_random)
    for k in range(n_random):  # one iteration per campaign
        channel = names[channels[k]]
        options, objective, (shortest, longest) = _THEMES[channel]
        first = cal.start + timedelta(days=int(starts[k]))
        length = shortest + int(durations[k] * (longest - shortest))
        add(
            f"{options[themes[k] % len(options)]} {first:%b %Y}",
            channel,
            objective,
            first,
            first + timedelta(days=length - 1),
            float(budgets[k]),
            send_every=7 if channel == "Email" else 0,
            rank=2,
        )

    # IDs: channel code, start month, then a number within those; random campaigns last so
    # that the named campaigns keep their ID whatever the seed.
    stems = [f"{_CHANNELS[c.channel].code}-{cal.start + timedelta(days=c.start):%y%m}" for c in out]
    order = sorted(
        range(len(out)), key=lambda i: (stems[i], out[i].rank, out[i].start, out[i].name)
    )
    ids = [""] * len(out)
    seen: dict[str, int] = {}
    for i in order:
        seen[stems[i]] = seen.get(stems[i], 0) + 1
        ids[i] = f"{stems[i]}-{seen[stems[i]]:02d}"
    by_id = sorted(range(len(out)), key=ids.__getitem__)
    return [out[i] for i in by_id], [ids[i] for i in by_id]


# --------------------------------------------------------------------------- the generator


@dataclass
class _World:
    """Everything drawn before the interactions are streamed month by month."""

    cal: _Calendar
    campaigns: list[_Campaign]
    campaign_ids: list[str]
    slot_channel: np.ndarray
    slot_campaign: np.ndarray  # -1: no campaign
    returning: np.ndarray  # sessions per (day, slot)
    # users, sorted by signup day
    user_ids: np.ndarray
    signup_day: np.ndarray  # day index, negative before the window
    signup_slot: np.ndarray  # -1 for users older than the window
    cohort: np.ndarray  # signup month, months since the window's first month
    device: np.ndarray
    activity: np.ndarray
    propensity: np.ndarray
    # products
    price: np.ndarray
    launched_day: np.ndarray
    popularity: np.ndarray  # cumulative Zipf weights
    established: np.ndarray  # products launched before the window
    established_cum: np.ndarray
    # email sends: one row per (campaign, send day)
    send_campaign: np.ndarray
    send_day: np.ndarray
    sent: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray


def _slots(
    campaigns: list[_Campaign],
    cal: _Calendar,
    spike_id: int,
    spike_days: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slot channels and campaigns, and daily intensities of returning and new users."""
    n_ch, n_camp = len(_CHANNELS), len(campaigns)
    slot_channel = np.concatenate([np.arange(n_ch), [c.channel for c in campaigns]])
    slot_campaign = np.concatenate([np.full(n_ch, -1), np.arange(n_camp)])
    weight = np.zeros((cal.n_days, n_camp))
    for k, c in enumerate(campaigns):  # one iteration per campaign
        days = slice(c.start, c.end + 1)
        weight[days, k] = c.budget * rng.lognormal(0.0, 0.15, size=c.end - c.start + 1)
    weight[spike_days, spike_id] *= _SPIKE_VISITS

    returning = np.zeros((cal.n_days, n_ch + n_camp))
    acquisition = np.zeros_like(returning)
    for ch, channel in enumerate(_CHANNELS):  # one iteration per channel
        mine = np.flatnonzero(slot_channel[n_ch:] == ch)
        if channel.is_paid:
            total = weight[:, mine].sum(axis=1)
            scale = (1 - _PAID_SLOT_BASE) / max(total.mean(), 1e-9)
            for shares, out in ((channel.returning, returning), (channel.acquisition, acquisition)):
                out[:, ch] = _PAID_SLOT_BASE * shares * cal.volume
                out[:, n_ch + mine] = shares * scale * cal.volume[:, None] * weight[:, mine]
        else:
            returning[:, ch] = channel.returning * cal.volume
            acquisition[:, ch] = channel.acquisition * cal.volume
    return slot_channel, slot_campaign, returning, acquisition


def _multinomial(rng: np.random.Generator, n: int, intensity: np.ndarray) -> np.ndarray:
    p = intensity.ravel() / intensity.sum()
    return rng.multinomial(n, p).reshape(intensity.shape)


def _rows_per_session() -> float:
    """Expected web rows per session under the usual device and channel mix."""
    device = _STAY_ON_DEVICE * _DEVICE_MIX + (1 - _STAY_ON_DEVICE) * _SWITCH_MIX
    share = np.array([c.returning for c in _CHANNELS])
    cart_mult = np.array([c.cart for c in _CHANNELS])
    share = share / share.sum()
    views = 1 + _MEAN_EXTRA_VIEWS
    p_cart = np.minimum(np.outer(_P_CART, cart_mult), 0.9)
    rows = (
        1
        + _P_VIEW[:, None] * views
        + _P_VIEW[:, None] * p_cart * (1 + _P_CHECKOUT[:, None] * (1 + _P_PURCHASE[:, None]))
    )
    return float(device @ rows @ share)


def _products(
    n: int, cal: _Calendar, rng: np.random.Generator
) -> tuple[dict[str, pa.Array], np.ndarray, np.ndarray, np.ndarray]:
    """Product rows, list prices, launch day and Zipf popularity (by product index)."""
    sub_names = [s for _, subs, _ in _CATALOG for s in subs]
    sub_category = np.array([i for i, (_, subs, _) in enumerate(_CATALOG) for _ in subs])
    sub = rng.integers(0, len(sub_names), size=n)
    category = sub_category[sub]
    brand = (category * 4 + rng.integers(0, _BRANDS_PER_CATEGORY, size=n)) % len(_BRANDS)
    median = np.array([m for _, _, m in _CATALOG])[category]
    price = np.round(median * rng.lognormal(0.0, 0.55, size=n), 0) - 0.01
    price = np.maximum(price, 2.99)
    launched = np.where(
        rng.random(n) < 0.8,
        rng.integers(-3 * 365, 0, size=n),
        rng.integers(0, cal.n_days - 30, size=n),
    )
    rank = rng.permutation(n) + 1
    popularity = rank.astype(float) ** -_ZIPF_EXPONENT
    order = np.arange(n)
    model = rng.integers(100, 1000, size=n)
    initial = pc.utf8_slice_codeunits(_strings(_BRANDS, brand), 0, 1)
    name = pc.binary_join_element_wise(
        _strings(_BRANDS, brand),
        _strings(sub_names, sub),
        pc.binary_join_element_wise(initial, pa.array(model).cast(pa.string()), "-"),
        " ",
    )
    sku = pc.binary_join_element_wise(
        "SKU", pc.utf8_lpad(pa.array(order + 1).cast(pa.string()), 5, "0"), "-"
    )
    rows = {
        "sku": sku,
        "name": name,
        "category": _strings([c for c, _, _ in _CATALOG], category),
        "subcategory": _strings(sub_names, sub),
        "brand": _strings(_BRANDS, brand),
        "list_price": price,
        "launched_on": _dates(cal.start, launched),
    }
    return rows, price, launched, popularity


def _users(
    n_users: int,
    acquisition: np.ndarray,
    slot_channel: np.ndarray,
    cal: _Calendar,
    rng: np.random.Generator,
) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """User rows and per-user arrays, sorted by signup day."""
    n_old = max(round(_OLD_USER_SHARE * n_users), 30)
    n_new = n_users - n_old
    counts = _multinomial(rng, n_new, acquisition)
    day_new, slot_new = np.nonzero(counts)
    reps = counts[day_new, slot_new]
    acq_share = np.array([c.acquisition for c in _CHANNELS])
    old_channel = rng.choice(len(_CHANNELS), size=n_old, p=acq_share / acq_share.sum())
    signup_day = np.concatenate([rng.integers(-3 * 365, 0, size=n_old), np.repeat(day_new, reps)])
    signup_slot = np.concatenate([np.full(n_old, -1), np.repeat(slot_new, reps)])
    channel = np.concatenate([old_channel, slot_channel[np.repeat(slot_new, reps)]])
    order = np.argsort(signup_day, kind="stable")
    signup_day, signup_slot, channel = signup_day[order], signup_slot[order], channel[order]

    n = n_users
    device = rng.choice(3, size=n, p=_DEVICE_MIX)
    country = rng.choice(len(_COUNTRIES), size=n, p=[w for _, _, w in _COUNTRIES])
    region = np.array(sorted({r for _, r, _ in _COUNTRIES}))
    region_of = np.searchsorted(region, [r for _, r, _ in _COUNTRIES])
    segment = rng.choice(len(_SEGMENTS), size=n, p=[w for _, w in _SEGMENTS])
    age = rng.choice(len(_AGE_BANDS), size=n, p=[w for _, w in _AGE_BANDS])
    internal = rng.random(n) < 0.005
    activity = np.minimum(rng.pareto(1.25, size=n) + 1.0, 150.0)
    propensity = rng.lognormal(-0.125, 0.5, size=n)
    user_ids = np.arange(n, dtype=np.int64) + 10_001
    signup_dates = np.datetime64(cal.start, "D") + signup_day
    months = signup_dates.astype("datetime64[M]").astype(np.int64)
    cohort = months - np.datetime64(cal.start, "M").astype(np.int64)
    email = pc.binary_join_element_wise(
        "user", pa.array(user_ids).cast(pa.string()), "@example.com", ""
    )
    rows = {
        "user_id": user_ids,
        "signup_date": _dates(cal.start, signup_day),
        "country": _strings([c for c, _, _ in _COUNTRIES], country),
        "region": _strings(list(region), region_of[country]),
        "device": _strings(DEVICES, device),
        "acquisition_channel": _strings([c.name for c in _CHANNELS], channel),
        "segment": _strings([s for s, _ in _SEGMENTS], segment),
        "age_band": _strings([a for a, _ in _AGE_BANDS], age),
        "email": email,
        "is_internal": internal,
    }
    arrays = {
        "user_ids": user_ids,
        "signup_day": signup_day,
        "signup_slot": signup_slot,
        "cohort": cohort,
        "device": device,
        "activity": activity,
        "propensity": propensity,
    }
    return rows, arrays


def _email_sends(
    campaigns: list[_Campaign], signup_day: np.ndarray, n_messages: int, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """(campaign, day, sent, opened, clicked) per send of each email campaign."""
    camp, day, reach, p_open, p_click = [], [], [], [], []
    for k, c in enumerate(campaigns):  # one iteration per campaign
        if not c.send_every:
            continue
        days = np.arange(c.start, c.end + 1, c.send_every)
        audience = rng.uniform(0.3, 0.9)
        camp.append(np.full(days.size, k))
        day.append(days)
        reach.append(audience * np.searchsorted(signup_day, days, side="right"))
        p_open.append(np.full(days.size, rng.uniform(*_EMAIL_OPEN)))
        p_click.append(np.full(days.size, rng.uniform(*_EMAIL_CLICK)))
    if not camp:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, empty
    send_campaign, send_day = np.concatenate(camp), np.concatenate(day)
    reach_all = np.concatenate(reach)
    eligible = np.searchsorted(signup_day, send_day, side="right")
    sent = np.minimum(rng.multinomial(n_messages, reach_all / reach_all.sum()), eligible)
    opened = rng.binomial(sent, np.concatenate(p_open))
    clicked = rng.binomial(opened, np.concatenate(p_click))
    return send_campaign, send_day, sent, opened, clicked


def _pick_users(world: _World, month: int, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returning users for sessions of one month: activity x weekday affinity x retention."""
    cal = world.cal
    user = np.empty(day.size, dtype=np.int64)
    eligible = np.searchsorted(world.signup_day, day, side="right")
    known = int(eligible.max(initial=0))
    age = np.maximum(month - world.cohort[:known], 0)
    retention = 0.2 + 0.8 * np.exp(-age / 4.0)
    base = world.activity[:known] * retention
    weekday = cal.weekday[day]
    for dow in range(7):  # one iteration per weekday
        these = np.flatnonzero(weekday == dow)
        if not these.size:
            continue
        cum = np.cumsum(base * _DEVICE_WEEKDAY[world.device[:known], dow])
        limit = cum[eligible[these] - 1]
        pick = np.searchsorted(cum, rng.random(these.size) * limit, side="right")
        user[these] = np.minimum(pick, eligible[these] - 1)
    return user


def _session_devices(world: _World, user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    own = world.device[user]
    other = rng.choice(3, size=user.size, p=_SWITCH_MIX)
    return np.where(rng.random(user.size) < _STAY_ON_DEVICE, own, other)


def _start_seconds(device: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    seconds = np.empty(device.size)
    for d in range(3):  # one iteration per device
        these = np.flatnonzero(device == d)
        hours = rng.choice(24, size=these.size, p=_HOURS[d])
        seconds[these] = hours * 3600.0 + rng.random(these.size) * 3600.0
    return seconds


def _draw_products(world: _World, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cum = world.popularity
    product = np.searchsorted(cum, rng.random(day.size) * cum[-1], side="right")
    late = world.launched_day[product] > day
    if late.any():  # not launched yet that day: an established product instead
        est = world.established_cum
        pick = np.searchsorted(est, rng.random(int(late.sum())) * est[-1], side="right")
        product[late] = world.established[pick]
    return product


@dataclass
class _Counters:
    event: int = 1
    session: int = 1
    order: int = 100_001


def _month_rows(
    world: _World,
    month: int,
    days: np.ndarray,
    dip: np.ndarray,
    spike_campaign: int,
    counters: _Counters,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """All interaction rows of one calendar month, as index arrays."""
    first, last = int(days[0]), int(days[-1])
    # Returning sessions from the slot counts of this month.
    counts = world.returning[first : last + 1]
    d_idx, slot = np.nonzero(counts)
    reps = counts[d_idx, slot]
    r_day = np.repeat(d_idx + first, reps)
    r_slot = np.repeat(slot, reps)
    r_user = _pick_users(world, month, r_day, rng)
    # First sessions of this month's signups.
    lo, hi = np.searchsorted(world.signup_day, [first, last + 1])
    s_user = np.arange(lo, hi)
    s_day = world.signup_day[lo:hi]
    s_slot = world.signup_slot[lo:hi]
    # Email: each message is its own session of sent → open → click.
    sends = np.flatnonzero((world.send_day >= first) & (world.send_day <= last))
    recipients, e_day, e_camp, n_open, n_click = [], [], [], [], []
    for s in sends:  # one iteration per campaign send
        eligible = int(np.searchsorted(world.signup_day, world.send_day[s], side="right"))
        recipients.append(rng.choice(eligible, size=int(world.sent[s]), replace=False))
        e_day.append(np.full(world.sent[s], world.send_day[s]))
        e_camp.append(np.full(world.sent[s], world.send_campaign[s]))
        rank = np.arange(world.sent[s])
        n_open.append(rank < world.opened[s])
        n_click.append(rank < world.clicked[s])
    m_user = np.concatenate(recipients) if recipients else np.zeros(0, np.int64)
    m_day = np.concatenate(e_day) if e_day else np.zeros(0, np.int64)
    m_camp = np.concatenate(e_camp) if e_camp else np.zeros(0, np.int64)
    m_open = np.concatenate(n_open) if n_open else np.zeros(0, bool)
    m_click = np.concatenate(n_click) if n_click else np.zeros(0, bool)
    n_mail = m_user.size
    m_sent_t = 9 * 3600.0 + rng.random(n_mail) * 7200.0
    m_open_t = np.minimum(m_sent_t + rng.exponential(3 * 3600.0, n_mail), 86_399.0)
    m_click_t = np.minimum(m_open_t + rng.exponential(120.0, n_mail), 86_399.0)
    m_open_dev = np.where(
        rng.random(n_mail) < 0.5,
        world.device[m_user],
        rng.choice(3, size=n_mail, p=[0.28, 0.65, 0.07]),
    )
    m_session = counters.session + np.arange(n_mail)
    counters.session += n_mail

    # Web sessions: returning, signups, email clicks.
    n_click_s = int(m_click.sum())
    clicks = np.flatnonzero(m_click)
    user = np.concatenate([r_user, s_user, m_user[clicks]])
    day = np.concatenate([r_day, s_day, m_day[clicks]])
    channel = np.concatenate(
        [world.slot_channel[r_slot], world.slot_channel[s_slot], np.full(n_click_s, _EMAIL)]
    )
    campaign = np.concatenate(
        [world.slot_campaign[r_slot], world.slot_campaign[s_slot], m_camp[clicks]]
    )
    n_web = user.size
    device = np.concatenate(
        [_session_devices(world, user[: n_web - n_click_s], rng), m_open_dev[clicks]]
    )
    t0 = np.concatenate(
        [
            _start_seconds(device[: n_web - n_click_s], rng),
            np.minimum(m_click_t[clicks] + 5.0, 86_399.0),
        ]
    )
    session = counters.session + np.arange(n_web)
    counters.session += n_web

    # Funnel per session.
    viewed = rng.random(n_web) < _P_VIEW[device]
    n_views = np.where(viewed, 1 + np.minimum(rng.poisson(_MEAN_EXTRA_VIEWS, n_web), 7), 0)
    cart_mult = np.array([c.cart for c in _CHANNELS])[channel]
    p_cart = np.minimum(_P_CART[device] * cart_mult * world.propensity[user], 0.9)
    cart = viewed & (rng.random(n_web) < p_cart)
    checkout = cart & (rng.random(n_web) < _P_CHECKOUT[device])
    p_buy = _P_PURCHASE[device] * np.where((device == _MOBILE) & dip[day], _DIP_FACTOR, 1.0)
    purchase = checkout & (rng.random(n_web) < p_buy)
    quantity = np.where(cart, np.minimum(rng.geometric(0.8, n_web), 6), 0)

    per = 1 + n_views + cart + checkout + purchase
    total = int(per.sum())
    owner = np.repeat(np.arange(n_web), per)
    head = np.cumsum(per) - per
    pos = np.arange(total) - head[owner]
    views_of = n_views[owner]
    kind = np.where(pos == 0, _VISIT, np.where(pos <= views_of, _VIEW, _VIEW + pos - views_of))
    product = np.full(total, -1, dtype=np.int64)
    is_view = kind == _VIEW
    product[is_view] = _draw_products(world, day[owner[is_view]], rng)
    in_cart = kind >= _CART
    product[in_cart] = product[head[owner[in_cart]] + views_of[in_cart]]  # last product viewed
    gaps = rng.exponential(1.0, total) * _GAP_SECONDS[kind]
    elapsed = np.cumsum(gaps)
    at = np.minimum(t0[owner] + elapsed - elapsed[head[owner]], 86_399.0)
    qty = np.where(in_cart, quantity[owner], 0)
    bought = np.flatnonzero(kind == _PURCHASE)
    discount = np.where(
        rng.random(bought.size) < 0.25, rng.choice([0.05, 0.10, 0.15, 0.20], size=bought.size), 0.0
    )
    discount[campaign[owner[bought]] == spike_campaign] = 0.30
    revenue = np.zeros(total)
    revenue[bought] = np.round(world.price[product[bought]] * qty[bought] * (1 - discount), 2)
    order = np.full(total, -1, dtype=np.int64)
    order[bought] = counters.order + np.arange(bought.size)
    counters.order += bought.size

    # Email rows.
    n_o, n_c = int(m_open.sum()), n_click_s
    opened = np.flatnonzero(m_open)
    e_rows = n_mail + n_o + n_c
    e_msg = np.concatenate([np.arange(n_mail), opened, clicks])
    e_kind = np.concatenate([np.full(n_mail, _SENT), np.full(n_o, _OPEN), np.full(n_c, _CLICK)])
    e_at = np.concatenate([m_sent_t, m_open_t[opened], m_click_t[clicks]])
    e_dev = np.concatenate([world.device[m_user], m_open_dev[opened], m_open_dev[clicks]])

    rows = {
        "day": np.concatenate([day[owner], m_day[e_msg]]),
        "seconds": np.concatenate([at, e_at]).astype(np.int64),
        "user": np.concatenate([user[owner], m_user[e_msg]]),
        "product": np.concatenate([product, np.full(e_rows, -1)]),
        "channel": np.concatenate([channel[owner], np.full(e_rows, _EMAIL)]),
        "campaign": np.concatenate([campaign[owner], m_camp[e_msg]]),
        "session": np.concatenate([session[owner], m_session[e_msg]]),
        "order": np.concatenate([order, np.full(e_rows, -1)]),
        "kind": np.concatenate([kind, e_kind]),
        "device": np.concatenate([device[owner], e_dev]),
        "quantity": np.concatenate([qty, np.zeros(e_rows, dtype=np.int64)]),
        "revenue": np.concatenate([revenue, np.zeros(e_rows)]),
    }
    return rows


def _interaction_columns(
    world: _World, rows: dict[str, np.ndarray], skus: pa.Array, counters: _Counters
) -> dict[str, pa.Array | np.ndarray]:
    n = rows["day"].size
    event = counters.event + np.arange(n, dtype=np.int64)
    counters.event += n
    micros = (world.cal.epoch_day[rows["day"]] * 86_400 + rows["seconds"]) * 1_000_000
    product = rows["product"]
    order = rows["order"]
    return {
        "event_id": event,
        "occurred_at": pa.array(micros, type=pa.timestamp("us")),
        "user_id": world.user_ids[rows["user"]],
        "sku": skus.take(pa.array(np.maximum(product, 0), mask=product < 0)),
        "channel": _strings([c.name for c in _CHANNELS], rows["channel"]),
        "campaign_id": _strings(world.campaign_ids, rows["campaign"]),
        "session_id": rows["session"].astype(np.int64),
        "order_id": pa.array(order, mask=order < 0, type=pa.int64()),
        "interaction_type": _strings(_TYPES, rows["kind"]),
        "device": _strings(DEVICES, rows["device"]),
        "quantity": rows["quantity"].astype(np.int32),
        "revenue": rows["revenue"],
    }


def _spend_rows(
    world: _World,
    expected_visits: np.ndarray,
    spike_id: int,
    spike_days: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, object]:
    """One row per campaign per running day."""
    cal = world.cal
    day_col, camp_col, spend_col, impr_col, click_col = [], [], [], [], []
    email_sent = np.zeros((cal.n_days, len(world.campaigns)))
    email_clicks = np.zeros_like(email_sent)
    email_sent[world.send_day, world.send_campaign] = world.sent
    email_clicks[world.send_day, world.send_campaign] = world.clicked
    for k, c in enumerate(world.campaigns):  # one iteration per campaign
        days = np.arange(c.start, c.end + 1)
        channel = _CHANNELS[c.channel]
        if channel.is_paid:
            cpc = channel.cpc * rng.lognormal(0.0, 0.2)
            ctr = rng.uniform(*channel.ctr)
            clicks_expected = expected_visits[days, k] / _LANDING_RATE
            noise = rng.lognormal(0.0, 0.08, size=days.size)
            clicks = np.round(clicks_expected * rng.lognormal(0.0, 0.05, size=days.size))
            cost = clicks_expected * cpc * noise
            if k == spike_id:
                cost[np.isin(days, spike_days)] *= _SPIKE_SPEND / _SPIKE_VISITS
            impressions = np.round(clicks_expected / ctr * rng.lognormal(0.0, 0.1, days.size))
        else:
            sent = email_sent[days, k]
            clicks, impressions = email_clicks[days, k], sent
            cost = sent * _EMAIL_COST
        day_col.append(days)
        camp_col.append(np.full(days.size, k))
        spend_col.append(np.round(cost, 2))
        impr_col.append(np.maximum(impressions, clicks))
        click_col.append(clicks)
    camp = np.concatenate(camp_col)
    return {
        "date": _dates(cal.start, np.concatenate(day_col)),
        "campaign_id": _strings(world.campaign_ids, camp),
        "channel": _strings(
            [c.name for c in _CHANNELS], np.array([c.channel for c in world.campaigns])[camp]
        ),
        "spend": np.concatenate(spend_col),
        "impressions": np.concatenate(impr_col).astype(np.int64),
        "clicks": np.concatenate(click_col).astype(np.int64),
    }


def generate(
    out_dir: Path,
    interactions: int = 2_000_000,
    seed: int = 42,
    fmt: str = "parquet",
    end_date: date = DEFAULT_END_DATE,
    years: int = 2,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Write the six demo raw files and the demo's pipeline project (``pipeline.yaml``,
    ``transforms/``) to ``out_dir``; same arguments, same bytes."""
    began = time.perf_counter()
    out_dir = Path(out_dir)
    _check_arguments(out_dir, interactions, seed, fmt, end_date, years)
    report = progress or (lambda step, fraction: None)
    report("dimensions", 0.0)
    rng = np.random.default_rng(seed)
    start, n_days = _window(end_date, years)
    cal = _Calendar.build(start, n_days)
    stories = planted_stories(end_date)
    outage, dip_story, spike = stories
    campaigns, campaign_ids = _campaigns(cal, stories, rng)
    spike_id = campaign_ids.index(spike.campaign_id or "")
    spike_days = np.arange(cal.index(spike.start), cal.index(spike.end) + 1)
    slot_channel, slot_campaign, ret_intensity, acq_intensity = _slots(
        campaigns, cal, spike_id, spike_days, rng
    )

    n_users = max(100, round(interactions / _INTERACTIONS_PER_USER))
    user_rows, users = _users(n_users, acq_intensity, slot_channel, cal, rng)
    n_new = int((users["signup_day"] >= 0).sum())
    n_products = int(np.clip(interactions // 2_000, 500, 2_000))
    product_rows, price, launched, popularity = _products(n_products, cal, rng)
    established = np.flatnonzero(launched < 0)

    rows_per_message = 1 + np.mean(_EMAIL_OPEN) * (1 + np.mean(_EMAIL_CLICK))
    n_messages = round(interactions * _EMAIL_ROW_SHARE / rows_per_message)
    sends = _email_sends(campaigns, users["signup_day"], n_messages, rng)
    web_sessions = interactions * (1 - _EMAIL_ROW_SHARE) / _rows_per_session()
    n_returning = max(round(web_sessions - n_new - int(sends[-1].sum())), n_new)
    returning = _multinomial(rng, n_returning, ret_intensity)

    send_campaign, send_day, sent, opened, clicked = sends
    world = _World(
        cal=cal,
        campaigns=campaigns,
        campaign_ids=campaign_ids,
        slot_channel=slot_channel,
        slot_campaign=slot_campaign,
        returning=returning,
        price=price,
        launched_day=launched,
        popularity=np.cumsum(popularity),
        established=established,
        established_cum=np.cumsum(popularity[established]),
        send_campaign=send_campaign,
        send_day=send_day,
        sent=sent,
        opened=opened,
        clicked=clicked,
        **users,
    )

    counts: dict[str, int] = {}
    try:
        with _sink(out_dir, rawspec.CHANNELS, fmt) as sink:
            sink.write(
                {
                    "channel": _strings([c.name for c in _CHANNELS], np.arange(8)),
                    "channel_group": _strings([c.group for c in _CHANNELS], np.arange(8)),
                    "is_paid": np.array([c.is_paid for c in _CHANNELS]),
                }
            )
        counts["channels"] = len(_CHANNELS)
        with _sink(out_dir, rawspec.USERS, fmt) as sink:
            sink.write(user_rows)
        counts["users"] = sink.rows
        with _sink(out_dir, rawspec.PRODUCTS, fmt) as sink:
            sink.write(product_rows)
        counts["products"] = sink.rows
        idx = np.arange(len(campaigns))
        with _sink(out_dir, rawspec.CAMPAIGNS, fmt) as sink:
            sink.write(
                {
                    "campaign_id": _strings(campaign_ids, idx),
                    "name": _strings([c.name for c in campaigns], idx),
                    "channel": _strings([_CHANNELS[c.channel].name for c in campaigns], idx),
                    "objective": _strings([c.objective for c in campaigns], idx),
                    "start_date": _dates(start, np.array([c.start for c in campaigns])),
                    "end_date": _dates(start, np.array([c.end for c in campaigns])),
                }
            )
        counts["campaigns"] = sink.rows
        report("dimensions", 1.0)

        dip = np.zeros(n_days, dtype=bool)
        dip[cal.index(dip_story.start) : cal.index(dip_story.end) + 1] = True
        outage_day = cal.index(outage.start)
        skus = product_rows["sku"]
        counters = _Counters()
        n_months = int(cal.month[-1]) + 1
        with _sink(out_dir, rawspec.INTERACTIONS, fmt) as sink:
            for month in range(n_months):  # one iteration per calendar month
                days = np.flatnonzero(cal.month == month)
                rows = _month_rows(world, month, days, dip, spike_id, counters, rng)
                lost = (rows["day"] == outage_day) & (rows["device"] == _TABLET)
                if lost.any():
                    rows = {k: v[~lost] for k, v in rows.items()}
                sink.write(_interaction_columns(world, rows, skus, counters))
                report("interactions", (month + 1) / n_months)
        counts["interactions"] = sink.rows

        ret_share = ret_intensity / ret_intensity.sum()
        acq_share = acq_intensity / acq_intensity.sum()
        n_ch = len(_CHANNELS)
        expected = (n_returning * ret_share + n_new * acq_share)[:, n_ch:]
        with _sink(out_dir, rawspec.MARKETING_SPEND, fmt) as sink:
            sink.write(_spend_rows(world, expected, spike_id, spike_days, rng))
        counts["marketing_spend"] = sink.rows
        report("marketing_spend", 1.0)
    except OSError as exc:
        raise DataError(f"Cannot write demo data to {out_dir}: {exc.strerror or exc}.") from exc
    for spec in rawspec.RAW_FILES:  # a stale file of the other format would be ambiguous
        for other in FORMATS:
            if other != fmt:
                (out_dir / f"{spec.entity}.{other}").unlink(missing_ok=True)
    rawspec.write_project(out_dir, fmt)
    return GenerateSummary(
        out_dir, counts, round(time.perf_counter() - began, 3), start, end_date, stories
    )
