"""Online stores: the latest feature values of each entity, for low-latency lookup.

:func:`open_online_store` picks the backend from the URI scheme: ``sqlite:///path`` (the
default, a file in ``KEEL_HOME``) or ``redis://host:port/db`` (set ``KEEL_ONLINE_STORE``).
"""

from __future__ import annotations

from keel.errors import InvalidArgumentError
from keel.features.online._sqlite import SqliteOnlineStore
from keel.features.online.base import BaseOnlineStore, OnlineRow, OnlineTable

__all__ = [
    "BaseOnlineStore",
    "OnlineRow",
    "OnlineTable",
    "RedisOnlineStore",
    "SqliteOnlineStore",
    "open_online_store",
]


def __getattr__(name: str) -> object:
    if name == "RedisOnlineStore":  # imports redis only when asked for
        from keel.features.online._redis import RedisOnlineStore

        return RedisOnlineStore
    raise AttributeError(f"module 'keel.features.online' has no attribute {name!r}")


def open_online_store(uri: str) -> BaseOnlineStore:
    """Open the online store named by ``uri``.

    Args:
        uri: ``sqlite:////path/online.db`` (or a plain file path), ``redis://host:port/db`` or
            ``rediss://...``.

    Raises:
        InvalidArgumentError: The scheme is not one Keel supports.
        MissingDependencyError: ``redis`` is not installed for a Redis URI.

    Examples:
        >>> import tempfile, os
        >>> from keel.features.online import open_online_store
        >>> store = open_online_store("sqlite:///" + os.path.join(tempfile.mkdtemp(), "o.db"))
        >>> type(store).__name__
        'SqliteOnlineStore'
        >>> store.close()
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidArgumentError(f"The online store URI must be a non-empty string, got {uri!r}.")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("redis", "rediss", "unix"):
        from keel.features.online._redis import RedisOnlineStore

        return RedisOnlineStore(uri)
    if scheme == "sqlite" or not scheme:
        return SqliteOnlineStore(uri)
    raise InvalidArgumentError(
        f"Online store URI {uri.split('@')[-1]!r} uses the unsupported scheme {scheme!r}. "
        "Use 'sqlite:////path/online.db' (the default) or 'redis://127.0.0.1:6379/0'."
    )
