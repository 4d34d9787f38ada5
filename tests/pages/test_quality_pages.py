"""Trust where people look: badges on tiles and charts, the page's DQ dot, and /quality's
checks, history, freshness and failing rows (PII masked by role)."""

from __future__ import annotations

import pytest

from app.core.stores.checks import MASK
from tests.conftest import add_users, find, find_all, make_app, render, sign_in, texts


@pytest.fixture(scope="module")
def planted_app(planted_demo):
    settings, _ = planted_demo
    app = make_app(settings.db_url, settings.home, model=str(settings.model))
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture
def as_user(planted_app):
    clients = []

    def make(name: str):
        client = planted_app.server.test_client()
        clients.append(client)
        assert sign_in(client, name).status_code == 302
        client.get("/_dash-layout")
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _badges(node) -> list[dict]:
    return find_all(
        node, lambda n: "sb-trust-badge" in str(n.get("props", {}).get("className", ""))
    )


def _tile(page, metric: str) -> dict:
    [tile] = find_all(page, lambda n: n.get("props", {}).get("data-metric") == metric)
    return tile


def test_tiles_whose_fact_fails_a_check_show_an_amber_badge(as_user) -> None:
    page = render(as_user("erin"), "/t0/marketing")
    [badge] = _badges(_tile(page, "roas"))  # revenue / spend: fct_interaction
    props = badge["props"]
    assert props["data-status"] == "amber" and texts(badge) == ["● ", "DQ"]
    assert "device_known" in props["title"] and "fct_interaction.device" in props["title"]
    assert "1 of" not in props["title"].splitlines()[0]
    assert _badges(_tile(page, "spend")) == []  # fct_marketing_spend passes
    [dot] = find_all(page, lambda n: "sb-dq" == n.get("props", {}).get("className"))
    assert dot["props"]["data-status"] == "warn"  # the page's worst input
    assert "device_known" in dot["props"]["title"]


def test_charts_carry_the_badge_of_their_metric_and_dimension(as_user) -> None:
    page = render(as_user("erin"), "/t0/marketing")
    charts = find_all(page, lambda n: n.get("props", {}).get("className") == "sb-chart")
    by_title = {texts(c)[0].split(",")[0]: c for c in charts}  # "Spend by channel group, …"
    assert _badges(by_title["Marketing spend by channel group"]) == []
    [badge] = _badges(by_title["Return on ad spend by channel"])
    assert "device_known" in badge["props"]["title"]


def test_trust_for_inherits_fact_and_dimension_checks(planted_app) -> None:
    from queries.quality.trust import trust_for

    with planted_app.server.test_request_context():
        revenue = trust_for("revenue")
        spend = trust_for("spend")
        spend_by_region = trust_for(["spend"], ["region"])
        revenue_page = trust_for("revenue", page_level=True)
    assert (revenue.status, revenue.colour) == ("warn", "amber")
    assert [r.name for r in revenue.failing] == ["device_known"]
    # the demo data ends on 31 Oct 2026: the built-in freshness gate warns too, which the
    # page states once (banner, DQ dot) rather than on every tile
    assert [r.name for r in revenue_page.failing] == ["device_known", "freshness"]
    assert spend.status == "ok" and spend.failing == ()
    assert spend_by_region.status == "warn"  # region lives on dim_user
    assert [r.name for r in spend_by_region.failing] == ["no_internal_users"]


def _sample(page, check_id: str) -> list[str]:
    [block] = find_all(page, lambda n: n.get("props", {}).get("data-check") == check_id)
    return texts(block)


def test_quality_masks_pii_in_failing_rows_for_an_analyst_not_an_admin(as_user) -> None:
    masked = _sample(render(as_user("ana"), "/quality"), "model:dim_user.no_internal_users")
    shown = _sample(render(as_user("ada"), "/quality"), "model:dim_user.no_internal_users")
    assert "email" in masked and MASK in masked and not any("@" in t for t in masked)
    assert any("email masked (PII)" in t for t in masked)
    assert MASK not in shown and sum("@example.com" in t for t in shown) == 4
    assert not any("masked" in t for t in shown)


def test_quality_shows_checks_by_table_freshness_history_and_formula(as_user, planted_demo) -> None:
    _, result = planted_demo
    page = render(as_user("ana"), "/quality")
    tables = find_all(page, lambda n: "data-table" in n.get("props", {}))
    status = {t["props"]["data-table"]: t["props"]["data-status"] for t in tables}
    assert status["fct_interaction"] == "warn" and status["dim_user"] == "warn"
    assert status["fct_marketing_spend"] == "ok"
    fresh = texts(find(page, "quality-freshness"))
    assert "fct_interaction" in fresh and "fct_interaction.occurred_at" in fresh
    assert "dim_date.date" in fresh and "default SLO" in fresh
    runs = texts(find(page, "quality-history-runs"))
    assert result.version in runs and "publish" in runs and "yes" in runs
    history = find(page, "quality-history")
    figures = find_all(history, lambda n: n.get("type") == "Graph")
    assert len(figures) == 2
    heat = figures[1]["props"]["figure"]["data"][0]
    assert "fct_interaction · device_known" in heat["y"]
    assert "weight × (1 + critical + tier0)" in texts(find(page, "quality-formula"))[0]
    score = texts(find(page, "quality-score"))[0]
    assert score == f"{result.dq_score:.1f}%"


def test_tier1_cards_and_tree_nodes_carry_the_checks_of_their_data(as_user) -> None:
    page = render(as_user("oscar"), "/t1/channels")
    cards = find_all(page, lambda n: "data-chart" in n.get("props", {}))
    badged = {texts(c)[0]: bool(_badges(c)) for c in cards}
    assert badged["Marketing spend by day"] is False
    assert any(badged[t] for t in badged if t.startswith("Return on ad spend"))
    [dot] = find_all(page, lambda n: "sb-dq" == n.get("props", {}).get("className"))
    assert dot["props"]["data-status"] == "warn"
    tree = render(as_user("oscar"), "/tree/revenue")
    nodes = find_all(tree, lambda n: "sb-tree-dq" in str(n.get("props", {}).get("className", "")))
    assert nodes and all(n["props"]["data-status"] == "warn" for n in nodes)
    assert any("fct_interaction.device: " in n["props"]["title"] for n in nodes)
