"""``keel report``: compliance documentation of a model version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel.cli._output import console

app = typer.Typer(
    help="Reports: technical documentation for reviews and audits.", no_args_is_help=True
)


@app.command("compliance")
def compliance(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[int, typer.Argument(help="The version number.")],
    format: Annotated[str, typer.Option("--format", "-f", help="'html' or 'md'.")] = "html",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Purpose, data and lineage, validation, metrics, gates, approvals, monitoring, audit."""
    from keel.client._governance import compliance_report_text

    text = compliance_report_text(name, version, format)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"Wrote the compliance report of {name} v{version} to {output}.")
