"""In Chromium: an exploration built by clicking lives in the URL (a reload shows the same
result); a click on a bar opens the rows behind it in a server-side paged grid; the CSV
download equals direct SQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import open_signed_in

pytestmark = pytest.mark.browser


def _pick(dash_duo, dropdown: str, text: str) -> None:
    dash_duo.find_element(f"button#{dropdown}").click()
    search = dash_duo.wait_for_element(".dash-dropdown-search", timeout=10)
    search.send_keys(text)
    WebDriverWait(dash_duo.driver, 10).until(
        lambda d: [
            o for o in d.find_elements("css selector", ".dash-dropdown-option") if o.text == text
        ]
    )
    next(o for o in dash_duo.find_elements(".dash-dropdown-option") if o.text == text).click()
    ActionChains(dash_duo.driver).send_keys("\ue00c").perform()  # Escape closes the list


def _result(dash_duo, contains: str) -> list[list[str]]:
    """Wait for a result whose URL has ``contains``; the table's cells, row by row."""
    WebDriverWait(dash_duo.driver, 20).until(
        lambda d: contains in d.current_url and d.find_elements("css selector", "#t2-meta")
    )

    def rows(driver):  # read in one go: the grid may re-render meanwhile
        found = driver.execute_script(
            "return [...document.querySelectorAll('#t2-table .ag-center-cols-container "
            ".ag-row')].sort((a, b) => a.getAttribute('row-index') - "
            "b.getAttribute('row-index')).map(r => [...r.querySelectorAll('.ag-cell')]"
            ".map(c => c.textContent))"
        )
        return found or False

    return WebDriverWait(dash_duo.driver, 20).until(rows)


def _detail_keys(dash_duo) -> list[int]:
    """The interaction keys the detail grid shows (read in one go: the grid re-renders)."""
    texts = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#t2-detail-grid .ag-center-cols-container "
        '.ag-row .ag-cell[col-id="interaction_key"]\')].map(c => c.textContent)'
    )
    return sorted(int(t.replace(",", "")) for t in texts if t.strip())


def _click(dash_duo, xpath: str) -> None:
    """Click what ``xpath`` finds; the form re-renders after each pick, and an element
    replaced between finding and clicking it (stale) is found again (seen under CI load)."""
    WebDriverWait(dash_duo.driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda driver: driver.find_element("xpath", xpath).click() or True
    )


def test_explore_by_clicking_reload_drill_page_and_export(
    browser_ready, dash_duo, tiny_demo: str, tmp_path: Path
) -> None:
    app = open_signed_in(
        dash_duo, tiny_demo, tmp_path, "/t2/explore", user="ana", ready="#t2-metrics"
    )
    _pick(dash_duo, "t2-metrics", "Orders")
    _result(dash_duo, "metrics=orders")
    _pick(dash_duo, "t2-by", "Channel group")
    _result(dash_duo, "by=channel_group")
    _click(dash_duo, "//label[normalize-space()='Bar']")
    built = _result(dash_duo, "chart=bar")
    url = dash_duo.driver.current_url
    assert "metrics=orders&by=channel_group&chart=bar" in url

    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        expected = conn.exec_driver_sql("""
            SELECT c.channel_group, count(DISTINCT f.order_id) FROM fct_interaction f
            LEFT JOIN dim_channel c ON c.channel_key = f.channel_key
            WHERE f.interaction_type = 'purchase' GROUP BY 1 ORDER BY 1""").all()
    assert [(r[0], int(r[1])) for r in built] == [(g, n) for g, n in expected]

    dash_duo.driver.get(url)  # the URL restores the exploration
    assert _result(dash_duo, "chart=bar") == built

    # a click on the Direct bar opens its rows, a page at a time
    bar = dash_duo.wait_for_element("#t2-graph .bars .point path", timeout=20)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
    ActionChains(dash_duo.driver).move_to_element(bar).pause(0.2).click().perform()
    dash_duo.wait_for_text_to_equal("#t2-detail h2", "Rows behind Orders", timeout=20)
    first = WebDriverWait(dash_duo.driver, 20).until(lambda d: _detail_keys(dash_duo))
    group = expected[0][0]
    with engine.connect() as conn:
        keys = [
            k
            for (k,) in conn.exec_driver_sql(f"""
            SELECT f.interaction_key FROM fct_interaction f
            JOIN dim_channel c ON c.channel_key = f.channel_key
            WHERE f.interaction_type = 'purchase' AND c.channel_group = '{group}'
            ORDER BY 1""").all()
        ]
    assert len(keys) > 100, "the page must have more rows than the grid's first block"
    assert first == keys[: len(first)]
    viewport = dash_duo.find_element("#t2-detail-grid .ag-body-viewport")

    def scrolled_to_the_end(driver) -> bool:  # scrolling fetches the later pages
        driver.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", viewport)
        last = driver.find_elements(
            "css selector", f"#t2-detail-grid .ag-row[row-index='{len(keys) - 1}'] .ag-cell"
        )
        return bool(last) and bool(
            dash_duo.driver.execute_script("return arguments[0].textContent", last[0])
        )

    WebDriverWait(dash_duo.driver, 30, poll_frequency=0.3).until(scrolled_to_the_end)
    assert _detail_keys(dash_duo)[-1] == keys[-1]

    # the CSV the download link serves (fetched with the browser's session)
    href = dash_duo.find_element("#t2-detail-export").get_attribute("href")
    text = dash_duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text()).then(done);",
        href,
    )
    rows = list(csv.reader(io.StringIO(text)))
    column = rows[0].index("interaction_key")
    assert sorted(int(r[column]) for r in rows[1:]) == keys
    assert {r[rows[0].index("email")] for r in rows[1:]} == {"•••"}  # ana: PII masked
