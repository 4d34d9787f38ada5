"""The metric dependency tree and its root-cause analysis, as plain values.

Two halves. The pure functions (``sum_split``, ``product_split``, ``influence_ranking``,
``additive_movers``, ``mix_rate_movers``, ``narrative``) take numbers and return numbers;
the README's "Metric tree and root-cause analysis" section states each rule, and the tests
check them on hand-computed cases. ``tree_view`` runs the queries a tree page needs through
the one door (``queries.semantic.jobs.run_jobs`` → ``queries.semantic.run.run``,
concurrently, in the caller's request context so the user's row scope applies) and assembles them.

Contributions are in the parent's own unit (dollars of revenue, orders …); ``points`` are
the same contributions divided by |parent's comparison value|, i.e. percentage points of
the parent's relative change, so the children's points add up to the parent's change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import combinations
from typing import Any

import pandas as pd

from app.core.durations import duration_scale, duration_text
from app.core.errors import QueryError, StarboardError
from app.core.runtime import current_runtime
from queries.analysis.changes import change, finite
from queries.quality import status as status_q
from queries.quality.trust import live_quality
from queries.semantic import periods
from queries.semantic.aggregates import is_order_statistic
from queries.semantic.graph import metric_facts, reachable_dimensions
from queries.semantic.jobs import Job, run_jobs
from queries.semantic.periods import PeriodWindow
from queries.semantic.query import MetricQuery, in_window
from queries.semantic.run import current_model, latest_day
from queries.semantic.types import GRAINS, Metric, SemanticModel

HISTORY = 12  # periods in a node's sparkline and in the influence correlation
COMPARES = ("previous", "last_year")
DEFAULT_GRAIN = "month"
TOP_MOVERS = 10  # movers shown for the selected node
VALUES_PER_DIMENSION = 50  # values of one dimension considered (largest first)
FETCH_LIMIT = 1000  # rows one mover query may return (a safety cap)
MIN_CORRELATION_PAIRS = 4  # period-over-period changes needed for a correlation
UNSPLIT_SHARE = 0.05  # a ratio's numerator outside every denominator segment: skip
_EPS = 1e-12

METHODS = {
    "difference": "sum: each child's own change",
    "log-share": "product: each child's share of the change in log terms",
    "shapley": "product with a zero or negative value: Shapley split (the average effect "
    "of changing one child at a time, over every order)",
    "ranking": "influence: a ranking by correlation-weighted change, not an attribution",
    "unavailable": "not computable: a value is missing",
}


# --------------------------------------------------------------------------- pure results


@dataclass(frozen=True)
class Split:
    """How a parent's change divides among its children (in children order)."""

    relation: str
    method: str  # a key of METHODS
    contributions: tuple[float | None, ...]  # parent's unit; None for influence
    points: tuple[float | None, ...]  # contribution / |parent before| (ratio)
    residual: float | None = None  # parent change − Σ contributions
    scores: tuple[float | None, ...] = ()  # influence: correlation × relative change
    correlations: tuple[float | None, ...] = ()  # influence: Pearson r of the changes
    ranks: tuple[int | None, ...] = ()  # 1 = explains most
    note: str = ""


def _points(
    contributions: Sequence[float | None], before: float | None
) -> tuple[float | None, ...]:
    if before is None or before == 0:
        return tuple(None for _ in contributions)
    return tuple(None if c is None else c / abs(before) for c in contributions)


def _ranks(keys: Sequence[float | None]) -> tuple[int | None, ...]:
    """1 for the largest key, 2 for the next …; None for a missing key."""
    order = sorted(
        (i for i, k in enumerate(keys) if k is not None), key=lambda i: -(keys[i] or 0.0)
    )
    ranks: list[int | None] = [None] * len(keys)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return tuple(ranks)


def _unavailable(relation: str, n: int, note: str) -> Split:
    empty = tuple(None for _ in range(n))
    return Split(relation, "unavailable", empty, empty, None, ranks=empty, note=note)


def _missing(
    parent: tuple[float | None, float | None],
    children: Sequence[tuple[float | None, float | None]],
    labels: Sequence[str] | None,
) -> str | None:
    """The note for the first missing value, or None when every value is there."""
    if finite(parent[0]) is None or finite(parent[1]) is None:
        return "Not computable: the metric has no value for one of the two periods."
    for i, (before, after) in enumerate(children):
        if finite(before) is None or finite(after) is None:
            name = labels[i] if labels else f"child {i + 1}"
            return f"Not computable: {name} has no value for one of the two periods."
    return None


