"""The Keel server: the REST API (FastAPI) over tracking, artifacts, registry and accounts.

``keel server --host 127.0.0.1 --port 5000`` serves the store of the server's settings (SQLite
and a local folder by default, PostgreSQL and S3 by ``KEEL_STORE_URI`` / ``KEEL_ARTIFACT_URI``)
under ``/api/v1/``. Every route declares its action and is authorized with
:func:`keel.governance.authorize`; tokens come as ``Authorization: Bearer <token>``.
"""

from keel.server._app import create_app, serve
from keel.server._context import ServerLimits

__all__ = ["ServerLimits", "create_app", "serve"]
