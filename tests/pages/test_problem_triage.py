"""Reported problems: lifecycle, assignee and comment, audit, links, who may triage."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.core import meta
from app.core.errors import DataError
from app.core.meta import MetaDB
from app.core.stores import problems
from tests.conftest import find, find_all, render, texts

OUTPUTS = [
    {"id": "problems-message", "property": "children"},
    {"id": "problems-wrap", "property": "children"},
]


def _users(app):
    return app.server.extensions["starboard"].users


def _report(
    app,
    text: str = "Tablet visitors are zero on the 17th",
    url: str = "/t1/growth?from=2025-09-17&to=2025-09-17&device=tablet",
    period: str = "",
) -> int:
    return problems.report(_users(app).db, reporter="oscar", url=url, period=period, text=text)


def _triage_body(app, problem_id, status=None, assignee=None, comment=None) -> dict:
    output = next(k for k in app.callback_map if "problems-message.children" in k)
    return {
        "output": output,
        "outputs": OUTPUTS,
        "inputs": [{"id": "problems-apply", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "problems-problem", "property": "value", "value": problem_id},
            {"id": "problems-status", "property": "value", "value": status},
            {"id": "problems-assignee", "property": "value", "value": assignee},
            {"id": "problems-comment", "property": "value", "value": comment},
            {"id": "sb-url", "property": "search", "value": ""},
        ],
        "changedPropIds": ["problems-apply.n_clicks"],
    }


def test_lifecycle_open_acknowledged_resolved_with_assignee_and_comment(app, client_as) -> None:
    client_as("analyst")  # adds the users
    users = _users(app)
    number = _report(app)
    row = problems.triage(
        users,
        number,
        actor="ana",
        status="acknowledged",
        assignee="ada",
        comment="Looking at the tracker logs",
    )
    assert (row["status"], row["assignee"], row["comment"]) == (
        "acknowledged",
        "ada",
        "Looking at the tracker logs",
    )
    assert row["updated_by"] == "ana" and row["updated_at"] is not None
    row = problems.triage(
        users, number, actor="ada", status="resolved", comment="Tracker fixed; data backfilled"
    )
    assert (row["status"], row["assignee"]) == ("resolved", "ada")
    assert row["comment"] == "Tracker fixed; data backfilled"
    events = [e for e in users.audit_log(10) if e["event"] == "problem_triage"]
    assert [json.loads(e["detail"])["status"] for e in events] == [
        "acknowledged → resolved",
        "open → acknowledged",
    ]
    assert [e["actor"] for e in events] == ["ada", "ana"]
    assert json.loads(events[1]["detail"])["assignee"] == "ada"


def test_invalid_transitions_and_bad_input_are_refused_with_a_reason(app, client_as) -> None:
    client_as("analyst")
    users = _users(app)
    number = _report(app)
    problems.triage(users, number, actor="ana", status="resolved")
    with pytest.raises(
        DataError,
        match=r"#\d+ is resolved: it can go to open, not "
        "acknowledged",
    ):
        problems.triage(users, number, actor="ana", status="acknowledged")
    with pytest.raises(DataError, match="Unknown status 'closed'"):
        problems.triage(users, number, actor="ana", status="closed")
    with pytest.raises(DataError, match="no active user of that name"):
        problems.triage(users, number, actor="ana", assignee="nobody")
    with pytest.raises(DataError, match="Nothing to change"):
        problems.triage(users, number, actor="ana", status="resolved")
    with pytest.raises(DataError, match="There is no reported problem #999"):
        problems.triage(users, 999, actor="ana", status="open")
    assert problems.get(users.db, number)["status"] == "resolved"
    reopened = problems.triage(
        users, number, actor="ana", status="open", comment="Back again on the 18th"
    )
    assert reopened["status"] == "open"
    assert [e["event"] for e in users.audit_log(2)] == ["problem_triage", "problem_triage"]


def test_page_lists_reports_with_a_link_to_the_exact_view(app, client_as) -> None:
    client = client_as("analyst")
    url = "/t0/company?period=2026-09"
    number = _report(app, "Revenue looks doubled", url=url, period="2026-09")
    page = render(client, "/quality/problems")
    table = find(page, "problems-table")
    words = texts(table)
    assert "Revenue looks doubled" in words and "oscar" in words and "open" in words
    links = find_all(table, lambda n: n.get("props", {}).get("href") == url)
    assert texts(links) == ["/t0/company · 2026-09"]
    assert texts(find(page, "problems-open")) == ["1"]
    problems.triage(_users(app), number, actor="ana", status="acknowledged")
    assert texts(find(render(client, "/quality/problems", "?status=open"), "problems-wrap")) == [
        "No open problems."
    ]
    acknowledged = render(client, "/quality/problems", "?status=acknowledged")
    assert "Revenue looks doubled" in texts(find(acknowledged, "problems-table"))


def test_analyst_triages_through_the_page_and_it_is_audited(app, client_as) -> None:
    client = client_as("analyst")
    number = _report(app)
    body = _triage_body(app, number, "acknowledged", "ana", "Mine")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    answer = response.get_json()["response"]
    assert texts(answer["problems-message"]["children"]) == [
        f"Problem #{number}: acknowledged, assigned to ana."
    ]
    row = problems.get(_users(app).db, number)
    assert (row["status"], row["assignee"], row["comment"]) == ("acknowledged", "ana", "Mine")
    audit = _users(app).audit_log(1)[0]
    assert (audit["event"], audit["actor"]) == ("problem_triage", "ana")
    refused = client.post("/_dash-update-component", json=_triage_body(app, number, "acknowledged"))
    assert "Nothing to change" in " ".join(
        texts(refused.get_json()["response"]["problems-message"]["children"])
    )


@pytest.mark.parametrize("role", ["executive", "operator"])
def test_only_analysts_and_admins_may_triage(app, client_as, role: str) -> None:
    client = client_as(role)
    number = _report(app)
    body = _triage_body(app, number, "resolved")
    assert client.post("/_dash-update-component", json=body).status_code == 403
    assert client.get("/quality/problems").status_code == 403
    assert problems.get(_users(app).db, number)["status"] == "open"
    assert client_as("admin").post("/_dash-update-component", json=body).status_code == 200
    assert problems.get(_users(app).db, number)["status"] == "resolved"


def test_an_old_metadata_database_gains_the_triage_columns(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # sb_problem as the first release created it
        conn.execute(
            sa.text(
                "CREATE TABLE sb_problem (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, "
                "reporter VARCHAR(100) NOT NULL, url TEXT NOT NULL, period VARCHAR(40) NOT NULL, "
                "text TEXT NOT NULL, status VARCHAR(20) NOT NULL, assignee VARCHAR(100) NOT NULL, "
                "comment TEXT NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sb_problem VALUES (1, '2026-01-02 03:04:05', 'erin', '/t0/company', "
                "'', 'Old report', 'open', '', '')"
            )
        )
    engine.dispose()
    db = MetaDB(url)
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("sb_problem")}
    assert {"updated_at", "updated_by"} <= columns
    assert problems.get(db, 1)["text"] == "Old report"
    assert meta.add_missing_columns(db.engine) == []  # a second start adds nothing
    db.dispose()