def sum_split(
    parent: tuple[float | None, float | None],
    children: Sequence[tuple[float | None, float | None]],
    labels: Sequence[str] | None = None,
) -> Split:
    """parent = Σ children: each child's contribution is its own change (after − before)."""
    n = len(children)
    missing = _missing(parent, children, labels)
    if missing:
        return _unavailable("sum", n, missing)
    p0, p1 = float(parent[0]), float(parent[1])  # type: ignore[arg-type]
    contributions = tuple(float(a) - float(b) for b, a in children)  # type: ignore[arg-type]
    residual = (p1 - p0) - sum(contributions)
    note = ""
    if abs(residual) > 1e-9 * max(1.0, abs(p1), abs(p0)):
        note = (
            "The children do not add up to the metric exactly (overlap or other parts): "
            "the rest is shown as not explained."
        )
    return Split(
        "sum",
        "difference",
        contributions,
        _points(contributions, p0),
        residual,
        ranks=_ranks([abs(c) for c in contributions]),
        note=note,
    )


def _log_mean(a: float, b: float) -> float:
    """The logarithmic mean (a − b) / ln(a / b); a when a = b (a, b > 0)."""
    if abs(a - b) <= _EPS * max(abs(a), abs(b)):
        return a
    return (a - b) / math.log(a / b)


def shapley(
    before: Sequence[float], after: Sequence[float], exponents: Sequence[int]
) -> tuple[float, ...]:
    """Shapley split of Π xᵢ^eᵢ's change: each child's average effect over every order of
    switching the children from before to after (exact: they add up to the change)."""
    n = len(before)

    def value(switched: frozenset[int]) -> float:
        out = 1.0
        for i in range(n):
            x = after[i] if i in switched else before[i]
            out *= x if exponents[i] >= 0 else 1.0 / x
        return out

    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    phis = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        phi = 0.0
        for k in range(n):
            for subset in combinations(others, k):
                s = frozenset(subset)
                phi += weights[k] * (value(s | {i}) - value(s))
        phis.append(phi)
    return tuple(phis)


def product_split(
    parent: tuple[float | None, float | None],
    children: Sequence[tuple[float | None, float | None]],
    exponents: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
) -> Split:
    """parent = Π childᵢ^eᵢ (product: every e = 1; ratio a / b: e = (1, −1)).

    The children explain the change of what the identity gives, I = Π childᵢ^eᵢ, in
    each period; the rest of the parent's change, Δparent − ΔI, is the residual ("not
    explained"): 0 when the identity holds, the gap when the tree is wrong.

    Log-share: wᵢ = eᵢ·ln(afterᵢ / beforeᵢ); contributionᵢ = ΔI · wᵢ / Σw, so the
    contributions add up to ΔI exactly. When I does not move (Σw = 0) the offsetting
    contributions are L·wᵢ, L the logarithmic mean of I's two values. A zero or negative
    value has no logarithm: then the Shapley split (which adds up to ΔI too).
    """
    n = len(children)
    exps = tuple(exponents) if exponents is not None else (1,) * n
    relation = "ratio" if any(e < 0 for e in exps) else "product"
    missing = _missing(parent, children, labels)
    if missing:
        return _unavailable(relation, n, missing)
    p0, p1 = float(parent[0]), float(parent[1])  # type: ignore[arg-type]
    before = [float(b) for b, _ in children]  # type: ignore[arg-type]
    after = [float(a) for _, a in children]  # type: ignore[arg-type]
    delta = p1 - p0
    note = ""
    if any(x == 0 for e, b, a in zip(exps, before, after, strict=True) if e < 0 for x in (b, a)):
        return _unavailable(relation, n, "Not computable: a denominator is zero.")
    # what the identity gives: Π childᵢ^eᵢ in each period; its change is what the children
    # explain, and the rest of the parent's change is not explained (0 for a true identity)
    implied0, implied1 = _identity(before, exps), _identity(after, exps)
    moved = implied1 - implied0
    if min([*before, *after]) > 0:
        weights = [e * math.log(a / b) for e, b, a in zip(exps, before, after, strict=True)]
        total = sum(weights)
        if abs(total) > 1e-12:
            contributions = tuple(moved * w / total for w in weights)
        else:
            level = _log_mean(implied1, implied0)
            contributions = tuple(level * w for w in weights)
        method = "log-share"
    else:
        contributions = shapley(before, after, exps)  # adds up to the identity's change
        method = "shapley"
        note = (
            "A value is zero or negative, so there is no log share: split with the "
            "Shapley method (each child's average effect)."
        )
    residual = delta - sum(contributions)
    if material(residual, p0, p1):
        sign = " × " if relation == "product" else " ÷ "
        names = sign.join(labels) if labels else f"the {relation} of the children"
        note = (
            f"{note} {names} does not give the metric exactly (the tree's identity does not "
            "hold on this data): the rest is shown as not explained."
        ).strip()
    return Split(
        relation,
        method,
        contributions,
        _points(contributions, p0),
        residual,
        ranks=_ranks([abs(c) for c in contributions]),
        note=note,
    )


