"""Alert rules of the model evaluated (``alerts:``; parsed and validated with the model in
``queries/semantic/alert_rules.py``).

Four kinds (README "Alerts" has the format):

- ``threshold``: a metric, per period of a grain (optionally per value of one dimension,
  optionally filtered), is above ``above`` or below ``below``;
- ``anomaly``: a day of the metric's daily series stands out (queries/analysis/anomalies.py, the
  Tier 1 detector), in the direction the rule asks for;
- ``risk1``: a Risk 1 quality check failed (a load was stopped, or the live data failed one);
- ``stale``: the data is older than its freshness target.

Evaluation returns ``app.core.stores.alerts.AlertEvent`` values; storing, de-duplicating
and delivering them to webhooks is ``app/core/stores/alerts.py``'s job.
Only complete periods are judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from app.core.errors import QueryError, StarboardError
from app.core.runtime import Runtime
from app.core.stores import checks as checkstore
from app.core.stores.alerts import AlertEvent, CheckFailure
from queries.analysis import anomalies
from queries.quality import freshness as freshness_q
from queries.quality import status as status_q
from queries.semantic import periods
from queries.semantic.alert_rules import DEFAULT_LOOKBACK_DAYS, KINDS, AlertRule
from queries.semantic.parse import parse_where
from queries.semantic.query import Filter, MetricQuery
from queries.semantic.run import as_date, current_model, latest_day, metric_days, run
from queries.semantic.types import SemanticModel

# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Window:
    """What to evaluate: periods that start on or after ``since`` (or exactly ``period``)."""

    since: date | None = None
    period: periods.PeriodWindow | None = None

    @staticmethod
    def parse(since: str | None, period: str | None) -> Window:
        """From the CLI's --since / --period; QueryError naming the bad option."""
        if since and period:
            raise QueryError("Give --since or --period, not both.")
        if period:
            try:
                return Window(period=periods.window_from_key(period))
            except ValueError as exc:
                raise QueryError(f"--period {period!r}: {exc}") from exc
        if since:
            try:
                return Window(since=date.fromisoformat(since.strip()))
            except ValueError:
                raise QueryError(f"--since {since!r} is not a day: write YYYY-MM-DD.") from None
        return Window()


def _first_day(runtime: Runtime, model: SemanticModel, metric: str) -> date | None:
    days = metric_days(metric, runtime)
    return days[0] if days else None


def _series(
    runtime: Runtime, model: SemanticModel, rule: AlertRule, grain: str, first: date, last: date
) -> dict[tuple[str, ...], dict[date, float | None]]:
    """member (values of ``by``, or ()) → period start → value, for [first, last]."""
    time_name = model.time_name("a metric alert")
    filters: list[Filter] = [parse_where(w, model) for w in rule.where]
    filters.append(Filter(time_name, "between", (first.isoformat(), last.isoformat())))
    dims = (f"{time_name}:{grain}",) + ((rule.by,) if rule.by else ())
    result = run(
        MetricQuery((rule.metric or "",), dims, tuple(filters)), runtime=runtime, use_cache=False
    )
    out: dict[tuple[str, ...], dict[date, float | None]] = {}
    for row in result.frame.itertuples(index=False):
        member = (str(row[1]),) if rule.by else ()
        value = row[-1]
        number = (
            None
            if value is None or (isinstance(value, float) and math.isnan(value))
            else float(value)
        )
        out.setdefault(member, {})[as_date(row[0])] = number
    return out


def _link(
    model: SemanticModel, rule: AlertRule, window: periods.PeriodWindow, member: tuple[str, ...]
) -> str:
    """The view a person opens to see it: a Tier 1 board showing the metric for the period
    with the rule's equality filters (when the board filters by them), else the tree."""
    first, last = window.start.isoformat(), (window.end - timedelta(days=1)).isoformat()
    equal: dict[str, str] = {}
    for text in rule.where:
        f = parse_where(text)
        if f.op == "=":
            equal[f.dimension] = str(f.value)
        elif f.op == "in" and isinstance(f.value, tuple):
            equal[f.dimension] = ",".join(map(str, f.value))
    if rule.by and member:
        equal[rule.by] = member[0]
    best: tuple[int, str] | None = None
    for board in model.boards.values():
        if board.tier != 1:
            continue
        charts = [c for s in board.sections for c in s.charts]
        if not any(rule.metric in (c.metric, *c.metrics) for c in charts):
            continue
        score = sum(1 for d in equal if d in board.filters)
        if best is None or score > best[0]:
            best = (score, board.name)
    if best is not None:
        board = model.boards[best[1]]
        params = {"from": first, "to": last}
        params.update({d: v for d, v in equal.items() if d in board.filters})
        return f"/t1/{board.name}?" + urlencode(params)
    if rule.metric in model.tree:
        return f"/tree/{rule.metric}?" + urlencode({"period": window.key})
    return "/quality/alerts?" + urlencode({"rule": rule.name})


