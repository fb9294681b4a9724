"""Per-request context: authentication, the declared action of every route, and its check.

Every route takes a :class:`Ctx` through :func:`requires`, which names the route's action and
where its resource is found. :class:`KeelRouter` refuses, when the app is built, to add a route
that does not (deny by default). Authentication reads ``Authorization: Bearer <token>``;
repeated bad tokens from one client address are answered 429 for a while.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, cast, get_args, get_origin

from fastapi import APIRouter, Depends, Request

from keel.artifacts import ArtifactStore
from keel.config import Settings
from keel.errors import (
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
)
from keel.governance import DEFAULT_PROJECT, Governance, Principal, Resource, authorize
from keel.store import SqlMetadataStore

__all__ = ["Ctx", "KeelRouter", "ServerLimits", "ServerState", "requires"]


@dataclass(frozen=True)
class ServerLimits:
    """Limits the server enforces.

    Attributes:
        max_body_bytes: Largest JSON request body.
        max_upload_bytes: Largest artifact upload (streamed, never held in memory).
        bad_token_limit: Bad tokens one client address may present per window before 429.
        bad_token_window_s: The window, in seconds.
    """

    max_body_bytes: int = 32 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024**3
    bad_token_limit: int = 20
    bad_token_window_s: float = 60.0


@dataclass
class BadTokenLimiter:
    """Counts bad tokens per client address in a sliding window."""

    limit: int
    window_s: float
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _trim(self, host: str, now: float) -> deque[float]:
        q = self._seen[host]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, host: str) -> float | None:
        """Seconds until ``host`` may try again, or ``None`` if it is not blocked."""
        now = time.monotonic()
        with self._lock:
            if host not in self._seen:
                return None
            q = self._trim(host, now)
            if not q:
                del self._seen[host]  # forget quiet addresses: memory stays bounded
                return None
            if len(q) < self.limit:
                return None
            return max(q[0] + self.window_s - now, 0.0)

    def fail(self, host: str) -> None:
        """Record one bad token from ``host``."""
        with self._lock:
            self._trim(host, time.monotonic()).append(time.monotonic())


class ServerState:
    """What every request shares: the stores, the accounts service and the limits.

    Args:
        settings: The server's settings (its own store and artifact URIs).
        store: The metadata store, whose actor is the server.
        artifacts: The artifact store.
        limits: The limits to enforce.
    """

    def __init__(
        self,
        settings: Settings,
        store: SqlMetadataStore,
        artifacts: ArtifactStore,
        limits: ServerLimits,
    ) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.limits = limits
        self.gov = Governance(store)
        self.limiter = BadTokenLimiter(limits.bad_token_limit, limits.bad_token_window_s)
        self.gov.repo.ensure_project(DEFAULT_PROJECT)
        self._features: Any = None
        self._features_lock = threading.Lock()

    def feature_store(self) -> Any:
        """The feature store over the server's metadata and online stores, opened on first use."""
        with self._features_lock:
            if self._features is None:
                from keel.features import FeatureStore

                online = self.settings.online_store_uri or (
                    f"sqlite:///{self.settings.home / 'online.db'}"
                )
                self._features = FeatureStore(self.store, online)
            return self._features


class Ctx:
    """One request: who asks, the store acting as them, and the authorization check."""

    def __init__(self, state: ServerState, principal: Principal, action: str) -> None:
        self.state = state
        self.principal = principal
        self.action = action
        self._store: SqlMetadataStore | None = None
        #: Whether the request's action was checked (routes that check in their handler must).
        self.checked = False

    @property
    def store(self) -> SqlMetadataStore:
        """The metadata store, recording this principal as the actor of audit events."""
        if self._store is None:
            # A shallow copy shares the engine (and its pool); only the actor differs.
            self._store = copy.copy(self.state.store)
            self._store.actor = self.principal.name
        return self._store

    @property
    def gov(self) -> Governance:
        """The accounts service acting as this principal."""
        return Governance(self.store)

    def authorize(
        self, project: str | None, kind: str = "project", ident: str = "", action: str = ""
    ) -> None:
        """Check this route's action (or ``action``) on an object of ``project``."""
        self.checked = True
        authorize(self.principal, action or self.action, Resource(project, kind, ident))

    def can(self, project: str, action: str = "") -> bool:
        """Whether the principal may take this route's action (or ``action``) in ``project``."""
        from keel.governance import can

        self.checked = True  # a listing that filters by this check has checked
        return can(self.principal, action or self.action, Resource(project))

    def listing(self) -> None:
        """Declare that this route lists only what :meth:`can` allows (its check)."""
        self.checked = True

    def experiment_project(self, experiment_id: str) -> str:
        """The project of an experiment (which must exist)."""
        self.state.store.get_experiment(experiment_id)
        return self.state.gov.project_of("experiment", experiment_id)

    def run_project(self, run_id: str) -> str:
        """The project of a run (which must exist)."""
        info = self.state.store.get_run_info(run_id)
        return self.state.gov.project_of("experiment", info.experiment_id)

    def model_project(self, name: str) -> str:
        """The project of a registered model (``default`` if it does not exist yet)."""
        return self.state.gov.project_of("model", name)


#: Where a route's resource is: ``"global"`` (server-wide), ``"self"`` (the caller's own),
#: ``"public"`` (no token), the kind named by a path parameter, or ``"handler"`` (the handler
#: checks after reading the body, or filters a listing; if it never does, the answer is 403).
_ON = ("global", "self", "project", "experiment", "run", "model", "handler", "public")


