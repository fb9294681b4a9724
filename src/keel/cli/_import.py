"""``keel import``: copy another tool's store into Keel (``keel import mlflow``)."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, console_err

app = typer.Typer(help="Import from other tools (MLflow).", no_args_is_help=True)

_KINDS = [
    "experiments",
    "runs",
    "params",
    "tags",
    "metric_points",
    "artifacts",
    "artifact_bytes",
    "registered_models",
    "model_versions",
    "aliases",
]


@app.command("mlflow")
def import_mlflow(
    source: str = typer.Option(
        ...,
        "--from",
        help="The MLflow store: sqlite:///mlflow.db, postgresql://..., an mlruns folder, "
        "or a tracking server URL (http://127.0.0.1:5000).",
    ),
) -> None:
    """Copy experiments, runs, metrics, artifacts and registered models from MLflow.

    Safe to run again: what an earlier import copied is skipped. Prints what could not be
    mapped to Keel.
    """
    from keel.interop import import_mlflow as run_import

    with console_err.status(f"Importing from {source} ...") as status:
        report = run_import(source, progress=lambda line: status.update(f"Importing {line}"))
    table = Table(title=f"Imported from {report.source}")
    table.add_column("what", style="bold")
    table.add_column("created", justify="right")
    table.add_column("already imported", justify="right")
    for kind in _KINDS:
        table.add_row(
            kind.replace("_", " "),
            f"{report.created.get(kind, 0):,}",
            f"{report.skipped.get(kind, 0):,}" if kind in report.skipped else "-",
        )
    console.print(table)
    finished = report.created.get("runs_finished", 0)
    if finished:
        console.print(f"Finished {finished} run(s) an interrupted earlier import left half-copied.")
    if report.unmapped:
        console.print(Text(f"Not mapped ({len(report.unmapped)}):", style="bold yellow"))
        for line in report.unmapped:
            console.print(Text(f"  - {line}"), soft_wrap=True)
    elif sum(report.created.values()) == 0:
        console.print("Nothing new to import: everything was imported before.")
    else:
        console.print("Everything was mapped.")
