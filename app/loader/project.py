"""A pipeline project: ``pipeline.yaml`` plus one SQL file per transform, for any schema.

The project names its *sources* (files or globs of CSV, Parquet or JSON, or a table or query
of any SQLAlchemy database), its *transforms* (``transforms/<table>.sql``, one SELECT each)
and optionally its *outputs* (default: every table of the model, or every transform). Each
transform's inputs are the tables its SELECT reads (sqlglot), so the order is inferred, as in
dbt or Rill, and never written down. Everything wrong with a project is reported at once, each
problem with its file, line and key (``PipelineError``).

See the README, section "Loading your own data", for the format.
"""

from __future__ import annotations

import dataclasses
import glob
import graphlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from croniter import croniter
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlglot import exp
from sqlglot.tokens import TokenType

from app.core.errors import PipelineError, Problem
from app.core.sqlwrites import WRITES
from app.core.yamllines import collect_lines

PROJECT_FILE = "pipeline.yaml"
FORMATS = ("csv", "parquet", "json")
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".json": "json", ".jsonl": "json"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SOURCE_KEYS = {
    "path",
    "format",
    "columns",
    "key",
    "required",
    "time",
    "db",
    "table",
    "query",
    "options",
    "description",
}
INCREMENTAL_BY = ("time", "key")


@dataclass(frozen=True)
class Source:
    """Raw data the pipeline reads: files (``path``) or a database (``db`` + table/query)."""

    name: str
    path: str | None = None  # a file or glob, relative to the project
    format: str | None = None  # csv | parquet | json (files only)
    columns: tuple[tuple[str, str], ...] = ()  # declared (name, DuckDB type)
    key: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    time: str | None = None
    db: str | None = None  # SQLAlchemy URL
    table: str | None = None
    query: str | None = None
    options: tuple[tuple[str, Any], ...] = ()  # extra reader options (delim, header…)
    line: int | None = None

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def files(self, root: Path) -> list[Path]:
        """The files this source names, sorted (a glob may name none)."""
        assert self.path is not None
        pattern = self.path if os.path.isabs(self.path) else str(root / self.path)
        return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


@dataclass(frozen=True)
class Incremental:
    """How a transform refreshes: by time (replace the last ``lookback_days``, append the
    new ones) or by key (upsert the rows whose key is new or changed)."""

    by: str  # time | key
    column: str | None = None  # by time: the output's time column
    lookback_days: int = 1
    key: tuple[str, ...] = ()  # by key


@dataclass(frozen=True)
class Transform:
    name: str
    file: Path
    sql: str
    inputs: tuple[str, ...]
    incremental: Incremental | None = None
    ordered: bool = False  # keep the SELECT's ORDER BY as the stored row order (zone maps)


@dataclass(frozen=True)
class Output:
    name: str


@dataclass
class Project:
    name: str
    root: Path
    file: Path
    sources: dict[str, Source]
    transforms: dict[str, Transform]
    outputs: dict[str, Output]  # declared outputs (empty: the model's tables or all transforms)
    model: Path | None = None
    schedule: str | None = None
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def tasks(self) -> dict[str, tuple[str, ...]]:
        """Every task (source or transform) and the tasks it reads."""
        graph: dict[str, tuple[str, ...]] = {name: () for name in self.sources}
        graph.update({name: t.inputs for name, t in self.transforms.items()})
        return graph

    def order(self) -> list[str]:
        """Tasks in an order where each comes after what it reads."""
        return list(graphlib.TopologicalSorter(self.tasks).static_order())

    def output_names(self, model_tables: Iterable[str] | None = None) -> list[str]:
        """What is published: declared outputs, else the model's tables, else every
        transform."""
        if self.outputs:
            return list(self.outputs)
        if model_tables is not None:
            return list(model_tables)
        return list(self.transforms)

    def upstream(self, names: Iterable[str]) -> set[str]:
        """``names`` and every task they read, transitively."""
        graph = self.tasks
        seen: set[str] = set()
        todo = [n for n in names if n in graph]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return seen

    def check_outputs(self, names: Iterable[str]) -> None:
        """Every output must be built by a source or a transform of that name."""
        missing = [n for n in names if n not in self.sources and n not in self.transforms]
        if missing:
            where = "outputs" if self.outputs else "the model's tables"
            raise PipelineError(
                [
                    Problem(
                        str(self.file),
                        self.lines.get(f"outputs.{n}"),
                        f"outputs.{n}",
                        f"{n} (one of {where}) is built by no source and no transform: add "
                        f"transforms/{n}.sql or a source named {n}",
                    )
                    for n in missing
                ]
            )


