"""/t2/sql in Debian chromium: a statement runs as a background job and fills the grid;
a refused one says why; Ctrl+Enter runs."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import open_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("browser_ready")]

STATEMENT = "SELECT channel, channel_group FROM dim_channel ORDER BY channel"


def test_an_analyst_runs_a_statement_and_sees_its_rows(dash_duo, tiny_demo, tmp_path) -> None:
    app = open_signed_in(
        dash_duo,
        tiny_demo,
        tmp_path,
        "/t2/sql?q=" + quote(STATEMENT),
        user="ana",
        ready="#t2sql-editor",
    )
    with app.server.extensions["starboard"].warehouse.snapshot().engine.connect() as conn:
        expected = [tuple(r) for r in conn.exec_driver_sql(STATEMENT).all()]
    dash_duo.find_element("#t2sql-run").click()
    dash_duo.wait_for_element(".ag-row", timeout=30)
    first = [c.text for c in dash_duo.find_elements(".ag-row[row-index='0'] .ag-cell")]
    assert first == list(expected[0])
    assert dash_duo.find_element("#t2sql-note").text.startswith(f"{len(expected)} rows in ")
    assert dash_duo.find_element("#t2sql-download").get_attribute("disabled") is None
    assert dash_duo.find_element("#t2sql-download-q").get_attribute("value") == STATEMENT

    editor = dash_duo.find_element("#t2sql-editor")
    editor.send_keys(Keys.CONTROL, Keys.END)
    editor.send_keys("; DROP TABLE dim_channel")
    editor.send_keys(Keys.CONTROL, Keys.ENTER)
    dash_duo.wait_for_contains_text("#t2sql-note", "2 statements were given", timeout=30)
    assert dash_duo.find_elements(".ag-row") == []
    assert dash_duo.find_element("#t2sql-download").get_attribute("disabled") == "true"


def test_cancel_stops_a_long_statement(dash_duo, tiny_demo, tmp_path) -> None:
    statement = (
        "SELECT count(*), sum(a.revenue * b.quantity * c.quantity) FROM fct_interaction a "
        "CROSS JOIN fct_interaction b CROSS JOIN fct_interaction c"
    )
    app = open_signed_in(
        dash_duo,
        tiny_demo,
        tmp_path,
        "/t2/sql?q=" + quote(statement),
        user="ana",
        ready="#t2sql-editor",
    )
    dash_duo.find_element("#t2sql-run").click()
    dash_duo.wait_for_text_to_equal("#t2sql-status", "Running…", timeout=15)
    assert dash_duo.find_element("#t2sql-run").get_attribute("disabled") == "true"
    dash_duo.find_element("#t2sql-cancel").click()
    dash_duo.wait_for_text_to_equal("#t2sql-status", "", timeout=15)
    assert dash_duo.find_element("#t2sql-run").get_attribute("disabled") is None
    assert dash_duo.find_elements("#t2sql-note") == []
    events = [
        (a["event"], a["detail"]) for a in app.server.extensions["starboard"].users.audit_log(20)
    ]
    assert any(event == "sql_start" and statement in detail for event, detail in events)
    assert not any(event == "sql_run" and statement in detail for event, detail in events)
