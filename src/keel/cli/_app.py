"""The root ``keel`` command and its groups; errors become one red line and exit code 1."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from keel._version import __version__
from keel.cli import _data as _data_cli
from keel.cli import _db, _doctor, _experiments, _quickstart, _runs
from keel.cli import _features as _features_cli
from keel.cli import _models as _models_cli
from keel.cli import _monitor as _monitor_cli
from keel.cli import _pipeline as _pipeline_cli
from keel.cli._output import console_err
from keel.errors import KeelError


def _print_error(exc: KeelError) -> None:
    # Text, not markup: messages quote user values, which may contain "[...]".
    console_err.print(
        Text.assemble(("Error:", "bold red"), " ", exc.message), soft_wrap=True, highlight=False
    )


class _KeelGroup(TyperGroup):
    """The root group: a Keel error in any command becomes one red line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command, turning a :class:`KeelError` into ``Error: ...`` on stderr."""
        try:
            return super().invoke(ctx)
        except KeelError as exc:
            _print_error(exc)
            raise typer.Exit(1) from exc


app = typer.Typer(
    name="keel",
    cls=_KeelGroup,
    help="Keel: track, version, validate, train, register, serve and monitor ML models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_runs.app, name="runs")
app.add_typer(_db.app, name="db")
app.add_typer(_data_cli.app, name="data")
app.add_typer(_features_cli.app, name="features")
app.add_typer(_models_cli.app, name="models")
app.add_typer(_monitor_cli.app, name="monitor")
app.add_typer(_pipeline_cli.app, name="pipeline")
app.command("agent")(_pipeline_cli.agent)
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
    """Run the CLI: usage errors and exit codes as Click reports them, Keel errors as one line."""
    try:
        app()  # standalone mode: Click prints usage errors and exits with each command's code
    except KeelError as exc:  # raised outside a command, e.g. while parsing options
        _print_error(exc)
        sys.exit(1)