class _Reader:
    """Collects every problem of one project with its line."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}

    def add(self, key: str, message: str, *, file: Path | None = None, line: int | None = None):
        probe = key if file is None or file == self.file else ""  # lines of pipeline.yaml
        while line is None and probe:
            line = self.lines.get(probe)
            probe = probe.rpartition(".")[0]
        self.problems.append(Problem(str(file or self.file), line, key, message))

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(key, f"expected a mapping, got {type(value).__name__}")
            return {}
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(key, "expected a column name or a list of column names")
            return ()
        return tuple(value)

    def unknown_keys(self, value: Mapping[str, Any], allowed: set[str], key: str) -> None:
        for k in value:
            if k not in allowed:
                self.add(
                    f"{key}.{k}" if key else str(k),
                    f"unknown key; expected one of {', '.join(sorted(allowed))}",
                )


def find_project(path: Path) -> Path:
    """The ``pipeline.yaml`` of ``path`` (the file itself or a folder holding one)."""
    path = Path(path)
    file = path / PROJECT_FILE if path.is_dir() else path
    if not file.is_file():
        where = f"{path} has no {PROJECT_FILE}" if path.is_dir() else f"{path} does not exist"
        raise PipelineError(
            Problem(
                str(file),
                None,
                PROJECT_FILE,
                f"{where}: a pipeline project is a folder with a {PROJECT_FILE} "
                "(README, “Loading your own data”; `starboard mock --out DIR` writes one)",
            )
        )
    return file


def load_project(path: Path | str) -> Project:
    """Read and check a pipeline project; raise PipelineError listing every problem."""
    file = find_project(Path(path))
    root = file.parent
    reader = _Reader(file)
    try:
        data = YAML(typ="rt").load(file.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(
            Problem(str(file), line, PROJECT_FILE, f"not valid YAML: {problem}")
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(
            Problem(str(file), None, PROJECT_FILE, f"cannot be read: {exc}")
        ) from None
    if not isinstance(data, Mapping):
        raise PipelineError(
            Problem(str(file), None, PROJECT_FILE, "expected a mapping with sources: …")
        )
    collect_lines(data, "", reader.lines)
    reader.unknown_keys(
        data,
        {
            "version",
            "name",
            "title",
            "model",
            "schedule",
            "sources",
            "transforms_dir",
            "transforms",
            "outputs",
            "description",
        },
        "",
    )
    if data.get("version", 1) != 1:
        reader.add("version", f"unsupported version {data.get('version')!r}; expected 1")
    name = data.get("name") or _folder_name(root)
    if not isinstance(name, str) or not NAME.match(name):
        reader.add("name", f"{name!r} is not a name: letters, digits and _")
        name = "pipeline"
    model = _model_path(reader, root, data.get("model"))
    schedule = data.get("schedule")
    if schedule is not None and (not isinstance(schedule, str) or not croniter.is_valid(schedule)):
        reader.add(
            "schedule", f"{schedule!r} is not a cron expression (five fields, e.g. '0 6 * * *')"
        )
        schedule = None
    sources = {
        n: s
        for n, s in (
            _source(reader, root, str(k), v)
            for k, v in reader.mapping(data.get("sources"), "sources").items()
        )
        if s is not None
    }
    if not data.get("sources"):  # not when the sources given are wrong (named above)
        reader.add("sources", "a pipeline needs at least one source")
    tdir_raw = data.get("transforms_dir", "transforms")
    tdir = root / str(tdir_raw)
    options = reader.mapping(data.get("transforms"), "transforms")
    transforms = _transforms(reader, tdir, options, set(sources))
    outputs: dict[str, Output] = {}
    for key, value in reader.mapping(data.get("outputs"), "outputs").items():
        body = reader.mapping(value, f"outputs.{key}")
        if "freshness_hours" in body:
            reader.add(
                f"outputs.{key}.freshness_hours",
                f"a fact's freshness SLO is declared once, in the model (tables.{key}."
                "freshness_hours), so the stale banner, /pipeline and the publish check agree",
            )
        reader.unknown_keys(body, {"freshness_hours", "description"}, f"outputs.{key}")
        outputs[str(key)] = Output(str(key))
    project = Project(
        name,
        root,
        file,
        sources,
        transforms,
        outputs,
        model,
        schedule,
        reader.lines,
    )
    if outputs:
        for name_ in outputs:
            if name_ not in sources and name_ not in transforms:
                reader.add(
                    f"outputs.{name_}",
                    f"no source and no transform builds {name_}: add {tdir_raw}/{name_}.sql",
                )
    _check_graph(reader, project)
    if reader.problems:
        raise PipelineError(reader.problems)
    return project


def project_name(path: Path | str) -> str:
    """The name a project's runs are kept under, even when the project does not load: its
    ``name:`` if the file can be read and names one, else its folder's."""
    path = Path(path)
    file = path / PROJECT_FILE if path.is_dir() else path
    try:
        data = YAML(typ="safe").load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        data = None
    name = data.get("name") if isinstance(data, Mapping) else None
    if isinstance(name, str) and NAME.match(name):
        return name
    return _folder_name(file.parent)


