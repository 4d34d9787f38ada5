"""Behavioural segments: k-means over each member's recency, frequency, value and mix.

The model's ``segments:`` section names everything (no table or column name lives here):

    segments:
      title: Customers
      member: user              # a dimension: one clustered member per value
      value: revenue            # a metric: monetary value per member
      frequency: orders         # a metric: how often
      activity: interactions    # a metric: any activity (recency; base of the mix shares)
      mix: [device, channel_group, category]   # dimensions: share of activity per value
      attributes: [country, email]             # dimensions exported with each member
      recency: week             # optional grain of "last active": day or week (default)

Features come from ``queries.semantic.run.run`` — the one door — so the user's row scope, the PII
rule and the cache keyed by data version and scope all apply. Clustering is pure
(``features`` → ``cluster``): features are standardised, k is the one with the highest
silhouette score over k = 2…8 on a fixed sample, k-means uses a fixed random state, and
each segment is named by its centroid's strongest z-scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flask import Response
from ruamel.yaml import YAML
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from app.core.auth import can, signed_in_user
from app.core.errors import (
    ModelError,
    Problem,
    QueryError,
)
from app.core.runtime import Runtime, current_runtime
from queries import export
from queries.semantic.inputs import whole_number
from queries.semantic.query import MetricQuery
from queries.semantic.run import current_model, effective_scope, latest_day, run
from queries.semantic.types import SemanticModel

K_RANGE = range(2, 9)
SAMPLE = 3000  # members the silhouette is measured on
RANDOM_STATE = 0
N_INIT = 4  # k-means restarts per k (best inertia kept)
MIN_MEMBERS = 20
MIX_MIN_SHARE = 0.03  # mix values below this share of all activity are dropped
MIX_MAX_VALUES = 6  # per mix dimension: the most common values only
NAME_FEATURES = 3  # words in a segment's name
MASK = "•••"
SEGMENT_COLUMN = "Behaviour segment"
SPEC_STATE = "queries.segments.spec"
MEMO_STATE = "queries.segments.memo"
MEMO_SIZE = 16  # clusterings kept per process (data version × scope)
_spec_lock = threading.Lock()
_KEYS = ("title", "member", "value", "frequency", "activity", "mix", "attributes", "recency")
RECENCY_DAYS = {"day": 1, "week": 7}


@dataclass(frozen=True)
class SegmentSpec:
    """The model's ``segments:`` section, checked against its metrics and dimensions."""

    member: str
    value: str
    frequency: str
    activity: str
    mix: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    title: str = "Members"
    recency: str = "week"


@dataclass(frozen=True)
class Segment:
    number: int  # 1 = the most total value
    name: str
    members: int
    share: float  # of all members clustered
    value: float  # total
    value_per_member: float
    frequency: float  # mean per member
    recency_days: float  # mean days since last active
    traits: tuple[tuple[str, float], ...]  # (feature label, centroid z-score), strongest first


@dataclass(frozen=True)
class Clustering:
    """The outcome of one clustering run: what was chosen, why, and each member's segment."""

    k: int
    silhouettes: tuple[tuple[int, float], ...]  # (k, score) for every k tried
    sample: int  # members the silhouette was measured on
    segments: tuple[Segment, ...]
    assignment: pd.DataFrame  # member, segment number, features
    feature_labels: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- the spec


def _problem(model: SemanticModel, key: str, message: str) -> Problem:
    return Problem(str(model.path), model.line_of(key), key, message)


def raw_section(path: Path) -> Any:
    yaml = YAML(typ="rt")
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle)
    return data.get("segments") if isinstance(data, dict) else None


