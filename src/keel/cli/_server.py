"""``keel server``: run the REST API over the store of the current settings."""

from __future__ import annotations

from typing import Annotated

import typer


def server(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 5000,
) -> None:
    """Serve the REST API (SQLite + local files by default; PostgreSQL + S3 by settings)."""
    try:
        from keel.server import serve
    except ImportError as exc:
        from keel.errors import MissingDependencyError

        raise MissingDependencyError.for_extra(
            exc.name or "fastapi", "server", "Keel server"
        ) from exc
    serve(host, port)
