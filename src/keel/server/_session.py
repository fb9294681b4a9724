"""Browser sessions of the web UI: the login page, a signed cookie, and the UI's principal hook.

Browsers cannot send bearer tokens, so ``POST /login`` takes a user name and one of that
user's tokens, and answers with an HttpOnly, ``SameSite=Strict`` cookie signed with the
server's session key. The cookie names the token (by id), never its secret: each request
looks the token up again, so revoking or expiring it ends the session. A UI request without a
valid session is redirected to ``/login``; the UI itself answers 403 where the roles do not
allow a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from keel._utils import now_ms
from keel.errors import KeelError, UnauthenticatedError
from keel.governance import Principal, parse_token
from keel.server._context import ServerState, authenticate_token

__all__ = ["COOKIE", "LoginRequired", "install_sessions", "session_hook"]

#: The session cookie's name.
COOKIE = "keel_session"
#: How long a session lasts, at most (the token's own expiry ends it sooner).
SESSION_MS = 12 * 3_600_000


class LoginRequired(Exception):
    """A UI request has no valid session (answered with a redirect to the login page)."""


def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, b"keel-session:" + payload, hashlib.sha256).hexdigest()


def make_cookie(secret: bytes, user: str, token_id: str, now: int | None = None) -> str:
    """The signed cookie value of a session of ``user`` through the token ``token_id``."""
    expires = (now or now_ms()) + SESSION_MS
    body = json.dumps({"u": user, "t": token_id, "e": expires}, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(body)
    return f"{payload.decode()}.{_sign(secret, payload)}"


def read_cookie(state: ServerState, secret: bytes, value: str) -> Principal:
    """The principal of a session cookie.

    Raises:
        UnauthenticatedError: The cookie is malformed, not signed by this server, expired, or
            its token was revoked or expired.
    """
    payload, _, mac = value.encode().partition(b".")
    if not mac or not hmac.compare_digest(mac.decode("ascii", "replace"), _sign(secret, payload)):
        raise UnauthenticatedError("The session is not valid; sign in again.")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
        user, token_id, expires = str(data["u"]), str(data["t"]), int(data["e"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UnauthenticatedError("The session is not valid; sign in again.") from exc
    now = now_ms()
    record = state.gov.repo.get_token(token_id)
    if (
        expires <= now
        or record is None
        or record.user != user
        or record.revoked_at is not None
        or (record.expires_at is not None and record.expires_at <= now)
    ):
        raise UnauthenticatedError("The session has ended; sign in again.")
    return state.gov.principal(user)


def session_hook(state: ServerState, secret: bytes) -> Any:
    """The UI's principal hook: a session cookie or a bearer token, else :class:`LoginRequired`."""

    def hook(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        host = request.client.host if request.client else "unknown"
        try:
            if scheme.lower() == "bearer" and token.strip():
                return authenticate_token(state, host, token.strip())
            cookie = request.cookies.get(COOKIE)
            if cookie:
                return read_cookie(state, secret, cookie)
        except UnauthenticatedError as exc:
            raise LoginRequired(str(exc)) from exc
        raise LoginRequired("Sign in to see this page.")

    return hook


def _safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site, such as ``//host``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\\\r\n\t") or "://" in target.split("?")[0]:
        return "/"
    return target


def _login_page(next_path: str, message: str = "", status: int = 200) -> HTMLResponse:
    error = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Keel</title>
<link rel="stylesheet" href="/static/ui.css"></head>
<body><main><h1>Sign in to Keel</h1>{error}
<form method="post" action="/login">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<p><label for="login-username">User name</label>
<input id="login-username" name="username" autocomplete="username" required></p>
<p><label for="login-token">Token</label>
<input id="login-token" name="token" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
<p>Create a token with <code>keel tokens create USER</code>.</p></main></body></html>"""
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def install_sessions(app: FastAPI, state: ServerState, secret: bytes) -> None:
    """Add ``/login`` and ``/logout``, and redirect UI requests without a session to the login.

    Args:
        app: The server's app.
        state: What requests share (accounts, the bad-token limiter).
        secret: The key that signs session cookies.
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return _login_page(_safe_next(request.query_params.get("next")))

    @router.post("/login")
    async def login(request: Request) -> Response:
        origin = request.headers.get("origin")
        if (
            origin
            and origin != "null"
            and origin.split("://", 1)[-1] != request.headers.get("host", "")
        ):
            return _login_page("/", "Sign in from this server's own page.", 403)
        body = (await request.body()).decode("utf-8", "replace")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fields: dict[str, str]
        if ctype == "application/json":
            try:
                raw = json.loads(body or "{}")
            except ValueError:
                raw = {}
            fields = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        else:
            fields = {k: v[0] for k, v in parse_qs(body).items()}
        user, token = fields.get("username", "").strip(), fields.get("token", "").strip()
        target = _safe_next(fields.get("next"))
        host = request.client.host if request.client else "unknown"
        wait = state.limiter.retry_after(host)
        if wait is not None:
            return _login_page(target, "Too many failed sign-ins; wait and try again.", 429)
        try:
            principal = authenticate_token(state, host, token)
        except KeelError:
            return _login_page(target, "The user name or token is not valid.", 401)
        if principal.name != user:
            state.limiter.fail(host)
            return _login_page(target, "The user name or token is not valid.", 401)
        parsed = parse_token(token)
        token_id = parsed[0] if parsed else ""
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(
            COOKIE,
            make_cookie(secret, user, token_id),
            max_age=SESSION_MS // 1000,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return resp

    @router.get("/logout")
    @router.post("/logout")
    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    async def to_login(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    app.include_router(router)
    app.add_exception_handler(LoginRequired, to_login)
