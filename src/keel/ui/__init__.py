"""The web UI: experiments, runs, comparisons, the registry, lineage, datasets and the audit log.

Server-rendered pages (Jinja2) with inline SVG charts and a little plain JavaScript; nothing is
loaded from a CDN, so it works offline. ``keel ui`` serves it over the local store as the local
administrator; a server includes :func:`create_ui_router` with its own principal hook, and the
pages then hide what the principal's roles do not allow (a viewer sees no approve button) and
answer 403 for pages it may not see::

    app.include_router(create_ui_router(settings, principal=principal_of_request))
"""

from keel.ui._access import Access, PrincipalHook, embedded_principal
from keel.ui._app import create_ui_app, create_ui_router, serve_ui

__all__ = [
    "Access",
    "PrincipalHook",
    "create_ui_app",
    "create_ui_router",
    "embedded_principal",
    "serve_ui",
]
