"""/tree/<metric>: node values equal direct SQL, contributions add up, the URL carries period
and comparison, bad input gives notices, unknown metrics a clear error, access is enforced."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import find_all, render, signed_in, texts


@pytest.fixture
def exec_client(demo_app):
    return signed_in(demo_app, "erin")


def _nodes(component, predicate) -> list[dict]:
    return find_all(component, predicate)


def _card(page, metric: str) -> dict:
    hits = _nodes(
        page, lambda n: n.get("props", {}).get("id") == {"type": "tree-node", "metric": metric}
    )
    assert hits, f"no node for {metric}"
    return hits[0]


def _attr(card: dict, name: str) -> str:
    return _nodes(card, lambda n: name in n.get("props", {}))[0]["props"][name]


def _sql(app, sql: str):
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar()


def _month(start: str, end: str) -> str:
    return f"occurred_at >= '{start}' AND occurred_at < '{end}'"


SEP = _month("2026-09-01", "2026-10-01")
AUG = _month("2026-08-01", "2026-09-01")
PURCHASE = "interaction_type = 'purchase'"


def _expected(app, when: str) -> dict[str, float]:
    revenue = _sql(app, f"SELECT sum(revenue) FROM fct_interaction WHERE {PURCHASE} AND {when}")
    orders = _sql(
        app, f"SELECT count(DISTINCT order_id) FROM fct_interaction WHERE {PURCHASE} AND {when}"
    )
    units = _sql(app, f"SELECT sum(quantity) FROM fct_interaction WHERE {PURCHASE} AND {when}")
    visitors = _sql(
        app,
        "SELECT count(DISTINCT user_key) FROM fct_interaction WHERE "
        f"interaction_type = 'visit' AND {when}",
    )
    return {
        "revenue": revenue,
        "orders": orders,
        "aov": revenue / orders,
        "units_per_order": units / orders,
        "price_per_unit": revenue / units,
        "visitors": visitors,
        "conversion_rate": orders / visitors,
    }


def test_node_values_equal_direct_sql(demo_app, exec_client) -> None:
    page = render(exec_client, "/tree/revenue", "?period=2026-09&compare=previous")
    for metric, want in _expected(demo_app, SEP).items():
        assert float(_attr(_card(page, metric), "data-raw")) == pytest.approx(want), metric
    words = texts(page)
    assert "September 2026" in words and "Revenue" in words and "Orders" in words


def test_contributions_shown_add_up_to_the_parents_change(demo_app, exec_client) -> None:
    page = render(exec_client, "/tree/revenue", "?period=2026-09")
    now, before = _expected(demo_app, SEP), _expected(demo_app, AUG)
    shown = {
        m: float(_attr(_card(page, m), "data-contribution"))
        for m in (
            "orders",
            "aov",
            "visitors",
            "conversion_rate",
            "units_per_order",
            "price_per_unit",
        )
    }
    assert shown["orders"] + shown["aov"] == pytest.approx(now["revenue"] - before["revenue"])
    assert shown["visitors"] + shown["conversion_rate"] == pytest.approx(
        now["orders"] - before["orders"]
    )
    assert shown["units_per_order"] + shown["price_per_unit"] == pytest.approx(
        now["aov"] - before["aov"]
    )
    # the change chip a user reads on the root is the direct SQL change
    change = (now["revenue"] - before["revenue"]) / before["revenue"]
    assert f"{abs(change):.1%}" in " ".join(texts(_card(page, "revenue")))


def test_narrative_states_the_change_and_what_explains_it(demo_app, exec_client) -> None:
    page = render(exec_client, "/tree/revenue", "?period=2026-09")
    story = " ".join(
        texts(_nodes(page, lambda n: n.get("props", {}).get("id") == "tree-narrative"))
    )
    now, before = _expected(demo_app, SEP), _expected(demo_app, AUG)
    change = (now["revenue"] - before["revenue"]) / before["revenue"]
    verb = "rose" if change > 0 else "fell"
    assert story.startswith(f"Revenue {verb} {abs(change) * 100:.1f}% vs August 2026")
    assert "orders" in story and "points" in story


def test_period_and_compare_round_trip_through_the_url(exec_client) -> None:
    page = render(exec_client, "/tree/revenue", "?period=2026-08&compare=last_year")
    links = {
        n["props"]["id"]: n["props"]["href"]
        for n in _nodes(
            page,
            lambda n: (
                n.get("props", {}).get("id") in ("tree-prev", "tree-next", "tree-cmp-previous")
            ),
        )
    }
    assert links == {
        "tree-prev": "/tree/revenue?period=2026-07&compare=last_year",
        "tree-next": "/tree/revenue?period=2026-09&compare=last_year",
        "tree-cmp-previous": "/tree/revenue?period=2026-08&compare=previous",
    }
    words = " ".join(texts(page))
    assert "August 2026" in words and "Compared with August 2025" in words
    reroot = _nodes(_card(page, "orders"), lambda n: n.get("type") == "Link")[0]["props"]
    query = parse_qs(urlsplit(reroot["href"]).query)
    assert urlsplit(reroot["href"]).path == "/tree/orders"
    assert query == {"period": ["2026-08"], "compare": ["last_year"]}


def test_rerooted_tree_shows_the_subtree_only(demo_app, exec_client) -> None:
    page = render(exec_client, "/tree/orders", "?period=2026-09")
    assert float(_attr(_card(page, "orders"), "data-raw")) == pytest.approx(
        _expected(demo_app, SEP)["orders"]
    )
    metrics = {
        n["props"]["id"]["metric"]
        for n in _nodes(
            page,
            lambda n: (
                isinstance(n.get("props", {}).get("id"), dict)
                and n["props"]["id"].get("type") == "tree-node"
            ),
        )
    }
    assert metrics == {
        "orders",
        "visitors",
        "conversion_rate",
        "product_view_rate",
        "add_to_cart_rate",
        "checkout_rate",
        "checkout_completion_rate",
    }


def test_leaf_metric_shows_itself_with_top_movers(demo_app, exec_client) -> None:
    page = render(exec_client, "/tree/revenue", "?period=2026-09")
    assert _nodes(
        page,
        lambda n: (
            isinstance(n.get("props", {}).get("id"), dict)
            and n["props"]["id"].get("type") == "tree-mover"
        ),
    )
    leaf = render(exec_client, "/tree/visitors", "?period=2026-09")
    assert float(_attr(_card(leaf, "visitors"), "data-raw")) == _expected(demo_app, SEP)["visitors"]
    assert "Top movers of visitors" in texts(leaf)


@pytest.mark.parametrize(
    "search, notice",
    [
        ("?period=2026-13", "Showing October 2026"),
        ("?period=2026-Q3", "Showing October 2026"),
        ("?period=2099-01", "Showing October 2026"),
        ("?compare=yesterday", "'yesterday' is not a comparison"),
        ("?grain=fortnight", "'fortnight' is not a grain"),
    ],
)
def test_bad_input_gives_a_notice_and_the_default(exec_client, search, notice) -> None:
    words = " ".join(texts(render(exec_client, "/tree/revenue", search)))
    assert notice in words
    assert "October 2026" in words and "Compared with September 2026" in words


def test_quarter_grain_from_the_url(exec_client) -> None:
    words = " ".join(texts(render(exec_client, "/tree/revenue", "?period=2026-Q2&grain=quarter")))
    assert "Q2 2026" in words and "Compared with Q1 2026" in words


def test_unknown_metric_is_a_clear_error(exec_client) -> None:
    words = " ".join(texts(render(exec_client, "/tree/nope")))
    assert "There is no metric 'nope'" in words and "revenue" in words


def test_metric_outside_every_tree_is_a_clear_error(exec_client) -> None:
    words = " ".join(texts(render(exec_client, "/tree/emails_sent")))
    assert "Emails sent is not part of the metric tree" in words


def test_anonymous_request_is_sent_to_sign_in(demo_app) -> None:
    client = demo_app.server.test_client()
    response = client.get("/tree/revenue?period=2026-09")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/tree/revenue?period=2026-09"]


def test_tier0_tiles_open_the_tree(exec_client) -> None:
    page = render(exec_client, "/t0/company", "?period=2026-09")
    tile = _nodes(
        page, lambda n: n.get("props", {}).get("id") == {"type": "ban", "metric": "revenue"}
    )[0]
    assert tile["props"]["href"] == "/tree/revenue"


def test_count_contributions_and_narrative_read_in_whole_units(exec_client) -> None:
    """Orders = visitors × conversion rate: the parts of a count's change are whole orders
    ("+26"), never "+25.73"; the narrative writes the counts without decimals too."""
    import re

    page = render(exec_client, "/tree/orders", "?period=2026-09&compare=previous")
    for metric in ("visitors", "conversion_rate"):
        card = _card(page, metric)
        shown = [
            n["props"]["children"]
            for n in _nodes(card, lambda n: n.get("props", {}).get("className") == "sb-tree-abs")
        ]
        assert shown and re.fullmatch(r" \([+−]\d[\d,]*\)", shown[0]), shown
    narrative = next(t for t in texts(page) if t.startswith("Orders "))
    assert not re.search(r"\d\.\d\d\b(?!%| pts| points)", narrative.replace("pp", "")), narrative
    movers = _nodes(page, lambda n: "data-contribution" in n.get("props", {}))
    cells = [n["props"]["children"] for n in movers if n.get("type") == "Td"]
    assert cells and all(re.fullmatch(r"[+−]?\d[\d,]*", c) for c in cells), cells
