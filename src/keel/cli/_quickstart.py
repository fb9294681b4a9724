"""``keel quickstart``: run the whole lifecycle on built-in data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel.cli._output import console


def quickstart(
    epochs: Annotated[int, typer.Option(help="Training epochs per run.", min=1)] = 30,
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep",
            metavar="DIR",
            help="Make the store in DIR and leave it there for exploring "
            "(then: export KEEL_HOME=DIR). Without it, the store goes to KEEL_HOME when that "
            "variable is set, else to a temporary home removed at the end.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Run the whole lifecycle on built-in data and sum up what it did and found."""
    from keel.quickstart._main import quickstart_home, run_quickstart

    with quickstart_home(keep) as (home, temporary):
        run_quickstart(console, epochs=epochs, kept=home if keep else None, temporary=temporary)
