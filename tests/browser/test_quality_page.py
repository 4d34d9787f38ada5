"""In a real browser: /quality on a freshly loaded demo shows the warehouse's row counts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, make_app, unavailable

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_ready() -> None:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        unavailable("Debian chromium and chromium-driver are not installed "
                    "(apt-get install chromium chromium-driver)")


def test_quality_page_shows_the_published_row_counts(browser_ready, dash_duo, tiny_demo: str,
                                                     tmp_path: Path) -> None:
    app = make_app(tiny_demo, tmp_path)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/quality", timeout=15)
    dash_duo.wait_for_element("#quality-tables", timeout=15)
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
