"""Time-aware metrics: rolling windows, to-date, cumulative, period-over-period, semi-additive.

The model side: reading the YAML, checking cross-references, and naming the "timed
leaves" the compiler computes in branches of their own (timewise_sql.py builds their SQL).

Semantics (the README's model format says the same):

* Every query row has an *output period*: its period of the time dimension at the query's
  grain, or — without the time dimension in the query (a BAN) — the query's whole date
  range: from its first filter day (else the fact's first day) to its last filter day
  (else the fact's latest day). The period's *last day* is clipped to the query's date
  range end and to the fact's latest day.
* ``window: {metric, days: N}``: the base metric over the N days ending on that last day.
* ``to_date: {metric, period}``: from the start of the week/month/quarter/year holding that
  last day up to it.
* ``cumulative: {metric}``: every row up to that last day.
* ``offset: {metric, by}``: the base metric over the output period (its days the query
  covers) shifted back one ``by`` (day, week, month, quarter, year; ``period``: one period
  of the query's grain, or for a BAN the same number of days just before the range).
* The base may be an aggregate, ratio or expr metric (each aggregate leaf is transformed,
  then the formula is applied); it may not itself be time-aware or semi-additive.
* The rows in a window are re-aggregated from the fact (a distinct count over 28 days
  counts each user once), filtered by every non-time filter and the row scope; the time
  filters choose the output periods, not the rows in the windows. Output periods are the
  periods where the base's fact has rows; in a grouped query a group appears when a row of
  its window counts for the metric (matches its ``filter``), as for plain metrics.
* ``over_time: first|last|average`` on an aggregate: across the other dimensions it
  aggregates as usual; over time it takes the rows of the first (last) day with data in
  the output period (matching the query's filters, one day for every group, so groups add
  up to the total), or the average of the daily values (days with data in the group).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from queries.semantic.graph import metric_facts, metrics_under
from queries.semantic.types import (
    OFFSET_BY,
    TIME_OPS,
    TO_DATE_PERIODS,
    Metric,
    SemanticModel,
    TimeOp,
)

MAX_WINDOW_DAYS = 3660  # ten years: beyond that a window is a cumulative total
_OP_KEYS = {
    "window": (("metric", "days"), ("metric", "days")),
    "to_date": (("metric", "period"), ("metric", "period")),
    "cumulative": (("metric",), ("metric",)),
    "offset": (("metric", "by"), ("metric", "by")),
}  # op → (allowed keys, required keys)
LEAF_SEP = "@"  # a timed leaf of a time metric: "<time metric>@<aggregate leaf>"


def load_time_metric(
    loader: Any, name: str, key: str, spec: Mapping, common: dict
) -> Metric | None:
    """``metrics.<name>`` with one of TIME_OPS as its kind (``loader`` is a load.Loader)."""
    op = next(k for k in TIME_OPS if k in spec)
    okey = f"{key}.{op}"
    body = loader.mapping(spec[op], okey, allow_none=False)
    if body is None:
        return None
    allowed, required = _OP_KEYS[op]
    loader.keys(body, okey, allowed, required=required)
    base = loader.string(body, okey, "metric")
    if base is None:
        return None
    days = period = by = None
    ok = True
    if op == "window" and "days" in body:
        raw = body["days"]
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_WINDOW_DAYS:
            loader.add(
                f"{okey}.days",
                f"{raw!r} is not a number of days: use a whole number from 1 to "
                f"{MAX_WINDOW_DAYS} (or a cumulative metric)",
            )
            ok = False
        else:
            days = int(raw)
    if op == "to_date":
        period = loader.choice(body, okey, "period", TO_DATE_PERIODS, None)
        ok = ok and period is not None
    if op == "offset":
        by = loader.choice(body, okey, "by", OFFSET_BY, None)
        ok = ok and by is not None
    if not ok or (op == "window" and days is None):
        return None
    return Metric(name, kind="time", time_op=TimeOp(op, base, days, period, by), **common)


def inherit_display(metrics: dict[str, Metric], node: Any) -> dict[str, Metric]:
    """Time metrics without their own ``format`` / ``direction`` take their base's (a
    month-to-date revenue is currency, like revenue)."""
    raw = node if isinstance(node, Mapping) else {}
    out = dict(metrics)
    for name, metric in metrics.items():
        spec = raw.get(name)
        if metric.kind != "time" or not isinstance(spec, Mapping):
            continue
        missing = [k for k in ("format", "direction") if k not in spec]
        base, seen = metric, {name}
        while base.kind == "time" and base.time_op and base.time_op.metric not in seen:
            seen.add(base.time_op.metric)
            nxt = metrics.get(base.time_op.metric)
            if nxt is None:
                break
            base = nxt
        if missing and base is not metric:
            out[name] = dataclasses.replace(metric, **{k: getattr(base, k) for k in missing})
    return out


def check_time_metrics(validator: Any, model: SemanticModel) -> None:
    """Cross-references of time metrics and semi-additive measures (``validator`` is a
    validate.Validator): a known base, facts with a time column, no nesting."""
    has_time_dim = model.time_dimension() is not None
    for metric in model.metrics.values():
        key = f"metrics.{metric.name}"
        if metric.over_time:
            fact = model.tables.get(metric.fact or "")
            if fact is not None and not fact.time:
                validator.add(
                    f"{key}.over_time",
                    f"'{metric.fact}' has no time column (time:): over_time needs one",
                )
            elif fact is not None and not has_time_dim:
                validator.add(f"{key}.over_time", "over_time needs a time dimension (time: true)")
        if metric.kind != "time" or metric.time_op is None:
            continue
        op = metric.time_op
        mkey = f"{key}.{op.op}.metric"
        if not validator.known("metric", op.metric, validator.metrics, mkey):
            continue
        if op.metric not in model.metrics:
            continue
        if not has_time_dim:
            validator.add(f"{key}.{op.op}", f"a {op.op} metric needs a time dimension (time: true)")
        nested = timed_within(model, op.metric)
        if nested:
            validator.add(
                mkey,
                f"'{op.metric}' is built on '{nested}', which is itself time-aware or "
                f"semi-additive: a {op.op} of it is not supported",
            )
            continue
        for fact_name in sorted(metric_facts(model, op.metric)):
            read = model.tables.get(fact_name)
            if read is not None and not read.time:
                validator.add(
                    mkey,
                    f"'{op.metric}' aggregates '{fact_name}', which has no time column (time:): "
                    f"a {op.op} needs one",
                )


def timed_within(model: SemanticModel, name: str) -> str | None:
    """The first time-aware or semi-additive metric ``name`` is built from (itself
    included), or None."""
    return next(
        (m.name for m in metrics_under(model, name) if m.kind == "time" or m.over_time), None
    )


def leaf_key(time_metric: str, leaf: str) -> str:
    """The timed leaf of ``time_metric`` that transforms the aggregate ``leaf``."""
    return f"{time_metric}{LEAF_SEP}{leaf}"


def split_leaf(key: str) -> tuple[str | None, str]:
    """(time metric or None for a semi-additive aggregate, aggregate metric) of a leaf key."""
    owner, sep, leaf = key.rpartition(LEAF_SEP)
    return (owner if sep else None), leaf


def is_timed(model: SemanticModel, key: str) -> bool:
    """True for a leaf computed in a branch of its own: a time metric's or semi-additive."""
    owner, leaf = split_leaf(key)
    metric = model.metrics.get(leaf)
    return owner is not None or bool(metric is not None and metric.over_time)