def parse_spec(section: Any, model: SemanticModel) -> SegmentSpec | None:
    """A SegmentSpec from the YAML section; ModelError listing every problem."""
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ModelError(
            _problem(
                model, "segments", "expected a mapping with member, value, frequency and activity"
            )
        )
    problems: list[Problem] = []
    for key in section:
        if key not in _KEYS:
            problems.append(
                _problem(
                    model,
                    f"segments.{key}",
                    f"unknown key '{key}': expected one of {', '.join(_KEYS)}",
                )
            )
    for key in ("member", "value", "frequency", "activity"):
        if key not in section:
            problems.append(_problem(model, "segments", f"missing required key '{key}'"))

    def name(key: str, kind: str) -> str:
        value = section.get(key)
        if value is None:
            return ""
        pool = model.metrics if kind == "metric" else model.dimensions
        if not isinstance(value, str) or value not in pool:
            problems.append(
                _problem(model, f"segments.{key}", f"{value!r} is not a {kind} of the model")
            )
            return ""
        return value

    def names(key: str) -> tuple[str, ...]:
        value = section.get(key) or []
        if not isinstance(value, list):
            problems.append(_problem(model, f"segments.{key}", "expected a list of dimensions"))
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or item not in model.dimensions:
                problems.append(
                    _problem(
                        model, f"segments.{key}.{i}", f"{item!r} is not a dimension of the model"
                    )
                )
            elif model.dimensions[item].is_time:
                problems.append(
                    _problem(model, f"segments.{key}.{i}", f"{item!r} is the time dimension")
                )
            else:
                out.append(item)
        return tuple(out)

    member = name("member", "dimension")
    if member and model.dimensions[member].is_time:
        problems.append(
            _problem(model, "segments.member", "the member cannot be the time dimension")
        )
    spec_values = {k: name(k, "metric") for k in ("value", "frequency", "activity")}
    recency = section.get("recency", "week")
    if recency not in RECENCY_DAYS:
        problems.append(
            _problem(
                model, "segments.recency", f"{recency!r} is not one of {', '.join(RECENCY_DAYS)}"
            )
        )
    if model.time_dimension() is None:
        problems.append(
            _problem(model, "segments", "segments need the model's time dimension (recency)")
        )
    mix, attributes = names("mix"), names("attributes")
    title = section.get("title", "Members")
    if problems:
        raise ModelError(problems)
    return SegmentSpec(
        member=member,
        mix=mix,
        attributes=attributes,
        title=str(title),
        recency=str(recency),
        **spec_values,
    )


def segment_spec(runtime: Runtime | None = None) -> SegmentSpec | None:
    """The current model's segments, or None when it declares none."""
    runtime = runtime or current_runtime()
    model = current_model(runtime)
    path = Path(model.path)
    stamp = (str(path), path.stat().st_mtime_ns if path.exists() else 0, id(model))
    cached = runtime.state.get(SPEC_STATE)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _spec_lock:
        spec = parse_spec(raw_section(path), model) if path.exists() else None
        runtime.state[SPEC_STATE] = (stamp, spec)
    return spec


# --------------------------------------------------------------------------- features


def _frame(
    metrics: Sequence[str], dims: Sequence[str], runner: Callable[[MetricQuery], pd.DataFrame]
) -> pd.DataFrame:
    return runner(MetricQuery(tuple(metrics), tuple(dims)))


