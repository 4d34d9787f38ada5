"""Model checks at every publish: Risk 2 warns and publishes, Risk 1 stops the publish with
the old data still served; every run is kept in the metadata database."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import run_load
from app.core.meta import MetaDB
from app.core.pointer import WarehousePaths, duckdb_path, read_pointer
from app.core.stores import checks as checkstore
from app.core.warehouse import Warehouse
from app.loader.load import GateFailure
from tests.fixtures.quality import demo_model_with, settings_for


def test_risk2_check_failure_warns_and_publishes(planted_demo) -> None:
    settings, result = planted_demo
    by_name = {g.check: g for g in result.gates}
    device = by_name["device_known"]
    assert not device.passed and device.risk == 2 and device.table == "fct_interaction"
    assert by_name["range_revenue"].passed and by_name["purchases_have_revenue"].passed
    assert not [g for g in result.gates if g.risk == 1 and not g.passed]
    assert 90 <= result.dq_score < 100
    db = MetaDB(settings.meta_db_url)
    run = checkstore.latest_run(db, checkstore.warehouse_key(settings.db_url))
    assert run is not None and run.version == result.version
    assert run.source == "publish" and run.published and run.dq_score == result.dq_score
    stored = {r.name: r for r in checkstore.results(db, run.id)}
    assert stored["device_known"].failing_rows > 0 and stored["device_known"].origin == "model"
    assert {row[1] for row in stored["device_known"].sample.rows} == {"tablet"}
    # the project's source gates are kept alongside the model's declared and implied checks
    assert stored["natural_key_unique"].origin == "gate"
    assert stored["primary_key"].origin == "model" and stored["primary_key"].passed
    db.dispose()


def test_critical_and_tier0_facts_weigh_more(planted_demo) -> None:
    settings, _ = planted_demo
    db = MetaDB(settings.meta_db_url)
    run = checkstore.latest_run(db, checkstore.warehouse_key(settings.db_url))
    stored = {r.check_id: r for r in checkstore.results(db, run.id)}
    db.dispose()
    # revenue (critical, Tier 0) is on fct_interaction; no metric aggregates dim_product
    assert stored["model:fct_interaction.range_revenue"].weight == 2 * 3
    assert stored["model:fct_interaction.device_known"].weight == 1 * 3
    assert stored["model:dim_product.unique_sku"].weight == 1


def test_risk1_check_failure_stops_the_publish_and_keeps_the_old_data(
    tiny_demo: str, tmp_path: Path
) -> None:
    raw = duckdb_path(tiny_demo).parent / "raw"
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    first = run_load(raw, settings_for(tmp_path / "home", url, demo_model_with(tmp_path, {})))
    paths = WarehousePaths(duckdb_path(url))
    before = read_pointer(paths)
    strict = tmp_path / "strict"
    strict.mkdir()
    settings = settings_for(
        tmp_path / "home",
        url,
        demo_model_with(
            strict,
            {
                "fct_interaction": "    - {kind: accepted_values, name: desktop_only, "
                "column: device, values: [desktop], risk: 1}\n"
            },
        ),
    )
    with pytest.raises(GateFailure) as caught:
        run_load(raw, settings)
    assert "desktop_only" in caught.value.message and "previous data" in caught.value.message
    assert read_pointer(paths) == before
    assert sorted(p.name for p in paths.version_files()) == [f"wh-{first.version}.duckdb"]
    warehouse = Warehouse(url)
    assert warehouse.snapshot().version.id == first.version
    warehouse.dispose()
    db = MetaDB(settings.meta_db_url)
    stopped, published = checkstore.runs(db, checkstore.warehouse_key(url))
    assert not stopped.published and stopped.risk1_failed == 1 and stopped.version != first.version
    assert published.published and published.version == first.version
    db.dispose()


def test_each_postgresql_schema_prefix_keeps_its_own_check_history(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bi:secret@db.internal:5432/dw"
    default = checkstore.warehouse_key(url)
    staging = checkstore.warehouse_key(url, "staging")
    assert default == "postgresql+psycopg://bi:***@db.internal:5432/dw"
    assert staging == default + "#staging"
    duck = checkstore.warehouse_key(f"duckdb:///{tmp_path}/wh.duckdb", "staging")
    assert duck == f"duckdb:{tmp_path.resolve()}/wh.duckdb"  # DuckDB has no schema prefix
