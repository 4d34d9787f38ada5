"""/quality/alerts: the history with delivery status and the rules, as people see it."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.core.stores import alerts
from app.core.stores.alerts import Webhook
from app.core.warehouse import Warehouse
from queries.alerts.evaluate import Window, evaluate
from queries.semantic.run import current_model
from tests.conftest import add_users, find, find_all, make_app, render, signed_in, texts


@pytest.fixture(scope="module")
def alerts_app(alerts_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """An app on the 600k demo whose metadata DB holds the alerts of its whole history."""
    app = make_app(alerts_demo, tmp_path_factory.mktemp("alerts_app"))
    add_users(app)
    runtime = app.server.extensions["starboard"]
    with app.server.app_context():
        events = evaluate(
            runtime,
            current_model(runtime),
            Window.parse("2024-01-01", None),
            now=datetime(2026, 11, 1, 6, 0),
        )
    alerts.fire(
        runtime.users.db,
        events,
        {"ops": Webhook("ops", "http://127.0.0.1:9/x")},
        public_url="https://bi.example.com",
        data_version="v1",
        now=datetime(2026, 11, 1, 6, 0),
        attempts=1,
        timeout=0.5,
    )
    yield app
    runtime.warehouse.dispose()


def _rows(page) -> list[list[str]]:
    table = find(page, "alerts-table")
    return [
        [" ".join(texts(td)) for td in find_all(tr, lambda n: n.get("type") == "Td")]
        for tr in find_all(table, lambda n: n.get("type") == "Tr")
    ][1:]


def test_history_shows_the_planted_stories_with_values_and_delivery(
    alerts_app, alerts_demo
) -> None:
    page = render(signed_in(alerts_app, "ana"), "/quality/alerts")
    rows = _rows(page)
    tablet = next(r for r in rows if r[1] == "tablet_tracking_gap")
    assert tablet[:7] == [
        "critical",
        "tablet_tracking_gap",
        "2025-09-17",
        "—",
        "0",
        "≥ 1",
        "failed",
    ]
    assert "cannot connect" in tablet[8]
    spikes = [r for r in rows if r[1] == "campaign_spend_spike"]
    assert sorted(r[2] for r in spikes) == [f"2026-06-{d}" for d in range(10, 17)]
    with Warehouse(alerts_demo).snapshot().engine.connect() as conn:
        spend = conn.exec_driver_sql(
            "SELECT sum(s.spend) FROM fct_marketing_spend s JOIN dim_campaign c USING "
            "(campaign_key) WHERE c.name = 'Summer flash sale 2026' AND s.date_key = 20260610"
        ).scalar()
    first = next(r for r in spikes if r[2] == "2026-06-10")
    assert first[3] == "campaign = Summer flash sale 2026"
    assert first[4] == f"{spend:,.4g}"
    assert texts(find(page, "alerts-count")) == [str(len(rows))]
    assert texts(find(page, "alerts-failed")) == [str(len(rows))]
    links = find_all(find(page, "alerts-table"), lambda n: n.get("props", {}).get("href"))
    assert "/t1/growth?from=2025-09-17&to=2025-09-17&device=tablet" in {
        n["props"]["href"] for n in links
    }


def test_rules_are_listed_and_a_rule_filter_narrows_the_history(alerts_app) -> None:
    client = signed_in(alerts_app, "ada")
    rules = texts(find(render(client, "/quality/alerts"), "alerts-rules"))
    assert "visitors per day where device = tablet below 1" in rules
    assert "spend per day for each campaign unusually high (robust z ≥ 8)" in rules
    only = _rows(render(client, "/quality/alerts", "?rule=tablet_tracking_gap"))
    assert [r[1] for r in only] == ["tablet_tracking_gap"]


def test_a_scoped_viewer_sees_what_fired_but_not_the_numbers(alerts_app) -> None:
    page = render(signed_in(alerts_app, "emea"), "/quality/alerts")
    header = texts(find_all(find(page, "alerts-table"), lambda n: n.get("type") == "Th"))
    assert "Value" not in header and "Normal range" not in header
    assert "Your row scope hides the values" in " ".join(texts(page))


@pytest.mark.parametrize("name", ["erin", "oscar"])
def test_executives_and_operators_may_not_open_it(alerts_app, name: str) -> None:
    client = signed_in(alerts_app, name)
    assert client.get("/quality/alerts").status_code == 403
    assert "No access" in texts(render(client, "/quality/alerts"))
