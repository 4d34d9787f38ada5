"""The explorer's detail rows and exports on PostgreSQL equal DuckDB's, for the same raw
data (runs when STARBOARD_TEST_PG_URL is set; CI sets it)."""

from __future__ import annotations

import csv
import io

import pytest

from queries.explore import detail as dq
from queries.semantic.query import Filter
from tests.conftest import signed_in
from tests.fixtures.t2 import as_user

pytestmark = pytest.mark.postgres
DRILL = dq.Drill(
    "orders",
    (Filter("channel_group", "in", ("Paid Search", "Email")),),
    (("revenue", True), ("interaction_key", False)),
)
COLUMNS = ("interaction_key", "order_id", "channel_group", "region", "email", "revenue")


def _page(app, user: str, offset: int) -> list[tuple]:
    with as_user(app, user):
        page = dq.fetch_page(DRILL, offset, 10)
    return [tuple(r[c] for c in COLUMNS) for r in page.rows]


def _export(app, user: str, url: str) -> list[tuple]:
    response = signed_in(app, user).get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    at = [rows[0].index(c) for c in ("interaction_key", "region", "email")]
    return sorted(tuple(r[i] for i in at) for r in rows[1:])


@pytest.mark.parametrize("user", ["ana", "ada", "emea"])
def test_detail_pages_and_exports_match_duckdb(t2_app, pg_demo_app, user) -> None:
    for offset in (0, 10):
        duck, pg = _page(t2_app, user, offset), _page(pg_demo_app, user, offset)
        assert len(duck) == 10 and [(*r[:5], float(r[5])) for r in pg] == [
            (*r[:5], float(r[5])) for r in duck
        ]
    url = dq.drill_href(dq.Drill(DRILL.metric, DRILL.filters))
    assert _export(pg_demo_app, user, url) == _export(t2_app, user, url)
    explore = "/api/v1/export/explore?metrics=orders&by=region&order=region"
    assert signed_in(pg_demo_app, user).get(explore).get_data(as_text=True) == signed_in(
        t2_app, user
    ).get(explore).get_data(as_text=True)
