"""``keel cost``: resources used by runs, grouped, times the configured rates."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, fmt_bytes


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:,.2f} h"


def _money(value: float) -> str:
    return "<0.0001" if 0 < value < 0.0001 else f"{value:,.4f}"


def cost(
    by: Annotated[
        str, typer.Option("--by", help="'model', 'experiment', 'pipeline' or 'user'.")
    ] = "model",
    since: Annotated[
        str, typer.Option("--since", help="Runs started since: '30d', '12h', an ISO date.")
    ] = "30d",
    format: Annotated[str, typer.Option("--format", help="'table' or 'json'.")] = "table",
) -> None:
    """CPU time, wall time, peak memory and GPU time of runs, times the cost rates."""
    from keel.client._governance import cost as compute
    from keel.errors import InvalidArgumentError

    if format not in ("table", "json"):
        raise InvalidArgumentError(f"--format must be 'table' or 'json', got {format!r}.")
    report = compute(by, since)
    if format == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    r = report.rates
    window = f"in the last {since}" if since.strip()[-1:] in "smhdw" else f"since {since}"
    table = Table(title=f"Cost by {by}, runs started {window}")
    for col in ("", "runs", "CPU", "wall", "peak memory", "GiB·h", "GPU", "cost"):
        table.add_column(col, justify="left" if not col else "right")
    for line in [*report.lines, report.total]:
        total = line is report.total
        table.add_row(
            Text(line.key, style="bold" if total else ""),
            f"{line.runs:g}",
            _duration(line.cpu_seconds),
            _duration(line.wall_seconds),
            fmt_bytes(line.peak_memory_bytes),
            f"{line.gib_hours:.4f}",
            _duration(line.gpu_seconds),
            Text(_money(line.cost), style="bold" if total else ""),
            end_section=line is report.lines[-1] if report.lines else False,
        )
    console.print(table)
    console.print(
        "[dim]runs: top-level runs (a pipeline or study counts once, with its steps or trials). "
        f"Rates: cpu_hour={r.cpu_hour:g}, gb_hour={r.gb_hour:g}, gpu_hour={r.gpu_hour:g} "
        "(set KEEL_COST_RATES or cost_rates in keel.toml).[/]"
    )
