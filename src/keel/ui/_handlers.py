"""How a page handler runs: its permission check, and Keel errors turned into HTML pages."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keel.errors import HTTP_STATUS, KeelError, PermissionDeniedError
from keel.ui._state import UiState

__all__ = ["Handler", "page_wrapper", "require"]

Handler = Callable[..., Awaitable[Response]]


def page_wrapper(state: UiState) -> Callable[[Handler], Handler]:
    """Turn Keel errors raised by a page into an HTML error page with the error's status."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def inner(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await fn(request, *args, **kwargs)
            except KeelError as exc:
                status = HTTP_STATUS.get(exc.code, 500)
                return state.render(
                    request,
                    "error.html",
                    status_code=status,
                    title={403: "Forbidden", 404: "Not found"}.get(status, "Error"),
                    status=status,
                    message=exc.message,
                )

        inner.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
        return inner

    return wrap


def require(state: UiState, request: Request, action: str, kind: str = "", ident: str = "") -> None:
    """Raise unless the request's principal may take ``action`` on ``kind:ident``.

    Raises:
        PermissionDeniedError: It may not (the page wrapper answers 403).
    """
    if not state.access.can(request, action, kind, ident):
        who = state.access.principal(request).name
        what = f" on {kind} {ident!r}" if kind and ident else ""
        raise PermissionDeniedError(
            f"{who!r} may not {action!r}{what}. Ask an admin of the project for a role that "
            "allows it."
        )
