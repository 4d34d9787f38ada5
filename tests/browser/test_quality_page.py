"""In a real browser: /quality on a freshly loaded demo shows the warehouse's row counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import open_signed_in

pytestmark = pytest.mark.browser


def test_quality_page_shows_the_published_row_counts(
    browser_ready, dash_duo, tiny_demo: str, tmp_path: Path
) -> None:
    bookmark = "/quality?period=2026-10&view=all"  # opened signed out: sent to the login form
    app = open_signed_in(dash_duo, tiny_demo, tmp_path, bookmark, ready="#quality-tables")
    assert dash_duo.driver.current_url == dash_duo.server.url + bookmark  # back where it was
    cells = [td.text for td in dash_duo.find_elements("#quality-tables td")]
    shown = dict(zip(cells[0::2], cells[1::2], strict=True))
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        for table in (
            "dim_date",
            "dim_user",
            "dim_product",
            "fct_interaction",
            "fct_marketing_spend",
            "agg_daily_interaction",
        ):
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            assert shown[table] == f"{count:,}"
    assert dash_duo.find_element("#quality-score").text.endswith("%")
    assert "Data as of 31 Oct 2026" in dash_duo.find_element(".sb-asof").text
    assert dash_duo.get_logs() == []