def _identity(values: Sequence[float], exponents: Sequence[int]) -> float:
    out = 1.0
    for x, e in zip(values, exponents, strict=True):
        out *= x if e >= 0 else 1.0 / x
    return out


RESIDUAL_SHOWN = 1e-6  # a residual below this share of the metric is rounding, not a gap


def material(residual: float | None, before: float | None, after: float | None) -> bool:
    """True when a split's residual is more than rounding: worth showing as not explained."""
    if residual is None or not math.isfinite(residual):
        return False
    scale = max(1.0, abs(before or 0.0), abs(after or 0.0))
    return abs(residual) > RESIDUAL_SHOWN * scale


def correlation(xs: Sequence[float | None], ys: Sequence[float | None]) -> float | None:
    """Pearson r over the positions where both are known; None with < MIN_CORRELATION_PAIRS
    pairs or no variation."""
    pairs: list[tuple[float, float]] = []
    for x, y in zip(xs, ys, strict=True):
        fx, fy = finite(x), finite(y)
        if fx is not None and fy is not None:
            pairs.append((fx, fy))
    if len(pairs) < MIN_CORRELATION_PAIRS:
        return None
    mx = sum(x for x, _ in pairs) / len(pairs)
    my = sum(y for _, y in pairs) / len(pairs)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    syy = sum((y - my) ** 2 for _, y in pairs)
    if sxx <= _EPS or syy <= _EPS:
        return None
    return sxy / math.sqrt(sxx * syy)


def period_changes(series: Sequence[float | None]) -> list[float | None]:
    """Period-over-period relative changes of a series (one fewer than its values)."""
    return [change(b, a) for a, b in zip(series, series[1:], strict=False)]


def influence_ranking(
    parent: tuple[float | None, float | None],
    children: Sequence[tuple[float | None, float | None]],
    parent_history: Sequence[float | None],
    children_history: Sequence[Sequence[float | None]],
) -> Split:
    """parent is influenced by the children, with no identity: a ranking, not an attribution.

    For each child, r = the Pearson correlation of the parent's and the child's
    period-over-period relative changes over the history (the last 12 periods); its score is
    r × the child's relative change. Children are ranked by score × sign(parent's change),
    highest first: a child whose correlated movement points the parent's way explains most.
    With no parent change they are ranked by |score|; a child without a correlation (too
    little history) or without a change gets no score and comes last.
    """
    p_change = change(parent[1], parent[0])
    p_moves = period_changes(parent_history)
    correlations, scores = [], []
    for (before, after), history in zip(children, children_history, strict=True):
        r = correlation(p_moves, period_changes(history))
        g = change(after, before)
        correlations.append(r)
        scores.append(None if r is None or g is None else r * g)
    sign = 0.0 if not p_change else math.copysign(1.0, p_change)
    keys = [None if s is None else (s * sign if sign else abs(s)) for s in scores]
    n = len(children)
    return Split(
        "influence",
        "ranking",
        tuple(None for _ in range(n)),
        tuple(None for _ in range(n)),
        None,
        scores=tuple(scores),
        correlations=tuple(correlations),
        ranks=_ranks(keys),
        note="A ranking by how much each child's change, weighted by its correlation "
        f"with the metric over the last {HISTORY} periods, points the metric's "
        "way: not an attribution, the scores do not add up.",
    )


# --------------------------------------------------------------------------- top movers


@dataclass(frozen=True)
class Mover:
    """One dimension value and how much of the metric's change it explains."""

    dimension: str
    dimension_label: str
    value: str | None  # None: rows with no value for the dimension
    before: float | None  # the segment's metric (rate for ratio metrics)
    after: float | None
    contribution: float  # metric's unit; adds up over one dimension's values
    mix: float | None = None  # ratio metrics: from the segment's share changing
    rate: float | None = None  # ratio metrics: from the segment's rate changing
    share_before: float | None = None  # ratio: the segment's share of the denominator
    share_after: float | None = None

    @property
    def change(self) -> float | None:
        """The segment's own relative change."""
        return change(self.after, self.before)