def _member_text(rule: AlertRule, member: tuple[str, ...]) -> str:
    return f" for {rule.by} = {member[0]}" if rule.by and member else ""


def _where_text(rule: AlertRule) -> str:
    return f" ({'; '.join(rule.where)})" if rule.where else ""


def _complete_windows(grain: str, first: date, latest: date) -> list[periods.PeriodWindow]:
    out = []
    window = periods.window_containing(grain, first)
    while window.end <= latest + timedelta(days=1):
        out.append(window)
        window = periods.next(window)
    return out


def _scope_bounds(window: Window, latest: date) -> tuple[date, date]:
    if window.period is not None:
        return window.period.start, window.period.end - timedelta(days=1)
    since = window.since or latest - timedelta(days=DEFAULT_LOOKBACK_DAYS - 1)
    return since, latest


def evaluate_threshold(
    runtime: Runtime, model: SemanticModel, rule: AlertRule, window: Window
) -> list[AlertEvent]:
    """Complete periods (starting within the window) whose value crosses a bound."""
    latest = latest_day(runtime)
    if latest is None or rule.metric is None:
        return []
    start, stop = _scope_bounds(window, latest)
    data_first = _first_day(runtime, model, rule.metric) or start
    wins = [
        w
        for w in _complete_windows(rule.grain, max(start, data_first), min(stop, latest))
        if w.start >= start and w.start >= periods.window_containing(rule.grain, data_first).start
    ]
    if not wins:
        return []
    series = _series(
        runtime, model, rule, rule.grain, wins[0].start, wins[-1].end - timedelta(days=1)
    )
    metric = model.metrics[rule.metric]
    zero = _zero_when_empty(model, rule.metric)
    if not rule.by and not series:
        series = {(): {}}
    events = []
    for member, values in sorted(series.items()):
        for win in wins:
            value = values.get(win.start)
            if value is None and not rule.by and zero:
                value = 0.0  # no rows in a period: a count of nothing
            if value is None:
                continue
            crossed = (rule.above is not None and value > rule.above) or (
                rule.below is not None and value < rule.below
            )
            if not crossed:
                continue
            bound = (
                f"above {rule.above:g}"
                if rule.above is not None and value > rule.above
                else f"below {rule.below:g}"
            )
            events.append(
                AlertEvent(
                    rule=rule.name,
                    kind=rule.kind,
                    severity=rule.severity,
                    metric=rule.metric,
                    metric_label=metric.label,
                    period=win.key,
                    period_label=win.label,
                    member=_member(rule, member),
                    value=value,
                    low=rule.below,
                    high=rule.above,
                    message=(
                        f"{metric.label}{_where_text(rule)}{_member_text(rule, member)} was "
                        f"{value:,.4g} in {win.label}: {bound}."
                    ),
                    link=_link(model, rule, win, member),
                    description=rule.description,
                    notify=rule.notify,
                )
            )
    return events


def _zero_when_empty(model: SemanticModel, metric: str) -> bool:
    """A count or sum over no rows is 0 (SQL gives no row, or NULL); a ratio is unknown."""
    spec = model.metrics[metric]
    sql = (spec.sql or "").strip().lower()
    return spec.kind == "aggregate" and sql.startswith(("count(", "count (", "sum(", "sum ("))


