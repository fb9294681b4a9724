"""Small helpers shared by every layer: time, ids, names."""

from __future__ import annotations

import re
import time
import uuid

from keel.errors import InvalidArgumentError

__all__ = ["MAX_KEY_LENGTH", "new_id", "now_ms", "validate_key"]

MAX_KEY_LENGTH = 250
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
_valid_keys: set[str] = set()


def now_ms() -> int:
    """Return the current time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """Return a new random 32-character hexadecimal id.

    Fully random (not time-ordered) so that the first 8 characters the CLI shows are unique
    in practice and can be typed back as a prefix.
    """
    return uuid.uuid4().hex


def validate_key(kind: str, key: object) -> str:
    """Check a metric, param or tag name and return it.

    Names are 1 to 250 characters of letters, digits, ``_ - . / : `` and spaces, and do not
    start or end with ``/``.

    Raises:
        InvalidArgumentError: The name is not a string or has other characters.
    """
    if key in _valid_keys:  # hot path of log_metric: a set lookup, no regex
        return key  # type: ignore[return-value,unused-ignore]
    if not isinstance(key, str):
        raise InvalidArgumentError(f"A {kind} name must be a string, got {key!r}.")
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.match(key) or key.strip("/") != key:
        raise InvalidArgumentError(
            f"Invalid {kind} name {key!r}: use 1 to {MAX_KEY_LENGTH} characters of letters, "
            "digits, '_', '-', '.', '/', ':' and spaces, not starting or ending with '/'."
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key
