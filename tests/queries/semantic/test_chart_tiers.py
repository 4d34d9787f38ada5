"""Each tier's board accepts only the chart types its page renders (and what they need)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ModelError, Problem
from queries.boards import tier0
from queries.semantic.model import load_model, parse_model
from queries.semantic.types import CHART_TYPES, TIER_CHARTS

TINY_TEXT = (Path(__file__).parents[1] / "models" / "tiny.yaml").read_text()


def board(tier: int, *charts: str) -> str:
    lines = "".join(f"          - {c}\n" for c in charts)
    return f"  extra:\n    tier: {tier}\n    sections:\n      - charts:\n{lines}"


def problems(text: str) -> list[Problem]:
    with pytest.raises(ModelError) as info:
        parse_model(text, "m.yaml")
    return list(info.value.problems)


def test_the_tier0_page_and_the_validator_agree() -> None:
    assert TIER_CHARTS[0] == tier0.TIER0_CHARTS
    assert TIER_CHARTS[1] == CHART_TYPES


@pytest.mark.parametrize("kind", ["stacked_bar", "table", "funnel", "cohort", "breakdown"])
def test_tier0_refuses_a_tier1_chart_naming_the_key_and_what_it_accepts(kind: str) -> None:
    found = problems(TINY_TEXT + board(0, f"{{type: {kind}, metrics: [sales, units], by: city}}"))
    assert [(p.key, p.message) for p in found] == [
        (
            "boards.extra.sections.0.charts.0.type",
            f"a tier 0 board cannot show a {kind} chart (a tier 1 chart): "
            "tier 0 accepts line, bar, area",
        )
    ]
    assert found[0].line == len(TINY_TEXT.splitlines()) + 5


def test_tier0_accepts_its_own_types() -> None:
    text = TINY_TEXT + board(
        0,
        "{type: line, metric: sales}",
        "{type: area, metric: sales}",
        "{type: bar, metric: sales, by: city}",
    )
    assert [c.type for c in parse_model(text).boards["extra"].sections[0].charts] == [
        "line",
        "area",
        "bar",
    ]


def test_tier1_accepts_every_type_with_what_it_needs() -> None:
    text = TINY_TEXT + board(
        1,
        "{type: line, metric: sales}",
        "{type: area, metric: sales}",
        "{type: bar, metric: sales, by: city}",
        "{type: stacked_bar, metric: sales, by: city}",
        "{type: table, metrics: [sales, units], by: city}",
        "{type: breakdown, metrics: [sales, units], by: city}",
        "{type: funnel, metrics: [sales, units]}",
        "{type: cohort, metric: units, cohort: country}",
    )
    charts = parse_model(text).boards["extra"].sections[0].charts
    assert {c.type for c in charts} == set(CHART_TYPES)


def test_charts_that_would_run_nothing_are_refused() -> None:
    found = problems(
        TINY_TEXT
        + board(
            1,
            "{type: bar, metric: sales}",
            "{type: table, metrics: [sales, units]}",
            "{type: cohort, metric: units}",
            "{type: cohort, metric: units, cohort: contry}",
        )
        + board(0, "{type: bar, metric: sales}").replace("extra:", "extra0:")
    )
    messages = {p.key: p.message for p in found}
    key = "boards.extra.sections.0.charts"
    assert messages == {
        f"{key}.0": "a bar chart needs `by: <dimension>` (what it splits by)",
        f"{key}.1": "a table chart needs `by: <dimension>` (what it splits by)",
        f"{key}.2": "a cohort chart needs `cohort: <dimension on the signup date>`",
        f"{key}.3.cohort": "unknown dimension 'contry'; did you mean 'country'?",
        "boards.extra0.sections.0.charts.0": "a bar chart needs `by: <dimension>` "
        "(what it splits by)",
    }


def test_tier2_boards_hold_no_charts() -> None:
    found = problems(TINY_TEXT + board(2, "{type: line, metric: sales}"))
    assert [p.key for p in found] == ["boards.extra.sections.0.charts.0.type"]
    assert "a tier 2 board shows no charts" in found[0].message
    assert "/t2/explore" in found[0].message


@pytest.mark.parametrize(
    "path",
    [
        *sorted(Path("queries/models").glob("*.yaml")),
        Path("tests/queries/models/tiny.yaml"),
        Path("tests/queries/models/support.yaml"),
    ],
    ids=str,
)
def test_shipped_models_still_load(path: Path) -> None:
    load_model(path)
