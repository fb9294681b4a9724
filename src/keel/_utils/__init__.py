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
    """Return a new 32-character hexadecimal id that sorts by creation time.

    The first 12 characters are the milliseconds since the epoch and the other 20 are random
    (80 bits), like UUIDv7. Ids created close together sit next to each other in every index
    keyed by them, so a run's writes touch a few database pages instead of scattered ones.
    """
    return f"{time.time_ns() // 1_000_000:012x}{uuid.uuid4().hex[:20]}"


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
