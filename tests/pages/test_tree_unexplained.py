"""/tree shows "not explained" for the part of a change a product or ratio identity does not
give, as it does for a sum: on a deliberately wrong tree the parts plus what is not explained
make the parent's change (direct SQL); on the demo's right tree nothing is left over."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import DEMO_MODEL
from queries import tree
from tests.conftest import add_users, find_all, make_app, render, signed_in, texts

PURCHASE = "interaction_type = 'purchase'"
SEP = "occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'"
AUG = "occurred_at >= '2026-08-01' AND occurred_at < '2026-09-01'"
RIGHT = "  orders:          {children: [visitors, conversion_rate], relation: product}"
WRONG = "  orders:          {children: [buyers, conversion_rate], relation: product}"


# --------------------------------------------------------------------------- the rule


def test_a_product_that_does_not_hold_leaves_a_residual() -> None:
    # 1,025 → 1,100 is not 28,135 × 0.647 → 29,000 × 0.65: the children explain the
    # identity's change; the rest of the parent's change is not explained
    split = tree.product_split((1025.0, 1100.0), [(28135.0, 29000.0), (0.647, 0.65)])
    implied = 29000 * 0.65 - 28135 * 0.647
    assert sum(split.contributions) == pytest.approx(implied)  # type: ignore[arg-type]
    assert split.residual == pytest.approx(75.0 - implied)
    assert sum(split.contributions) + split.residual == pytest.approx(75.0)  # type: ignore
    assert tree.material(split.residual, 1025.0, 1100.0)
    assert "not explained" in split.note and "does not give the metric exactly" in split.note


def test_a_ratio_and_a_shapley_split_that_do_not_hold_leave_a_residual() -> None:
    ratio = tree.product_split((3.0, 3.0), [(200.0, 210.0), (100.0, 120.0)], (1, -1))
    assert sum(ratio.contributions) == pytest.approx(210 / 120 - 2.0)  # type: ignore[arg-type]
    assert ratio.residual == pytest.approx(0.0 - (210 / 120 - 2.0))
    shap = tree.product_split((1.0, 10.0), [(0.0, 2.0), (5.0, 3.0)])
    assert shap.method == "shapley"
    assert sum(shap.contributions) == pytest.approx(6.0)  # type: ignore[arg-type]
    assert shap.residual == pytest.approx(9.0 - 6.0)


def test_a_right_identity_leaves_nothing_unexplained() -> None:
    split = tree.product_split((100.0, 90.0), [(10.0, 9.5), (10.0, 90 / 9.5)])
    assert abs(split.residual or 0.0) < 1e-9
    assert not tree.material(split.residual, 100.0, 90.0)
    assert "not explained" not in split.note


# --------------------------------------------------------------------------- the page


def _sql(app, sql: str) -> float:
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return float(conn.exec_driver_sql(sql).scalar())


def _orders(app, when: str) -> float:
    return _sql(
        app, f"SELECT count(DISTINCT order_id) FROM fct_interaction WHERE {PURCHASE} AND {when}"
    )


def _card(page, metric: str) -> dict:
    [card] = find_all(
        page, lambda n: n.get("props", {}).get("id") == {"type": "tree-node", "metric": metric}
    )
    return card


def _contribution(page, metric: str) -> float:
    [hit] = find_all(_card(page, metric), lambda n: "data-contribution" in n.get("props", {}))
    return float(hit["props"]["data-contribution"])


def _unexplained(page) -> list[dict]:
    return find_all(page, lambda n: n.get("props", {}).get("className") == "sb-tree-unexplained")


@pytest.fixture(scope="module")
def wrong_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """The tiny demo with orders = buyers × conversion rate (false: buyers ≠ visitors)."""
    root = tmp_path_factory.mktemp("wrong_tree")
    text = Path(DEMO_MODEL).read_text(encoding="utf-8")
    assert RIGHT in text
    model = root / "demo.yaml"
    model.write_text(text.replace(RIGHT, WRONG), encoding="utf-8")
    app = make_app(tiny_demo, root / "home", model=str(model))
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def test_wrong_tree_shows_what_is_not_explained(wrong_app) -> None:
    page = render(signed_in(wrong_app, "erin"), "/tree/orders", "?period=2026-09")
    change = _orders(wrong_app, SEP) - _orders(wrong_app, AUG)
    parts = _contribution(page, "buyers") + _contribution(page, "conversion_rate")
    [shown] = _unexplained(page)
    residual = float(shown["props"]["data-residual"])
    assert parts + residual == pytest.approx(change)  # parts + not explained = the change
    assert abs(residual) > 0.01 * abs(change) or abs(residual) > 1
    text = shown["props"]["children"]
    assert text.startswith("not explained ") and "pts" in text
    relation = find_all(page, lambda n: n.get("props", {}).get("className") == "sb-tree-rel")
    assert "does not give the metric exactly" in relation[0]["props"]["title"]
    story = " ".join(
        texts(find_all(page, lambda n: n.get("props", {}).get("id") == "tree-narrative"))
    )
    assert "not explained" in story


def test_right_tree_shows_nothing_unexplained(demo_app) -> None:
    page = render(signed_in(demo_app, "erin"), "/tree/revenue", "?period=2026-09")
    assert _unexplained(page) == []  # revenue, orders and aov are exact identities
    cards = find_all(page, lambda n: n.get("props", {}).get("className") == "sb-tree-rel")
    assert len(cards) >= 3
    assert all("not explained" not in (c["props"].get("title") or "") for c in cards)
