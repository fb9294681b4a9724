"""What every page of the UI shares: the stores, the templates and the access check."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from keel.config import Settings
from keel.governance import Governance
from keel.store import SqlMetadataStore
from keel.tracking import TrackingClient
from keel.ui._access import Access, PrincipalHook

if TYPE_CHECKING:
    from keel.data._client import DataClient

__all__ = ["UiState"]

_HERE = Path(__file__).parent


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _secs(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


class UiState:
    """The stores, templates and access check behind every page.

    Args:
        settings: Where the stores are.
        hook: Returns the principal of a request.
        prefix: Where the UI's routes live (``""`` at the root).
    """

    def __init__(self, settings: Settings, hook: PrincipalHook, prefix: str = "") -> None:
        self.settings = settings
        self.prefix = prefix.rstrip("/")
        self.tracking = TrackingClient(settings)
        self.store: SqlMetadataStore = self.tracking.store
        self.access = Access(hook, Governance(self.store))
        self.env = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            time=_time, num=_num, secs=_secs, size=_size, q=lambda s: quote(str(s), "")
        )
        self.env.globals["urlencode"] = urlencode
        self._data_client: DataClient | None = None

    @property
    def data_client(self) -> DataClient:
        """The data capability's client over the same settings, opened on first use."""
        if self._data_client is None:
            from keel.data._client import DataClient

            self._data_client = DataClient(self.settings)
        return self._data_client

    def store_as(self, actor: str) -> SqlMetadataStore:
        """The store recording ``actor`` in audit events (sharing the engine)."""
        store = copy.copy(self.store)
        store.actor = actor
        return store

    def url(self, path: str) -> str:
        """``path`` under the UI's prefix."""
        return f"{self.prefix}{path}"

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """Render a page with the common context (principal, ``can``, CSRF token, base URL)."""

        def can(action: str, kind: str = "", ident: str = "") -> bool:
            return self.access.can(request, action, kind, ident)

        page = self.env.get_template(template).render(
            base=self.prefix,
            principal=self.access.principal(request),
            can=can,
            csrf=self.access.csrf_token(request),
            **context,
        )
        return HTMLResponse(page, status_code=status_code)