def leaf_fact(model: SemanticModel, key: str) -> str:
    """The fact a (timed or plain) leaf aggregates."""
    fact = model.metrics[split_leaf(key)[1]].fact
    assert fact is not None
    return fact


# Days an offset of one `by` can reach back at most (a cost estimate, so rounded up).
_SHIFT_DAYS = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}


def rows_read(
    model: SemanticModel,
    timed: list[str],
    bounds: tuple[date | None, date | None],
    dims: Sequence[Any],
) -> tuple[date | None, date | None]:
    """The days of fact rows a query reads, widened from its time filters' ``bounds`` to
    reach the windows of its time-aware leaves (for the cost estimate)."""
    low, high = bounds
    if low is None:
        return low, high
    grain = next((d.grain or "day" for d in dims if d.dim.is_time), None)
    for key in timed:
        owner, _ = split_leaf(key)
        op = model.metrics[owner].time_op if owner else None
        if op is None or low is None:
            continue
        if op.op == "cumulative":
            low = None
        elif op.op == "window":
            low = min(low, low - timedelta(days=(op.days or 1) - 1))
        elif op.op == "to_date":
            start = low.replace(day=1) if op.period != "week" else low - timedelta(days=6)
            if op.period == "quarter":
                start = start.replace(month=(low.month - 1) // 3 * 3 + 1)
            elif op.period == "year":
                start = start.replace(month=1)
            low = min(low, start)
        elif op.op == "offset":
            by = op.by if op.by != "period" else grain
            if by is None:  # a BAN: the same number of days before the range
                low = None if high is None else low - (high - low) - timedelta(days=1)
            else:
                low = low - timedelta(days=_SHIFT_DAYS[by])
    return low, high
