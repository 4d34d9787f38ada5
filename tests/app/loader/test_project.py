"""Pipeline projects: parsing, inferred dependencies, and bad input named by file, line, key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.core.errors import PipelineError, Problem
from app.loader.project import load_project


def project(root: Path, yaml: str, transforms: dict[str, str] | None = None) -> Path:
    """A project folder: ``pipeline.yaml``, one raw CSV, ``transforms/<name>.sql``."""
    (root / "transforms").mkdir(parents=True, exist_ok=True)
    (root / "raw.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (root / "pipeline.yaml").write_text(textwrap.dedent(yaml).lstrip(), encoding="utf-8")
    for name, sql in (transforms or {}).items():
        (root / "transforms" / f"{name}.sql").write_text(textwrap.dedent(sql), encoding="utf-8")
    return root


MINIMAL = """
version: 1
sources:
  raw: raw.csv
"""


def problems(root: Path) -> list[Problem]:
    with pytest.raises(PipelineError) as err:
        load_project(root)
    found = err.value.problems
    head = "1 problem" if len(found) == 1 else f"{len(found)} problems"
    assert str(err.value).startswith(f"{head} in the pipeline:\n")
    return found


def only(root: Path) -> Problem:
    found = problems(root)
    assert len(found) == 1, found
    return found[0]


def where(problem: Problem, root: Path) -> tuple[str, int | None, str]:
    return (str(Path(problem.file).relative_to(root)), problem.line, problem.key)


def test_not_yaml(tmp_path: Path) -> None:
    root = project(tmp_path, "version: 1\nsources:\n  raw: [raw.csv\n")
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 4, "pipeline.yaml")
    assert "not valid YAML" in found.message


def test_a_mapping_is_expected(tmp_path: Path) -> None:
    root = project(tmp_path, "- just\n- a list\n")
    assert "expected a mapping" in only(root).message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    root = project(tmp_path, MINIMAL + "sourcse: {}\n")
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 4, "sourcse")
    assert "unknown key; expected one of" in found.message and "sources" in found.message


@pytest.mark.parametrize(
    "body",
    [
        "    path: raw.csv\n    db: sqlite:///crm.sqlite\n    table: t\n",  # both
        "    format: csv\n",  # neither
    ],
)
def test_a_source_needs_path_or_db_not_both(tmp_path: Path, body: str) -> None:
    root = project(tmp_path, "version: 1\nsources:\n  raw:\n" + body)
    found = only(root)  # and not also "a pipeline needs at least one source"
    assert where(found, root) == ("pipeline.yaml", 3, "sources.raw")
    assert "either path: (files) or db:" in found.message


def test_a_database_source_needs_table_or_query(tmp_path: Path) -> None:
    root = project(tmp_path, "version: 1\nsources:\n  crm:\n    db: sqlite:///crm.sqlite\n")
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 3, "sources.crm")
    assert "table: or query:" in found.message


def test_bad_column_types(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """
        version: 1
        sources:
          raw:
            path: raw.csv
            columns:
              a: BIGINT
              b: BIGNIT
              c: "NOT A TYPE("
        """,
    )
    bad_word, unparsable = problems(root)
    assert where(bad_word, root) == ("pipeline.yaml", 7, "sources.raw.columns.b")
    assert "'BIGNIT' is not a DuckDB type" in bad_word.message
    assert "did you mean BIGINT?" in bad_word.message
    assert where(unparsable, root) == ("pipeline.yaml", 8, "sources.raw.columns.c")
    assert "is not a DuckDB type" in unparsable.message


def test_declared_types_are_kept_upper_case(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "version: 1\nsources:\n  raw:\n    path: raw.csv\n"
        "    columns: {a: bigint, b: 'decimal(18,2)', c: 'varchar[]'}\n",
    )
    assert load_project(root).sources["raw"].columns == (
        ("a", "BIGINT"),
        ("b", "DECIMAL(18,2)"),
        ("c", "VARCHAR[]"),
    )


def test_unknown_format_suffix(tmp_path: Path) -> None:
    root = project(tmp_path, "version: 1\nsources:\n  sheet:\n    path: raw/export.xlsx\n")
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 4, "sources.sheet.path")
    assert "cannot tell the format of 'raw/export.xlsx'" in found.message


def test_unknown_format_name(tmp_path: Path) -> None:
    root = project(tmp_path, "version: 1\nsources:\n  raw:\n    path: raw.csv\n    format: xls\n")
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 5, "sources.raw.format")
    assert "'xls' is not one of csv, parquet, json" in found.message


def test_a_transform_that_inserts(tmp_path: Path) -> None:
    root = project(tmp_path, MINIMAL, {"t": "-- loads t\nINSERT INTO t SELECT * FROM raw\n"})
    found = only(root)
    assert where(found, root) == ("transforms/t.sql", 1, "transforms.t")
    assert found.message == "a transform is one SELECT, not INSERT"


def test_a_transform_with_two_statements(tmp_path: Path) -> None:
    root = project(tmp_path, MINIMAL, {"t": "SELECT a\nFROM raw;\n\nSELECT b FROM raw;\n"})
    found = only(root)
    assert where(found, root) == ("transforms/t.sql", 4, "transforms.t")
    assert found.message == "expected one SELECT, found 2 statements"


def test_a_transform_that_does_not_parse(tmp_path: Path) -> None:
    root = project(tmp_path, MINIMAL, {"t": "SELECT a,\nFROM raw WHERE (\n"})
    found = only(root)
    assert found.key == "transforms.t" and found.file.endswith("t.sql")
    assert "cannot parse the SQL" in found.message


def test_a_transform_reading_an_unknown_table(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        MINIMAL,
        {"t": "SELECT r.a\nFROM raw r\nLEFT JOIN rwa x\n  ON x.a = r.a\n"},
    )
    found = only(root)
    assert where(found, root) == ("transforms/t.sql", 3, "transforms.t")
    assert found.message == (
        "reads rwa, which is no source and no transform of this project; did you mean raw?"
    )


def test_a_cycle_names_every_file(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        MINIMAL,
        {
            "a": "SELECT *\nFROM b",
            "b": "SELECT * FROM c",
            "c": "SELECT r.*\nFROM raw r\nJOIN a ON a.a = r.a",
        },
    )
    found = only(root)
    assert found.key.startswith("transforms.")
    name = found.key.removeprefix("transforms.")
    assert Path(found.file).name == f"{name}.sql"
    # the line of the reference that closes the cycle, in that file
    assert found.line == {"a": 2, "b": 1, "c": 3}[name]
    for file in ("a.sql", "b.sql", "c.sql"):
        assert file in found.message
    chain = found.message.split(": ", 1)[1].split(" → ")
    reads = {"a": "b", "b": "c", "c": "a"}
    for here, there in zip(chain, chain[1:], strict=False):  # "x → y": x reads y
        assert reads[here.removesuffix(".sql")] == there.removesuffix(".sql")


def test_options_for_a_transform_without_sql(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        MINIMAL + "transforms:\n  t: {ordered: true}\n  f_missing:\n    ordered: true\n",
        {"t": "SELECT * FROM raw"},
    )
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 6, "transforms.f_missing")
    assert "transforms/f_missing.sql does not exist" in found.message


def test_bad_incremental_options(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        MINIMAL + "transforms:\n  t:\n    incremental: {by: time, lookback_days: 2}\n",
        {"t": "SELECT * FROM raw"},
    )
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 6, "transforms.t.incremental.column")


@pytest.mark.parametrize("schedule", ["61 * * * *", "every day", "0 6 * *"])
def test_bad_cron_schedule(tmp_path: Path, schedule: str) -> None:
    root = project(tmp_path, f"version: 1\nname: shop\nschedule: '{schedule}'\n" + MINIMAL[12:])
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 3, "schedule")
    assert f"{schedule!r} is not a cron expression" in found.message


def test_an_output_nobody_builds(tmp_path: Path) -> None:
    root = project(tmp_path, MINIMAL + "outputs:\n  raw: {}\n  f_orders: {}\n")
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 6, "outputs.f_orders")
    assert "no source and no transform builds f_orders" in found.message


def test_a_model_output_nobody_builds(tmp_path: Path) -> None:
    proj = load_project(project(tmp_path, MINIMAL, {"t": "SELECT * FROM raw"}))
    with pytest.raises(PipelineError, match=r"d_store \(one of the model's tables\)"):
        proj.check_outputs(["t", "d_store"])


def test_a_missing_model_file(tmp_path: Path) -> None:
    root = project(tmp_path, "version: 1\nmodel: models/shop.yaml\n" + MINIMAL[12:])
    found = only(root)
    assert where(found, root) == ("pipeline.yaml", 2, "model")
    assert "models/shop.yaml does not exist" in found.message


def test_every_problem_at_once(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "version: 1\nschedule: nope\nsources:\n  raw:\n    path: raw.csv\n"
        "    columns: {a: NUMBR}\n",
        {"t": "SELECT * FROM missing_table"},
    )
    assert [p.key for p in problems(root)] == ["schedule", "sources.raw.columns.a", "transforms.t"]


def test_no_project_file(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="has no pipeline.yaml"):
        load_project(tmp_path)


def test_dependencies_are_inferred(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        MINIMAL + "  stores:\n    db: sqlite:///crm.sqlite\n    table: stores\n",
        {
            # a CTE and table functions are not tables of the project
            "d_day": """
                WITH days AS (
                    SELECT CAST(d AS DATE) AS day
                    FROM generate_series(DATE '2026-01-01', DATE '2026-01-31', INTERVAL 1 DAY)
                        AS t(d)
                ), extra AS (SELECT * FROM read_csv('raw.csv'))
                SELECT days.day, extra.a FROM days, extra
            """,
            # a join, a subquery in FROM and one in WHERE are
            "f_sale": """
                SELECT r.a, d.day, s.*
                FROM (SELECT * FROM raw WHERE b > 0) r
                JOIN d_day d ON d.a = r.a
                LEFT JOIN stores s ON true
                WHERE r.a IN (SELECT a FROM raw_extra)
            """,
            "raw_extra": "SELECT a FROM raw UNION ALL SELECT 1",
            "report": "SELECT count(*) FROM f_sale",
        },
    )
    proj = load_project(root)
    assert proj.tasks == {
        "raw": (),
        "stores": (),
        "d_day": (),
        "f_sale": ("d_day", "raw", "raw_extra", "stores"),
        "raw_extra": ("raw",),
        "report": ("f_sale",),
    }
    order = proj.order()
    assert sorted(order) == sorted(proj.tasks)
    for name, inputs in proj.tasks.items():
        for needed in inputs:
            assert order.index(needed) < order.index(name), (needed, name, order)
    assert proj.upstream(["report"]) == {"report", "f_sale", "d_day", "raw", "raw_extra", "stores"}
    assert proj.upstream(["raw_extra"]) == {"raw_extra", "raw"}


def test_sources_are_read_with_their_options(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """
        version: 1
        name: shop
        schedule: "0 6 * * *"
        sources:
          raw:
            path: raw.csv
            columns: {a: BIGINT}
            key: a
            required: [a, b]
            time: b
          crm:
            db: sqlite:///data/crm.sqlite
            query: SELECT 1 AS x
        transforms:
          t:
            incremental: {by: key, key: [a]}
        outputs:
          t: {description: the only output}
        """,
        {"t": "SELECT * FROM raw JOIN crm ON true"},
    )
    proj = load_project(root)
    raw, crm = proj.sources["raw"], proj.sources["crm"]
    assert (raw.format, raw.key, raw.required, raw.time) == ("csv", ("a",), ("a", "b"), "b")
    assert crm.db == f"sqlite:///{(root / 'data' / 'crm.sqlite').resolve()}"
    assert (proj.name, proj.schedule) == ("shop", "0 6 * * *")
    assert proj.transforms["t"].incremental is not None
    assert proj.transforms["t"].incremental.key == ("a",)
    assert proj.output_names(["ignored"]) == ["t"]


@pytest.mark.parametrize(("folder", "name"), [("my-shop.v2", "my_shop_v2"), ("2026", "_2026")])
def test_the_default_name_is_the_folder_made_a_name(tmp_path: Path, folder: str, name: str) -> None:
    """Regression: a folder name that is no table name (or ``.``) was reported as a bad
    ``name:`` the file never had."""
    root = project(tmp_path / folder, MINIMAL)
    assert load_project(root).name == name


def test_the_current_folder_is_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path / "support_desk", MINIMAL)
    monkeypatch.chdir(root)
    assert load_project(Path(".")).name == "support_desk"


def test_a_comment_after_the_last_semicolon_is_no_statement(tmp_path: Path) -> None:
    """Regression: sqlglot parses a comment after the final ``;`` as a bare Semicolon, which
    was counted as a second statement."""
    root = project(tmp_path, MINIMAL, {"t": "SELECT a FROM raw;\n-- the end\n"})
    assert load_project(root).transforms["t"].inputs == ("raw",)


def test_a_sql_file_problem_never_takes_a_pipeline_yaml_line(tmp_path: Path) -> None:
    """Regression: a problem in a .sql file without a line of its own was given the line of
    its options in pipeline.yaml (another file)."""
    root = project(tmp_path, "\n\n" + MINIMAL + "transforms:\n  t: {ordered: true}\n")
    (root / "transforms" / "t.sql").write_bytes(b"SELECT \xff FROM raw")
    found = only(root)
    assert where(found, root) == ("transforms/t.sql", None, "transforms.t")
    assert found.message.startswith("cannot be read:")


def test_table_names_match_case_insensitively_as_in_duckdb(tmp_path: Path) -> None:
    """Regression: `FROM Raw` was "reads Raw, which is no source…", though DuckDB reads raw."""
    root = project(
        tmp_path, MINIMAL, {"t": 'SELECT * FROM Raw JOIN "RAW" r2 ON true', "u": "SELECT * FROM T"}
    )
    proj = load_project(root)
    assert (proj.tasks["t"], proj.tasks["u"]) == (("raw",), ("t",))
    assert proj.order().index("t") < proj.order().index("u")
