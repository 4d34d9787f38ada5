"""Storing alerts once and delivering them: retries, failures recorded, secrets from env."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from app.core.meta import MetaDB
from app.core.stores import alerts
from app.core.stores.alerts import AlertEvent, Webhook

NOW = datetime(2026, 11, 1, 6, 0)
FAST = {"backoff": 0.01, "timeout": 0.5}


@pytest.fixture
def db(tmp_path):
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite'}")
    yield db
    db.dispose()


def _event(
    period: str = "2025-09-17",
    notify: tuple[str, ...] = ("ops",),
    rule: str = "tablet_tracking_gap",
) -> AlertEvent:
    return AlertEvent(
        rule=rule,
        kind="threshold",
        severity="critical",
        metric="visitors",
        metric_label="Visitors",
        period=period,
        period_label="17 September 2025",
        member=(),
        value=0.0,
        low=1.0,
        high=None,
        message="Visitors (device = tablet) was 0 in 17 September 2025: below 1.",
        link="/t1/growth?from=2025-09-17&to=2025-09-17&device=tablet",
        description="No tablet visitors.",
        notify=notify,
    )


def _fire(db, events, hooks, **kw):
    return alerts.fire(
        db,
        events,
        hooks,
        public_url="https://bi.example.com",
        data_version="v1",
        now=NOW,
        **{**FAST, **kw},
    )


def test_payload_has_rule_metric_period_value_range_severity_and_link(db, webhook) -> None:
    hook = webhook()
    report = _fire(db, [_event()], {"ops": Webhook("ops", hook.url)})
    [body] = hook.bodies
    assert body["rule"] == "tablet_tracking_gap" and body["severity"] == "critical"
    assert (body["metric"], body["period"], body["value"]) == ("visitors", "2025-09-17", 0.0)
    assert body["expected"] == {"low": 1.0, "high": None, "value": None}
    assert body["link"] == (
        "https://bi.example.com/t1/growth?from=2025-09-17&to=2025-09-17&device=tablet"
    )
    assert body["alert_id"] == report.new[0] and body["data_version"] == "v1"
    [delivery] = report.deliveries
    assert (delivery.status, delivery.attempts, delivery.http_status) == ("delivered", 1, 200)


def test_running_twice_sends_once(db, webhook) -> None:
    hook = webhook()
    hooks = {"ops": Webhook("ops", hook.url)}
    first = _fire(db, [_event(), _event("2025-09-18")], hooks)
    second = _fire(db, [_event(), _event("2025-09-18")], hooks)
    assert (len(first.new), first.duplicates) == (2, 0)
    assert (len(second.new), second.duplicates, second.deliveries) == (0, 2, [])
    assert sorted(b["period"] for b in hook.bodies) == ["2025-09-17", "2025-09-18"]
    assert len(alerts.recent(db)) == 2


def test_a_failing_webhook_is_retried_with_backoff_and_recorded(db, webhook) -> None:
    hook = webhook(statuses=[500, 500])
    waits: list[float] = []
    delivery = alerts.send(
        alerts.Delivery(1, "ops"), hook.url, (), b"{}", backoff=0.25, timeout=1, sleep=waits.append
    )
    assert (delivery.status, delivery.attempts, delivery.http_status) == ("delivered", 3, 200)
    assert waits == [0.25, 0.5]  # exponential
    hook = webhook(statuses=[500, 500])
    report = _fire(db, [_event()], {"ops": Webhook("ops", hook.url)})
    [row] = alerts.recent(db)
    [stored] = row.deliveries
    assert (stored.status, stored.attempts, stored.http_status) == ("delivered", 3, 200)
    assert row.delivery_status == "delivered" and not report.failed


def test_retries_are_bounded_and_the_last_error_kept(db, webhook) -> None:
    hook = webhook(statuses=[503] * 10)
    report = _fire(db, [_event()], {"ops": Webhook("ops", hook.url)}, attempts=3)
    [failed] = report.failed
    assert (failed.attempts, failed.http_status) == (3, 503)
    assert failed.error.startswith("HTTP 503")
    assert len(hook.bodies) == 3
    assert alerts.recent(db)[0].delivery_status == "failed"


def test_a_client_error_is_not_retried(db, webhook) -> None:
    hook = webhook(statuses=[404])
    [failed] = _fire(db, [_event()], {"ops": Webhook("ops", hook.url)}).failed
    assert (failed.attempts, failed.error) == (1, "HTTP 404 Not Found")


def test_dead_webhooks_fail_while_other_alerts_are_delivered(db, webhook, closed_port_url) -> None:
    good = webhook()
    silent = webhook(hang=True)
    hooks = {
        "good": Webhook("good", good.url),
        "refused": Webhook("refused", closed_port_url),
        "silent": Webhook("silent", silent.url),
    }
    started = time.perf_counter()
    report = _fire(
        db,
        [
            _event(notify=("refused", "good")),
            _event("2025-09-18", notify=("silent",)),
            _event("2025-09-19", notify=("good",)),
        ],
        hooks,
        attempts=2,
    )
    elapsed = time.perf_counter() - started
    by_hook = {(d.webhook, d.alert_id): d for d in report.deliveries}
    assert sorted(b["period"] for b in good.bodies) == ["2025-09-17", "2025-09-19"]
    refused = next(d for (name, _), d in by_hook.items() if name == "refused")
    assert (refused.status, refused.attempts) == ("failed", 2)
    assert refused.error.startswith("cannot connect")
    timed_out = next(d for (name, _), d in by_hook.items() if name == "silent")
    assert (timed_out.status, timed_out.attempts) == ("failed", 2)
    assert "no answer within 0.5 s" in timed_out.error or "timed out" in timed_out.error
    assert elapsed < 4  # bounded: 2 × 0.5 s timeouts, in parallel with the rest
    statuses = {r.period: r.delivery_status for r in alerts.recent(db)}
    assert statuses == {
        "2025-09-17": "partly delivered",
        "2025-09-18": "failed",
        "2025-09-19": "delivered",
    }


def test_secrets_come_from_the_environment(db, webhook, monkeypatch) -> None:
    hook = webhook()
    base, _, path = hook.url.rpartition("/")
    monkeypatch.setenv("HOOK_BASE", base)
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    hooks = {
        "ops": Webhook(
            "ops", "${HOOK_BASE}/" + path, headers=(("Authorization", "Bearer ${HOOK_TOKEN}"),)
        ),
        "pager": Webhook("pager", "https://pager.example.com/${PAGER_KEY}"),
        "chat": Webhook("chat", "https://chat.example.com/${CHAT_KEY}", optional=True),
    }
    report = _fire(db, [_event(notify=("ops", "pager", "chat"))], hooks)
    states = {d.webhook: (d.status, d.error) for d in report.deliveries}
    assert states == {
        "ops": ("delivered", ""),
        "pager": ("failed", "environment variable PAGER_KEY is not set"),
        "chat": ("skipped", "environment variable CHAT_KEY is not set"),
    }
    assert len(hook.bodies) == 1


def test_literal_urls_are_stored_without_their_secret_path(db, webhook) -> None:
    hook = webhook()
    _fire(db, [_event(notify=(hook.url,))], {})
    [row] = alerts.recent(db)
    [delivery] = row.deliveries
    assert delivery.webhook == hook.url.rsplit("/", 1)[0] and delivery.status == "delivered"
    assert "/hook" not in delivery.webhook


def test_failed_deliveries_are_sent_again_later_with_the_same_alert(db, webhook) -> None:
    hook = webhook(statuses=[503, 503])
    hooks = {"ops": Webhook("ops", hook.url)}
    [failed] = _fire(db, [_event()], hooks, attempts=2).failed
    assert alerts.recent(db)[0].delivery_status == "failed"
    again = alerts.retry_failed(
        db, {"tablet_tracking_gap": ("ops",)}, hooks, since=datetime(2000, 1, 1), **FAST
    )
    [delivery] = again
    assert (delivery.status, delivery.attempts, delivery.alert_id) == (
        "delivered",
        3,
        failed.alert_id,
    )
    assert [b["alert_id"] for b in hook.bodies] == [failed.alert_id] * 3
    [row] = alerts.recent(db)
    assert row.delivery_status == "delivered" and row.deliveries[0].attempts == 3
    assert (
        alerts.retry_failed(
            db, {"tablet_tracking_gap": ("ops",)}, hooks, since=datetime(2000, 1, 1)
        )
        == []
    )  # nothing left to send


def test_old_failures_and_removed_targets_are_left_alone(db, webhook) -> None:
    hook = webhook(statuses=[503])
    hooks = {"ops": Webhook("ops", hook.url)}
    _fire(db, [_event()], hooks, attempts=1)
    assert (
        alerts.retry_failed(
            db, {"tablet_tracking_gap": ("pager",)}, hooks, since=datetime(2000, 1, 1)
        )
        == []
    )
    assert (
        alerts.retry_failed(
            db, {"tablet_tracking_gap": ("ops",)}, hooks, since=datetime(2999, 1, 1)
        )
        == []
    )
    assert alerts.recent(db)[0].delivery_status == "failed"
