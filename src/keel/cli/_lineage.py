"""``keel lineage``: walk the lineage graph up or down from a model, dataset, run or prediction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

from keel.cli._output import console
from keel.errors import InvalidArgumentError

if TYPE_CHECKING:
    from keel.governance._lineage import LineageGraph, LineageNode

_STYLE = {
    "model_version": "bold magenta",
    "dataset_version": "bold cyan",
    "data_validation": "cyan",
    "run": "bold green",
    "step_run": "green",
    "commit": "yellow",
    "deployment": "bold blue",
    "prediction": "bold blue",
    "prediction_batch": "blue",
    "feature_view": "bright_cyan",
    "feature_service": "bright_cyan",
    "monitor": "red",
}


def _label(node: LineageNode, relation: str | None) -> Text:
    text = Text()
    if relation:
        text.append(f"{relation} ", style="dim")
    text.append(node.kind, style=_STYLE.get(node.kind, "white"))
    text.append(" ")
    text.append(node.id if node.kind != "artifact" else node.id[:12])
    p = node.properties
    extra: list[str] = []
    if "missing" in p:
        extra.append(f"missing: {p['missing']}")
    for key in ("name", "pipeline", "step", "status", "flavor", "rows", "suite", "deployment"):
        if p.get(key) not in (None, ""):
            extra.append(f"{key}={p[key]}")
    if "passed" in p:
        extra.append("passed" if p["passed"] else "FAILED")
    for v in p.get("validations", [])[:3]:
        extra.append(f"validation {v['suite']}: {'passed' if v['passed'] else 'FAILED'}")
    if node.kind == "prediction":
        extra.append(f"prediction={p.get('prediction')} at {p.get('timestamp')}")
    if node.kind == "commit" and p.get("dirty"):
        extra.append("uncommitted changes")
    if extra:
        text.append("  " + ", ".join(str(e) for e in extra), style="dim")
    return text


def render_tree(graph: LineageGraph) -> Tree:
    """Render a lineage graph as a Rich tree; nodes reached twice point back to the first."""
    tree = Tree(_label(graph.root, None))
    shown = {graph.root.key}

    def grow(branch: Tree, node: LineageNode) -> None:
        for edge, far in graph.children(node):
            if far.key in shown:
                label = _label(far, edge.relation)
                label.append("  (shown above)", style="dim italic")
                branch.add(label)
                continue
            shown.add(far.key)
            grow(branch.add(_label(far, edge.relation)), far)

    grow(tree, graph.root)
    return tree


def lineage(
    ref: Annotated[
        str,
        typer.Argument(
            help="models:/NAME/N (or @alias), dataset:NAME@vN, run:ID, prediction:ID, "
            "deployment:NAME, or KIND:ID."
        ),
    ],
    upstream: Annotated[
        bool, typer.Option("--upstream", help="What it came from (the default).")
    ] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="What came from it.")] = False,
    depth: Annotated[
        int | None, typer.Option("--depth", "-d", min=0, help="Most edges to walk.")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="'tree' or 'json'.")] = "tree",
) -> None:
    """Show the lineage of a model version, dataset, run, deployment or one prediction."""
    from keel.client._governance import lineage as walk

    if upstream and downstream:
        raise InvalidArgumentError("Give --upstream or --downstream, not both.")
    if format not in ("tree", "json"):
        raise InvalidArgumentError(f"--format must be 'tree' or 'json', got {format!r}.")
    graph = walk(ref, "downstream" if downstream else "upstream", depth)
    if format == "json":
        data: dict[str, Any] = graph.to_dict()
        typer.echo(json.dumps(data, indent=2))
        return
    console.print(render_tree(graph))
    console.print(
        f"[dim]{len(graph.nodes)} nodes, {len(graph.edges)} edges "
        f"{graph.direction}{' (truncated)' if graph.truncated else ''}.[/]"
    )
