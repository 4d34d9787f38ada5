"""Alerts: store each one once (rule × period × member), deliver it to webhooks, list them.

The rules and their evaluation live in ``queries/alerts/evaluate.py``; this module knows nothing of
metrics. Delivery is a JSON POST per webhook with short timeouts and a bounded exponential
backoff; every attempt count, HTTP status and last error is recorded in the metadata DB.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.core import meta
from app.core.meta import MetaDB

TIMEOUT_SECONDS = 3.0  # per attempt: connect + response
MAX_ATTEMPTS = 4  # 1 try + 3 retries
BACKOFF_SECONDS = 0.5  # waits 0.5 s, 1 s, 2 s between attempts …
MAX_BACKOFF_SECONDS = 8.0  # … never more than this
PARALLEL_DELIVERIES = 8  # one dead webhook never holds up the others for long
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Webhook:
    """A named delivery target; ``${VAR}`` in the URL or headers is read from the
    environment when an alert is sent (so secrets stay out of the model file)."""

    name: str
    url: str
    optional: bool = False  # an unset ${VAR}: skip quietly instead of failing
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CheckFailure:
    """A failed quality check, as a risk1 alert describes it."""

    risk: int
    check: str
    target: str
    detail: str


@dataclass(frozen=True)
class AlertEvent:
    """One firing of one rule for one period (and one member of its ``by`` dimension)."""

    rule: str
    kind: str
    severity: str
    metric: str | None
    metric_label: str
    period: str  # period key: 2025-09-17, 2026-06, "version …"
    period_label: str
    member: tuple[tuple[str, str], ...]
    value: float | None
    low: float | None  # the normal range: below low or above high fires
    high: float | None
    message: str
    link: str  # path of the view, joined to STARBOARD_PUBLIC_URL
    description: str = ""
    notify: tuple[str, ...] = ()
    expected: float | None = None
    detail: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The de-duplication key: one alert per rule, period and member."""
        member = ",".join(f"{d}={v}" for d, v in self.member)
        return f"{self.rule}|{self.period}|{member}"[:500]


@dataclass
class Delivery:
    """The outcome of sending one alert to one webhook."""

    alert_id: int
    webhook: str
    status: str = "pending"  # delivered | failed | skipped
    attempts: int = 0
    http_status: int | None = None
    error: str = ""


@dataclass
class FireReport:
    """What one evaluation stored and sent."""

    stored: list[tuple[int, AlertEvent]] = field(default_factory=list)  # new this time
    duplicates: int = 0  # already stored for their period
    deliveries: list[Delivery] = field(default_factory=list)
    retried: list[Delivery] = field(default_factory=list)  # earlier failures sent again

    @property
    def new(self) -> list[int]:
        """Ids of the alerts stored (and sent) this time."""
        return [alert_id for alert_id, _ in self.stored]

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == "failed"]


def payload(
    event: AlertEvent, *, alert_id: int, public_url: str, data_version: str, fired_at: datetime
) -> dict[str, Any]:
    """The JSON body webhooks receive (README "Alerts" documents it)."""
    return {
        "alert_id": alert_id,
        "rule": event.rule,
        "kind": event.kind,
        "severity": event.severity,
        "message": event.message,
        "description": event.description,
        "metric": event.metric,
        "metric_label": event.metric_label,
        "period": event.period,
        "period_label": event.period_label,
        "member": dict(event.member),
        "value": event.value,
        "expected": {"low": event.low, "high": event.high, "value": event.expected},
        "detail": list(event.detail),
        "link": public_url.rstrip("/") + event.link,
        "data_version": data_version,
        "fired_at": fired_at.isoformat() + "Z",
    }