def _member(rule: AlertRule, member: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return ((rule.by, member[0]),) if rule.by and member else ()


def evaluate_anomaly(
    runtime: Runtime, model: SemanticModel, rule: AlertRule, window: Window
) -> list[AlertEvent]:
    """Days within the window that the Tier 1 detector flags, in the rule's direction."""
    latest = latest_day(runtime)
    if latest is None or rule.metric is None:
        return []
    start, stop = _scope_bounds(window, latest)
    stop = min(stop, latest)
    data_first = _first_day(runtime, model, rule.metric)
    if data_first is None or stop < start:
        return []
    reach = timedelta(weeks=anomalies.NEIGHBOUR_WEEKS)
    first = max(data_first, start - reach)
    last = min(latest, stop + reach)
    metric = model.metrics[rule.metric]
    counts = bool(
        metric.kind == "aggregate" and metric.sql and metric.sql.strip().lower().startswith("count")
    )
    series = _series(runtime, model, rule, "day", first, last)
    if not rule.by and not series:
        series = {(): {}}
    events = []
    for member, values in sorted(series.items()):
        present = sorted(values)
        if not present:
            continue
        lo = first if not rule.by else present[0]
        hi = last if not rule.by else present[-1]
        days = [lo + timedelta(n) for n in range((hi - lo).days + 1)]
        fill = 0.0 if _zero_when_empty(model, rule.metric) else None
        seq = [values[d] if d in values else fill for d in days]
        floor = 0.0 if all(v is None or v >= 0 for v in seq) else None
        for found in anomalies.daily_anomalies(
            days, seq, z_threshold=rule.z, min_change=rule.min_change, counts=counts
        ):
            if not (start <= found.day <= stop):
                continue
            if rule.direction != "both" and found.direction != rule.direction:
                continue
            win = periods.window_containing("day", found.day)
            # the normal band the detector allowed: expected ± z_threshold × this day's scale
            half = abs(found.value - found.expected) / abs(found.z) * rule.z if found.z else 0
            change = found.change
            events.append(
                AlertEvent(
                    rule=rule.name,
                    kind=rule.kind,
                    severity=rule.severity,
                    metric=rule.metric,
                    metric_label=metric.label,
                    period=win.key,
                    period_label=win.label,
                    member=_member(rule, member),
                    value=found.value,
                    low=(
                        found.expected - half
                        if floor is None
                        else max(floor, found.expected - half)
                    ),
                    high=found.expected + half,
                    expected=found.expected,
                    message=(
                        f"{metric.label}{_where_text(rule)}{_member_text(rule, member)} was "
                        f"{found.value:,.4g} on {win.label}, expected about "
                        f"{found.expected:,.4g}"
                        + (f" ({change:+.0%})" if change is not None else "")
                        + "."
                    ),
                    link=_link(model, rule, win, member),
                    description=rule.description,
                    notify=rule.notify,
                )
            )
    return events


def evaluate_stale(runtime: Runtime, rule: AlertRule, *, now: datetime) -> list[AlertEvent]:
    """One alert per data version older than the rule's hours; a rule without ``hours``
    judges each fact against its own freshness SLO, as the stale banner does."""
    if rule.hours is None:
        return _stale_facts(runtime, rule, now=now)
    data_to = runtime.warehouse.snapshot().version.data_to
    if data_to is None:
        day = latest_day(runtime)
        data_to = datetime.combine(day + timedelta(days=1), datetime.min.time()) if day else None
    if data_to is None:
        return []
    data_to = data_to.replace(tzinfo=None)
    age = (now - data_to).total_seconds() / 3600
    if age <= rule.hours:
        return []
    message = (
        f"The data is {age:,.0f} hours old (latest {data_to:%Y-%m-%d %H:%M}); "
        f"its freshness target is {rule.hours:g} hours."
    )
    return [_stale_event(rule, data_to, age, rule.hours, message)]


def _stale_facts(runtime: Runtime, rule: AlertRule, *, now: datetime) -> list[AlertEvent]:
    """One alert per data version when any fact is older than its SLO (the model's
    ``freshness_hours``, else its freshness check, else the setting)."""
    rows = freshness_q.freshness(
        current_model(runtime),
        freshness_q.fact_times(runtime),
        float(runtime.settings.freshness_slo_hours),
        now.replace(tzinfo=None),
    )
    late = [r for r in rows if r.status in ("warn", "fail") and r.latest is not None]
    if not late:
        return []
    worst = max(late, key=lambda r: (r.age_hours or 0.0) - r.slo_hours)
    assert worst.latest is not None and worst.age_hours is not None
    facts = "; ".join(
        f"{r.table} is {r.age_hours:,.0f} hours old (SLO {r.slo_hours:g} h)" for r in late
    )
    message = f"The data is older than its freshness SLO: {facts}."
    return [_stale_event(rule, worst.latest, worst.age_hours, worst.slo_hours, message)]


def _stale_event(
    rule: AlertRule, latest: datetime, age: float, limit: float, message: str
) -> AlertEvent:
    return AlertEvent(
        rule=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        metric=None,
        metric_label="",
        period=f"{latest:%Y-%m-%d %H:%M}",
        period_label=f"data to {latest:%d %b %Y %H:%M}",
        member=(),
        value=round(age, 1),
        low=None,
        high=limit,
        message=message,
        link="/quality",
        description=rule.description,
        notify=rule.notify,
    )


def evaluate_risk1(
    rule: AlertRule, failures: Sequence[CheckFailure], *, period: str, published: bool
) -> list[AlertEvent]:
    """One alert per period when Risk 1 checks failed (``period``: the day, or version)."""
    failed = [f for f in failures if f.risk == 1]
    if not failed:
        return []
    names = ", ".join(f"{f.check} on {f.target}" for f in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    what = "The live data fails" if published else "A load was stopped: it failed"
    return [
        AlertEvent(
            rule=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            metric=None,
            metric_label="",
            period=period,
            period_label=period,
            member=(),
            value=float(len(failed)),
            low=None,
            high=0.0,
            message=f"{what} {len(failed)} Risk 1 check(s): {names}{more}.",
            link="/quality",
            description=rule.description,
            notify=rule.notify,
            detail=tuple(f"{f.check} · {f.target}: {f.detail}" for f in failed),
        )
    ]


def live_risk1_failures(runtime: Runtime) -> list[CheckFailure]:
    """Failed Risk 1 checks of the live data version: the latest check run recorded for it
    (publish or `starboard quality`), else the loader's gate table. None after a normal
    publish: a Risk 1 failure stops it."""

    snap = runtime.warehouse.snapshot()
    run_ = checkstore.latest_run(
        runtime.users.db,
        checkstore.warehouse_key(runtime.settings.db_url, runtime.settings.pg_schema),
        version=snap.version.id,
    )
    if run_ is not None:
        return [
            CheckFailure(r.risk, r.name, r.target, r.message)
            for r in checkstore.results(runtime.users.db, run_.id)
            if not r.passed and r.risk == 1
        ]
    try:
        status = status_q.warehouse_status()
    except StarboardError:
        return []
    return [
        CheckFailure(g.risk, g.check, g.target, g.detail)
        for g in status.gates
        if not g.passed and g.risk == 1
    ]


def evaluate(
    runtime: Runtime,
    model: SemanticModel,
    window: Window | None = None,
    *,
    now: datetime,
    kinds: Iterable[str] = KINDS,
    load_failures: Sequence[CheckFailure] | None = None,
    rules: Iterable[str] | None = None,
    errors: list[tuple[str, str]] | None = None,
) -> list[AlertEvent]:
    """Every rule of ``model`` (of ``kinds``, or named in ``rules``) over ``window``.

    ``load_failures``: the results of a load that was stopped (risk1 rules then judge those
    instead of the live version, whose data did not change). ``errors``: when given, a rule
    that cannot be evaluated adds (rule, message) to it and the others still run; without
    it the first such error is raised.
    """
    window = window or Window()
    wanted = set(kinds)
    names = set(rules) if rules is not None else None
    unknown = sorted((names or set()) - set(model.alerts))
    if unknown:
        raise QueryError(
            f"Unknown alert rule(s): {', '.join(unknown)}. The model has: "
            f"{', '.join(model.alerts) or 'none'}."
        )
    events: list[AlertEvent] = []
    for rule in model.alerts.values():
        if rule.kind not in wanted or (names is not None and rule.name not in names):
            continue
        try:
            events += _evaluate_rule(runtime, model, rule, window, now, load_failures)
        except StarboardError as exc:
            if errors is None:
                raise
            errors.append((rule.name, exc.message))
    return events


def _evaluate_rule(
    runtime: Runtime,
    model: SemanticModel,
    rule: AlertRule,
    window: Window,
    now: datetime,
    load_failures: Sequence[CheckFailure] | None,
) -> list[AlertEvent]:
    if rule.kind == "threshold":
        return evaluate_threshold(runtime, model, rule, window)
    if rule.kind == "anomaly":
        return evaluate_anomaly(runtime, model, rule, window)
    if rule.kind == "stale":
        return evaluate_stale(runtime, rule, now=now)
    if load_failures is not None:
        return evaluate_risk1(rule, load_failures, period=f"{now:%Y-%m-%d}", published=False)
    version = runtime.warehouse.snapshot().version.id
    return evaluate_risk1(
        rule, live_risk1_failures(runtime), period=f"version {version}", published=True
    )
