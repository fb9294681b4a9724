"""Cold-start resolution of a model URI on a SQLite store, with the standard library only.

A fresh process that only wants to load a model (a serving worker, a batch job) should not pay
for importing SQLAlchemy and checking migrations. When the store is a SQLite file that already
holds the registry's tables, this module answers "which manifest does this URI name?" with
one read-only query through :mod:`sqlite3`. Anything unusual (another backend, a missing file
or table, an unknown name) returns ``None`` and the caller takes the full path through
:class:`~keel.store.SqlMetadataStore`, which migrates, explains and suggests near names. A
test checks both paths agree.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from keel._utils._sqlite import connect_existing, sqlite_file
from keel.config import Settings
from keel.registry._manifest import MANIFEST_FILE
from keel.registry._uri import ModelRef

__all__ = ["Resolved", "resolve"]


@dataclass(frozen=True)
class Resolved:
    """Where a URI's model is: its manifest digest, and the registered name and version."""

    manifest_digest: str
    name: str | None = None
    version: int | None = None


_SELECT = (
    "SELECT v.manifest_digest, m.name, v.version FROM model_versions v "
    "JOIN registered_models m ON m.id = v.model_id "
)


def sqlite_path(settings: Settings) -> Path | None:
    """Return the SQLite file of the settings' store, or ``None`` for other stores."""
    if settings.tracking_uri and settings.tracking_uri.startswith(("http://", "https://")):
        return None
    return sqlite_file(settings.store_uri)


def resolve(settings: Settings, ref: ModelRef) -> Resolved | None:
    """Resolve ``ref`` with one read-only query, or return ``None`` to take the full path."""
    if sqlite_path(settings) is None:
        return None
    conn = connect_existing(settings.store_uri)
    if conn is None:
        return None
    try:
        if ref.scheme == "runs":
            row = conn.execute(
                "SELECT digest FROM run_artifacts WHERE run_id = ? AND path = ?",
                (ref.run_id, f"{ref.path}/{MANIFEST_FILE}"),
            ).fetchone()
            return None if row is None else Resolved(str(row[0]))
        if ref.alias is not None:
            row = conn.execute(
                _SELECT + "JOIN model_aliases a ON a.model_id = v.model_id "
                "AND a.version = v.version WHERE m.name = ? AND a.alias = ?",
                (ref.name, ref.alias),
            ).fetchone()
        elif ref.version is not None:
            row = conn.execute(
                _SELECT + "WHERE m.name = ? AND v.version = ?", (ref.name, ref.version)
            ).fetchone()
        else:
            row = conn.execute(
                _SELECT + "WHERE m.name = ? ORDER BY v.version DESC LIMIT 1", (ref.name,)
            ).fetchone()
    except sqlite3.Error:  # no registry tables yet, a locked or damaged file: full path
        return None
    finally:
        conn.close()
    if row is None:
        return None
    return Resolved(str(row[0]), str(row[1]), int(row[2]))
