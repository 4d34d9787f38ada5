"""In a browser: report a problem on /quality/alerts, then triage it on /quality/problems."""

from __future__ import annotations

import socket

import pytest
from selenium.webdriver.common.by import By

from tests.conftest import PASSWORD, add_users, make_app

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:  # not dash_duo's fixed ports: other suites may hold them
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_report_then_acknowledge_it(
    dash_duo,
    browser_ready,
    small_warehouse,
    tmp_path,
) -> None:
    app = make_app(small_warehouse, tmp_path)
    add_users(app)
    dash_duo.start_server(app, navigate=False, port=_free_port())
    dash_duo.driver.get(f"{dash_duo.server.url}/quality/alerts?rule=data_stale")
    dash_duo.wait_for_element("#username", timeout=15).send_keys("ana")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#alerts-count", timeout=20)
    dash_duo.find_element(".sb-report summary").click()
    dash_duo.find_element("#alerts-report-text").send_keys("Stale alert every morning")
    dash_duo.find_element("#alerts-report-send").click()
    dash_duo.wait_for_contains_text("#alerts-report-done", "reported as problem #1", timeout=10)

    dash_duo.driver.get(f"{dash_duo.server.url}/quality/problems")
    dash_duo.wait_for_element("#problems-table", timeout=20)
    link = dash_duo.find_element("#problems-table a")
    assert link.get_attribute("href").endswith("/quality/alerts?rule=data_stale")
    dash_duo.select_dcc_dropdown("#problems-problem", index=0)
    dash_duo.select_dcc_dropdown("#problems-status", value="acknowledged")
    dash_duo.find_element("#problems-comment").send_keys("Expected: the demo data is old")
    dash_duo.find_element("#problems-apply").click()
    dash_duo.wait_for_contains_text("#problems-message", "Problem #1: acknowledged", timeout=10)
    cells = [td.text for td in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#problems-table td")]
    assert "acknowledged" in cells and "Expected: the demo data is old" in cells
    audit = app.server.extensions["starboard"].users.audit_log(1)[0]
    assert (audit["event"], audit["actor"]) == ("problem_triage", "ana")
