"""Keel's exception hierarchy: every error raised to users is one of these.

::

    KeelError                                   code "keel-error"            HTTP 500
    ├── NotFoundError(KeelError, LookupError)   code "not-found"             HTTP 404
    ├── AlreadyExistsError                      code "already-exists"        HTTP 409
    ├── InvalidArgumentError(KeelError, ValueError)
    │                                           code "invalid-argument"      HTTP 400
    │   ├── ArtifactPathError                   code "invalid-artifact-path" HTTP 400
    │   ├── PayloadTooLargeError                code "request-too-large"     HTTP 413
    │   └── UnsupportedMediaTypeError           code "unsupported-media-type" HTTP 415
    ├── InvalidStateError                       code "invalid-state"         HTTP 409
    ├── PermissionDeniedError(KeelError, PermissionError)
    │                                           code "permission-denied"     HTTP 403
    │   └── UnauthenticatedError                code "unauthenticated"       HTTP 401
    ├── RateLimitedError                        code "rate-limited"          HTTP 429
    ├── ValidationFailedError                   code "validation-failed"     HTTP 422
    ├── IntegrityError                          code "integrity-error"       HTTP 500
    └── StoreUnavailableError                   code "store-unavailable"     HTTP 503
        └── MissingDependencyError(StoreUnavailableError, ImportError)
                                                code "missing-dependency"    HTTP 501

Each class carries a stable kebab-case ``code``; :data:`HTTP_STATUS` maps codes to HTTP
statuses so the server and the remote client can round-trip errors, and :func:`error_from_code`
rebuilds the right class from a code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
    "HTTP_STATUS",
    "AlreadyExistsError",
    "ArtifactPathError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidStateError",
    "KeelError",
    "MissingDependencyError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "StoreUnavailableError",
    "UnauthenticatedError",
    "UnsupportedMediaTypeError",
    "ValidationFailedError",
    "error_from_code",
    "near_matches",
]


class KeelError(Exception):
    """Root of every error Keel raises on purpose.

    Args:
        message: A full sentence saying what failed, the offending value and how to fix it.
        details: Structured context (ids, names) that survives the trip through the REST API.
    """

    code: ClassVar[str] = "keel-error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """Return the error as the server's JSON body ``{error_code, message, details}``."""
        return {"error_code": self.code, "message": self.message, "details": self.details}


class NotFoundError(KeelError, LookupError):
    """An experiment, run, artifact or other named object does not exist."""

    code = "not-found"


class AlreadyExistsError(KeelError):
    """An object with that name or id exists already."""

    code = "already-exists"


class InvalidArgumentError(KeelError, ValueError):
    """An argument has a value Keel cannot accept."""

    code = "invalid-argument"


class ArtifactPathError(InvalidArgumentError):
    """An artifact path is absolute, escapes its namespace, or follows a symlink out."""

    code = "invalid-artifact-path"


class InvalidStateError(KeelError):
    """The object is in a state that does not allow the operation (a finished run, say)."""

    code = "invalid-state"


class PermissionDeniedError(KeelError, PermissionError):
    """The principal's role does not allow the action on the resource."""

    code = "permission-denied"


class UnauthenticatedError(PermissionDeniedError):
    """The request carries no credentials, or ones that are unknown, expired or revoked.

    A :class:`PermissionDeniedError` (and so a :class:`PermissionError`), so handlers of
    refusals catch it too.
    """

    code = "unauthenticated"


class PayloadTooLargeError(InvalidArgumentError):
    """A request body is larger than the server accepts."""

    code = "request-too-large"


class UnsupportedMediaTypeError(InvalidArgumentError):
    """A request body has a content type the route does not accept."""

    code = "unsupported-media-type"


class RateLimitedError(KeelError):
    """Too many requests (or bad credentials) from one client: wait and retry.

    ``details["retry_after"]``, when present, is the wait in seconds.
    """

    code = "rate-limited"


class ValidationFailedError(KeelError):
    """Data or a model failed the checks it had to pass."""

    code = "validation-failed"


class IntegrityError(KeelError):
    """Stored bytes or records do not match what was recorded (a digest mismatch, say)."""

    code = "integrity-error"


class StoreUnavailableError(KeelError):
    """The metadata or artifact store cannot be opened or reached."""

    code = "store-unavailable"


class MissingDependencyError(StoreUnavailableError, ImportError):
    """An optional backend's package is not installed."""

    code = "missing-dependency"

    @classmethod
    def for_extra(cls, package: str, extra: str, purpose: str) -> MissingDependencyError:
        """Build the one-line error that names the exact install command.

        Args:
            package: The missing import name.
            extra: The Keel extra that installs it.
            purpose: What needed it (``"PostgreSQL metadata store"``).
        """
        return cls(
            f"The {purpose} needs the package {package!r}, which is not installed. "
            f"Install it with: pip install 'keel[{extra}]'",
            details={"package": package, "extra": extra},
        )


_ALL_ERRORS: tuple[type[KeelError], ...] = (
    KeelError,
    NotFoundError,
    AlreadyExistsError,
    InvalidArgumentError,
    ArtifactPathError,
    InvalidStateError,
    PermissionDeniedError,
    UnauthenticatedError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    RateLimitedError,
    ValidationFailedError,
    IntegrityError,
    StoreUnavailableError,
    MissingDependencyError,
)

HTTP_STATUS: dict[str, int] = {
    "keel-error": 500,
    "not-found": 404,
    "already-exists": 409,
    "invalid-argument": 400,
    "invalid-artifact-path": 400,
    "invalid-state": 409,
    "permission-denied": 403,
    "unauthenticated": 401,
    "request-too-large": 413,
    "unsupported-media-type": 415,
    "rate-limited": 429,
    "validation-failed": 422,
    "integrity-error": 500,
    "store-unavailable": 503,
    "missing-dependency": 501,
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> KeelError:
    """Rebuild the error class named by ``code`` (used by the remote client).

    Args:
        code: A stable error code such as ``"not-found"``.
        message: The message the server sent.
        details: The structured details the server sent.

    Returns:
        An instance of the matching class, or of :class:`KeelError` for an unknown code.
    """
    for cls in _ALL_ERRORS:
        if cls.code == code:
            return cls(message, details=details)
    return KeelError(message, details=details)


def near_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return a ``Did you mean ...?`` sentence for the closest candidates, or ``""``.

    Args:
        name: The unknown name the user gave.
        candidates: The names that do exist.
        n: The most suggestions to list.
    """
    close = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + ", ".join(repr(c) for c in close) + "?"
