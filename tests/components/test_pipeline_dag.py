"""The DAG component: layers by dependency, rows that keep readers near their inputs, the
drawing's nodes and edges, the phone list."""

from __future__ import annotations

import json

from plotly.utils import PlotlyJSONEncoder

from components.pipeline import dag_figure, dag_list, dag_nodes, layers
from tests.conftest import texts

TASKS = {
    "orders_raw": (),
    "customers_raw": (),
    "calendar": (),  # a transform that reads nothing (generated)
    "d_customer": ("customers_raw",),
    "f_order": ("orders_raw", "d_customer", "calendar"),
    "agg_order": ("f_order",),
}
KINDS = {"orders_raw": "source", "customers_raw": "source"}


def test_layers_put_each_task_after_its_deepest_input() -> None:
    assert layers(TASKS) == {
        "orders_raw": 0,
        "customers_raw": 0,
        "calendar": 0,
        "d_customer": 1,
        "f_order": 2,
        "agg_order": 3,
    }
    # with the sources named, only they are in layer 0
    assert layers(TASKS, ["orders_raw", "customers_raw"])["calendar"] == 1


def test_nodes_carry_status_output_and_kind() -> None:
    nodes = dag_nodes(TASKS, KINDS, ["f_order"], {"f_order": "failed", "d_customer": "ok"})
    by = {n.name: n for n in nodes}
    assert by["f_order"].status == "failed" and by["f_order"].output
    assert by["agg_order"].status == "not run" and not by["agg_order"].output
    assert by["orders_raw"].kind == "source" and by["calendar"].kind == "transform"
    assert [n.layer for n in nodes] == sorted(n.layer for n in nodes)


def test_the_figure_draws_one_edge_per_input_and_colours_by_status() -> None:
    nodes = dag_nodes(TASKS, KINDS, ["f_order"], {"f_order": "failed"})
    fig = dag_figure(nodes)
    edges = fig.data[0]
    assert list(edges.x).count(None) == sum(len(v) for v in TASKS.values())
    traces = {t.name: t for t in fig.data[1:]}
    assert set(traces) == {"failed", "not run"}
    assert list(traces["failed"].text) == ["<b>f_order</b>"]
    assert list(traces["failed"].marker.symbol) == ["square"]
    assert fig.layout.xaxis.ticktext[0] == "Sources"


def test_the_phone_list_names_every_task_under_its_layer() -> None:
    drawn = dag_list(dag_nodes(TASKS, KINDS, ["f_order"], {}), "x")
    shown = texts(json.loads(json.dumps(drawn, cls=PlotlyJSONEncoder)))
    assert shown[0] == "Sources"
    for name in TASKS:
        assert name in shown
    assert "reads orders_raw, d_customer, calendar" in shown
    assert shown.index("Transforms 3") < shown.index("agg_order")