def _folder_name(root: Path) -> str:
    """The default project name: the folder's (``.`` resolved), made a name."""
    word = re.sub(r"[^A-Za-z0-9_]", "_", root.resolve().name)[:63] or "pipeline"
    return word if NAME.match(word) else f"_{word}"[:63]


def _model_path(reader: _Reader, root: Path, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str):
        reader.add("model", "expected the path of the semantic model file")
        return None
    path = Path(os.path.expandvars(value))
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        reader.add("model", f"{value} does not exist (paths are relative to {PROJECT_FILE})")
    return path


def _source(reader: _Reader, root: Path, name: str, value: Any) -> tuple[str, Source | None]:
    key = f"sources.{name}"
    if not NAME.match(name):
        reader.add(key, f"{name!r} cannot name a table: use letters, digits and _")
        return name, None
    if isinstance(value, str):
        value = {"path": value}
    body = reader.mapping(value, key)
    reader.unknown_keys(body, SOURCE_KEYS, key)
    path, db = body.get("path"), body.get("db")
    if (path is None) == (db is None):
        reader.add(key, "give either path: (files) or db: (a database URL), not both or neither")
        return name, None
    columns: list[tuple[str, str]] = []
    for col, type_ in reader.mapping(body.get("columns"), f"{key}.columns").items():
        if not isinstance(type_, str) or not type_.strip():
            reader.add(f"{key}.columns.{col}", "expected a type such as BIGINT, VARCHAR, DATE")
            continue
        problem = _type_problem(type_)
        if problem:
            reader.add(f"{key}.columns.{col}", problem)
            continue
        columns.append((str(col), type_.strip().upper()))
    fmt = body.get("format")
    if path is not None:
        if not isinstance(path, str):
            reader.add(f"{key}.path", "expected a file name or a glob")
            return name, None
        if fmt is None:
            fmt = SUFFIXES.get(Path(path.replace("*", "x")).suffix.lower())
            if fmt is None:
                reader.add(
                    f"{key}.path",
                    f"cannot tell the format of {path!r} from its suffix: add format: "
                    f"{' | '.join(FORMATS)}",
                )
        elif fmt not in FORMATS:
            reader.add(f"{key}.format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
        table = query = None
        db_url = None
    else:
        if not isinstance(db, str):
            reader.add(f"{key}.db", "expected a SQLAlchemy URL such as sqlite:///crm.sqlite")
            return name, None
        db_url = _db_url(root, os.path.expandvars(db))
        table, query = body.get("table"), body.get("query")
        if (table is None) == (query is None):
            reader.add(key, "a database source gives table: or query:, one of them")
        elif query is not None and not isinstance(query, str):
            reader.add(f"{key}.query", "expected one SELECT statement")
        elif table is not None and not isinstance(table, str):
            reader.add(f"{key}.table", "expected a table name (schema.table allowed)")
    options = tuple(sorted(reader.mapping(body.get("options"), f"{key}.options").items()))
    time_col = body.get("time")
    if time_col is not None and not isinstance(time_col, str):
        reader.add(f"{key}.time", "expected a column name")
        time_col = None
    return name, Source(
        name,
        path=path,
        format=fmt,
        columns=tuple(columns),
        key=reader.names(body.get("key"), f"{key}.key"),
        required=reader.names(body.get("required"), f"{key}.required"),
        time=time_col,
        db=db_url,
        table=table,
        query=query,
        options=options,
        line=reader.lines.get(key),
    )


def _db_url(root: Path, url: str) -> str:
    """SQLite paths in a project are relative to the project folder."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url.removeprefix("sqlite:///")
        if rest and rest != ":memory:":
            return f"sqlite:///{(root / rest).resolve()}"
    return url


def _type_problem(type_: str) -> str | None:
    try:
        parsed = sqlglot.parse_one(f"CAST(NULL AS {type_})", read="duckdb")
    except sqlglot.errors.ParseError:
        return f"{type_!r} is not a DuckDB type (BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP…)"
    if not isinstance(parsed, exp.Cast):
        return f"{type_!r} is not a DuckDB type"
    # sqlglot reads any unknown word as a user-defined type; a build has none
    unknown = [
        t for t in parsed.to.find_all(exp.DataType) if t.this == exp.DataType.Type.USERDEFINED
    ]
    if unknown:
        return (
            f"{type_!r} is not a DuckDB type (BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP…)"
            + _suggest(unknown[0].sql(dialect="duckdb").upper(), _TYPE_NAMES)
        )
    return None


_TYPE_NAMES = (
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "VARCHAR",
    "BOOLEAN",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "INTERVAL",
    "UUID",
    "BLOB",
)


def _transforms(
    reader: _Reader, tdir: Path, options: Mapping[str, Any], sources: set[str]
) -> dict[str, Transform]:
    files = sorted(tdir.glob("*.sql")) if tdir.is_dir() else []
    if options and not tdir.is_dir():
        reader.add("transforms_dir", f"{tdir} does not exist, but transforms: names options")
    out: dict[str, Transform] = {}
    for file in files:
        name = file.stem
        if not NAME.match(name):
            reader.add(
                f"transforms.{name}",
                "a transform's file name is its table name: letters, digits and _",
                file=file,
                line=1,
            )
            continue
        if name in sources:
            reader.add(
                f"transforms.{name}",
                f"{file.name} and the source {name} would build the same table",
                file=file,
                line=1,
            )
            continue
        try:
            sql = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reader.add(f"transforms.{name}", f"cannot be read: {exc}", file=file)
            continue
        inputs = _inputs(reader, file, name, sql)
        if inputs is None:
            continue
        body = reader.mapping(options.get(name), f"transforms.{name}")
        reader.unknown_keys(body, {"incremental", "ordered", "description"}, f"transforms.{name}")
        incremental = _incremental(reader, name, body.get("incremental"))
        out[name] = Transform(
            name, file, _statement(sql), inputs, incremental, bool(body.get("ordered", False))
        )
    for name in options:
        if name not in out and not any(f.stem == name for f in files):
            reader.add(
                f"transforms.{name}",
                f"options for {name}, but {tdir.name}/{name}.sql does not exist",
            )
    return out


def _incremental(reader: _Reader, name: str, value: Any) -> Incremental | None:
    if value is None:
        return None
    key = f"transforms.{name}.incremental"
    body = reader.mapping(value, key)
    reader.unknown_keys(body, {"by", "column", "lookback_days", "key"}, key)
    by = body.get("by")
    if by not in INCREMENTAL_BY:
        reader.add(f"{key}.by", f"expected by: time or by: key, got {by!r}")
        return None
    if by == "time":
        column = body.get("column")
        days = body.get("lookback_days", 1)
        if not isinstance(column, str):
            reader.add(f"{key}.column", "by: time needs column: the output's time column")
            return None
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            reader.add(f"{key}.lookback_days", "expected a whole number of days, 0 or more")
            return None
        return Incremental("time", column=column, lookback_days=days)
    keys = reader.names(body.get("key"), f"{key}.key")
    if not keys:
        reader.add(f"{key}.key", "by: key needs key: the columns that identify a row")
        return None
    return Incremental("key", key=keys)


def _statement(sql: str) -> str:
    """The SELECT itself: the text up to its last token, without a trailing ``;`` or the
    comments after it, so that the runner may wrap it (``(… ) AS t WHERE …``)."""
    tokens = [t for t in sqlglot.tokenize(sql, read="duckdb")]
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    return sql[: tokens[-1].end + 1] if tokens else sql.strip()


def _inputs(reader: _Reader, file: Path, name: str, sql: str) -> tuple[str, ...] | None:
    """The tables one transform reads, or None (its problem recorded)."""
    key = f"transforms.{name}"
    try:
        statements = [
            s  # a comment after the last ";" parses as a bare Semicolon: not a statement
            for s in sqlglot.parse(sql, read="duckdb")
            if s is not None and not isinstance(s, exp.Semicolon)
        ]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        reader.add(
            key,
            f"cannot parse the SQL: {first.get('description') or str(exc).splitlines()[0]}",
            file=file,
            line=first.get("line"),
        )
        return None
    if len(statements) != 1:
        reader.add(
            key,
            f"expected one SELECT, found {len(statements)} statements",
            file=file,
            line=_second_statement_line(sql),
        )
        return None
    tree = statements[0]
    writes = [n for n in tree.walk() if isinstance(n, WRITES)]
    if writes or not isinstance(tree, exp.Query):
        what = type(writes[0] if writes else tree).__name__.upper()
        reader.add(key, f"a transform is one SELECT, not {what}", file=file, line=1)
        return None
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found: set[str] = set()
    for table in tree.find_all(exp.Table):
        if table.name in ctes or table.args.get("db") or not isinstance(table.this, exp.Identifier):
            continue  # a CTE, a schema-qualified table, a table function (generate_series…)
        found.add(table.name)
    return tuple(sorted(found))


def _second_statement_line(sql: str) -> int | None:
    """The line where a second statement starts (after the first ``;``), if any."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return None
    after_semicolon = False
    for token in tokens:
        if token.token_type == sqlglot.tokens.TokenType.SEMICOLON:
            after_semicolon = True
        elif after_semicolon:
            return token.line
    return None


def _reference_line(sql: str, table: str) -> int | None:
    """The line of the first reference to ``table`` in a transform's SELECT."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return next(
        (
            x.this.meta.get("line")
            for x in tree.find_all(exp.Table)
            if x.name == table and isinstance(x.this, exp.Identifier)
        ),
        None,
    )


def _check_graph(reader: _Reader, project: Project) -> None:
    """Unknown inputs (file and line) and cycles (the files in the cycle)."""
    known = set(project.sources) | set(project.transforms)
    # DuckDB matches table names case-insensitively: `FROM Tickets` reads the source tickets
    by_lower = {n.lower(): n for n in known}
    for name, t in list(project.transforms.items()):
        inputs = tuple(sorted({by_lower.get(i.lower(), i) for i in t.inputs}))
        if inputs != t.inputs:
            project.transforms[name] = dataclasses.replace(t, inputs=inputs)
    for t in project.transforms.values():
        for table in t.inputs:
            if table not in known:
                line = _reference_line(t.sql, table)
                reader.add(
                    f"transforms.{t.name}",
                    f"reads {table}, which is no source and no transform of this project"
                    + _suggest(table, known),
                    file=t.file,
                    line=line,
                )
    if reader.problems:
        return
    try:
        graphlib.TopologicalSorter(project.tasks).prepare()
    except graphlib.CycleError as exc:
        # graphlib lists each node before the one that reads it: reversed, "a → b" is "a reads b"
        cycle = list(reversed(exc.args[1]))
        files = " → ".join(
            project.transforms[n].file.name if n in project.transforms else n for n in cycle
        )
        first = project.transforms[cycle[0]]
        reader.add(
            f"transforms.{cycle[0]}",
            f"the transforms read each other in a cycle (→ reads): {files}",
            file=first.file,
            line=_reference_line(first.sql, cycle[1]),
        )


def _suggest(word: str, choices: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
