"""/t2/segments: features equal hand-written SQL, k by silhouette, names from features,
deterministic on the tiny demo; the export masks PII and keeps to the row scope."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from flask_login import login_user

from app.core.errors import ModelError
from queries import export
from queries import segments as seg_q
from queries.semantic.run import current_model
from tests.conftest import find, render, signed_in, texts


def _segments(app, name: str) -> tuple[seg_q.SegmentSpec, seg_q.Clustering]:
    users = app.server.extensions["starboard"].users
    with app.server.test_request_context("/"):
        login_user(users.by_name(name))
        return seg_q.segments()


def _direct(app, statement: str) -> list[tuple]:
    with app.server.extensions["starboard"].warehouse.snapshot().engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(statement).all()]


def _csv(client, number: int) -> list[list[str]]:
    response = client.get(f"/api/v1/segments/export.csv?segment={number}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return export.rows_of([response.get_data(as_text=True)])


def test_features_equal_hand_written_sql(demo_app) -> None:
    _spec, result = _segments(demo_app, "ana")
    features = result.assignment
    expected = dict(
        _direct(
            demo_app,
            """
        SELECT u.user_id, sum(f.revenue) FROM fct_interaction f
        JOIN dim_user u USING (user_key) WHERE f.interaction_type = 'purchase'
        GROUP BY u.user_id""",
        )
    )
    value = features["value"]
    buyers = value[value > 0]
    assert len(buyers) == len(expected)
    for user, revenue in expected.items():
        assert buyers[user] == pytest.approx(float(revenue))
    orders = dict(
        _direct(
            demo_app,
            """
        SELECT u.user_id, count(DISTINCT f.order_id) FROM fct_interaction f
        JOIN dim_user u USING (user_key) WHERE f.interaction_type = 'purchase'
        GROUP BY u.user_id""",
        )
    )
    assert {
        u: int(n) for u, n in features["frequency"][features["frequency"] > 0].items()
    } == orders
    active = _direct(demo_app, "SELECT count(DISTINCT user_key) FROM fct_interaction")[0][0]
    assert len(features) == active
    shares = features[[c for c in features.columns if c.startswith("device=")]].sum(axis=1)
    assert (shares <= 1 + 1e-9).all() and shares.max() == pytest.approx(1)


def test_k_is_the_best_silhouette_and_the_result_is_deterministic(demo_app) -> None:
    _spec, first = _segments(demo_app, "ana")
    scores = dict(first.silhouettes)
    assert sorted(scores) == list(range(2, 9))
    assert first.k == max(scores, key=lambda k: (round(scores[k], 6), -k))
    assert first.k == len(first.segments)
    again = seg_q.cluster(first.assignment.drop(columns=["segment"]), first.feature_labels)
    assert again.k == first.k and again.silhouettes == first.silhouettes
    pd.testing.assert_frame_equal(again.assignment, first.assignment)
    assert [s.name for s in again.segments] == [s.name for s in first.segments]
    totals = [s.value for s in first.segments]
    assert totals == sorted(totals, reverse=True)  # segment 1 holds the most value
    assert sum(s.members for s in first.segments) == len(first.assignment)


def test_names_come_from_each_segments_strongest_features() -> None:
    rng = np.random.default_rng(1)
    n = 60
    loyal = pd.DataFrame(
        {
            "recency_days": rng.uniform(0, 5, n),
            "frequency": rng.uniform(8, 12, n),
            "value": rng.uniform(800, 1200, n),
            "device=mobile": rng.uniform(0.0, 0.1, n),
        }
    )
    drifting = pd.DataFrame(
        {
            "recency_days": rng.uniform(200, 300, n),
            "frequency": rng.uniform(0, 1, n),
            "value": rng.uniform(0, 20, n),
            "device=mobile": rng.uniform(0.9, 1.0, n),
        }
    )
    features = pd.concat([loyal, drifting], ignore_index=True)
    labels = {
        "recency_days": "days since last active",
        "frequency": "Orders",
        "value": "Revenue",
        "device=mobile": "Device: mobile",
    }
    result = seg_q.cluster(features, labels)
    assert result.k == 2
    top, bottom = result.segments
    assert top.members == bottom.members == n
    assert set(top.name.split(", ")) <= {"recent", "many orders", "high revenue"}
    assert len(top.name.split(", ")) == 3
    assert set(bottom.name.split(", ")) <= {"lapsed", "few orders", "low revenue", "mobile"}
    assert top.traits[0][1] * bottom.traits[0][1] < 0  # opposite sides of the mean


def test_the_spec_is_checked_with_file_line_and_key(demo_app) -> None:
    with demo_app.server.app_context():
        model = current_model(demo_app.server.extensions["starboard"])
    with pytest.raises(ModelError) as bad:
        seg_q.parse_spec(
            {
                "member": "user",
                "value": "nope",
                "frequency": "orders",
                "mix": ["device", "date"],
                "colour": "red",
            },
            model,
        )
    message = bad.value.message
    assert "segments.value: 'nope' is not a metric of the model" in message
    assert "missing required key 'activity'" in message
    assert "segments.mix.1: 'date' is the time dimension" in message
    assert "unknown key 'colour'" in message
    assert f"{model.path}:" in message


def test_export_masks_pii_for_analysts_but_not_admins(demo_app) -> None:
    _spec, result = _segments(demo_app, "ana")
    first = result.segments[0]
    rows = _csv(signed_in(demo_app, "ana"), 1)
    header = rows[0]
    assert header[:6] == ["User", "Country", "Region", "Customer segment", "Age band", "Email"]
    assert len(rows) - 1 == first.members
    assert {r[5] for r in rows[1:]} == {seg_q.MASK}
    assert {r[header.index(seg_q.SEGMENT_COLUMN)] for r in rows[1:]} == {f"1: {first.name}"}
    admin = _csv(signed_in(demo_app, "ada"), 1)
    emails = dict(_direct(demo_app, "SELECT user_id, email FROM dim_user"))
    assert all(r[5] == emails[int(r[0])] for r in admin[1:])
    audited = demo_app.server.extensions["starboard"].users.audit_log(5)
    assert any(a["event"] == "export" and '"what": "segment"' in a["detail"] for a in audited)


def test_a_scoped_analyst_clusters_and_exports_only_their_scope(demo_app) -> None:
    _spec, everyone = _segments(demo_app, "ana")
    _spec, emea = _segments(demo_app, "emea")
    in_emea = {
        u
        for (u,) in _direct(
            demo_app,
            """
        SELECT DISTINCT u.user_id FROM fct_interaction f JOIN dim_user u USING (user_key)
        WHERE u.region = 'EMEA'""",
        )
    }
    assert set(emea.assignment.index) == in_emea
    assert len(emea.assignment) < len(everyone.assignment)
    client = signed_in(demo_app, "emea")
    exported = [row for n in range(1, emea.k + 1) for row in _csv(client, n)[1:]]
    assert {int(r[0]) for r in exported} == in_emea
    assert {r[2] for r in exported} == {"EMEA"}


def test_the_page_shows_segments_and_how_k_was_chosen(demo_app) -> None:
    _spec, result = _segments(demo_app, "ana")
    page = render(signed_in(demo_app, "ana"), "/t2/segments")
    assert texts(find(page, "t2seg-k")) == [str(result.k)]
    shown = texts(find(page, "t2seg-table"))
    for segment in result.segments:
        assert segment.name in shown and f"{segment.members:,}" in shown
    choice = texts(find(page, "t2seg-choice"))
    assert choice.count(str(result.k)) >= 1 and len(choice) == 2 + 2 * len(result.silhouettes)
    assert find(page, "t2seg-export-1")["props"]["href"].endswith("segment=1")


@pytest.mark.parametrize("who", ["erin", "oscar"])
def test_segments_are_closed_below_tier_2(demo_app, who) -> None:
    client = signed_in(demo_app, who)
    assert client.get("/t2/segments").status_code == 403
    assert find(render(client, "/t2/segments"), "sb-denied") is not None
    assert client.get("/api/v1/segments/export.csv?segment=1").status_code == 403


def test_export_names_a_bad_segment(demo_app) -> None:
    client = signed_in(demo_app, "ana")
    response = client.get("/api/v1/segments/export.csv?segment=99")
    assert (
        response.status_code == 400 and "no segment 99" in response.get_json()["error"]["message"]
    )
    for attack in ("x", "²", "१", "-1", "0", "1.5", "", "99999999999999999999999"):
        response = client.get("/api/v1/segments/export.csv", query_string={"segment": attack})
        assert response.status_code == 400, attack
        assert response.get_json()["error"]["message"].startswith(
            "segment: expected a whole number from 1 to"
        ), attack
    response = client.get("/api/v1/segments/export.csv")
    assert (
        response.status_code == 400
        and "segment: expected a whole number" in response.get_json()["error"]["message"]
    )