def extract(
    spec: SegmentSpec,
    model: SemanticModel,
    as_of: date,
    runner: Callable[[MetricQuery], pd.DataFrame],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per member: recency_days, frequency, value, then mix shares; and a label
    per feature. ``runner`` runs a MetricQuery (``run`` in the app; a stub in tests)."""
    member = spec.member
    base = _frame((spec.value, spec.frequency, spec.activity), (member,), runner)
    base = base[base[member].notna()].set_index(member)
    activity = pd.to_numeric(base[spec.activity], errors="coerce").fillna(0)
    base = base[activity > 0]
    features = pd.DataFrame(index=base.index)
    time_dim = model.time_dimension()
    assert time_dim is not None
    grain = f"{time_dim.name}:{spec.recency}"
    active = _frame((spec.activity,), (member, grain), runner)
    active = active[pd.to_numeric(active[spec.activity], errors="coerce").fillna(0) > 0]
    time_column = grain if grain in active.columns else time_dim.name
    last = (
        pd.Series(pd.to_datetime(active[time_column]).to_numpy(), index=active[member].to_numpy())
        .groupby(level=0)
        .max()
    )
    period = RECENCY_DAYS[spec.recency] - 1
    days = (pd.Timestamp(as_of) - last).dt.days - period
    features["recency_days"] = days.clip(lower=0).reindex(features.index)
    features["frequency"] = pd.to_numeric(base[spec.frequency], errors="coerce").fillna(0)
    features["value"] = pd.to_numeric(base[spec.value], errors="coerce").fillna(0)
    labels = {
        "recency_days": "days since last active",
        "frequency": model.metrics[spec.frequency].label,
        "value": model.metrics[spec.value].label,
    }
    for dim in spec.mix:
        rows = _frame((spec.activity,), (member, dim), runner)
        rows = rows[rows[dim].notna() & rows[member].isin(features.index)]
        counts = (
            pd.to_numeric(rows[spec.activity], errors="coerce")
            .fillna(0)
            .groupby([rows[member], rows[dim]])
            .sum()
            .unstack(fill_value=0)
        )
        totals = counts.sum().sort_values(ascending=False)
        keep = [
            v for v in totals.index[:MIX_MAX_VALUES] if totals[v] >= MIX_MIN_SHARE * totals.sum()
        ]
        shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0).fillna(0)
        for value in keep:
            column = f"{dim}={value}"
            features[column] = shares[value].reindex(features.index).fillna(0)
            labels[column] = f"{model.dimensions[dim].label}: {value}"
    features = features.dropna(subset=["recency_days"]).sort_index()
    return features, labels


# --------------------------------------------------------------------------- clustering


def _matrix(features: pd.DataFrame) -> np.ndarray:
    """Standardised features; money and counts on a log scale (Pareto-shaped)."""
    data = features.astype(float).copy()
    for column in ("frequency", "value", "recency_days"):
        if column in data:
            data[column] = np.log1p(data[column].clip(lower=0))
    return StandardScaler().fit_transform(data.to_numpy())


def choose_k(
    matrix: np.ndarray, ks: Sequence[int] = K_RANGE, sample: int = SAMPLE
) -> tuple[int, tuple[tuple[int, float], ...], int]:
    """The k with the highest silhouette score (ties: the smaller k), on a fixed sample."""
    rng = np.random.default_rng(RANDOM_STATE)
    rows = (
        matrix
        if len(matrix) <= sample
        else matrix[np.sort(rng.choice(len(matrix), sample, replace=False))]
    )
    scores = []
    for k in ks:
        if k >= len(rows):
            break
        labels = KMeans(n_clusters=k, n_init=N_INIT, random_state=RANDOM_STATE).fit_predict(rows)
        if len(set(labels)) < 2:
            continue
        scores.append((k, float(silhouette_score(rows, labels))))
    if not scores:
        raise QueryError("Too few distinct members to form two segments.")
    best = max(scores, key=lambda item: (round(item[1], 6), -item[0]))[0]
    return best, tuple(scores), len(rows)


def _word(feature: str, z: float, label: str) -> str:
    if feature == "recency_days":
        return "recent" if z < 0 else "lapsed"
    if feature == "frequency":
        return f"many {label.lower()}" if z > 0 else f"few {label.lower()}"
    if feature == "value":
        return f"high {label.lower()}" if z > 0 else f"low {label.lower()}"
    return feature.partition("=")[2]


def name_of(
    centroid: pd.Series, labels: dict[str, str]
) -> tuple[str, tuple[tuple[str, float], ...]]:
    """A name from the centroid's strongest z-scores (standard deviations from the mean of
    all members): recency, frequency and value either way, a mix value only when it stands
    out above the mean. At most three words; "typical" when nothing stands out."""
    core = ("recency_days", "frequency", "value")
    candidates = [
        f
        for f in centroid.index
        if (f in core and abs(centroid[f]) >= 0.25) or (f not in core and centroid[f] >= 0.5)
    ]
    ranked = sorted(candidates, key=lambda f: (-abs(float(centroid[f])), f))
    words = [_word(f, float(centroid[f]), labels.get(f, f)) for f in ranked[:NAME_FEATURES]]
    traits = tuple(
        (labels.get(f, f), round(float(centroid[f]), 2))
        for f in sorted(centroid.index, key=lambda f: (-abs(float(centroid[f])), f))
    )
    return ", ".join(words) or "typical", traits


def cluster(features: pd.DataFrame, labels: dict[str, str], *, k: int | None = None) -> Clustering:
    """k-means over standardised ``features`` (k chosen by silhouette unless given)."""
    # One native thread: web workers already run one request per thread, and OpenMP
    # spinning on a busy machine made clustering many times slower.
    with threadpool_limits(1):
        return _cluster(features, labels, k)


def _cluster(features: pd.DataFrame, labels: dict[str, str], k: int | None) -> Clustering:
    if len(features) < MIN_MEMBERS:
        raise QueryError(
            f"Only {len(features)} members have any activity in your scope: "
            f"segments need at least {MIN_MEMBERS}."
        )
    matrix = _matrix(features)
    if k is None:
        k, scores, sample = choose_k(matrix)
    else:
        scores, sample = (), 0
    model = KMeans(n_clusters=k, n_init=N_INIT, random_state=RANDOM_STATE).fit(matrix)
    z = pd.DataFrame(model.cluster_centers_, columns=features.columns)
    raw = features.assign(_label=model.labels_)
    totals = raw.groupby("_label")["value"].sum()
    order = sorted(range(k), key=lambda c: (-totals.get(c, 0.0), c))
    number = {c: i + 1 for i, c in enumerate(order)}
    segments = []
    seen: dict[str, int] = {}
    for c in order:
        part = raw[raw["_label"] == c]
        name, traits = name_of(z.iloc[int(c)], labels)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} ({seen[name]})"
        size = len(part)
        segments.append(
            Segment(
                number=number[c],
                name=name,
                members=size,
                share=size / len(raw),
                value=float(part["value"].sum()),
                value_per_member=float(part["value"].sum()) / size if size else math.nan,
                frequency=float(part["frequency"].mean()),
                recency_days=float(part["recency_days"].mean()),
                traits=traits,
            )
        )
    assignment = features.assign(segment=[number[c] for c in model.labels_])
    return Clustering(
        k=k,
        silhouettes=scores,
        sample=sample,
        segments=tuple(segments),
        assignment=assignment,
        feature_labels=dict(labels),
    )


# --------------------------------------------------------------------------- the page's door


def _run_frame(query: MetricQuery) -> pd.DataFrame:
    return run(query).frame


def segments(runtime: Runtime | None = None) -> tuple[SegmentSpec, Clustering]:
    """The clustering of the signed-in user's members (their row scope applies), cached
    per data version, scope and spec."""
    runtime = runtime or current_runtime()
    spec = segment_spec(runtime)
    if spec is None:
        raise QueryError(
            "The semantic model declares no segments: add a `segments:` section "
            "(see the README's Segments section)."
        )
    model = current_model(runtime)
    snap = runtime.warehouse.snapshot()
    scope = effective_scope()
    key = (
        "segments:"
        + hashlib.sha256(
            json.dumps(
                [snap.version.id, [list(s) for s in scope], spec.__dict__, str(model.path)],
                default=str,
                sort_keys=True,
            ).encode()
        ).hexdigest()
    )

    def compute() -> Clustering:
        as_of = latest_day(runtime) or date.today()
        features, labels = extract(spec, model, as_of, _run_frame)
        return cluster(features, labels)

    memo = runtime.state.setdefault(MEMO_STATE, OrderedDict())
    result = memo.get(key)
    if result is None:
        # the shared cache first (other workers), then this process's memo: a page view
        # and its CSV downloads never cluster twice, whatever the cache backend
        result, _hit = runtime.cache.get_or_compute(key, compute)
        with _spec_lock:
            memo[key] = result
            while len(memo) > MEMO_SIZE:
                memo.popitem(last=False)
    return spec, result


def export_frame(number: int, runtime: Runtime | None = None) -> pd.DataFrame:
    """The members of segment ``number`` with their attributes and features; attributes
    over PII columns are masked for users without the pii permission."""
    runtime = runtime or current_runtime()
    spec, result = segments(runtime)
    if number not in {s.number for s in result.segments}:
        raise QueryError(f"There is no segment {number}: choose 1 to {result.k}.")
    model = current_model(runtime)
    members = result.assignment[result.assignment["segment"] == number]
    may_see_pii = can(signed_in_user(), "pii")
    shown: list[str] = []
    masked: list[str] = []
    for dim in spec.attributes:
        pii = model.dimension_is_pii(model.dimensions[dim])
        (masked if pii and not may_see_pii else shown).append(dim)
    out = pd.DataFrame({spec.member: members.index})
    if shown:
        attrs = run(MetricQuery((spec.activity,), (spec.member, *shown))).frame
        attrs = attrs.drop(columns=[spec.activity]).drop_duplicates(spec.member)
        out = out.merge(attrs, on=spec.member, how="left")
    for dim in masked:
        out[dim] = MASK
    labels = {
        spec.member: model.dimensions[spec.member].label,
        **{d: model.dimensions[d].label for d in spec.attributes},
    }
    out = out[[spec.member, *spec.attributes]].rename(columns=labels)
    name = {s.number: s.name for s in result.segments}[number]
    out[SEGMENT_COLUMN] = f"{number}: {name}"
    features = members.drop(columns=["segment"]).reset_index(drop=True)
    features.columns = [result.feature_labels.get(c, c) for c in features.columns]
    return pd.concat([out.reset_index(drop=True), features], axis=1)


def csv_export(segment: str | None) -> Response:
    """One segment's members as a CSV download (``segment``: its number as sent in the
    URL). The export module streams, caps and audits it; the row scope and PII masking
    apply."""
    number = whole_number(segment, "segment")
    frame = export_frame(number)
    name = str(frame[SEGMENT_COLUMN].iloc[0]) if len(frame) else str(number)
    source = export.RowSource(
        list(frame.columns),
        batches=export.frame_batches(frame),
        what="segment",
        detail={"segment": name},
    )
    return export.csv_response(source, export.safe_filename(f"segment-{name}"))