def additive_movers(
    before: Mapping[Any, float | None],
    after: Mapping[Any, float | None],
    dimension: str = "",
    label: str = "",
) -> list[Mover]:
    """Per value: contribution = after − before (a value missing in a period counts 0);
    over all values of a dimension they add up to the metric's change."""
    out = []
    for key in dict.fromkeys([*before, *after]):
        b, a = finite(before.get(key)) or 0.0, finite(after.get(key)) or 0.0
        out.append(Mover(dimension, label, _text(key), b, a, a - b))
    return out


def mix_rate_movers(
    before: Mapping[Any, tuple[float | None, float | None]],
    after: Mapping[Any, tuple[float | None, float | None]],
    dimension: str = "",
    label: str = "",
) -> list[Mover]:
    """A ratio R = Σ numerator / Σ denominator split over segments v into mix and rate.

    With sᵥ = bᵥ / Σb (the segment's share of the denominator), rᵥ = aᵥ / bᵥ (its rate),
    bars for the mean of the two periods and R̄ the mean of the overall ratio:
    mixᵥ = (s¹ᵥ − s⁰ᵥ)(r̄ᵥ − R̄) and rateᵥ = s̄ᵥ (r¹ᵥ − r⁰ᵥ); contributionᵥ = mixᵥ + rateᵥ.
    Over all segments they add up to R¹ − R⁰ exactly. A segment absent in one period
    takes the other period's rate (its change is all mix).
    """

    def totals(side: Mapping[Any, tuple[float | None, float | None]]) -> tuple[float, float]:
        num = sum(finite(a) or 0.0 for a, _ in side.values())
        den = sum(finite(b) or 0.0 for _, b in side.values())
        return num, den

    n0, d0 = totals(before)
    n1, d1 = totals(after)
    if d0 <= 0 or d1 <= 0:
        return []
    big_r = ((n0 / d0) + (n1 / d1)) / 2
    out = []
    for key in dict.fromkeys([*before, *after]):
        a0, b0 = (finite(x) or 0.0 for x in before.get(key, (0.0, 0.0)))
        a1, b1 = (finite(x) or 0.0 for x in after.get(key, (0.0, 0.0)))
        if b0 <= 0 and b1 <= 0:
            continue
        r0 = a0 / b0 if b0 > 0 else None
        r1 = a1 / b1 if b1 > 0 else None
        rate0 = r0 if r0 is not None else r1
        rate1 = r1 if r1 is not None else r0
        s0, s1 = b0 / d0, b1 / d1
        r_bar = (rate0 + rate1) / 2  # type: ignore[operator]
        mix = (s1 - s0) * (r_bar - big_r)
        rate = (s0 + s1) / 2 * (rate1 - rate0)  # type: ignore[operator]
        out.append(Mover(dimension, label, _text(key), r0, r1, mix + rate, mix, rate, s0, s1))
    return out


def top_movers(movers: Sequence[Mover], n: int = TOP_MOVERS) -> list[Mover]:
    """The ``n`` movers with the largest |contribution|, largest first (ties: by name)."""
    ranked = sorted(movers, key=lambda m: (-abs(m.contribution), m.dimension, m.value or ""))
    return [m for m in ranked[:n] if abs(m.contribution) > 0]


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------- the view


@dataclass(frozen=True)
class NodeView:
    """One node of the tree with its numbers for the period and the comparison."""

    metric: Metric
    value: float | None
    base: float | None
    history: tuple[tuple[PeriodWindow, float | None], ...]
    relation: str | None = None  # how its children make it (None: a leaf)
    split: Split | None = None  # how its change divides among its children
    children: tuple[NodeView, ...] = ()
    contribution: float | None = None  # to its parent's change (parent's unit)
    points: float | None = None  # contribution / |parent's comparison value|
    score: float | None = None  # parent relation influence: its score
    rank: int | None = None  # among its siblings, 1 = explains most
    dq: str = "unknown"  # ok | warn | fail | unknown
    dq_detail: tuple[str, ...] = ()
    depth: int = 0

    @property
    def change(self) -> float | None:
        """Relative change against the comparison period."""
        return change(self.value, self.base)


@dataclass(frozen=True)
class TreeView:
    """Everything /tree/<metric> shows."""

    metric: Metric
    window: PeriodWindow
    base_window: PeriodWindow
    compare: str  # previous | last_year
    grain: str
    latest: date
    root: NodeView
    movers: tuple[Mover, ...] = ()
    movers_note: str = ""
    narrative: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    previous_key: str = ""
    next_key: str | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)


