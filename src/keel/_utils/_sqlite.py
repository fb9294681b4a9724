"""Cold-start reads of a SQLite metadata store with the standard library only.

A process that only reads (a serving worker loading a model, a job fetching features) should
not pay for importing SQLAlchemy and checking migrations. These helpers find the file a plain
``sqlite:///`` URI names and open it; the callers (:mod:`keel.registry._fastload`,
:mod:`keel.features._fastcatalog`) run one query and fall back to the full store for
anything unusual.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect_existing", "sqlite_file"]


def sqlite_file(uri: str) -> Path | None:
    """Return the existing SQLite file a plain ``sqlite:///`` URI names, else ``None``.

    URIs with query options, other backends and files that do not exist yet (the full path
    creates and migrates them) give ``None``.
    """
    if not uri.startswith("sqlite:///") or "?" in uri:
        return None
    path = Path(uri[len("sqlite:///") :]).expanduser()
    return path if path.is_file() else None


def connect_existing(uri: str) -> sqlite3.Connection | None:
    """Open the SQLite file of ``uri`` (see :func:`sqlite_file`), or return ``None``."""
    path = sqlite_file(uri)
    if path is None:
        return None
    try:
        # Read-write mode: a read-only handle cannot open a WAL database whose -shm is gone.
        return sqlite3.connect(path, timeout=30)
    except sqlite3.Error:
        return None
