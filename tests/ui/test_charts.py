"""The server-side SVG charts: escaping, thinning, odd values, and the graph layout."""

from __future__ import annotations

import math

from keel.ui._charts import GraphBox, bar_chart, compare_chart, graph_svg, line_chart
from keel.ui._ops import dag_depths


def test_line_chart_escapes_names_and_skips_non_finite_values() -> None:
    svg = str(
        line_chart(
            {"<script>x</script>": [(0, 1.0), (1, math.nan), (2, math.inf), (3, 2.0)]},
            title="a & b",
        )
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "<title>a &amp; b</title>" in svg
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) == 2  # NaN and inf are left out


def test_line_chart_thins_long_series_and_handles_empty_and_flat_ones() -> None:
    svg = str(line_chart({"loss": [(i, 1 / (i + 1)) for i in range(100_000)]}, title="loss"))
    assert len(svg.split('points="')[1].split('"')[0].split()) <= 601
    assert "no finite values" in str(line_chart({"x": [(0, math.nan)]}, title="x"))
    flat = str(line_chart({"x": [(0, 5.0), (1, 5.0)]}, title="flat"))
    assert "<polyline" in flat
    single = str(line_chart({"x": [(3, 0.5)]}, title="one point"))
    assert "<circle" in single


def test_bar_chart_draws_one_bar_per_value() -> None:
    svg = str(bar_chart(["a", "b", "c"], [1.0, 0.0, 3.0], title="counts", axis=("0", "9")))
    assert svg.count("<rect") == 3
    assert ">0</text>" in svg
    assert ">9</text>" in svg


def test_graph_links_its_nodes_and_draws_edges_between_known_ones() -> None:
    boxes = [
        GraphBox("run:1", "1", "run", 0, href="/runs/1", root=True),
        GraphBox("model_version:m/1", "m/1", "model_version", 1, href="/models/m/versions/1"),
    ]
    svg = str(
        graph_svg(
            boxes, [("run:1", "model_version:m/1", "output"), ("x:1", "run:1", "input")], title="g"
        )
    )
    assert '<a href="/runs/1" aria-label="run:1">' in svg
    assert svg.count('class="edge"') == 1  # the edge to an unknown node is not drawn
    assert 'class="node root"' in svg


def test_dag_depths_follow_the_longest_path() -> None:
    dag = [
        {"name": "a", "upstream": [], "after": []},
        {"name": "b", "upstream": ["a"], "after": []},
        {"name": "c", "upstream": ["a", "b"], "after": []},
        {"name": "d", "upstream": [], "after": ["c"]},
    ]
    assert dag_depths(dag) == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_compare_chart_draws_each_series_with_a_legend_and_escapes() -> None:
    svg = str(
        compare_chart(
            ["0 to 1", "1 to <2>"],
            {"reference": [0.25, 0.75], "current": [math.nan, 1.0]},
            title="x & y",
            axis=("0", "2"),
        )
    )
    assert "<title>x &amp; y</title>" in svg
    assert 'data-series="reference"' in svg
    assert 'data-series="current"' in svg
    assert "1 to &lt;2&gt;" in svg
    assert "current 0 to 1: 0.0%" in svg  # NaN drawn as an empty bar
    assert "reference 1 to &lt;2&gt;: 75.0%" in svg
    assert svg.count("<rect ") == 4 + 2  # two bars per series, two legend swatches
    empty = str(compare_chart([], {"reference": [], "current": []}, title="nothing"))
    assert empty.startswith("<svg")
    assert empty.endswith("</svg>")
