"""In Chromium: the executive board's tiles show the warehouse's numbers, and it prints on
exactly one landscape page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from selenium.webdriver.common.print_page_options import PrintOptions

from tests.browser.conftest import open_signed_in

pytestmark = pytest.mark.browser


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_board_shows_the_warehouse_numbers_and_prints_on_one_page(
    browser_ready, dash_duo, tiny_demo: str, tmp_path: Path
) -> None:
    app = open_signed_in(dash_duo, tiny_demo, tmp_path, "/t0/company?period=2026-09")

    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        revenue = conn.exec_driver_sql(
            "SELECT sum(revenue) FROM fct_interaction WHERE interaction_type = 'purchase' "
            "AND occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'"
        ).scalar()
        users = conn.exec_driver_sql(
            "SELECT count(DISTINCT user_key) FROM fct_interaction WHERE interaction_type <> "
            "'email_sent' AND occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'"
        ).scalar()
    raws = [
        float(el.get_attribute("data-raw"))
        for el in dash_duo.find_elements("[data-raw]")
        if el.get_attribute("data-raw")
    ]
    assert any(r == pytest.approx(revenue) for r in raws)
    assert any(r == pytest.approx(users) for r in raws)
    texts = dash_duo.find_element(".sb-ban-grid").text
    assert (
        "REVENUE" in texts.upper() and "September 2026" in dash_duo.find_element("#t0-period").text
    )
    assert len(dash_duo.find_elements(".sb-chart .main-svg")) >= 2
    assert dash_duo.get_logs() == []

    options = PrintOptions()
    options.orientation = "landscape"
    options.page_width, options.page_height = 29.7, 21.0  # A4, in cm (landscape swaps)
    options.background = True
    pdf = base64.b64decode(dash_duo.driver.print_page(options))
    assert pdf.startswith(b"%PDF") and _pages(pdf) == 1