def record(
    db: MetaDB, events: Sequence[AlertEvent], *, public_url: str, data_version: str, now: datetime
) -> tuple[list[tuple[int, AlertEvent]], int]:
    """Store the events not stored before: ([(id, event) of new ones], duplicates)."""
    new: list[tuple[int, AlertEvent]] = []
    duplicates = 0
    for event in events:
        with db.engine.begin() as conn:
            seen = conn.execute(
                sa.select(meta.alerts.c.id).where(meta.alerts.c.key == event.key)
            ).first()
            if seen is not None:
                duplicates += 1
                continue
            try:
                result = conn.execute(
                    meta.alerts.insert().values(
                        key=event.key,
                        fired_at=now,
                        rule=event.rule,
                        kind=event.kind,
                        severity=event.severity,
                        metric=event.metric,
                        period=event.period,
                        member=json.dumps(dict(event.member), sort_keys=True)
                        if event.member
                        else "",
                        value=event.value,
                        low=event.low,
                        high=event.high,
                        message=event.message,
                        link=event.link,
                        data_version=data_version,
                        payload="{}",
                    )
                )
            except sa.exc.IntegrityError:  # another process stored it a moment ago
                duplicates += 1
                continue
            alert_id = int(cast(sa.Row[Any], result.inserted_primary_key)[0])
            body = payload(
                event,
                alert_id=alert_id,
                public_url=public_url,
                data_version=data_version,
                fired_at=now,
            )
            conn.execute(
                meta.alerts.update()
                .where(meta.alerts.c.id == alert_id)
                .values(payload=json.dumps(body, sort_keys=True))
            )
        new.append((alert_id, event))
    return new, duplicates


def _expand(text: str) -> tuple[str, list[str]]:
    """``${VAR}`` replaced from the environment; the names that are unset."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None or found == "":
            missing.append(match.group(1))
            return ""
        return found

    return _ENV.sub(value, text), missing


def target_label(target: str) -> str:
    """How a webhook is shown and stored: its name, or a URL's host (paths hold secrets)."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"
    return target


def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, str]:
    """(HTTP status, error text); status 2xx and no error means delivered."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Starboard-alerts/1", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(65536)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = getattr(reason, "strerror", None) or str(reason)
        return None, f"cannot connect: {text}"
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except OSError as exc:
        return None, f"connection failed: {exc.strerror or exc}"


def send(
    delivery: Delivery,
    url_template: str,
    header_templates: Iterable[tuple[str, str]],
    body: bytes,
    *,
    optional: bool = False,
    attempts: int = MAX_ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    timeout: float = TIMEOUT_SECONDS,
    sleep: Any = None,
) -> Delivery:
    """POST ``body`` with retries (exponential backoff, bounded); fills in ``delivery``."""
    import time

    sleep = sleep or time.sleep
    url, missing = _expand(url_template)
    headers: dict[str, str] = {}
    for name, template in header_templates:
        headers[name], more = _expand(template)
        missing += more
    if missing:
        delivery.status = "skipped" if optional else "failed"
        delivery.error = f"environment variable {', '.join(sorted(set(missing)))} is not set"
        return delivery
    for attempt in range(1, attempts + 1):
        delivery.attempts = attempt
        status, error = _post(url, body, headers, timeout)
        delivery.http_status = status
        if not error and status is not None and 200 <= status < 300:
            delivery.status, delivery.error = "delivered", ""
            return delivery
        delivery.error = error or f"HTTP {status}"
        permanent = status is not None and 400 <= status < 500 and status not in (408, 429)
        if permanent or attempt == attempts:
            break
        sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
    delivery.status = "failed"
    return delivery


def fire(
    db: MetaDB,
    events: Sequence[AlertEvent],
    webhooks: Mapping[str, Webhook],
    *,
    public_url: str,
    data_version: str,
    now: datetime,
    attempts: int = MAX_ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    timeout: float = TIMEOUT_SECONDS,
) -> FireReport:
    """Store new events (duplicates are dropped) and deliver each to its rule's webhooks."""
    new, duplicates = record(db, events, public_url=public_url, data_version=data_version, now=now)
    report = FireReport(stored=new, duplicates=duplicates)
    jobs = []
    for alert_id, event in new:
        with db.engine.connect() as conn:
            body = conn.execute(
                sa.select(meta.alerts.c.payload).where(meta.alerts.c.id == alert_id)
            ).scalar_one()
        for target in event.notify:
            hook = webhooks.get(target) or Webhook(target, target)
            delivery = Delivery(alert_id, target_label(target))
            jobs.append((delivery, hook, body.encode("utf-8")))
    if jobs:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_DELIVERIES, len(jobs))) as pool:
            done = list(
                pool.map(
                    lambda job: send(
                        job[0],
                        job[1].url,
                        job[1].headers,
                        job[2],
                        optional=job[1].optional,
                        attempts=attempts,
                        backoff=backoff,
                        timeout=timeout,
                    ),
                    jobs,
                )
            )
        stamp = meta.now()
        with db.engine.begin() as conn:
            for d in done:
                conn.execute(
                    meta.alert_deliveries.insert().values(
                        alert_id=d.alert_id,
                        webhook=d.webhook,
                        status=d.status,
                        attempts=d.attempts,
                        http_status=d.http_status,
                        last_error=d.error[:2000],
                        updated_at=stamp,
                    )
                )
        report.deliveries = done
    return report