class _Requirement:
    """The dependency behind :func:`requires`: authenticates and checks the declared action."""

    def __init__(self, action: str, on: str) -> None:
        if on not in _ON:
            raise ValueError(f"on must be one of {_ON!r}, got {on!r}")
        self.action = action
        self.on = on

    def __call__(self, request: Request) -> Ctx:
        state: ServerState = request.app.state.keel
        if self.on == "public":
            ctx = Ctx(state, Principal("anonymous"), self.action)
            ctx.checked = True
            return ctx
        principal = _authenticate(state, request)
        ctx = Ctx(state, principal, self.action)
        params = request.path_params
        if self.on == "global":
            ctx.authorize(None, "server")
        elif self.on == "project":
            ctx.authorize(params["project"], "project", params["project"])
        elif self.on == "experiment":
            ident = params["experiment_id"]
            ctx.authorize(ctx.experiment_project(ident), "experiment", ident)
        elif self.on == "run":
            ident = params["run_id"]
            ctx.authorize(ctx.run_project(ident), "run", ident)
        elif self.on == "model":
            ident = params["name"]
            ctx.authorize(ctx.model_project(ident), "model", ident)
        ctx.checked = self.on != "handler"
        return ctx


def _authenticate(state: ServerState, request: Request) -> Principal:
    host = request.client.host if request.client else "unknown"
    wait = state.limiter.retry_after(host)
    if wait is not None:
        raise RateLimitedError(
            "Too many requests with bad tokens from this address; wait and retry with a "
            "valid token.",
            details={"retry_after": int(wait) + 1},
        )
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError(
            "This request needs a token: send 'Authorization: Bearer <token>' (set KEEL_TOKEN "
            "for the Python client). Create one with 'keel tokens create USER'.",
            details={"reason": "no-token"},
        )
    return authenticate_token(state, host, token.strip())


def authenticate_token(state: ServerState, host: str, token: str) -> Principal:
    """The principal of ``token``, counting a bad one against ``host``'s rate limit.

    Raises:
        UnauthenticatedError: The token is malformed, unknown, expired or revoked.
    """
    try:
        return state.gov.authenticate(token)
    except (PermissionDeniedError, NotFoundError) as exc:
        state.limiter.fail(host)
        details = exc.details if isinstance(exc, PermissionDeniedError) else {}
        raise UnauthenticatedError(str(exc), details=details) from exc


def requires(action: str, on: str = "handler") -> Any:
    """Declare a route's action and where its resource is; yields the request's :class:`Ctx`.

    Args:
        action: A governance action (``"runs.write"``), or ``"public"`` for unauthenticated
            routes such as the health check.
        on: ``"global"``, ``"self"``, ``"project"``, ``"experiment"``, ``"run"``, ``"model"``
            (the path parameter holding the resource), ``"handler"`` (the handler checks once
            it has read the body, or filters what it lists) or ``"public"``.
    """
    return Depends(_Requirement(action, on))


def declared_requirement(endpoint: Callable[..., Any]) -> _Requirement | None:
    """The :func:`requires` declaration among an endpoint's parameters, if any."""
    for param in inspect.signature(endpoint, eval_str=True).parameters.values():
        candidates = [param.default]
        if get_origin(param.annotation) is Annotated:
            candidates.extend(get_args(param.annotation)[1:])
        for c in candidates:
            dep = getattr(c, "dependency", None)
            if isinstance(dep, _Requirement):
                return dep
    return None


def _require_checked(kwargs: dict[str, Any], path: str) -> None:
    for value in kwargs.values():
        if isinstance(value, Ctx) and not value.checked:
            raise PermissionDeniedError(
                f"Route {path!r} did not authorize {value.action!r}, so it is denied by default.",
                details={"action": value.action},
            )


def _denied_unless_checked(endpoint: Callable[..., Any], path: str) -> Callable[..., Any]:
    """Wrap a route whose handler checks the action itself: if it never did, answer 403.

    The answer is replaced before it is sent, so a handler that forgot its check leaks
    nothing (the role-matrix test then fails on it).
    """
    signature = inspect.signature(endpoint, eval_str=True)
    wrapped: Callable[..., Any]
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            result = await endpoint(*args, **kwargs)
            _require_checked(kwargs, path)
            return result

        wrapped = wrapped_async
    else:

        @functools.wraps(endpoint)
        def wrapped_sync(*args: Any, **kwargs: Any) -> Any:
            result = endpoint(*args, **kwargs)
            _require_checked(kwargs, path)
            return result

        wrapped = wrapped_sync
    # Resolved annotations: FastAPI would evaluate string ones in this module's namespace.
    cast(Any, wrapped).__signature__ = signature
    return wrapped


class KeelRouter(APIRouter):
    """An ``APIRouter`` that refuses routes without a declared action (deny by default)."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        """Add a route after checking it declares its action with :func:`requires`."""
        req = declared_requirement(endpoint)
        if req is None:
            raise RuntimeError(
                f"Route {path!r} ({endpoint.__name__}) declares no action: add a parameter "
                "'ctx: Ctx = requires(\"<action>\", on=...)'."
            )
        if req.on == "handler":
            endpoint = _denied_unless_checked(endpoint, path)
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra["x-keel-action"] = req.action
        extra["x-keel-resource"] = req.on
        # Answers are built by hand: pydantic's JSON mode would turn NaN and infinities
        # (legitimate metric values) into null.
        kwargs["response_model"] = None
        super().add_api_route(path, endpoint, openapi_extra=extra, **kwargs)
