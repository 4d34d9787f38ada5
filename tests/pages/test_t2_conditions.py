"""The explorer's "rows match all / any filter" switch and metric conditions (HAVING)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from tests.conftest import find, render, signed_in, texts
from tests.fixtures.t2 import direct
from tests.pages.test_t2_callbacks import _call, _explore


def _match(t2_app, client, match: object, search: str = "?metrics=revenue&where=region+%3D+EMEA"):
    output = next(k for k, v in t2_app.callback_map.items() if v["inputs"][0]["id"] == "t2-match")
    return _call(client, output, [("t2-match", "value", match)], [("t2-state", "data", search)])


def _add_having(t2_app, client, metric: object, op: object, value: object, search: str):
    output = next(k for k, v in t2_app.callback_map.items() if v["inputs"][0]["id"] == "t2-h-add")
    state = [
        ("t2-h-metric", "value", metric),
        ("t2-h-op", "value", op),
        ("t2-h-value", "value", value),
        ("t2-state", "data", search),
    ]
    return _call(client, output, [("t2-h-add", "n_clicks", 1)], state)


def test_the_layout_restores_match_and_metric_conditions(t2_app) -> None:
    search = (
        "?metrics=revenue&by=country&where=region+%3D+EMEA&where=device+%3D+tablet"
        "&match=any&having=revenue+%3E+100"
    )
    page = render(signed_in(t2_app, "ana"), "/t2/explore", search)
    assert find(page, "t2-match")["props"]["value"] == "any"
    shown = texts(page)
    assert "region = EMEA ✕" in shown and "or" in shown and "revenue > 100 ✕" in shown
    removed = find(page, "t2-hchip-0")["props"]["href"]
    assert "having" not in removed and "match=any" in removed


def test_the_switch_and_the_condition_builder_write_the_url(t2_app) -> None:
    client = signed_in(t2_app, "ana")
    response = _match(t2_app, client, "any")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    search = response.get_json()["response"]["sb-url"]["search"]
    assert parse_qs(search.lstrip("?"))["match"] == ["any"]
    response = _add_having(t2_app, client, "orders", ">=", "3", search)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    after = parse_qs(response.get_json()["response"]["sb-url"]["search"].lstrip("?"))
    assert after["having"] == ["orders >= 3"] and after["match"] == ["any"]
    typed = _add_having(t2_app, client, "orders", ">", "lots", search)
    assert "'lots' is not a number" in typed.get_json()["response"]["t2-h-error"]["children"]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("match", "some"),
        ("match", ["any"]),
        ("having", ("nope", ">", "1")),
        ("having", ("orders", "~", "1")),
        ("having", ("orders", ">", {"a": 1})),
        ("having", (["orders"], ">", "1")),
    ],
)
def test_crafted_payloads_are_refused_with_a_message(t2_app, kind: str, payload: object) -> None:
    client = signed_in(t2_app, "ana")
    if kind == "match":
        response = _match(t2_app, client, payload)
    else:
        response = _add_having(t2_app, client, *payload, "?metrics=revenue")  # type: ignore[misc]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.get_json()["response"]
    assert "sb-url" not in answer  # the exploration is not changed
    message = answer["t2-h-error"]["children"]
    assert "is not one of the choices" in message or "expected text" in message


def test_a_crafted_callback_body_is_a_400_at_the_gate(t2_app) -> None:
    client = signed_in(t2_app, "ana")
    output = next(k for k, v in t2_app.callback_map.items() if v["inputs"][0]["id"] == "t2-h-add")
    response = _call(client, output, [("t2-h-add", "n_clicks", 1)], [])  # states left out
    assert response.status_code == 400
    assert "this callback takes 4" in response.get_data(as_text=True)


def test_the_background_run_applies_or_and_having(t2_app) -> None:
    result = _explore(
        signed_in(t2_app, "ana"),
        "?metrics=orders&by=country&where=region+%3D+EMEA&where=device+%3D+tablet"
        "&match=any&having=revenue+%3E+100",
    )
    grid = find(result, "t2-table")
    expected = direct(
        t2_app,
        """
        SELECT u.country, count(DISTINCT f.order_id) FROM fct_interaction f
        LEFT JOIN dim_user u ON u.user_key = f.user_key
        WHERE f.interaction_type = 'purchase' AND (u.region = 'EMEA' OR f.device = 'tablet')
        GROUP BY 1 HAVING sum(f.revenue) > 100 ORDER BY 1 NULLS LAST""",
    )
    assert expected
    assert [(r["country"], r["orders"]) for r in grid["props"]["rowData"]] == expected