def tree_metrics(model: SemanticModel | None = None) -> list[str]:
    """Metrics with a ``tree:`` entry, in model order (each one roots a tree)."""
    model = model or current_model()
    return [m for m in model.tree if m in model.metrics]


def in_tree(model: SemanticModel, metric: str) -> bool:
    """True when ``metric`` has a ``tree:`` entry or is a child in one."""
    return metric in model.tree or any(metric in n.children for n in model.tree.values())


def subtree_metrics(model: SemanticModel, metric: str) -> list[str]:
    """``metric`` and every metric below it, depth first, each once."""
    seen: list[str] = []
    stack = [metric]
    while stack:
        name = stack.pop()
        if name in seen or name not in model.metrics:
            continue
        seen.append(name)
        node = model.tree.get(name)
        if node:
            stack.extend(reversed(node.children))
    return seen


def parse_compare(text: str | Sequence[str] | None) -> tuple[str, str | None]:
    """``?compare=`` → previous | last_year, and a notice when the value was refused."""
    if text is not None and not isinstance(text, str):
        text = text[-1] if len(text) else None
    if text is None or not text.strip():
        return "previous", None
    raw = text.strip()
    if raw in COMPARES:
        return raw, None
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    return "previous", (
        f"'{shown}' is not a comparison: use compare=previous or "
        "compare=last_year. Comparing with the previous period."
    )


def parse_grain(text: str | Sequence[str] | None) -> tuple[str, str | None]:
    """``?grain=`` → a grain (default month), and a notice when the value was refused."""
    if text is not None and not isinstance(text, str):
        text = text[-1] if len(text) else None
    if text is None or not text.strip():
        return DEFAULT_GRAIN, None
    raw = text.strip().lower()
    if raw in GRAINS:
        return raw, None
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    return DEFAULT_GRAIN, (
        f"'{shown}' is not a grain: use one of {', '.join(GRAINS)}. Showing months."
    )


def mover_dimensions(model: SemanticModel, metric: str) -> list[str]:
    """Dimensions a metric's movers are searched on: reachable from every fact it reads,
    searched by default (segments, not calendar or attribute dimensions, not time
    dimensions, not ``movers: false``), not personal data; in model order."""
    facts = metric_facts(model, metric)
    if not facts:
        return []
    reachable = set.intersection(*(reachable_dimensions(model, f) for f in facts))
    out = []
    for name, dim in model.dimensions.items():
        if name not in reachable or not dim.in_movers or dim.table is None:
            continue
        if model.dimension_is_pii(dim):
            continue
        out.append(name)
    return out


def _mover_metrics(model: SemanticModel, metric: Metric) -> tuple[str, ...]:
    """What a mover query asks: a ratio's two sides when both are aggregates, else itself."""
    if metric.kind == "ratio" and metric.ratio:
        num, den = (model.metrics.get(n) for n in metric.ratio)
        if (
            num
            and den
            and num.kind == den.kind == "aggregate"
            and not (is_order_statistic(num.sql) or is_order_statistic(den.sql))
        ):
            return metric.ratio
    return (metric.name,)


def tree_jobs(
    model: SemanticModel,
    metric: str,
    window: PeriodWindow,
    base: PeriodWindow,
    *,
    movers: bool = True,
) -> list[Job]:
    """Every query a tree page runs: one series per group of metrics sharing their facts
    (history and comparison period), and per mover dimension one query per period."""
    time_name = model.time_name("a metric tree (it compares periods)")
    span = periods.history(window, HISTORY)
    first = min(span[0].start, base.start)
    names = subtree_metrics(model, metric)
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        groups.setdefault(tuple(sorted(metric_facts(model, name))), []).append(name)
    jobs = [
        Job(
            f"series:{i}",
            MetricQuery(
                tuple(group),
                (f"{time_name}:{window.grain}",),
                (in_window(time_name, first, window.end),),
            ),
        )
        for i, group in enumerate(groups.values())
    ]
    if movers:
        asked = _mover_metrics(model, model.metrics[metric])
        order = (f"-{asked[-1]}",)
        for dim in mover_dimensions(model, metric):
            for side, w in (("after", window), ("before", base)):
                jobs.append(
                    Job(
                        f"mover:{dim}:{side}",
                        MetricQuery(
                            asked,
                            (dim,),
                            (in_window(time_name, w.start, w.end),),
                            order_by=order,
                            limit=FETCH_LIMIT,
                        ),
                    )
                )
    return jobs


