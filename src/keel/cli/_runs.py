"""``keel runs``: list, show and compare runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import STATUS_STYLE, console, fmt_bytes, fmt_duration, fmt_time, fmt_value

app = typer.Typer(help="Runs: list, inspect and compare tracked runs.", no_args_is_help=True)


@app.command("ls")
def list_runs(
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Experiment name or id.")],
    filter: Annotated[
        str | None, typer.Option("--filter", "-f", help='e.g. "metrics.auc > 0.9".')
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help='e.g. "metrics.auc DESC".')
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most runs to show.")] = 50,
) -> None:
    """List the runs of an experiment, newest first, with their latest metrics."""
    from keel.tracking import get_client

    runs, token = get_client().search_runs(experiment, filter, order_by, max_results=limit)
    metric_keys = sorted({k for r in runs for k in r.data.metrics})[:8]
    table = Table(title=f"Runs of {experiment!r}")
    table.add_column("run id", style="bold")
    table.add_column("name")
    table.add_column("status")
    table.add_column("started")
    table.add_column("duration", justify="right")
    for key in metric_keys:
        table.add_column(key, justify="right")
    for r in runs:
        status = str(r.info.status)
        table.add_row(
            r.id[:8],
            Text(r.info.name),  # Text, not markup: names and values may contain "[...]"
            Text(status, style=STATUS_STYLE.get(status, "white")),
            fmt_time(r.info.start_time),
            fmt_duration(r.info.start_time, r.info.end_time),
            *[fmt_value(r.data.metrics.get(k)) for k in metric_keys],
        )
    console.print(table)
    if token:
        console.print(f"[dim]More runs exist; raise --limit (now {limit}).[/]")


@app.command("show")
def show_run(run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix.")]) -> None:
    """Show a run: info, environment, resources, params, metrics, tags and artifacts."""
    from keel.tracking import get_client

    client = get_client()
    run = client.get_run(client.resolve_run_id(run_id))
    i = run.info
    info = Table(title=f"Run {i.id}", show_header=False)
    info.add_column("field", style="bold")
    info.add_column("value")
    status = str(i.status)
    info.add_row("name", Text(i.name))
    info.add_row("experiment", i.experiment_id)
    info.add_row("status", Text(status, style=STATUS_STYLE.get(status, "white")))
    for field, value in [
        ("started", fmt_time(i.start_time)),
        ("ended", fmt_time(i.end_time)),
        ("parent run", i.parent_run_id or "-"),
        ("user", i.user),
        ("source", i.source or "-"),
        ("git commit", (i.git_commit or "-") + (" (dirty)" if i.git_dirty else "")),
        ("python", i.python_version or "-"),
        ("host / pid", f"{i.hostname or '-'} / {i.pid or '-'}"),
        ("wall time", "-" if i.wall_time_s is None else f"{i.wall_time_s:.2f}s"),
        ("CPU time", "-" if i.cpu_time_s is None else f"{i.cpu_time_s:.2f}s"),
        ("peak RSS", fmt_bytes(i.peak_rss_bytes)),
    ]:
        info.add_row(field, Text(str(value)))
    console.print(info)
    sections: list[tuple[str, dict[str, str]]] = [
        ("Params", run.data.params),
        ("Metrics (latest)", {k: fmt_value(v) for k, v in run.data.metrics.items()}),
        ("Tags", run.data.tags),
    ]
    for title, data in sections:
        if data:
            t = Table(title=title)
            t.add_column("key", style="bold")
            t.add_column("value")
            for k in sorted(data):
                t.add_row(Text(k), Text(data[k]))
            console.print(t)
    artifacts = client.list_artifacts(i.id)
    if artifacts:
        t = Table(title="Artifacts")
        t.add_column("path", style="bold")
        t.add_column("size", justify="right")
        t.add_column("sha256")
        for a in artifacts:
            t.add_row(Text(a.path), fmt_bytes(a.size), a.digest[:12])
        console.print(t)


@app.command("compare")
def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
) -> None:
    """Compare runs side by side: params (differences highlighted) and latest metrics."""
    from keel.errors import InvalidArgumentError
    from keel.tracking import get_client

    if len(run_ids) < 2:
        raise InvalidArgumentError(f"Give at least two run ids to compare, got {run_ids!r}.")
    client = get_client()
    runs = [client.get_run(client.resolve_run_id(r)) for r in run_ids]
    table = Table(title="Run comparison")
    table.add_column("", style="bold")
    for r in runs:
        table.add_column(Text(f"{r.info.name}\n{r.id[:8]}"), justify="right")
    table.add_row("status", *[str(r.info.status) for r in runs])
    table.add_row("duration", *[fmt_duration(r.info.start_time, r.info.end_time) for r in runs])
    columns: list[tuple[str, list[dict[str, str]]]] = [
        ("params", [r.data.params for r in runs]),
        ("metrics", [{k: fmt_value(v) for k, v in r.data.metrics.items()} for r in runs]),
    ]
    for section, per_run in columns:
        keys = sorted({k for d in per_run for k in d})
        if keys:
            table.add_section()
        for k in keys:
            cells = [d.get(k, "-") for d in per_run]
            style = "yellow" if len(set(cells)) > 1 else ""
            table.add_row(Text(f"{section}.{k}"), *[Text(c, style=style) for c in cells])
    console.print(table)
    console.print("[dim]Rows in yellow differ between runs.[/]")
