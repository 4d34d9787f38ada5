"""In Chromium: a tile whose fact fails a Risk 2 check shows an amber badge whose hover text
names the check; /quality shows the failing rows with PII masked for an analyst."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from tests.browser.conftest import open_signed_in
from tests.fixtures.quality import planted_demo  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser


def _open(dash_duo, settings, path: str, user: str, ready: str):
    return open_signed_in(
        dash_duo, settings.db_url, settings.home, path, user, ready, model=str(settings.model)
    )


def test_amber_badge_on_a_tile_names_the_failing_check_on_hover(
    browser_ready,  # noqa: F811
    dash_duo,
    planted_demo,  # noqa: F811
) -> None:
    settings, _ = planted_demo
    _open(dash_duo, settings, "/t0/marketing", "erin", "[data-metric='roas'] .sb-trust-badge")
    badge = dash_duo.find_element("[data-metric='roas'] .sb-trust-badge")
    ActionChains(dash_duo.driver).move_to_element(badge).perform()
    assert badge.text == "● DQ"
    assert badge.get_attribute("data-status") == "amber"
    title = badge.get_attribute("title")
    assert title.startswith("A quality check warns on this data:")
    assert "fct_interaction.device [device_known]" in title
    assert dash_duo.find_elements("[data-metric='spend'] .sb-trust-badge") == []
    dot = dash_duo.find_element(".sb-dq")
    assert dot.get_attribute("data-status") == "warn"
    assert dash_duo.get_logs() == []


def test_quality_page_masks_pii_for_an_analyst(browser_ready, dash_duo, planted_demo) -> None:  # noqa: F811
    settings, _ = planted_demo
    _open(dash_duo, settings, "/quality", "ana", "#quality-samples")
    block = dash_duo.find_element("[data-check='model:dim_user.no_internal_users']")
    assert "email masked (PII)" in block.text and "@" not in block.text
    assert dash_duo.find_element("#quality-history .js-plotly-plot")
    assert dash_duo.get_logs() == []
