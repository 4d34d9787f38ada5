"""`starboard alerts run` (for cron) and the alerts a load fires: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import DEMO_MODEL
from app.core.meta import MetaDB
from app.core.stores import alerts
from tests.app.loader import rawdata
from tests.app.test_cli import starboard


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    for name in (
        "STARBOARD_DB_URL",
        "STARBOARD_MODEL",
        "STARBOARD_CACHE",
        "DEMO_ALERT_WEBHOOK_URL",
        "STARBOARD_PUBLIC_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def _stored(home: Path) -> list[alerts.AlertRow]:
    db = MetaDB(f"sqlite:///{home / 'meta.sqlite'}")
    try:
        return alerts.recent(db)
    finally:
        db.dispose()


def test_run_stores_and_sends_once(
    monkeypatch, capsys, alerts_demo: str, home: Path, webhook
) -> None:
    hook = webhook()
    monkeypatch.setenv("DEMO_ALERT_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("STARBOARD_PUBLIC_URL", "https://bi.example.com/")
    args = (
        "alerts",
        "run",
        "--db",
        alerts_demo,
        "--since",
        "2024-01-01",
        "--rule",
        "tablet_tracking_gap",
        "--rule",
        "campaign_spend_spike",
    )
    code, out, err = starboard(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "tablet_tracking_gap" in out and "2025-09-17" in out
    assert "8 new alert(s), 0 already sent; deliveries: 8 delivered, 0 skipped, 0 failed." in out
    assert sorted(b["period"] for b in hook.bodies)[:2] == ["2025-09-17", "2026-06-10"]
    tablet = next(b for b in hook.bodies if b["rule"] == "tablet_tracking_gap")
    assert tablet["link"].startswith("https://bi.example.com/t1/growth?from=2025-09-17")
    code, out, err = starboard(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "0 new alert(s), 8 already sent" in out
    assert len(hook.bodies) == 8
    assert {r.delivery_status for r in _stored(home)} == {"delivered"}


def test_failed_deliveries_exit_2_and_are_recorded(
    monkeypatch, capsys, alerts_demo: str, home: Path, closed_port_url: str
) -> None:
    monkeypatch.setenv("DEMO_ALERT_WEBHOOK_URL", closed_port_url)
    monkeypatch.setattr(alerts, "BACKOFF_SECONDS", 0.01)
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "alerts",
        "run",
        "--db",
        alerts_demo,
        "--period",
        "2025-09-17",
        "--rule",
        "tablet_tracking_gap",
    )
    assert code == 2
    assert "1 new alert(s)" in out and "1 failed" in out
    assert "Delivery failed" in err and "cannot connect" in err
    [row] = _stored(home)
    assert row.delivery_status == "failed" and row.deliveries[0].attempts == 4
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "alerts",
        "run",
        "--db",
        alerts_demo,
        "--period",
        "2025-09-17",
        "--rule",
        "tablet_tracking_gap",
    )
    assert code == 2  # no new alert; the failed delivery was tried again
    assert "0 new alert(s), 1 already sent" in out
    assert "Earlier failed deliveries sent again: 0 of 1 delivered." in out
    assert _stored(home)[0].deliveries[0].attempts == 8


def test_unset_optional_webhook_is_skipped_and_dry_run_stores_nothing(
    monkeypatch, capsys, alerts_demo: str, home: Path
) -> None:
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "alerts",
        "run",
        "--db",
        alerts_demo,
        "--period",
        "2026-06-12",
        "--rule",
        "campaign_spend_spike",
        "--dry-run",
    )
    assert code == 0, err
    assert "1 alert(s) would fire (dry run" in out and "campaign_spend_spike" in out
    assert not (home / "meta.sqlite").exists() or _stored(home) == []
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "alerts",
        "run",
        "--db",
        alerts_demo,
        "--period",
        "2026-06-12",
        "--rule",
        "campaign_spend_spike",
    )
    assert code == 0 and "0 delivered, 1 skipped, 0 failed" in out
    [row] = _stored(home)
    assert row.delivery_status == "skipped"
    assert row.deliveries[0].error == "environment variable DEMO_ALERT_WEBHOOK_URL is not set"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--since", "yesterday"), "--since 'yesterday' is not a day: write YYYY-MM-DD."),
        (("--period", "2026-13"), "--period '2026-13'"),
        (("--rule", "nope"), "Unknown alert rule(s): nope."),
    ],
)
def test_bad_options_exit_1_with_a_clear_message(
    monkeypatch, capsys, alerts_demo: str, args: tuple[str, ...], words: str
) -> None:
    code, out, err = starboard(monkeypatch, capsys, "alerts", "run", "--db", alerts_demo, *args)
    assert code == 1
    assert words in " ".join(err.split())


def test_bad_rule_in_the_model_exits_1_naming_file_line_and_key(
    monkeypatch, capsys, alerts_demo: str, tmp_path: Path
) -> None:
    text = DEMO_MODEL.read_text(encoding="utf-8").replace(
        "    metric: visitors\n    where: device = tablet",
        "    metric: visitorz\n    where: device = tablet",
    )
    model = tmp_path / "model.yaml"
    model.write_text(text, encoding="utf-8")
    code, out, err = starboard(
        monkeypatch, capsys, "alerts", "run", "--db", alerts_demo, "--model", str(model)
    )
    assert code == 1
    line = text.splitlines().index("    metric: visitorz") + 1
    assert (
        f"{model}:{line}: alerts.tablet_tracking_gap.metric: unknown metric 'visitorz'"
        in " ".join(err.split())
    )


def test_a_stopped_load_fires_the_risk1_alert(
    monkeypatch, capsys, tmp_path: Path, home: Path, webhook
) -> None:
    hook = webhook()
    monkeypatch.setenv("DEMO_ALERT_WEBHOOK_URL", hook.url)
    data = rawdata.tables()
    data["products"] = data["products"] + [dict(data["products"][0])]
    raw = rawdata.write_csv(tmp_path / "raw", data)
    code, out, err = starboard(
        monkeypatch, capsys, "load", str(raw), "--db", f"duckdb:///{tmp_path / 'wh.duckdb'}"
    )
    assert code == 1
    assert "Alerts: 1 new, 0 already sent" in out
    [body] = hook.bodies
    assert body["rule"] == "risk1_check_failed" and body["severity"] == "critical"
    assert "natural_key_unique" in body["message"]
    assert body["link"] == "http://127.0.0.1:8050/quality"


def test_a_rule_that_cannot_run_is_named_and_the_others_still_fire(
    monkeypatch, capsys, alerts_demo: str, tmp_path: Path, home: Path
) -> None:
    text = DEMO_MODEL.read_text(encoding="utf-8")
    text = text.replace(
        "\nmetrics:\n", "\nmetrics:\n  ghost: {fact: fct_interaction, sql: sum(quantity_lost)}\n", 1
    )
    text = text.replace(
        "\nalerts:\n", "\nalerts:\n  ghost_rule: {kind: threshold, metric: ghost, above: 0}\n", 1
    )
    model = tmp_path / "model.yaml"
    model.write_text(text, encoding="utf-8")
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "alerts",
        "run",
        "--db",
        alerts_demo,
        "--model",
        str(model),
        "--period",
        "2025-09-17",
        "--rule",
        "ghost_rule",
        "--rule",
        "tablet_tracking_gap",
    )
    assert code == 1
    assert "Alert rule ghost_rule not evaluated:" in err and "quantity_lost" in err
    assert "tablet_tracking_gap" in out and "1 new alert(s)" in out
    assert [r.rule for r in _stored(home)] == ["tablet_tracking_gap"]
