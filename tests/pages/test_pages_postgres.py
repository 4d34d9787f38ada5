"""The main pages on PostgreSQL show what they show on DuckDB, for the same raw data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import render, signed_in, texts

pytestmark = pytest.mark.postgres

# check runs of this test session are dated from here on (a day back: runs near midnight)
SESSION_DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
PAGES = [
    ("erin", "/t0/company", ""),
    ("erin", "/t0/marketing", ""),
    ("oscar", "/t1/growth", ""),
    ("oscar", "/t1/channels", ""),
    ("erin", "/tree/revenue", ""),
    ("ada", "/quality", ""),
    ("ana", "/t2/explore", ""),
    ("ana", "/t2/explore", "?metrics=revenue,orders&by=channel_group&grain=month"),
    ("ana", "/t2/segments", ""),
]


def _shown(app, user: str, path: str, search: str) -> list[str]:
    """The page's texts, without what differs between two publishes by design (version ids,
    publish times, load durations)."""
    words = texts(render(signed_in(app, user), path, search))
    version = app.server.extensions["starboard"].warehouse.snapshot().version.id
    masked: list[str] = []
    for word in words:
        word = word.replace(version, "<version>")
        word = re.sub(r"\d{8}T\d{6}Z[0-9a-f]{6}", "<version>", word)
        # the data's age at each load (the freshness banner on every page, the gates table):
        # the two loads run minutes apart and may straddle an hour
        word = re.sub(r"\d+(\.\d)? h before the load", "<age> h before the load", word)
        # the publish's freshness check: the data's age when each load ran
        word = re.sub(r"[\d,]+\.\d h old \(SLO", "<age> h old (SLO", word)
        # the stale banner's age of each fact, in hours at each render
        word = re.sub(r"is [\d,]+ h old", "is <age> h old", word)
        if path == "/quality":  # how long each load took, when each check ran
            word = re.sub(r"^\d+(\.\d+)? s$", "<seconds>", word)
            word = re.sub(r"\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}", "<time>", word)
            run = re.fullmatch(r"(\d{4}-\d{2}-\d{2}) \d{2}:\d{2}", word)
            if run and run.group(1) >= SESSION_DAY:  # when a check run happened, not data
                word = "<run time>"
            if masked and re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", masked[-1]):
                # the freshness table's age (hours since the latest row) follows its time
                word = re.sub(r"^\d+(\.\d+)?( h)?$", "<age hours>", word)
            if len(masked) >= 2 and masked[-2] == "freshness":
                # a freshness gate's observed age, in hours at the moment of each load
                word = re.sub(r"^\d+(\.\d+)?$", "<age hours>", word)
        masked.append(word)
    return masked


@pytest.mark.parametrize(("user", "path", "search"), PAGES)
def test_page_on_postgresql_matches_duckdb(demo_app, pg_demo_app, user, path, search) -> None:
    duck = _shown(demo_app, user, path, search)
    pg = _shown(pg_demo_app, user, path, search)
    assert len(duck) > 20, duck  # a real page, not an error tile
    assert pg == duck
