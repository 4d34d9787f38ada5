"""In Chromium: a Tier 1 board's state lives in the URL: filters change it, a fresh session
opening it sees the same numbers, clicking a bar drills down (every chart follows), the
breadcrumb steps back up and the back button restores the previous state."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import PASSWORD, add_users, make_app

pytestmark = pytest.mark.browser

START = "/t1/channels?from=2026-09-01&to=2026-09-30"


def _sign_in(dash_duo, url: str) -> None:
    dash_duo.driver.get(url)
    dash_duo.wait_for_element("#username", timeout=15).send_keys("oscar")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    _ready(dash_duo)


def _ready(dash_duo, contains: str = "", absent: str = "") -> str:
    """Wait until the board shows a state with/without a fragment; return that state."""

    def done(driver) -> str | bool:
        board = driver.find_elements("css selector", "#t1-ready")
        ready = driver.find_elements("css selector", "body[data-sb-ready='1']")
        if not board or not ready:
            return False
        state = board[0].get_attribute("data-state") or ""
        if contains not in state or (absent and absent in state):
            return False
        return state

    # the board re-renders while we read it: a stale element means "not yet", not a failure
    return WebDriverWait(
        dash_duo.driver, 20, ignored_exceptions=(StaleElementReferenceException,)
    ).until(done)


def _numbers(dash_duo) -> list[str]:
    """Every number a chart prints: bar labels, funnel text, table cells."""
    found = [el.text for el in dash_duo.find_elements(".sb-t1-card .bartext")]
    found += [el.text for el in dash_duo.find_elements(".sb-t1-card .ag-cell")]
    return found


def _click(dash_duo, element) -> None:
    """Click as a person does: Plotly listens on the layer above the bar, not the bar."""
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    ActionChains(dash_duo.driver).move_to_element(element).pause(0.2).click().perform()


def _card(dash_duo, title: str):
    for card in dash_duo.find_elements(".sb-t1-card"):
        if card.find_element("css selector", ".sb-chart-title").text == title:
            return card
    raise AssertionError(f"no chart {title!r}")


def test_url_state_filters_drill_and_back(
    browser_ready, dash_duo, tiny_demo: str, tmp_path: Path
) -> None:
    app = make_app(tiny_demo, tmp_path)
    add_users(app)
    dash_duo.start_server(app, navigate=False)
    base = dash_duo.server.url
    _sign_in(dash_duo, base + START)

    # a filter change puts the filter in the URL
    dash_duo.find_element("#t1-field-device button").click()
    search = dash_duo.wait_for_element(".dash-dropdown-search", timeout=10)
    search.send_keys("mob")  # searchable: the list narrows to what matches
    WebDriverWait(dash_duo.driver, 10).until(
        lambda d: (
            [o.text for o in d.find_elements("css selector", ".dash-dropdown-option")] == ["mobile"]
        )
    )
    dash_duo.find_element(".dash-dropdown-option").click()
    state = _ready(dash_duo, "device=mobile")
    assert "device=mobile" in dash_duo.driver.current_url
    filtered = _numbers(dash_duo)
    assert filtered

    # a fresh session opening that URL shows the same numbers
    url = dash_duo.driver.current_url
    dash_duo.driver.delete_all_cookies()
    _sign_in(dash_duo, url)
    assert _ready(dash_duo, "device=mobile") == state
    assert _numbers(dash_duo) == filtered

    # clicking a bar drills down: every chart is filtered to that channel group
    card = _card(dash_duo, "Return on ad spend by channel group")
    groups = {t.text for t in card.find_elements("css selector", ".ytick text")}
    _click(dash_duo, card.find_elements("css selector", ".bars path")[0])
    drilled = _ready(dash_duo, "drill=channel_group:")
    group = dash_duo.find_element("#t1-crumb-1").text.removeprefix("Channel group: ")
    assert group in groups
    assert _card(dash_duo, "Return on ad spend by channel")
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        channels = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT channel FROM dim_channel WHERE channel_group = ?", (group,)
            ).all()
        }
    for card in dash_duo.find_elements(".sb-t1-card[data-type='bar']"):
        labels = {t.text for t in card.find_elements("css selector", ".ytick text")}
        assert labels and labels <= channels
    stacked = dash_duo.find_elements(".sb-t1-card[data-type='stacked_bar'] .legendtext")
    assert stacked and {t.text for t in stacked} <= channels
    assert _numbers(dash_duo) != filtered

    # one level further down, then the breadcrumb back to the top
    card = _card(dash_duo, "Return on ad spend by channel")
    _click(dash_duo, card.find_elements("css selector", ".bars path")[0])
    assert "channel:" in _ready(dash_duo, "channel:")
    _click(dash_duo, dash_duo.find_element("#t1-crumb-0"))
    top = _ready(dash_duo, "device=mobile", absent="drill=")
    assert top == state and _numbers(dash_duo) == filtered

    # back steps through the states: the campaign level, then the channel group level
    dash_duo.driver.back()
    assert "channel:" in _ready(dash_duo, "channel:")
    dash_duo.driver.back()
    assert _ready(dash_duo, "drill=channel_group:", absent="channel:") == drilled
    assert dash_duo.get_logs() == []
