"""Freshness from the data itself: each fact's latest time (own column or through a join),
read once per data version; its SLO from `freshness_hours`, a model freshness check or the
setting; and what the model declares for the pages that need it (`segments:`, `tree:`)."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core.errors import ModelError
from app.core.warehouse import Snapshot
from queries import features
from queries.quality import freshness
from queries.semantic.model import parse_model
from tests.conftest import make_app
from tests.queries.second_schema import MODEL_PATH, create_duckdb

SUPPORT = MODEL_PATH.read_text(encoding="utf-8")
TICKET_TIME = "    time: d_calendar.cal_date\n"
SEGMENTS = """
segments:
  title: Agents
  member: agent
  value: handle_minutes
  frequency: resolutions
  activity: events
  mix: [channel]
"""


def _with(extra: str = "", ticket: str = "", staffing: str = "") -> str:
    text = SUPPORT.replace(TICKET_TIME, TICKET_TIME + ticket)
    text = text.replace("    time: shift_start\n", "    time: shift_start\n" + staffing)
    return text + extra


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "0 is not a freshness SLO: use a positive number of hours"),
        ("-12", "-12 is not a freshness SLO: use a positive number of hours"),
        ("soon", "expected a number of hours, got a string"),
        ("true", "expected a number of hours, got a boolean"),
    ],
)
def test_a_bad_freshness_slo_names_the_file_line_and_key(value: str, message: str) -> None:
    text = _with(ticket=f"    freshness_hours: {value}\n")
    line = text.splitlines().index(f"    freshness_hours: {value}") + 1
    with pytest.raises(ModelError) as caught:
        parse_model(text, "support.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"support.yaml:{line}: tables.f_ticket_event.freshness_hours: {message}"
    ]


def test_a_freshness_slo_belongs_on_a_fact_with_a_time_column() -> None:
    text = SUPPORT.replace(
        "  d_agent:\n    kind: dimension\n",
        "  d_agent:\n    kind: dimension\n    freshness_hours: 24\n",
    ).replace("    time: shift_start\n", "    freshness_hours: 24\n")
    with pytest.raises(ModelError) as caught:
        parse_model(text, "support.yaml")
    found = {p.key: p.message for p in caught.value.problems}
    assert found["tables.d_agent.freshness_hours"] == "only a fact table has a freshness SLO"
    assert found["tables.f_staffing.freshness_hours"] == (
        "a freshness SLO needs the table's time column (time:)"
    )


def test_slo_comes_from_freshness_hours_then_a_model_check_then_the_setting() -> None:
    check = (
        "\nchecks:\n  f_staffing:\n"
        "    - {kind: freshness, column: shift_start, max_age_hours: 72, risk: 1}\n"
    )
    model = parse_model(_with(check, ticket="    freshness_hours: 6.5\n"))
    assert freshness.slo_of(model, model.tables["f_ticket_event"], 36) == (
        6.5,
        "freshness_hours",
        2,
    )
    staffing = freshness.slo_of(model, model.tables["f_staffing"], 36)
    assert staffing[0] == 72 and staffing[1].startswith("model check") and staffing[2] == 1
    plain = parse_model(SUPPORT)
    assert freshness.slo_of(plain, plain.tables["f_staffing"], 36) == (36.0, "default SLO", 2)


@pytest.fixture(scope="module")
def support_app(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fresh")
    warehouse = create_duckdb(root / "support.duckdb")
    model = root / "support.yaml"
    model.write_text(_with(ticket="    freshness_hours: 48\n"), encoding="utf-8")
    app = make_app(f"duckdb:///{warehouse}", root / "home", model=str(model))
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def _by_hand(app) -> dict[str, datetime]:
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        day = conn.exec_driver_sql(
            "SELECT max(c.cal_date) FROM f_ticket_event e "
            "JOIN d_calendar c ON c.cal_key = e.event_cal_key"
        ).scalar()
        shift = conn.exec_driver_sql("SELECT max(shift_start) FROM f_staffing").scalar()
        snapshot = conn.exec_driver_sql("SELECT max(snapshot_day) FROM f_backlog").scalar()
    return {
        "f_ticket_event": datetime(day.year, day.month, day.day),
        "f_staffing": shift,
        "f_backlog": datetime(snapshot.year, snapshot.month, snapshot.day),
    }


def test_latest_times_match_direct_sql_and_are_read_once_per_version(
    support_app, monkeypatch
) -> None:
    expected = _by_hand(support_app)
    reads: list[str] = []
    real = freshness.read_fact_times

    def counting(model, snap):
        reads.append(snap.version.id)
        return real(model, snap)

    monkeypatch.setattr(freshness, "read_fact_times", counting)
    runtime = support_app.server.extensions["starboard"]
    with support_app.server.app_context():
        runtime.state.pop(freshness.STATE + runtime.warehouse.snapshot().version.id, None)
        first = freshness.fact_times(runtime)
        again = freshness.fact_times(runtime)
        assert {t.table: t.latest for t in first} == expected
        assert {t.column for t in first} == {
            "d_calendar.cal_date",
            "f_staffing.shift_start",
            "f_backlog.snapshot_day",
        }
        assert again is first and len(reads) == 1
        assert freshness.data_as_of(first) == max(expected.values())
        snap = runtime.warehouse.snapshot()
        newer = Snapshot(snap.engine, replace(snap.version, id=snap.version.id + "-next"))
        monkeypatch.setattr(runtime.warehouse, "snapshot", lambda: newer)
        freshness.fact_times(runtime)
        assert len(reads) == 2 and reads[1].endswith("-next")
        keys = [k for k in runtime.state if k.startswith(freshness.STATE)]
        assert keys == [freshness.STATE + newer.version.id]  # the old version's entry dropped


def test_freshness_judges_each_fact_against_its_own_slo(support_app) -> None:
    expected = _by_hand(support_app)
    runtime = support_app.server.extensions["starboard"]
    # 40 h after the newest staffing shift: the ticket fact (48 h) is fresh only if its
    # latest day is no more than 48 h back, the staffing fact (default 36 h) is late
    now = expected["f_staffing"] + timedelta(hours=40)
    with support_app.server.app_context():
        rows = {
            r.table: r
            for r in freshness.freshness(
                parse_model(Path(runtime.settings.model).read_text(), runtime.settings.model),
                freshness.fact_times(runtime),
                36,
                now,
            )
        }
    ticket_age = (now - expected["f_ticket_event"]).total_seconds() / 3600
    assert rows["f_ticket_event"].age_hours == round(ticket_age, 1)
    assert rows["f_ticket_event"].slo_hours == 48
    assert rows["f_ticket_event"].status == ("ok" if ticket_age <= 48 else "warn")
    assert (rows["f_staffing"].age_hours, rows["f_staffing"].status) == (40.0, "warn")
    message = freshness.stale_message(tuple(rows.values()))
    assert message is not None
    assert f"f_staffing is 40 h old (latest {expected['f_staffing']:%d %b %Y %H:%M}; " in message
    assert "freshness SLO 36 h)" in message
    fresh = freshness.freshness(
        parse_model(Path(runtime.settings.model).read_text()),
        tuple(freshness.FactTime(r.table, r.column, r.latest) for r in rows.values()),
        36,
        max(expected.values()) + timedelta(hours=1),
    )
    assert freshness.stale_message(fresh) is None


def test_segments_are_declared_only_when_they_validate(tmp_path: Path) -> None:
    warehouse = create_duckdb(tmp_path / "support.duckdb")
    bad = SEGMENTS.replace("member: agent", "member: agnet")
    for text, declared in ((SUPPORT, False), (SUPPORT + SEGMENTS, True), (SUPPORT + bad, False)):
        model = tmp_path / "support.yaml"
        model.write_text(text, encoding="utf-8")
        app = make_app(f"duckdb:///{warehouse}", tmp_path / "home", model=str(model))
        runtime = app.server.extensions["starboard"]
        with app.server.app_context():
            found = features.declared(runtime)
            assert found is not None and ("segments" in found) is declared, text[-200:]
            assert "tree" not in found and "goals" not in found
            message = features.missing("segments", runtime)
            assert (message is None) is declared
        runtime.warehouse.dispose()
    model_path = tmp_path / "support.yaml"
    problems = features.check(parse_model(SUPPORT + bad, model_path))
    line = (SUPPORT + bad).splitlines().index("  member: agnet") + 1
    assert [str(p) for p in problems] == [
        f"{model_path}:{line}: segments.member: 'agnet' is not a dimension of the model"
    ]


def test_starboard_check_reports_a_segments_section_that_does_not_validate(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from app.cli import main

    warehouse = create_duckdb(tmp_path / "support.duckdb")
    model = tmp_path / "support.yaml"
    model.write_text(SUPPORT + SEGMENTS.replace("value: handle_minutes", "value: nope"))
    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(
        sys,
        "argv",
        ["starboard", "check", "--db", f"duckdb:///{warehouse}", "--model", str(model)],
    )
    with pytest.raises(SystemExit) as exited:
        main()
    out = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 1
    assert "segments.value: 'nope' is not a metric of the model" in out
