"""The ``alerts:`` and ``webhooks:`` sections of a model: rule types, parsing and validation.

Parsed with the rest of the model (``queries/semantic/model.py``), so a broken rule is a
model error with its file, line and key; evaluation is ``queries/alerts/evaluate.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.errors import QueryError
from app.core.stores.alerts import Webhook
from queries.analysis import anomalies
from queries.semantic.graph import metric_facts, reachable_dimensions
from queries.semantic.parse import parse_where
from queries.semantic.types import GRAINS, SemanticModel

KINDS = ("threshold", "anomaly", "risk1", "stale")
SEVERITIES = ("info", "warning", "critical")
DIRECTIONS = ("high", "low", "both")
DEFAULT_LOOKBACK_DAYS = 14  # `alerts run` without --since/--period: the last 2 weeks
_COMMON_KEYS = ("kind", "severity", "description", "notify")
_KIND_KEYS = {
    "threshold": ("metric", "grain", "where", "by", "above", "below"),
    "anomaly": ("metric", "where", "by", "direction", "z", "min_change"),
    "risk1": (),
    "stale": ("hours",),
}
_WEBHOOK_KEYS = ("url", "optional", "headers")
_ENV = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AlertRule:
    """One rule under ``alerts:``."""

    name: str
    kind: str
    severity: str = "warning"
    description: str = ""
    notify: tuple[str, ...] = ()  # webhook names of ``webhooks:`` or literal URLs
    metric: str | None = None
    grain: str = "day"
    where: tuple[str, ...] = ()
    by: str | None = None
    above: float | None = None
    below: float | None = None
    direction: str = "both"
    z: float = anomalies.Z_THRESHOLD
    min_change: float = anomalies.MIN_CHANGE
    hours: float | None = None  # stale: None = STARBOARD_FRESHNESS_SLO_HOURS


# --------------------------------------------------------------------------- parsing


def _number(
    loader: Any, spec: Mapping, key: str, field_: str, *, positive: bool = False
) -> float | None:
    value = spec.get(field_)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        loader.add(f"{key}.{field_}", f"expected a number, got {value!r}")
        return None
    if positive and value <= 0:
        loader.add(f"{key}.{field_}", f"expected a number above 0, got {value!r}")
        return None
    return float(value)


def _env_problem(text: str) -> str | None:
    for name in _ENV.findall(text):
        if not _ENV_NAME.match(name):
            return f"'${{{name}}}' is not an environment variable name"
    if "${" in _ENV.sub("", text):
        return "unclosed '${': write ${VARIABLE}"
    return None


def _url_problem(url: str) -> str | None:
    problem = _env_problem(url)
    if problem:
        return problem
    if not url.startswith(("http://", "https://", "${")):
        return f"'{url}' is not an http:// or https:// URL"
    return None


def _webhooks(loader: Any, node: Any) -> dict[str, Webhook]:
    out: dict[str, Webhook] = {}
    for name, body in loader.items(node, "webhooks"):
        key = f"webhooks.{name}"
        if isinstance(body, str):
            body = {"url": body}
        spec = loader.mapping(body, key, allow_none=False)
        if spec is None:
            continue
        loader.keys(spec, key, _WEBHOOK_KEYS, required=("url",))
        url = loader.string(spec, key, "url", "")
        if url and (problem := _url_problem(url)):
            loader.add(f"{key}.url", problem)
        headers: list[tuple[str, str]] = []
        raw = spec.get("headers")
        if raw is not None:
            hspec = loader.mapping(raw, f"{key}.headers", allow_none=False)
            for hname, hvalue in (hspec or {}).items():
                if not isinstance(hvalue, str | int | float) or isinstance(hvalue, bool):
                    loader.add(
                        f"{key}.headers.{hname}", f"expected a string, got {type(hvalue).__name__}"
                    )
                    continue
                if problem := _env_problem(str(hvalue)):
                    loader.add(f"{key}.headers.{hname}", problem)
                headers.append((str(hname), str(hvalue)))
        out[name] = Webhook(name, url, loader.boolean(spec, key, "optional", False), tuple(headers))
    return out


def load_rules(
    loader: Any, alerts_node: Any, webhooks_node: Any
) -> tuple[dict[str, AlertRule], dict[str, Webhook]]:
    """Parse ``alerts:`` and ``webhooks:`` with the model loader (problems go to it)."""
    webhooks = _webhooks(loader, webhooks_node)
    rules: dict[str, AlertRule] = {}
    for name, body in loader.items(alerts_node, "alerts"):
        key = f"alerts.{name}"
        spec = loader.mapping(body, key, allow_none=False)
        if spec is None:
            continue
        kind = loader.choice(spec, key, "kind", KINDS, None)
        if "kind" not in spec:
            loader.add(key, "missing required key 'kind' (threshold, anomaly, risk1 or stale)")
        if kind is None:
            continue
        extra = _KIND_KEYS[kind]
        loader.keys(
            spec,
            key,
            _COMMON_KEYS + extra,
            required=("metric",) if kind in ("threshold", "anomaly") else (),
        )
        where = loader.names(spec, key, "where", allow_str=True)
        for i, text in enumerate(where):
            try:
                parse_where(text)
            except QueryError as exc:
                loader.add(
                    f"{key}.where.{i}" if isinstance(spec.get("where"), list) else f"{key}.where",
                    exc.message,
                )
        rule = AlertRule(
            name=name,
            kind=kind,
            severity=loader.choice(spec, key, "severity", SEVERITIES, "warning"),
            description=loader.string(spec, key, "description", ""),
            notify=loader.names(spec, key, "notify", allow_str=True),
            metric=loader.string(spec, key, "metric", None),
            grain=loader.choice(spec, key, "grain", GRAINS, "day"),
            where=where,
            by=loader.string(spec, key, "by", None),
            above=_number(loader, spec, key, "above"),
            below=_number(loader, spec, key, "below"),
            direction=loader.choice(spec, key, "direction", DIRECTIONS, "both"),
            z=_number(loader, spec, key, "z", positive=True) or anomalies.Z_THRESHOLD,
            min_change=(
                anomalies.MIN_CHANGE
                if (min_change := _number(loader, spec, key, "min_change")) is None
                else min_change
            ),
            hours=_number(loader, spec, key, "hours", positive=True),
        )
        if kind == "threshold" and rule.above is None and rule.below is None:
            loader.add(key, "a threshold rule needs 'above', 'below' or both")
        if rule.above is not None and rule.below is not None and rule.below > rule.above:
            loader.add(
                f"{key}.below",
                f"below ({rule.below:g}) is greater than above "
                f"({rule.above:g}): no value could ever be normal",
            )
        for i, target in enumerate(rule.notify):
            if target.startswith(("http://", "https://")):
                if problem := _url_problem(target):
                    loader.add(f"{key}.notify.{i}", problem)
            elif target not in webhooks:
                close = [w for w in webhooks if w.startswith(target[:3])]
                hint = (
                    f"; did you mean '{close[0]}'?"
                    if close
                    else ("; declare it under webhooks: or give an http(s):// URL")
                )
                loader.add(
                    f"{key}.notify.{i}"
                    if isinstance(spec.get("notify"), list)
                    else f"{key}.notify",
                    f"unknown webhook '{target}'{hint}",
                )
        rules[name] = rule
    return rules, webhooks


def check_rules(validator: Any, model: SemanticModel) -> None:
    """Cross-references: metrics and dimensions of each rule exist and reach each other."""
    for rule in model.alerts.values():
        key = f"alerts.{rule.name}"
        if rule.metric is None or rule.kind not in ("threshold", "anomaly"):
            continue
        if not validator.known("metric", rule.metric, validator.metrics, f"{key}.metric"):
            continue
        dims = [parse_where(w).dimension.partition(":")[0] for w in rule.where if _parses(w)]
        if rule.by:
            dims.append(rule.by)
        facts = _facts_of(model, rule.metric)
        for i, dim in enumerate(dims):
            field_ = "by" if rule.by and i == len(dims) - 1 else "where"
            if not validator.known("dimension", dim, validator.dims, f"{key}.{field_}"):
                continue
            unreachable = sorted(f for f in facts if dim not in reachable_dimensions(model, f))
            if unreachable and dim in model.dimensions:
                validator.add(
                    f"{key}.{field_}",
                    f"dimension '{dim}' cannot be reached from "
                    f"{', '.join(unreachable)} (the table behind '{rule.metric}')",
                )
        time_dim = model.time_dimension()
        if time_dim is None:
            validator.add(key, "alert rules on metrics need a `time: true` dimension")
        elif rule.by == time_dim.name:
            validator.add(
                f"{key}.by",
                f"'{rule.by}' is the time dimension: alerts are "
                "already judged per period; use grain",
            )


def _facts_of(model: SemanticModel, metric: str) -> set[str]:
    try:
        return {f for f in metric_facts(model, metric) if f in model.tables}
    except (KeyError, RecursionError):  # a broken metric: reported on its own key
        return set()


def _parses(text: str) -> bool:
    try:
        parse_where(text)
    except QueryError:
        return False
    return True
