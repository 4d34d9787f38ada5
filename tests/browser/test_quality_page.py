"""In a real browser: /quality on a freshly loaded demo shows the warehouse's row counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import (
    PASSWORD,
    add_users,
    make_app,
)

pytestmark = pytest.mark.browser



def test_quality_page_shows_the_published_row_counts(browser_ready, dash_duo, tiny_demo: str,
                                                     tmp_path: Path) -> None:
    app = make_app(tiny_demo, tmp_path)
    add_users(app)
    dash_duo.start_server(app, navigate=False)
    bookmark = f"{dash_duo.server.url}/quality?period=2026-10&view=all"
    dash_duo.driver.get(bookmark)  # a bookmarked page, signed out: sent to the login form
    dash_duo.wait_for_element("#username", timeout=15).send_keys("erin")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#quality-tables", timeout=15)
    assert dash_duo.driver.current_url == bookmark  # back where the bookmark pointed
    cells = [td.text for td in dash_duo.find_elements("#quality-tables td")]
    shown = dict(zip(cells[0::2], cells[1::2], strict=True))
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        for table in ("dim_date", "dim_user", "dim_product", "fct_interaction",
                      "fct_marketing_spend", "agg_daily_interaction"):
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            assert shown[table] == f"{count:,}"
    assert dash_duo.find_element("#quality-score").text.endswith("%")
    assert "Data as of 31 Oct 2026" in dash_duo.find_element(".sb-asof").text
    assert dash_duo.get_logs() == []
