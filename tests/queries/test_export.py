"""CSV exports: streamed from the server, equal to direct SQL, capped per role, audited."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import add_users, make_app, render, signed_in, texts
from tests.fixtures.t2 import direct

DETAIL = "/api/v1/export/detail?" + urlencode(
    [
        ("metric", "orders"),
        ("where", "channel_group = 'Paid Search'"),
        ("where", "date between 2026-01-01 and 2026-06-30"),
    ]
)


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def _audits(app, event: str = "export") -> list[dict]:
    users = app.server.extensions["starboard"].users
    return [
        {**r, "detail": json.loads(r["detail"])} for r in users.audit_log(50) if r["event"] == event
    ]


def test_explorer_csv_equals_direct_sql(t2_app) -> None:
    client = signed_in(t2_app, "ana")
    rows = _csv(
        client.get(
            "/api/v1/export/explore?metrics=revenue,orders&by=channel_group"
            "&where=device = mobile&order=-revenue"
        )
    )
    expected = direct(
        t2_app,
        """
        SELECT c.channel_group, sum(f.revenue), count(DISTINCT f.order_id)
        FROM fct_interaction f LEFT JOIN dim_channel c ON c.channel_key = f.channel_key
        WHERE f.interaction_type = 'purchase' AND f.device = 'mobile'
        GROUP BY 1 ORDER BY 2 DESC""",
    )
    assert rows[0] == ["channel_group", "revenue", "orders"]
    assert [r[0] for r in rows[1:]] == [e[0] for e in expected]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx([float(e[1]) for e in expected])
    assert [int(r[2]) for r in rows[1:]] == [e[2] for e in expected]


def test_detail_csv_equals_direct_sql_and_is_audited(t2_app) -> None:
    client = signed_in(t2_app, "ada")
    rows = _csv(client.get(DETAIL))
    header = rows[0]
    expected = direct(
        t2_app,
        """
        SELECT f.interaction_key, f.order_id, u.email FROM fct_interaction f
        JOIN dim_channel c ON c.channel_key = f.channel_key
        LEFT JOIN dim_user u ON u.user_key = f.user_key
        WHERE f.interaction_type = 'purchase' AND c.channel_group = 'Paid Search'
          AND f.occurred_at >= DATE '2026-01-01' AND f.occurred_at < DATE '2026-07-01'
        ORDER BY f.interaction_key""",
    )
    at = {name: header.index(name) for name in ("interaction_key", "order_id", "email")}
    assert (
        sorted(
            (int(r[at["interaction_key"]]), int(r[at["order_id"]]), r[at["email"]])
            for r in rows[1:]
        )
        == expected
    )  # the warehouse's order: it streams
    audit = _audits(t2_app)[0]
    assert audit["actor"] == "ada"
    assert audit["detail"]["what"] == "detail" and audit["detail"]["rows"] == len(expected)
    assert audit["detail"]["truncated"] is False and audit["detail"]["aborted"] is False
    assert audit["detail"]["where"] == [
        "channel_group = Paid Search",
        "date between 2026-01-01 and 2026-06-30",
    ]


def test_a_sorted_detail_export_keeps_the_sort(t2_app) -> None:
    rows = _csv(signed_in(t2_app, "ana").get(DETAIL + "&sort=-revenue,interaction_key"))
    at = rows[0].index("revenue"), rows[0].index("interaction_key")
    got = [(float(r[at[0]]), int(r[at[1]])) for r in rows[1:]]
    assert got == sorted(got, key=lambda x: (-x[0], x[1])) and len(got) > 10


def test_pii_is_masked_for_analysts_and_shown_to_admins(t2_app) -> None:
    ana = _csv(signed_in(t2_app, "ana").get(DETAIL))
    ada = _csv(signed_in(t2_app, "ada").get(DETAIL))
    column = ana[0].index("email")
    assert {r[column] for r in ana[1:]} == {"•••"}
    assert all("@" in r[column] for r in ada[1:])
    refused = signed_in(t2_app, "ana").get(DETAIL + "&" + urlencode({"where": "email = x@y.z"}))
    assert refused.status_code == 403
    assert "personal data" in refused.get_json()["error"]["message"]
    grouped = signed_in(t2_app, "ana").get("/api/v1/export/explore?metrics=orders&by=email")
    assert grouped.status_code == 403


def test_a_scoped_user_exports_only_their_rows(t2_app) -> None:
    client = signed_in(t2_app, "emea")
    rows = _csv(client.get("/api/v1/export/detail?metric=orders"))
    region = rows[0].index("region")
    (count,) = direct(
        t2_app,
        """
        SELECT count(*) FROM fct_interaction f JOIN dim_user u ON u.user_key = f.user_key
        WHERE f.interaction_type = 'purchase' AND u.region = 'EMEA'""",
    )
    assert {r[region] for r in rows[1:]} == {"EMEA"} and len(rows) - 1 == count[0]
    crafted = _csv(client.get("/api/v1/export/detail?metric=orders&where=region = AMER"))
    assert crafted[1:] == []
    by_region = _csv(client.get("/api/v1/export/explore?metrics=orders&by=region"))
    assert [r[0] for r in by_region[1:]] == ["EMEA"]


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("erin", 403), ("oscar", 403)])
def test_only_tier2_roles_may_export(t2_app, who, status) -> None:
    client = signed_in(t2_app, who) if who else t2_app.server.test_client()
    for url in (DETAIL, "/api/v1/export/explore?metrics=revenue"):
        response = client.get(url)
        assert response.status_code == status
        assert "text/csv" not in response.content_type


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/export/detail", "metric: required"),
        ("/api/v1/export/detail?metric=nope", "unknown metric 'nope'"),
        ("/api/v1/export/detail?metric=orders&sort=password", "unknown column 'password'"),
        ("/api/v1/export/explore?metrics=revenue&chart=pie", "not a chart type"),
        ("/api/v1/export/explore?metrics=nope", "unknown metric 'nope'"),
        ("/api/v1/export/explore", "Pick at least one metric"),
    ],
)
def test_bad_export_requests_say_what_is_wrong(t2_app, url, message) -> None:
    response = signed_in(t2_app, "ana").get(url)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_the_row_cap_is_enforced_stated_and_audited(tiny_demo: str, tmp_path: Path) -> None:
    app = make_app(tiny_demo, tmp_path, export_max_rows="analyst=7,admin=9")
    add_users(app)
    try:
        client = signed_in(app, "ana")
        response = client.get("/api/v1/export/detail?metric=orders")
        assert response.headers["X-Starboard-Row-Cap"] == "7"
        assert len(_csv(response)) == 1 + 7
        explore = _csv(client.get("/api/v1/export/explore?metrics=orders&by=product"))
        assert len(explore) == 1 + 7
        audit = _audits(app)
        assert [a["detail"]["truncated"] for a in audit[:2]] == [True, True]
        assert [a["detail"]["rows"] for a in audit[:2]] == [7, 7]
        page = texts(render(client, "/t2/explore", "?metrics=orders"))
        assert "CSV, at most 7 rows and 500 MB for your role (analyst)." in page
        admin = signed_in(app, "ada")
        assert len(_csv(admin.get("/api/v1/export/detail?metric=orders"))) == 1 + 9
    finally:
        app.server.extensions["starboard"].warehouse.dispose()


def test_export_caps_setting_is_checked() -> None:
    from app.core.config import load_settings
    from app.core.errors import ConfigError

    assert load_settings({"home": "/tmp/x"}, {}).export_max_rows == (
        ("admin", 5_000_000),
        ("analyst", 1_000_000),
    )
    assert load_settings(
        {"home": "/tmp/x"}, {"STARBOARD_EXPORT_MAX_ROWS": "250"}
    ).export_max_rows == (("admin", 250), ("analyst", 250))
    with pytest.raises(ConfigError, match="STARBOARD_EXPORT_MAX_ROWS='executive=5'"):
        load_settings({"home": "/tmp/x"}, {"STARBOARD_EXPORT_MAX_ROWS": "executive=5"})
