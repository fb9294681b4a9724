"""HTTP plumbing of the server: error bodies, NaN-safe JSON, body limits, content types.

Errors leave as ``{"error_code", "message", "details"}`` with the status of
:data:`keel.errors.HTTP_STATUS` (401, 413, 415 and 429 included).
Unsafe methods must carry ``application/json`` (or ``application/octet-stream`` on upload
routes): a cross-origin ``text/plain`` or form POST, which a browser sends without a preflight,
is refused before any handler runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel.errors import (
    HTTP_STATUS,
    KeelError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)

__all__ = ["BodyGuard", "KeelJSONResponse", "error_response", "install_error_handlers"]

#: Statuses of the refusals that have no class in keel.errors.
EXTRA_STATUS = {"method-not-allowed": 405}


class KeelJSONResponse(JSONResponse):
    """JSON that keeps NaN and infinities (metric values may be either)."""

    def render(self, content: Any) -> bytes:
        """Encode ``content`` allowing NaN and infinities."""
        return json.dumps(content, allow_nan=True, separators=(",", ":"), default=str).encode()


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, **kw: Any
) -> KeelJSONResponse:
    """Build the error body every route returns."""
    body = {"error_code": code, "message": message, "details": details or {}}
    return KeelJSONResponse(body, status_code=status, **kw)


def install_error_handlers(app: FastAPI) -> None:
    """Turn Keel errors, request-validation errors and HTTP errors into the error body."""

    async def keel_error(_: Request, exc: Exception) -> KeelJSONResponse:
        assert isinstance(exc, KeelError)
        headers = {}
        if isinstance(exc, UnauthenticatedError):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimitedError) and "retry_after" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after"])
        return error_response(
            HTTP_STATUS.get(exc.code, 500), exc.code, exc.message, exc.details, headers=headers
        )

    async def invalid(_: Request, exc: Exception) -> KeelJSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()[:20]
        ]
        where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return error_response(
            400,
            "invalid-argument",
            f"The request is not valid: {where}. See the OpenAPI spec at /openapi.json.",
            {"errors": errors},
        )

    async def http_error(_: Request, exc: Exception) -> KeelJSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            404: "not-found",
            405: "method-not-allowed",
            413: PayloadTooLargeError.code,
        }.get(exc.status_code, "keel-error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def unexpected(_: Request, exc: Exception) -> KeelJSONResponse:
        return error_response(
            500, "keel-error", f"The server failed: {type(exc).__name__}. See its log."
        )

    async def overflow(_: Request, exc: Exception) -> KeelJSONResponse:
        return error_response(
            400,
            "invalid-argument",
            "A number in the request is too large for the store (64-bit integers at most).",
        )

    app.add_exception_handler(OverflowError, overflow)
    app.add_exception_handler(KeelError, keel_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


_UPLOAD = re.compile(r"^/api/v1/(blobs/[^/]+|runs/[^/]+/artifacts/.+)$")


def _is_upload(scope: Scope) -> bool:
    return scope.get("method") == "PUT" and bool(_UPLOAD.match(scope.get("path", "")))


class BodyGuard:
    """ASGI middleware: body size limits (413) and the content type of unsafe methods (415).

    Args:
        app: The wrapped app.
        max_body_bytes: Limit of JSON bodies.
        max_upload_bytes: Limit of streamed uploads.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with a receive that counts bytes."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = _is_upload(scope)
        limit = self.max_upload if upload else self.max_body
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        length = headers.get("content-length")
        has_body = (length not in (None, "0")) or "transfer-encoding" in headers
        allowed: tuple[str, ...] = (
            ("application/octet-stream",) if upload else ("application/json",)
        )
        if scope.get("path") == "/login":
            # The sign-in form works without JavaScript; it checks the Origin header itself.
            allowed = (*allowed, "application/x-www-form-urlencoded")
        if (scope["method"] == "POST" or has_body) and ctype not in allowed:
            # A browser sends text/plain and form posts cross-origin without a preflight.
            await _send_error(
                send,
                415,
                UnsupportedMediaTypeError.code,
                f"Content-Type {ctype or 'none'!r} is not accepted here; send {allowed[0]!r}.",
            )
            return
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_error(send, 413, PayloadTooLargeError.code, _too_large(limit))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Starlette's HTTPException passes through FastAPI's body parsing and
                    # reaches the error handlers, which answer 413.
                    raise StarletteHTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> str:
    return (
        f"The request body is larger than the server's limit of {limit:,} bytes. Log large "
        "files as artifacts (streamed uploads allow more), or split the batch."
    )


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error_code": code, "message": message, "details": {}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
