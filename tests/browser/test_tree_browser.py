"""In Chromium: the metric tree shows the warehouse's numbers, folds open, and re-roots on a
click with the URL following."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from dash.testing.wait import until

from tests.browser.conftest import open_signed_in

pytestmark = pytest.mark.browser

SEPTEMBER = "occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'"


def _raw(dash_duo, metric: str) -> float:
    return float(
        dash_duo.find_element(f".sb-tree-card[data-metric='{metric}'] [data-raw]").get_attribute(
            "data-raw"
        )
    )


def test_tree_folds_open_and_reroots_with_the_url_following(
    browser_ready, dash_duo, tiny_demo: str, tmp_path: Path
) -> None:
    app = open_signed_in(
        dash_duo, tiny_demo, tmp_path, "/tree/revenue?period=2026-09&compare=previous"
    )

    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        revenue, orders = conn.exec_driver_sql(
            "SELECT sum(revenue), count(DISTINCT order_id) FROM fct_interaction "
            f"WHERE interaction_type = 'purchase' AND {SEPTEMBER}"
        ).one()
        visitors = conn.exec_driver_sql(
            "SELECT count(DISTINCT user_key) FROM fct_interaction "
            f"WHERE interaction_type = 'visit' AND {SEPTEMBER}"
        ).scalar()
    assert _raw(dash_duo, "revenue") == pytest.approx(revenue)
    assert _raw(dash_duo, "orders") == pytest.approx(orders)
    assert "Revenue" in dash_duo.find_element("#tree-narrative").text

    # conversion rate starts folded: its funnel steps are hidden until it is opened
    funnel = ".sb-tree-card[data-metric='checkout_completion_rate']"
    assert not dash_duo.find_element(funnel).is_displayed()
    dash_duo.find_element(".sb-tree-card[data-metric='conversion_rate'] .sb-tree-value").click()
    until(lambda: dash_duo.find_element(funnel).is_displayed(), timeout=5)

    # re-root on orders: the URL keeps the period and the comparison
    dash_duo.find_element(".sb-tree-card[data-metric='orders'] a.sb-tree-reroot").click()
    until(lambda: urlsplit(dash_duo.driver.current_url).path == "/tree/orders", timeout=10)
    dash_duo.wait_for_element(".sb-tree-root[data-metric='orders']", timeout=10)
    query = parse_qs(urlsplit(dash_duo.driver.current_url).query)
    assert query == {"period": ["2026-09"], "compare": ["previous"]}
    dash_duo.wait_for_element("body[data-sb-ready='1']", timeout=20)
    assert _raw(dash_duo, "orders") == pytest.approx(orders)
    assert _raw(dash_duo, "visitors") == pytest.approx(visitors)
    assert not dash_duo.find_elements(".sb-tree-card[data-metric='revenue']")
    assert dash_duo.get_logs() == []