def _node_dq(
    model: SemanticModel, metric: str, gates: Sequence[status_q.GateRow] | None
) -> tuple[str, tuple[str, ...]]:
    if gates is None:
        return "unknown", ()
    tables = metric_facts(model, metric)
    failing = [g for g in gates if g.table in tables and not g.passed]
    detail = tuple(
        f"{'Risk 1' if g.risk == 1 else 'Risk 2'} · {g.target}: "
        f"{getattr(g, 'message', None) or getattr(g, 'detail', '')}"
        for g in failing
    )
    if any(g.risk == 1 for g in failing):
        return "fail", detail
    return ("warn" if failing else "ok"), detail


def _series(
    results: Mapping[str, pd.DataFrame | StarboardError], time_name: str
) -> tuple[dict[str, dict[date, float | None]], list[str]]:
    values: dict[str, dict[date, float | None]] = {}
    errors = []
    for key, result in results.items():
        if not key.startswith("series:"):
            continue
        if isinstance(result, StarboardError):
            errors.append(result.message)
            continue
        days = [pd.Timestamp(d).date() for d in result[time_name]]
        for column in result.columns:
            if column == time_name:
                continue
            values[column] = {d: finite(v) for d, v in zip(days, result[column], strict=True)}
    return values, errors


def _build_node(
    model: SemanticModel,
    name: str,
    values: Mapping[str, Mapping[date, Any]],
    window: PeriodWindow,
    base: PeriodWindow,
    gates: Sequence[Any] | None,
    depth: int = 0,
    path: frozenset[str] = frozenset(),
) -> NodeView:
    metric = model.metrics[name]
    series = values.get(name, {})
    history = tuple((w, series.get(w.start)) for w in periods.history(window, HISTORY))
    dq, detail = _node_dq(model, name, gates)
    node = NodeView(
        metric,
        series.get(window.start),
        series.get(base.start),
        history,
        dq=dq,
        dq_detail=detail,
        depth=depth,
    )
    spec = model.tree.get(name)
    if spec is None or name in path:
        return node
    kids = [
        _build_node(model, c, values, window, base, gates, depth + 1, path | {name})
        for c in spec.children
        if c in model.metrics
    ]
    pairs = [(k.base, k.value) for k in kids]
    labels = [k.metric.label for k in kids]
    parent = (node.base, node.value)
    if spec.relation == "sum":
        split = sum_split(parent, pairs, labels)
    elif spec.relation == "product":
        split = product_split(parent, pairs, labels=labels)
    elif spec.relation == "ratio":
        split = product_split(parent, pairs, (1, -1), labels=labels)
    else:
        split = influence_ranking(
            parent, pairs, [v for _, v in history], [[v for _, v in k.history] for k in kids]
        )
    kids = [
        replace(
            k,
            contribution=split.contributions[i],
            points=split.points[i],
            score=split.scores[i] if split.scores else None,
            rank=split.ranks[i],
        )
        for i, k in enumerate(kids)
    ]
    return replace(node, relation=spec.relation, split=split, children=tuple(kids))


def _movers(
    model: SemanticModel, metric: Metric, results: Mapping[str, pd.DataFrame | StarboardError]
) -> tuple[list[Mover], str]:
    asked = _mover_metrics(model, metric)
    ratio = len(asked) == 2
    found: list[Mover] = []
    failed = 0
    for dim in mover_dimensions(model, metric.name):
        after, before = results.get(f"mover:{dim}:after"), results.get(f"mover:{dim}:before")
        if not isinstance(after, pd.DataFrame) or not isinstance(before, pd.DataFrame):
            failed += 1
            continue
        label = model.dimensions[dim].label
        keys = dict.fromkeys([*before[dim], *after[dim]])
        if len(keys) < 2:
            continue  # one value says nothing the total does not
        if ratio:
            num, den = asked
            b = {
                k: (finite(a), finite(d))
                for k, a, d in zip(before[dim], before[num], before[den], strict=True)
            }
            a = {
                k: (finite(x), finite(d))
                for k, x, d in zip(after[dim], after[num], after[den], strict=True)
            }
            if _unsplit(b) > UNSPLIT_SHARE or _unsplit(a) > UNSPLIT_SHARE:
                continue  # the dimension does not split the ratio's rows
            movers = mix_rate_movers(b, a, dim, label)
        else:
            col = metric.name
            movers = additive_movers(
                dict(zip(before[dim], before[col], strict=True)),
                dict(zip(after[dim], after[col], strict=True)),
                dim,
                label,
            )
        movers.sort(key=lambda m: -abs(m.contribution))
        found.extend(movers[:VALUES_PER_DIMENSION])
    if ratio:
        note = (
            "Mix vs rate: how much of the change came from each segment's share of "
            f"{model.metrics[asked[1]].label.lower()} changing (mix) and from its rate "
            "changing (rate). Over one dimension's values they add up to the change."
        )
    elif metric.additive:
        note = "Each value's own change; over one dimension's values they add up to the change."
    else:
        note = (
            f"Each value's own change. {metric.label} is not additive (a distinct count, "
            "a median or a formula): values may overlap, so they need not add up to the change."
        )
    if failed:
        note += f" {failed} dimension(s) could not be searched."
    shown = top_movers(found)
    if (rest := sum(1 for m in found if abs(m.contribution) > 0) - len(shown)) > 0:
        note += f" {rest:,} smaller {'move' if rest == 1 else 'moves'} not shown."
    return shown, note


