"""``keel predict``: score a Parquet or CSV file with a registered model, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from keel.cli._output import console, console_err


def predict(
    model: Annotated[
        str, typer.Argument(help="Model URI: models:/NAME@ALIAS, models:/NAME/N, runs:/ID/PATH.")
    ],
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="The file to score (.parquet or .csv).")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write (.parquet or .csv).")
    ],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per predict call and per row group.")
    ] = 65_536,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="parquet or csv (default: the suffix).")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--output-format", help="parquet or csv (default: the suffix).")
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            help="Comma-separated input columns to copy to the output (default: all; '' none).",
        ),
    ] = None,
    prediction_column: Annotated[
        str, typer.Option("--prediction-column", help="Name of the prediction column.")
    ] = "prediction",
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing output.")
    ] = True,
) -> None:
    """Score a file with a model in chunks, streaming, and write the predictions atomically."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from keel.serving._batch import predict_batch

    keep_columns = None if keep is None else [c.strip() for c in keep.split(",") if c.strip()]
    with Progress(
        TextColumn("[bold]scoring[/]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console_err,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=None, rows=0)

        def on_chunk(rows: int, completed: int, total: int) -> None:
            bar.update(task, completed=completed, total=total, rows=rows)

        result = predict_batch(
            model,
            input_path,
            output_path,
            chunk_rows=chunk_rows,
            input_format=_fmt(input_format),
            output_format=_fmt(output_format),
            keep_columns=keep_columns,
            prediction_column=prediction_column,
            overwrite=overwrite,
            progress=on_chunk,
        )
    which = (
        f"{result.model_name} v{result.model_version}" if result.model_name else result.model_uri
    )
    console.print(
        f"Scored [bold]{result.num_rows:,}[/] rows with {which} in {result.num_chunks} chunk(s), "
        f"{result.duration_s:.1f}s -> {result.output} (sha256 {result.sha256[:12]}, "
        f"batch {result.id[:8]})",
        highlight=False,
    )


def _fmt(value: str | None) -> Literal["parquet", "csv"] | None:
    if value is None:
        return None
    low = value.lower()
    if low == "parquet":
        return "parquet"
    if low == "csv":
        return "csv"
    from keel.errors import InvalidArgumentError

    raise InvalidArgumentError(f"Unknown file format {value!r}. Use 'parquet' or 'csv'.")
