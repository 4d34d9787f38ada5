"""A starter semantic model from an existing warehouse: what ``starboard init`` writes.

Reads the catalog (``catalog.py``), probes the data, guesses keys, joins, facts and
dimensions, time columns, metrics, dimensions and two boards, and writes the model as YAML
text with a comment beside each guess saying why. The text is parsed and validated by
``queries.semantic.model.parse_model`` before anyone sees it.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from app.core.errors import DataError, ModelError
from queries.semantic.model import parse_model
from queries.starter.catalog import (
    SAMPLE_ROWS,
    Column,
    Prober,
    Source,
    TableInfo,
    open_source,
    read_catalog,
)

CONTAINMENT = 0.95  # share of a column's values found in a key to call it a join
LOW_CARDINALITY = 50  # most distinct values of a column offered as a dimension
MAX_CONTAINMENT_PROBES = 200
MAX_BANS = 4

_KEY_SUFFIXES = ("id", "key", "ref", "code", "no", "nr", "num", "number", "sk", "fk", "iso")
_GENERIC_KEYS = frozenset((*_KEY_SUFFIXES, "pk", "uuid"))
_PREFIXES = ("dim_", "dimension_", "d_", "fct_", "fact_", "f_", "tbl_", "t_", "dw_", "stg_")
_LABEL_WORDS = frozenset(("name", "label", "title", "description", "comment", "note", "notes"))
_GENERIC_DIMS = frozenset(
    ("name", "label", "title", "type", "kind", "status", "category", "code", "group", "class")
)
_CALENDAR_HINTS = ("date", "calendar", "cal", "day", "time", "period")
_EVENT_TIMES = frozenset(
    (
        "occurred_at",
        "created_at",
        "event_time",
        "event_at",
        "event_date",
        "timestamp",
        "ts",
        "date",
        "day",
    )
)
_BOOKKEEPING = ("updated", "modified", "deleted", "loaded", "ingested", "inserted", "etl", "synced")
_CURRENCY = frozenset(
    (
        "amount",
        "revenue",
        "price",
        "cost",
        "costs",
        "spend",
        "sales",
        "fee",
        "fees",
        "payment",
        "income",
        "profit",
        "tax",
        "discount",
        "salary",
        "budget",
        "gmv",
        "usd",
        "eur",
    )
)
_DURATIONS = {  # unit word in a column name → factor to seconds (the duration format's unit)
    "seconds": 1,
    "secs": 1,
    "sec": 1,
    "minutes": 60,
    "mins": 60,
    "hours": 3600,
    "hrs": 3600,
    "ms": 0.001,
    "millis": 0.001,
    "milliseconds": 0.001,
}
_LOWER_IS_BETTER = frozenset(
    (
        "delay",
        "delays",
        "cost",
        "costs",
        "latency",
        "error",
        "errors",
        "churn",
        "refund",
        "refunds",
        "defect",
        "defects",
        "wait",
        "late",
        "complaints",
        "bounce",
        "bounces",
    )
)
_SCORES = frozenset(
    ("rating", "score", "satisfaction", "csat", "nps", "stars", "grade", "level", "rank")
)
_NOT_MEASURES = frozenset(
    (
        "year",
        "month",
        "day",
        "week",
        "quarter",
        "hour",
        "lat",
        "lon",
        "lng",
        "latitude",
        "longitude",
        "zip",
        "postcode",
        "version",
        "seq",
        "sequence",
        "position",
        "weekday",
    )
)
_ENTITIES = frozenset(
    (
        "user",
        "customer",
        "client",
        "account",
        "member",
        "person",
        "patient",
        "player",
        "visitor",
        "subscriber",
        "employee",
        "agent",
        "driver",
        "passenger",
        "student",
        "buyer",
        "seller",
        "vendor",
        "supplier",
        "merchant",
        "partner",
        "owner",
        "guest",
        "author",
        "contact",
        "shopper",
        "rider",
        "tenant",
        "host",
    )
)
_PII = frozenset(
    (
        "email",
        "e_mail",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "ssn",
        "first_name",
        "last_name",
        "full_name",
        "address",
        "street",
        "street_address",
        "ip",
        "ip_address",
        "date_of_birth",
        "birth_date",
        "birthday",
        "passport",
    )
)


# --------------------------------------------------------------------------- names


def _words(name: str) -> list[str]:
    return [w for w in name.lower().split("_") if w]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def base_name(table: str) -> str:
    """A table's name without warehouse prefixes, singular: ``dim_store`` → ``store``."""
    name = table.lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    head, _, last = name.rpartition("_")
    return f"{head}_{_singular(last)}" if head else _singular(last)