def _unsplit(side: Mapping[Any, tuple[float | None, float | None]]) -> float:
    """Share of the numerator sitting in segments with no denominator."""
    total = sum(a or 0.0 for a, _ in side.values())
    if total <= 0:
        return 0.0
    return sum(a or 0.0 for a, d in side.values() if not d) / total


def tree_view(
    metric: str,
    period_text: str | Sequence[str] | None = None,
    compare_text: str | Sequence[str] | None = None,
    grain_text: str | Sequence[str] | None = None,
) -> TreeView:
    """The tree of ``metric`` for the period and comparison in the URL (QueryError: no such
    metric, or a metric in no tree)."""
    runtime = current_runtime()
    model = current_model(runtime)
    if metric not in model.metrics:
        roots = ", ".join(tree_metrics(model)) or "none"
        raise QueryError(f"There is no metric {metric!r}. Metrics with a tree: {roots}.")
    if not in_tree(model, metric):
        roots = ", ".join(tree_metrics(model)) or "none"
        raise QueryError(
            f"{model.metrics[metric].label} is not part of the metric tree "
            f"(`tree:` in the model). Metrics with a tree: {roots}."
        )
    time_name = model.time_name("a metric tree (it compares periods)")
    latest = latest_day(runtime)
    if latest is None:
        raise QueryError("The warehouse holds no dated facts yet: nothing to compare.")
    grain, grain_notice = parse_grain(grain_text)
    compare, compare_notice = parse_compare(compare_text)
    window, period_notice = periods.parse_board_period(period_text, grain, latest)
    base = (
        periods.previous(window) if compare == "previous" else periods.same_period_last_year(window)
    )
    results = run_jobs(tree_jobs(model, metric, window, base), runtime)
    values, errors = _series(results, time_name)
    try:  # every check on the live version: load gates and the model's checks
        gates: Sequence[Any] | None = live_quality().results
    except StarboardError:
        gates = None
    root = _build_node(model, metric, values, window, base, gates)
    movers, note = _movers(model, model.metrics[metric], results)
    following = periods.next(window)
    view = TreeView(
        metric=model.metrics[metric],
        window=window,
        base_window=base,
        compare=compare,
        grain=grain,
        latest=latest,
        root=root,
        movers=tuple(movers),
        movers_note=note,
        notices=tuple(n for n in (period_notice, compare_notice, grain_notice) if n),
        previous_key=periods.previous(window).key,
        next_key=following.key if following.start <= latest else None,
        errors=tuple(dict.fromkeys(errors)),
    )
    return replace(view, narrative=narrative(view))


# --------------------------------------------------------------------------- narrative


def _pct(rel: float) -> str:
    return f"{abs(rel) * 100:.1f}%"


def _signed_points(points: float) -> str:
    value = points * 100
    text = f"{abs(value):.1f}"
    if text == "0.0":
        return "0.0"
    return ("+" if value > 0 else "\u2212") + text


def _signed_pct(rel: float | None) -> str:
    if rel is None:
        return "no change figure"
    return ("+" if rel > 0 else "\u2212" if rel < 0 else "") + _pct(rel)


