"""The root ``keel`` command and its groups; errors become one red line and exit code 1."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer
import typer.main
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


#: The root's commands and groups, in help order: a Typer app (a group) or a command function.
#: They are built into Click objects only when named: building all of them takes longer than
#: most commands run (``keel features apply`` is a fresh process each time).
_ENTRIES: dict[str, typer.Typer | Callable[..., Any]] = {
    "agent": _automation_cli.agent,
    "doctor": _doctor.doctor,
    "quickstart": _quickstart.quickstart,
    "serve": _serve_cli.serve,
    "deploy": _deploy_cli.deploy,
    "gc": _gc_cli.gc,
    "lineage": _lineage_cli.lineage,
    "cost": _cost_cli.cost,
    "predict": _predict_cli.predict,
    "server": _server_cli.server,
    "ui": _ui_cli.ui,
    "experiments": _experiments.app,
    "runs": _runs.app,
    "db": _db.app,
    "data": _data_cli.app,
    "features": _features_cli.app,
    "models": _models_cli.app,
    "monitor": _monitor_cli.app,
    "pipeline": _pipeline_cli.app,
    "import": _import_cli.app,
    "prompts": _llm_cli.prompts_app,
    "eval": _llm_cli.eval_app,
    "traces": _llm_cli.traces_app,
    "policies": _automation_cli.app,
    "retention": _gc_cli.retention_app,
    "audit": _audit_cli.app,
    "report": _report_cli.app,
    "users": _users_cli.users_app,
    "tokens": _users_cli.tokens_app,
    "projects": _users_cli.projects_app,
}
_runs.app.command("delete")(_gc_cli.runs_delete)
_runs.app.command("restore")(_gc_cli.runs_restore)
_data_cli.app.command("delete")(_gc_cli.data_delete)


def _noop() -> None:
    """A callback that makes a one-entry Typer app a group."""


def _build(name: str) -> Any:
    """Build the Click command or group of one root entry, as ``add_typer``/``command`` would."""
    entry = _ENTRIES[name]
    holder = typer.Typer(
        add_completion=False,
        pretty_exceptions_enable=False,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    if isinstance(entry, typer.Typer):
        holder.add_typer(entry, name=name)
    else:
        holder.command(name)(entry)
    holder.callback()(_noop)
    return typer.main.get_group(holder).commands[name]


class _LazyCommands(MutableMapping[str, Any]):
    """The root's commands by name, each built on first access; iterating builds nothing."""

    def __init__(self, built: dict[str, Any]) -> None:
        self._built = built

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in _ENTRIES:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("The root commands of keel cannot be removed.")

    def __iter__(self) -> Iterator[str]:
        yield from _ENTRIES
        yield from (n for n in self._built if n not in _ENTRIES)

    def __len__(self) -> int:
        return len(_ENTRIES) + sum(1 for n in self._built if n not in _ENTRIES)

    def __contains__(self, name: object) -> bool:
        return name in _ENTRIES or name in self._built


class _KeelGroup(TyperGroup):
    """The root group: a Keel error in any command becomes one red line and exit code 1.

    Its commands are built when named (see ``_ENTRIES``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(dict(self.commands))

    def list_commands(self, ctx: Any) -> list[str]:
        """Return the command names in help order, without building the commands."""
        return list(self.commands)

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
