"""``keel serve``: serve a model URI or a deployment over HTTP with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from keel.cli._output import console


def serve(
    target: Annotated[
        str,
        typer.Argument(
            help="A model URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH) "
            "or a deployment name."
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", min=0, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    deployment: Annotated[
        str | None,
        typer.Option(help="For a model URI: the name to log predictions under."),
    ] = None,
    feature_service: Annotated[
        str | None, typer.Option(help='Feature service for {"entities": ...} requests.')
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body in bytes (larger: 413).", min=1)
    ] = 10 * 1024 * 1024,
    log_predictions: Annotated[
        bool, typer.Option("--log/--no-log", help="Write the prediction log.")
    ] = True,
    log_scores: Annotated[
        bool, typer.Option(help="Also log positive-class scores of binary classifiers.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log a line per request.")
    ] = False,
) -> None:
    """Serve a model or a deployment: POST /v1/predict, /v1/feedback; GET /v1/health, /metrics."""
    from keel.serving import serve as run

    console.print(
        f"Serving [bold]{target}[/] on [cyan]http://{host}:{port}[/] "
        f"({workers} worker{'s' if workers > 1 else ''}); docs at /docs, Ctrl+C to stop."
    )
    run(
        target,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        deployment=deployment,
        feature_service=feature_service,
        max_body_bytes=max_body_bytes,
        log_predictions=log_predictions,
        log_scores=log_scores,
    )
