"""The explorer's chart: metrics in different units are not read on one scale."""

from __future__ import annotations

import pandas as pd

from components.explore import chart

LABELS = {
    "device": "Device",
    "conversion_rate": "Conversion rate",
    "visitors": "Visitors",
    "buyers": "Buyers",
}
FORMATS = {"conversion_rate": "percent", "visitors": "number", "buyers": "number"}
FRAME = pd.DataFrame(
    {
        "device": ["desktop", "mobile"],
        "conversion_rate": [0.08, 0.04],
        "visitors": [7867, 8223],
        "buyers": [585, 318],
    }
)


def test_a_rate_beside_counts_gets_its_own_axis() -> None:
    fig, _ = chart(
        "bar", FRAME, ["device"], ["visitors", "buyers", "conversion_rate"], LABELS, FORMATS
    )
    assert [(t.name, t.yaxis) for t in fig.data] == [
        ("Visitors", "y"),
        ("Buyers", "y"),
        ("Conversion rate", "y2"),
    ]
    assert fig.layout.yaxis.tickformat == "~s"
    assert fig.layout.yaxis2.tickformat == ".0%"
    assert fig.layout.yaxis2.title.text == "Conversion rate"


def test_metrics_of_one_unit_share_the_axis() -> None:
    fig, _ = chart("line", FRAME, ["device"], ["visitors", "buyers"], LABELS, FORMATS)
    assert {t.yaxis for t in fig.data} == {"y"}
    assert "yaxis2" not in fig.to_plotly_json()["layout"]