def _label(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _names_table(stem: str, table: str) -> bool:
    """``stem`` (a column name without its key suffix) names ``table``, maybe after a role:
    ``store`` and ``origin_airport`` name ``stores`` and ``airports``."""
    stem = base_name(stem) if stem else stem
    base = base_name(table)
    return bool(stem) and (stem == base or stem.endswith("_" + base))


# --------------------------------------------------------------------------- drafts


@dataclass
class JoinGuess:
    owner: str
    column: str
    target: str
    key: str
    how: str  # declared | name | containment
    share: float | None
    rank: int  # lower wins when two columns point to one table

    def why(self) -> str:
        found = (
            f"{self.share:.1%} of {self.column} found in {self.target}.{self.key}"
            if self.share is not None
            else ""
        )
        if self.how == "declared":
            return "declared foreign key" + (f" ({found})" if found else "")
        if self.how == "name":
            return f"join by name and containment: {found}"
        return f"join by containment only (the names differ): {found}"


@dataclass
class TableDraft:
    info: TableInfo
    kind: str = "dimension"
    kind_why: str = ""
    pk: tuple[str, ...] = ()
    pk_why: str = ""
    time: str | None = None
    time_why: str = ""
    time_via: tuple[str, str, str] | None = None
    joins: list[JoinGuess] = field(default_factory=list)
    join_notes: list[str] = field(default_factory=list)
    pii: list[str] = field(default_factory=list)
    calendar: bool = False
    span: tuple[date, date] | None = None

    @property
    def name(self) -> str:
        return self.info.name


@dataclass
class DimDraft:
    name: str
    table: str
    column: str
    label: str
    why: str
    distinct: int = 0


@dataclass
class MetricDraft:
    name: str
    label: str
    fact: str
    sql: str
    why: str
    format: str = "number"
    direction: str = "up"
    role: str = "measure"  # rows | entity | sum | avg


@dataclass
class Starter:
    """The model text and what ``starboard init`` prints about it."""

    text: str
    source: str
    tables: list[str]
    facts: list[str]
    dimension_tables: list[str]
    joins: list[str]
    metrics: list[str]
    dimensions: list[str]
    boards: list[str]
    undecided: list[str]
    notes: list[str]
    serve_url: str | None = None


# --------------------------------------------------------------------------- guesses


class Guesser:
    """Every guess of one run, from the catalog and the probes."""

    def __init__(self, source: Source, tables: list[TableInfo], prober: Prober) -> None:
        self.source = source
        self.prober = prober
        self.drafts = {t.name: TableDraft(t) for t in tables}
        self.undecided: list[str] = []
        self.probes_left = MAX_CONTAINMENT_PROBES

    # -- keys

    def keys(self) -> None:
        for draft in self.drafts.values():
            info = draft.info
            if info.declared_pk:
                draft.pk = info.declared_pk
                draft.pk_why = "declared primary key"
                continue
            ranked = []
            for i, col in enumerate(info.columns.values()):
                if col.kind not in ("integer", "decimal", "text", "date") or not info.probed:
                    continue
                if col.nonnull == info.probed and col.distinct == info.probed:
                    ranked.append((self._key_rank(col, info.name), i, col.name))
            if ranked:
                rank, _, name = min(ranked)
                draft.pk = (name,)
                named = " and named like a key" if rank <= 4 else ""
                draft.pk_why = f"unique and never null {info.probed_text()}{named}"
                others = [n for _, _, n in sorted(ranked) if n != name]
                if others:
                    draft.pk_why += f" (also unique: {', '.join(others[:3])})"

    @staticmethod
    def _key_rank(col: Column, table: str) -> int:
        name = col.name.lower()
        base = base_name(table)
        if name == "id":
            return 0
        if name in (f"{base}_id", f"{base}_key", f"{base}id", f"{table.lower()}_id"):
            return 1
        if name.endswith("_key"):
            return 2
        if name.endswith("_id"):
            return 3
        if name in _GENERIC_KEYS or name.endswith(tuple("_" + s for s in _KEY_SUFFIXES)):
            return 4
        if name in _LABEL_WORDS or name.endswith("_name"):
            return 9
        if col.temporal:
            return 8
        return 5

    # -- joins

    def joins(self) -> None:
        self._calendars()  # a calendar's date key is never a containment-only join target
        keyed = {n: d for n, d in self.drafts.items() if len(d.pk) == 1}
        for draft in self.drafts.values():
            info = draft.info
            guesses: list[JoinGuess] = []
            matched: set[str] = set()
            own_key = draft.pk[0] if len(draft.pk) == 1 else None
            for cols, target, ref_cols in info.declared_fks:
                if len(cols) != 1 or len(ref_cols) != 1:
                    draft.join_notes.append(
                        f"composite foreign key ({', '.join(cols)}) → {target}: the model "
                        "joins on one column, not joined"
                    )
                    continue
                if target == draft.name:
                    draft.join_notes.append(
                        f"{cols[0]} → {target}.{ref_cols[0]}: a table cannot join itself"
                    )
                    continue
                if target not in self.drafts:
                    continue
                target_draft = self.drafts[target]
                if target_draft.pk != ref_cols:
                    if not target_draft.pk:
                        target_draft.pk = ref_cols
                        target_draft.pk_why = f"referenced by a declared foreign key of {info.name}"
                    else:
                        draft.join_notes.append(
                            f"{cols[0]} → {target}.{ref_cols[0]} is declared, but "
                            f"{target}'s key is {', '.join(target_draft.pk)}: not joined"
                        )
                        continue
                share = self.prober.containment(info, cols[0], target_draft.info, ref_cols[0])
                guesses.append(
                    JoinGuess(info.name, cols[0], target, ref_cols[0], "declared", share, 0)
                )
                matched.add(cols[0])
            for col in info.columns.values():
                if col.name in matched or col.name == own_key or col.nonnull == 0:
                    continue
                guesses += self._name_joins(draft, col, keyed, matched)
            for col in info.columns.values():
                if col.name in matched or col.name == own_key or col.kind != "text":
                    continue
                if col.distinct < 2:
                    continue
                guesses += self._containment_joins(draft, col, keyed)
            self._keep(draft, guesses)

    def _compatible(self, a: Column, b: Column) -> bool:
        whole = ("integer", "decimal")
        return (
            (a.kind in whole and b.kind in whole)
            or a.kind == b.kind == "text"
            or (a.kind == b.kind == "date")
        )

    def _name_joins(
        self, draft: TableDraft, col: Column, keyed: dict[str, TableDraft], matched: set[str]
    ) -> list[JoinGuess]:
        out = []
        name = col.name.lower()
        for target, tdraft in keyed.items():
            if target == draft.name:
                continue
            key = tdraft.pk[0]
            key_col = tdraft.info.columns.get(key)
            if key_col is None or not self._compatible(col, key_col):
                continue
            lkey = key.lower()
            rank = None
            if name == lkey and lkey not in _GENERIC_KEYS:
                rank = 1
            elif name.endswith("_" + lkey):
                stem = name[: -len(lkey) - 1]
                if lkey not in _GENERIC_KEYS or _names_table(stem, target):
                    rank = 2
            if rank is None:
                stem, _, suffix = name.rpartition("_")
                if suffix in _KEY_SUFFIXES and _names_table(stem, target):
                    rank = 3
            if rank is None:
                continue
            share = self.prober.containment(draft.info, col.name, tdraft.info, key)
            if share >= CONTAINMENT:
                out.append(JoinGuess(draft.name, col.name, target, key, "name", share, rank))
                matched.add(col.name)
            else:
                self.undecided.append(
                    f"{draft.name}.{col.name} is named like a key of {target}.{key}, but only "
                    f"{share:.1%} of its values are found there: not joined"
                )
        return out

    def _containment_joins(
        self, draft: TableDraft, col: Column, keyed: dict[str, TableDraft]
    ) -> list[JoinGuess]:
        out = []
        for target, tdraft in keyed.items():
            if target == draft.name or self.probes_left <= 0:
                continue
            key_col = tdraft.info.columns.get(tdraft.pk[0])
            if key_col is None or key_col.kind != "text" or tdraft.calendar:
                continue
            if col.distinct > 2 * tdraft.info.rows:
                continue  # far more distinct values than keys: most cannot be found
            self.probes_left -= 1
            share = self.prober.containment(draft.info, col.name, tdraft.info, key_col.name)
            if share >= CONTAINMENT:
                out.append(
                    JoinGuess(draft.name, col.name, target, key_col.name, "containment", share, 5)
                )
        return out

    def _keep(self, draft: TableDraft, guesses: list[JoinGuess]) -> None:
        """One join per target table and per column; a second column pointing to the same
        table is left as a note with the role that would join it again."""
        by_target: dict[str, list[JoinGuess]] = {}
        for guess in guesses:
            by_target.setdefault(guess.target, []).append(guess)
        used: set[str] = set()
        order = list(draft.info.columns)
        for target, options in by_target.items():
            options.sort(key=lambda g: (g.rank, -(g.share or 0), order.index(g.column)))
            options = [g for g in options if g.column not in used]
            if not options:
                continue
            best, rest = options[0], options[1:]
            draft.joins.append(best)
            used.add(best.column)
            for other in rest:
                share = f"{other.share:.1%} found in {target}.{other.key}"
                role = re.sub(r"_(id|key|no|code|ref|fk)$", "", other.column.lower())
                role = role if role != target else f"{role}_2"
                draft.join_notes.append(
                    f"{other.column} also points to {target} ({share}): {best.column} is "
                    f"joined; to join {target} again, add a role: "
                    f"{role}: {{table: {target}, from: {other.column}, to: {other.key}}}"
                )
        draft.joins.sort(key=lambda g: order.index(g.column))

    # -- facts, dimensions, time

    def classify(self) -> None:
        referenced = {g.target for d in self.drafts.values() for g in d.joins}
        for draft in self.drafts.values():
            info = draft.info
            own_time = self._own_time(draft)
            outgoing = len(draft.joins)
            if draft.name in referenced:
                who = sorted(
                    d.name
                    for d in self.drafts.values()
                    if any(g.target == draft.name for g in d.joins)
                )
                draft.kind = "dimension"
                draft.kind_why = f"dimension: referenced by {', '.join(who)}, {info.rows_text()}"
                if draft.calendar:
                    draft.kind_why += "; a calendar (one row per day)"
            elif outgoing or own_time:
                draft.kind = "fact"
                parts = []
                if outgoing:
                    parts.append(f"{outgoing} join{'s' if outgoing > 1 else ''} to other tables")
                parts.append(info.rows_text())
                draft.kind_why = "fact: " + ", ".join(parts)
            else:
                draft.kind = "skip"
                self.undecided.append(
                    f"{draft.name}: no joins in or out and no time column: left out of the model"
                )
            if draft.kind == "dimension" and not draft.pk:
                draft.kind = "skip"
                self.undecided.append(f"{draft.name}: no unique, non-null key: left out")

    def _calendars(self) -> None:
        for draft in self.drafts.values():
            info = draft.info
            hinted = any(
                h in _words(draft.name) or h in draft.name.lower() for h in _CALENDAR_HINTS
            )
            unique_dates = [
                c
                for c in info.columns.values()
                if c.kind == "date" and info.probed and c.distinct == c.nonnull == info.probed
            ]
            if hinted and unique_dates and info.probed >= 28:
                draft.calendar = True

    def _own_time(self, draft: TableDraft) -> Column | None:
        cols = [c for c in draft.info.columns.values() if c.temporal and c.nonnull]
        if not cols:
            return None
        order = list(draft.info.columns)

        def rank(col: Column) -> tuple[int, float, int]:
            name = col.name.lower()
            if any(name.startswith(w) for w in _BOOKKEEPING):
                score = 5
            elif name in _EVENT_TIMES:
                score = 0
            elif name.endswith(("_at", "_date", "_on", "_time", "_ts", "_day")):
                score = 1
            else:
                score = 3
            probed = max(draft.info.probed, 1)
            return score, -col.nonnull / probed, order.index(col.name)

        return min(cols, key=rank)

    def times(self) -> None:
        for draft in self.drafts.values():
            if draft.kind != "fact":
                continue
            own = self._own_time(draft)
            temporal = [c.name for c in draft.info.columns.values() if c.temporal and c.nonnull]
            if own is not None:
                draft.time = own.name
                if len(temporal) == 1:
                    draft.time_why = f"the only {own.kind.upper()} column"
                else:
                    others = ", ".join(n for n in temporal if n != own.name)
                    draft.time_why = f"named like the event's time (also temporal: {others})"
                draft.span = self.prober.span(draft.info, own.name)
                draft.kind_why += f", time column {own.name}"
                continue
            for join in draft.joins:
                target = self.drafts[join.target]
                if not target.calendar:
                    continue
                dates = [
                    c
                    for c in target.info.columns.values()
                    if c.kind == "date" and c.distinct == c.nonnull == target.info.probed
                ]
                best = min(dates, key=lambda c: 0 if "date" in c.name.lower() else 1)
                draft.time = f"{target.name}.{best.name}"
                draft.time_via = (join.column, target.name, join.key)
                draft.time_why = (
                    f"no DATE/TIMESTAMP column of its own; {join.column} joins the calendar "
                    f"{target.name}, one row per {best.name}"
                )
                draft.span = self.prober.span(draft.info, draft.time, draft.time_via)
                draft.kind_why += f", time via {draft.time}"
                break
            if draft.time is None:
                self.undecided.append(
                    f"{draft.name}: no time column (no DATE/TIMESTAMP column and no calendar "
                    "join): its metrics cannot be charted over time, it is on no board"
                )

    def pii(self) -> None:
        for draft in self.drafts.values():
            draft.pii = [c for c in draft.info.columns if c.lower() in _PII]

    # -- reachability

    def reachable(self, fact: str) -> list[str]:
        seen = [fact]
        queue = deque([fact])
        while queue:
            for join in self.drafts[queue.popleft()].joins:
                target = self.drafts.get(join.target)
                if target is not None and target.kind != "skip" and join.target not in seen:
                    seen.append(join.target)
                    queue.append(join.target)
        return seen

    def kept(self) -> list[TableDraft]:
        facts = [d for d in self.drafts.values() if d.kind == "fact"]
        facts.sort(key=lambda d: (d.time is None, -d.info.rows, d.name))
        reach: list[str] = []
        for fact in facts:
            reach += [n for n in self.reachable(fact.name) if n not in reach]
        dims = [self.drafts[n] for n in reach if self.drafts[n].kind == "dimension"]
        for draft in self.drafts.values():
            if draft.kind == "dimension" and draft.name not in reach:
                self.undecided.append(
                    f"{draft.name}: a dimension no fact reaches: left out of the model"
                )
        return facts + dims


# --------------------------------------------------------------------------- dimensions, metrics


def _unique(name: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not re.match(r"[A-Za-z_]", name):
        name = f"m_{name}"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def dimension_drafts(kept: list[TableDraft], taken: set[str]) -> list[DimDraft]:
    """Low-cardinality text and boolean columns of the kept tables, keys and joins aside."""
    out: list[DimDraft] = []
    counts: dict[str, int] = {}
    candidates: list[tuple[TableDraft, Column]] = []
    for draft in kept:
        if draft.calendar:
            continue
        joined = {g.column for g in draft.joins}
        for col in draft.info.columns.values():
            if col.kind not in ("text", "boolean") or col.name in draft.pk or col.name in joined:
                continue
            if col.name in draft.pii or not col.nonnull:
                continue
            if col.distinct > LOW_CARDINALITY or (col.distinct < 2 and draft.info.probed > 1):
                continue
            candidates.append((draft, col))
            counts[col.name.lower()] = counts.get(col.name.lower(), 0) + 1
    roles: dict[str, str] = {}  # a table joined through a column that names a role
    for draft in kept:
        for join in draft.joins:
            column, key = join.column.lower(), join.key.lower()
            stem, _, suffix = column.rpartition("_")
            if column.endswith("_" + key):
                stem = column[: -len(key) - 1]
            elif suffix not in _KEY_SUFFIXES:
                stem = column
            if column != key and not _names_table(stem, join.target):
                roles.setdefault(join.target, stem.replace("_", " "))
    for draft, col in candidates:
        lower = col.name.lower()
        qualify = lower in _GENERIC_DIMS or counts[lower] > 1
        base = base_name(draft.name)
        name = f"{base}_{lower}" if qualify and not lower.startswith(base) else lower
        name = _unique(name, taken)
        what = "true/false" if col.kind == "boolean" else f"{col.distinct} distinct values"
        out.append(
            DimDraft(
                name,
                draft.name,
                col.name,
                _label(name) + (f" ({roles[draft.name]})" if draft.name in roles else ""),
                f"{what} {draft.info.probed_text()}"
                + (
                    f"; {draft.name} is joined through {roles[draft.name]}"
                    if draft.name in roles
                    else ""
                ),
                distinct=col.distinct,
            )
        )
    return out


def _duration_factor(words: list[str]) -> float | None:
    for word in words:
        if word in _DURATIONS:
            return _DURATIONS[word]
    return None


def _scaled(column: str, factor: float | None) -> str:
    if factor is None or factor == 1:
        return column
    if factor < 1:
        return f"{column} / {int(round(1 / factor))}.0"
    return f"{column} * {int(factor)}"


def metric_drafts(facts: list[TableDraft], taken: set[str]) -> list[MetricDraft]:
    """Per fact: a row count, distinct entities, sums and averages of its measures."""
    out: list[MetricDraft] = []
    for fact in facts:
        info = fact.info
        base = base_name(fact.name)
        out.append(
            MetricDraft(
                _unique(_plural(base), taken),
                _label(_plural(base)),
                fact.name,
                "count(*)",
                f"every row of {fact.name}",
                role="rows",
            )
        )
        if len(fact.pk) > 1:
            first = fact.pk[0]
            stem, _, suffix = first.lower().rpartition("_")
            if stem and suffix in _KEY_SUFFIXES:
                out.append(
                    MetricDraft(
                        _unique(_plural(stem), taken),
                        _label(_plural(stem)),
                        fact.name,
                        f"count(distinct {first})",
                        f"the key ({', '.join(fact.pk)}) has several rows per {first}",
                        role="entity",
                    )
                )
        for join in fact.joins:
            target = base_name(join.target)
            if _words(target)[-1] in _ENTITIES:
                out.append(
                    MetricDraft(
                        _unique(_plural(target), taken),
                        f"Distinct {_label(_plural(target)).lower()}",
                        fact.name,
                        f"count(distinct {join.column})",
                        f"{join.column} joins {join.target}, which looks like people or accounts",
                        role="entity",
                    )
                )
        joined = {g.column for g in fact.joins}
        for col in info.columns.values():
            name = col.name.lower()
            words = _words(name)
            if not col.numeric or col.name in fact.pk or col.name in joined or not col.nonnull:
                continue
            if name in _GENERIC_KEYS or words[-1] in _KEY_SUFFIXES or name.startswith("id_"):
                continue
            if name in _NOT_MEASURES or words[-1] in _NOT_MEASURES:
                continue
            factor = _duration_factor(words)
            fmt = (
                "duration"
                if factor is not None
                else ("currency" if _CURRENCY.intersection(words) else "number")
            )
            direction = "down" if _LOWER_IS_BETTER.intersection(words) else "up"
            note = ""
            if factor is not None and factor != 1:
                unit = next(w for w in words if w in _DURATIONS)
                note = f"; {unit} → seconds, the unit of the duration format"
            elif fmt == "currency":
                note = "; named like money"
            if direction == "down":
                note += "; lower is better (named like a delay or cost)"
            expr = _scaled(col.name, factor)
            score = bool(_SCORES.intersection(words))
            if not score:
                out.append(
                    MetricDraft(
                        _unique(name, taken),
                        f"Total {_label(name).lower()}",
                        fact.name,
                        f"sum({expr})",
                        f"a numeric measure of {fact.name}{note}",
                        fmt,
                        direction,
                        role="sum",
                    )
                )
            out.append(
                MetricDraft(
                    _unique(f"avg_{name}", taken),
                    f"Average {_label(name).lower()}",
                    fact.name,
                    f"avg({expr})",
                    ("named like a score: averaged, never summed" if score else "per row") + note,
                    fmt,
                    direction,
                    role="avg",
                )
            )
    return out


# --------------------------------------------------------------------------- YAML


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _comment(text: str) -> str:
    return " ".join(text.split())


class Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, indent: int, text: str, why: str = "") -> None:
        if why:
            self.lines.append(" " * indent + "# " + _comment(why))
        self.lines.append(" " * indent + text)

    def note(self, indent: int, why: str) -> None:
        self.lines.append(" " * indent + "# " + _comment(why))

    def blank(self) -> None:
        self.lines.append("")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _period(span: tuple[date, date] | None) -> tuple[str, str, str]:
    """The Tier 0 period, the line chart's grain and why, from the data's span."""
    if span is None:
        return "month", "week", "no time span found: monthly by default"
    days = (span[1] - span[0]).days + 1
    covered = f"the data covers {days:,} days ({span[0]} to {span[1]})"
    if days >= 62:
        return "month", "week", covered
    if days >= 14:
        return "week", "day", covered + ": too short for months"
    return "day", "day", covered + ": too short for weeks"


def render(
    source: Source,
    guesser: Guesser,
    kept: list[TableDraft],
    dims: list[DimDraft],
    metrics: list[MetricDraft],
    time_name: str | None,
) -> tuple[str, list[str]]:
    """The model as YAML text, and the names of the boards it has."""
    w = Writer()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    w.note(0, f"Written by `starboard init` from {source.label} on {stamp}.")
    for note in source.notes:
        w.note(0, note[:1].upper() + note[1:] + ".")
    w.note(0, "Every guess says why beside it: review them, then `starboard check`.")
    w(0, "version: 1")
    w(0, f"name: {source.name}")
    w(0, f"title: {_q(_label(source.name))}")
    w.blank()
    w(0, "tables:")
    for draft in kept:
        w(2, f"{draft.name}:", draft.kind_why)
        w(4, f"kind: {draft.kind}")
        if draft.pk:
            pk = draft.pk[0] if len(draft.pk) == 1 else "[" + ", ".join(draft.pk) + "]"
            w(4, f"primary_key: {pk}", draft.pk_why)
        elif draft.kind == "fact":
            w.note(4, "no primary key: no unique, non-null column was found")
        if draft.time:
            w(4, f"time: {draft.time}", draft.time_why)
        if draft.pii:
            w(4, f"pii: [{', '.join(draft.pii)}]", "named like personal data")
        if draft.joins or draft.join_notes:
            w(4, "joins:" if draft.joins else "joins: {}")
            for join in draft.joins:
                body = (
                    join.column
                    if join.column == join.key
                    else f"{{from: {join.column}, to: {join.key}}}"
                )
                w(6, f"{join.target}: {body}", join.why())
            for note in draft.join_notes:
                w.note(6, note)
    w.blank()
    w(0, "dimensions:")
    if time_name:
        w(2, f"{time_name}: {{time: true, label: Date}}", "the time dimension, on each fact's time")
    for dim in dims:
        w(2, f"{dim.name}: {{column: {dim.table}.{dim.column}, label: {_q(dim.label)}}}", dim.why)
    if not time_name and not dims:
        w.note(2, "none found")
    w.blank()
    w(0, "metrics:")
    for metric in metrics:
        w(2, f"{metric.name}:", metric.why)
        w(4, f"label: {_q(metric.label)}")
        w(4, f"fact: {metric.fact}")
        w(4, f"sql: {_q(metric.sql)}")
        if metric.format != "number":
            w(4, f"format: {metric.format}")
        if metric.direction != "up":
            w(4, f"direction: {metric.direction}")
    boards = _boards(w, kept, dims, metrics, time_name, guesser)
    undecided = list(dict.fromkeys(guesser.undecided))
    if undecided:
        w.blank()
        w.note(0, "What starboard init could not decide:")
        for item in undecided:
            w.note(0, f"- {item}")
    return w.text(), boards


def _boards(
    w: Writer,
    kept: list[TableDraft],
    dims: list[DimDraft],
    metrics: list[MetricDraft],
    time_name: str | None,
    guesser: Guesser,
) -> list[str]:
    timed = [d for d in kept if d.kind == "fact" and d.time]
    if not timed or time_name is None:
        guesser.undecided.append("no fact has a time column: no boards written")
        return []
    first = timed[0]
    mine = [m for m in metrics if m.fact == first.name]
    rows = next(m for m in mine if m.role == "rows")
    bans = (
        [rows] + [m for m in mine if m.role == "entity"][:1] + [m for m in mine if m.role == "sum"]
    )
    bans += [m for m in mine if m.role == "avg" and m not in bans]
    bans = bans[:MAX_BANS]
    reach = guesser.reachable(first.name)
    order = {name: i for i, name in enumerate(reach)}
    usable = [d for d in dims if d.table in order]
    # the bar: the first label of the nearest dimension table, else one of the fact's own
    usable.sort(key=lambda d: (d.table == first.name, order[d.table]))
    # the filters: the fewest values first (the quickest to pick from)
    few = sorted(usable, key=lambda d: (d.distinct, d.table == first.name, order[d.table]))
    period, grain, why = _period(first.span)
    w.blank()
    w(0, "boards:")
    name0 = f"{base_name(first.name)}_pulse"
    w(2, f"{name0}:", f"Tier 0: the main metrics of {first.name}, the largest fact with a time")
    w(4, "tier: 0")
    w(4, f"title: {_q(_label(base_name(first.name)) + ' pulse')}")
    w(4, f"period: {period}", why)
    w(4, "sections:")
    w(6, "- title: Headline")
    w(8, f"bans: [{', '.join(m.name for m in bans)}]")
    w(6, "- title: Trend")
    w(8, "charts:")
    w(10, f"- {{type: line, metric: {rows.name}, grain: {grain}}}")
    name1 = f"{base_name(first.name)}_explore"
    filters = [time_name] + [d.name for d in few[:3]]
    w.blank()
    w(2, f"{name1}:", "Tier 1: filters and breakdowns of the same fact")
    w(4, "tier: 1")
    w(4, f"title: {_q(_label(base_name(first.name)) + ' breakdown')}")
    w(4, f"filters: [{', '.join(filters)}]")
    w(4, "sections:")
    w(6, "- title: Over time")
    w(8, "charts:")
    second = bans[1] if len(bans) > 1 else rows
    w(10, f"- {{type: line, metric: {second.name}}}")
    if usable:
        w(6, f"- title: {_q('By ' + usable[0].label.lower())}")
        w(8, "charts:")
        w(10, f"- {{type: bar, metric: {rows.name}, by: {usable[0].name}}}")
    else:
        guesser.undecided.append(
            f"no low-cardinality dimension reaches {first.name}: the Tier 1 board has no bar chart"
        )
    return [name0, name1]


# --------------------------------------------------------------------------- entry point


def starter_model(
    url: str,
    schema: str | None = None,
    *,
    pg_prefix: str = "starboard",
    path: str | Path = "model.yaml",
) -> Starter:
    """Introspect the warehouse at ``url`` and write a starter model: its text and summary.

    ConfigError for a URL starboard init cannot read, DataError when the warehouse is missing,
    unreachable or holds no tables.
    """
    source = open_source(url, schema, pg_prefix)
    try:
        tables, skipped = read_catalog(source)
        if not tables:
            where = f"schema {source.schema}" if source.schema else "it"
            raise DataError(f"{source.label} has no tables in {where}: nothing to model.")
        with source.engine.connect() as conn:
            prober = Prober(source, conn)
            for table in tables:
                prober.column_stats(table)
            guesser = Guesser(source, tables, prober)
            guesser.keys()
            guesser.joins()
            guesser.classify()
            guesser.times()
            guesser.pii()
            kept = guesser.kept()
            conn.rollback()
        facts = [d for d in kept if d.kind == "fact"]
        if not facts:
            raise DataError(
                f"{source.label}: no table looks like a fact (no joins to other tables and no "
                "DATE/TIMESTAMP column): nothing to measure."
            )
        taken: set[str] = set()
        time_name = None
        if any(f.time for f in facts):
            time_name = _unique("date", taken)
        dims = dimension_drafts(kept, taken)
        metrics = metric_drafts(facts, taken)
        text, boards = render(source, guesser, kept, dims, metrics, time_name)
    finally:
        source.close()
    try:
        parse_model(text, path)
    except ModelError as exc:  # a guess the model format refuses: a bug of ours
        raise DataError(
            "starboard init wrote a model that does not validate (please report it): " + exc.message
        ) from exc
    big = [f for f in facts if f.info.rows > 10_000_000]
    notes = [n[:1].upper() + n[1:] for n in source.notes] + list(skipped)
    for fact in big:
        notes.append(
            f"{fact.name} has {fact.info.rows_text()}: Tier 0 queries over it may be cost class D; "
            "add a rollup if `starboard check` says so"
        )
    if any(t.sampled for t in tables):
        notes.append(f"tables above {SAMPLE_ROWS:,} rows were probed on a sample")
    return Starter(
        text=text,
        source=source.label,
        tables=[t.name for t in tables],
        facts=[f.name for f in facts],
        dimension_tables=[d.name for d in kept if d.kind == "dimension"],
        joins=[
            f"{g.owner}.{g.column} → {g.target}.{g.key} ({g.how})" for d in kept for g in d.joins
        ],
        metrics=[m.name for m in metrics],
        dimensions=[d.name for d in dims],
        boards=boards,
        undecided=list(dict.fromkeys(guesser.undecided)),
        notes=notes,
        serve_url=source.serve_url,
    )
