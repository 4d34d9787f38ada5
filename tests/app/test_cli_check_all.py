"""``starboard check`` prints every problem of a model in one run: structural (loading),
against the warehouse (columns) and the tree (an identity that does not hold)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import DEMO_MODEL
from tests.app.test_cli import starboard


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    for name in ("STARBOARD_DB_URL", "STARBOARD_MODEL", "STARBOARD_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_one_run_lists_structural_warehouse_and_tree_problems(
    monkeypatch, capsys, tiny_demo: str, tmp_path: Path
) -> None:
    text = Path(DEMO_MODEL).read_text(encoding="utf-8")
    edits = {
        # structural: a tolerance that is not one, a chart Tier 0 does not render
        "  revenue:         {children: [orders, aov], relation: product}": (
            "  revenue:         {children: [orders, aov], relation: product, tolerance: 3}"
        ),
        "          - {type: bar, metric: revenue, by: channel_group}": (
            "          - {type: table, metric: revenue, by: channel_group}"
        ),
        # against the warehouse: a column that does not exist
        "    sql: sum(spend)\n": "    sql: sum(spendd)\n",
        # the tree: cac is spend / new users, not spend / visitors
        "  cac:             {children: [spend, new_users], relation: ratio}": (
            "  cac:             {children: [spend, visitors], relation: ratio}"
        ),
    }
    for old, new in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    model = tmp_path / "model.yaml"
    model.write_text(text, encoding="utf-8")
    code, out, err = starboard(
        monkeypatch, capsys, "check", "--db", tiny_demo, "--model", str(model)
    )
    lines = " ".join(out.split())
    assert code == 1 and "3 problem(s)" in err, lines
    assert "tree.revenue.tolerance: 3 is not a tolerance" in lines
    assert "charts.1.type: a tier 0 board cannot show a table chart" in lines
    assert (
        "metrics.spend.sql: column 'spendd' does not exist in table 'fct_marketing_spend'" in lines
    )
    # spend is broken, so the relations through it are not evaluated …
    assert "tree.cac" not in lines and "tree.roas" not in lines


def test_a_tree_problem_is_reported_with_the_rest(
    monkeypatch, capsys, tiny_demo: str, tmp_path: Path
) -> None:
    text = Path(DEMO_MODEL).read_text(encoding="utf-8")
    edits = {
        "  cac:             {children: [spend, new_users], relation: ratio}": (
            "  cac:             {children: [spend, visitors], relation: ratio}"
        ),
        "  orders:          {children: [visitors, conversion_rate], relation: product}": (
            "  orders:          {children: [buyers, conversion_rate], relation: product}"
        ),
        "          - {type: bar, metric: revenue, by: channel_group}": (
            "          - {type: breakdown, metric: revenue, by: channel_group}"
        ),
        "    sql: sum(clicks)\n": "    sql: sum(clickz)\n",  # in no tree relation
    }
    for old, new in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    model = tmp_path / "model.yaml"
    model.write_text(text, encoding="utf-8")
    code, out, err = starboard(
        monkeypatch, capsys, "check", "--db", tiny_demo, "--model", str(model)
    )
    lines = " ".join(out.split())
    assert code == 1 and "4 problem(s)" in err, lines
    assert "tree.orders: orders ≠ buyers × conversion_rate in " in lines
    assert "tree.cac: cac ≠ spend / visitors in " in lines
    assert "a tier 0 board cannot show a breakdown chart" in lines
    assert "column 'clickz' does not exist in table 'fct_marketing_spend'" in lines
