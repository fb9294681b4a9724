"""The root ``keel`` command and its groups; errors become one red line and exit code 1."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from keel._version import __version__
from keel.cli import _audit as _audit_cli
from keel.cli import _automation as _automation_cli
from keel.cli import _cost as _cost_cli
from keel.cli import _data as _data_cli
from keel.cli import _db, _doctor, _experiments, _quickstart, _runs
from keel.cli import _deploy as _deploy_cli
from keel.cli import _features as _features_cli
from keel.cli import _gc as _gc_cli
from keel.cli import _import as _import_cli
from keel.cli import _lineage as _lineage_cli
from keel.cli import _llm as _llm_cli
from keel.cli import _models as _models_cli
from keel.cli import _monitor as _monitor_cli
from keel.cli import _pipeline as _pipeline_cli
from keel.cli import _predict as _predict_cli
from keel.cli import _report as _report_cli
from keel.cli import _serve as _serve_cli
from keel.cli import _server as _server_cli
from keel.cli import _ui as _ui_cli
from keel.cli import _users as _users_cli
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
app.add_typer(_import_cli.app, name="import")
app.add_typer(_llm_cli.prompts_app, name="prompts")
app.add_typer(_llm_cli.eval_app, name="eval")
app.add_typer(_llm_cli.traces_app, name="traces")
app.command("agent")(_automation_cli.agent)
app.add_typer(_automation_cli.app, name="policies")
app.command("doctor")(_doctor.doctor)
app.command("quickstart")(_quickstart.quickstart)
app.command("serve")(_serve_cli.serve)
app.command("deploy")(_deploy_cli.deploy)
app.command("gc")(_gc_cli.gc)
app.add_typer(_gc_cli.retention_app, name="retention")
_runs.app.command("delete")(_gc_cli.runs_delete)
_runs.app.command("restore")(_gc_cli.runs_restore)
_data_cli.app.command("delete")(_gc_cli.data_delete)
app.add_typer(_audit_cli.app, name="audit")
app.add_typer(_report_cli.app, name="report")
app.command("lineage")(_lineage_cli.lineage)
app.command("cost")(_cost_cli.cost)
app.command("predict")(_predict_cli.predict)
app.command("server")(_server_cli.server)
app.command("ui")(_ui_cli.ui)
app.add_typer(_users_cli.users_app, name="users")
app.add_typer(_users_cli.tokens_app, name="tokens")
app.add_typer(_users_cli.projects_app, name="projects")


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