def retry_failed(
    db: MetaDB,
    notify: Mapping[str, Sequence[str]],
    webhooks: Mapping[str, Webhook],
    *,
    since: datetime,
    attempts: int = MAX_ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    timeout: float = TIMEOUT_SECONDS,
) -> list[Delivery]:
    """Send again the deliveries that failed since ``since`` (a webhook that was down), with
    the payload stored at the time. ``notify``: each rule's targets in the current model
    (a delivery whose target is no longer there is left as it is). Updates each row."""
    t, a = meta.alert_deliveries, meta.alerts
    with db.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(t.c.id, t.c.alert_id, t.c.webhook, t.c.attempts, a.c.rule, a.c.payload)
                .join(a, a.c.id == t.c.alert_id)
                .where(t.c.status == "failed", t.c.updated_at >= since)
                .order_by(t.c.id)
            )
            .mappings()
            .all()
        )
    jobs = []
    for row in rows:
        target = next(
            (x for x in notify.get(row["rule"], ()) if target_label(x) == row["webhook"]), None
        )
        if target is None:
            continue
        hook = webhooks.get(target) or Webhook(target, target)
        jobs.append((row, Delivery(row["alert_id"], row["webhook"]), hook))
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL_DELIVERIES, len(jobs))) as pool:
        done = list(
            pool.map(
                lambda job: send(
                    job[1],
                    job[2].url,
                    job[2].headers,
                    job[0]["payload"].encode("utf-8"),
                    optional=job[2].optional,
                    attempts=attempts,
                    backoff=backoff,
                    timeout=timeout,
                ),
                jobs,
            )
        )
    stamp = meta.now()
    with db.engine.begin() as conn:
        for (row, _, _), d in zip(jobs, done, strict=True):
            conn.execute(
                t.update()
                .where(t.c.id == row["id"])
                .values(
                    status=d.status,
                    attempts=row["attempts"] + d.attempts,
                    http_status=d.http_status,
                    last_error=d.error[:2000],
                    updated_at=stamp,
                )
            )
            d.attempts += row["attempts"]
    return done


@dataclass(frozen=True)
class AlertRow:
    """An alert as /quality/alerts lists it."""

    id: int
    fired_at: datetime
    rule: str
    kind: str
    severity: str
    metric: str | None
    period: str
    member: dict[str, str]
    value: float | None
    low: float | None
    high: float | None
    message: str
    link: str
    deliveries: tuple[Delivery, ...]

    @property
    def delivery_status(self) -> str:
        """delivered, failed, partly delivered, skipped, or "no webhook"."""
        states = {d.status for d in self.deliveries}
        if not states:
            return "no webhook"
        if states == {"delivered"}:
            return "delivered"
        if "delivered" in states:
            return "partly delivered"
        return "failed" if "failed" in states else "skipped"


def recent(db: MetaDB, *, limit: int = 200, rule: str | None = None) -> list[AlertRow]:
    """The latest alerts (of ``rule``), newest first, with their deliveries."""
    query = (
        sa.select(meta.alerts)
        .order_by(meta.alerts.c.fired_at.desc(), meta.alerts.c.id.desc())
        .limit(limit)
    )
    if rule:
        query = query.where(meta.alerts.c.rule == rule)
    with db.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        ids = [r["id"] for r in rows]
        found: dict[int, list[Delivery]] = {}
        if ids:
            for d in conn.execute(
                sa.select(meta.alert_deliveries)
                .where(meta.alert_deliveries.c.alert_id.in_(ids))
                .order_by(meta.alert_deliveries.c.id)
            ).mappings():
                found.setdefault(d["alert_id"], []).append(
                    Delivery(
                        d["alert_id"],
                        d["webhook"],
                        d["status"],
                        d["attempts"],
                        d["http_status"],
                        d["last_error"],
                    )
                )
    return [
        AlertRow(
            r["id"],
            r["fired_at"],
            r["rule"],
            r["kind"],
            r["severity"],
            r["metric"],
            r["period"],
            json.loads(r["member"]) if r["member"] else {},
            r["value"],
            r["low"],
            r["high"],
            r["message"],
            r["link"],
            tuple(found.get(r["id"], ())),
        )
        for r in rows
    ]
