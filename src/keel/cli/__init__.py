"""The ``keel`` command line (Typer): one module per command group."""

from keel.cli._app import app, main

__all__ = ["app", "main"]
