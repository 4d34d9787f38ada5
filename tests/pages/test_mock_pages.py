"""Every page type renders on a mock warehouse of three unlike models (the demo, the support
desk, a library), and the Tier 0 BANs are non-zero and equal hand-written SQL on the mock.

This is what ``starboard mock`` promises: a model can be served and read page by page
before one real row exists.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from components.formatting import format_value
from queries.semantic.model import load_model
from queries.starter.mock import MockOptions, generate, write_database
from tests.conftest import PASSWORD, make_app, render, sign_in, texts
from tests.pages.test_other_model import BOARDS as SUPPORT_BOARDS
from tests.queries.second_schema import MODEL_PATH as SUPPORT_PATH
from tests.queries.starter.library import write_library

DEMO_PATH = Path(__file__).parents[2] / "queries" / "models" / "demo.yaml"
OPTIONS = MockOptions(rows=6_000, seed=11, end_date=date(2026, 11, 30))
PERIOD = "2026-10"
OCTOBER = "BETWEEN TIMESTAMP '2026-10-01' AND TIMESTAMP '2026-10-31 23:59:59.999999'"

# model → (T0 board, T1 board, tree metric or None, explore query, [(BAN metric, its SQL)])
CASES = {
    "shop": (
        "company",
        "growth",
        "revenue",
        "?metrics=revenue&by=date:month",
        [
            (
                "revenue",
                "SELECT sum(revenue) FROM fct_interaction "
                f"WHERE interaction_type = 'purchase' AND occurred_at {OCTOBER}",
            ),
            (
                "active_users",
                "SELECT count(DISTINCT user_key) FROM fct_interaction "
                f"WHERE interaction_type <> 'email_sent' AND occurred_at {OCTOBER}",
            ),
            ("new_users", f"SELECT count(*) FROM dim_user WHERE signup_date {OCTOBER}"),
        ],
    ),
    "support": (
        "desk",
        "desk_ops",
        "handle_minutes",
        "?metrics=events&by=period:month",
        [
            (
                "tickets_opened",
                "SELECT count(DISTINCT ticket_id) FROM f_ticket_event e "
                "JOIN d_calendar c ON c.cal_key = e.event_cal_key "
                f"WHERE e.event_kind = 'opened' AND c.cal_date {OCTOBER}",
            ),
            (
                "resolutions",
                "SELECT count(*) FROM f_ticket_event e "
                "JOIN d_calendar c ON c.cal_key = e.event_cal_key "
                f"WHERE e.event_kind = 'resolved' AND c.cal_date {OCTOBER}",
            ),
        ],
    ),
    "library": (
        "circulation",
        "branch_ops",
        "loans",
        "?metrics=loans&metrics=return_rate&by=genre&view=table",
        [
            ("loans", f"SELECT count(*) FROM loans WHERE loaned_at {OCTOBER}"),
            ("borrowers", f"SELECT count(DISTINCT member_id) FROM loans WHERE loaned_at {OCTOBER}"),
            (
                "return_rate",
                "SELECT avg(CASE WHEN status IN ('returned', 'returned_late') "
                f"THEN 1.0 ELSE 0 END) FROM loans WHERE loaned_at {OCTOBER}",
            ),
        ],
    ),
}


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mockpages")
    support = root / "support.yaml"
    support.write_text(SUPPORT_PATH.read_text(encoding="utf-8") + SUPPORT_BOARDS, encoding="utf-8")
    built = {}
    for path in (DEMO_PATH, support, write_library(root)):
        model = load_model(path)
        file = root / f"{model.name}.duckdb"
        write_database(generate(model, OPTIONS), f"duckdb:///{file}")
        app = make_app(f"duckdb:///{file}", root / f"home_{model.name}", model=str(path))
        app.server.extensions["starboard"].users.add("ada", "admin", PASSWORD)
        client = app.server.test_client()
        assert sign_in(client, "ada").status_code == 302
        client.get("/_dash-layout")
        built[model.name] = (app, client, file, model)
    yield built
    for app, *_ in built.values():
        app.server.extensions["starboard"].warehouse.dispose()


def pages(name: str) -> list[tuple[str, str]]:
    t0, t1, tree, explore, _bans = CASES[name]
    out = [
        ("/", ""),
        (f"/t0/{t0}", ""),
        (f"/t0/{t0}", f"?period={PERIOD}"),
        (f"/t1/{t1}", ""),
        (f"/t1/{t1}", "?from=2026-09-01&to=2026-10-31"),
        ("/t2/explore", explore),
        ("/quality", ""),
    ]
    return out + ([(f"/tree/{tree}", "")] if tree else [])


@pytest.mark.parametrize(
    ("name", "path", "search"), [(n, p, s) for n in CASES for p, s in pages(n)]
)
def test_every_page_renders_on_the_mock(apps, name: str, path: str, search: str) -> None:
    _app, client, _file, _model = apps[name]
    page = render(client, path, search)
    shown = " ".join(texts(page))
    assert shown, (name, path)
    for bad in (
        "Invalid query",
        "unknown dimension",
        "Query error",
        "Traceback",
        "Something went wrong",
        "Warehouse unavailable",
        "No data for this period",
    ):
        assert bad not in shown, (name, path, search, bad, shown[:3000])
    assert "sb-error" not in json.dumps(page), (name, path, search, shown[:3000])


def find(node: object, match) -> dict | None:
    """The first component in a rendered tree for which ``match(props)`` holds."""
    if isinstance(node, list):
        for child in node:
            found = find(child, match)
            if found is not None:
                return found
    elif isinstance(node, dict):
        props = node.get("props", {})
        if match(props):
            return node
        return find(props.get("children"), match)
    return None


def ban_value(page: dict, metric: str) -> str:
    """The big number of one BAN tile, as shown."""
    tile = find(page, lambda p: p.get("id") == {"type": "ban", "metric": metric})
    assert tile is not None, metric
    value = find(tile, lambda p: "sb-ban-value" in str(p.get("className", "")).split())
    assert value is not None, metric
    return " ".join(texts(value))


@pytest.mark.parametrize("name", list(CASES))
def test_tier0_bans_are_non_zero_and_match_direct_sql(apps, name: str) -> None:
    app, client, _file, model = apps[name]
    board = CASES[name][0]
    page = render(client, f"/t0/{board}", f"?period={PERIOD}")
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        for metric, query in CASES[name][4]:
            value = conn.exec_driver_sql(query).scalar()
            assert value and value > 0, (metric, value)
            expected = format_value(float(value), model.metrics[metric].format)
            assert ban_value(page, metric) == expected, (metric, value)
