"""``keel ui``: serve the web UI over the store of the current settings."""

from __future__ import annotations

from typing import Annotated

import typer


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8765,
) -> None:
    """Serve the web UI over the local store, as the local administrator."""
    try:
        from keel.ui import serve_ui
    except ImportError as exc:
        from keel.errors import MissingDependencyError

        raise MissingDependencyError.for_extra(exc.name or "fastapi", "ui", "The web UI") from exc
    typer.echo(f"Keel UI on http://{host}:{port}/ (Ctrl+C to stop)")
    serve_ui(host, port)
