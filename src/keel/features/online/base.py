"""The online store contract: the latest feature row of each entity, by view, for fast lookup.

Every backend (:class:`~keel.features.online.SqliteOnlineStore`,
:class:`~keel.features.online.RedisOnlineStore`) implements :class:`BaseOnlineStore` and passes
the same conformance suite. Rows are kept per :class:`OnlineTable`, a namespace named after the
view and the digest of its data definition, so a view whose features change type never reads
rows written under the old types.

A row is ``(*key_values, event_us, created_us, *feature_values)``: times are epoch
microseconds (``created_us`` may be ``None``), timestamp features are epoch microseconds too.
A write replaces a stored row only if it is not older, comparing ``(event_us, created_us)``,
so materializing windows out of order or twice never goes back in time.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BaseOnlineStore", "OnlineRow", "OnlineTable"]

#: ``(event_us, created_us, *feature_values)`` as read back, or ``None`` if absent.
OnlineRow = tuple[Any, ...]


@dataclass(frozen=True)
class OnlineTable:
    """Where one feature view's rows live in an online store.

    Attributes:
        view: The feature view's name.
        namespace: ``view@digest12``: the view plus the digest of its data definition.
        keys: Join key names and types (``"int64"`` or ``"string"``).
        features: Feature names and types, in the order rows hold them.
    """

    view: str
    namespace: str
    keys: tuple[tuple[str, str], ...]
    features: tuple[tuple[str, str], ...]

    @property
    def key_names(self) -> list[str]:
        """The join key names."""
        return [k for k, _ in self.keys]

    @property
    def feature_names(self) -> list[str]:
        """The feature names."""
        return [f for f, _ in self.features]


class BaseOnlineStore(abc.ABC):
    """The latest feature values of each entity, per feature view.

    Args:
        uri: The store's URI (``sqlite:///path`` or ``redis://host:port/db``).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @property
    def display_uri(self) -> str:
        """The URI with any password hidden, as recorded in the metadata store."""
        return self.uri

    @abc.abstractmethod
    def write(self, table: OnlineTable, rows: Iterable[Sequence[Any]]) -> int:
        """Upsert rows ``(*keys, event_us, created_us, *features)``.

        A stored row is replaced only by a row that is not older.

        Returns:
            How many rows were added or replaced.
        """

    @abc.abstractmethod
    def read(self, table: OnlineTable, keys: Sequence[tuple[Any, ...]]) -> list[OnlineRow | None]:
        """Return ``(event_us, created_us, *features)`` for each key tuple, ``None`` if absent."""

    @abc.abstractmethod
    def drop(self, table: OnlineTable) -> None:
        """Delete every row of ``table`` (doing nothing if it has none)."""

    @abc.abstractmethod
    def namespaces(self, view: str) -> list[str]:
        """Return the namespaces holding rows of ``view``."""

    @abc.abstractmethod
    def drop_namespace(self, namespace: str) -> None:
        """Delete a namespace found by :meth:`namespaces`."""

    def close(self) -> None:  # noqa: B027 - backends without connections need not override
        """Release connections."""

    def __enter__(self) -> BaseOnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
