"""``keel quickstart``: run the whole lifecycle on built-in data."""

from __future__ import annotations

from typing import Annotated

import typer

from keel.cli._output import console


def quickstart(
    epochs: Annotated[int, typer.Option(help="Training epochs per run.", min=1)] = 30,
) -> None:
    """Run the whole lifecycle on built-in data and print how to look at the results."""
    from keel.quickstart import run_quickstart

    run_quickstart(console, epochs=epochs)
