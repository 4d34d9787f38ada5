"""The SQL statements that change something (sqlglot node types): a `sql` check and a
pipeline transform are one SELECT, and may contain none of these."""

from __future__ import annotations

from sqlglot import exp

WRITES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Merge,
    exp.Command,
    exp.Copy,
    exp.TruncateTable,
    exp.Set,
)
