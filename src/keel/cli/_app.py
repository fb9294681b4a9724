"""The root ``keel`` command and its groups; errors become one red line and exit code 1."""

from __future__ import annotations

import sys

import typer

from keel._version import __version__
from keel.cli import _db, _doctor, _experiments, _quickstart, _runs
from keel.cli._output import console_err
from keel.errors import KeelError

app = typer.Typer(
    name="keel",
    help="Keel: track, version, validate, train, register, serve and monitor ML models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_runs.app, name="runs")
app.add_typer(_db.app, name="db")
app.command("doctor")(_doctor.doctor)
app.command("quickstart")(_quickstart.quickstart)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"keel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Keel: one platform for the machine-learning lifecycle."""


def main() -> None:
    """Run the CLI, printing Keel errors as one readable line instead of a traceback."""
    try:
        app(standalone_mode=False)
    except KeelError as exc:
        console_err.print(f"[bold red]Error:[/] {exc.message}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console_err.print("Aborted.")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