def _lower(label: str) -> str:
    """A label inside a sentence: "Average order value" → "average order value"."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _explainers(node: NodeView) -> str | None:
    """ "orders −7.9 points, average order value −0.3 points" for an exact split."""
    kids = [k for k in node.children if k.points is not None]
    if not kids or node.split is None or node.split.method == "unavailable":
        return None
    kids.sort(key=lambda k: -abs(k.points or 0.0))
    text = ", ".join(
        f"{_lower(k.metric.label)} {_signed_points(k.points or 0.0)} points" for k in kids[:3]
    )
    rest = node.split.residual
    if material(rest, node.base, node.value) and node.base:
        text += f", not explained {_signed_points((rest or 0.0) / abs(node.base))} points"
    return text


def _driver(node: NodeView) -> NodeView | None:
    """The child ranked first (largest |contribution| or top of the influence ranking)."""
    ranked = [k for k in node.children if k.rank is not None]
    return min(ranked, key=lambda k: k.rank or 0) if ranked else None


def narrative(view: TreeView) -> tuple[str, ...]:
    """Two or three plain sentences from the numbers: the change, what explains it, the
    largest mover."""
    root = view.root
    label = root.metric.label
    base_label = view.base_window.label
    rel = root.change
    fmt = root.metric.value_format
    whole = root.metric.is_count
    if root.value is None or root.base is None:
        return (
            f"{label} cannot be compared: there is no value for "
            f"{view.window.label if root.value is None else base_label}.",
        )
    if rel is None:
        first = (
            f"{label} was {_num(root.value, fmt, whole)} in {view.window.label} and "
            f"{_num(root.base, fmt, whole)} in {base_label}."
        )
    elif abs(rel) < 0.0005:
        first = f"{label} was flat vs {base_label}."
    else:
        verb = "rose" if rel > 0 else "fell"
        first = (
            f"{label} {verb} {_pct(rel)} vs {base_label} "
            f"({_num(root.base, fmt, whole)} → {_num(root.value, fmt, whole)})."
        )
    sentences = [first]
    explain = _explainers(root)
    driver = _driver(root)
    if explain:
        second = f"Of the change, {explain}"
        below = _driver(driver) if driver is not None else None
        if driver is not None and below is not None and driver.split is not None:
            if driver.split.method != "ranking":
                second += f"; within {_lower(driver.metric.label)}, {_explainers(driver)}"
            else:
                second += (
                    f"; {_lower(driver.metric.label)} moved most with "
                    f"{_lower(below.metric.label)} ({_signed_pct(below.change)})"
                )
        sentences.append(second + ".")
    elif root.split is not None and root.split.method == "ranking" and driver is not None:
        sentences.append(
            f"Of its influences, {_lower(driver.metric.label)} moved most in "
            f"its direction ({_signed_pct(driver.change)}); this is a ranking by "
            "correlation-weighted change, not an attribution."
        )
    if view.movers:
        top = view.movers[0]
        where = f"{_lower(top.dimension_label)} = {top.value or '(none)'}"
        seg = top.change
        seg_text = f", {_signed_pct(seg)} on its own" if seg is not None else ""
        sentences.append(
            f"The largest mover is {where}: {_delta(top.contribution, view)} of "
            f"the change{seg_text}."
        )
    return tuple(sentences[:3])


def _num(value: float | None, fmt: str = "number", whole: bool = False) -> str:
    """A value as the narrative writes it: "$1.23M", "3.42%", "12.5K"; ``whole`` (a count):
    "54", never "54.00"."""
    if value is None:
        return "—"
    scale = duration_scale(fmt)  # "duration" or "duration:minutes" (a metric's unit)
    if scale is not None:
        return ("\u2212" if value < 0 else "") + duration_text(abs(value) * scale)
    if whole and fmt == "number" and abs(value) < 1e4:
        return ("\u2212" if value < 0 else "") + f"{abs(value):,.0f}"
    if fmt == "percent":
        return ("\u2212" if value < 0 else "") + f"{abs(value) * 100:.2f}%"
    magnitude = abs(value)
    if magnitude >= 1e6:
        text = f"{magnitude / 1e6:.2f}M"
    elif magnitude >= 1e4:
        text = f"{magnitude / 1e3:.1f}K"
    elif magnitude >= 100:
        text = f"{magnitude:,.0f}"
    elif magnitude >= 1:
        text = f"{magnitude:.2f}"
    else:
        text = f"{magnitude:.4f}"
    return ("\u2212" if value < 0 else "") + ("$" if fmt == "currency" else "") + text


def _delta(value: float, view: TreeView) -> str:
    fmt = view.metric.value_format
    sign = "+" if value > 0 else "\u2212" if value < 0 else ""
    if fmt == "percent":
        return f"{sign}{abs(value) * 100:.2f} pp"
    return sign + _num(abs(value), fmt, view.metric.is_count)
