"""What /pipeline shows beside the project itself: its run history, each output's freshness
against its SLO in the live warehouse, and when its schedule runs next."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

from app.core.runtime import current_runtime
from app.core.stores.pipeline import RunRecord, recent_runs
from queries.quality.freshness import FactTime, fact_times, slo_of
from queries.semantic.run import current_model
from queries.semantic.types import SemanticModel

RUNS_SHOWN = 20


@dataclass(frozen=True)
class OutputFreshness:
    """One output fact: its newest time in the live warehouse against its SLO."""

    table: str
    column: str  # owner.column ("fct.occurred_at", or a joined table's column)
    latest: datetime | None
    age_hours: float | None
    slo_hours: float
    slo_from: str  # where the SLO comes from, said so a reader can change it
    status: str  # within | breached | unknown (no time value could be read)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def output_freshness(
    outputs: Collection[str] | None = None,
    now: datetime | None = None,
) -> tuple[OutputFreshness, ...]:
    """Freshness of every output that is a fact of the model with a time column, in the
    served data version (the latest times the header reads, cached per version), judged
    against the fact's SLO as every page judges it."""
    runtime = current_runtime()
    return freshness_against_slo(
        current_model(runtime),
        fact_times(runtime),
        outputs,
        float(runtime.settings.freshness_slo_hours),
        now,
    )


def freshness_against_slo(
    model: SemanticModel,
    times: tuple[FactTime, ...],
    outputs: Collection[str] | None,
    default_hours: float,
    now: datetime | None = None,
) -> tuple[OutputFreshness, ...]:
    """Each output fact against its SLO in the model, as every page judges it
    (queries/quality/freshness.py ``slo_of``)."""
    now = now or _now()
    rows = []
    for time in times:
        table = model.tables.get(time.table)
        if table is None or (outputs is not None and table.name not in outputs):
            continue
        slo, source, _ = slo_of(model, table, default_hours)
        source = {
            "freshness_hours": f"model tables.{table.name}.freshness_hours",
            "default SLO": "default (STARBOARD_FRESHNESS_SLO_HOURS)",
        }.get(source, source)
        latest = time.latest
        age = (now - latest).total_seconds() / 3600 if latest is not None else None
        status = "unknown" if age is None else ("within" if age <= slo else "breached")
        rows.append(
            OutputFreshness(
                table.name,
                time.column,
                latest,
                None if age is None else round(age, 1),
                slo,
                source,
                status,
            )
        )
    return tuple(rows)


def pipeline_runs(project: str, limit: int = RUNS_SHOWN) -> list[RunRecord]:
    """The project's newest runs with their tasks, newest first."""
    return recent_runs(current_runtime().users.db, project, limit)


@dataclass(frozen=True)
class ScheduleInfo:
    cron: str | None
    words: str  # "every day at 06:00 UTC"; "" when the expression is not a common shape
    next_due: datetime | None  # UTC, naive
    in_server: bool  # STARBOARD_SCHEDULER: the server runs it (else cron or a systemd timer)


def schedule_info(cron: str | None, in_server: bool, now: datetime | None = None) -> ScheduleInfo:
    """The cron in words and its next time after ``now`` (UTC)."""
    if cron is None:
        return ScheduleInfo(None, "", None, in_server)
    upcoming = croniter(cron, now or _now()).get_next(datetime)
    return ScheduleInfo(cron, cron_words(cron), upcoming, in_server)


DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
NICKNAMES = {
    "@hourly": "every hour at :00",
    "@daily": "every day at 00:00 UTC",
    "@midnight": "every day at 00:00 UTC",
    "@weekly": "every Sunday at 00:00 UTC",
    "@monthly": "on day 1 of every month at 00:00 UTC",
    "@yearly": "every 1 January at 00:00 UTC",
    "@annually": "every 1 January at 00:00 UTC",
}


def _numbers(field: str, high: int) -> list[int] | None:
    """``1,3`` or ``1-5`` or ``7`` as numbers; None for anything else (steps, names)."""
    out: list[int] = []
    for part in field.split(","):
        low, dash, top = part.partition("-")
        if (
            not low.isascii()
            or not low.isdigit()
            or (dash and not (top.isascii() and top.isdigit()))
        ):
            return None
        first, last = int(low), int(top) if dash else int(low)
        if first > last or last > high:
            return None
        out.extend(range(first, last + 1))
    return out


def _days(field: str) -> str | None:
    days = _numbers(field, 7)
    if days is None:
        return None
    if field == "1-5":
        return "Monday to Friday"
    names = [f"{n}s" for n in dict.fromkeys(DAYS[d % 7] for d in days)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def cron_words(cron: str) -> str:
    """A common five-field cron in English (UTC); "" when it is not one of the common
    shapes (the expression itself is then all the page shows)."""
    text = cron.strip()
    if text.startswith("@"):
        return NICKNAMES.get(text.lower(), "")
    fields = text.split()
    if len(fields) != 5:
        return ""
    minute, hour, dom, month, dow = fields
    if (minute, hour, dom, month, dow) == ("*", "*", "*", "*", "*"):
        return "every minute"
    if minute.startswith("*/") and (hour, dom, month, dow) == ("*", "*", "*", "*"):
        step = minute[2:]
        return f"every {step} minutes" if step.isascii() and step.isdigit() else ""
    minutes = _numbers(minute, 59)
    if minutes is None or len(minutes) != 1:
        return ""
    at_minute = f":{minutes[0]:02d}"
    if hour == "*" and (dom, month, dow) == ("*", "*", "*"):
        return f"every hour at {at_minute}"
    if hour.startswith("*/") and (dom, month, dow) == ("*", "*", "*"):
        step = hour[2:]
        return f"every {step} hours at {at_minute}" if step.isascii() and step.isdigit() else ""
    hours = _numbers(hour, 23)
    if hours is None:
        return ""
    times = ", ".join(f"{h:02d}{at_minute}" for h in hours)
    if month != "*":
        return ""
    if dom == "*" and dow == "*":
        return f"every day at {times} UTC"
    if dom == "*":
        days = _days(dow)
        return f"{days} at {times} UTC" if days else ""
    if dow == "*":
        dates = _numbers(dom, 31)
        if dates is None or 0 in dates:
            return ""
        return f"on day {', '.join(map(str, dates))} of every month at {times} UTC"
    return ""
