"""The FastAPI app of ``keel server`` and the function that runs it under uvicorn."""

from __future__ import annotations

import importlib.util
import secrets
from typing import Any

from fastapi import FastAPI

from keel._version import __version__
from keel.artifacts import open_artifact_store
from keel.config import Settings, get_settings
from keel.errors import InvalidArgumentError
from keel.server._context import ServerLimits, ServerState
from keel.server._http import BodyGuard, KeelJSONResponse, install_error_handlers
from keel.store import SqlMetadataStore

__all__ = ["api_routers", "create_app", "serve"]


def api_routers() -> list[Any]:
    """The routers of ``/api/v1``, in the order they are mounted."""
    from keel.server import _accounts, _blobs, _governance, _registry, _tracking

    return [m.router for m in (_accounts, _tracking, _blobs, _registry, _governance)]


def create_app(
    settings: Settings | None = None,
    limits: ServerLimits | None = None,
    *,
    session_secret: bytes | None = None,
    ui: bool = True,
) -> FastAPI:
    """Build the REST API over the store and artifact store of ``settings``, and the web UI.

    Args:
        settings: The server's settings; its ``store_uri`` and ``artifact_uri`` are served.
        limits: Body sizes and the bad-token rate limit.
        session_secret: The key that signs UI session cookies and form tokens; random per
            process by default (sessions then end when the server restarts).
        ui: Whether to serve the web UI at ``/`` (needs ``keel[ui]``; skipped without it).

    Raises:
        InvalidArgumentError: ``settings.tracking_uri`` points at a server (the server serves
            a store; it does not forward to another server).
    """
    settings = settings or get_settings()
    if settings.tracking_uri and settings.tracking_uri.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            f"KEEL_TRACKING_URI is {settings.tracking_uri!r}: a server serves its own store. "
            "Unset KEEL_TRACKING_URI and set KEEL_STORE_URI / KEEL_ARTIFACT_URI for the server."
        )
    limits = limits or ServerLimits()
    store = SqlMetadataStore(settings.store_uri, actor="server")
    artifacts = open_artifact_store(settings.artifact_uri, s3_endpoint_url=settings.s3_endpoint_url)
    app = FastAPI(
        title="Keel",
        version=__version__,
        description="The REST API of a Keel server. Send 'Authorization: Bearer <token>'.",
        default_response_class=KeelJSONResponse,
    )
    app.state.keel = ServerState(settings, store, artifacts, limits)
    install_error_handlers(app)
    for router in api_routers():
        app.include_router(router)
    if ui and _ui_installed():
        from keel.server._session import install_sessions, session_hook
        from keel.ui import create_ui_router

        secret = session_secret or secrets.token_bytes(32)
        install_sessions(app, app.state.keel, secret)
        hook = session_hook(app.state.keel, secret)
        app.include_router(create_ui_router(settings, principal=hook, csrf_secret=secret))
    app.add_middleware(
        BodyGuard, max_body_bytes=limits.max_body_bytes, max_upload_bytes=limits.max_upload_bytes
    )
    _declare_bearer_auth(app)
    return app


def _ui_installed() -> bool:
    return importlib.util.find_spec("jinja2") is not None


def _declare_bearer_auth(app: FastAPI) -> None:
    """Name the bearer token in the OpenAPI spec (every route but the health check needs it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        spec.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "keel_<id>_<secret>"}
        }
        for ops in spec["paths"].values():
            for op in ops.values():
                if op.get("x-keel-resource") != "public":
                    op["security"] = [{"bearer": []}]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def serve(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Run the server under uvicorn until interrupted.

    Args:
        host: Address to bind (``127.0.0.1`` by default; ``0.0.0.0`` to listen on every one).
        port: Port to bind.
    """
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)
