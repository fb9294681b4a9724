"""``keel experiments``: list experiments."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, fmt_time

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)


@app.command("ls")
def list_experiments() -> None:
    """List experiments with their number of runs."""
    from keel.tracking import get_client

    store = get_client().store
    exps = store.list_experiments()
    counts = store.count_runs([e.id for e in exps])
    table = Table(title="Experiments")
    table.add_column("name", style="bold")
    table.add_column("id")
    table.add_column("runs", justify="right")
    table.add_column("created")
    for e in exps:
        table.add_row(Text(e.name), e.id, str(counts.get(e.id, 0)), fmt_time(e.created_at))
    console.print(table)
