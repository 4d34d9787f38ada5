"""The starboard command: what a user types and reads, and its exit codes."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

from app.cli import main
from tests.app.loader import rawdata


def starboard(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``starboard ARGS`` in-process; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["starboard", *args])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    for name in ("STARBOARD_DB_URL", "STARBOARD_MODEL", "STARBOARD_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_load_prints_rows_steps_and_gates(monkeypatch, capsys, tmp_path: Path) -> None:
    raw = rawdata.write_csv(tmp_path / "raw")
    code, out, err = starboard(
        monkeypatch, capsys, "load", str(raw), "--db", f"duckdb:///{tmp_path / 'wh.duckdb'}"
    )
    assert code == 0, err
    assert "Published version" in out and "fct_interaction" in out and "31,046" in out
    assert "Time per step" in out and "transform fct_interaction" in out
    assert "Quality gates:" in out and "DQ score" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["load", "/no/such/dir"], "/no/such/dir does not exist: a pipeline project is a folder"),
        (["load", "{tmp}"], "has no pipeline.yaml"),
        (["load", "{raw}", "--db", "sqlite:///x.db"], "Expected a DuckDB URL"),
        (["load", "{raw}", "--db", "duckdb:///{file}/wh.duckdb"], "Cannot create"),
        (
            ["query", "--metrics", "revnue", "--db", "duckdb:///{tmp}/none.duckdb"],
            "No warehouse at",
        ),
        (["generate", "{tmp}/g", "--interactions", "10"], "interactions"),
        (["generate", "{tmp}/g", "--end-date", "yesterday"], "--end-date 'yesterday'"),
    ],
)
def test_bad_input_gives_one_clear_message_and_exit_1(
    monkeypatch, capsys, tmp_path: Path, args: list[str], message: str
) -> None:
    raw = rawdata.write_csv(tmp_path / "raw")
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = [a.format(raw=raw, file=blocker, tmp=tmp_path) for a in args]
    code, out, err = starboard(monkeypatch, capsys, *args)
    assert code == 1
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err + out


def test_failed_gate_lists_the_gate_and_publishes_nothing(
    monkeypatch, capsys, tmp_path: Path
) -> None:
    data = rawdata.tables()
    data["products"] = data["products"] + [dict(data["products"][0])]
    raw = rawdata.write_csv(tmp_path / "raw", data)
    code, out, err = starboard(
        monkeypatch, capsys, "load", str(raw), "--db", f"duckdb:///{tmp_path / 'wh.duckdb'}"
    )
    assert code == 1
    assert "natural_key_unique" in out and "nothing was published" in " ".join(err.split())
    assert not (tmp_path / "wh.current.json").exists()


def test_query_csv_matches_hand_written_sql(monkeypatch, capsys, tiny_demo: str) -> None:
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "query",
        "--db",
        tiny_demo,
        "--metrics",
        "revenue,orders",
        "--by",
        "region",
        "--where",
        "date between 2026-01-01 and 2026-06-30",
        "--order",
        "-revenue",
        "--format",
        "csv",
    )
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["region", "revenue", "orders"]
    from app.core.warehouse import Warehouse

    with Warehouse(tiny_demo).snapshot().engine.connect() as conn:
        expected = conn.exec_driver_sql(
            "SELECT u.region, sum(f.revenue), count(DISTINCT f.order_id) FROM fct_interaction f "
            "LEFT JOIN dim_user u USING (user_key) WHERE f.interaction_type = 'purchase' AND "
            "f.occurred_at >= '2026-01-01' AND f.occurred_at < '2026-07-01' GROUP BY 1 "
            "ORDER BY 2 DESC"
        ).all()
    assert [(r, pytest.approx(float(v)), int(o)) for r, v, o in rows[1:]] == expected


def test_query_table_writes_each_metric_in_its_format(monkeypatch, capsys, tiny_demo: str) -> None:
    """The table prints what the pages print: currency, number and percent as formatted."""
    from components.formatting import format_value

    args = ["query", "--db", tiny_demo, "--metrics", "revenue,orders,conversion_rate"]
    args += ["--by", "region", "--order", "-revenue"]
    code, out, err = starboard(monkeypatch, capsys, *args)
    assert code == 0, err
    code, raw, err = starboard(monkeypatch, capsys, *args, "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(raw)))[1:]
    assert rows
    lines = [line for line in out.splitlines() if "│" in line]
    cells = [[c.strip() for c in line.strip("│ ").split("│")] for line in lines]
    expected = [
        [
            region,
            format_value(float(rev), "currency", compact=False),
            format_value(float(n), "number", compact=False),
            format_value(float(rate), "percent"),
        ]
        for region, rev, n, rate in rows
    ]
    assert cells == expected
    assert all(c[1].startswith("$") and c[3].endswith("%") for c in cells)


def test_result_table_formats_durations_and_missing_values() -> None:
    from rich.console import Console

    from app.cli.semantic import result_table

    table = result_table(
        ("team", "handle_time", "share"),
        [["a", 125.0, 0.25], ["b", None, None]],
        {"handle_time": "duration", "share": "percent"},
        "2 rows",
    )
    console = Console(width=80, record=True)
    console.print(table)
    text = console.export_text()
    assert "2m 05s" in text and "25.0%" in text and "—" in text and "0.25" not in text


def test_query_or_not_and_having_match_hand_written_sql(
    monkeypatch, capsys, tiny_demo: str
) -> None:
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "query",
        "--db",
        tiny_demo,
        "--metrics",
        "revenue",
        "--by",
        "country",
        "--where",
        "region = EMEA or (region = AMER and not (device in (desktop, tablet)))",
        "--having",
        "revenue > 100",
        "--format",
        "csv",
    )
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["country", "revenue"]
    from app.core.warehouse import Warehouse

    with Warehouse(tiny_demo).snapshot().engine.connect() as conn:
        expected = conn.exec_driver_sql(
            "SELECT u.country, sum(f.revenue) FROM fct_interaction f "
            "LEFT JOIN dim_user u USING (user_key) WHERE f.interaction_type = 'purchase' AND "
            "(u.region = 'EMEA' OR (u.region = 'AMER' AND NOT (f.device IN ('desktop', 'tablet'))))"
            " GROUP BY 1 HAVING sum(f.revenue) > 100 ORDER BY 1"
        ).all()
    assert len(expected) > 0
    assert [(c, pytest.approx(float(v))) for c, v in rows[1:]] == expected


def test_query_where_errors_name_the_position(monkeypatch, capsys, tiny_demo: str) -> None:
    code, _out, err = starboard(
        monkeypatch,
        capsys,
        "query",
        "--db",
        tiny_demo,
        "--metrics",
        "revenue",
        "--where",
        "region = EMEA or (country = DE",
    )
    assert code == 1 and "expected ')' to close the '(' at character 18" in " ".join(err.split())


def test_query_refuses_unknown_names_with_a_suggestion(monkeypatch, capsys, tiny_demo: str) -> None:
    code, _out, err = starboard(
        monkeypatch, capsys, "query", "--db", tiny_demo, "--metrics", "revnue"
    )
    assert code == 1 and "did you mean 'revenue'" in err


def test_query_explain_prints_sql_and_cost_class(monkeypatch, capsys, tiny_demo: str) -> None:
    code, out, _err = starboard(
        monkeypatch,
        capsys,
        "query",
        "--db",
        tiny_demo,
        "--metrics",
        "revenue",
        "--by",
        "date:month",
        "--explain",
    )
    # whole months of revenue: the monthly rollup, the coarsest that fits
    assert code == 0 and "-- cost class" in out and "FROM agg_monthly_users" in out


def test_check_passes_on_the_demo_and_lists_every_problem_of_a_broken_model(
    monkeypatch, capsys, tiny_demo: str, tmp_path: Path
) -> None:
    code, out, _ = starboard(monkeypatch, capsys, "check", "--db", tiny_demo)
    assert code == 0 and "no problems" in out
    head = (
        "version: 1\nname: shop\ntables:\n  fct_interaction:\n    kind: fact\n"
        "    primary_key: interaction_key\n    time: occurred_at\n"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(head + "metircs:\n  orders: {fact: fct_nope, sql: count(*)}\n")
    code, out, err = starboard(
        monkeypatch, capsys, "check", "--db", tiny_demo, "--model", str(broken)
    )
    text = " ".join(out.split())
    assert code == 1 and "problem(s)" in err
    assert f"{broken}:8: metircs" in text and "did you mean 'metrics'" in text
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        head + "  fct_gone: {kind: fact, primary_key: id}\nmetrics:\n"
        "  revenue: {fact: fct_interaction, sql: sum(revnue)}\n"
    )
    code, out, err = starboard(
        monkeypatch, capsys, "check", "--db", tiny_demo, "--model", str(wrong)
    )
    text = " ".join(out.split())
    assert code == 1 and "2 problem(s)" in err, text
    assert "fct_gone" in text and "revnue" in text


def test_demo_builds_once_then_reuses(monkeypatch, capsys, home: Path) -> None:
    code, out, err = starboard(monkeypatch, capsys, "demo", "--interactions", "20000", "--no-serve")
    assert code == 0, err
    assert "Demo ready" in out and (home / "demo" / "warehouse.current.json").exists()
    assert "agg_daily_interaction (rollup)" in out
    code, out, _ = starboard(monkeypatch, capsys, "demo", "--no-serve")
    assert code == 0 and "Reusing the demo warehouse" in out


def test_demo_in_an_unwritable_home_says_so(monkeypatch, capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("STARBOARD_HOME", str(blocker / "home"))
    code, _out, err = starboard(monkeypatch, capsys, "demo", "--no-serve")
    assert code == 1 and "Cannot create" in err


def _app_on(home: Path, warehouse: str):
    """The web app on the home directory the CLI uses (one metadata database)."""
    from tests.conftest import add_users, make_app

    app = make_app(warehouse, home)
    add_users(app)
    return app


def test_token_list_revoke_and_expiry(
    monkeypatch, capsys, home: Path, small_warehouse: str
) -> None:
    app = _app_on(home, small_warehouse)
    code, token, err = starboard(
        monkeypatch, capsys, "users", "token", "ana", "--label", "nightly", "--expires-days", "7"
    )
    token = token.strip()
    assert code == 0 and token.startswith("sb_") and "expires" in err and "revoke 1" in err
    code, forever, _ = starboard(monkeypatch, capsys, "users", "token", "ana")
    assert code == 0
    code, out, _ = starboard(monkeypatch, capsys, "users", "tokens", "ana")
    lines = [line.replace("│", " ").split() for line in out.splitlines()]
    assert code == 0 and "last used" in out and "expires" in out
    assert token not in out and forever.strip() not in out
    rows = {line[0]: line for line in lines if line and line[0] in ("1", "2")}
    assert rows["1"][1] == "nightly" and rows["1"][-1] == "active"
    assert rows["2"][1] == "—" and rows["2"][-2:] == ["never", "active"]
    client = app.server.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        client.post("/api/v1/query", json={"metrics": ["revenue"]}, headers=auth).status_code == 200
    )
    code, out, _ = starboard(monkeypatch, capsys, "users", "revoke", "1")
    assert code == 0 and "Token #1 of ana (nightly) revoked." in out
    assert (
        client.post("/api/v1/query", json={"metrics": ["revenue"]}, headers=auth).status_code == 401
    )
    code, out, _ = starboard(monkeypatch, capsys, "users", "tokens", "ana")
    assert "revoked" in out
    code, out, _ = starboard(monkeypatch, capsys, "users", "revoke", "1")
    assert code == 0 and "already revoked" in out
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "token", "ana", "--expires-days", "0"], "A token expires after 1 to 3650 days"),
        (["users", "revoke", "42"], "No API token with id 42"),
        (["users", "revoke", "two"], "Invalid value for 'token_id'"),
        (["users", "tokens", "nobody"], "No user named 'nobody'"),
    ],
)
def test_token_commands_refuse_bad_input_clearly(
    monkeypatch, capsys, home: Path, small_warehouse: str, args, message
) -> None:
    app = _app_on(home, small_warehouse)
    code, out, err = starboard(monkeypatch, capsys, *args)
    assert code != 0 and message in " ".join((out + err).split())
    assert "Traceback" not in out + err
    app.server.extensions["starboard"].warehouse.dispose()


def test_reset_password_ends_sessions_signed_in_before(
    monkeypatch, capsys, home: Path, small_warehouse: str
) -> None:
    """A cookie copied before `starboard users reset-password` is refused afterwards."""
    import io as _io

    from tests.conftest import signed_in

    app = _app_on(home, small_warehouse)
    client = signed_in(app, "ana")
    thief = app.server.test_client()
    thief.set_cookie("starboard_session", client.get_cookie("starboard_session").value)
    assert thief.get("/quality").status_code == 200
    monkeypatch.setattr(sys, "stdin", _io.StringIO("brand-new-password\n"))
    code, out, err = starboard(
        monkeypatch, capsys, "users", "reset-password", "ana", "--password-stdin"
    )
    assert code == 0 and "every session of theirs is ended" in out, err
    assert thief.get("/quality").status_code == 302
    assert client.post("/api/v1/query", json={"metrics": ["revenue"]}).status_code == 401
    app.server.extensions["starboard"].warehouse.dispose()
